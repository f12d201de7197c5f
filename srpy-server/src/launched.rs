//! A server started by a launcher (`srpy.Cluster`, `srpy_client::Cluster`)
//! over a channel such as ssh: the token arrives as the first line of
//! stdin (`--token-stdin`: never on a command line or in a file), and the
//! server stops, with its engines, when stdin reaches end of file
//! (`--exit-on-stdin-eof`): the launcher closed the channel, or it died and
//! the channel closed with it, so nothing is left behind.

use std::io::{BufRead, Read};

/// The first line of stdin, without its line end.
pub fn read_token_line() -> Result<Vec<u8>, String> {
    let mut line = Vec::new();
    std::io::stdin()
        .lock()
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("cannot read the token from stdin: {e}"))?;
    if !line.ends_with(b"\n") {
        return Err("--token-stdin: stdin ended before a whole token line".into());
    }
    line.pop();
    Ok(line)
}

/// Resolves when stdin reaches end of file (or fails): read by a thread of
/// its own, which discards whatever else arrives.
pub fn stdin_closed() -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("srpy-stdin-watch".into())
        .spawn(move || {
            let mut buf = [0u8; 512];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
            let _ = tx.send(());
        });
    if let Err(e) = spawned {
        // Without the watcher the server could outlive its launcher: refuse.
        eprintln!("srpy-server: error: cannot watch stdin: {e}");
        std::process::exit(2);
    }
    rx
}
