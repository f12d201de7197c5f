//! One port per server: the routing preamble at a port, and handing an
//! accepted socket to an engine process.
//!
//! ```text
//! client ──TCP──► server port ── reads preamble (srpy_proto::route)
//!                    │ target Here: stays (the directory's handshake)
//!                    │ target Engine(i): the socket itself ──SCM_RIGHTS──►
//!                    ▼                  over engine i's link (a Unix socket pair)
//!                 engine i ── answers `ok`, then the handshake; the client's
//!                             bytes reach it with no relay in between
//! ```
//!
//! The supervisor makes a fresh [`link_pair`] for every engine process it
//! starts; the engine end is inherited by the process and read by
//! [`HandedConnections`]. While an engine is (re)starting, it has no link
//! and connections for it get `engine_restarting`. The preamble is read
//! under the door's handshake slot and deadline ([`crate::door`]).

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use srpy_proto::route::{self, Answer, Code, Preamble, Target, PREAMBLE_LEN};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{TcpStream, UnixStream};

use crate::counters::CounterPage;

/// Where the connections for an engine are sent: the server's end of the
/// engine's link.
pub struct EngineLink {
    socket: UnixStream,
}

/// A new link: the server's end, and the end for the engine process (to be
/// inherited by it, see [`crate::counters::allow_inherit`]).
pub fn link_pair() -> std::io::Result<(EngineLink, OwnedFd)> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    ours.set_nonblocking(true)?;
    Ok((
        EngineLink {
            socket: UnixStream::from_std(ours)?,
        },
        theirs.into(),
    ))
}

impl std::fmt::Debug for EngineLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EngineLink(fd {})", self.socket.as_raw_fd())
    }
}

impl EngineLink {
    /// Sends the socket itself to the engine (one byte carrying it). The
    /// engine answers the client; the server's copy is closed on return.
    pub async fn hand(&self, stream: &TcpStream) -> std::io::Result<()> {
        let fd = stream.as_raw_fd();
        loop {
            self.socket.writable().await?;
            let sent = self.socket.try_io(Interest::WRITABLE, || {
                let fds = [fd];
                sendmsg::<()>(
                    self.socket.as_raw_fd(),
                    &[IoSlice::new(&[1])],
                    &[ControlMessage::ScmRights(&fds)],
                    MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
                    None,
                )
                .map_err(std::io::Error::from)
            });
            match sent {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// An engine's end of its link: the connections the server hands over.
pub struct HandedConnections {
    socket: UnixStream,
}

impl HandedConnections {
    /// Takes over the inherited descriptor `fd` (made close-on-exec again,
    /// so the engine's own child processes do not get it).
    pub fn from_inherited(fd: RawFd) -> std::io::Result<HandedConnections> {
        // SAFETY: the supervisor passed this descriptor for us alone.
        let std = unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) };
        // SAFETY: fcntl on our own descriptor.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        std.set_nonblocking(true)?;
        Ok(HandedConnections {
            socket: UnixStream::from_std(std)?,
        })
    }

    /// The next handed connection; `None` when the server's end closed.
    pub async fn recv(&self) -> std::io::Result<Option<TcpStream>> {
        loop {
            self.socket.readable().await?;
            let got = self.socket.try_io(Interest::READABLE, || {
                let mut byte = [0u8; 1];
                let mut space = nix::cmsg_space!([RawFd; 1]);
                let mut iov = [IoSliceMut::new(&mut byte)];
                let msg = recvmsg::<()>(
                    self.socket.as_raw_fd(),
                    &mut iov,
                    Some(&mut space),
                    MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
                )
                .map_err(std::io::Error::from)?;
                if msg.bytes == 0 {
                    return Ok(None);
                }
                let mut fd = None;
                for c in msg.cmsgs().map_err(std::io::Error::from)? {
                    if let ControlMessageOwned::ScmRights(fds) = c {
                        for f in fds {
                            // SAFETY: the kernel gave us this descriptor.
                            let owned = unsafe { OwnedFd::from_raw_fd(f) };
                            fd.get_or_insert(owned);
                        }
                    }
                }
                Ok(Some(fd))
            });
            match got {
                Ok(None) => return Ok(None),
                Ok(Some(Some(fd))) => {
                    let std = std::net::TcpStream::from(fd);
                    std.set_nonblocking(true)?;
                    return TcpStream::from_std(std).map(Some);
                }
                // A byte without a socket: nothing to serve.
                Ok(Some(None)) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Finds the link of engine `index` (the supervisor).
pub trait Router: Send + Sync {
    /// The engine's link, or the answer saying why there is none
    /// (`no_such_engine`, `engine_restarting`).
    fn link(&self, index: u32) -> Result<Arc<EngineLink>, Answer>;
}

/// What a port does with a connection's preamble.
#[derive(Clone)]
pub enum Routing {
    /// A server's port: `Here` is the directory; engines are handed on.
    Server(Arc<dyn Router>),
    /// An engine's own TCP port (`--engine-ports`): `Here` or its own index.
    Engine { index: u32 },
}

impl std::fmt::Debug for Routing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Routing::Server(_) => f.write_str("Routing::Server"),
            Routing::Engine { index } => write!(f, "Routing::Engine({index})"),
        }
    }
}

/// How a connection came to a port's door.
pub enum Arrival {
    /// Accepted on a TCP listener: may start with a preamble.
    Accepted(TcpStream),
    /// Handed over by the server, which read the preamble: answered `ok`
    /// here, by the process that serves it.
    Handed(TcpStream),
}

impl Arrival {
    pub fn into_stream(self) -> TcpStream {
        match self {
            Arrival::Accepted(s) | Arrival::Handed(s) => s,
        }
    }
}

/// The first step at a door, before TLS and the handshake: reads the
/// preamble (if the connection has one), answers it and routes. Returns
/// the stream when the handshake is to run here; `None` when it was handed
/// on or refused (refusals are counted and logged here). Bounded by the
/// `deadline` (a client that stalls inside its preamble gets a `limit`
/// answer; one that sends nothing is left to the handshake's deadline,
/// which has then passed).
pub async fn admit(
    arrival: Arrival,
    routing: &Routing,
    counters: &CounterPage,
    deadline: tokio::time::Instant,
) -> Result<TcpStream, AdmitEnd> {
    let mut stream = match arrival {
        Arrival::Handed(mut stream) => {
            stream.write_all(&Answer::ok().encode()).await?;
            return Ok(stream);
        }
        Arrival::Accepted(stream) => stream,
    };
    let mut first = [0u8; 1];
    match tokio::time::timeout_at(deadline, stream.peek(&mut first)).await {
        Ok(Ok(0)) => return Err(AdmitEnd::Closed),
        Ok(read) => read?,
        Err(_elapsed) => return Ok(stream),
    };
    // PROTOCOL.md 3.1: no preamble: the port's own service.
    if !route::starts_preamble(first[0]) {
        return Ok(stream);
    }
    let mut bytes = [0u8; PREAMBLE_LEN];
    if tokio::time::timeout_at(deadline, stream.read_exact(&mut bytes))
        .await
        .map_err(|_elapsed| ())
        .and_then(|read| read.map_err(|_| ()))
        .is_err()
    {
        let answer = Answer::refuse(
            Code::Limit,
            "routing preamble not completed in time (the handshake deadline passed)",
        );
        return Err(refuse(stream, answer, counters).await);
    }
    let decided = Preamble::decode(&bytes).and_then(|p| {
        p.check_version()?;
        Ok(p.target)
    });
    let refusal = match (decided, routing) {
        (Err(answer), _) => answer,
        (Ok(Target::Here), _) => return answer_ok(stream).await,
        (Ok(Target::Engine(i)), Routing::Engine { index }) if i == *index => {
            return answer_ok(stream).await
        }
        (Ok(Target::Engine(i)), Routing::Engine { index }) => Answer::refuse(
            Code::NoSuchEngine,
            format!(
                "this is the port of engine {index} alone; engine {i} is reached through its server's port"
            ),
        ),
        (Ok(Target::Engine(i)), Routing::Server(router)) => match router.link(i) {
            Ok(link) => match link.hand(&stream).await {
                Ok(()) => return Err(AdmitEnd::Handed),
                // The engine died and the supervisor has not seen it yet.
                Err(e) => Answer::refuse(
                    Code::EngineRestarting,
                    format!("engine {i} is restarting ({e}): try again shortly"),
                ),
            },
            Err(answer) => answer,
        },
    };
    Err(refuse(stream, refusal, counters).await)
}

/// Sends a refusal (bounded: the peer may not read) and closes.
async fn refuse(mut stream: TcpStream, refusal: Answer, counters: &CounterPage) -> AdmitEnd {
    counters.refused(match refusal.code {
        Code::BadPreamble => "protocol",
        Code::Version => "version",
        Code::Limit => "timeout",
        _ => "routing",
    });
    let send = async {
        stream.write_all(&refusal.encode()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), send).await;
    AdmitEnd::Refused(refusal)
}

async fn answer_ok(mut stream: TcpStream) -> Result<TcpStream, AdmitEnd> {
    stream.write_all(&Answer::ok().encode()).await?;
    Ok(stream)
}

/// Why [`admit`] did not return a stream for the handshake.
#[derive(Debug)]
pub enum AdmitEnd {
    /// Handed to an engine process.
    Handed,
    /// Refused with this answer (already sent).
    Refused(Answer),
    /// The peer closed before sending anything.
    Closed,
    Io(std::io::Error),
}

impl From<std::io::Error> for AdmitEnd {
    fn from(e: std::io::Error) -> AdmitEnd {
        AdmitEnd::Io(e)
    }
}
