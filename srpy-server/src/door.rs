//! The door: accepting connections and the server side of the handshake.
//!
//! The same code guards the directory server and every engine. Before
//! authentication only `hello` and `auth` are decoded, in frames of at most
//! [`HANDSHAKE_MAX_FRAME`] bytes, within a deadline. Handshakes in progress
//! have slots of their own, in all and per client address, apart from the
//! authenticated connections' slots, so slow or stalled handshakes cannot
//! keep real clients out; a connection over its share waits, unread, for a
//! slot within its handshake deadline, then is refused with a `limit`
//! error. [`Limits`] holds every such bound,
//! for the server and (through the engine config) for its engines.
//!
//! A connection's first step, under its handshake slot and deadline, is
//! the routing preamble ([`crate::routing::admit`]): a server's door hands
//! connections for an engine to that engine's process; an engine's door
//! serves what its listener accepts and what the server hands it
//! ([`Incoming`]). A connection served here then takes the
//! [TLS step](crate::tls) (TLS when the door has an acceptor), then the
//! handshake on the resulting stream.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use srpy_proto::connection::{FrameReader, FrameWriter};
use srpy_proto::frame::{encode_frame, HANDSHAKE_MAX_FRAME};
use srpy_proto::handshake::{self, new_nonce};
use srpy_proto::tls::{NetRead, NetStream, NetWrite};
use srpy_proto::{
    AuthMethod, AuthReply, Challenge, ErrorKind, Feature, Hello, Reply, Role, Value, Welcome,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, Semaphore};

use crate::counters::CounterPage;
use crate::error::{Error, Result};
use crate::routing::{self, Arrival, HandedConnections, Routing};
use crate::tls::TlsAcceptor;

/// How much one server or engine lets in, and for how long: the
/// `srpy-server` options of the same names (the supervisor passes them on
/// to every engine in its config).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct Limits {
    /// Maximum frame size after authentication.
    pub max_frame: usize,
    /// Maximum simultaneous authenticated connections.
    pub max_connections: usize,
    /// Maximum handshakes in progress, in all.
    pub max_handshakes: usize,
    /// Maximum handshakes in progress from one client address.
    pub max_handshakes_per_address: usize,
    /// Time a client has to complete the handshake.
    pub handshake_timeout: Duration,
    /// An authenticated connection with nothing read, nothing written and
    /// no request of its own under way for this long is closed.
    pub idle_timeout: Duration,
    /// Bytes of replies an engine queues for a connection that does not
    /// read, behind the frame being written; past it the connection is
    /// closed.
    pub max_output_buffer: usize,
    /// Requests of one connection an engine holds unanswered (queued,
    /// running, or answered but not yet written) before it stops reading
    /// that connection.
    pub max_unanswered: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_frame: srpy_proto::frame::DEFAULT_MAX_FRAME,
            max_connections: 256,
            max_handshakes: 64,
            max_handshakes_per_address: 8,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(600),
            max_output_buffer: 64 << 20,
            max_unanswered: 1024,
        }
    }
}

/// What the door checks and how much it lets in.
#[derive(Clone, Debug)]
pub struct DoorConfig {
    pub role: Role,
    /// Shared token; `None` means no authentication (loopback only).
    pub token: Option<Arc<Vec<u8>>>,
    pub limits: Limits,
    /// Where open connections and refusals are counted.
    pub counters: Arc<CounterPage>,
    /// What a routing preamble may ask for here.
    pub routing: Routing,
    /// TLS is terminated here when set.
    pub tls: Option<TlsAcceptor>,
}

impl DoorConfig {
    pub fn new(role: Role, token: Option<Vec<u8>>, limits: Limits, routing: Routing) -> DoorConfig {
        DoorConfig {
            role,
            token: token.map(Arc::new),
            limits,
            counters: Arc::new(CounterPage::private()),
            routing,
            tls: None,
        }
    }
}

/// Where a door's connections come from: a TCP listener, the connections
/// the server hands to an engine, or both.
#[derive(Default)]
pub struct Incoming {
    pub listener: Option<TcpListener>,
    pub handed: Option<HandedConnections>,
}

impl Incoming {
    /// The next connection; `None` when no source is left.
    async fn next(&mut self) -> Option<std::io::Result<(Arrival, SocketAddr)>> {
        let accept = async {
            match &self.listener {
                Some(l) => Some(l.accept().await),
                None => std::future::pending().await,
            }
        };
        let handed = async {
            match &self.handed {
                Some(h) => Some(h.recv().await),
                None => std::future::pending().await,
            }
        };
        if self.listener.is_none() && self.handed.is_none() {
            return None;
        }
        tokio::select! {
            Some(a) = accept => Some(a.map(|(s, peer)| (Arrival::Accepted(s), peer))),
            Some(h) = handed => match h {
                Ok(Some(s)) => Some(s.peer_addr().map(|peer| (Arrival::Handed(s), peer))),
                Ok(None) => {
                    // The server is gone (its engines follow).
                    self.handed = None;
                    Some(Err(std::io::Error::other("the server closed the engine's link")))
                }
                Err(e) => Some(Err(e)),
            },
        }
    }
}

/// An authenticated connection, ready for requests.
pub struct Session {
    pub reader: FrameReader<NetRead>,
    pub writer: FrameWriter<NetWrite>,
    pub hello: Hello,
    pub peer: SocketAddr,
    /// A duplicate of the TCP socket's descriptor under the halves.
    pub socket: std::os::fd::OwnedFd,
    /// Whether the halves are TLS (else the socket's own).
    pub tls: bool,
}

/// What a connection closed for idleness is told before the close (a
/// `limit` error without a request id).
pub fn idle_notice(limits: &Limits) -> (Reply, String) {
    let message = format!(
        "connection idle for {} s: closed (reconnect to go on)",
        limits.idle_timeout.as_secs_f64()
    );
    (Reply::err(None, ErrorKind::Limit, message.clone()), message)
}

/// Sends an error frame without a request id (best effort).
async fn refuse(writer: &mut FrameWriter<NetWrite>, kind: ErrorKind, message: String) {
    let frame = encode_frame(&Reply::err(None, kind, message).into_value());
    let _ = writer.write_encoded(&frame).await;
    let _ = writer.shutdown().await;
}

/// Runs the server side of the handshake on a fresh connection, to be
/// completed by `deadline`.
pub async fn handshake(
    stream: NetStream,
    config: &DoorConfig,
    info: Value,
    deadline: tokio::time::Instant,
) -> Result<Session> {
    use std::os::fd::AsFd;
    let peer = stream.tcp().peer_addr()?;
    let _ = stream.tcp().set_nodelay(true);
    let socket = stream.tcp().as_fd().try_clone_to_owned()?;
    let tls = stream.is_tls();
    let (r, w) = stream.into_split();
    let mut reader = FrameReader::new(r);
    let mut writer = FrameWriter::new(w);
    reader.set_max_frame(HANDSHAKE_MAX_FRAME);
    let limits = &config.limits;
    match tokio::time::timeout_at(deadline, exchange(&mut reader, &mut writer, config, info)).await
    {
        Ok(Ok(hello)) => {
            reader.set_max_frame(limits.max_frame);
            Ok(Session {
                reader,
                writer,
                hello,
                peer,
                socket,
                tls,
            })
        }
        Ok(Err((kind, message))) => {
            config.counters.refused(match kind {
                ErrorKind::Auth => "auth",
                ErrorKind::Version => "version",
                ErrorKind::Limit => "frame_limit",
                _ => "protocol",
            });
            refuse(&mut writer, kind, message.clone()).await;
            Err(Error::Handshake { peer, message })
        }
        Err(_) => {
            let message = format!(
                "handshake not completed within {:.1} s",
                limits.handshake_timeout.as_secs_f64()
            );
            config.counters.refused("timeout");
            refuse(&mut writer, ErrorKind::Protocol, message.clone()).await;
            Err(Error::Handshake { peer, message })
        }
    }
}

type Refusal = (ErrorKind, String);

fn protocol(e: impl std::fmt::Display) -> Refusal {
    (ErrorKind::Protocol, format!("handshake failed: {e}"))
}

async fn read_message(
    reader: &mut FrameReader<NetRead>,
    expecting: &str,
) -> std::result::Result<Value, Refusal> {
    match reader.read_value().await {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(protocol(format!("connection closed before '{expecting}'"))),
        Err(srpy_proto::Error::FrameTooLarge { size, max }) => Err((
            ErrorKind::Limit,
            format!("handshake frame of {size} bytes exceeds the {max}-byte limit before authentication"),
        )),
        Err(e) => Err(protocol(e)),
    }
}

async fn exchange(
    reader: &mut FrameReader<NetRead>,
    writer: &mut FrameWriter<NetWrite>,
    config: &DoorConfig,
    info: Value,
) -> std::result::Result<Hello, Refusal> {
    let hello = Hello::from_value(read_message(reader, "hello").await?).map_err(protocol)?;
    let Some(version) = hello.negotiate() else {
        return Err((ErrorKind::Version, hello.version_mismatch()));
    };
    let server_nonce = new_nonce();
    let challenge = Challenge {
        version,
        role: config.role,
        auth: if config.token.is_some() {
            AuthMethod::Token
        } else {
            AuthMethod::None
        },
        nonce: server_nonce,
        features: vec![Feature::Output, Feature::Pickle],
    };
    writer
        .write_value(&challenge.to_value())
        .await
        .map_err(protocol)?;
    let auth = AuthReply::from_value(read_message(reader, "auth").await?).map_err(protocol)?;
    let proof = match &config.token {
        Some(token) => {
            if !handshake::verify_client_proof(token, &server_nonce, &auth.nonce, &auth.proof) {
                return Err((ErrorKind::Auth, "authentication failed: wrong token".into()));
            }
            handshake::server_proof(token, &server_nonce, &auth.nonce)
        }
        None => Vec::new(),
    };
    let welcome = Welcome { proof, info };
    writer
        .write_value(&welcome.to_value())
        .await
        .map_err(protocol)?;
    Ok(hello)
}

/// Handshake slots: in all and per client address. A connection over its
/// address's share (or the total) waits for a slot, unread, within its
/// handshake deadline, so a burst of real clients from one host gets in
/// while one address's stalled handshakes hold only that address's share;
/// at most `max_connections` connections wait at once.
struct Handshakes {
    limits: Limits,
    all: Arc<Semaphore>,
    by_address: Mutex<HashMap<IpAddr, usize>>,
    /// Signalled whenever a slot is given back.
    freed: tokio::sync::Notify,
    waiting: std::sync::atomic::AtomicUsize,
}

/// A handshake slot of one address; given back on drop.
struct HandshakeSlot {
    handshakes: Arc<Handshakes>,
    ip: IpAddr,
    /// Released in `drop` before waiters are woken.
    all: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Handshakes {
    fn new(limits: &Limits) -> Handshakes {
        Handshakes {
            limits: limits.clone(),
            all: Arc::new(Semaphore::new(limits.max_handshakes)),
            by_address: Mutex::default(),
            freed: tokio::sync::Notify::new(),
            waiting: Default::default(),
        }
    }

    fn try_enter(self: &Arc<Self>, ip: IpAddr) -> std::result::Result<HandshakeSlot, String> {
        let limits = &self.limits;
        let mut by_address = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        let n = by_address.entry(ip).or_insert(0);
        if *n >= limits.max_handshakes_per_address {
            return Err(format!(
                "too many handshakes in progress from {ip} (limit {})",
                limits.max_handshakes_per_address
            ));
        }
        let Ok(permit) = self.all.clone().try_acquire_owned() else {
            return Err(format!(
                "too many handshakes in progress (limit {})",
                limits.max_handshakes
            ));
        };
        *n += 1;
        Ok(HandshakeSlot {
            handshakes: self.clone(),
            ip,
            all: Some(permit),
        })
    }

    /// A slot for `ip`, waiting for one until `deadline` if need be.
    async fn enter(
        self: &Arc<Self>,
        ip: IpAddr,
        deadline: tokio::time::Instant,
    ) -> std::result::Result<HandshakeSlot, String> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut refusal = match self.try_enter(ip) {
            Ok(slot) => return Ok(slot),
            Err(why) => why,
        };
        if self.waiting.fetch_add(1, Relaxed) >= self.limits.max_connections {
            self.waiting.fetch_sub(1, Relaxed);
            return Err(refusal);
        }
        let slot = loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            match self.try_enter(ip) {
                Ok(slot) => break Ok(slot),
                Err(why) => refusal = why,
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                break Err(refusal);
            }
        };
        self.waiting.fetch_sub(1, Relaxed);
        slot
    }
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        let mut by_address = self
            .handshakes
            .by_address
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = by_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                by_address.remove(&self.ip);
            }
        }
        drop(by_address);
        self.all.take();
        self.handshakes.freed.notify_waiters();
    }
}

/// Refuses a fresh connection with a `limit` error, off the accept loop
/// (bounded in time: the peer may not read).
fn refuse_stream(stream: TcpStream, message: String) {
    tokio::spawn(async move {
        let (_, w) = NetStream::Plain(stream).into_split();
        let mut writer = FrameWriter::new(w);
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            refuse(&mut writer, ErrorKind::Limit, message),
        )
        .await;
    });
}

/// Serves a door: each connection past it is given to `handler`.
///
/// A connection is refused with a `limit` error when all authenticated
/// slots are taken, or when no handshake slot (in all, or of its address)
/// frees up before its handshake deadline.
/// Returns when `shutdown` fires.
pub async fn serve<H, F>(
    mut incoming: Incoming,
    config: Arc<DoorConfig>,
    info: impl Fn() -> Value + Send + Sync + 'static,
    handler: H,
    mut shutdown: broadcast::Receiver<()>,
) where
    H: Fn(Session) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let limits = &config.limits;
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let handshakes = Arc::new(Handshakes::new(limits));
    let handler = Arc::new(handler);
    let info = Arc::new(info);
    let too_many = format!("too many connections (limit {})", limits.max_connections);
    loop {
        let accepted = tokio::select! {
            a = incoming.next() => a,
            _ = shutdown.recv() => return,
        };
        let Some(accepted) = accepted else { return };
        let (arrival, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off, don't spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if connections.available_permits() == 0 {
            config.counters.refused("connection_limit");
            refuse_stream(arrival.into_stream(), too_many.clone());
            continue;
        }
        let deadline = tokio::time::Instant::now() + limits.handshake_timeout;
        let (config, handler, info) = (config.clone(), handler.clone(), info.clone());
        let (connections, too_many) = (connections.clone(), too_many.clone());
        let handshakes = handshakes.clone();
        tokio::spawn(async move {
            let slot = match handshakes.enter(peer.ip(), deadline).await {
                Ok(slot) => slot,
                Err(message) => {
                    config.counters.refused("handshake_limit");
                    tracing::debug!(peer = %peer, error = %message, "connection refused");
                    refuse_stream(arrival.into_stream(), message);
                    return;
                }
            };
            let admitted = routing::admit(arrival, &config.routing, &config.counters, deadline);
            let stream = match admitted.await {
                Ok(stream) => stream,
                Err(end) => {
                    tracing::debug!(peer = %peer, outcome = ?end, "connection routed");
                    return;
                }
            };
            let session = match crate::tls::accept(stream, config.tls.as_ref(), deadline).await {
                Ok(stream) => handshake(stream, &config, info(), deadline).await,
                Err(message) => {
                    config.counters.refused("tls");
                    Err(Error::Handshake { peer, message })
                }
            };
            drop(slot);
            match session {
                Ok(mut session) => {
                    // Taken after the handshake: slots are for clients that
                    // proved who they are.
                    let Ok(_permit) = connections.try_acquire_owned() else {
                        config.counters.refused("connection_limit");
                        let refusal = refuse(&mut session.writer, ErrorKind::Limit, too_many);
                        let _ = tokio::time::timeout(Duration::from_secs(1), refusal).await;
                        return;
                    };
                    let _open = config.counters.connection_opened();
                    handler(session).await
                }
                Err(e) => tracing::debug!(peer = %peer, error = %e, "connection refused"),
            }
        });
    }
}
