//! One authenticated connection: handshake, writing, a reader task and
//! the table of requests in flight.
//!
//! ```text
//!  caller ──try_write (no await)──────────────────────► socket
//!     │  (socket full, or the writer task is busy)        ▲
//!     └──frames──► mpsc ──► writer task (batches) ─────────┘
//!     ▲
//!     └── oneshot per id ◄── reader task ◄── socket   (out frames → sink)
//! ```
//!
//! A request is written straight from the caller with a non-blocking
//! `try_write` when nothing is queued (no task hop on the latency path, and
//! no `.await` while writing, so a dropped caller can never leave half a
//! frame on the wire). When the socket is full or frames are already
//! queued, the frame (or its unwritten rest) goes to the writer task, which
//! owns the write side until its queue is empty again and gathers small
//! frames into one write. Any number of requests can be in flight at once
//! (pipelining); replies are matched to callers by id. When the socket
//! ends, every caller still waiting gets [`Error::EngineDied`] at once and
//! the connection is marked dead, so the owner opens a new one on the next
//! call.
//!
//! A peer that goes silent without a reset (host gone, traffic dropped)
//! ends the connection within [`DEAD_PEER_TIMEOUT`] (TCP keepalive and
//! `TCP_USER_TIMEOUT`, set at connect), like any other socket end.
//!
//! Over TLS the bytes must pass through the TLS session, so there is no
//! direct write: every frame goes to the writer task, which owns the TLS
//! write half.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use srpy_proto::connection::FrameReader;
use srpy_proto::frame::{encode_frame, OwnedFrame, DEFAULT_MAX_FRAME};
use srpy_proto::handshake::{self, client_proof, new_nonce, verify_server_proof};
use srpy_proto::tls::{NetRead, NetWrite};
use srpy_proto::{
    AuthMethod, AuthReply, Challenge, ErrorInfo, Feature, Hello, Op, Reply, Request, Role, Value,
    Welcome,
};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use crate::error::{Error, Result};
use crate::options::OutputSink;
use crate::tls::{self, TlsClient};
use crate::uri::authority;

/// The client name sent in `hello`.
pub(crate) fn client_name() -> String {
    format!("srpy-rust/{}", env!("CARGO_PKG_VERSION"))
}

/// Frames up to this size are gathered into one write.
const BATCH_MAX: usize = 64 * 1024;

/// How long a peer may stay silent (no byte, no answer to a keepalive
/// probe) before its connection counts as lost: a host that vanishes
/// without a reset (powered off, cable pulled, traffic dropped) while its
/// client waits for a reply ends the connection within about this long, so
/// the request in flight fails with [`Error::EngineDied`] (a map runs its
/// chunk elsewhere) instead of waiting forever. A live peer's kernel
/// answers the probes however busy the engine is. See docs/DECISIONS.md.
pub(crate) const DEAD_PEER_TIMEOUT: Duration = Duration::from_secs(10);
/// When an idle connection's first keepalive probe goes out.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);

/// Turns on TCP keepalive: probes after [`KEEPALIVE_IDLE`] of silence,
/// every second, until [`DEAD_PEER_TIMEOUT`]. No `TCP_USER_TIMEOUT`: Linux
/// applies it to a zero receive window too, and a live engine that stops
/// reading (backpressure, behind a long job) shows exactly that; its
/// connection must not end (`test_client_reliability.py`,
/// `test_requests_queued_behind_a_long_job_outlast_the_dead_peer_timeout`).
fn detect_dead_peer(stream: &TcpStream) -> std::io::Result<()> {
    let socket = socket2::SockRef::from(stream);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(Duration::from_secs(1));
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let keepalive = keepalive.with_retries((DEAD_PEER_TIMEOUT - KEEPALIVE_IDLE).as_secs() as u32);
    socket.set_tcp_keepalive(&keepalive)
}

/// A handshaken socket, before its tasks start.
pub(crate) struct Handshaken {
    reader: FrameReader<NetRead>,
    writer: NetWrite,
    pub(crate) role: Role,
    pub(crate) info: Value,
}

impl Handshaken {
    /// See `ConnectOptions::recv_alloc`.
    pub(crate) fn set_recv_alloc(&mut self, alloc: std::sync::Arc<dyn srpy_proto::buf::RecvAlloc>) {
        self.reader.set_recv_alloc(alloc);
    }
}

/// Connects to `host:port`, routes to `target` there, takes the TLS step
/// (with `tls`) and runs the handshake. `uri` names the target in errors.
pub(crate) async fn handshake(
    host: &str,
    port: u16,
    target: srpy_proto::route::Target,
    token: Option<&[u8]>,
    accept_pickle: bool,
    uri: &str,
    tls: Option<&TlsClient>,
) -> Result<Handshaken> {
    let mut stream =
        TcpStream::connect((host, port))
            .await
            .map_err(|source| Error::ServerNotFound {
                uri: uri.to_owned(),
                source,
            })?;
    stream.set_nodelay(true)?;
    detect_dead_peer(&stream)?;
    crate::route::route(&mut stream, target, uri).await?;
    let stream = tls::wrap(stream, tls, host, uri).await?;
    let (r, w) = stream.into_split();
    let mut reader = FrameReader::new(r);
    let mut writer = w;

    let mut features = vec![Feature::Output];
    if accept_pickle {
        features.push(Feature::Pickle);
    }
    let hello = Hello::new(client_name(), features);
    writer.write_all(&encode_frame(&hello.to_value())).await?;
    writer.flush().await?;
    let challenge = match read_handshake(&mut reader, uri, "challenge").await? {
        v if handshake::message_type(&v) == Some("challenge") => Challenge::from_value(v)?,
        v => return Err(handshake_refusal(v, uri, "challenge")),
    };
    if !(handshake::MIN_VERSION..=handshake::MAX_VERSION).contains(&challenge.version) {
        return Err(Error::Version(format!(
            "{uri} chose protocol version {}, this client supports {}..={}",
            challenge.version,
            handshake::MIN_VERSION,
            handshake::MAX_VERSION
        )));
    }
    let client_nonce = new_nonce();
    let proof = match challenge.auth {
        AuthMethod::None => Vec::new(),
        AuthMethod::Token => match token {
            Some(t) => client_proof(t, &challenge.nonce, &client_nonce),
            None => {
                return Err(Error::Auth(format!(
                    "server requires a token ({uri}); pass one in ConnectOptions::token \
                     or set SRPY_TOKEN"
                )))
            }
        },
    };
    let auth = AuthReply {
        nonce: client_nonce,
        proof,
    };
    writer.write_all(&encode_frame(&auth.to_value())).await?;
    writer.flush().await?;
    let welcome = match read_handshake(&mut reader, uri, "welcome").await? {
        v if handshake::message_type(&v) == Some("welcome") => Welcome::from_value(v)?,
        v => return Err(handshake_refusal(v, uri, "welcome")),
    };
    if challenge.auth == AuthMethod::Token {
        let token = token.unwrap_or_default();
        if !verify_server_proof(token, &challenge.nonce, &client_nonce, &welcome.proof) {
            return Err(Error::Auth(format!(
                "server failed to prove the token ({uri})"
            )));
        }
    }
    reader.set_max_frame(DEFAULT_MAX_FRAME);
    Ok(Handshaken {
        reader,
        writer,
        role: challenge.role,
        info: welcome.info,
    })
}

async fn read_handshake(
    reader: &mut FrameReader<NetRead>,
    uri: &str,
    expected: &str,
) -> Result<Value> {
    match reader.read_value().await {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(Error::Protocol(format!(
            "{uri} closed the connection during the handshake (expected '{expected}')"
        ))),
        Err(srpy_proto::Error::Io(e)) => Err(tls::refusal(&e, uri).unwrap_or(Error::Io(e))),
        Err(e) => Err(Error::Protocol(format!(
            "{uri}: bad handshake message (expected '{expected}'): {e}"
        ))),
    }
}

/// An `err` reply (or anything unexpected) instead of a handshake message.
fn handshake_refusal(v: Value, uri: &str, expected: &str) -> Error {
    let t = handshake::message_type(&v).map(str::to_owned);
    match Reply::from_value(v) {
        Ok(Reply::Err { error, .. }) => Error::from(error),
        _ => Error::Protocol(format!(
            "{uri}: expected '{expected}' during the handshake, got message type {}",
            t.map_or_else(|| "(none)".to_owned(), |t| format!("'{t}'"))
        )),
    }
}

/// One frame to write. Big byte strings and array buffers stay inside
/// the request's value and are written from there with vectored I/O
/// ([`OwnedFrame`]); `sent` counts the bytes already written.
struct OutFrame {
    frame: OwnedFrame,
    sent: usize,
}

impl OutFrame {
    fn new(value: Value) -> Result<OutFrame> {
        // PROTOCOL.md 6.3: "A sender MUST NOT send a value nested deeper
        // than 254 levels below its own top". A request holds its values
        // two levels down (`vars`, `args`, `kwargs`), so the frame's own
        // limit of 256 is that rule.
        if srpy_proto::cbor::nesting_exceeds(&value, 0, srpy_proto::cbor::MAX_DEPTH) {
            return Err(Error::NotTransferable(srpy_proto::cbor::too_deep_message(
                "the request's value",
            )));
        }
        let frame =
            OwnedFrame::new(value).map_err(|e| Error::Limit(format!("request too large: {e}")))?;
        Ok(OutFrame { frame, sent: 0 })
    }

    fn len(&self) -> usize {
        self.frame.len()
    }

    fn done(&self) -> bool {
        self.sent >= self.frame.len()
    }

    /// Appends the unwritten rest to a batch buffer (small frames).
    fn append_to(&self, batch: &mut Vec<u8>) {
        for s in self.frame.slices(self.sent) {
            batch.extend_from_slice(&s);
        }
    }

    /// Writes as much as the socket takes now, without waiting.
    fn try_write(&mut self, w: &OwnedWriteHalf) -> std::io::Result<()> {
        while !self.done() {
            match w.try_write_vectored(&self.frame.slices(self.sent)) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A request waiting for its reply.
struct Pending {
    reply: oneshot::Sender<Result<Value>>,
    output: Option<OutputSink>,
}

#[derive(Default)]
struct State {
    pending: HashMap<u64, Pending>,
    /// Why the connection ended, once it has.
    dead: Option<String>,
}

/// What the caller side and both tasks share.
struct Shared {
    state: Mutex<State>,
    /// `"engine 0 at 127.0.0.1:5000"`, for messages.
    label: String,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn died(&self, reason: &str) -> Error {
        Error::EngineDied(format!("connection to {} lost: {reason}", self.label))
    }

    fn complete(&self, id: u64, result: Result<Value>) {
        let p = self.lock().pending.remove(&id);
        // An unknown id is a late reply to a request that timed out (or
        // whose caller went away): dropped.
        if let Some(p) = p {
            let _ = p.reply.send(result);
        }
    }

    fn output(&self, id: u64, stream: srpy_proto::Stream, text: &str) {
        let sink = self.lock().pending.get(&id).and_then(|p| p.output.clone());
        if let Some(sink) = sink {
            sink(stream, text);
        }
    }

    /// Marks the connection dead and fails every request in flight.
    fn fail(&self, reason: String, fatal: Option<ErrorInfo>) {
        let pending = {
            let mut st = self.lock();
            if st.dead.is_none() {
                st.dead = Some(reason.clone());
            }
            std::mem::take(&mut st.pending)
        };
        for (_, p) in pending {
            let err = match &fatal {
                Some(info) => Error::from(info.clone()),
                None => self.died(&reason),
            };
            let _ = p.reply.send(Err(err));
        }
    }
}

/// Removes a pending entry when its caller stops waiting (timeout, or the
/// future dropped).
struct PendingGuard<'a> {
    shared: &'a Shared,
    id: u64,
    armed: bool,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.lock().pending.remove(&self.id);
        }
    }
}

/// A live connection to a server or an engine.
pub(crate) struct Conn {
    /// The write side, shared with the writer task (`None` over TLS: the
    /// writer task owns it).
    sock: Option<Arc<OwnedWriteHalf>>,
    /// True while the writer task owns the write side (frames queued);
    /// callers then queue their frames behind.
    writer_busy: Arc<Mutex<bool>>,
    tx: mpsc::UnboundedSender<OutFrame>,
    shared: Arc<Shared>,
    next_id: AtomicU64,
    reader: AbortHandle,
    pub(crate) info: Value,
}

impl Conn {
    /// Starts the reader and writer tasks of a handshaken socket. `label`
    /// names the peer in errors (`"engine 0 at host:port"`).
    pub(crate) fn start(h: Handshaken, label: String) -> Conn {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            label,
        });
        let (sock, side) = match h.writer {
            NetWrite::Plain(w) => {
                let w = Arc::new(w);
                (Some(w.clone()), WriteSide::Direct(w))
            }
            tls => (None, WriteSide::Stream(tls)),
        };
        let writer_busy = Arc::new(Mutex::new(false));
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(side, writer_busy.clone(), rx, shared.clone()));
        let reader = tokio::spawn(read_loop(h.reader, shared.clone())).abort_handle();
        Conn {
            sock,
            writer_busy,
            tx,
            shared,
            next_id: AtomicU64::new(1),
            reader,
            info: h.info,
        }
    }

    /// Writes a frame now if the socket takes it, else queues it (or its
    /// rest) for the writer task. Never waits.
    fn send(&self, mut frame: OutFrame) -> bool {
        let mut busy = self.writer_busy.lock().unwrap_or_else(|e| e.into_inner());
        if let (false, Some(sock)) = (*busy, &self.sock) {
            if let Err(e) = frame.try_write(sock) {
                drop(busy);
                self.shared.fail(format!("write failed: {e}"), None);
                return false;
            }
            if frame.done() {
                return true;
            }
            // The socket is full: the writer task finishes this frame and
            // takes the frames after it.
            *busy = true;
        }
        self.tx.send(frame).is_ok()
    }

    pub(crate) fn label(&self) -> &str {
        &self.shared.label
    }

    /// False once the socket ended (or failed).
    pub(crate) fn is_alive(&self) -> bool {
        self.shared.lock().dead.is_none() && !self.tx.is_closed()
    }

    /// Sends a request and waits for its final reply. Output frames go to
    /// `output`. On `timeout`, the request is abandoned (its late reply is
    /// dropped) and, unless it was an immediate op, an `interrupt` is sent.
    pub(crate) async fn call(
        &self,
        op: Op,
        output: Option<OutputSink>,
        timeout: Option<Duration>,
    ) -> Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let interrupt_on_timeout = op.spec().is_some_and(|s| s.interrupts_on_timeout());
        let op_name = timeout.map(|_| op.name().to_owned());
        let frame = OutFrame::new(Request::new(id, op).into_value())?;
        let (tx, rx) = oneshot::channel();
        {
            let mut st = self.shared.lock();
            if let Some(reason) = &st.dead {
                return Err(self.shared.died(reason));
            }
            st.pending.insert(id, Pending { reply: tx, output });
        }
        let mut guard = PendingGuard {
            shared: &self.shared,
            id,
            armed: true,
        };
        if !self.send(frame) {
            let reason = self
                .shared
                .lock()
                .dead
                .clone()
                .unwrap_or_else(|| "the writer stopped".to_owned());
            return Err(self.shared.died(&reason));
        }
        let received = match timeout {
            None => rx.await,
            Some(t) => match tokio::time::timeout(t, rx).await {
                Ok(r) => r,
                Err(_) => {
                    drop(guard);
                    if interrupt_on_timeout {
                        self.send_interrupt();
                    }
                    return Err(Error::Timeout(format!(
                        "'{}' on {} did not finish within {t:?}{}",
                        op_name.unwrap_or_default(),
                        self.shared.label,
                        if interrupt_on_timeout {
                            "; the engine was sent an interrupt"
                        } else {
                            ""
                        }
                    )));
                }
            },
        };
        guard.armed = false;
        match received {
            Ok(result) => result,
            Err(_) => {
                let reason = self
                    .shared
                    .lock()
                    .dead
                    .clone()
                    .unwrap_or_else(|| "the reader stopped".to_owned());
                Err(self.shared.died(&reason))
            }
        }
    }

    /// Fire-and-forget `interrupt`; its reply is dropped (unknown id).
    pub(crate) fn send_interrupt(&self) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(frame) = OutFrame::new(Request::new(id, Op::Interrupt).into_value()) {
            self.send(frame);
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // The writer task ends by itself when `tx` goes (after writing what
        // was queued), and the write side shuts down with the last
        // `Arc<OwnedWriteHalf>`; the reader would wait for the peer, so it
        // is stopped here.
        self.reader.abort();
    }
}

/// Owns the write side while frames are queued: writes them (gathering
/// small ones into one write), then hands the write side back to the
/// callers when the queue is empty.
async fn write_loop(
    mut sock: WriteSide,
    busy: Arc<Mutex<bool>>,
    mut rx: mpsc::UnboundedReceiver<OutFrame>,
    shared: Arc<Shared>,
) {
    let mut batch: Vec<u8> = Vec::with_capacity(BATCH_MAX);
    'outer: while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(mut frame) = next.take() {
            // Finish a partly written frame first, then gather small ones.
            let result = if frame.sent > 0 || frame.len() > BATCH_MAX {
                sock.write_frame(&mut frame).await
            } else {
                batch.clear();
                frame.append_to(&mut batch);
                while batch.len() < BATCH_MAX {
                    match rx.try_recv() {
                        Ok(f) if f.sent == 0 && batch.len() + f.len() <= BATCH_MAX => {
                            f.append_to(&mut batch);
                        }
                        Ok(f) => {
                            next = Some(f);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                sock.write_buf(&batch).await
            };
            if let Err(e) = result {
                shared.fail(format!("write failed: {e}"), None);
                // Callers keep queueing (busy stays set); they fail on the
                // dead connection.
                return;
            }
            if next.is_none() {
                // Hand the write side back only when nothing is queued.
                let mut b = busy.lock().unwrap_or_else(|e| e.into_inner());
                match rx.try_recv() {
                    Ok(f) => next = Some(f),
                    Err(mpsc::error::TryRecvError::Empty) => *b = false,
                    Err(mpsc::error::TryRecvError::Disconnected) => break 'outer,
                }
            }
        }
    }
    // Dropping the last `Arc<OwnedWriteHalf>` shuts the write side down.
}

/// The writer task's side of the socket.
enum WriteSide {
    /// The socket's own write half, shared with the callers' direct writes.
    Direct(Arc<OwnedWriteHalf>),
    /// A TLS stream, owned by the writer task.
    Stream(NetWrite),
}

impl WriteSide {
    async fn write_frame(&mut self, frame: &mut OutFrame) -> std::io::Result<()> {
        match self {
            WriteSide::Direct(sock) => write_all(sock, frame).await,
            WriteSide::Stream(w) => {
                for s in frame.frame.slices(frame.sent) {
                    w.write_all(&s).await?;
                }
                frame.sent = frame.len();
                w.flush().await
            }
        }
    }

    async fn write_buf(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            WriteSide::Direct(sock) => write_buf(sock, buf).await,
            WriteSide::Stream(w) => {
                w.write_all(buf).await?;
                w.flush().await
            }
        }
    }
}

async fn write_all(sock: &OwnedWriteHalf, frame: &mut OutFrame) -> std::io::Result<()> {
    loop {
        frame.try_write(sock)?;
        if frame.done() {
            return Ok(());
        }
        sock.writable().await?;
    }
}

async fn write_buf(sock: &OwnedWriteHalf, mut buf: &[u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        match sock.try_write(buf) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => sock.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn read_loop(mut r: FrameReader<NetRead>, shared: Arc<Shared>) {
    let mut fatal = None;
    let reason = loop {
        // A big result is read straight into its own buffer (no copy).
        let value = match r.read_value().await {
            Ok(Some(v)) => v,
            Ok(None) => break "connection closed by the peer".to_owned(),
            Err(srpy_proto::Error::Truncated) => {
                break "connection closed by the peer in the middle of a frame".to_owned()
            }
            Err(srpy_proto::Error::Io(e)) => break e.to_string(),
            Err(srpy_proto::Error::Decode(e)) => {
                break format!("protocol error: undecodable frame: {e}")
            }
            Err(e) => break format!("protocol error: {e}"),
        };
        match Reply::from_value(value) {
            Ok(Reply::Ok { id, value }) => shared.complete(id, Ok(value)),
            Ok(Reply::Err {
                id: Some(id),
                error,
            }) => shared.complete(id, Err(Error::from(error))),
            Ok(Reply::Err { id: None, error }) => {
                let reason = format!("the peer reported: {error} ({})", error.kind.name());
                fatal = Some(error);
                break reason;
            }
            Ok(Reply::Output { id, stream, text }) => shared.output(id, stream, &text),
            Err(e) => break format!("protocol error: malformed reply: {e}"),
        }
    };
    shared.fail(reason, fatal);
}

/// `"engine 3 at host:port"` or `"server at host:port"`.
pub(crate) fn label(role: Role, info: &Value, host: &str, port: u16) -> String {
    let at = authority(host, port);
    match role {
        Role::Server => format!("server at {at}"),
        Role::Engine => match info.get("index").and_then(Value::as_i64) {
            Some(i) => format!("engine {i} at {at}"),
            None => format!("engine at {at}"),
        },
    }
}
