//! The client's error type.
//!
//! Every error that crossed the wire arrives as a [`srpy_proto::ErrorInfo`]
//! and is turned into the variant of its kind ([`Error::from`]); the other
//! variants are the client's own (connecting, URIs, a closed handle).

use std::io;

use srpy_proto::{ErrorInfo, ErrorKind, Value};

/// Everything that can go wrong talking to a server or an engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Remote Python code raised an exception.
    #[error("{type_name}: {message}")]
    Remote {
        /// Exception type, qualified for non-builtins (`"mod.MyError"`).
        type_name: String,
        message: String,
        /// The remote traceback, formatted as Python prints it.
        traceback: Option<String>,
    },
    /// The peer broke the protocol (or sent something this client cannot
    /// read), or an answer did not have the expected shape.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Authentication failed (wrong or missing token, or the server could
    /// not prove it knows the token).
    #[error("authentication failed: {0}")]
    Auth(String),
    /// Client and server share no protocol version.
    #[error("protocol version mismatch: {0}")]
    Version(String),
    /// The connection to the engine was lost while the request was in
    /// flight. The next call on the same `Engine` reconnects.
    #[error("engine died: {0}")]
    EngineDied(String),
    /// A call or a connection attempt did not finish in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The request was interrupted (`KeyboardInterrupt` in the engine).
    #[error("interrupted: {0}")]
    Interrupted(String),
    /// A value has no wire form.
    #[error("value not transferable: {0}")]
    NotTransferable(String),
    /// The receiver does not know the operation.
    #[error("unsupported operation: {0}")]
    UnsupportedOp(String),
    /// A limit was hit (frame size, connection count).
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// No engine with that index.
    #[error("no such engine: {0}")]
    NoSuchEngine(String),
    /// Nothing answered at the address.
    #[error("cannot reach an SRPy server at {uri}: {source}")]
    ServerNotFound {
        uri: String,
        #[source]
        source: io::Error,
    },
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The handle was closed with `close()`.
    #[error("the engine handle is closed")]
    Closed,
    #[error("invalid SRPy URI: {0}")]
    InvalidUri(String),
    /// Anything else, e.g. an error kind newer than this client.
    #[error("{0}")]
    Other(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The wire error kind this error corresponds to, where there is one.
    pub fn kind(&self) -> Option<ErrorKind> {
        Some(match self {
            Error::Remote { .. } => ErrorKind::Remote,
            Error::Protocol(_) => ErrorKind::Protocol,
            Error::Auth(_) => ErrorKind::Auth,
            Error::Version(_) => ErrorKind::Version,
            Error::EngineDied(_) => ErrorKind::EngineDied,
            Error::Timeout(_) => ErrorKind::Timeout,
            Error::Interrupted(_) => ErrorKind::Interrupted,
            Error::NotTransferable(_) => ErrorKind::NotTransferable,
            Error::UnsupportedOp(_) => ErrorKind::UnsupportedOp,
            Error::Limit(_) => ErrorKind::Limit,
            Error::NoSuchEngine(_) => ErrorKind::NoSuchEngine,
            Error::ServerNotFound { .. }
            | Error::Io(_)
            | Error::Closed
            | Error::InvalidUri(_)
            | Error::Other(_) => return None,
        })
    }

    /// The remote exception type name, for [`Error::Remote`].
    pub fn remote_type(&self) -> Option<&str> {
        match self {
            Error::Remote { type_name, .. } => Some(type_name),
            _ => None,
        }
    }

    /// The remote traceback, for [`Error::Remote`].
    pub fn traceback(&self) -> Option<&str> {
        match self {
            Error::Remote { traceback, .. } => traceback.as_deref(),
            _ => None,
        }
    }

    /// Whether the error means the connection is gone (the next call
    /// reconnects).
    pub fn is_engine_died(&self) -> bool {
        matches!(self, Error::EngineDied(_))
    }

    pub(crate) fn unexpected(what: &str, v: &Value) -> Error {
        Error::Protocol(format!(
            "unexpected answer to {what}: got {} ({})",
            v.type_name(),
            short(v)
        ))
    }
}

/// A value rendered for an error message, cut to a reasonable length.
fn short(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 200 {
        let mut cut = 200;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

impl From<ErrorInfo> for Error {
    fn from(e: ErrorInfo) -> Error {
        let m = e.message;
        match e.kind {
            ErrorKind::Remote => Error::Remote {
                type_name: e.remote_type.unwrap_or_else(|| "Exception".to_owned()),
                message: m,
                traceback: e.traceback,
            },
            ErrorKind::Protocol => Error::Protocol(m),
            ErrorKind::Auth => Error::Auth(m),
            ErrorKind::Version => Error::Version(m),
            ErrorKind::EngineDied => Error::EngineDied(m),
            ErrorKind::Timeout => Error::Timeout(m),
            ErrorKind::Interrupted => Error::Interrupted(m),
            ErrorKind::NotTransferable => Error::NotTransferable(m),
            ErrorKind::UnsupportedOp => Error::UnsupportedOp(m),
            ErrorKind::Limit => Error::Limit(m),
            ErrorKind::NoSuchEngine => Error::NoSuchEngine(m),
            other => Error::Other(format!("{}: {m}", other.name())),
        }
    }
}

impl From<srpy_proto::Error> for Error {
    fn from(e: srpy_proto::Error) -> Error {
        match e {
            srpy_proto::Error::Io(io) => Error::Io(io),
            e @ srpy_proto::Error::FrameTooLarge { .. } => Error::Limit(e.to_string()),
            other => Error::Protocol(other.to_string()),
        }
    }
}

impl From<srpy_proto::value::TypeMismatch> for Error {
    fn from(e: srpy_proto::value::TypeMismatch) -> Error {
        Error::Protocol(format!("unexpected answer: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_errors_keep_type_message_and_traceback() {
        let e = Error::from(ErrorInfo::remote(
            "ZeroDivisionError",
            "division by zero",
            "Traceback (most recent call last):\n...",
        ));
        assert_eq!(e.to_string(), "ZeroDivisionError: division by zero");
        assert_eq!(e.remote_type(), Some("ZeroDivisionError"));
        assert!(e.traceback().unwrap().starts_with("Traceback"));
        assert_eq!(e.kind(), Some(ErrorKind::Remote));
    }

    #[test]
    fn every_wire_kind_maps_to_its_variant() {
        let cases = [
            ("protocol", ErrorKind::Protocol),
            ("auth", ErrorKind::Auth),
            ("version", ErrorKind::Version),
            ("engine_died", ErrorKind::EngineDied),
            ("timeout", ErrorKind::Timeout),
            ("interrupted", ErrorKind::Interrupted),
            ("not_transferable", ErrorKind::NotTransferable),
            ("unsupported_op", ErrorKind::UnsupportedOp),
            ("limit", ErrorKind::Limit),
            ("no_such_engine", ErrorKind::NoSuchEngine),
        ];
        for (name, kind) in cases {
            let e = Error::from(ErrorInfo::new(ErrorKind::parse(name), "msg"));
            assert_eq!(e.kind(), Some(kind), "{name}");
            assert!(e.to_string().ends_with("msg"), "{e}");
        }
        let e = Error::from(ErrorInfo::new(ErrorKind::Interrupted, "KeyboardInterrupt"));
        assert!(matches!(e, Error::Interrupted(ref m) if m == "KeyboardInterrupt"));
    }

    #[test]
    fn unknown_kinds_become_other_and_keep_their_name() {
        let e = Error::from(ErrorInfo::new(ErrorKind::parse("quota"), "too many"));
        assert!(matches!(e, Error::Other(ref m) if m == "quota: too many"));
        assert_eq!(e.kind(), None);
    }

    #[test]
    fn remote_without_type_defaults_to_exception() {
        let mut info = ErrorInfo::new(ErrorKind::Remote, "boom");
        info.traceback = None;
        let e = Error::from(info);
        assert_eq!(e.remote_type(), Some("Exception"));
        assert_eq!(e.traceback(), None);
    }

    #[test]
    fn proto_errors_convert() {
        let e = Error::from(srpy_proto::Error::FrameTooLarge { size: 10, max: 5 });
        assert!(matches!(e, Error::Limit(_)));
        let e = Error::from(srpy_proto::Error::Truncated);
        assert!(matches!(e, Error::Protocol(_)));
        let e = Error::from(srpy_proto::Error::Io(io::Error::other("x")));
        assert!(matches!(e, Error::Io(_)));
    }

    #[test]
    fn unexpected_answers_are_cut_short() {
        let v = Value::Str("x".repeat(1000));
        let e = Error::unexpected("ping", &v);
        assert!(e.to_string().len() < 300);
        assert!(e.to_string().contains("unexpected answer to ping: got str"));
    }
}
