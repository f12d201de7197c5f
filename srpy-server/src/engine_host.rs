//! The network side of an engine, linked into the Python extension module.
//!
//! A single-threaded tokio runtime accepts connections (through the
//! [`door`](crate::door)), decodes requests and answers `ping`, `is_busy`,
//! `interrupt` and `wait` at once. Everything else becomes a [`Job`] in one
//! queue, in arrival order across all connections (the original SRPy's
//! engine lock), which the interpreter's main thread takes with
//! [`EngineHost::next_job`] and answers with [`Job::finish`].
//!
//! Who drives the runtime changes hands: while the interpreter is idle,
//! its main thread drives it inside `next_job`, so a request wakes that
//! thread directly and it runs the job at once; while a job runs, the I/O
//! thread drives it, so `ping` and `interrupt` are still answered. One
//! thread wake-up per request instead of two (`docs/PERFORMANCE.md`).
//!
//! No thread waits for a client: replies are written without blocking and
//! what a socket does not take is queued for the connection's drain task
//! ([`ConnWriter`]), up to the output limit. Each connection holds at most
//! `max_unanswered` requests unanswered before its reader stops reading
//! (backpressure), and one idle past `idle_timeout` is closed
//! ([`Limits`](crate::door::Limits)).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use srpy_proto::buf::RecvAlloc;
use srpy_proto::frame::{encode_frame, OwnedFrame};
use srpy_proto::request::RequestError;
use srpy_proto::{ErrorInfo, ErrorKind, Op, Reply, Request, Role, Stream, Value};
use tokio::net::TcpListener;

use crate::routing::{HandedConnections, Routing};
use tokio::sync::{broadcast, mpsc, watch, Notify};

use crate::conn_writer::{ConnWriter, Frame};
use crate::counters::{op_slot, outcome_slot, CounterPage, OTHER, OUTCOMES};
use crate::door::{self, DoorConfig, Limits, Session};
use crate::error::Result;

/// How an engine is set up (sent by the supervisor on the engine's stdin).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct EngineConfig {
    pub index: u64,
    pub host: IpAddr,
    /// The engine's own TCP port (`--engine-ports`; 0: ephemeral); `None`:
    /// no TCP listener, clients come only through the server's port.
    #[serde(default)]
    pub port: Option<u16>,
    /// Inherited descriptor of the engine's end of its link to the server,
    /// over which the server hands it connections ([`crate::routing`]).
    #[serde(default)]
    pub link_fd: Option<i32>,
    /// Hex of the shared token, if any.
    pub token: Option<String>,
    pub name: String,
    pub group: String,
    pub limits: Limits,
    /// Log every request (`--debug`).
    pub debug: bool,
    /// Log how long each request took (`--time`).
    pub time: bool,
    /// Inherited descriptor of the supervisor's counter page
    /// ([`crate::counters`]); `None`: count in private memory.
    #[serde(default)]
    pub metrics_fd: Option<i32>,
    /// Terminate TLS with this identity (the server's `--tls-*`).
    #[serde(default)]
    pub tls: Option<crate::tls::TlsIdentity>,
}

/// State shared by the I/O side and the main thread.
struct Shared {
    /// Requests queued or running; `wait` watches it reach zero.
    pending: watch::Sender<u64>,
    /// The running job, guarded so an interrupt cannot land between jobs.
    running: Mutex<Option<u64>>,
    interrupter: Mutex<Option<Box<dyn Fn() + Send>>>,
    interrupted: AtomicBool,
    time: bool,
    seq: AtomicU64,
    /// Connections with a result still queued that refers to its value's
    /// memory: detached before the next job runs (see `conn_writer`).
    unsent_results: Mutex<Vec<std::sync::Weak<ConnWriter>>>,
    counters: Arc<CounterPage>,
}

impl Shared {
    /// Counts a reply (its outcome and size) to a request that arrived at
    /// `arrived`, and returns its frame.
    fn counted(&self, op: &str, reply: Reply, arrived: Instant) -> Vec<u8> {
        let outcome = outcome_slot(reply_outcome(&reply));
        self.counters.request_done(op_slot(op), outcome, arrived);
        let frame = encode_frame(&reply.into_value());
        self.counters.add_bytes_out(frame.len());
        frame
    }
}

/// `Ok` or the error kind of a reply, for the counters.
fn reply_outcome(reply: &Reply) -> std::result::Result<(), &ErrorKind> {
    match reply {
        Reply::Err { error, .. } => Err(&error.kind),
        _ => Ok(()),
    }
}

/// One queued request, to be run on the main thread.
pub struct Job {
    pub id: u64,
    op: Op,
    op_name: &'static str,
    /// Whether the client accepts `out` frames.
    pub wants_output: bool,
    /// Whether the client accepts pickled values.
    pub wants_pickle: bool,
    conn: Arc<ConnWriter>,
    shared: Arc<Shared>,
    /// When the request was read (the duration histogram counts from here).
    arrived: Instant,
    started: Instant,
    finished: bool,
}

impl Job {
    pub fn op(&self) -> &Op {
        &self.op
    }

    /// Moves the op (and its values) out, so big values are not copied.
    pub fn take_op(&mut self) -> Op {
        std::mem::replace(&mut self.op, Op::Ping)
    }

    /// Streams remote output back to the caller (dropped if the client did
    /// not ask for output or has gone).
    pub fn output(&self, stream: Stream, text: &str) {
        if self.wants_output && !text.is_empty() {
            let frame = encode_frame(
                &Reply::Output {
                    id: self.id,
                    stream,
                    text: text.to_owned(),
                }
                .into_value(),
            );
            self.shared.counters.add_bytes_out(frame.len());
            self.conn.send(Frame::Plain(frame), false);
        }
    }

    /// A sender for output usable after the job is borrowed elsewhere.
    pub fn output_handle(&self) -> OutputHandle {
        OutputHandle {
            id: self.id,
            enabled: self.wants_output,
            conn: self.conn.clone(),
            counters: self.shared.counters.clone(),
        }
    }

    /// Sends the result and marks the engine idle. Returns whether an
    /// interrupt was delivered to this job.
    pub fn finish(mut self, result: std::result::Result<Value, ErrorInfo>) -> bool {
        self.complete(result)
    }

    fn complete(&mut self, result: std::result::Result<Value, ErrorInfo>) -> bool {
        self.finished = true;
        let interrupted = {
            let mut running = self.shared.running.lock().unwrap();
            *running = None;
            self.shared.interrupted.swap(false, Ordering::SeqCst)
        };
        let reply = match result {
            // The KeyboardInterrupt we raised on request is reported as
            // the `interrupted` kind, not as a remote exception.
            Err(mut error)
                if interrupted && error.remote_type.as_deref() == Some("KeyboardInterrupt") =>
            {
                error.kind = ErrorKind::Interrupted;
                error.message = "interrupted on request".into();
                Reply::Err {
                    id: Some(self.id),
                    error,
                }
            }
            Ok(value) => Reply::Ok { id: self.id, value },
            Err(error) => Reply::Err {
                id: Some(self.id),
                error,
            },
        };
        let outcome = outcome_slot(reply_outcome(&reply));
        self.shared
            .counters
            .request_done(op_slot(self.op_name), outcome, self.arrived);
        // Big results (bytes, arrays) go out from where they lie.
        let id = self.id;
        let frame = OwnedFrame::new(reply.into_value()).unwrap_or_else(|e| {
            OwnedFrame::new(
                Reply::err(
                    Some(id),
                    ErrorKind::Limit,
                    format!("the result cannot be sent: {e}"),
                )
                .into_value(),
            )
            .expect("a small error frame encodes")
        });
        // Idle before the reply leaves: a client that reads the reply and
        // asks `is_busy` must hear `false`.
        self.shared
            .pending
            .send_modify(|p| *p = p.saturating_sub(1));
        self.shared.counters.job_left();
        self.shared.counters.add_bytes_out(frame.len());
        if self.conn.send(Frame::Owned(frame), true) {
            let weak = Arc::downgrade(&self.conn);
            self.shared.unsent_results.lock().unwrap().push(weak);
        }
        // `--time` logs every completion; `--debug` does too.
        macro_rules! done {
            ($level:expr) => {
                tracing::event!(
                    $level,
                    op = self.op_name,
                    id = self.id,
                    outcome = OUTCOMES[outcome],
                    ms = self.started.elapsed().as_secs_f64() * 1e3,
                    "request done"
                )
            };
        }
        if self.shared.time {
            done!(tracing::Level::INFO);
        } else {
            done!(tracing::Level::DEBUG);
        }
        interrupted
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if !self.finished {
            // Only an engine going down drops a job (its main loop ended).
            self.complete(Err(ErrorInfo::new(
                ErrorKind::EngineDied,
                "the engine stopped before answering the request",
            )));
        }
    }
}

/// Sends `out` frames for one request.
#[derive(Clone)]
pub struct OutputHandle {
    id: u64,
    enabled: bool,
    conn: Arc<ConnWriter>,
    counters: Arc<CounterPage>,
}

impl OutputHandle {
    pub fn send(&self, stream: Stream, text: &str) {
        if self.enabled && !text.is_empty() {
            let frame = encode_frame(
                &Reply::Output {
                    id: self.id,
                    stream,
                    text: text.to_owned(),
                }
                .into_value(),
            );
            self.counters.add_bytes_out(frame.len());
            self.conn.send(Frame::Plain(frame), false);
        }
    }
}

/// The engine host has shut down: no more jobs will come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the engine host has shut down")]
pub struct HostClosed;

/// Hands the driving of the runtime between the main thread and the I/O
/// thread (see the module documentation).
///
/// Waking the I/O thread for every job would cost the wake-up the design
/// saves, so it takes over only once a job has run for [`TAKE_OVER`]: while
/// jobs come often it checks on a timer of that period, and after
/// [`GRACE`] without jobs it sleeps until the main thread wakes it at the
/// start of the next job. Short jobs thus run without any hand-over, and
/// `ping`/`interrupt` wait at most about `TAKE_OVER` for a long one.
#[derive(Default)]
struct Handoff {
    state: Mutex<HandoffState>,
    changed: Condvar,
    /// Tells the I/O thread to stop driving (the main thread takes over).
    give_back: Notify,
}

/// How long a job runs before the I/O thread takes over the runtime.
const TAKE_OVER: Duration = Duration::from_millis(1);
/// How long after the last job the I/O thread keeps checking on a timer.
const GRACE: Duration = Duration::from_millis(20);

#[derive(Default)]
struct HandoffState {
    /// When the main thread's running job started (`None`: it is idle).
    busy_since: Option<Instant>,
    /// When the main thread last finished a job.
    last_job: Option<Instant>,
    /// The I/O thread sleeps until woken (no timer running).
    io_asleep: bool,
    /// The I/O thread drives the runtime.
    io_driving: bool,
    stop: bool,
}

impl Handoff {
    /// The I/O thread: drives the runtime while a long job runs.
    fn drive_while_busy(&self, runtime: &tokio::runtime::Runtime) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if st.stop {
                return;
            }
            let now = Instant::now();
            match st.busy_since {
                Some(t) if now.duration_since(t) >= TAKE_OVER => {
                    st.io_driving = true;
                    drop(st);
                    // Until the main thread wants to drive again.
                    runtime.block_on(self.give_back.notified());
                    st = self.state.lock().unwrap_or_else(|p| p.into_inner());
                    st.io_driving = false;
                    continue;
                }
                Some(t) => {
                    let wait = TAKE_OVER - now.duration_since(t);
                    st = self.wait(st, Some(wait));
                }
                None if st.last_job.is_some_and(|t| now.duration_since(t) < GRACE) => {
                    st = self.wait(st, Some(TAKE_OVER));
                }
                None => {
                    st.io_asleep = true;
                    st = self.wait(st, None);
                    st.io_asleep = false;
                }
            }
        }
    }

    fn wait<'a>(
        &self,
        st: std::sync::MutexGuard<'a, HandoffState>,
        timeout: Option<Duration>,
    ) -> std::sync::MutexGuard<'a, HandoffState> {
        match timeout {
            Some(t) => {
                self.changed
                    .wait_timeout(st, t)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
            None => self.changed.wait(st).unwrap_or_else(|p| p.into_inner()),
        }
    }

    /// The main thread starts a job.
    fn job_started(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.busy_since = Some(Instant::now());
        if st.io_asleep {
            drop(st);
            self.changed.notify_one();
        }
    }

    /// The main thread is about to drive the runtime (idle, waiting for a
    /// job).
    fn main_idle(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.busy_since.take().is_some() {
            st.last_job = Some(Instant::now());
        }
        if st.io_driving {
            drop(st);
            self.give_back.notify_one();
        }
    }

    fn stop(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).stop = true;
        self.changed.notify_one();
        self.give_back.notify_one();
    }
}

/// A running engine network side.
pub struct EngineHost {
    runtime: Arc<tokio::runtime::Runtime>,
    addr: Option<SocketAddr>,
    /// Taken only by the main thread; the mutex makes the host `Sync`.
    jobs: Mutex<mpsc::UnboundedReceiver<Job>>,
    shared: Arc<Shared>,
    shutdown: broadcast::Sender<()>,
    handoff: Arc<Handoff>,
    io_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl EngineHost {
    /// Binds the engine's listener (if it has its own port), takes over its
    /// link to the server, and starts its I/O threads. With
    /// `recv_alloc`, big `bytes` values are read into memory it provides
    /// (the Python runtime gives new `bytes` objects).
    pub fn start(
        config: &EngineConfig,
        info: Value,
        recv_alloc: Option<Arc<dyn RecvAlloc>>,
    ) -> Result<EngineHost> {
        crate::logging::init_engine(config.debug);
        let runtime = Arc::new(
            tokio::runtime::Builder::new_current_thread()
                .thread_name("srpy-engine-io")
                .enable_all()
                .build()?,
        );
        let token = match &config.token {
            Some(hex) => Some(
                hex::decode(hex)
                    .map_err(|e| crate::Error::Config(format!("engine token is not hex: {e}")))?,
            ),
            None => None,
        };
        let counters = Arc::new(match config.metrics_fd {
            Some(fd) => CounterPage::inherit(fd)?,
            None => CounterPage::private(),
        });
        let routing = Routing::Engine {
            index: u32::try_from(config.index).unwrap_or(u32::MAX - 1),
        };
        let mut door_config = DoorConfig::new(Role::Engine, token, config.limits.clone(), routing);
        door_config.counters = counters.clone();
        if let Some(identity) = &config.tls {
            let acceptor = crate::tls::TlsAcceptor::new(identity).map_err(crate::Error::Config)?;
            door_config.tls = Some(acceptor);
        }
        let incoming = runtime.block_on(async {
            let listener = match config.port {
                Some(port) => Some(TcpListener::bind((config.host, port)).await?),
                None => None,
            };
            let handed = match config.link_fd {
                Some(fd) => Some(HandedConnections::from_inherited(fd)?),
                None => None,
            };
            std::io::Result::Ok(door::Incoming { listener, handed })
        })?;
        let addr = match &incoming.listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        let (pending, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            pending,
            running: Mutex::new(None),
            interrupter: Mutex::new(None),
            interrupted: AtomicBool::new(false),
            time: config.time,
            seq: AtomicU64::new(0),
            unsent_results: Mutex::new(Vec::new()),
            counters,
        });
        let (jobs_tx, jobs) = mpsc::unbounded_channel();
        let (shutdown, shutdown_rx) = broadcast::channel(1);
        let handler_shared = shared.clone();
        let limits = Arc::new(config.limits.clone());
        runtime.spawn(door::serve(
            incoming,
            Arc::new(door_config),
            move || info.clone(),
            move |session| {
                serve_connection(
                    session,
                    handler_shared.clone(),
                    limits.clone(),
                    jobs_tx.clone(),
                    recv_alloc.clone(),
                )
            },
            shutdown_rx,
        ));
        let handoff = Arc::new(Handoff::default());
        let io_thread = {
            let (runtime, handoff) = (runtime.clone(), handoff.clone());
            std::thread::Builder::new()
                .name("srpy-engine-io".into())
                .spawn(move || handoff.drive_while_busy(&runtime))?
        };
        Ok(EngineHost {
            runtime,
            addr,
            jobs: Mutex::new(jobs),
            shared,
            shutdown,
            handoff,
            io_thread: Mutex::new(Some(io_thread)),
        })
    }

    /// The address of the engine's own TCP port, if it has one.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// Sets what an `interrupt` request does while a job runs (the Python
    /// runtime raises `KeyboardInterrupt` in the main thread).
    pub fn set_interrupter(&self, f: impl Fn() + Send + 'static) {
        *self.shared.interrupter.lock().unwrap() = Some(Box::new(f));
    }

    /// Blocks until the next job arrives (or `timeout` passes: `Ok(None)`).
    /// `Err(HostClosed)` when the host has shut down.
    pub fn next_job(&self, timeout: Duration) -> std::result::Result<Option<Job>, HostClosed> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let received = match jobs.try_recv() {
            // Queued while the last job ran: no hand-over needed.
            Ok(job) => Ok(Some(job)),
            Err(mpsc::error::TryRecvError::Disconnected) => Ok(None),
            Err(mpsc::error::TryRecvError::Empty) => {
                // Drive the runtime from here until a job comes.
                self.handoff.main_idle();
                self.runtime
                    .block_on(async { tokio::time::timeout(timeout, jobs.recv()).await })
            }
        };
        match received {
            Ok(Some(mut job)) => {
                // Results still leaving must not see what this job changes.
                let unsent = std::mem::take(&mut *self.shared.unsent_results.lock().unwrap());
                for conn in unsent.iter().filter_map(std::sync::Weak::upgrade) {
                    conn.detach_queued();
                }
                // The I/O thread answers `ping` and `interrupt` if it runs long.
                self.handoff.job_started();
                let seq = self.shared.seq.fetch_add(1, Ordering::Relaxed);
                *self.shared.running.lock().unwrap() = Some(seq);
                tracing::debug!(op = job.op_name, id = job.id, "request");
                job.started = Instant::now();
                Ok(Some(job))
            }
            Err(_elapsed) => Ok(None),
            Ok(None) => Err(HostClosed),
        }
    }

    /// Stops accepting connections.
    pub fn shutdown(self) {
        let _ = self.shutdown.send(());
        self.handoff.stop();
        if let Some(t) = self
            .io_thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = t.join();
        }
        if let Ok(runtime) = Arc::try_unwrap(self.runtime) {
            runtime.shutdown_timeout(Duration::from_millis(100));
        }
    }
}

/// Closes `conn` once it has been idle for the idle timeout: nothing read
/// or written, and no request of its own under way. The client is told why.
async fn close_when_idle(conn: Arc<ConnWriter>, limits: Arc<Limits>) {
    let timeout = limits.idle_timeout;
    loop {
        if conn.is_closed() {
            return;
        }
        let idle = conn.idle_for();
        if idle >= timeout && conn.working() == 0 {
            let (notice, reason) = door::idle_notice(&limits);
            conn.send(Frame::Plain(encode_frame(&notice.into_value())), false);
            conn.close(reason, false);
            return;
        }
        let left = timeout.saturating_sub(idle);
        tokio::time::sleep(left.max(Duration::from_millis(100))).await;
    }
}

/// Serves one authenticated client connection of an engine.
async fn serve_connection(
    session: Session,
    shared: Arc<Shared>,
    limits: Arc<Limits>,
    jobs: mpsc::UnboundedSender<Job>,
    recv_alloc: Option<Arc<dyn RecvAlloc>>,
) {
    let Session {
        mut reader,
        writer,
        hello,
        peer,
        socket,
        tls,
    } = session;
    if let Some(alloc) = recv_alloc {
        reader.set_recv_alloc(alloc);
    }
    let wants_output = hello.has(&srpy_proto::Feature::Output);
    let wants_pickle = hello.has(&srpy_proto::Feature::Pickle);
    let label = peer.to_string();
    let writer = writer.into_inner();
    let conn = match ConnWriter::new(
        socket,
        tls,
        limits.max_output_buffer,
        limits.max_unanswered,
        label,
    ) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            tracing::error!(error = %e, "cannot set up a connection writer");
            return;
        }
    };
    conn.touch();
    tokio::spawn(conn.clone().drain(writer));
    tokio::spawn(close_when_idle(conn.clone(), limits.clone()));
    // Protocol errors: counted as requests of op `other`. `answers`: the
    // final reply to a request (gives back its permit).
    let send = |reply: Reply| {
        let answers = reply.id().is_some();
        let frame = shared.counted(OTHER, reply, Instant::now());
        conn.send(Frame::Plain(frame), answers);
    };
    let mut bytes_counted = 0;
    loop {
        // Backpressure: a request is read only while this connection holds
        // fewer than `max_unanswered`; its permit comes back with its answer.
        match conn.unanswered.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => break,
        }
        let read = reader.read_value().await;
        shared
            .counters
            .add_bytes_in(reader.bytes_read() - bytes_counted);
        bytes_counted = reader.bytes_read();
        let arrived = Instant::now();
        let answer = |op: &Op, reply: Reply| {
            let op = op.known_name().unwrap_or(OTHER);
            let answers = reply.id().is_some();
            conn.send(Frame::Plain(shared.counted(op, reply, arrived)), answers);
        };
        let value = match read {
            Ok(Some(v)) => v,
            Ok(None) => break,
            Err(srpy_proto::Error::Decode(e)) => {
                // The frame boundary is intact, but its content is not CBOR
                // we accept: say so, and stop trusting this peer.
                send(Reply::err(
                    None,
                    ErrorKind::Protocol,
                    format!("malformed frame: {e}"),
                ));
                break;
            }
            Err(srpy_proto::Error::FrameTooLarge { size, max }) => {
                send(Reply::err(
                    None,
                    ErrorKind::Limit,
                    format!("frame of {size} bytes exceeds the maximum frame size of {max} bytes"),
                ));
                break;
            }
            Err(_) => break,
        };
        conn.touch();
        conn.begin();
        let request = match Request::from_value(value) {
            Ok(r) => r,
            Err(RequestError {
                id: Some(id),
                error,
            }) => {
                send(Reply::err(Some(id), ErrorKind::Protocol, error.to_string()));
                continue;
            }
            Err(RequestError { id: None, error }) => {
                send(Reply::err(None, ErrorKind::Protocol, error.to_string()));
                break;
            }
        };
        let id = request.id;
        match request.op {
            Op::Ping => answer(&request.op, Reply::ok(id, Value::from("pong"))),
            Op::IsBusy => {
                let busy = *shared.pending.borrow() > 0;
                answer(&request.op, Reply::ok(id, Value::Bool(busy)));
            }
            Op::Interrupt => {
                // Under the lock: the main thread clears `running` under the
                // same lock before it checks for a stray interrupt.
                let running = shared.running.lock().unwrap();
                let hit = running.is_some();
                if hit {
                    shared.interrupted.store(true, Ordering::SeqCst);
                    if let Some(f) = shared.interrupter.lock().unwrap().as_ref() {
                        f();
                    }
                }
                drop(running);
                answer(&request.op, Reply::ok(id, Value::Bool(hit)));
            }
            Op::Wait { timeout } => {
                let mut rx = shared.pending.subscribe();
                let (conn, shared) = (conn.clone(), shared.clone());
                tokio::spawn(async move {
                    let idle = rx.wait_for(|p| *p == 0);
                    let done = match timeout {
                        // srpy-proto refuses negative and NaN timeouts and
                        // reads +inf as None.
                        Some(t) => tokio::time::timeout(Duration::from_secs_f64(t.min(1e9)), idle)
                            .await
                            .is_ok(),
                        None => idle.await.is_ok(),
                    };
                    let reply = Reply::ok(id, Value::Bool(done));
                    conn.send(Frame::Plain(shared.counted("wait", reply, arrived)), true);
                });
            }
            Op::Unknown(ref name) => answer(
                &request.op,
                Reply::err(
                    Some(id),
                    ErrorKind::UnsupportedOp,
                    format!("unsupported op '{name}'"),
                ),
            ),
            Op::Engines | Op::Restart { .. } => answer(
                &request.op,
                Reply::err(
                    Some(id),
                    ErrorKind::UnsupportedOp,
                    "op is served by the srpy-server, not by an engine".to_string(),
                ),
            ),
            op => {
                shared.pending.send_modify(|p| *p += 1);
                shared.counters.job_queued();
                let job = Job {
                    id,
                    op_name: op.known_name().unwrap_or("unknown"),
                    op,
                    wants_output,
                    wants_pickle,
                    conn: conn.clone(),
                    shared: shared.clone(),
                    arrived,
                    started: arrived,
                    finished: false,
                };
                if let Err(mpsc::error::SendError(mut job)) = jobs.send(job) {
                    job.finished = true;
                    shared.pending.send_modify(|p| *p = p.saturating_sub(1));
                    shared.counters.job_left();
                    send(Reply::err(
                        Some(id),
                        ErrorKind::EngineDied,
                        "the engine is shutting down",
                    ));
                    break;
                }
            }
        }
    }
    // The drain task ends and shuts down our sending side; a result still
    // to come from the main thread is then dropped quietly.
    conn.close("the client closed the connection".into(), false);
}
