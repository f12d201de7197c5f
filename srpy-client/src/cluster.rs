//! `Cluster`: `srpy-server`s started on other hosts through the system's
//! own tools (OpenSSH: [`Cluster::ssh`]; Slurm: [`Cluster::slurm`], in the
//! `slurm` submodule), and an [`EngBox`] over all their engines. Every
//! launcher runs the same server script (`server_script`: token on
//! stdin, stop at end of stdin) through a `Channel`, a launcher process
//! whose stdin carries the token and stays open while the cluster lives
//! and whose stdout brings back the `serving` lines.
//!
//! ## ssh
//!
//! One `ssh` process per host runs the server and is that host's
//! multiplexing master (`ControlMaster`, socket in a private 0700 folder),
//! so `~/.ssh/config`, keys, agents and `ProxyJump` apply as for any `ssh`.
//! Through it:
//!
//! - the token goes as the first line of the channel's stdin
//!   (`srpy-server --token-stdin`): never on a command line, never in a
//!   file;
//! - the server's address comes back on its stdout (the `serving` line),
//!   never guessed;
//! - the channel's stdin stays open while the cluster lives: the server
//!   runs with `--exit-on-stdin-eof`, so closing it ([`Cluster::stop`], a
//!   drop, or the death of this process, even by SIGKILL) stops the server
//!   and its engines on the host.
//!
//! With [`SshOptions::tunnel`] the server listens on the host's loopback
//! and the ssh master forwards a local port to it (`forward_port`), so the
//! host needs no inbound port but ssh.
//!
//! The two things a transport layer (TLS with a pinned certificate, one
//! port per server) will change are each made in one place:
//! `server_script` (the server's command line, wrapped for ssh by
//! [`remote_command`]) and
//! [`Cluster::connect_options`] (how a client reaches a launched server).
//!
//! Hosts that fail (ssh cannot connect, no Python or no `srpy` there, a
//! different SRPy version) are named with the reason in a [`LaunchError`],
//! or kept in [`Cluster::failures`] when [`SshOptions::min_hosts`] lets the
//! cluster go on; a host whose channel ends later is in
//! [`Cluster::lost_hosts`].

use std::ffi::OsString;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::engbox::{connect_uri, EngBox, UriListEntry};
use crate::error::Result;
use crate::local::{private_dir, random_token};
use crate::options::ConnectOptions;
use crate::uri::Uri;

mod slurm;
pub use slurm::SlurmOptions;

/// How many bytes of a host's stderr are kept for error messages.
const STDERR_TAIL: usize = 4096;
/// How long [`Cluster::stop`] waits for a server to stop before killing its
/// channel.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How to start an ssh cluster.
#[derive(Clone)]
pub struct SshOptions {
    /// The hosts, as `ssh` takes them (`host`, `user@host`, an alias of
    /// `~/.ssh/config`).
    pub hosts: Vec<String>,
    /// Engines per host: a number, or `auto` (one per CPU of the host).
    pub engines: String,
    /// The command that runs `srpy-server` on the hosts (a shell command
    /// line; the server options are appended). Default
    /// `python3 -m srpy.server`.
    pub server_command: String,
    /// The ssh program and options before the host, e.g.
    /// `["ssh", "-F", "my_config"]`. Default `["ssh"]`.
    pub ssh_command: Vec<OsString>,
    /// The address the servers listen on. Default: the address the ssh
    /// connection reached on each host (`$SSH_CONNECTION`), the one this
    /// machine can reach.
    pub listen_host: Option<String>,
    /// More `srpy-server` options (shell words, quoted for the remote shell).
    pub server_args: Vec<String>,
    /// The token of every server. Default: a fresh random one per host, so
    /// that one host's token opens no other.
    pub token: Option<Vec<u8>>,
    /// Go on when at least this many hosts started (the others are in
    /// [`Cluster::failures`]). Default: all of them.
    pub min_hosts: Option<usize>,
    /// How long a host may take to connect and start its engines.
    /// Default 60 s.
    pub start_timeout: Duration,
    /// Reach each server through its host's ssh connection: the server
    /// listens on the host's loopback (unless [`SshOptions::listen_host`])
    /// and a port of this machine's 127.0.0.1 is forwarded to it by the
    /// ssh master (`ssh -O forward -L`), so the host needs no inbound port
    /// but ssh. Default off.
    pub tunnel: bool,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            hosts: Vec::new(),
            engines: "auto".into(),
            server_command: "python3 -m srpy.server".into(),
            ssh_command: vec!["ssh".into()],
            listen_host: None,
            server_args: Vec::new(),
            token: None,
            min_hosts: None,
            start_timeout: Duration::from_secs(60),
            tunnel: false,
        }
    }
}

impl SshOptions {
    /// Options for these hosts, the rest default.
    pub fn hosts<S: Into<String>>(hosts: impl IntoIterator<Item = S>) -> Self {
        SshOptions {
            hosts: hosts.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }
}

/// A host that did not start, or was lost, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFailure {
    pub host: String,
    pub reason: String,
}

impl fmt::Display for HostFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.host, self.reason)
    }
}

/// Too few hosts started: each failed host with its reason.
#[derive(Clone, Debug)]
pub struct LaunchError {
    pub failures: Vec<HostFailure>,
    /// Hosts that started (their servers are stopped again).
    pub started: usize,
    /// Hosts that had to start.
    pub needed: usize,
}

impl fmt::Display for LaunchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} host(s) started, {} needed",
            self.started,
            self.started + self.failures.len(),
            self.needed
        )?;
        for failure in &self.failures {
            write!(f, "\n  {failure}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LaunchError {}

/// One server a launcher started.
pub struct ClusterServer {
    /// The host as given.
    pub host: String,
    /// The server's address, as it printed it; with
    /// [`SshOptions::tunnel`], the local end of its tunnel
    /// (`srpys://127.0.0.1:PORT`).
    pub uri: Uri,
    /// The server's SRPy version, as it printed it.
    pub version: String,
    /// The pin of the server's `--tls auto` certificate, as it printed it.
    pub tls_pin: Option<String>,
    token: Vec<u8>,
    /// Shared by the servers of one `srun`.
    channel: Arc<Channel>,
}

impl fmt::Debug for ClusterServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterServer")
            .field("host", &self.host)
            .field("uri", &self.uri.to_string())
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl ClusterServer {
    /// The server's token (random, made for this launch).
    pub fn token(&self) -> &[u8] {
        &self.token
    }
}

/// The ssh process of one host, and what its threads saw.
struct Channel {
    child: Mutex<Child>,
    /// Open while the server should run; closing it stops the server.
    stdin: Mutex<Option<ChildStdin>>,
    /// The server's stdout lines, until the `serving` line.
    lines: Mutex<mpsc::Receiver<String>>,
    stderr: Arc<Mutex<String>>,
    /// Set by the stdout reader when the channel ends.
    ended: Arc<AtomicBool>,
}

impl Channel {
    fn stderr_tail(&self) -> String {
        let text = self
            .stderr
            .lock()
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        if text.is_empty() {
            "(no output)".into()
        } else {
            text
        }
    }

    /// Closes stdin, waits up to `grace` for the process, then kills it.
    fn stop(&self, grace: Duration) {
        if let Ok(mut stdin) = self.stdin.lock() {
            stdin.take();
        }
        let Ok(mut child) = self.child.lock() else {
            return;
        };
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn exit_status(&self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.lock().ok()?;
        for _ in 0..50 {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

/// Servers on several hosts, stopped when the cluster is stopped or dropped.
pub struct Cluster {
    servers: Vec<ClusterServer>,
    failures: Vec<HostFailure>,
    stopping: bool,
    control_dir: Option<PathBuf>,
    /// A Slurm job this cluster submitted, cancelled by `stop`.
    job: Option<String>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("servers", &self.servers)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

/// Quotes a word for a POSIX shell.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// What every launcher runs on a host: a POSIX `sh` script that starts
/// `srpy-server` listening on the address `listen` (a shell snippet that
/// sets `$a`, or `listen_host`), on any free port, reading the token from
/// stdin and stopping when stdin closes. The one place the launched
/// server's command line is made.
fn server_script(
    server_command: &str,
    engines: &str,
    listen: &str,
    listen_host: Option<&str>,
    server_args: &[String],
) -> String {
    let listen = match listen_host {
        Some(host) => format!("a={}", shell_quote(host)),
        None => listen.to_owned(),
    };
    // TLS with a certificate made at start (clients pin the fingerprint on
    // the serving line), unless the caller's server arguments choose the
    // TLS setup (or plaintext) themselves.
    let own_tls = server_args
        .iter()
        .any(|a| a.starts_with("--tls") || a == "--insecure-plaintext");
    let mut extra: Vec<String> = server_args.iter().map(|a| shell_quote(a)).collect();
    if !own_tls {
        extra.insert(0, "--tls auto".to_owned());
    }
    let script = format!(
        "{listen}; case $a in *:*) a=\"[$a]\";; esac; exec {server_command} --listen \"$a:0\" \
         --engines {} --token-stdin --exit-on-stdin-eof {}",
        shell_quote(engines),
        extra.join(" ")
    );
    script.trim_end().to_owned()
}

/// The command line that starts `srpy-server` on an ssh host, as ssh sends
/// it to the remote login shell: POSIX `sh` runs it whatever that shell is.
/// The server listens on the address the ssh connection reached (or
/// `listen_host`).
pub fn remote_command(opts: &SshOptions) -> String {
    let listen_host = match (&opts.listen_host, opts.tunnel) {
        (Some(host), _) => Some(host.as_str()),
        (None, true) => Some("127.0.0.1"),
        (None, false) => None,
    };
    let script = server_script(
        &opts.server_command,
        &opts.engines,
        "set -- $SSH_CONNECTION; a=$3",
        listen_host,
        &opts.server_args,
    );
    format!("exec sh -c {}", shell_quote(&script))
}

/// What a launched server's `srpy-server VERSION serving URI with N
/// engine(s) [(tls-pin sha256:FINGERPRINT)]` line says.
pub(crate) struct Serving {
    pub version: String,
    pub uri: Uri,
    pub tls_pin: Option<String>,
}

/// The [`Serving`] of a server's serving line.
/// A `K: ` task label in front (`srun --label`) is skipped.
fn parse_serving_line(line: &str) -> Option<Serving> {
    let line = line.trim();
    let line = match line.split_once(": ") {
        Some((label, rest)) if label.trim().parse::<u32>().is_ok() => rest,
        _ => line,
    };
    let rest = line.strip_prefix("srpy-server ")?;
    let (version, rest) = rest.split_once(" serving ")?;
    let uri = rest.split_whitespace().next()?;
    let tls_pin = rest
        .split_once("(tls-pin ")
        .and_then(|(_, pin)| pin.split(')').next())
        .map(str::to_owned);
    Some(Serving {
        version: version.to_owned(),
        uri: Uri::parse(uri).ok()?,
        tls_pin,
    })
}

/// The user's ssh command with the options of every ssh this launcher
/// runs: no questions asked, the multiplexing socket in `control_dir`.
fn ssh_base(opts: &SshOptions, control_dir: &std::path::Path) -> std::io::Result<Command> {
    let (program, ssh_args) = opts
        .ssh_command
        .split_first()
        .ok_or_else(|| std::io::Error::other("ssh_command is empty"))?;
    let mut cmd = Command::new(program);
    cmd.args(ssh_args)
        .args(["-o", "BatchMode=yes", "-o"])
        .arg(format!("ControlPath={}/%C", control_dir.display()));
    Ok(cmd)
}

/// ssh's own keepalive on the channel of each server: a host that goes
/// silent ends its channel within about 20 s, so the cluster names it
/// lost (its engines' connections notice the silence by TCP keepalive
/// either way). Given on the command line, it wins over ssh's
/// configuration files (where ssh has no keepalive by default, and
/// Debian's ssh 300 s under `BatchMode`); options in the caller's
/// `ssh_command` come first and win over it.
const SERVER_ALIVE: [&str; 4] = ["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"];

/// The ssh command that runs the server of one host (and is its
/// multiplexing master).
fn ssh_command(
    opts: &SshOptions,
    control_dir: &std::path::Path,
    host: &str,
) -> std::io::Result<Command> {
    let mut cmd = ssh_base(opts, control_dir)?;
    cmd.args(SERVER_ALIVE)
        .arg("-T")
        .args(["-o", "ControlMaster=yes", "-o", "ControlPersist=no"])
        .arg("--")
        .arg(host)
        .arg(remote_command(opts));
    Ok(cmd)
}

/// Forwards a free port of this machine's 127.0.0.1 to `to` (an address
/// as seen from the host) through the host's ssh master (`ssh -O forward
/// -L`); answers the local port. The forward ends with the master.
fn forward_port(
    opts: &SshOptions,
    control_dir: &std::path::Path,
    host: &str,
    to: &Uri,
) -> std::result::Result<u16, String> {
    let mut said = String::new();
    // A port free now may be taken before ssh binds it: then another.
    for _ in 0..3 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free local port for the ssh tunnel: {e}"))?
            .port();
        let target = if to.host.contains(':') {
            format!("[{}]", to.host)
        } else {
            to.host.clone()
        };
        let mut cmd = ssh_base(opts, control_dir).map_err(|e| e.to_string())?;
        cmd.args(["-O", "forward", "-L"])
            .arg(format!("127.0.0.1:{port}:{target}:{}", to.port))
            .arg("--")
            .arg(host)
            .stdin(Stdio::null());
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run {:?}: {e}", opts.ssh_command))?;
        if out.status.success() {
            return Ok(port);
        }
        said = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    }
    Err(format!(
        "ssh could not forward a port to the server ({to}): {said}"
    ))
}

/// Starts a launcher process (`ssh`, `srun`) with pipes, sends it the
/// token line, and reads its output on threads of its own.
fn open_channel(mut cmd: Command, label: &str, token: &[u8]) -> std::io::Result<Channel> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A process group of its own: Ctrl-C of the caller's group does not end
    // the channel (and the servers) under the caller.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr_pipe = child.stderr.take().expect("piped stderr");
    // The server reads one line; a host that never starts one leaves it in
    // the pipe buffer, so this write does not block. If ssh already ended,
    // the write fails and the wait for the address says why it ended.
    let mut line = token.to_vec();
    line.push(b'\n');
    let _ = stdin.write_all(&line).and_then(|_| stdin.flush());

    let (tx, rx) = mpsc::channel();
    let ended = Arc::new(AtomicBool::new(false));
    let ended_by_reader = ended.clone();
    std::thread::Builder::new()
        .name(format!("srpy-out {label}"))
        .spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // Once the address is read nobody listens; keep draining.
                let _ = tx.send(line);
            }
            ended_by_reader.store(true, Ordering::SeqCst);
        })?;
    let stderr = Arc::new(Mutex::new(String::new()));
    let stderr_by_reader = stderr.clone();
    std::thread::Builder::new()
        .name(format!("srpy-err {label}"))
        .spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = stderr_pipe.read(&mut buf) {
                if let Ok(mut tail) = stderr_by_reader.lock() {
                    tail.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if tail.len() > STDERR_TAIL {
                        let mut cut = tail.len() - STDERR_TAIL;
                        while !tail.is_char_boundary(cut) {
                            cut += 1;
                        }
                        tail.drain(..cut);
                    }
                }
            }
        })?;
    Ok(Channel {
        child: Mutex::new(child),
        stdin: Mutex::new(Some(stdin)),
        lines: Mutex::new(rx),
        stderr,
        ended,
    })
}

/// Why a channel ended before its server was ready, from ssh's and the
/// shell's conventions (255: ssh itself failed; 126/127: no such command).
fn early_exit_reason(channel: &Channel, server_command: &str) -> String {
    let said = channel.stderr_tail();
    match channel.exit_status().and_then(|s| s.code()) {
        Some(255) => format!("ssh failed (exit status 255): {said}"),
        Some(code @ (126 | 127)) => format!(
            "cannot run the server command `{server_command}` there (exit status {code}; is Python with \
             srpy installed? set the server command): {said}"
        ),
        Some(code) => format!("the server exited (status {code}) before it was ready: {said}"),
        None => format!("the channel closed before the server was ready: {said}"),
    }
}

/// Waits for `count` `serving` lines of a channel: `(version, uri)` each,
/// checked against this client's SRPy version; else why not.
fn await_serving(
    channel: &Channel,
    count: usize,
    server_command: &str,
    deadline: Instant,
) -> std::result::Result<Vec<Serving>, String> {
    let lines = channel.lines.lock().expect("lines lock");
    let mut found = Vec::new();
    while found.len() < count {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => found.extend(parse_serving_line(&line)),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(early_exit_reason(channel, server_command))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "{} of {count} server(s) ready in time: {}",
                    found.len(),
                    channel.stderr_tail()
                ))
            }
        }
    }
    if let Some(Serving { version, .. }) =
        found.iter().find(|s| s.version != srpy_proto::SRPY_VERSION)
    {
        return Err(format!(
            "the host runs SRPy {version}, this client is SRPy {} (install the same version there)",
            srpy_proto::SRPY_VERSION
        ));
    }
    Ok(found)
}

/// Waits for the server of one ssh host (and, with
/// [`SshOptions::tunnel`], forwards a local port to it).
fn await_server(
    host: &str,
    token: Vec<u8>,
    channel: Channel,
    opts: &SshOptions,
    control_dir: &std::path::Path,
    deadline: Instant,
) -> std::result::Result<ClusterServer, HostFailure> {
    let served = await_serving(&channel, 1, &opts.server_command, deadline).and_then(|mut s| {
        let mut serving = s.remove(0);
        if opts.tunnel {
            let port = forward_port(opts, control_dir, host, &serving.uri)?;
            serving.uri = Uri {
                host: "127.0.0.1".into(),
                port,
                ..serving.uri
            };
        }
        Ok(serving)
    });
    match served {
        Ok(Serving {
            version,
            uri,
            tls_pin,
        }) => Ok(ClusterServer {
            host: host.to_owned(),
            uri,
            version,
            tls_pin,
            token,
            channel: Arc::new(channel),
        }),
        Err(reason) => {
            channel.stop(Duration::from_secs(2));
            Err(HostFailure {
                host: host.to_owned(),
                reason,
            })
        }
    }
}

impl Cluster {
    /// A cluster of no server yet, for a launcher to fill.
    fn empty() -> Cluster {
        Cluster {
            servers: Vec::new(),
            failures: Vec::new(),
            stopping: false,
            control_dir: None,
            job: None,
        }
    }

    /// Starts one server per host over ssh and waits until each is ready
    /// (or failed). Fails, stopping what started, when fewer than
    /// [`SshOptions::min_hosts`] (default: all) hosts started.
    pub fn ssh(opts: SshOptions) -> std::result::Result<Cluster, LaunchError> {
        let needed = opts
            .min_hosts
            .unwrap_or(opts.hosts.len())
            .min(opts.hosts.len())
            .max(1);
        let mut cluster = Cluster::empty();
        let control_dir = match private_dir() {
            Ok(dir) => dir,
            Err(e) => {
                return Err(LaunchError {
                    failures: vec![HostFailure {
                        host: "(local)".into(),
                        reason: format!("cannot make a private folder for the ssh sockets: {e}"),
                    }],
                    started: 0,
                    needed,
                })
            }
        };
        cluster.control_dir = Some(control_dir.clone());
        let deadline = Instant::now() + opts.start_timeout;
        // Every host's channel first, then the answers: hosts start together.
        let mut opened = Vec::new();
        for host in &opts.hosts {
            let token = opts.token.clone().unwrap_or_else(random_token);
            let opened_channel = ssh_command(&opts, &control_dir, host)
                .and_then(|cmd| open_channel(cmd, host, &token));
            match opened_channel {
                Ok(channel) => opened.push((host, token, channel)),
                Err(e) => cluster.failures.push(HostFailure {
                    host: host.clone(),
                    reason: format!("cannot run {:?}: {e}", opts.ssh_command),
                }),
            }
        }
        for (host, token, channel) in opened {
            match await_server(host, token, channel, &opts, &control_dir, deadline) {
                Ok(server) => cluster.servers.push(server),
                Err(failure) => cluster.failures.push(failure),
            }
        }
        if cluster.servers.len() < needed {
            cluster.stop();
            return Err(LaunchError {
                failures: std::mem::take(&mut cluster.failures),
                started: cluster.servers.len(),
                needed,
            });
        }
        Ok(cluster)
    }

    /// The servers that started, in the order of the hosts.
    pub fn servers(&self) -> &[ClusterServer] {
        &self.servers
    }

    /// The hosts that did not start, with the reasons.
    pub fn failures(&self) -> &[HostFailure] {
        &self.failures
    }

    /// The hosts whose channel ended while the cluster ran (host down,
    /// network cut, server killed), with what the host said last.
    pub fn lost_hosts(&self) -> Vec<HostFailure> {
        if self.stopping {
            return Vec::new();
        }
        self.servers
            .iter()
            .filter(|s| s.channel.ended.load(Ordering::SeqCst))
            .map(|s| HostFailure {
                host: s.host.clone(),
                reason: format!("the channel to the host ended: {}", s.channel.stderr_tail()),
            })
            .collect()
    }

    /// How a client connects to `server`: its token and the pin it
    /// printed on top of `base` (as a URI-file line of it would say).
    pub fn connect_options(server: &ClusterServer, base: &ConnectOptions) -> ConnectOptions {
        let entry = UriListEntry {
            uri: server.uri.clone(),
            tls_pin: server.tls_pin.clone(),
        };
        ConnectOptions {
            token: Some(server.token.clone()),
            ..entry.connect_options(base)
        }
    }

    /// A box of every engine of every server; a server that cannot be
    /// reached is an error naming its host.
    pub async fn engbox(&self, base: &ConnectOptions) -> Result<EngBox> {
        let mut engines = Vec::new();
        for server in &self.servers {
            let opts = Self::connect_options(server, base);
            let more = connect_uri(&server.uri, &opts).await.map_err(|e| {
                crate::Error::Other(format!("host {} ({}): {e}", server.host, server.uri))
            })?;
            engines.extend(more);
        }
        Ok(EngBox::new(engines))
    }

    /// Stops every server (closes its channel, waits for it to end, kills
    /// the channel after a grace period) and removes the socket folder.
    /// Idempotent.
    pub fn stop(&mut self) {
        self.stopping = true;
        std::thread::scope(|scope| {
            for server in &self.servers {
                scope.spawn(|| server.channel.stop(STOP_GRACE));
            }
        });
        if let Some(job) = self.job.take() {
            slurm::cancel(&job);
        }
        if let Some(dir) = self.control_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_channel_has_ssh_keepalive_after_the_callers_options() {
        let opts = SshOptions {
            ssh_command: vec!["ssh".into(), "-o".into(), "ServerAliveInterval=9".into()],
            ..SshOptions::hosts(["h1"])
        };
        let cmd = ssh_command(&opts, std::path::Path::new("/nonexistent"), "h1").unwrap();
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let at = |what: &str| args.iter().position(|a| a == what).unwrap();
        // ssh takes the first value given: the caller's 9 s, then ours.
        assert!(
            at("ServerAliveInterval=9") < at("ServerAliveInterval=5"),
            "{args:?}"
        );
        assert!(args.contains(&"ServerAliveCountMax=3".to_owned()));
        assert!(at("ServerAliveInterval=5") < at("h1"));
    }

    #[test]
    fn serving_line_gives_version_address_and_pin() {
        let s =
            parse_serving_line("srpy-server 0.1.0 serving srpy://10.98.0.2:41234 with 2 engine(s)")
                .unwrap();
        assert_eq!(s.version, "0.1.0");
        assert_eq!(s.uri.to_string(), "srpy://10.98.0.2:41234");
        assert_eq!(s.tls_pin, None);
        assert!(parse_serving_line("  engine 0: srpy://10.98.0.2:41234/0").is_none());
        // A line of `srun --label`, with TLS.
        let s = parse_serving_line(
            "3: srpy-server 0.1.0 serving srpys://10.0.0.7:5000 with 1 engine(s) \
             (tls-pin sha256:AB:CD)",
        )
        .unwrap();
        assert_eq!(s.uri.to_string(), "srpys://10.0.0.7:5000");
        assert_eq!(s.tls_pin.as_deref(), Some("sha256:AB:CD"));
    }

    #[test]
    fn remote_command_runs_in_sh_with_the_token_on_stdin() {
        let opts = SshOptions {
            server_command: "/opt/py/bin/python -m srpy.server".into(),
            engines: "2".into(),
            server_args: vec!["--name".into(), "it's".into()],
            ..Default::default()
        };
        let cmd = remote_command(&opts);
        assert!(cmd.starts_with("exec sh -c '"), "{cmd}");
        assert!(cmd.contains("--token-stdin --exit-on-stdin-eof"), "{cmd}");
        // Run the script part with a real sh: it must expand to the command
        // line the server gets.
        let out = Command::new("sh")
            .arg("-c")
            .arg(
                cmd.replacen("exec sh -c", "sh -c", 1)
                    .replace("exec /opt", "echo /opt"),
            )
            .env("SSH_CONNECTION", "10.98.0.1 50000 10.98.0.2 22")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "/opt/py/bin/python -m srpy.server --listen 10.98.0.2:0 --engines 2 \
             --token-stdin --exit-on-stdin-eof --tls auto --name it's"
        );
    }

    #[test]
    fn a_tunnel_keeps_the_server_on_the_hosts_loopback() {
        let tunnel = SshOptions {
            tunnel: true,
            ..SshOptions::hosts(["a"])
        };
        assert!(remote_command(&tunnel).contains(r"a='\''127.0.0.1'\''"));
        let chosen = SshOptions {
            listen_host: Some("10.0.0.9".into()),
            ..tunnel
        };
        assert!(remote_command(&chosen).contains("10.0.0.9"));
        assert!(!remote_command(&SshOptions::hosts(["a"])).contains("127.0.0.1"));
    }

    #[test]
    fn a_missing_ssh_program_is_named() {
        let opts = SshOptions {
            ssh_command: vec!["/nonexistent/ssh".into()],
            ..SshOptions::hosts(["a"])
        };
        let err = Cluster::ssh(opts).unwrap_err();
        assert_eq!(err.started, 0);
        assert_eq!(err.failures[0].host, "a");
        assert!(err.to_string().contains("/nonexistent/ssh"), "{err}");
    }
}
