//! The supervisor: starts one CPython engine process per slot, watches it,
//! restarts it under the same index when it dies, and stops them all on
//! shutdown.
//!
//! An engine is `<python> -m srpy.engine`. It reads its [`EngineConfig`] as
//! one JSON line on stdin and answers `SRPY-ENGINE-READY <port> <dir>` on
//! stdout once it is ready (port 0: it has no TCP port of its own). Its
//! stdin stays open: when the supervisor dies, however it dies, the pipe
//! closes and the engine exits by itself.
//!
//! Each engine process also inherits its end of a fresh link (a Unix
//! socket pair, [`crate::routing`]) over which the server's door hands it
//! the connections routed to it; the supervisor is the door's
//! [`Router`]: no link while an engine is (re)starting.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use srpy_proto::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{broadcast, watch, Notify};

use crate::counters::{self, CounterPage};
use crate::engine_host::EngineConfig;
use crate::error::{Error, Result};
use crate::logging;
use crate::routing::{self, EngineLink, Router};
use srpy_proto::route::{Answer, Code};

/// How engines are started.
#[derive(Clone, Debug)]
pub struct SupervisorConfig {
    pub python: PathBuf,
    pub engines: usize,
    pub host: IpAddr,
    /// The server's own port: engines are reached through it.
    pub server_port: u16,
    /// `--engine-ports`: engines also listen on their own TCP port, from
    /// this first port of a fixed range (engine i gets `first + i`; 0:
    /// ephemeral ports). `None`: no engine listens on TCP.
    pub first_port: Option<u16>,
    pub token: Option<Vec<u8>>,
    /// Every engine terminates TLS with this identity (sent, like the
    /// token, on the engine's stdin).
    pub tls: Option<crate::tls::TlsIdentity>,
    pub name: String,
    pub group: String,
    /// Passed on to every engine.
    pub limits: crate::door::Limits,
    pub debug: bool,
    pub time: bool,
    /// Time an engine has to report it is ready.
    pub start_timeout: Duration,
}

/// What the directory knows about one engine.
#[derive(Clone, Debug, Default)]
pub struct EngineState {
    pub pid: Option<u32>,
    /// The engine's own TCP port (`--engine-ports`), 0 when it has none.
    pub port: u16,
    /// Where connections for the engine are handed (`None` while it has no
    /// process).
    pub link: Option<Arc<EngineLink>>,
    pub alive: bool,
    /// Completed starts (1 after the first start; grows with each restart).
    pub generation: u64,
    /// Why the last start failed, for the startup error message.
    pub last_error: Option<String>,
    /// The counters of the engine process last started.
    pub counters: Option<Arc<CounterPage>>,
    /// When the running process started (`None` while it has none).
    pub started: Option<Instant>,
}

struct Slot {
    index: usize,
    state: Mutex<EngineState>,
    changed: watch::Sender<u64>,
    kill: Notify,
}

/// The running engines.
pub struct Supervisor {
    config: SupervisorConfig,
    slots: Vec<Arc<Slot>>,
    shutdown: broadcast::Sender<()>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Supervisor {
    /// Starts every engine and waits until all are ready (or one failed).
    pub async fn start(config: SupervisorConfig) -> Result<Arc<Supervisor>> {
        let (shutdown, _) = broadcast::channel(1);
        let slots: Vec<_> = (0..config.engines)
            .map(|index| {
                Arc::new(Slot {
                    index,
                    state: Mutex::new(EngineState::default()),
                    changed: watch::channel(0).0,
                    kill: Notify::new(),
                })
            })
            .collect();
        let sup = Arc::new(Supervisor {
            config,
            slots,
            shutdown,
            tasks: Mutex::new(Vec::new()),
        });
        for slot in &sup.slots {
            let task = tokio::spawn(run_slot(
                sup.clone(),
                slot.clone(),
                sup.shutdown.subscribe(),
            ));
            sup.tasks.lock().unwrap().push(task);
        }
        for slot in &sup.slots {
            let mut rx = slot.changed.subscribe();
            // Each change is a start attempt finishing: ready or failed.
            let _ = rx.wait_for(|n| *n > 0).await;
            let state = slot.state.lock().unwrap().clone();
            if !state.alive {
                sup.stop().await;
                return Err(Error::EngineStart {
                    index: slot.index,
                    message: state.last_error.unwrap_or_else(|| "unknown reason".into()),
                });
            }
        }
        Ok(sup)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn state(&self, index: usize) -> Option<EngineState> {
        self.slots
            .get(index)
            .map(|s| s.state.lock().unwrap().clone())
    }

    /// The engine directory as sent to clients: each engine is reached
    /// through the server's port (`address`, `port`); `engine_port` is its
    /// own port under `--engine-ports`, else null.
    pub fn directory(&self) -> Value {
        let host = self.config.host.to_string();
        let authority = std::net::SocketAddr::new(self.config.host, self.config.server_port);
        Value::List(
            self.slots
                .iter()
                .map(|s| {
                    let st = s.state.lock().unwrap();
                    Value::map([
                        ("index", Value::from(s.index)),
                        ("host", Value::from(host.as_str())),
                        ("port", Value::from(self.config.server_port)),
                        (
                            "address",
                            Value::from(format!("srpy://{authority}/{}", s.index)),
                        ),
                        (
                            "engine_port",
                            match st.port {
                                0 => Value::Null,
                                p => Value::from(p),
                            },
                        ),
                        ("pid", st.pid.map_or(Value::Null, Value::from)),
                        ("alive", Value::Bool(st.alive)),
                        ("restarts", Value::from(st.generation.saturating_sub(1))),
                        (
                            "uptime",
                            st.started
                                .map_or(Value::Null, |t| Value::Float(t.elapsed().as_secs_f64())),
                        ),
                        (
                            "rss",
                            st.pid.and_then(rss_bytes).map_or(Value::Null, Value::from),
                        ),
                    ])
                })
                .collect(),
        )
    }

    /// Kills engine `index` and waits (at most `timeout`) until its
    /// replacement is ready.
    pub async fn restart(&self, index: usize, timeout: Duration) -> Result<()> {
        let slot = self.slots.get(index).ok_or_else(|| {
            Error::Config(format!(
                "no engine {index}: this server has {}",
                self.slots.len()
            ))
        })?;
        let mut rx = slot.changed.subscribe();
        let before = *rx.borrow_and_update();
        slot.kill.notify_one();
        let ready = async {
            loop {
                if rx.changed().await.is_err() {
                    return false;
                }
                let gen = *rx.borrow_and_update();
                if gen > before && slot.state.lock().unwrap().alive {
                    return true;
                }
            }
        };
        match tokio::time::timeout(timeout, ready).await {
            Ok(true) => Ok(()),
            _ => Err(Error::EngineStart {
                index,
                message: format!("not back within {:.0} s", timeout.as_secs_f64()),
            }),
        }
    }

    /// Stops every engine and waits for them to exit.
    pub async fn stop(&self) {
        let _ = self.shutdown.send(());
        let tasks: Vec<_> = self.tasks.lock().unwrap().drain(..).collect();
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// Keeps one engine slot filled until shutdown.
async fn run_slot(sup: Arc<Supervisor>, slot: Arc<Slot>, mut shutdown: broadcast::Receiver<()>) {
    let mut quick_failures = 0u32;
    loop {
        let started = Instant::now();
        let spawned = tokio::select! {
            s = spawn_engine(&sup.config, slot.index) => s,
            _ = shutdown.recv() => return,
        };
        let Spawned {
            mut child,
            port,
            dir,
            page,
            link,
        } = match spawned {
            Ok(s) => s,
            Err(message) => {
                tracing::error!(engine = slot.index, "engine failed to start: {message}");
                let first = slot.state.lock().unwrap().generation == 0;
                {
                    let mut st = slot.state.lock().unwrap();
                    st.alive = false;
                    st.last_error = Some(message);
                }
                slot.changed.send_modify(|n| *n += 1);
                if first {
                    // A start-up failure ends the server (see `start`).
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = shutdown.recv() => return,
                }
            }
        };
        let pid = child.id();
        {
            let mut st = slot.state.lock().unwrap();
            st.pid = pid;
            st.port = port;
            st.link = Some(Arc::new(link));
            st.alive = true;
            st.generation += 1;
            st.last_error = None;
            st.counters = Some(Arc::new(page));
            st.started = Some(Instant::now());
        }
        slot.changed.send_modify(|n| *n += 1);
        let status = tokio::select! {
            s = child.wait() => Some(s),
            _ = slot.kill.notified() => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                None
            }
            _ = shutdown.recv() => {
                terminate(&mut child).await;
                mark_dead(&slot);
                remove_dir(&dir);
                return;
            }
        };
        mark_dead(&slot);
        remove_dir(&dir);
        let died = status.is_some();
        match status {
            Some(s) => tracing::warn!(
                engine = slot.index,
                pid,
                "engine died ({}); restarting it with a fresh namespace",
                describe_status(s)
            ),
            None => tracing::info!(engine = slot.index, pid, "engine restarted on request"),
        }
        // An engine that keeps dying right after start gets a growing pause,
        // so a crash loop does not eat the machine.
        if started.elapsed() < Duration::from_secs(2) && died {
            quick_failures += 1;
        } else {
            quick_failures = 0;
        }
        if quick_failures > 2 {
            let pause = Duration::from_millis(200 * u64::from(quick_failures.min(25)));
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.recv() => return,
            }
        }
    }
}

fn describe_status(s: std::io::Result<std::process::ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match s {
        Ok(st) => match (st.code(), st.signal()) {
            (Some(c), _) => format!("exit code {c}"),
            (_, Some(sig)) => format!("killed by signal {sig}"),
            _ => "unknown status".into(),
        },
        Err(e) => format!("wait failed: {e}"),
    }
}

fn mark_dead(slot: &Slot) {
    let mut st = slot.state.lock().unwrap();
    st.alive = false;
    st.pid = None;
    st.started = None;
    st.link = None;
}

/// The resident memory of process `pid` in bytes, where the system says
/// (Linux: `/proc/PID/statm`).
fn rss_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

fn remove_dir(dir: &Option<PathBuf>) {
    if let Some(d) = dir {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// SIGTERM, a short grace period, then SIGKILL.
async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(pid as i32, libc::SIGTERM);
        }
        if tokio::time::timeout(Duration::from_secs(2), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// A started engine process and what the supervisor keeps of it.
struct Spawned {
    child: Child,
    /// Its own TCP port (0: none).
    port: u16,
    dir: Option<PathBuf>,
    page: CounterPage,
    link: EngineLink,
}

/// Starts one engine process.
async fn spawn_engine(
    config: &SupervisorConfig,
    index: usize,
) -> std::result::Result<Spawned, String> {
    let mut page = CounterPage::shared()
        .map_err(|e| format!("cannot create the engine's counter page: {e}"))?;
    let page_fd = page.fd().expect("a shared page has a descriptor");
    let (link, engine_end) =
        routing::link_pair().map_err(|e| format!("cannot create the engine's link: {e}"))?;
    let link_fd = std::os::fd::AsRawFd::as_raw_fd(&engine_end);
    let engine_config = EngineConfig {
        index: index as u64,
        host: config.host,
        port: config
            .first_port
            .map(|p| if p == 0 { 0 } else { p + index as u16 }),
        link_fd: Some(link_fd),
        token: config.token.as_ref().map(hex::encode),
        name: config.name.clone(),
        group: config.group.clone(),
        limits: config.limits.clone(),
        debug: config.debug,
        time: config.time,
        metrics_fd: Some(page_fd),
        tls: config.tls.clone(),
    };
    let mut cmd = Command::new(&config.python);
    cmd.args(["-m", "srpy.engine"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("PYTHONUNBUFFERED", "1")
        // The engine learns the token on stdin; user code running in it
        // must not find it in its environment.
        .env_remove("SRPY_TOKEN")
        .kill_on_drop(true)
        // Own process group: a Ctrl-C in the server's terminal is the
        // server's to handle, not every engine's.
        .process_group(0);
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill
    // the engine if the thread that spawned it dies (a second guard beside
    // the stdin pipe).
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            counters::allow_inherit(page_fd)?;
            counters::allow_inherit(link_fd)
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run '{}': {e}", config.python.display()))?;
    // The engine has its copy of the descriptor; the mapping stays here.
    page.close_fd();
    drop(engine_end);
    let mut stdin = child.stdin.take().expect("piped");
    let line = serde_json::to_string(&engine_config).expect("config serialises") + "\n";
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let stderr_tail = Arc::new(Mutex::new(Vec::<String>::new()));
    let pid = child.id();
    tokio::spawn(forward_lines(stderr, index, pid, stderr_tail.clone()));
    let mut stdout = BufReader::new(stdout).lines();
    let ready = async {
        stdin.write_all(line.as_bytes()).await.ok()?;
        stdin.flush().await.ok()?;
        loop {
            let l = stdout.next_line().await.ok()??;
            if let Some(rest) = l.strip_prefix("SRPY-ENGINE-READY ") {
                let mut parts = rest.splitn(2, ' ');
                let port: u16 = parts.next()?.parse().ok()?;
                let dir = parts.next().map(PathBuf::from);
                return Some((port, dir));
            }
            logging::forward_engine_line(index, pid, "stdout", &l);
        }
    };
    match tokio::time::timeout(config.start_timeout, ready).await {
        Ok(Some((port, dir))) => {
            // Keep stdin open for the engine's lifetime: its closing is the
            // engine's signal that the supervisor is gone.
            tokio::spawn(async move {
                let _keep = stdin;
                std::future::pending::<()>().await;
            });
            tokio::spawn(async move {
                while let Ok(Some(l)) = stdout.next_line().await {
                    logging::forward_engine_line(index, pid, "stdout", &l);
                }
            });
            Ok(Spawned {
                child,
                port,
                dir,
                page,
                link,
            })
        }
        outcome => {
            let _ = child.start_kill();
            let status = child.wait().await;
            // Let the stderr forwarder drain what the engine said.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let said = stderr_tail.lock().unwrap().join("\n");
            let why = if outcome.is_err() {
                format!(
                    "no ready report within {:.0} s",
                    config.start_timeout.as_secs_f64()
                )
            } else {
                format!("it exited ({})", describe_status(status))
            };
            let hint = if said.contains("No module named 'srpy'")
                || said.contains("No module named srpy")
            {
                format!(
                    "\nthe engine interpreter '{}' cannot import srpy; install it there with\n    {} -m pip install ./srpy-py\nor pass --python with an interpreter that has it",
                    config.python.display(),
                    config.python.display()
                )
            } else {
                String::new()
            };
            Err(format!("{why}; its stderr said:\n{said}{hint}"))
        }
    }
}

/// Forwards an engine's stderr lines to the log, keeping the last lines.
async fn forward_lines(
    stream: impl tokio::io::AsyncRead + Unpin,
    index: usize,
    pid: Option<u32>,
    tail: Arc<Mutex<Vec<String>>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(l)) = lines.next_line().await {
        logging::forward_engine_line(index, pid, "stderr", &l);
        let mut t = tail.lock().unwrap();
        if t.len() >= 40 {
            t.remove(0);
        }
        t.push(l);
    }
}

impl Router for Supervisor {
    fn link(&self, index: u32) -> std::result::Result<Arc<EngineLink>, Answer> {
        let Some(slot) = self.slots.get(index as usize) else {
            return Err(Answer::refuse(
                Code::NoSuchEngine,
                format!(
                    "no engine {index}: this server has {} engine(s)",
                    self.slots.len()
                ),
            ));
        };
        let st = slot.state.lock().unwrap();
        match (&st.link, st.alive) {
            (Some(link), true) => Ok(link.clone()),
            _ => Err(Answer::refuse(
                Code::EngineRestarting,
                format!("engine {index} is restarting: try again shortly"),
            )),
        }
    }
}
