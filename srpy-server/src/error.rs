//! The crate's error type.

use std::net::SocketAddr;

/// Errors of the server and of the engine network side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Protocol(#[from] srpy_proto::Error),
    #[error("handshake with {peer} failed: {message}")]
    Handshake { peer: SocketAddr, message: String },
    #[error("configuration error: {0}")]
    Config(String),
    #[error("engine {index} failed to start: {message}")]
    EngineStart { index: usize, message: String },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
