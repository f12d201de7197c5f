//! The client's first step on a new connection, before TLS and the
//! handshake: the routing preamble naming the server (`srpy://host:port`)
//! or one of its engines (`srpy://host:port/<i>`), and its answer
//! (`docs/PROTOCOL.md` 3.1, [`srpy_proto::route`]).

use srpy_proto::frame::{check_len, HANDSHAKE_MAX_FRAME};
use srpy_proto::route::{Answer, Code, Preamble, Target, ANSWER_HEAD_LEN, MAGIC};
use srpy_proto::{cbor, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{Error, Result};

/// What an SRPy server from before the routing preamble reads the magic
/// as: a frame length (`"SRPY"` = 1397903449 bytes), refused as too large.
const MAGIC_AS_LENGTH: u32 = u32::from_be_bytes(MAGIC);

/// Sends the preamble for `target` and reads the answer. `Ok` when the
/// handshake may start; a refusal becomes its typed error
/// (`engine_restarting` is [`Error::EngineDied`], for the caller to retry).
pub(crate) async fn route(stream: &mut TcpStream, target: Target, uri: &str) -> Result<()> {
    stream.write_all(&Preamble::new(target).encode()).await?;
    let mut head = [0u8; ANSWER_HEAD_LEN];
    read_or_closed(stream, &mut head[..4], uri).await?;
    if head[..4] != MAGIC {
        // PROTOCOL.md 3.1: a port may refuse before reading anything
        // (connection or handshake limits) with an `err` frame.
        return Err(frame_instead(stream, &head, uri).await);
    }
    read_or_closed(stream, &mut head[4..], uri).await?;
    let len = Answer::message_len(&head).map_err(|e| Error::Protocol(format!("{uri}: {e}")))?;
    let mut message = vec![0; len];
    read_or_closed(stream, &mut message, uri).await?;
    let answer =
        Answer::decode(&head, &message).map_err(|e| Error::Protocol(format!("{uri}: {e}")))?;
    let why = format!("{uri}: {}", answer.message);
    Err(match answer.code {
        Code::Ok => return Ok(()),
        Code::NoSuchEngine => Error::NoSuchEngine(why),
        Code::EngineRestarting => Error::EngineDied(why),
        Code::Version => Error::Version(why),
        Code::Limit => Error::Limit(why),
        Code::BadPreamble => Error::Protocol(why),
        Code::Unknown(c) => Error::Protocol(format!("{why} (routing answer code {c})")),
    })
}

/// PROTOCOL.md 3.1: a connection closed before the answer is handled like
/// `engine_restarting` (an engine that died as it was handed the
/// connection): [`Error::EngineDied`].
async fn read_or_closed(stream: &mut TcpStream, buf: &mut [u8], uri: &str) -> Result<()> {
    match stream.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
            ) =>
        {
            Err(Error::EngineDied(format!(
                "{uri} closed the connection before answering the routing preamble"
            )))
        }
        Err(e) => Err(Error::Io(e)),
    }
}

/// The error an `err` frame in place of the answer says (its length
/// prefix is `prefix`).
async fn frame_instead(stream: &mut TcpStream, prefix: &[u8], uri: &str) -> Error {
    let len = u32::from_be_bytes(prefix[..4].try_into().expect("4 bytes"));
    let Ok(len) = check_len(len, HANDSHAKE_MAX_FRAME) else {
        return Error::Protocol(format!("{uri}: bad answer to the routing preamble"));
    };
    let mut payload = vec![0; len];
    if let Err(e) = read_or_closed(stream, &mut payload, uri).await {
        return e;
    }
    match cbor::decode(&payload).map(Reply::from_value) {
        Ok(Ok(Reply::Err { error, .. }))
            if error.message.contains(&MAGIC_AS_LENGTH.to_string()) =>
        {
            Error::Protocol(format!(
                "{uri} does not know the routing preamble (an SRPy server from before \
                 one-port routing); upgrade the server, or use a client of its version"
            ))
        }
        Ok(Ok(Reply::Err { error, .. })) => Error::from(error),
        _ => Error::Protocol(format!("{uri}: bad answer to the routing preamble")),
    }
}
