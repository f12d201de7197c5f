//! The routing preamble: which service behind a port a connection is for,
//! sent in plaintext before anything else (before TLS and the handshake),
//! and the answer to it. `docs/PROTOCOL.md`, section 3.1.
//!
//! ```text
//! preamble (client → port, 9 bytes):  "SRPY" | version u8 | target u32 BE
//! answer   (port → client, 8+ bytes): "SRPY" | version u8 | code u8 | len u16 BE | message
//! ```
//!
//! Plain byte layouts, not CBOR: the server decides where a connection goes
//! from a fixed number of bytes, without a decoder, and a frame (whose
//! first byte is 0 for any handshake message) can never start with the
//! magic, which is how a client without a preamble is told apart.

/// The first bytes of a preamble and of an answer.
pub const MAGIC: [u8; 4] = *b"SRPY";
/// The routing versions this implementation speaks.
pub const MIN_VERSION: u8 = 1;
pub const MAX_VERSION: u8 = 1;
/// Length of a preamble.
pub const PREAMBLE_LEN: usize = 9;
/// Length of an answer without its message.
pub const ANSWER_HEAD_LEN: usize = 8;
/// PROTOCOL.md 3.1: "A message is at most 1024 bytes of UTF-8".
pub const MAX_MESSAGE: usize = 1024;
/// The `target` that names whatever serves this port itself: the server's
/// directory at a server's port, the engine at an engine's own port.
pub const TARGET_HERE: u32 = u32::MAX;

/// Where a connection should go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The port's own service (`srpy://host:port`).
    Here,
    /// Engine `<index>` of the server at this port (`srpy://host:port/<index>`).
    Engine(u32),
}

impl Target {
    fn to_wire(self) -> u32 {
        match self {
            Target::Here => TARGET_HERE,
            Target::Engine(i) => i,
        }
    }

    fn from_wire(t: u32) -> Target {
        if t == TARGET_HERE {
            Target::Here
        } else {
            Target::Engine(t)
        }
    }
}

/// A decoded preamble.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preamble {
    /// The routing version the client speaks (its highest).
    pub version: u8,
    pub target: Target,
}

impl Preamble {
    /// The preamble this implementation sends for `target`.
    pub fn new(target: Target) -> Preamble {
        Preamble {
            version: MAX_VERSION,
            target,
        }
    }

    pub fn encode(&self) -> [u8; PREAMBLE_LEN] {
        let mut out = [0; PREAMBLE_LEN];
        out[..4].copy_from_slice(&MAGIC);
        out[4] = self.version;
        out[5..].copy_from_slice(&self.target.to_wire().to_be_bytes());
        out
    }

    /// Decodes a preamble. Any version decodes; whether it is spoken is
    /// [`Preamble::check_version`]'s question.
    pub fn decode(bytes: &[u8; PREAMBLE_LEN]) -> Result<Preamble, Answer> {
        // PROTOCOL.md 3.1: "A preamble that does not start with the magic
        // gets `bad_preamble`".
        if bytes[..4] != MAGIC {
            return Err(Answer::refuse(
                Code::BadPreamble,
                format!(
                    "bad routing preamble: expected the magic \"SRPY\", got {}",
                    hex4(&bytes[..4])
                ),
            ));
        }
        let target = u32::from_be_bytes(bytes[5..].try_into().expect("4 bytes"));
        Ok(Preamble {
            version: bytes[4],
            target: Target::from_wire(target),
        })
    }

    /// PROTOCOL.md 3.1: "A version the receiver does not speak gets
    /// `version`, whose answer carries the receiver's highest version".
    pub fn check_version(&self) -> Result<(), Answer> {
        if (MIN_VERSION..=MAX_VERSION).contains(&self.version) {
            Ok(())
        } else {
            Err(Answer::refuse(
                Code::Version,
                format!(
                    "routing version {} is not supported (this server speaks {MIN_VERSION}..={MAX_VERSION})",
                    self.version
                ),
            ))
        }
    }
}

fn hex4(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The answer's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// Routed: the handshake follows on this connection.
    Ok,
    /// The preamble is malformed.
    BadPreamble,
    /// The routing version is not spoken (the answer's version is the
    /// receiver's highest).
    Version,
    /// No engine with that index here.
    NoSuchEngine,
    /// The engine exists but is (re)starting: try again shortly.
    EngineRestarting,
    /// The preamble did not arrive in time, or no slot was free.
    Limit,
    /// A code this implementation does not know (kept for messages).
    Unknown(u8),
}

impl Code {
    pub fn to_wire(self) -> u8 {
        match self {
            Code::Ok => 0,
            Code::BadPreamble => 1,
            Code::Version => 2,
            Code::NoSuchEngine => 3,
            Code::EngineRestarting => 4,
            Code::Limit => 5,
            Code::Unknown(c) => c,
        }
    }

    pub fn from_wire(c: u8) -> Code {
        match c {
            0 => Code::Ok,
            1 => Code::BadPreamble,
            2 => Code::Version,
            3 => Code::NoSuchEngine,
            4 => Code::EngineRestarting,
            5 => Code::Limit,
            c => Code::Unknown(c),
        }
    }

    /// The name used in `docs/PROTOCOL.md` and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Code::Ok => "ok",
            Code::BadPreamble => "bad_preamble",
            Code::Version => "version",
            Code::NoSuchEngine => "no_such_engine",
            Code::EngineRestarting => "engine_restarting",
            Code::Limit => "limit",
            Code::Unknown(_) => "unknown",
        }
    }
}

/// An answer to a preamble.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub version: u8,
    pub code: Code,
    pub message: String,
}

impl Answer {
    /// The `ok` answer.
    pub fn ok() -> Answer {
        Answer {
            version: MAX_VERSION,
            code: Code::Ok,
            message: String::new(),
        }
    }

    /// A refusal; the message is cut to [`MAX_MESSAGE`] bytes.
    pub fn refuse(code: Code, message: impl Into<String>) -> Answer {
        let mut message = message.into();
        if message.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        Answer {
            version: MAX_VERSION,
            code,
            message,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let msg = &self.message.as_bytes()[..self.message.len().min(MAX_MESSAGE)];
        let mut out = Vec::with_capacity(ANSWER_HEAD_LEN + msg.len());
        out.extend_from_slice(&MAGIC);
        out.push(self.version);
        out.push(self.code.to_wire());
        out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        out.extend_from_slice(msg);
        out
    }

    /// The message length an answer head announces, after checking the
    /// head (`Err`: what is wrong with it).
    pub fn message_len(head: &[u8; ANSWER_HEAD_LEN]) -> Result<usize, String> {
        if head[..4] != MAGIC {
            return Err(format!(
                "bad routing answer: expected the magic \"SRPY\", got {}",
                hex4(&head[..4])
            ));
        }
        let len = u16::from_be_bytes([head[6], head[7]]) as usize;
        // PROTOCOL.md 3.1: "a longer one is a broken answer".
        if len > MAX_MESSAGE {
            return Err(format!(
                "bad routing answer: message of {len} bytes (at most {MAX_MESSAGE})"
            ));
        }
        Ok(len)
    }

    /// Decodes an answer from its head and message bytes.
    pub fn decode(head: &[u8; ANSWER_HEAD_LEN], message: &[u8]) -> Result<Answer, String> {
        let len = Answer::message_len(head)?;
        if message.len() != len {
            return Err(format!(
                "bad routing answer: {} message bytes, the head says {len}",
                message.len()
            ));
        }
        let message = std::str::from_utf8(message)
            .map_err(|_| "bad routing answer: the message is not UTF-8".to_string())?
            .to_owned();
        Ok(Answer {
            version: head[4],
            code: Code::from_wire(head[5]),
            message,
        })
    }

    /// Decodes a whole answer (tests, vectors).
    pub fn decode_all(bytes: &[u8]) -> Result<Answer, String> {
        let head: &[u8; ANSWER_HEAD_LEN] = bytes
            .get(..ANSWER_HEAD_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| "bad routing answer: shorter than 8 bytes".to_string())?;
        Answer::decode(head, &bytes[ANSWER_HEAD_LEN..])
    }
}

/// Whether the first byte a port reads starts a preamble. PROTOCOL.md 3.1:
/// "a connection whose first byte is not `S` (0x53) has no preamble: it is
/// for the port's own service, and that byte is the start of its `hello`
/// frame".
pub fn starts_preamble(first: u8) -> bool {
    first == MAGIC[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preamble_round_trips() {
        for t in [Target::Here, Target::Engine(0), Target::Engine(4095)] {
            let p = Preamble::new(t);
            assert_eq!(Preamble::decode(&p.encode()).unwrap(), p);
        }
        assert_eq!(
            Preamble::new(Target::Engine(3)).encode(),
            *b"SRPY\x01\x00\x00\x00\x03"
        );
        assert_eq!(
            Preamble::new(Target::Here).encode(),
            *b"SRPY\x01\xff\xff\xff\xff"
        );
    }

    #[test]
    fn bad_magic_is_bad_preamble() {
        let e = Preamble::decode(b"SXPY\x01\x00\x00\x00\x00").unwrap_err();
        assert_eq!(e.code, Code::BadPreamble);
        assert!(e.message.contains("53585059"), "{}", e.message);
    }

    #[test]
    fn unknown_version_is_refused_with_ours() {
        let p = Preamble::decode(b"SRPY\x02\x00\x00\x00\x00").unwrap();
        let e = p.check_version().unwrap_err();
        assert_eq!((e.code, e.version), (Code::Version, MAX_VERSION));
        assert!(e.message.contains("routing version 2"), "{}", e.message);
        assert!(Preamble::decode(b"SRPY\x00\x00\x00\x00\x00")
            .unwrap()
            .check_version()
            .is_err());
    }

    #[test]
    fn answers_round_trip() {
        assert_eq!(Answer::ok().encode(), b"SRPY\x01\x00\x00\x00");
        let a = Answer::refuse(Code::NoSuchEngine, "no engine 9");
        assert_eq!(Answer::decode_all(&a.encode()).unwrap(), a);
        assert_eq!(
            Answer::decode_all(b"SRPY\x01\x09\x00\x00").unwrap().code,
            Code::Unknown(9)
        );
    }

    #[test]
    fn long_messages_are_cut_at_a_char_boundary() {
        let a = Answer::refuse(Code::Limit, "é".repeat(600));
        assert!(a.message.len() <= MAX_MESSAGE);
        assert_eq!(Answer::decode_all(&a.encode()).unwrap(), a);
    }

    #[test]
    fn broken_answers_are_refused() {
        assert!(Answer::decode_all(b"\x00\x00\x00\x10abcd").is_err());
        assert!(Answer::decode_all(b"SRPY\x01\x01\x04\x01").is_err());
        assert!(Answer::decode_all(b"SRPY\x01\x01\x00\x02\xff\xfe").is_err());
        assert!(Answer::decode_all(b"SRPY\x01\x01\x00\x05ab").is_err());
    }

    #[test]
    fn a_frame_never_starts_a_preamble() {
        // Any frame shorter than 0x53000000 bytes starts with a smaller byte.
        let hello = crate::frame::encode_frame(&crate::Value::Int(0));
        assert!(!starts_preamble(hello[0]));
        assert!(starts_preamble(Preamble::new(Target::Here).encode()[0]));
    }
}
