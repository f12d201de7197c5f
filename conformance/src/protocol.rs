//! Protocol-level (version) cases: the runner speaks the wire protocol
//! itself with `srpy-proto` against the real server and a real engine.
//!
//! - a client offering only a future version gets the `version` error that
//!   names both ranges, and the connection is closed;
//! - a client offering a range that reaches past v1 gets v1;
//! - unknown extra fields in `hello`, `auth` and requests are ignored;
//! - an unknown op gets an `unsupported_op` error with its id, and the
//!   connection stays usable;
//! - on an engine, the points of PROTOCOL.md an independent implementer
//!   asked about (issue 19), with values no client library would send:
//!   keys that collide in Python, the depth limit both ways, datetime text
//!   (`Z`, hostile offsets), a pickled value without the `pickle` feature,
//!   the bounds of `wait.timeout` and `benchmark.cycles`, `install` with
//!   both `source` and `archive`, `vars` names that are not identifiers;
//! - the routing preamble (PROTOCOL.md 3.1) at the server's port: engine 0
//!   answers `ok` and its handshake follows, an index out of range gets
//!   `no_such_engine`, an unknown routing version gets `version` (with the
//!   server's), and a client without a preamble reaches the directory.
//!   Every engine check above reaches the engine through the server's
//!   port.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use srpy_proto::handshake::{client_proof, new_nonce, verify_server_proof};
use srpy_proto::route::{self, Answer, Code, Preamble};
use srpy_proto::{cbor, frame, Challenge, Value, Welcome};

use crate::notation::short;
use crate::report::{CaseResult, Status};

/// A raw protocol connection.
struct Raw {
    s: TcpStream,
}

impl Raw {
    /// A connection to `t`, routed to it when it is an engine.
    fn open(t: &Target) -> Result<Raw, String> {
        let mut c = Raw::connect(t.addr)?;
        if let Some(index) = t.engine {
            let answer = c.route(&Preamble::new(route::Target::Engine(index)).encode())?;
            if answer.code != Code::Ok {
                return Err(format!("routing to engine {index} refused: {answer:?}"));
            }
        }
        Ok(c)
    }

    fn connect(addr: SocketAddr) -> Result<Raw, String> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(Raw { s })
    }

    /// Sends preamble bytes and reads the routing answer.
    fn route(&mut self, preamble: &[u8]) -> Result<Answer, String> {
        self.s
            .write_all(preamble)
            .map_err(|e| format!("write: {e}"))?;
        let mut head = [0u8; route::ANSWER_HEAD_LEN];
        self.s
            .read_exact(&mut head)
            .map_err(|e| format!("reading the routing answer: {e}"))?;
        let len = Answer::message_len(&head)?;
        let mut message = vec![0; len];
        self.s
            .read_exact(&mut message)
            .map_err(|e| format!("reading the routing answer: {e}"))?;
        Answer::decode(&head, &message)
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

/// An authenticated connection to the engine (`features` in its hello).
fn engine_conn(t: &Target, token: &[u8], features: &[&str]) -> Result<Raw, String> {
    let mut c = Raw::open(t)?;
    let features = Value::List(features.iter().map(|f| text(f)).collect());
    let mut h = hello(1, 1, vec![]);
    if let Value::Map(entries) = &mut h {
        for (k, v) in entries.iter_mut() {
            if k.as_str() == Some("features") {
                *v = features.clone();
            }
        }
    }
    c.send(&h)?;
    authenticate(&mut c, token, vec![])?;
    Ok(c)
}

/// `set` of one variable `v`.
fn set_v(id: u64, v: Value) -> Value {
    req(id, "set", vec![("vars", Value::map([("v", v)]))])
}

/// An err of `kind` whose message contains every fragment; then the
/// connection still answers a ping.
fn expect_err_naming(
    c: &mut Raw,
    id: u64,
    request: Value,
    kind: &str,
    fragments: &[&str],
) -> Result<(), String> {
    let msg = expect_err(&c.request(request)?, Some(id), kind)?;
    if let Some(f) = fragments.iter().find(|f| !msg.contains(**f)) {
        return Err(format!("the {kind} message {msg:?} does not contain {f:?}"));
    }
    expect_ok(
        &c.request(req(id + 1000, "ping", vec![]))?,
        id + 1000,
        &text("pong"),
    )
}

// PROTOCOL.md 7.2: a Python receiver rejects keys that collide in Python.
fn colliding_keys(t: &Target, token: &[u8]) -> Result<(), String> {
    let mut c = engine_conn(t, token, &[])?;
    let map = Value::Map(vec![
        (Value::Int(1), text("a")),
        (Value::Float(1.0), text("b")),
        (Value::Bool(true), text("c")),
    ]);
    expect_err_naming(&mut c, 1, set_v(1, map), "not_transferable", &["1 and 1.0"])?;
    let set = Value::Set(vec![Value::Int(1), Value::Float(1.0)]);
    expect_err_naming(&mut c, 2, set_v(2, set), "not_transferable", &["1 and 1.0"])?;
    // Nothing was bound by the refused requests.
    let r = c.request(req(3, "eval", vec![("expr", text("'v' in globals()"))]))?;
    expect_ok(&r, 3, &Value::Bool(false))
}

fn nested(depth: usize, mut v: Value) -> Value {
    for _ in 0..depth {
        v = Value::List(vec![v]);
    }
    v
}

// PROTOCOL.md 6.3: a value of 254 levels goes in (`set`) and comes out
// (`get`, `get_many`); the engine refuses to send one of 255.
fn depth_both_ways(t: &Target, token: &[u8]) -> Result<(), String> {
    let mut c = engine_conn(t, token, &[])?;
    let deepest = nested(254, Value::Int(7));
    expect_ok(&c.request(set_v(1, deepest.clone()))?, 1, &Value::Null)?;
    expect_ok(
        &c.request(req(2, "get", vec![("name", text("v"))]))?,
        2,
        &deepest,
    )?;
    let names = Value::List(vec![text("v")]);
    expect_ok(
        &c.request(req(3, "get_many", vec![("names", names)]))?,
        3,
        &Value::map([("v", deepest)]),
    )?;
    let r = req(4, "eval", vec![("expr", text("[v]"))]);
    expect_err_naming(&mut c, 4, r, "not_transferable", &["deeper than 254"])
}

// PROTOCOL.md 7.3: `Z` is read as +00:00 and written back as Python writes
// it; text that is not a date-time is `not_transferable`, never a crash.
fn datetime_text(t: &Target, token: &[u8]) -> Result<(), String> {
    let mut c = engine_conn(t, token, &[])?;
    let z = Value::DateTime("2024-01-02T03:04:05Z".into());
    expect_ok(&c.request(set_v(1, z))?, 1, &Value::Null)?;
    let r = c.request(req(2, "get", vec![("name", text("v"))]))?;
    expect_ok(&r, 2, &Value::DateTime("2024-01-02T03:04:05+00:00".into()))?;
    for (i, bad) in ["2024-01-02T03:04:05+\u{20ac}1", "2024-01-0\u{20ac}", "soon"]
        .into_iter()
        .enumerate()
    {
        let id = 10 + i as u64;
        let r = set_v(id, Value::DateTime(bad.into()));
        expect_err_naming(&mut c, id, r, "not_transferable", &["not ISO 8601"])?;
    }
    let r = set_v(20, Value::Date("2024-02-30".into()));
    expect_err_naming(&mut c, 20, r, "not_transferable", &["not ISO 8601"])
}

// PROTOCOL.md 9.9: no unpickling of a value from a peer that did not list
// `pickle`; `apply` (code, not a value) is not affected.
fn pickle_needs_the_feature(t: &Target, token: &[u8]) -> Result<(), String> {
    // pickle.dumps(1, 4)
    let one = Value::Pickled(vec![0x80, 0x04, 0x4b, 0x01, 0x2e]);
    let mut c = engine_conn(t, token, &[])?;
    expect_err_naming(
        &mut c,
        1,
        set_v(1, one.clone()),
        "not_transferable",
        &["'pickle'"],
    )?;
    // pickle.dumps(abs, 4) applied to -3
    let abs: &[u8] = b"\x80\x04\x95\x14\x00\x00\x00\x00\x00\x00\x00\x8c\x08\x62\x75\x69\x6c\x74\x69\x6e\x73\x94\x8c\x03\x61\x62\x73\x94\x93\x94\x2e";
    let r = req(
        2,
        "apply",
        vec![
            ("function", Value::Bytes(abs.to_vec().into())),
            ("args", Value::List(vec![Value::Int(-3)])),
            ("kwargs", Value::map::<&str>([])),
        ],
    );
    expect_ok(&c.request(r)?, 2, &Value::Int(3))?;
    let mut c = engine_conn(t, token, &["pickle"])?;
    expect_ok(&c.request(set_v(3, one))?, 3, &Value::Null)?;
    let r = c.request(req(4, "get", vec![("name", text("v"))]))?;
    expect_ok(&r, 4, &Value::Int(1))
}

// PROTOCOL.md 10.4: the bounds of the fields a receiver checks.
fn op_field_bounds(t: &Target, token: &[u8]) -> Result<(), String> {
    let mut c = engine_conn(t, token, &[])?;
    // `wait`: timeout absent = null; negative or NaN is a protocol error.
    expect_ok(&c.request(req(1, "wait", vec![]))?, 1, &Value::Bool(true))?;
    for (id, bad) in [
        (2, Value::Float(-1.0)),
        (3, Value::Float(f64::NAN)),
        (4, Value::Int(-1)),
    ] {
        let r = req(id, "wait", vec![("timeout", bad)]);
        expect_err_naming(&mut c, id, r, "protocol", &["'timeout'"])?;
    }
    let r = req(5, "wait", vec![("timeout", Value::Float(f64::INFINITY))]);
    expect_ok(&c.request(r)?, 5, &Value::Bool(true))?;
    // `benchmark`: cycles in 1..100000.
    for (id, bad) in [(6, 0u64), (7, 100_001)] {
        let r = req(id, "benchmark", vec![("cycles", Value::from(bad))]);
        expect_err_naming(&mut c, id, r, "protocol", &["'cycles'", "1..100000"])?;
    }
    // `install`: exactly one of `source` and `archive`.
    let r = req(
        8,
        "install",
        vec![
            ("name", text("both")),
            ("source", text("x = 1")),
            ("archive", Value::Bytes(vec![0x50, 0x4b].into())),
            ("is_package", Value::Bool(false)),
        ],
    );
    expect_err_naming(&mut c, 8, r, "protocol", &["'source'", "'archive'"])?;
    // `vars` names are any text, bound as they are.
    let vars = Value::map([("not an identifier", Value::Int(5))]);
    expect_ok(
        &c.request(req(9, "set", vec![("vars", vars)]))?,
        9,
        &Value::Null,
    )?;
    let r = req(10, "get", vec![("name", text("not an identifier"))]);
    expect_ok(&c.request(r)?, 10, &Value::Int(5))
}

/// Where to reach a peer: the server and one engine.
pub struct Target {
    pub label: &'static str,
    pub addr: SocketAddr,
    /// The engine index to route to at `addr` (PROTOCOL.md 3.1).
    pub engine: Option<u32>,
}

/// A routing answer of `code` to `preamble`, then a closed connection.
fn refused_with(t: &Target, preamble: &[u8], code: Code) -> Result<Answer, String> {
    let mut c = Raw::connect(t.addr)?;
    let answer = c.route(preamble)?;
    if answer.code != code {
        return Err(format!(
            "want routing answer {}, got {answer:?}",
            code.name()
        ));
    }
    match c.recv() {
        Ok(None) | Err(_) => Ok(answer),
        Ok(Some(f)) => Err(format!("the connection stayed open and sent {}", short(&f))),
    }
}

// PROTOCOL.md 3.1: engine 0 through the server's port.
fn routing_to_engine(t: &Target, token: &[u8]) -> Result<(), String> {
    let engine = Target {
        label: "engine",
        addr: t.addr,
        engine: Some(0),
    };
    let mut c = Raw::open(&engine)?;
    c.send(&hello(1, 1, vec![]))?;
    let ch = c.expect_frame("challenge")?;
    if ch.get("role").and_then(Value::as_str) != Some("engine") {
        return Err(format!("want an engine's challenge, got {}", short(&ch)));
    }
    let mut c = Raw::open(&engine)?;
    c.send(&hello(1, 1, vec![]))?;
    authenticate(&mut c, token, vec![])?;
    expect_ok(&c.request(req(1, "ping", vec![]))?, 1, &text("pong"))
}

fn routing_no_such_engine(t: &Target, _token: &[u8]) -> Result<(), String> {
    let p = Preamble::new(route::Target::Engine(4000)).encode();
    let answer = refused_with(t, &p, Code::NoSuchEngine)?;
    if !answer.message.contains("4000") {
        return Err(format!(
            "the message {:?} does not name the index",
            answer.message
        ));
    }
    Ok(())
}

fn routing_unknown_version(t: &Target, _token: &[u8]) -> Result<(), String> {
    let mut p = Preamble::new(route::Target::Here).encode();
    p[4] = 9;
    let answer = refused_with(t, &p, Code::Version)?;
    if answer.version != route::MAX_VERSION {
        return Err(format!(
            "the answer's version is {}, want 1",
            answer.version
        ));
    }
    Ok(())
}

// PROTOCOL.md 3.1: "A connection whose first byte is not `S` (0x53) has
// no preamble: it is for the port's own peer".
fn routing_no_preamble(t: &Target, token: &[u8]) -> Result<(), String> {
    let mut c = Raw::connect(t.addr)?;
    c.send(&hello(1, 1, vec![]))?;
    let ch = c.expect_frame("challenge")?;
    if ch.get("role").and_then(Value::as_str) != Some("server") {
        return Err(format!("want the server's challenge, got {}", short(&ch)));
    }
    let mut c = Raw::connect(t.addr)?;
    c.send(&hello(1, 1, vec![]))?;
    authenticate(&mut c, token, vec![])?;
    expect_ok(&c.request(req(1, "ping", vec![]))?, 1, &text("pong"))
}

fn future_version_only(t: &Target, _token: &[u8]) -> Result<(), String> {
    let mut c = Raw::open(t)?;
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
    let mut c = Raw::open(t)?;
    c.send(&hello(1, 7, vec![]))?;
    let v = authenticate(&mut c, token, vec![])?;
    if v != 1 {
        return Err(format!("negotiated version {v}, want 1"));
    }
    expect_ok(&c.request(req(1, "ping", vec![]))?, 1, &text("pong"))
}

fn unknown_fields(t: &Target, token: &[u8]) -> Result<(), String> {
    let mut c = Raw::open(t)?;
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
    let mut c = Raw::open(t)?;
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

/// Checks of engine behaviour only (`protocol/<check>/engine`).
const ENGINE_CHECKS: [(&str, Check); 5] = [
    ("colliding_keys_not_transferable", colliding_keys),
    ("depth_254_both_ways", depth_both_ways),
    ("datetime_text", datetime_text),
    ("pickle_needs_the_feature", pickle_needs_the_feature),
    ("op_field_bounds", op_field_bounds),
];

/// Checks of the server's port only (`protocol/<check>/server`).
const SERVER_CHECKS: [(&str, Check); 4] = [
    ("routing_to_engine", routing_to_engine),
    ("routing_no_such_engine", routing_no_such_engine),
    ("routing_unknown_version", routing_unknown_version),
    ("routing_no_preamble_is_the_directory", routing_no_preamble),
];

/// Every check with the targets it runs against.
fn all_checks() -> impl Iterator<Item = (&'static str, Check, &'static [&'static str])> {
    let both: &'static [&'static str] = &["server", "engine"];
    let engine: &'static [&'static str] = &["engine"];
    let server: &'static [&'static str] = &["server"];
    CHECKS
        .into_iter()
        .map(move |(n, c)| (n, c, both))
        .chain(ENGINE_CHECKS.into_iter().map(move |(n, c)| (n, c, engine)))
        .chain(SERVER_CHECKS.into_iter().map(move |(n, c)| (n, c, server)))
}

/// The names of the protocol rows (`protocol/<check>/<server|engine>`).
pub fn row_names() -> Vec<String> {
    all_checks()
        .flat_map(|(n, _, labels)| labels.iter().map(move |l| format!("protocol/{n}/{l}")))
        .collect()
}

/// Runs every check against its targets.
pub fn run(targets: &[Target], token: &[u8]) -> Vec<CaseResult> {
    let mut out = Vec::new();
    for (name, check, labels) in all_checks() {
        for t in targets.iter().filter(|t| labels.contains(&t.label)) {
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
