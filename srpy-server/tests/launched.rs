//! `--token-stdin` and `--exit-on-stdin-eof`: the server of a launcher
//! takes its token from the first line of stdin and stops, with its
//! engines, when stdin closes.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{python, wait_gone, Wire};

#[test]
fn token_from_stdin_and_stop_at_end_of_stdin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_srpy-server"))
        .args(["--listen", "127.0.0.1:0", "--engines", "1"])
        .args(["--token-stdin", "--exit-on-stdin-eof"])
        .arg("--python")
        .arg(python())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"launched-token\n").unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let serving = lines.next().unwrap().unwrap();
    let port: u16 = serving
        .split("srpy://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no address in {serving:?}"));
    let engine_line = lines.next().unwrap().unwrap();
    let engine_pid: u32 = engine_line
        .split("(pid ")
        .nth(1)
        .and_then(|rest| rest.split([',', ')']).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {engine_line:?}"));

    assert!(Wire::connect(port, Some("wrong")).is_err());
    assert!(Wire::connect(port, Some("launched-token")).is_ok());

    drop(stdin);
    let mut stopped = None;
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            stopped = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = stopped.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("the server did not stop within 5 s of the end of stdin")
    });
    assert!(status.success(), "{status}");
    assert!(
        wait_gone(engine_pid, Duration::from_secs(5)),
        "engine {engine_pid} left"
    );
}
