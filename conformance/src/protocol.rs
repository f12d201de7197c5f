//! Protocol-level (version) cases: the runner speaks the wire protocol
//! itself with `srpy-proto` against the real server and a real engine.
//!
//! - a client offering only a future version gets the `version` error that
//!   names both ranges, and the connection is closed;
//! - a client offering a range that reaches past v1 gets v1;
//! - unknown extra fields in `hello`, `auth` and requests are ignored;
//! - an unknown op gets an `unsupported_op` error with its id, and the
//!   connection stays usable.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use srpy_proto::handshake::{client_proof, new_nonce, verify_server_proof};
use srpy_proto::{cbor, frame, Challenge, Value, Welcome};

use crate::notation::short;
use crate::report::{CaseResult, Status};

/// A raw protocol connection.
struct Raw {
    s: TcpStream,
}

impl Raw {
    fn open(addr: SocketAddr) -> Result<Raw, String> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(Raw { s })
    }

    fn send(&mut self, v: &Value) -> Result<(), String> {
        self.s
            .write_all(&frame::encode_frame(v))
            .map_err(|e| format!("write: {e}"))
    }

    /// The next frame, `None` on a clean close.
    fn recv(&mut self) -> Result<Option<Value>, String> {
        let mut len = [0u8; 4];
        match self.s.read(&mut len[..1]) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(None),
            Err(e) => return Err(format!("read: {e}")),
        }
        self.s
            .read_exact(&mut len[1..])
            .map_err(|e| format!("read: {e}"))?;
        let n = frame::check_len(u32::from_be_bytes(len), frame::DEFAULT_MAX_FRAME)
            .map_err(|e| e.to_string())?;
        let mut payload = vec![0; n];
        self.s
            .read_exact(&mut payload)
            .map_err(|e| format!("read: {e}"))?;
        cbor::decode(&payload)
            .map(Some)
            .map_err(|e| format!("decode: {e}"))
    }

    fn expect_frame(&mut self, what: &str) -> Result<Value, String> {
        self.recv()?
            .ok_or_else(|| format!("the peer closed the connection instead of sending {what}"))
    }

    /// Sends a request and reads frames up to its reply (skipping `out`).
    fn request(&mut self, req: Value) -> Result<Value, String> {
        self.send(&req)?;
        loop {
            let f = self.expect_frame("a reply")?;
            if f.get("t").and_then(Value::as_str) != Some("out") {
                return Ok(f);
            }
        }
    }
}

fn text(v: &str) -> Value {
    Value::from(v)
}

fn hello(min: u64, max: u64, extra: Vec<(&str, Value)>) -> Value {
    let mut m = vec![
        ("t", text("hello")),
        ("versions", Value::List(vec![min.into(), max.into()])),
        ("client", text("srpy-conformance/0.1.0")),
        ("features", Value::List(vec![])),
    ];
    m.extend(extra);
    Value::map(m)
}

fn req(id: u64, op: &str, extra: Vec<(&str, Value)>) -> Value {
    let mut m = vec![("t", text("req")), ("id", id.into()), ("op", text(op))];
    m.extend(extra);
    Value::map(m)
}

/// Completes the handshake after `hello`; answers the chosen version.
fn authenticate(c: &mut Raw, token: &[u8], auth_extra: Vec<(&str, Value)>) -> Result<u64, String> {
    let ch = c.expect_frame("challenge")?;
    if ch.get("t").and_then(Value::as_str) == Some("err") {
        return Err(format!("the peer refused the hello: {}", short(&ch)));
    }
    let ch = Challenge::from_value(ch).map_err(|e| format!("bad challenge: {e}"))?;
    let cn = new_nonce();
    let proof = client_proof(token, &ch.nonce, &cn);
    let mut auth = vec![
        ("t", text("auth")),
        ("nonce", Value::Bytes(cn.to_vec().into())),
        ("proof", Value::Bytes(proof.into())),
    ];
    auth.extend(auth_extra);
    c.send(&Value::map(auth))?;
    let w = c.expect_frame("welcome")?;
    if w.get("t").and_then(Value::as_str) == Some("err") {
        return Err(format!("the peer refused the auth: {}", short(&w)));
    }
    let w = Welcome::from_value(w).map_err(|e| format!("bad welcome: {e}"))?;
    if !verify_server_proof(token, &ch.nonce, &cn, &w.proof) {
        return Err("the server proof does not verify".into());
    }
    Ok(ch.version)
}

fn expect_ok(reply: &Value, id: u64, want: &Value) -> Result<(), String> {
    let ok = reply.get("t").and_then(Value::as_str) == Some("ok")
        && reply.get("id") == Some(&Value::from(id))
        && reply.get("value") == Some(want);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "want ok {} for id {id}, got {}",
            short(want),
            short(reply)
        ))
    }
}

fn expect_err(reply: &Value, id: Option<u64>, kind: &str) -> Result<String, String> {
    let err = reply.get("error");
    let good = reply.get("t").and_then(Value::as_str) == Some("err")
        && reply.get("id") == Some(&id.map_or(Value::Null, Value::from))
        && err.and_then(|e| e.get("kind")).and_then(Value::as_str) == Some(kind);
    if good {
        Ok(err
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned())
    } else {
        Err(format!(
            "want an err of kind {kind} with id {id:?}, got {}",
            short(reply)
        ))
    }
}

/// Where to reach a peer: the server and one engine.
pub struct Target {
    pub label: &'static str,
    pub addr: SocketAddr,
}

fn future_version_only(t: &Target, _token: &[u8]) -> Result<(), String> {
    let mut c = Raw::open(t.addr)?;
    c.send(&hello(2, 3, vec![]))?;
    let f = c.expect_frame("an err frame")?;
    let msg = expect_err(&f, None, "version")?;
    for part in ["2..=3", "1..=1"] {
        if !msg.contains(part) {
            return Err(format!(
                "the version error {msg:?} does not name the range {part}"
            ));
        }
    }
    match c.recv() {
        Ok(None) | Err(_) => Ok(()),
        Ok(Some(f)) => Err(format!("the connection stayed open and sent {}", short(&f))),
    }
}

fn range_past_v1(t: &Target, token: &[u8]) -> Result<(), String> {
    let mut c = Raw::open(t.addr)?;
    c.send(&hello(1, 7, vec![]))?;
    let v = authenticate(&mut c, token, vec![])?;
    if v != 1 {
        return Err(format!("negotiated version {v}, want 1"));
    }
    expect_ok(&c.request(req(1, "ping", vec![]))?, 1, &text("pong"))
}

fn unknown_fields(t: &Target, token: &[u8]) -> Result<(), String> {
    let mut c = Raw::open(t.addr)?;
    c.send(&hello(
        1,
        1,
        vec![
            ("compression", Value::List(vec![text("zstd")])),
            ("x-trace", Value::map([("span", Value::from(7))])),
        ],
    ))?;
    authenticate(&mut c, token, vec![("x-extension", Value::Bool(true))])?;
    let r = c.request(req(
        5,
        "ping",
        vec![
            ("priority", Value::from(9)),
            ("deadline", Value::Float(1.5)),
        ],
    ))?;
    expect_ok(&r, 5, &text("pong"))?;
    if t.label == "engine" {
        let r = c.request(req(
            6,
            "eval",
            vec![
                ("expr", text("6 * 7")),
                ("x-cache", Value::Bool(false)),
                ("vars", Value::map::<&str>([])),
            ],
        ))?;
        expect_ok(&r, 6, &Value::from(42))?;
    }
    Ok(())
}

fn unknown_op(t: &Target, token: &[u8]) -> Result<(), String> {
    let mut c = Raw::open(t.addr)?;
    c.send(&hello(1, 1, vec![]))?;
    authenticate(&mut c, token, vec![])?;
    let r = c.request(req(7, "teleport", vec![("to", text("mars"))]))?;
    let msg = expect_err(&r, Some(7), "unsupported_op")?;
    if !msg.contains("teleport") {
        return Err(format!(
            "the unsupported_op message {msg:?} does not name the op"
        ));
    }
    expect_ok(&c.request(req(8, "ping", vec![]))?, 8, &text("pong"))?;
    // Pipelined: an unknown op between two known ones.
    c.send(&req(9, "ping", vec![]))?;
    c.send(&req(10, "hyperspace", vec![]))?;
    c.send(&req(11, "ping", vec![]))?;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let f = c.expect_frame("a reply")?;
        seen.push(f);
    }
    let by_id = |id: u64| {
        seen.iter()
            .find(|f| f.get("id") == Some(&Value::from(id)))
            .cloned()
            .ok_or_else(|| format!("no reply for id {id}"))
    };
    expect_ok(&by_id(9)?, 9, &text("pong"))?;
    expect_err(&by_id(10)?, Some(10), "unsupported_op")?;
    expect_ok(&by_id(11)?, 11, &text("pong"))
}

type Check = fn(&Target, &[u8]) -> Result<(), String>;

const CHECKS: [(&str, Check); 4] = [
    ("version_future_only", future_version_only),
    ("version_range_past_v1", range_past_v1),
    ("unknown_fields_ignored", unknown_fields),
    ("unknown_op_keeps_connection", unknown_op),
];

/// The names of the protocol rows (`protocol/<check>/<server|engine>`).
pub fn row_names() -> Vec<String> {
    CHECKS
        .iter()
        .flat_map(|(n, _)| ["server", "engine"].map(|l| format!("protocol/{n}/{l}")))
        .collect()
}

/// Runs every check against every target.
pub fn run(targets: &[Target], token: &[u8]) -> Vec<CaseResult> {
    let mut out = Vec::new();
    for (name, check) in CHECKS {
        for t in targets {
            let row = format!("protocol/{name}/{}", t.label);
            out.push(match check(t, token) {
                Ok(()) => CaseResult::new(row, Status::Pass, ""),
                Err(e) => CaseResult::new(row, Status::Fail, e),
            });
        }
    }
    out
}

/// Resolves `host:port` to a socket address.
pub fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}:{port}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}:{port}: no address"))
}
