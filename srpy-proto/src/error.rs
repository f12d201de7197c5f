//! The crate's error type.

use crate::cbor::DecodeError;

/// Everything that can go wrong reading or writing protocol v1.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A length prefix above the configured maximum; checked before any
    /// buffer is allocated.
    #[error("frame of {size} bytes exceeds the maximum frame size of {max} bytes")]
    FrameTooLarge { size: u64, max: usize },
    #[error("the peer closed the connection in the middle of a frame")]
    Truncated,
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Well-formed CBOR that is not the message expected.
    #[error("invalid {context}: {reason}")]
    Message {
        context: &'static str,
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn invalid(context: &'static str, reason: impl Into<String>) -> Error {
    Error::Message {
        context,
        reason: reason.into(),
    }
}
