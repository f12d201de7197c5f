//! The golden wire vectors (`conformance/vectors/*.json`) against this crate.
//!
//! The JSON files are the source of truth: a change to this crate that makes
//! a vector fail is a protocol change (docs/PROTOCOL.md, "Versioning"). The
//! `decoded` notation is described in `conformance/vectors/README.md`; the
//! small loader below maps it to [`Value`].

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value as J;
use srpy_proto::cbor;
use srpy_proto::frame::{self, DEFAULT_MAX_FRAME, HANDSHAKE_MAX_FRAME};
use srpy_proto::handshake::{client_proof, server_proof, verify_client_proof, verify_server_proof};
use srpy_proto::{
    AuthMethod, AuthReply, BigInt, Challenge, DType, ErrorKind, Hello, NdArray, Op, Order, Reply,
    Request, Stream, Value, Welcome,
};

// ---- names every vector set must cover ---------------------------------------
// A new variant needs a new name here and a vector using it.

const OPS: [&str; 22] = [
    "ping",
    "whoami",
    "set",
    "get",
    "get_many",
    "names",
    "delete",
    "clear",
    "eval",
    "exec",
    "vexec",
    "call",
    "describe",
    "install",
    "import",
    "is_busy",
    "wait",
    "interrupt",
    "benchmark",
    "apply",
    "engines",
    "restart",
];

const ERROR_KINDS: [&str; 11] = [
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

const DTYPES: [&str; 12] = [
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
    "float32", "float64",
];

const VALUE_KINDS: [&str; 17] = [
    "Null", "Bool", "Int", "BigInt", "Float", "Str", "Bytes", "List", "Tuple", "Map", "Set",
    "Complex", "DateTime", "Date", "Decimal", "Array", "Pickled",
];

// ---- loading -----------------------------------------------------------------

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conformance/vectors")
}

fn load(file: &str) -> J {
    let path = vectors_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn unhex(j: &J, what: &str) -> Vec<u8> {
    let s = j
        .as_str()
        .unwrap_or_else(|| panic!("{what}: hex must be a string"));
    assert_eq!(s, s.to_ascii_lowercase(), "{what}: hex must be lowercase");
    hex::decode(s).unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn text(j: &J, key: &str) -> String {
    j[key]
        .as_str()
        .unwrap_or_else(|| panic!("field {key:?} must be text in {j}"))
        .to_owned()
}

fn float_of(j: &J) -> f64 {
    let s = j
        .get("float")
        .and_then(J::as_str)
        .unwrap_or_else(|| panic!("not a float notation: {j}"));
    match s {
        "nan" => f64::NAN,
        "inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => s.parse().unwrap_or_else(|e| panic!("float {s:?}: {e}")),
    }
}

fn int_of(s: &str) -> Value {
    Value::from_bigint(
        s.parse::<BigInt>()
            .unwrap_or_else(|e| panic!("int {s:?}: {e}")),
    )
}

fn items(j: &J) -> Vec<Value> {
    j.as_array()
        .unwrap_or_else(|| panic!("expected a JSON array: {j}"))
        .iter()
        .map(value_of)
        .collect()
}

/// The `decoded` notation as a [`Value`].
fn value_of(j: &J) -> Value {
    match j {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::from(u),
            _ => {
                panic!("plain JSON numbers are integers only (floats are {{\"float\": ...}}): {n}")
            }
        },
        J::String(s) => Value::Str(s.clone()),
        J::Array(_) => panic!("a plain JSON array is not a value; use {{\"list\": ...}}: {j}"),
        J::Object(o) => {
            assert_eq!(o.len(), 1, "a notation object has exactly one key: {j}");
            let (k, v) = o.iter().next().unwrap();
            match k.as_str() {
                "int" => int_of(v.as_str().expect("int as decimal text")),
                "float" => Value::Float(float_of(j)),
                "bytes" => Value::Bytes(unhex(v, "bytes").into()),
                "list" => Value::List(items(v)),
                "tuple" => Value::Tuple(items(v)),
                "set" => Value::Set(items(v)),
                "map" => Value::Map(
                    v.as_array()
                        .expect("map entries")
                        .iter()
                        .map(|e| match e.as_array().map(Vec::as_slice) {
                            Some([k, v]) => (value_of(k), value_of(v)),
                            _ => panic!("a map entry is [key, value]: {e}"),
                        })
                        .collect(),
                ),
                "complex" => match v.as_array().map(Vec::as_slice) {
                    Some([re, im]) => Value::Complex {
                        re: float_of(re),
                        im: float_of(im),
                    },
                    _ => panic!("complex is [re, im]: {j}"),
                },
                "datetime" => Value::DateTime(v.as_str().expect("datetime text").to_owned()),
                "date" => Value::Date(v.as_str().expect("date text").to_owned()),
                "decimal" => Value::Decimal {
                    exponent: v["exponent"].as_i64().expect("decimal exponent"),
                    mantissa: v["mantissa"]
                        .as_str()
                        .expect("decimal mantissa as decimal text")
                        .parse()
                        .expect("decimal mantissa"),
                },
                "ndarray" => {
                    let dtype = DType::from_name(&text(v, "dtype"))
                        .unwrap_or_else(|| panic!("dtype in {j}"));
                    let shape = v["shape"]
                        .as_array()
                        .expect("shape")
                        .iter()
                        .map(|d| d.as_u64().expect("dimension"))
                        .collect();
                    let order = match text(v, "order").as_str() {
                        "C" => Order::RowMajor,
                        "F" => Order::ColumnMajor,
                        other => panic!("order {other:?}"),
                    };
                    let data = unhex(&v["data"], "ndarray data");
                    Value::Array(
                        NdArray::new(dtype, shape, order, data)
                            .unwrap_or_else(|| panic!("data size in {j}")),
                    )
                }
                "pickled" => Value::Pickled(unhex(v, "pickled")),
                "nested_lists" => {
                    let depth = v["depth"].as_u64().expect("depth");
                    (0..depth).fold(value_of(&v["value"]), |inner, _| Value::List(vec![inner]))
                }
                other => panic!("unknown notation {other:?}"),
            }
        }
    }
}

// ---- typed messages ------------------------------------------------------------

/// A parsed protocol message.
#[derive(Debug, PartialEq)]
enum Message {
    Hello(Hello),
    Challenge(Challenge),
    Auth(AuthReply),
    Welcome(Welcome),
    Request(Request),
    Reply(Reply),
}

impl Message {
    fn parse(kind: &str, v: Value) -> Result<Message, (Option<Option<u64>>, String)> {
        let e = |e: srpy_proto::Error| (None, e.to_string());
        Ok(match kind {
            "hello" => Message::Hello(Hello::from_value(v).map_err(e)?),
            "challenge" => Message::Challenge(Challenge::from_value(v).map_err(e)?),
            "auth" => Message::Auth(AuthReply::from_value(v).map_err(e)?),
            "welcome" => Message::Welcome(Welcome::from_value(v).map_err(e)?),
            "request" => Message::Request(
                Request::from_value(v).map_err(|r| (Some(r.id), r.error.to_string()))?,
            ),
            "reply" => Message::Reply(Reply::from_value(v).map_err(e)?),
            other => panic!("unknown message kind {other:?}"),
        })
    }

    fn to_value(&self) -> Value {
        match self {
            Message::Hello(m) => m.to_value(),
            Message::Challenge(m) => m.to_value(),
            Message::Auth(m) => m.to_value(),
            Message::Welcome(m) => m.to_value(),
            Message::Request(m) => m.clone().into_value(),
            Message::Reply(m) => m.clone().into_value(),
        }
    }
}

/// What a file's vectors are.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Values,
    Handshake,
    Requests,
    Replies,
    Frames,
}

impl Kind {
    fn message(self, vector: &J) -> Option<&str> {
        match self {
            Kind::Values | Kind::Frames => None,
            Kind::Handshake => Some(
                vector["message"]
                    .as_str()
                    .expect("handshake vectors name their message"),
            ),
            Kind::Requests => Some("request"),
            Kind::Replies => Some("reply"),
        }
    }
}

/// Everything a file's valid vectors decoded to.
struct Loaded {
    values: Vec<(String, Value)>,
    messages: Vec<(String, Message)>,
}

fn check_keys(v: &J, allowed: &[&str]) {
    for k in v.as_object().expect("a vector is an object").keys() {
        assert!(allowed.contains(&k.as_str()), "unknown key {k:?} in {v}");
    }
    for k in ["name", "description", "hex"] {
        assert!(v[k].is_string(), "missing {k:?} in {v}");
    }
}

fn check_file(file: &str, kind: Kind, min_valid: usize, min_invalid: usize) -> Loaded {
    let doc = load(file);
    assert!(doc["description"].is_string(), "{file}: description");
    let vectors = doc["vectors"].as_array().expect("vectors");
    let invalid = doc["invalid"].as_array().expect("invalid");
    assert!(
        vectors.len() >= min_valid,
        "{file}: {} vectors, expected at least {min_valid}",
        vectors.len()
    );
    assert!(
        invalid.len() >= min_invalid,
        "{file}: {} invalid, expected at least {min_invalid}",
        invalid.len()
    );

    let mut names = BTreeSet::new();
    let mut loaded = Loaded {
        values: Vec::new(),
        messages: Vec::new(),
    };
    for v in vectors {
        check_keys(
            v,
            &[
                "name",
                "description",
                "hex",
                "decoded",
                "canonical_hex",
                "typed_hex",
                "message",
                "max_frame",
            ],
        );
        let name = text(v, "name");
        assert!(names.insert(name.clone()), "{file}: duplicate name {name}");
        let what = format!("{file}/{name}");
        let bytes = unhex(&v["hex"], &what);
        let expected = value_of(&v["decoded"]);

        if kind == Kind::Frames {
            let max = v["max_frame"].as_u64().expect("max_frame") as usize;
            let (payload, rest) =
                frame::split_frame(&bytes, max).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(rest.is_empty(), "{what}: one frame per vector");
            assert_eq!(cbor::decode(payload).unwrap(), expected, "{what}");
            assert_eq!(
                frame::encode_frame(&expected),
                bytes,
                "{what}: re-encoded frame"
            );
            loaded.values.push((name, expected));
            continue;
        }

        // Decoding gives the notation's value, structurally (floats by bits).
        let got = cbor::decode(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(got, expected, "{what}: decoded value");

        // Encoding is deterministic: the same bytes, or the canonical form of
        // a decode-only input.
        let encoded = cbor::encode(&expected);
        match v.get("canonical_hex") {
            None => assert_eq!(
                hex::encode(&encoded),
                hex::encode(&bytes),
                "{what}: re-encoded bytes"
            ),
            Some(c) => {
                let canonical = unhex(c, &what);
                assert_ne!(canonical, bytes, "{what}: canonical_hex equal to hex");
                assert_eq!(
                    hex::encode(&encoded),
                    hex::encode(&canonical),
                    "{what}: canonical bytes"
                );
                assert_eq!(
                    cbor::decode(&canonical).unwrap(),
                    expected,
                    "{what}: canonical decodes"
                );
            }
        }

        // An independent CBOR implementation finds the item well-formed.
        let theirs: Result<ciborium::Value, _> =
            ciborium::de::from_reader_with_recursion_limit(bytes.as_slice(), 4 * cbor::MAX_DEPTH);
        assert!(theirs.is_ok(), "{what}: ciborium: {:?}", theirs.err());

        // The typed message writes back the same bytes (or typed_hex).
        if let Some(m) = kind.message(v) {
            let msg = Message::parse(m, got).unwrap_or_else(|(_, e)| panic!("{what}: {e}"));
            let again = cbor::encode(&msg.to_value());
            let want = match v.get("typed_hex") {
                None => bytes.clone(),
                Some(t) => {
                    let t = unhex(t, &what);
                    assert_ne!(t, bytes, "{what}: typed_hex equal to hex");
                    t
                }
            };
            assert_eq!(
                hex::encode(&again),
                hex::encode(&want),
                "{what}: typed message re-encoded"
            );
            let reparsed = Message::parse(m, cbor::decode(&again).unwrap()).unwrap();
            assert_eq!(reparsed, msg, "{what}: typed message round trip");
            loaded.messages.push((name.clone(), msg));
        } else {
            assert!(
                v.get("typed_hex").is_none(),
                "{what}: typed_hex without a message"
            );
        }
        loaded.values.push((name, expected));
    }

    for v in invalid {
        check_keys(
            v,
            &[
                "name",
                "description",
                "hex",
                "error",
                "message",
                "max_frame",
                "id",
            ],
        );
        let name = text(v, "name");
        assert!(names.insert(name.clone()), "{file}: duplicate name {name}");
        let what = format!("{file}/{name}");
        let bytes = unhex(&v["hex"], &what);
        let error = text(v, "error");
        assert!(!error.is_empty(), "{what}: empty error");
        let message = if kind == Kind::Frames {
            let max = v["max_frame"].as_u64().expect("max_frame") as usize;
            match frame::split_frame(&bytes, max) {
                Err(e) => e.to_string(),
                Ok((payload, rest)) => {
                    assert!(rest.is_empty(), "{what}: one frame per vector");
                    match cbor::decode(payload) {
                        Err(e) => e.to_string(),
                        Ok(v) => panic!("{what}: accepted as {v}"),
                    }
                }
            }
        } else {
            match (cbor::decode(&bytes), kind.message(v)) {
                (Err(e), _) => {
                    assert!(
                        v.get("id").is_none_or(J::is_null),
                        "{what}: no id without a decoded request"
                    );
                    e.to_string()
                }
                (Ok(value), None) => panic!("{what}: accepted as {value}"),
                (Ok(value), Some(m)) => match Message::parse(m, value) {
                    Ok(msg) => panic!("{what}: accepted as {msg:?}"),
                    Err((id, e)) => {
                        if let Some(want) = v.get("id") {
                            assert_eq!(id, Some(want.as_u64()), "{what}: request id");
                        }
                        e
                    }
                },
            }
        };
        assert!(
            message.contains(&error),
            "{what}: error {message:?} does not contain {error:?}"
        );
    }
    loaded
}

// ---- the files -------------------------------------------------------------------

#[test]
fn values_vectors() {
    let loaded = check_file("values.json", Kind::Values, 140, 45);

    // Every kind of value appears.
    let mut kinds = BTreeSet::new();
    let mut arrays = Vec::new();
    fn walk<'a>(v: &'a Value, kinds: &mut BTreeSet<&'static str>, arrays: &mut Vec<&'a NdArray>) {
        let kind = match v {
            Value::Null => "Null",
            Value::Bool(_) => "Bool",
            Value::Int(_) => "Int",
            Value::BigInt(_) => "BigInt",
            Value::Float(_) => "Float",
            Value::Str(_) => "Str",
            Value::Bytes(_) => "Bytes",
            Value::List(_) => "List",
            Value::Tuple(_) => "Tuple",
            Value::Map(_) => "Map",
            Value::Set(_) => "Set",
            Value::Complex { .. } => "Complex",
            Value::DateTime(_) => "DateTime",
            Value::Date(_) => "Date",
            Value::Decimal { .. } => "Decimal",
            Value::Array(a) => {
                arrays.push(a);
                "Array"
            }
            Value::Pickled(_) => "Pickled",
            other => panic!("a value kind the test does not know: {other:?}"),
        };
        kinds.insert(kind);
        match v {
            Value::List(items) | Value::Tuple(items) | Value::Set(items) => {
                items.iter().for_each(|i| walk(i, kinds, arrays))
            }
            Value::Map(entries) => entries.iter().for_each(|(k, v)| {
                walk(k, kinds, arrays);
                walk(v, kinds, arrays)
            }),
            _ => {}
        }
    }
    for (_, v) in &loaded.values {
        walk(v, &mut kinds, &mut arrays);
    }
    for k in VALUE_KINDS {
        assert!(kinds.contains(k), "no vector holds a {k}");
    }

    // Every dtype, with shapes [], [3] and [2, 3]; Fortran order at least once.
    assert_eq!(
        DType::ALL.map(DType::name),
        DTYPES,
        "DType::ALL changed: add the dtype to DTYPES and vectors for it"
    );
    for dtype in DTYPES {
        for shape in [vec![], vec![3], vec![2, 3]] {
            assert!(
                arrays
                    .iter()
                    .any(|a| a.dtype.name() == dtype && a.shape == shape),
                "no {dtype} array of shape {shape:?}"
            );
        }
    }
    assert!(
        arrays.iter().any(|a| a.order == Order::ColumnMajor),
        "no Fortran-order array"
    );

    // The edge cases.
    let all: Vec<&Value> = loaded.values.iter().map(|(_, v)| v).collect();
    let big = |s: &str| Value::from_bigint(s.parse().unwrap());
    for required in [
        Value::Float(f64::NAN),
        Value::Float(-0.0),
        Value::Float(f64::INFINITY),
        Value::Float(f64::NEG_INFINITY),
        Value::Int(i64::MIN),
        Value::Int(i64::MAX),
        Value::from(u64::MAX),
        big("18446744073709551616"),
        big("-18446744073709551617"),
        big("-18446744073709551616"),
        Value::List(vec![]),
        Value::Tuple(vec![]),
        Value::Map(vec![]),
        Value::Set(vec![]),
        Value::Bytes(vec![].into()),
        Value::Str(String::new()),
    ] {
        assert!(all.contains(&&required), "no vector for {required:?}");
    }
    assert!(
        all.iter()
            .any(|v| matches!(v, Value::BigInt(b) if b.bits() > 128)),
        "no huge int"
    );
    assert!(
        all.iter()
            .any(|v| matches!(v, Value::Str(s) if s.chars().any(|c| c as u32 > 0xffff))),
        "no non-BMP text"
    );
    assert!(
        all.iter().any(|v| v
            .as_map()
            .is_some_and(|m| m.iter().any(|(k, _)| matches!(k, Value::Tuple(_))))),
        "no tuple dict key"
    );
    assert!(
        all.iter().any(|v| v.as_map().is_some_and(|m| m
            .iter()
            .any(|(k, _)| !matches!(k, Value::Str(_) | Value::Tuple(_))))),
        "no other non-text dict key"
    );

    let doc = load("values.json");
    let errors: Vec<&str> = doc["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["error"].as_str().unwrap())
        .collect();
    for needed in [
        "trailing byte",
        "duplicate map key",
        "duplicate set element",
        "truncated",
        "indefinite-length",
        "UTF-8",
        "unsupported tag",
        "nesting deeper than",
        "needs a different byte count",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(needed)),
            "no invalid vector for {needed:?}"
        );
    }
}

#[test]
fn handshake_vectors() {
    let loaded = check_file("handshake.json", Kind::Handshake, 12, 8);
    let mut seen = BTreeSet::new();
    for (_, m) in &loaded.messages {
        seen.insert(match m {
            Message::Hello(_) => "hello".to_owned(),
            Message::Challenge(c) => format!("challenge/{}/{:?}", c.role.name(), c.auth),
            Message::Auth(a) if a.proof.is_empty() => "auth/none".to_owned(),
            Message::Auth(_) => "auth/token".to_owned(),
            Message::Welcome(w) if w.proof.is_empty() => "welcome/none".to_owned(),
            Message::Welcome(_) => "welcome/token".to_owned(),
            Message::Reply(Reply::Err { id: None, error }) => format!("err/{}", error.kind.name()),
            other => panic!("unexpected handshake message {other:?}"),
        });
    }
    for needed in [
        "hello",
        "challenge/server/Token",
        "challenge/engine/None",
        "auth/none",
        "auth/token",
        "welcome/none",
        "welcome/token",
        "err/version",
        "err/auth",
    ] {
        assert!(seen.contains(needed), "no handshake vector for {needed}");
    }

    // The server's welcome carries the engine directory a client resolves
    // `srpy://host:port/<index>` with.
    let welcome = loaded
        .messages
        .iter()
        .find_map(|(_, m)| match m {
            Message::Welcome(w) if w.info.get("engines").is_some() => Some(w),
            _ => None,
        })
        .expect("a welcome with the engine directory");
    let engines = welcome.info.get("engines").unwrap().as_seq().unwrap();
    assert!(!engines.is_empty());
    for e in engines {
        assert!(e.get("index").and_then(Value::as_i64).is_some());
        assert!(e.get("port").and_then(Value::as_i64).is_some());
        assert!(
            matches!(e.get("pid"), Some(Value::Int(_) | Value::Null)),
            "pid is an int or null"
        );
        assert!(e.get("alive").and_then(Value::as_bool).is_some());
    }
}

#[test]
fn handshake_proofs() {
    let doc = load("handshake.json");
    let proofs = doc["proofs"].as_array().expect("proofs");
    assert!(!proofs.is_empty());
    let messages = check_file("handshake.json", Kind::Handshake, 0, 0).messages;
    for p in proofs {
        let token = unhex(&p["token"], "token");
        assert_eq!(token, text(p, "token_text").as_bytes());
        let sn = unhex(&p["server_nonce"], "server_nonce");
        let cn = unhex(&p["client_nonce"], "client_nonce");
        let cp = unhex(&p["client_proof"], "client_proof");
        let sp = unhex(&p["server_proof"], "server_proof");
        // The HMAC inputs, spelled out.
        assert_eq!(
            unhex(&p["client_message"], "client_message"),
            [&b"srpy-v1 client"[..], &sn, &cn].concat()
        );
        assert_eq!(
            unhex(&p["server_message"], "server_message"),
            [&b"srpy-v1 server"[..], &cn, &sn].concat()
        );
        assert_eq!(client_proof(&token, &sn, &cn), cp);
        assert_eq!(server_proof(&token, &sn, &cn), sp);
        assert!(verify_client_proof(&token, &sn, &cn, &cp));
        assert!(verify_server_proof(&token, &sn, &cn, &sp));
        assert!(
            !verify_client_proof(&token, &sn, &cn, &sp),
            "client and server proofs differ"
        );
        // The vectors use these nonces and proofs.
        assert!(messages.iter().any(|(_, m)| matches!(m,
            Message::Challenge(c) if c.auth == AuthMethod::Token && c.nonce[..] == sn[..])));
        assert!(messages
            .iter()
            .any(|(_, m)| matches!(m, Message::Auth(a) if a.nonce[..] == cn[..] && a.proof == cp)));
        assert!(messages
            .iter()
            .any(|(_, m)| matches!(m, Message::Welcome(w) if w.proof == sp)));
    }
}

#[test]
fn request_vectors() {
    let loaded = check_file("requests.json", Kind::Requests, 35, 10);
    let mut seen = BTreeSet::new();
    let mut unknown = false;
    for (name, m) in &loaded.messages {
        let Message::Request(r) = m else {
            panic!("{name}: not a request")
        };
        match &r.op {
            Op::Unknown(_) => unknown = true,
            op => {
                assert!(
                    OPS.contains(&op.name()),
                    "op {:?} missing from OPS",
                    op.name()
                );
                seen.insert(op.name().to_owned());
            }
        }
    }
    for op in OPS {
        assert!(seen.contains(op), "no request vector for op {op}");
    }
    assert!(unknown, "no request vector with an unknown op");
    // The ops an engine answers at once.
    let immediate: BTreeSet<&str> = loaded
        .messages
        .iter()
        .filter_map(|(_, m)| match m {
            Message::Request(r) if r.op.is_immediate() => Some(r.op.name()),
            _ => None,
        })
        .collect();
    assert_eq!(
        immediate,
        BTreeSet::from(["ping", "is_busy", "interrupt", "wait"])
    );
}

#[test]
fn reply_vectors() {
    let loaded = check_file("replies.json", Kind::Replies, 28, 6);
    let mut kinds = BTreeSet::new();
    let (mut ok, mut null_id, mut remote, mut unknown) = (false, false, false, false);
    let mut streams = BTreeSet::new();
    for (name, m) in &loaded.messages {
        let Message::Reply(r) = m else {
            panic!("{name}: not a reply")
        };
        match r {
            Reply::Ok { .. } => ok = true,
            Reply::Err { id, error } => {
                null_id |= id.is_none();
                match &error.kind {
                    ErrorKind::Unknown(_) => unknown = true,
                    k => {
                        assert!(
                            ERROR_KINDS.contains(&k.name()),
                            "error kind {:?} missing from ERROR_KINDS",
                            k.name()
                        );
                        kinds.insert(k.name().to_owned());
                    }
                }
                remote |= error.kind == ErrorKind::Remote
                    && error.remote_type.is_some()
                    && error.traceback.is_some();
            }
            Reply::Output { stream, .. } => {
                streams.insert(match stream {
                    Stream::Stdout => "stdout",
                    Stream::Stderr => "stderr",
                });
            }
        }
    }
    for k in ERROR_KINDS {
        assert!(kinds.contains(k), "no err vector of kind {k}");
    }
    assert!(ok, "no ok vector");
    assert!(null_id, "no err vector with a null id");
    assert!(remote, "no remote error with type and traceback");
    assert!(unknown, "no err vector of an unknown kind");
    assert_eq!(streams, BTreeSet::from(["stdout", "stderr"]));
}

#[test]
fn frame_vectors() {
    check_file("frames.json", Kind::Frames, 5, 6);
    let doc = load("frames.json");
    let limits: BTreeSet<u64> = doc["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .chain(doc["invalid"].as_array().unwrap())
        .map(|v| v["max_frame"].as_u64().unwrap())
        .collect();
    assert!(limits.contains(&(HANDSHAKE_MAX_FRAME as u64)));
    assert!(limits.contains(&(DEFAULT_MAX_FRAME as u64)));
    // Oversized lengths are refused from the prefix alone.
    let oversized: Vec<&J> = doc["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| {
            v["error"]
                .as_str()
                .unwrap()
                .contains("exceeds the maximum frame size")
        })
        .collect();
    assert!(oversized.len() >= 2);
    for v in oversized {
        assert_eq!(
            unhex(&v["hex"], "frame").len(),
            4,
            "{}: prefix only",
            v["name"]
        );
    }
}

/// The frames also go through the async reader the server and clients use.
#[tokio::test]
async fn frame_vectors_through_the_async_reader() {
    use srpy_proto::connection::FrameReader;
    let doc = load("frames.json");
    for v in doc["vectors"].as_array().unwrap() {
        let bytes = unhex(&v["hex"], "frame");
        let mut r = FrameReader::new(bytes.as_slice());
        r.set_max_frame(v["max_frame"].as_u64().unwrap() as usize);
        assert_eq!(
            r.read_value().await.unwrap(),
            Some(value_of(&v["decoded"])),
            "{}",
            v["name"]
        );
        assert_eq!(
            r.read_value().await.unwrap(),
            None,
            "{}: clean end",
            v["name"]
        );
    }
    for v in doc["invalid"].as_array().unwrap() {
        let bytes = unhex(&v["hex"], "frame");
        let mut r = FrameReader::new(bytes.as_slice());
        r.set_max_frame(v["max_frame"].as_u64().unwrap() as usize);
        let e = r
            .read_value()
            .await
            .expect_err(v["name"].as_str().unwrap())
            .to_string();
        let want = v["error"].as_str().unwrap();
        assert!(
            e.contains(want),
            "{}: {e:?} does not contain {want:?}",
            v["name"]
        );
    }
}

#[test]
fn readme_documents_the_notation() {
    let readme = std::fs::read_to_string(vectors_dir().join("README.md")).expect("README.md");
    for key in [
        "\"int\"",
        "\"float\"",
        "\"bytes\"",
        "\"list\"",
        "\"tuple\"",
        "\"map\"",
        "\"set\"",
        "\"complex\"",
        "\"datetime\"",
        "\"date\"",
        "\"decimal\"",
        "\"ndarray\"",
        "\"pickled\"",
        "\"nested_lists\"",
        "canonical_hex",
        "typed_hex",
        "max_frame",
    ] {
        assert!(readme.contains(key), "README.md does not describe {key}");
    }
}

/// routing.json: the preamble and its answers (PROTOCOL.md 3.1), byte for
/// byte both ways; every invalid one refused.
#[test]
fn routing_vectors() {
    use srpy_proto::route::{Answer, Code, Preamble, Target, PREAMBLE_LEN};
    let doc = load("routing.json");
    let preambles = doc["preambles"].as_array().unwrap();
    assert!(preambles.len() >= 3);
    for v in preambles {
        let bytes = unhex(&v["hex"], "preamble");
        let target = match &v["target"] {
            J::String(s) if s == "here" => Target::Here,
            t => Target::Engine(t.as_u64().unwrap() as u32),
        };
        let want = Preamble {
            version: v["version"].as_u64().unwrap() as u8,
            target,
        };
        let fixed: [u8; PREAMBLE_LEN] = bytes.as_slice().try_into().unwrap();
        assert_eq!(Preamble::decode(&fixed).unwrap(), want, "{}", v["name"]);
        assert_eq!(want.encode().as_slice(), bytes, "{}", v["name"]);
    }
    let answers = doc["answers"].as_array().unwrap();
    let codes: BTreeSet<u64> = answers
        .iter()
        .map(|v| v["code"].as_u64().unwrap())
        .collect();
    assert!(
        (0..=5).all(|c| codes.contains(&c)),
        "every code has a vector"
    );
    for v in answers {
        let bytes = unhex(&v["hex"], "answer");
        let code = Code::from_wire(v["code"].as_u64().unwrap() as u8);
        assert_eq!(code.name(), text(v, "code_name").as_str());
        let want = Answer {
            version: v["version"].as_u64().unwrap() as u8,
            code,
            message: text(v, "message"),
        };
        assert_eq!(Answer::decode_all(&bytes).unwrap(), want, "{}", v["name"]);
        assert_eq!(want.encode(), bytes, "{}", v["name"]);
    }
    for v in doc["invalid"].as_array().unwrap() {
        let bytes = unhex(&v["hex"], "invalid");
        let error = match text(v, "kind").as_str() {
            "preamble" => {
                let fixed: [u8; PREAMBLE_LEN] = bytes.as_slice().try_into().unwrap();
                Preamble::decode(&fixed).unwrap_err().message
            }
            _ => Answer::decode_all(&bytes).unwrap_err(),
        };
        assert!(error.contains(&text(v, "error")), "{}: {error}", v["name"]);
    }
}
