//! `LocalServer`: a private `srpy-server` subprocess on loopback (the
//! original's `newSubEngine()` / `srpy.local(n)`).
//!
//! The server runs `srpy-server --listen 127.0.0.1:0 --engines N
//! --uri-file <tmp>/uri --token-file <tmp>/token [--python P]`; its output
//! goes to `<tmp>/server.log`. The temporary folder (mode 0700) is removed
//! when the server is stopped. Without a token in the options, a random one
//! is made, so only this process (and whoever it hands the token to) can
//! reach the engines. The server runs in a process group of its own, so
//! that a SIGINT to the caller's group (Ctrl-C, a Jupyter kernel's
//! interrupt) does not stop it under the caller.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::options::ConnectOptions;
use crate::server::ServerClient;
use crate::uri::Uri;

/// Environment variable naming the `srpy-server` binary.
pub const SERVER_BIN_ENV: &str = "SRPY_SERVER_BIN";
/// Environment variable naming the Python interpreter of the engines.
pub const PYTHON_ENV: &str = "SRPY_PYTHON";
/// Name of the server binary.
pub const SERVER_BIN: &str = "srpy-server";

/// How to start a [`LocalServer`].
#[derive(Clone, Debug)]
pub struct LocalServerOptions {
    /// Number of engines.
    pub engines: usize,
    /// Interpreter of the engines: this, else `SRPY_PYTHON`, else the
    /// server's default (`python3` on PATH).
    pub python: Option<PathBuf>,
    /// The server binary: this, else `SRPY_SERVER_BIN`, else next to the
    /// current executable (or one folder up), else `srpy-server` on PATH.
    pub server_bin: Option<PathBuf>,
    /// Arguments before the server's own, for a server run by another
    /// program: `["-m", "srpy.server"]` with a Python as `server_bin` runs
    /// the server of the `srpy` Python package.
    pub server_bin_args: Vec<OsString>,
    /// The token; `None`: a fresh random one.
    pub token: Option<Vec<u8>>,
    /// More arguments for `srpy-server`.
    pub extra_args: Vec<OsString>,
    /// How long to wait for the server to be ready. Default 30 s.
    pub start_timeout: Duration,
    /// Connect options for the engines (the token is filled in).
    pub connect: ConnectOptions,
}

impl Default for LocalServerOptions {
    fn default() -> Self {
        LocalServerOptions {
            engines: 1,
            python: None,
            server_bin: None,
            server_bin_args: Vec::new(),
            token: None,
            extra_args: Vec::new(),
            start_timeout: Duration::from_secs(30),
            connect: ConnectOptions::default(),
        }
    }
}

impl LocalServerOptions {
    /// Options for `n` engines, the rest default.
    pub fn engines(n: usize) -> Self {
        LocalServerOptions {
            engines: n,
            ..Default::default()
        }
    }
}

/// Finds the `srpy-server` binary: `explicit`, else `SRPY_SERVER_BIN`, else
/// next to the current executable or one folder up (so test binaries in
/// `target/<profile>/deps/` find `target/<profile>/srpy-server`), else on
/// `PATH`.
pub fn find_server_bin(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_owned());
    }
    if let Some(p) = std::env::var_os(SERVER_BIN_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let file = format!("{SERVER_BIN}{}", std::env::consts::EXE_SUFFIX);
    if let Ok(exe) = std::env::current_exe() {
        let mut dir = exe.parent();
        for _ in 0..2 {
            let Some(d) = dir else { break };
            let candidate = d.join(&file);
            if candidate.is_file() {
                return Some(candidate);
            }
            dir = d.parent();
        }
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(&file))
            .find(|c| c.is_file())
    })
}

/// A private server with its engines.
///
/// Dropping it stops the server (SIGTERM, then SIGKILL after 5 s); the drop
/// blocks the current thread meanwhile, so async code should prefer
/// [`LocalServer::stop`].
pub struct LocalServer {
    child: Mutex<Option<Child>>,
    pid: u32,
    uri: Uri,
    token: Vec<u8>,
    engines: usize,
    dir: PathBuf,
    connect: ConnectOptions,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

pub(crate) fn private_dir() -> Result<PathBuf> {
    let base = std::env::temp_dir();
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = base.join(format!("srpy-local-{}-{n}-{nanos:x}", std::process::id()));
        let mut b = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        match b.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Other(
        "cannot create a private temporary folder".into(),
    ))
}

fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    use std::io::Write;
    let mut f = o.open(path)?;
    f.write_all(data)?;
    f.sync_all()?;
    Ok(())
}

pub(crate) fn random_token() -> Vec<u8> {
    // Hex text, so a server reading the file as text or bytes agrees.
    let n = srpy_proto::handshake::new_nonce();
    n.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into_bytes()
}

/// The last `max` bytes of a file, as text.
fn tail(path: &Path, max: usize) -> String {
    let data = fs::read(path).unwrap_or_default();
    let start = data.len().saturating_sub(max);
    let text = String::from_utf8_lossy(&data[start..]);
    let text = text.trim_end();
    if text.is_empty() {
        "(no output)".to_owned()
    } else {
        text.to_owned()
    }
}

/// The server URI from the uri file, once completely written.
fn read_uri_file(path: &Path, previous: &mut Option<String>) -> Option<Uri> {
    let text = fs::read_to_string(path).ok()?;
    let first = text.lines().next()?.trim().to_owned();
    if first.is_empty() {
        return None;
    }
    // Complete when the line is terminated, or unchanged since last look.
    let complete = text.contains('\n') || previous.as_deref() == Some(first.as_str());
    *previous = Some(first.clone());
    if !complete {
        return None;
    }
    Uri::parse(&first).ok().filter(|u| u.port != 0)
}

/// The `tls-pin sha256:<fingerprint>` line of the uri file, if any.
fn read_tls_pin(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("tls-pin "))
        .map(|pin| pin.trim().to_owned())
}

#[cfg(unix)]
fn terminate(pid: u32) {
    // SAFETY: kill(2) with a pid of our own child and a valid signal.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
}

#[cfg(not(unix))]
fn terminate(_pid: u32) {}

impl LocalServer {
    /// Starts a server and waits until it is ready (its URI file written).
    pub async fn start(opts: LocalServerOptions) -> Result<LocalServer> {
        let bin = find_server_bin(opts.server_bin.as_deref()).ok_or_else(|| {
            Error::Other(format!(
                "cannot find the {SERVER_BIN} binary: set {SERVER_BIN_ENV}, pass \
                 LocalServerOptions::server_bin, or put it on PATH"
            ))
        })?;
        let dir = private_dir()?;
        let result = Self::spawn(&bin, &dir, opts).await;
        if result.is_err() {
            let _ = fs::remove_dir_all(&dir);
        }
        result
    }

    async fn spawn(bin: &Path, dir: &Path, opts: LocalServerOptions) -> Result<LocalServer> {
        let token = opts.token.clone().unwrap_or_else(random_token);
        let token_file = dir.join("token");
        write_private(&token_file, &token)?;
        let uri_file = dir.join("uri");
        let log_file = dir.join("server.log");
        let log = fs::File::create(&log_file)?;

        let mut cmd = Command::new(bin);
        cmd.args(&opts.server_bin_args)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--engines")
            .arg(opts.engines.to_string())
            .arg("--uri-file")
            .arg(&uri_file)
            .arg("--token-file")
            .arg(&token_file);
        let python = opts.python.clone().or_else(|| {
            std::env::var_os(PYTHON_ENV)
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
        });
        if let Some(p) = python {
            cmd.arg("--python").arg(p);
        }
        cmd.args(&opts.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // Own process group: a SIGINT to the caller's group (Ctrl-C in a
        // terminal, a Jupyter kernel's interrupt) is the caller's to handle;
        // the caller stops the server when it is done with it.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::Other(format!("cannot start {}: {e}", bin.display())))?;
        let pid = child.id();

        let started = Instant::now();
        let mut previous = None;
        let uri = loop {
            if let Some(status) = child.try_wait()? {
                return Err(Error::Other(format!(
                    "{} exited ({status}) before it was ready; its output:\n{}",
                    bin.display(),
                    tail(&log_file, 8192)
                )));
            }
            if let Some(uri) = read_uri_file(&uri_file, &mut previous) {
                break uri;
            }
            if started.elapsed() > opts.start_timeout {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Timeout(format!(
                    "{} was not ready within {:?}; its output:\n{}",
                    bin.display(),
                    opts.start_timeout,
                    tail(&log_file, 8192)
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let mut connect = opts.connect.clone();
        connect.token = Some(token.clone());
        // A server of its own with `--tls auto`: trust the certificate it
        // reported (the file is private to this user).
        if uri.tls && connect.tls_ca.is_none() && connect.tls_pin.is_none() {
            connect.tls_pin = read_tls_pin(&uri_file);
        }
        Ok(LocalServer {
            child: Mutex::new(Some(child)),
            pid,
            uri,
            token,
            engines: opts.engines,
            dir: dir.to_owned(),
            connect,
        })
    }

    /// The server's URI (`srpy://127.0.0.1:PORT`).
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The URI of engine `index`.
    pub fn engine_uri(&self, index: u64) -> Uri {
        self.uri.engine(index)
    }

    /// The server's token.
    pub fn token(&self) -> &[u8] {
        &self.token
    }

    /// Connect options carrying the token.
    pub fn connect_options(&self) -> ConnectOptions {
        self.connect.clone()
    }

    /// Number of engines asked for.
    pub fn engine_count(&self) -> usize {
        self.engines
    }

    /// The server process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The server's stdout/stderr log.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// Connects to engine `index`.
    pub async fn connect(&self, index: u64) -> Result<Engine> {
        Engine::connect(self.engine_uri(index), self.connect_options()).await
    }

    /// Connects to the server itself.
    pub async fn server_client(&self) -> Result<ServerClient> {
        ServerClient::connect(&self.uri, self.connect_options()).await
    }

    /// Connects to every engine, in index order.
    pub async fn connect_all(&self) -> Result<Vec<Engine>> {
        self.server_client().await?.connect_all().await
    }

    /// Whether the server process is still running.
    pub fn is_running(&self) -> bool {
        let mut g = self.child.lock().unwrap_or_else(|e| e.into_inner());
        matches!(g.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Stops the server: SIGTERM, up to 5 s for it to exit, then SIGKILL.
    /// Idempotent.
    pub async fn stop(&self) -> Result<Option<ExitStatus>> {
        let Some(mut stopping) = self.begin_stop()? else {
            return Ok(None);
        };
        loop {
            if let Some(status) = self.poll_stop(&mut stopping)? {
                return Ok(Some(status));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// [`LocalServer::stop`] without a runtime (used on drop).
    pub fn stop_blocking(&self) -> Result<Option<ExitStatus>> {
        let Some(mut stopping) = self.begin_stop()? else {
            return Ok(None);
        };
        loop {
            if let Some(status) = self.poll_stop(&mut stopping)? {
                return Ok(Some(status));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Takes the child and sends SIGTERM, unless it is gone already.
    fn begin_stop(&self) -> Result<Option<Stopping>> {
        let Some(mut child) = self.take_child() else {
            return Ok(None);
        };
        // Already reaped (it exited on its own): its pid may belong to
        // another process by now, so no signal.
        let exited = child.try_wait()?;
        if exited.is_none() {
            terminate(self.pid);
        }
        Ok(Some(Stopping {
            child,
            exited,
            deadline: Instant::now() + Duration::from_secs(5),
        }))
    }

    /// The exit status once the server is gone (SIGKILL past the deadline);
    /// its temporary folder is removed then.
    fn poll_stop(&self, s: &mut Stopping) -> Result<Option<ExitStatus>> {
        let status = match s.exited.take() {
            Some(st) => st,
            None => match s.child.try_wait()? {
                Some(st) => st,
                None if Instant::now() > s.deadline => {
                    let _ = s.child.kill();
                    s.child.wait()?
                }
                None => return Ok(None),
            },
        };
        let _ = fs::remove_dir_all(&self.dir);
        Ok(Some(status))
    }

    fn take_child(&self) -> Option<Child> {
        self.child.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// A server being stopped.
struct Stopping {
    child: Child,
    exited: Option<ExitStatus>,
    deadline: Instant,
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.stop_blocking();
    }
}

impl std::fmt::Debug for LocalServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalServer")
            .field("uri", &self.uri.to_string())
            .field("pid", &self.pid)
            .field("engines", &self.engines)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_file_needs_a_complete_line() {
        let dir = private_dir().unwrap();
        let p = dir.join("uri");
        let mut prev = None;
        assert_eq!(read_uri_file(&p, &mut prev), None);
        fs::write(&p, "srpy://127.0.0.1:4").unwrap();
        assert_eq!(read_uri_file(&p, &mut prev), None);
        fs::write(&p, "srpy://127.0.0.1:4567").unwrap();
        assert_eq!(read_uri_file(&p, &mut prev), None);
        // unchanged on the next look: complete
        assert_eq!(read_uri_file(&p, &mut prev).unwrap().port, 4567);
        fs::write(&p, "srpy://127.0.0.1:4568\nmore\n").unwrap();
        let mut prev = None;
        assert_eq!(read_uri_file(&p, &mut prev).unwrap().port, 4568);
        fs::write(&p, "srpy://127.0.0.1:0\n").unwrap();
        assert_eq!(read_uri_file(&p, &mut prev), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = private_dir().unwrap();
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let f = dir.join("token");
        write_private(&f, b"x").unwrap();
        assert_eq!(
            fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(write_private(&f, b"y").is_err(), "never overwrites");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn random_tokens_are_hex_and_fresh() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 64);
        assert!(a.iter().all(u8::is_ascii_hexdigit));
        assert_ne!(a, b);
    }

    #[test]
    fn explicit_server_bin_wins() {
        let p = PathBuf::from("/x/srpy-server");
        assert_eq!(find_server_bin(Some(&p)), Some(p));
    }
}
