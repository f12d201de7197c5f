//! The door: accepting connections and the server side of the handshake.
//!
//! The same code guards the directory server and every engine. Before
//! authentication only `hello` and `auth` are decoded, in frames of at most
//! [`HANDSHAKE_MAX_FRAME`] bytes, within a deadline; a connection over the
//! connection limit is refused with a `limit` error before anything is read.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use srpy_proto::connection::{FrameReader, FrameWriter};
use srpy_proto::frame::{encode_frame, HANDSHAKE_MAX_FRAME};
use srpy_proto::handshake::{self, new_nonce};
use srpy_proto::{
    AuthMethod, AuthReply, Challenge, ErrorKind, Feature, Hello, Reply, Role, Value, Welcome,
};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, Semaphore};

use crate::counters::CounterPage;
use crate::error::{Error, Result};

/// What the door checks and how much it lets in.
#[derive(Clone, Debug)]
pub struct DoorConfig {
    pub role: Role,
    /// Shared token; `None` means no authentication (loopback only).
    pub token: Option<Arc<Vec<u8>>>,
    /// Time a client has to complete the handshake.
    pub handshake_timeout: Duration,
    /// Maximum frame size after authentication.
    pub max_frame: usize,
    /// Maximum simultaneous connections.
    pub max_connections: usize,
    /// Where open connections and refusals are counted.
    pub counters: Arc<CounterPage>,
}

impl DoorConfig {
    pub fn new(role: Role, token: Option<Vec<u8>>) -> DoorConfig {
        DoorConfig {
            role,
            token: token.map(Arc::new),
            handshake_timeout: Duration::from_secs(10),
            max_frame: srpy_proto::frame::DEFAULT_MAX_FRAME,
            max_connections: 256,
            counters: Arc::new(CounterPage::private()),
        }
    }
}

/// An authenticated connection, ready for requests.
pub struct Session {
    pub reader: FrameReader<OwnedReadHalf>,
    pub writer: FrameWriter<OwnedWriteHalf>,
    pub hello: Hello,
    pub peer: SocketAddr,
}

/// Sends an error frame without a request id (best effort).
async fn refuse(writer: &mut FrameWriter<OwnedWriteHalf>, kind: ErrorKind, message: String) {
    let frame = encode_frame(&Reply::err(None, kind, message).into_value());
    let _ = writer.write_encoded(&frame).await;
    let _ = writer.shutdown().await;
}

/// Runs the server side of the handshake on a fresh connection.
pub async fn handshake(stream: TcpStream, config: &DoorConfig, info: Value) -> Result<Session> {
    let peer = stream.peer_addr()?;
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let mut reader = FrameReader::new(r);
    let mut writer = FrameWriter::new(w);
    reader.set_max_frame(HANDSHAKE_MAX_FRAME);
    match tokio::time::timeout(
        config.handshake_timeout,
        exchange(&mut reader, &mut writer, config, info),
    )
    .await
    {
        Ok(Ok(hello)) => {
            reader.set_max_frame(config.max_frame);
            Ok(Session {
                reader,
                writer,
                hello,
                peer,
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
                config.handshake_timeout.as_secs_f64()
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
    reader: &mut FrameReader<OwnedReadHalf>,
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
    reader: &mut FrameReader<OwnedReadHalf>,
    writer: &mut FrameWriter<OwnedWriteHalf>,
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

/// Serves a listener: each connection past the door is given to `handler`.
///
/// Connections over `max_connections` are refused with a `limit` error.
/// Returns when `shutdown` fires.
pub async fn serve<H, F>(
    listener: TcpListener,
    config: Arc<DoorConfig>,
    info: impl Fn() -> Value + Send + Sync + 'static,
    handler: H,
    mut shutdown: broadcast::Receiver<()>,
) where
    H: Fn(Session) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let limit = Arc::new(Semaphore::new(config.max_connections));
    let handler = Arc::new(handler);
    let info = Arc::new(info);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.recv() => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off, don't spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            let max = config.max_connections;
            config.counters.refused("connection_limit");
            tokio::spawn(async move {
                let (_, w) = stream.into_split();
                let mut writer = FrameWriter::new(w);
                refuse(
                    &mut writer,
                    ErrorKind::Limit,
                    format!("too many connections (limit {max})"),
                )
                .await;
            });
            continue;
        };
        let (config, handler, info) = (config.clone(), handler.clone(), info.clone());
        tokio::spawn(async move {
            let _permit = permit;
            match handshake(stream, &config, info()).await {
                Ok(session) => {
                    let _open = config.counters.connection_opened();
                    handler(session).await
                }
                Err(e) => tracing::debug!(peer = %peer, error = %e, "connection refused"),
            }
        });
    }
}
