//! Frames from the engine or server: results, typed errors and output.
//!
//! ```text
//! {"t": "ok",  "id": 1, "value": V}
//! {"t": "err", "id": 1 | null, "error": {"kind", "message", "type"?, "traceback"?}}
//! {"t": "out", "id": 1, "stream": "stdout" | "stderr", "text": "..."}
//! ```

use crate::error::{invalid, Result};
use crate::fields::Fields;
use crate::value::Value;

/// The kind of an error crossing the wire.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Remote code raised; `type` and `traceback` say what and where.
    Remote,
    /// The peer broke the protocol (malformed frame or message).
    Protocol,
    /// Authentication failed.
    Auth,
    /// No common protocol version.
    Version,
    /// The engine died while the request was in flight.
    EngineDied,
    /// The call did not finish in time.
    Timeout,
    /// The request was interrupted (`KeyboardInterrupt`).
    Interrupted,
    /// A value has no wire form (and pickling was not allowed).
    NotTransferable,
    /// The op is not known to the receiver.
    UnsupportedOp,
    /// A limit was hit (frame size, connections).
    Limit,
    /// No engine with that index.
    NoSuchEngine,
    /// A kind this build does not know.
    Unknown(String),
}

impl ErrorKind {
    /// The kinds this build knows, in the order of [`ErrorKind::NAMES`].
    pub const KNOWN: [ErrorKind; 11] = [
        ErrorKind::Remote,
        ErrorKind::Protocol,
        ErrorKind::Auth,
        ErrorKind::Version,
        ErrorKind::EngineDied,
        ErrorKind::Timeout,
        ErrorKind::Interrupted,
        ErrorKind::NotTransferable,
        ErrorKind::UnsupportedOp,
        ErrorKind::Limit,
        ErrorKind::NoSuchEngine,
    ];

    /// The wire names of [`ErrorKind::KNOWN`] (PROTOCOL.md, "Errors"): the
    /// one place they are written.
    pub const NAMES: [&'static str; 11] = [
        "remote",
        "protocol",
        "auth",
        "version",
        "engine_died",
        "timeout",
        "interrupted",
        "not_transferable",
        "unsupported_op",
        "limit",
        "no_such_engine",
    ];

    pub fn name(&self) -> &str {
        match self {
            ErrorKind::Unknown(s) => s,
            // Every other variant is in KNOWN (the test below checks).
            known => ErrorKind::KNOWN
                .iter()
                .position(|k| k == known)
                .map_or("unknown", |i| ErrorKind::NAMES[i]),
        }
    }

    pub fn parse(s: &str) -> ErrorKind {
        match ErrorKind::NAMES.iter().position(|n| *n == s) {
            Some(i) => ErrorKind::KNOWN[i].clone(),
            None => ErrorKind::Unknown(s.to_owned()),
        }
    }
}

/// A typed error as carried by an `err` frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorInfo {
    pub kind: ErrorKind,
    pub message: String,
    /// Remote exception type name (`"ZeroDivisionError"`, `"mod.MyError"`).
    pub remote_type: Option<String>,
    /// Formatted remote traceback.
    pub traceback: Option<String>,
}

impl ErrorInfo {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ErrorInfo {
        ErrorInfo {
            kind,
            message: message.into(),
            remote_type: None,
            traceback: None,
        }
    }

    pub fn remote(
        remote_type: impl Into<String>,
        message: impl Into<String>,
        traceback: impl Into<String>,
    ) -> ErrorInfo {
        ErrorInfo {
            kind: ErrorKind::Remote,
            message: message.into(),
            remote_type: Some(remote_type.into()),
            traceback: Some(traceback.into()),
        }
    }

    pub fn to_value(&self) -> Value {
        let mut m = vec![
            (Value::from("kind"), Value::from(self.kind.name())),
            (Value::from("message"), Value::from(self.message.as_str())),
        ];
        if let Some(t) = &self.remote_type {
            m.push((Value::from("type"), Value::from(t.as_str())));
        }
        if let Some(t) = &self.traceback {
            m.push((Value::from("traceback"), Value::from(t.as_str())));
        }
        Value::Map(m)
    }

    pub fn from_value(v: Value) -> Result<ErrorInfo> {
        let f = Fields::new("error", v)?;
        Ok(ErrorInfo {
            kind: ErrorKind::parse(&f.str("kind")?),
            message: f.opt_str("message")?.unwrap_or_default(),
            remote_type: f.opt_str("type")?,
            traceback: f.opt_str("traceback")?,
        })
    }
}

impl std::fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.remote_type {
            Some(t) => write!(f, "{t}: {}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

/// Which remote stream an `out` frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One frame sent back to a client.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Ok {
        id: u64,
        value: Value,
    },
    /// `id` is `None` for an error not tied to a readable request (e.g. a
    /// malformed frame), after which the connection is closed.
    Err {
        id: Option<u64>,
        error: ErrorInfo,
    },
    Output {
        id: u64,
        stream: Stream,
        text: String,
    },
}

impl Reply {
    pub fn ok(id: u64, value: Value) -> Reply {
        Reply::Ok { id, value }
    }

    pub fn err(id: Option<u64>, kind: ErrorKind, message: impl Into<String>) -> Reply {
        Reply::Err {
            id,
            error: ErrorInfo::new(kind, message),
        }
    }

    pub fn into_value(self) -> Value {
        match self {
            Reply::Ok { id, value } => Value::map([
                ("t", Value::from("ok")),
                ("id", Value::from(id)),
                ("value", value),
            ]),
            Reply::Err { id, error } => Value::map([
                ("t", Value::from("err")),
                ("id", id.map_or(Value::Null, Value::from)),
                ("error", error.to_value()),
            ]),
            Reply::Output { id, stream, text } => Value::map([
                ("t", Value::from("out")),
                ("id", Value::from(id)),
                ("stream", Value::from(stream.name())),
                ("text", Value::Str(text)),
            ]),
        }
    }

    pub fn to_value(&self) -> Value {
        self.clone().into_value()
    }

    pub fn from_value(v: Value) -> Result<Reply> {
        let mut f = Fields::new("reply", v)?;
        let t = f.str("t")?;
        match t.as_str() {
            "ok" => Ok(Reply::Ok {
                id: f.u64("id")?,
                value: f.take_req("value")?,
            }),
            "err" => Ok(Reply::Err {
                id: f.opt_u64("id")?,
                error: ErrorInfo::from_value(f.take_req("error")?)?,
            }),
            "out" => Ok(Reply::Output {
                id: f.u64("id")?,
                stream: match f.str("stream")?.as_str() {
                    "stdout" => Stream::Stdout,
                    "stderr" => Stream::Stderr,
                    other => return Err(invalid("reply", format!("unknown stream '{other}'"))),
                },
                text: f.str("text")?,
            }),
            other => Err(invalid("reply", format!("unknown message type '{other}'"))),
        }
    }

    /// The request id the frame answers, if any.
    pub fn id(&self) -> Option<u64> {
        match self {
            Reply::Ok { id, .. } | Reply::Output { id, .. } => Some(*id),
            Reply::Err { id, .. } => *id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_kind_has_its_own_name_and_parses_back() {
        for (kind, name) in ErrorKind::KNOWN.iter().zip(ErrorKind::NAMES) {
            assert_eq!(kind.name(), name);
            assert_eq!(&ErrorKind::parse(name), kind);
        }
        let mut names = ErrorKind::NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::NAMES.len(), "a name used twice");
        assert_eq!(
            ErrorKind::parse("mystery"),
            ErrorKind::Unknown("mystery".into())
        );
        assert_eq!(ErrorKind::Unknown("mystery".into()).name(), "mystery");
    }

    #[test]
    fn replies_round_trip() {
        for r in [
            Reply::ok(1, Value::from(2)),
            Reply::Err {
                id: Some(3),
                error: ErrorInfo::remote("ZeroDivisionError", "division by zero", "Traceback ..."),
            },
            Reply::err(None, ErrorKind::Protocol, "bad frame"),
            Reply::Output {
                id: 4,
                stream: Stream::Stderr,
                text: "hi\n".into(),
            },
        ] {
            assert_eq!(Reply::from_value(r.to_value()).unwrap(), r);
        }
    }

    #[test]
    fn unknown_error_kinds_survive() {
        let e = ErrorInfo::new(ErrorKind::parse("quota"), "x");
        assert_eq!(
            ErrorInfo::from_value(e.to_value()).unwrap().kind,
            ErrorKind::Unknown("quota".into())
        );
    }

    #[test]
    fn remote_error_displays_type_and_message() {
        let e = ErrorInfo::remote("KeyError", "'a'", "tb");
        assert_eq!(e.to_string(), "KeyError: 'a'");
    }
}
