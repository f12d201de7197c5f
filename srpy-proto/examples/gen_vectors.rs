//! Generates the golden wire vectors of protocol v1 (`conformance/vectors/`)
//! from this crate, the reference implementation.
//!
//! ```text
//! cargo run -p srpy-proto --example gen_vectors            # write missing files, refuse changes
//! cargo run -p srpy-proto --example gen_vectors -- --check # only compare
//! cargo run -p srpy-proto --example gen_vectors -- --force # overwrite (a protocol change!)
//! cargo run -p srpy-proto --example gen_vectors -- --out DIR
//! ```
//!
//! The committed JSON is the source of truth; this program only bootstraps
//! it (and adds vectors). Every vector is checked here before it is written:
//! valid ones decode to their `decoded` form and re-encode to the same bytes,
//! invalid ones fail with the expected message. The notation of `decoded` is
//! described in `conformance/vectors/README.md`.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::{json, Value as J};
use srpy_proto::cbor;
use srpy_proto::frame::{self, DEFAULT_MAX_FRAME, HANDSHAKE_MAX_FRAME};
use srpy_proto::handshake::{client_proof, server_proof, NONCE_LEN};
use srpy_proto::{
    AuthMethod, AuthReply, BigInt, Challenge, DType, ErrorInfo, ErrorKind, Feature, Hello, NdArray,
    Op, Order, Reply, Request, Role, Stream, Value, Welcome,
};

// ---- the decoded notation ---------------------------------------------------

/// Largest integer written as a plain JSON number (2^53 - 1).
const MAX_SAFE: i64 = (1 << 53) - 1;

fn float_note(f: f64) -> J {
    let s = if f.is_nan() {
        assert_eq!(
            f.to_bits(),
            f64::NAN.to_bits(),
            "only the canonical NaN has a notation"
        );
        "nan".to_owned()
    } else if f.is_infinite() {
        (if f > 0.0 { "inf" } else { "-inf" }).to_owned()
    } else {
        // Rust's Debug form is the shortest text that reads back to the same
        // bits ("1.5", "-0.0", "1e300", "5e-324").
        let s = format!("{f:?}");
        assert_eq!(s.parse::<f64>().unwrap().to_bits(), f.to_bits());
        s
    };
    json!({ "float": s })
}

fn int_note(b: &BigInt) -> J {
    match i64::try_from(b) {
        Ok(i) if (-MAX_SAFE..=MAX_SAFE).contains(&i) => json!(i),
        _ => json!({ "int": b.to_string() }),
    }
}

fn note(v: &Value) -> J {
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => json!(b),
        Value::Int(i) => int_note(&BigInt::from(*i)),
        Value::BigInt(b) => int_note(b),
        Value::Float(f) => float_note(*f),
        Value::Str(s) => json!(s),
        Value::Bytes(b) => json!({ "bytes": hex::encode(b) }),
        Value::List(items) => {
            // Long chains of one-element lists use the abbreviation (JSON
            // parsers limit nesting).
            let (depth, inner) = list_chain(v);
            if depth > 8 {
                return json!({ "nested_lists": { "depth": depth, "value": note(inner) } });
            }
            json!({ "list": items.iter().map(note).collect::<Vec<_>>() })
        }
        Value::Tuple(items) => json!({ "tuple": items.iter().map(note).collect::<Vec<_>>() }),
        Value::Set(items) => json!({ "set": items.iter().map(note).collect::<Vec<_>>() }),
        Value::Map(entries) => json!({
            "map": entries.iter().map(|(k, v)| json!([note(k), note(v)])).collect::<Vec<_>>()
        }),
        Value::Complex { re, im } => json!({ "complex": [float_note(*re), float_note(*im)] }),
        Value::DateTime(s) => json!({ "datetime": s }),
        Value::Date(s) => json!({ "date": s }),
        Value::Decimal { exponent, mantissa } => json!({
            "decimal": { "exponent": exponent, "mantissa": mantissa.to_string() }
        }),
        Value::Array(a) => json!({ "ndarray": {
            "dtype": a.dtype.name(),
            "shape": a.shape,
            "order": match a.order { Order::RowMajor => "C", Order::ColumnMajor => "F" },
            "data": hex::encode(&a.data),
        }}),
        Value::Pickled(b) => json!({ "pickled": hex::encode(b) }),
        other => panic!("no notation for {other:?}"),
    }
}

/// How many one-element lists wrap the innermost value.
fn list_chain(mut v: &Value) -> (usize, &Value) {
    let mut depth = 0;
    while let Value::List(items) = v {
        if items.len() != 1 {
            break;
        }
        depth += 1;
        v = &items[0];
    }
    (depth, v)
}

// ---- vectors ----------------------------------------------------------------

/// Which typed message a vector parses into.
#[derive(Clone, Copy, PartialEq)]
enum Msg {
    None,
    Hello,
    Challenge,
    Auth,
    Welcome,
    Request,
    Reply,
}

impl Msg {
    fn name(self) -> Option<&'static str> {
        Some(match self {
            Msg::None => return None,
            Msg::Hello => "hello",
            Msg::Challenge => "challenge",
            Msg::Auth => "auth",
            Msg::Welcome => "welcome",
            Msg::Request => "request",
            Msg::Reply => "reply",
        })
    }

    /// Parses `v` as the message and writes it back.
    fn reencode(self, v: Value) -> Result<Option<Value>, (Option<Option<u64>>, String)> {
        let e = |e: srpy_proto::Error| (None, e.to_string());
        Ok(Some(match self {
            Msg::None => return Ok(None),
            Msg::Hello => Hello::from_value(v).map_err(e)?.to_value(),
            Msg::Challenge => Challenge::from_value(v).map_err(e)?.to_value(),
            Msg::Auth => AuthReply::from_value(v).map_err(e)?.to_value(),
            Msg::Welcome => Welcome::from_value(v).map_err(e)?.to_value(),
            Msg::Request => Request::from_value(v)
                .map_err(|r| (Some(r.id), r.error.to_string()))?
                .into_value(),
            Msg::Reply => Reply::from_value(v).map_err(e)?.into_value(),
        }))
    }
}

struct Vector {
    name: String,
    description: String,
    /// The bytes as received (a CBOR item, or a whole frame in frames.json).
    hex: Vec<u8>,
    decoded: Value,
    /// What an encoder writes for `decoded` when `hex` is a non-canonical
    /// (decode-only) form.
    canonical: Option<Vec<u8>>,
    /// What writing the typed message back gives, when it differs.
    typed: Option<Vec<u8>>,
    msg: Msg,
    max_frame: Option<usize>,
}

struct Invalid {
    name: String,
    description: String,
    hex: Vec<u8>,
    error: String,
    msg: Msg,
    max_frame: Option<usize>,
    /// For requests: the id a receiver can still answer (`Some(None)` = null).
    id: Option<Option<u64>>,
}

struct File {
    file: &'static str,
    description: &'static str,
    msg: Msg,
    vectors: Vec<Vector>,
    invalid: Vec<Invalid>,
    /// Extra top-level members, written after "description".
    extra: Vec<(&'static str, J)>,
}

impl File {
    fn new(file: &'static str, description: &'static str, msg: Msg) -> File {
        File {
            file,
            description,
            msg,
            vectors: Vec::new(),
            invalid: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// A vector whose bytes are the encoding of `v`.
    fn value(&mut self, name: &str, description: &str, v: Value) {
        self.value_as(name, description, v, self.msg);
    }

    fn value_as(&mut self, name: &str, description: &str, v: Value, msg: Msg) {
        let hex = cbor::encode(&v);
        self.push(name, description, hex, None, msg);
    }

    /// A decode-only vector: `bytes` are accepted, encoders write `canonical`.
    fn decode_only(&mut self, name: &str, description: &str, bytes: Vec<u8>) {
        let v = cbor::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let canonical = cbor::encode(&v);
        assert_ne!(canonical, bytes, "{name} is canonical");
        self.push(name, description, bytes, Some(canonical), self.msg);
    }

    fn push(
        &mut self,
        name: &str,
        description: &str,
        hex: Vec<u8>,
        canonical: Option<Vec<u8>>,
        msg: Msg,
    ) {
        assert!(
            !self.vectors.iter().any(|v| v.name == name),
            "duplicate vector {name}"
        );
        let decoded = cbor::decode(&hex).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            cbor::encode(&decoded),
            canonical.clone().unwrap_or_else(|| hex.clone()),
            "{name}"
        );
        let typed = msg
            .reencode(decoded.clone())
            .unwrap_or_else(|(_, e)| panic!("{name}: {e}"))
            .map(|t| cbor::encode(&t))
            .filter(|t| *t != hex);
        self.vectors.push(Vector {
            name: name.into(),
            description: description.into(),
            hex,
            decoded,
            canonical,
            typed,
            msg,
            max_frame: None,
        });
    }

    /// A frame vector: `frame` is a whole frame read with `max` as limit.
    fn frame(&mut self, name: &str, description: &str, v: Value, max: usize) {
        let hex = frame::encode_frame(&v);
        let (payload, rest) = frame::split_frame(&hex, max).unwrap();
        assert!(rest.is_empty());
        assert_eq!(cbor::decode(payload).unwrap(), v);
        self.vectors.push(Vector {
            name: name.into(),
            description: description.into(),
            hex,
            decoded: v,
            canonical: None,
            typed: None,
            msg: Msg::None,
            max_frame: Some(max),
        });
    }

    fn invalid(&mut self, name: &str, description: &str, hex: Vec<u8>, error: &str) {
        self.invalid_as(name, description, hex, error, self.msg, None);
    }

    fn invalid_as(
        &mut self,
        name: &str,
        description: &str,
        hex: Vec<u8>,
        error: &str,
        msg: Msg,
        id: Option<Option<u64>>,
    ) {
        let got = match cbor::decode(&hex) {
            Err(e) => (None, e.to_string()),
            Ok(v) => match msg.reencode(v) {
                Err(e) => e,
                Ok(_) => panic!("{name}: accepted"),
            },
        };
        assert!(
            got.1.contains(error),
            "{name}: error {:?} lacks {error:?}",
            got.1
        );
        if msg == Msg::Request {
            assert_eq!(got.0, id, "{name}: request id");
        }
        self.invalid.push(Invalid {
            name: name.into(),
            description: description.into(),
            hex,
            error: error.into(),
            msg,
            max_frame: None,
            id: if msg == Msg::Request { id } else { None },
        });
    }

    fn invalid_value(&mut self, name: &str, description: &str, v: Value, error: &str) {
        self.invalid(name, description, cbor::encode(&v), error);
    }

    fn invalid_frame(
        &mut self,
        name: &str,
        description: &str,
        hex: Vec<u8>,
        max: usize,
        error: &str,
    ) {
        let msg = match frame::split_frame(&hex, max) {
            Err(e) => e.to_string(),
            Ok((payload, rest)) => {
                assert!(rest.is_empty(), "{name}: one frame per vector");
                cbor::decode(payload).expect_err(name).to_string()
            }
        };
        assert!(msg.contains(error), "{name}: error {msg:?} lacks {error:?}");
        self.invalid.push(Invalid {
            name: name.into(),
            description: description.into(),
            hex,
            error: error.into(),
            msg: Msg::None,
            max_frame: Some(max),
            id: None,
        });
    }

    fn render(&self) -> String {
        let s = |x: &str| serde_json::to_string(x).unwrap();
        let mut out = String::new();
        writeln!(out, "{{").unwrap();
        writeln!(out, "  \"description\": {},", s(self.description)).unwrap();
        for (k, v) in &self.extra {
            writeln!(
                out,
                "  {}: {},",
                s(k),
                serde_json::to_string_pretty(v)
                    .unwrap()
                    .replace('\n', "\n  ")
            )
            .unwrap();
        }
        writeln!(out, "  \"vectors\": [").unwrap();
        for (i, v) in self.vectors.iter().enumerate() {
            writeln!(out, "    {{").unwrap();
            writeln!(out, "      \"name\": {},", s(&v.name)).unwrap();
            writeln!(out, "      \"description\": {},", s(&v.description)).unwrap();
            if self.file == "handshake.json" {
                writeln!(out, "      \"message\": {},", s(v.msg.name().unwrap())).unwrap();
            }
            if let Some(m) = v.max_frame {
                writeln!(out, "      \"max_frame\": {m},").unwrap();
            }
            writeln!(out, "      \"hex\": {},", s(&hex::encode(&v.hex))).unwrap();
            if let Some(c) = &v.canonical {
                writeln!(out, "      \"canonical_hex\": {},", s(&hex::encode(c))).unwrap();
            }
            if let Some(t) = &v.typed {
                writeln!(out, "      \"typed_hex\": {},", s(&hex::encode(t))).unwrap();
            }
            writeln!(
                out,
                "      \"decoded\": {}",
                serde_json::to_string(&note(&v.decoded)).unwrap()
            )
            .unwrap();
            writeln!(
                out,
                "    }}{}",
                if i + 1 < self.vectors.len() { "," } else { "" }
            )
            .unwrap();
        }
        writeln!(out, "  ],").unwrap();
        writeln!(out, "  \"invalid\": [").unwrap();
        for (i, v) in self.invalid.iter().enumerate() {
            writeln!(out, "    {{").unwrap();
            writeln!(out, "      \"name\": {},", s(&v.name)).unwrap();
            writeln!(out, "      \"description\": {},", s(&v.description)).unwrap();
            if self.file == "handshake.json" {
                writeln!(out, "      \"message\": {},", s(v.msg.name().unwrap())).unwrap();
            }
            if let Some(m) = v.max_frame {
                writeln!(out, "      \"max_frame\": {m},").unwrap();
            }
            if let Some(id) = v.id {
                writeln!(
                    out,
                    "      \"id\": {},",
                    id.map_or("null".to_owned(), |i| i.to_string())
                )
                .unwrap();
            }
            writeln!(out, "      \"hex\": {},", s(&hex::encode(&v.hex))).unwrap();
            writeln!(out, "      \"error\": {}", s(&v.error)).unwrap();
            writeln!(
                out,
                "    }}{}",
                if i + 1 < self.invalid.len() { "," } else { "" }
            )
            .unwrap();
        }
        writeln!(out, "  ]").unwrap();
        writeln!(out, "}}").unwrap();
        // The output must be what the notation says it is.
        let parsed: J = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(
            parsed["vectors"].as_array().unwrap().len(),
            self.vectors.len()
        );
        out
    }
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '_'], "")).unwrap()
}

fn s(x: &str) -> Value {
    Value::from(x)
}

fn big(s: &str) -> BigInt {
    s.parse().unwrap()
}

fn kv(pairs: Vec<(Value, Value)>) -> Value {
    Value::Map(pairs)
}

fn nested_lists(depth: usize, inner: Value) -> Value {
    (0..depth).fold(inner, |v, _| Value::List(vec![v]))
}

// ---- values.json ------------------------------------------------------------

/// Element `k` of a sample array of `dtype`, little-endian.
fn element(dtype: DType, k: usize) -> Vec<u8> {
    let ints: [i64; 6] = [-1, 0, 1, i64::MAX, i64::MIN, 2];
    let uints: [u64; 6] = [0, 1, 2, u64::MAX, 42, 7];
    let floats: [f64; 6] = [1.5, -2.0, 0.1, f64::INFINITY, -0.0, f64::NAN];
    let k = k % 6;
    match dtype {
        DType::Bool => vec![1 - (k % 2) as u8],
        DType::I8 => vec![[-1i8, 0, 1, i8::MAX, i8::MIN, 2][k] as u8],
        DType::I16 => [-1i16, 0, 1, i16::MAX, i16::MIN, 2][k]
            .to_le_bytes()
            .to_vec(),
        DType::I32 => [-1i32, 0, 1, i32::MAX, i32::MIN, 2][k]
            .to_le_bytes()
            .to_vec(),
        DType::I64 => ints[k].to_le_bytes().to_vec(),
        DType::U8 => vec![[0u8, 1, 2, u8::MAX, 42, 7][k]],
        DType::U16 => [0u16, 1, 2, u16::MAX, 42, 7][k].to_le_bytes().to_vec(),
        DType::U32 => [0u32, 1, 2, u32::MAX, 42, 7][k].to_le_bytes().to_vec(),
        DType::U64 => uints[k].to_le_bytes().to_vec(),
        // 1.5, -2.0, 0.0999755859375, inf, -0.0, 65504 (max)
        DType::F16 => [0x3e00u16, 0xc000, 0x2e66, 0x7c00, 0x8000, 0x7bff][k]
            .to_le_bytes()
            .to_vec(),
        DType::F32 => (floats[k] as f32).to_le_bytes().to_vec(),
        DType::F64 => floats[k].to_le_bytes().to_vec(),
        _ => unreachable!(),
    }
}

fn sample_array(dtype: DType, shape: Vec<u64>, order: Order) -> Value {
    let n: u64 = shape.iter().product();
    let data: Vec<u8> = (0..n as usize).flat_map(|k| element(dtype, k)).collect();
    Value::Array(NdArray::new(dtype, shape, order, data).unwrap())
}

fn f64_array(shape: Vec<u64>, order: Order, values: &[f64]) -> Value {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    Value::Array(NdArray::new(DType::F64, shape, order, data).unwrap())
}

fn values() -> File {
    let mut f = File::new(
        "values.json",
        "Protocol v1 values: one CBOR data item each (no frame length prefix). `hex` MUST decode to `decoded`; \
         encoding `decoded` MUST give `hex` (or `canonical_hex` when present). Every `invalid` item MUST be rejected.",
        Msg::None,
    );

    // -- null, bool
    f.value("null", "Python None: simple value 22", Value::Null);
    f.value("true", "True: simple value 21", Value::Bool(true));
    f.value("false", "False: simple value 20", Value::Bool(false));

    // -- ints
    for (name, i, d) in [
        (
            "int_0",
            0i64,
            "0: major type 0, argument in the initial byte",
        ),
        ("int_1", 1, "1"),
        (
            "int_23",
            23,
            "23: largest argument held in the initial byte",
        ),
        ("int_24", 24, "24: first one-byte argument (0x18)"),
        ("int_255", 255, "255: largest one-byte argument"),
        ("int_256", 256, "256: first two-byte argument (0x19)"),
        ("int_65535", 65535, "65535: largest two-byte argument"),
        ("int_65536", 65536, "65536: first four-byte argument (0x1a)"),
        (
            "int_4294967295",
            4294967295,
            "2^32-1: largest four-byte argument",
        ),
        (
            "int_4294967296",
            4294967296,
            "2^32: first eight-byte argument (0x1b)",
        ),
        (
            "int_minus_1",
            -1,
            "-1: major type 1 with argument 0 (n = -1 - arg)",
        ),
        ("int_minus_24", -24, "-24: major type 1, argument 23"),
        (
            "int_minus_25",
            -25,
            "-25: major type 1, one-byte argument 24",
        ),
        ("int_minus_256", -256, "-256: major type 1, argument 255"),
        (
            "int_minus_257",
            -257,
            "-257: major type 1, two-byte argument 256",
        ),
        (
            "int_2_pow_53_minus_1",
            MAX_SAFE,
            "2^53-1: the largest int the notation writes as a plain JSON number",
        ),
        (
            "int_2_pow_53",
            1 << 53,
            "2^53: notation switches to {\"int\": ...}; wire is a plain uint",
        ),
        ("int_i64_max", i64::MAX, "2^63-1 (i64 max)"),
        (
            "int_i64_min",
            i64::MIN,
            "-2^63 (i64 min): major type 1, argument 2^63-1",
        ),
    ] {
        f.value(name, d, Value::Int(i));
    }
    f.value(
        "int_2_pow_63",
        "2^63: fits u64, plain uint (not a bignum)",
        Value::from(1u64 << 63),
    );
    f.value(
        "int_u64_max",
        "2^64-1: the largest plain CBOR uint",
        Value::from(u64::MAX),
    );
    f.value(
        "int_2_pow_64",
        "2^64: the smallest positive int that needs a bignum (tag 2, big-endian magnitude without leading zeros)",
        Value::BigInt(BigInt::from(u64::MAX) + 1u32),
    );
    f.value(
        "int_minus_2_pow_63_minus_1",
        "-2^63-1: below i64 but a plain major-type-1 int (argument 2^63)",
        Value::BigInt(big("-9223372036854775809")),
    );
    f.value(
        "int_minus_2_pow_64",
        "-2^64: the most negative plain CBOR int (major type 1, argument 2^64-1)",
        Value::BigInt(-BigInt::from(u64::MAX) - 1u32),
    );
    f.value(
        "int_minus_2_pow_64_minus_1",
        "-2^64-1: the first negative bignum (tag 3, content 2^64 = -1 - n)",
        Value::BigInt(-BigInt::from(u64::MAX) - 2u32),
    );
    f.value(
        "int_huge_positive",
        "7^200 (562 bits): tag 2 bignum",
        Value::BigInt(BigInt::from(7u32).pow(200)),
    );
    f.value(
        "int_huge_negative",
        "-(7^200): tag 3 bignum of 7^200-1",
        Value::BigInt(-BigInt::from(7u32).pow(200)),
    );
    f.value(
        "int_2_pow_128",
        "2^128: tag 2 with 17 content bytes",
        Value::BigInt(BigInt::from(1u32) << 128),
    );

    // -- floats
    for (name, x, d) in [
        (
            "float_0",
            0.0f64,
            "0.0: always written as an 8-byte float (0xfb), never shortened",
        ),
        ("float_minus_0", -0.0, "-0.0: the sign is kept"),
        ("float_1_5", 1.5, "1.5"),
        ("float_minus_2_5", -2.5, "-2.5"),
        (
            "float_0_1",
            0.1,
            "0.1 (not exactly representable; the bits are the nearest double)",
        ),
        ("float_1e300", 1e300, "1e300"),
        ("float_max", f64::MAX, "largest finite double"),
        (
            "float_min_positive",
            f64::MIN_POSITIVE,
            "smallest normal double",
        ),
        ("float_subnormal", 5e-324, "smallest subnormal double"),
        (
            "float_nan",
            f64::NAN,
            "NaN: the quiet NaN 0x7ff8000000000000",
        ),
        ("float_inf", f64::INFINITY, "+infinity"),
        ("float_minus_inf", f64::NEG_INFINITY, "-infinity"),
        (
            "float_integral",
            3.0,
            "3.0 stays a float (never written as an int)",
        ),
    ] {
        f.value(name, d, Value::Float(x));
    }
    f.decode_only(
        "float16_1",
        "half-precision 1.0 (0xf9) is accepted; encoders write 8 bytes",
        h("f93c00"),
    );
    f.decode_only("float16_1_5", "half-precision 1.5", h("f93e00"));
    f.decode_only("float16_minus_0", "half-precision -0.0", h("f98000"));
    f.decode_only("float16_inf", "half-precision +infinity", h("f97c00"));
    f.decode_only("float16_minus_inf", "half-precision -infinity", h("f9fc00"));
    f.decode_only(
        "float16_nan",
        "half-precision NaN reads as the quiet NaN",
        h("f97e00"),
    );
    f.decode_only(
        "float16_subnormal",
        "half-precision smallest subnormal 2^-24",
        h("f90001"),
    );
    f.decode_only("float16_max", "half-precision 65504", h("f97bff"));
    f.decode_only(
        "float32_1_5",
        "single-precision 1.5 (0xfa) is accepted",
        h("fa3fc00000"),
    );
    f.decode_only(
        "float32_0_1",
        "single-precision 0.1 widens exactly to 0.100000001490116...",
        h("fa3dcccccd"),
    );
    f.decode_only(
        "float32_nan",
        "single-precision quiet NaN reads as the quiet NaN",
        h("fa7fc00000"),
    );
    f.decode_only(
        "float32_minus_inf",
        "single-precision -infinity",
        h("faff800000"),
    );

    // -- non-shortest heads
    f.decode_only(
        "int_non_shortest_1",
        "0 with a one-byte argument (0x18 0x00): not preferred, still accepted",
        h("1800"),
    );
    f.decode_only(
        "int_non_shortest_8",
        "1 with an eight-byte argument",
        h("1b0000000000000001"),
    );
    f.decode_only(
        "text_non_shortest_length",
        "\"a\" with a one-byte length (0x78 0x01)",
        h("780161"),
    );
    f.decode_only(
        "bignum_small",
        "tag 2 holding 1: a bignum that fits is read as the plain int",
        h("c24101"),
    );
    f.decode_only(
        "bignum_leading_zeros",
        "tag 2 with leading zero bytes: accepted, value 2^64",
        h("c24b0000010000000000000000"),
    );
    f.decode_only(
        "negative_bignum_small",
        "tag 3 holding 0: the int -1",
        h("c340"),
    );

    // -- text
    f.value("text_empty", "empty text", s(""));
    f.value("text_ascii", "ASCII text", s("hello"));
    f.value("text_latin1", "two-byte UTF-8", s("héllo"));
    f.value("text_cjk", "three-byte UTF-8", s("日本語"));
    f.value(
        "text_non_bmp",
        "non-BMP code points (four-byte UTF-8; two UTF-16 units each)",
        s("😀𝄞"),
    );
    f.value(
        "text_controls",
        "NUL, newline, quote and backslash are ordinary characters",
        s("a\u{0}b\n\"\\"),
    );
    f.value(
        "text_24",
        "24 bytes: first length needing a one-byte argument",
        s(&"x".repeat(24)),
    );
    f.value(
        "text_256",
        "256 bytes: two-byte length",
        s(&"y".repeat(256)),
    );

    // -- bytes
    f.value("bytes_empty", "empty bytes", Value::Bytes(vec![].into()));
    f.value(
        "bytes_00ff",
        "bytes 00 ff",
        Value::Bytes(vec![0, 0xff].into()),
    );
    f.value(
        "bytes_24",
        "24 bytes: one-byte length",
        Value::Bytes((0..24).collect()),
    );

    // -- list, tuple
    f.value("list_empty", "empty list", Value::List(vec![]));
    f.value(
        "list_mixed",
        "list of mixed items",
        Value::List(vec![Value::Int(1), s("a"), Value::Null, Value::Float(2.5)]),
    );
    f.value(
        "list_nested",
        "nested lists",
        Value::List(vec![
            Value::List(vec![]),
            Value::List(vec![Value::Int(1), Value::List(vec![Value::Int(2)])]),
        ]),
    );
    f.value(
        "list_24",
        "24 items: one-byte length",
        Value::List((0..24).map(Value::Int).collect()),
    );
    f.value(
        "tuple_empty",
        "empty tuple: tag 42000 around an empty array",
        Value::Tuple(vec![]),
    );
    f.value(
        "tuple_one",
        "one-element tuple",
        Value::Tuple(vec![Value::Int(1)]),
    );
    f.value(
        "tuple_nested",
        "tuple holding a tuple and a list",
        Value::Tuple(vec![
            Value::Tuple(vec![s("a"), Value::Int(2)]),
            Value::List(vec![Value::Tuple(vec![])]),
        ]),
    );

    // -- map
    f.value("map_empty", "empty dict", Value::Map(vec![]));
    f.value(
        "map_text_keys",
        "dict with text keys; insertion order kept (not sorted)",
        Value::map([
            ("b", Value::Int(1)),
            ("a", Value::Int(2)),
            ("c", Value::Null),
        ]),
    );
    f.value(
        "map_non_text_keys",
        "dict keys of any hashable type: int, negative int, float, None, bool, bytes, bignum",
        kv(vec![
            (Value::Int(1), s("int")),
            (Value::Int(-7), s("negative int")),
            (Value::Float(1.5), s("float")),
            (Value::Null, s("None")),
            (Value::Bool(false), s("bool")),
            (Value::Bytes(vec![0x78].into()), s("bytes")),
            (Value::BigInt(BigInt::from(u64::MAX) + 1u32), s("bignum")),
        ]),
    );
    f.value(
        "map_tuple_keys",
        "dict with tuple keys, as {(0, 0): 'origin', (1, 2): 'p'}",
        kv(vec![
            (
                Value::Tuple(vec![Value::Int(0), Value::Int(0)]),
                s("origin"),
            ),
            (Value::Tuple(vec![Value::Int(1), Value::Int(2)]), s("p")),
        ]),
    );
    f.value(
        "map_frozenset_key",
        "dict with a frozenset key (tag 258 as a key)",
        kv(vec![(
            Value::Set(vec![Value::Int(1), Value::Int(2)]),
            Value::Bool(true),
        )]),
    );
    f.value(
        "map_nested",
        "dict of dicts and lists",
        Value::map([
            (
                "inner",
                Value::map([("x", Value::List(vec![Value::Int(1), Value::Int(2)]))]),
            ),
            ("empty", Value::Map(vec![])),
        ]),
    );

    // -- set
    f.value(
        "set_empty",
        "empty set: tag 258 around an empty array",
        Value::Set(vec![]),
    );
    f.value(
        "set_mixed",
        "set (or frozenset) of mixed items, order as sent",
        Value::Set(vec![
            Value::Int(3),
            s("a"),
            Value::Tuple(vec![Value::Int(1)]),
        ]),
    );

    // -- complex
    f.value(
        "complex",
        "complex(1.5, -2): tag 42001 around [re, im] as floats",
        Value::Complex { re: 1.5, im: -2.0 },
    );
    f.value(
        "complex_special",
        "complex(-0.0, nan)",
        Value::Complex {
            re: -0.0,
            im: f64::NAN,
        },
    );
    f.value(
        "complex_inf",
        "complex(inf, -inf)",
        Value::Complex {
            re: f64::INFINITY,
            im: f64::NEG_INFINITY,
        },
    );
    f.decode_only(
        "complex_half_floats",
        "complex parts may be any float width on input",
        h("d9a41182f93c00f9c000"),
    );

    // -- datetime, date
    f.value(
        "datetime_offset",
        "aware datetime: tag 0, RFC 3339 text as Python isoformat() writes it",
        Value::DateTime("2024-01-02T03:04:05.000006+01:00".into()),
    );
    f.value(
        "datetime_utc_z",
        "aware datetime in UTC with Z: tag 0",
        Value::DateTime("2024-01-02T03:04:05Z".into()),
    );
    f.value(
        "datetime_negative_offset",
        "aware datetime with a negative offset: tag 0",
        Value::DateTime("1999-12-31T23:59:59-05:00".into()),
    );
    f.value(
        "datetime_naive",
        "naive datetime (no offset): tag 42003, ISO 8601 text",
        Value::DateTime("2024-01-02T03:04:05".into()),
    );
    f.value(
        "datetime_naive_micro",
        "naive datetime with microseconds: tag 42003",
        Value::DateTime("2024-01-02T03:04:05.123456".into()),
    );
    f.value(
        "date",
        "date: tag 1004 (RFC 8943), full-date text",
        Value::Date("2024-01-02".into()),
    );

    // -- decimal
    for (name, e, m, d) in [
        (
            "decimal_123_45",
            -2i64,
            "12345",
            "Decimal('123.45'): tag 4 [-2, 12345]",
        ),
        (
            "decimal_minus_0_5",
            -1,
            "-5",
            "Decimal('-0.5'): tag 4 [-1, -5]",
        ),
        ("decimal_zero", 0, "0", "Decimal('0')"),
        (
            "decimal_positive_exponent",
            3,
            "1",
            "Decimal('1E+3'): tag 4 [3, 1]",
        ),
        (
            "decimal_bignum_mantissa",
            -30,
            "1234567890123456789012345678901234567890",
            "Decimal('1234567890.123456789012345678901234567890'): the mantissa is a bignum",
        ),
        (
            "decimal_negative_bignum_mantissa",
            -2,
            "-18446744073709551617",
            "a negative bignum mantissa (tag 3)",
        ),
    ] {
        f.value(
            name,
            d,
            Value::Decimal {
                exponent: e,
                mantissa: big(m),
            },
        );
    }

    // -- ndarray
    for dtype in DType::ALL {
        for (shape, what) in [
            (vec![], "0-d (shape [])"),
            (vec![3], "shape [3]"),
            (vec![2, 3], "shape [2, 3]"),
        ] {
            let sname = match shape.len() {
                0 => "scalar".to_owned(),
                _ => shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("x"),
            };
            let tag = cbor::typed_array_tag(dtype);
            f.value(
                &format!("ndarray_{}_{sname}", dtype.name()),
                &format!(
                    "numpy {} array, {what}, C order: tag 40 [shape, typed array tag {tag} (little-endian)]",
                    dtype.name()
                ),
                sample_array(dtype, shape, Order::RowMajor),
            );
        }
    }
    f.value(
        "ndarray_float64_fortran",
        "[[1, 2, 3], [4, 5, 6]] in Fortran order: tag 1040, buffer column-major (1, 4, 2, 5, 3, 6)",
        f64_array(
            vec![2, 3],
            Order::ColumnMajor,
            &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0],
        ),
    );
    f.value(
        "ndarray_int32_fortran_3d",
        "int32 array of shape [2, 2, 2], Fortran order",
        sample_array(DType::I32, vec![2, 2, 2], Order::ColumnMajor),
    );
    f.value(
        "ndarray_float64_empty",
        "float64 array of shape [0, 4]: no data",
        sample_array(DType::F64, vec![0, 4], Order::RowMajor),
    );
    f.value(
        "ndarray_uint8_empty_1d",
        "uint8 array of shape [0]",
        sample_array(DType::U8, vec![0], Order::RowMajor),
    );
    {
        let mut b = h("d856 50");
        b.extend(1.5f64.to_le_bytes());
        b.extend((-2.0f64).to_le_bytes());
        f.decode_only(
            "typed_array_bare",
            "a bare RFC 8746 typed array (tag 86, float64 LE) without tag 40 reads as a 1-d C-order array",
            b,
        );
        let mut b = h("d828 82 81 02 d852 50");
        b.extend(1.5f64.to_be_bytes());
        b.extend((-2.0f64).to_be_bytes());
        f.decode_only(
            "typed_array_big_endian",
            "big-endian typed arrays (tags 65-67, 73-75, 80-82) are accepted and swapped to little-endian",
            b,
        );
        f.decode_only(
            "typed_array_big_endian_int16",
            "int16 big-endian (tag 73) [1, -2]",
            h("d828 82 81 02 d849 44 0001 fffe"),
        );
        f.decode_only(
            "typed_array_uint8_clamped",
            "uint8 clamped (tag 68) reads as uint8",
            h("d828 82 81 02 d844 42 01ff"),
        );
    }

    // -- pickled
    f.value(
        "pickled",
        "an opted-in pickled object: tag 42002 around bytes (here pickle.dumps(1, 4))",
        Value::Pickled(h("80044b012e")),
    );

    // -- nesting and composites
    let d = cbor::MAX_DEPTH;
    f.value(
        "nesting_limit",
        &format!(
            "the int 0 inside {d} nested arrays: the int is at depth {d}, the deepest allowed"
        ),
        nested_lists(d, Value::Int(0)),
    );
    f.value(
        "nesting_limit_empty",
        &format!(
            "{} nested arrays, the innermost empty: the innermost array is at depth {d} and holds nothing, so allowed",
            d + 1
        ),
        nested_lists(d, Value::List(vec![])),
    );
    f.value(
        "kitchen_sink",
        "a dict holding one of every kind of value",
        Value::map([
            ("none", Value::Null),
            ("bool", Value::Bool(true)),
            ("int", Value::Int(-42)),
            ("bigint", Value::BigInt(BigInt::from(u64::MAX) * 3u32)),
            ("float", Value::Float(2.5)),
            ("str", s("ü")),
            ("bytes", Value::Bytes(vec![1, 2].into())),
            ("list", Value::List(vec![Value::Int(1)])),
            ("tuple", Value::Tuple(vec![Value::Int(1), Value::Int(2)])),
            ("dict", kv(vec![(Value::Int(1), Value::Tuple(vec![]))])),
            ("set", Value::Set(vec![Value::Int(1)])),
            ("complex", Value::Complex { re: 0.0, im: 1.0 }),
            (
                "datetime",
                Value::DateTime("2024-01-02T03:04:05+00:00".into()),
            ),
            ("date", Value::Date("2024-01-02".into())),
            (
                "decimal",
                Value::Decimal {
                    exponent: -1,
                    mantissa: BigInt::from(15),
                },
            ),
            ("ndarray", f64_array(vec![2], Order::RowMajor, &[1.0, 2.0])),
            ("pickled", Value::Pickled(h("80044b012e"))),
        ]),
    );

    // -- keys equal in Python, distinct on the wire (PROTOCOL.md 7.2)
    f.value(
        "map_keys_collide_in_python",
        "{1: \"a\", 1.0: \"b\", true: \"c\"}: valid on the wire (three kinds), but a Python \
         receiver MUST reject it with not_transferable naming the keys",
        kv(vec![
            (Value::Int(1), s("a")),
            (Value::Float(1.0), s("b")),
            (Value::Bool(true), s("c")),
        ]),
    );
    f.value(
        "set_elements_collide_in_python",
        "set [1, 1.0]: valid on the wire, but a Python receiver MUST reject it with \
         not_transferable naming the elements",
        Value::Set(vec![Value::Int(1), Value::Float(1.0)]),
    );
    f.value(
        "map_decimal_keys_differ",
        "{Decimal('1.50'): 1, Decimal('1.5'): 2}: decimals differ by exponent on the wire, \
         collide in Python",
        kv(vec![
            (
                Value::Decimal {
                    exponent: -2,
                    mantissa: BigInt::from(150),
                },
                Value::Int(1),
            ),
            (
                Value::Decimal {
                    exponent: -1,
                    mantissa: BigInt::from(15),
                },
                Value::Int(2),
            ),
        ]),
    );

    // -- invalid
    f.invalid(
        "trailing_bytes",
        "one item then another: a frame holds exactly one item",
        h("0102"),
        "1 trailing byte(s) after the item",
    );
    f.invalid(
        "trailing_zero_byte",
        "a map followed by a stray 0x00",
        h("a0 00"),
        "trailing byte",
    );
    f.invalid(
        "duplicate_text_keys",
        "{\"a\": 1, \"a\": 2}: duplicate map keys are invalid (RFC 8949 5.6), never last-wins",
        h("a2 6161 01 6161 02"),
        "duplicate map key \"a\"",
    );
    f.invalid(
        "duplicate_int_keys",
        "{1: 1, 1: 2}",
        h("a2 01 01 01 02"),
        "duplicate map key 1",
    );
    f.invalid(
        "duplicate_tuple_keys",
        "{(1,): 0, (1,): 0}",
        h("a2 d9a410 81 01 00 d9a410 81 01 00"),
        "duplicate map key (1,)",
    );
    f.invalid(
        "duplicate_set_element",
        "tag 258 around [1, 1]",
        h("d90102 82 01 01"),
        "duplicate set element 1",
    );
    f.invalid("empty_input", "no bytes at all", h(""), "truncated");
    f.invalid(
        "truncated_uint",
        "0x19 needs two argument bytes, has one",
        h("19 01"),
        "truncated",
    );
    f.invalid(
        "truncated_text",
        "text of length 2 with 1 byte",
        h("62 61"),
        "truncated",
    );
    f.invalid(
        "truncated_array",
        "array of 2 items with 1",
        h("82 01"),
        "truncated",
    );
    f.invalid(
        "truncated_map",
        "map of 1 entry with only the key",
        h("a1 01"),
        "truncated",
    );
    f.invalid(
        "huge_byte_length",
        "byte string claiming 4 GiB: refused before allocating",
        h("5a ffffffff"),
        "truncated: length 4294967295 exceeds the 0 byte(s) left",
    );
    f.invalid(
        "huge_array_length",
        "array claiming 2^64-1 items: refused before allocating",
        h("9b ffffffffffffffff"),
        "truncated: length 18446744073709551615",
    );
    f.invalid(
        "truncated_float",
        "0xfb with 4 of 8 bytes",
        h("fb 3ff00000"),
        "truncated",
    );
    f.invalid(
        "indefinite_array",
        "indefinite-length array [_ 1]",
        h("9f 01 ff"),
        "indefinite-length",
    );
    f.invalid(
        "indefinite_map",
        "indefinite-length map",
        h("bf ff"),
        "indefinite-length",
    );
    f.invalid(
        "indefinite_bytes",
        "indefinite-length byte string",
        h("5f 41 00 ff"),
        "indefinite-length",
    );
    f.invalid(
        "indefinite_text",
        "indefinite-length text string",
        h("7f 61 61 ff"),
        "indefinite-length",
    );
    f.invalid(
        "break_alone",
        "a lone break code",
        h("ff"),
        "indefinite-length",
    );
    f.invalid(
        "reserved_info",
        "additional information 28 is reserved",
        h("1c"),
        "reserved additional information 28",
    );
    f.invalid(
        "invalid_utf8",
        "text with bytes ff fe",
        h("62 fffe"),
        "not valid UTF-8",
    );
    f.invalid(
        "utf8_surrogate",
        "text holding an encoded UTF-16 surrogate (ed a0 80)",
        h("63 eda080"),
        "not valid UTF-8",
    );
    f.invalid(
        "utf8_overlong",
        "overlong encoding of '/' (c0 af)",
        h("62 c0af"),
        "not valid UTF-8",
    );
    f.invalid(
        "invalid_utf8_in_datetime",
        "tag 0 around invalid UTF-8",
        h("c0 61 ff"),
        "not valid UTF-8",
    );
    f.invalid(
        "undefined",
        "simple value 23 (undefined) is not used",
        h("f7"),
        "undefined",
    );
    f.invalid(
        "simple_16",
        "unassigned simple value 16",
        h("f0"),
        "unsupported simple value 16",
    );
    f.invalid(
        "simple_255",
        "one-byte simple value 255",
        h("f8 ff"),
        "unsupported simple value 255",
    );
    f.invalid(
        "unknown_tag",
        "tag 999 around 0",
        h("d903e7 00"),
        "unsupported tag 999",
    );
    f.invalid(
        "epoch_datetime_tag",
        "tag 1 (epoch-based datetime) is not part of v1",
        h("c1 1a 5e0be100"),
        "unsupported tag 1",
    );
    f.invalid(
        "self_describe_tag",
        "tag 55799 (self-described CBOR) is not accepted either",
        h("d9d9f7 00"),
        "unsupported tag 55799",
    );
    f.invalid(
        "bignum_not_bytes",
        "tag 2 around an int",
        h("c2 01"),
        "tag 2 must enclose a byte string",
    );
    f.invalid(
        "datetime_not_text",
        "tag 0 around an int",
        h("c0 01"),
        "tag 0 must enclose a text string",
    );
    f.invalid(
        "date_not_text",
        "tag 1004 around bytes",
        h("d903ec 41 00"),
        "tag 1004 must enclose a text string",
    );
    f.invalid(
        "tuple_not_array",
        "tag 42000 around an int",
        h("d9a410 01"),
        "tag 42000 must enclose an array",
    );
    f.invalid(
        "set_not_array",
        "tag 258 around a map",
        h("d90102 a0"),
        "tag 258 must enclose an array",
    );
    f.invalid(
        "complex_ints",
        "tag 42001 around [1, 2]: the parts must be floats",
        h("d9a411 82 01 02"),
        "tag 42001 must enclose [float, float]",
    );
    f.invalid(
        "complex_three",
        "tag 42001 around three floats",
        h("d9a411 83 f93c00 f93c00 f93c00"),
        "tag 42001 must enclose [float, float]",
    );
    f.invalid(
        "decimal_three_items",
        "tag 4 around three items",
        h("c4 83 01 01 01"),
        "tag 4 must enclose an array of 2 items",
    );
    f.invalid(
        "decimal_float_mantissa",
        "tag 4 with a float mantissa",
        h("c4 82 21 f93c00"),
        "decimal mantissa must be an integer",
    );
    f.decode_only(
        "decimal_exponent_as_bignum",
        "tag 4 whose exponent is a bignum that fits i64 (-2 as tag 3 around 01): accepted as the int",
        h("c4 82 c3 41 01 19 3039"),
    );
    f.invalid(
        "decimal_bignum_exponent",
        "tag 4 with an exponent beyond i64",
        h("c4 82 c2 49 010000000000000000 01"),
        "decimal exponent must be an integer fitting i64",
    );
    f.invalid(
        "pickle_not_bytes",
        "tag 42002 around text",
        h("d9a412 61 61"),
        "tag 42002 must enclose a byte string",
    );
    {
        let mut b = h("d828 82 81 02 d856 48");
        b.extend([0; 8]);
        f.invalid(
            "ndarray_shape_data_mismatch",
            "float64 array of shape [2] with 8 bytes of data (needs 16)",
            b,
            "array of shape [2] and float64 needs a different byte count than 8",
        );
    }
    f.invalid(
        "ndarray_partial_element",
        "bare float64 typed array of 3 bytes",
        h("d856 43 000000"),
        "not a multiple of 8",
    );
    f.invalid(
        "ndarray_negative_dim",
        "shape [-1]",
        h("d828 82 81 20 d840 40"),
        "array shape must be an array of unsigned integers",
    );
    f.invalid(
        "ndarray_data_not_typed",
        "tag 40 with plain bytes as data",
        h("d828 82 81 01 41 00"),
        "array data must be a typed array",
    );
    f.invalid(
        "ndarray_one_item",
        "tag 40 around a 1-item array",
        h("d828 81 80"),
        "tag 40 must enclose an array of 2 items",
    );
    let too_deep = format!("nesting deeper than {d}");
    f.invalid(
        "nesting_too_deep",
        &format!("the int 0 inside {} nested arrays: depth {}", d + 1, d + 1),
        cbor::encode(&nested_lists(d + 1, Value::Int(0))),
        &too_deep,
    );
    f.invalid(
        "nesting_hostile",
        &format!(
            "1000 bytes of 0x81 (nested one-element arrays): refused at depth {}, not a stack overflow",
            d + 1
        ),
        vec![0x81; 1000],
        &too_deep,
    );
    f.invalid(
        "nesting_tuples",
        &format!(
            "{} nested tuples around 0: each tag and its array are two levels, so the innermost array is at depth {}",
            d / 2 + 1,
            d + 1
        ),
        {
            let v = (0..d / 2 + 1).fold(Value::Int(0), |v, _| Value::Tuple(vec![v]));
            cbor::encode(&v)
        },
        &too_deep,
    );
    f.invalid_value(
        "map_key_deep",
        &format!(
            "a map key holding the int 0 inside {d} nested arrays: the int is at depth {}",
            d + 1
        ),
        kv(vec![(nested_lists(d, Value::Int(0)), Value::Null)]),
        &too_deep,
    );
    f
}

// ---- handshake.json ---------------------------------------------------------

const TOKEN: &[u8] = b"correct horse battery staple";

fn server_nonce() -> [u8; NONCE_LEN] {
    std::array::from_fn(|i| i as u8)
}

fn client_nonce() -> [u8; NONCE_LEN] {
    std::array::from_fn(|i| 0xa0 + i as u8)
}

fn server_info() -> Value {
    let engine = |i: u64, port: u64, pid: Option<u64>, alive: bool, restarts: u64| {
        Value::map([
            ("index", Value::from(i)),
            ("host", s("127.0.0.1")),
            ("port", Value::from(port)),
            ("pid", Value::from(pid)),
            ("alive", Value::Bool(alive)),
            ("restarts", Value::from(restarts)),
        ])
    };
    Value::map([
        ("role", s("server")),
        ("name", s("lab")),
        ("group", s("default")),
        ("hostname", s("node7")),
        ("version", s("0.1.0")),
        ("pid", Value::from(4242u64)),
        (
            "engines",
            Value::List(vec![
                engine(0, 40001, Some(4243), true, 0),
                engine(1, 40002, None, false, 1),
            ]),
        ),
    ])
}

fn handshake() -> File {
    let mut f = File::new(
        "handshake.json",
        "Protocol v1 handshake messages (CBOR payloads without the length prefix). `message` names the typed \
         message: hello, challenge, auth, welcome, or reply (an err frame ending a failed handshake). `proofs` \
         gives the HMAC-SHA256 proofs for the token and nonces used by the auth and welcome vectors.",
        Msg::Hello,
    );
    let sn = server_nonce();
    let cn = client_nonce();
    let cp = client_proof(TOKEN, &sn, &cn);
    let sp = server_proof(TOKEN, &sn, &cn);
    let mut client_msg = b"srpy-v1 client".to_vec();
    client_msg.extend(sn);
    client_msg.extend(cn);
    let mut server_msg = b"srpy-v1 server".to_vec();
    server_msg.extend(cn);
    server_msg.extend(sn);
    f.extra.push((
        "proofs",
        json!([{
            "name": "token_proofs",
            "description": "client proof = HMAC-SHA256(key = token, \"srpy-v1 client\" || server_nonce || client_nonce); server proof = HMAC-SHA256(key = token, \"srpy-v1 server\" || client_nonce || server_nonce)",
            "token": hex::encode(TOKEN),
            "token_text": std::str::from_utf8(TOKEN).unwrap(),
            "server_nonce": hex::encode(sn),
            "client_nonce": hex::encode(cn),
            "client_message": hex::encode(&client_msg),
            "client_proof": hex::encode(&cp),
            "server_message": hex::encode(&server_msg),
            "server_proof": hex::encode(&sp),
        }]),
    ));

    let hello =
        |f: &mut File, name: &str, d: &str, v: Hello| f.value_as(name, d, v.to_value(), Msg::Hello);
    hello(
        &mut f,
        "hello",
        "client hello: supports versions 1..=1, identifies itself, accepts output frames and pickled values",
        Hello::new("srpy-rust/0.1.0", vec![Feature::Output, Feature::Pickle]),
    );
    hello(
        &mut f,
        "hello_no_features",
        "hello announcing no features",
        Hello::new("srpy-java/0.1.0", vec![]),
    );
    hello(
        &mut f,
        "hello_future_client",
        "a newer client supporting versions 1..=3 and a feature v1 does not know (kept as unknown, ignored)",
        Hello {
            min_version: 1,
            max_version: 3,
            client: "srpy-python/2.0.0".into(),
            features: vec![Feature::Output, Feature::Unknown("zstd".into())],
        },
    );
    hello(
        &mut f,
        "hello_too_new",
        "a client supporting only versions 2..=3: a v1 server answers with the version_mismatch error frame",
        Hello {
            min_version: 2,
            max_version: 3,
            client: "srpy-rust/9.0.0".into(),
            features: vec![],
        },
    );
    f.value_as(
        "hello_minimal",
        "hello with only the required fields: client defaults to \"\", features to []",
        Value::map([
            ("t", s("hello")),
            ("versions", Value::List(vec![Value::Int(1), Value::Int(1)])),
        ]),
        Msg::Hello,
    );
    f.value_as(
        "hello_unknown_field",
        "hello with a field v1 does not know: ignored (typed_hex is the message written back)",
        Value::map([
            ("t", s("hello")),
            ("versions", Value::List(vec![Value::Int(1), Value::Int(1)])),
            ("client", s("x/1")),
            ("features", Value::List(vec![])),
            ("compression", Value::List(vec![s("zstd")])),
        ]),
        Msg::Hello,
    );
    let challenge = |f: &mut File, name: &str, d: &str, v: Challenge| {
        f.value_as(name, d, v.to_value(), Msg::Challenge)
    };
    challenge(
        &mut f,
        "challenge_server_token",
        "server's answer to hello: version 1, role server, token auth, 32-byte server nonce (the proofs' server_nonce)",
        Challenge {
            version: 1,
            role: Role::Server,
            auth: AuthMethod::Token,
            nonce: sn,
            features: vec![Feature::Output, Feature::Pickle],
        },
    );
    challenge(
        &mut f,
        "challenge_engine_none",
        "an engine on loopback without a token: auth none (the nonce is still sent)",
        Challenge {
            version: 1,
            role: Role::Engine,
            auth: AuthMethod::None,
            nonce: [0x55; NONCE_LEN],
            features: vec![Feature::Output],
        },
    );
    let auth = |f: &mut File, name: &str, d: &str, v: AuthReply| {
        f.value_as(name, d, v.to_value(), Msg::Auth)
    };
    auth(
        &mut f,
        "auth_token",
        "client's auth: its own 32-byte nonce and the client proof (see proofs)",
        AuthReply {
            nonce: cn,
            proof: cp.clone(),
        },
    );
    auth(
        &mut f,
        "auth_none",
        "auth for auth method none: client nonce and an empty proof",
        AuthReply {
            nonce: [0x66; NONCE_LEN],
            proof: vec![],
        },
    );
    let welcome = |f: &mut File, name: &str, d: &str, v: Welcome| {
        f.value_as(name, d, v.to_value(), Msg::Welcome)
    };
    welcome(
        &mut f,
        "welcome_server",
        "server's welcome: server proof (see proofs) and info with the engine directory",
        Welcome {
            proof: sp.clone(),
            info: server_info(),
        },
    );
    welcome(
        &mut f,
        "welcome_engine_none",
        "an engine's welcome without authentication: empty proof, info about the engine",
        Welcome {
            proof: vec![],
            info: Value::map([
                ("role", s("engine")),
                ("index", Value::from(0u64)),
                ("pid", Value::from(4243u64)),
                ("name", s("lab")),
                ("group", s("default")),
                ("hostname", s("node7")),
                ("version", s("0.1.0")),
            ]),
        },
    );
    f.value_as(
        "welcome_without_info",
        "welcome without info: info reads as null",
        Value::map([("t", s("welcome")), ("proof", Value::Bytes(vec![].into()))]),
        Msg::Welcome,
    );
    let too_new = Hello {
        min_version: 2,
        max_version: 3,
        client: String::new(),
        features: vec![],
    };
    f.value_as(
        "version_mismatch_error",
        "the server's answer to hello_too_new: an err frame with null id and kind version naming both ranges; then the server closes",
        Reply::err(None, ErrorKind::Version, too_new.version_mismatch()).into_value(),
        Msg::Reply,
    );
    f.value_as(
        "auth_failed_error",
        "the server's answer to an auth with a wrong proof: err frame, null id, kind auth; then the server closes",
        Reply::err(None, ErrorKind::Auth, "authentication failed: wrong token").into_value(),
        Msg::Reply,
    );
    f.value_as(
        "connection_limit_error",
        "sent instead of a challenge when the peer is at its connection limit: err frame, null id, kind limit; then the peer closes",
        Reply::err(None, ErrorKind::Limit, "too many connections (limit 256)").into_value(),
        Msg::Reply,
    );
    f.value_as(
        "handshake_timeout_error",
        "sent when the handshake is not completed within the peer's deadline: kind protocol; then the peer closes",
        Reply::err(None, ErrorKind::Protocol, "handshake not completed within 10.0 s").into_value(),
        Msg::Reply,
    );

    let m = |pairs: Vec<(&str, Value)>| cbor::encode(&Value::map(pairs));
    let inv = |f: &mut File, name: &str, d: &str, hex: Vec<u8>, e: &str, msg: Msg| {
        f.invalid_as(name, d, hex, e, msg, None)
    };
    inv(
        &mut f,
        "hello_versions_not_array",
        "versions must be [min, max]",
        m(vec![("t", s("hello")), ("versions", Value::Int(1))]),
        "field 'versions' must be an array",
        Msg::Hello,
    );
    inv(
        &mut f,
        "hello_versions_reversed",
        "versions [2, 1]: min > max",
        m(vec![
            ("t", s("hello")),
            ("versions", Value::List(vec![Value::Int(2), Value::Int(1)])),
        ]),
        "field 'versions' must be [min, max] with 0 <= min <= max",
        Msg::Hello,
    );
    inv(
        &mut f,
        "hello_missing_versions",
        "hello without versions",
        m(vec![("t", s("hello"))]),
        "missing field 'versions'",
        Msg::Hello,
    );
    inv(
        &mut f,
        "hello_missing_t",
        "a map without the message type",
        m(vec![(
            "versions",
            Value::List(vec![Value::Int(1), Value::Int(1)]),
        )]),
        "missing field 't'",
        Msg::Hello,
    );
    inv(
        &mut f,
        "hello_not_a_map",
        "a handshake message must be a map",
        cbor::encode(&Value::List(vec![s("hello")])),
        "expected a map, got list",
        Msg::Hello,
    );
    inv(
        &mut f,
        "challenge_unknown_role",
        "role must be server or engine",
        m(vec![
            ("t", s("challenge")),
            ("version", Value::Int(1)),
            ("role", s("proxy")),
            ("auth", s("none")),
            ("nonce", Value::Bytes(vec![0; 32].into())),
        ]),
        "unknown role 'proxy'",
        Msg::Challenge,
    );
    inv(
        &mut f,
        "challenge_unknown_auth",
        "an auth method the client does not know",
        m(vec![
            ("t", s("challenge")),
            ("version", Value::Int(1)),
            ("role", s("server")),
            ("auth", s("kerberos")),
            ("nonce", Value::Bytes(vec![0; 32].into())),
        ]),
        "unknown auth method 'kerberos'",
        Msg::Challenge,
    );
    inv(
        &mut f,
        "auth_short_nonce",
        "the client nonce must be exactly 32 bytes",
        m(vec![
            ("t", s("auth")),
            ("nonce", Value::Bytes(vec![1].into())),
            ("proof", Value::Bytes(vec![].into())),
        ]),
        "nonce must be 32 bytes, got 1",
        Msg::Auth,
    );
    inv(
        &mut f,
        "auth_missing_proof",
        "auth without proof (even auth none sends an empty proof)",
        m(vec![
            ("t", s("auth")),
            ("nonce", Value::Bytes(vec![0; 32].into())),
        ]),
        "missing field 'proof'",
        Msg::Auth,
    );
    inv(
        &mut f,
        "welcome_got_challenge",
        "a challenge where a welcome is expected",
        m(vec![
            ("t", s("challenge")),
            ("proof", Value::Bytes(vec![].into())),
        ]),
        "expected message 'welcome', got 'challenge'",
        Msg::Welcome,
    );
    f
}

// ---- requests.json ----------------------------------------------------------

fn requests() -> File {
    let mut f = File::new(
        "requests.json",
        "Protocol v1 request messages (CBOR payloads without the length prefix). Each parses into a request \
         with the op named by its `op` field; `typed_hex`, when present, is the request written back from its \
         typed form (defaults filled in, unknown fields dropped).",
        Msg::Request,
    );
    let vars = |pairs: Vec<(&str, Value)>| {
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<Vec<_>>()
    };
    let mut id = 0u64;
    let mut req = |f: &mut File, name: &str, d: &str, op: Op| {
        id += 1;
        f.value(name, d, Request::new(id, op).into_value());
    };
    req(
        &mut f,
        "ping",
        "ping: answered at once with \"pong\"",
        Op::Ping,
    );
    req(
        &mut f,
        "whoami",
        "whoami: a map describing the engine",
        Op::Whoami,
    );
    req(
        &mut f,
        "set",
        "set a = 1, b = [1.5, 'x']: answers null",
        Op::Set {
            vars: vars(vec![
                ("a", Value::Int(1)),
                ("b", Value::List(vec![Value::Float(1.5), s("x")])),
            ]),
        },
    );
    req(
        &mut f,
        "get",
        "get one variable: answers its value",
        Op::Get { name: "a".into() },
    );
    req(
        &mut f,
        "get_many",
        "get several variables: answers a map name -> value",
        Op::GetMany {
            names: vec!["a".into(), "b".into()],
        },
    );
    req(
        &mut f,
        "names",
        "the user names bound in the namespace: answers a list of text",
        Op::Names,
    );
    req(
        &mut f,
        "delete",
        "delete variables: answers null",
        Op::Delete {
            names: vec!["a".into(), "b".into()],
        },
    );
    req(
        &mut f,
        "clear",
        "reset the namespace: answers null",
        Op::Clear,
    );
    req(
        &mut f,
        "eval",
        "evaluate an expression; vars omitted when empty",
        Op::Eval {
            expr: "a + 1".into(),
            vars: vec![],
        },
    );
    req(
        &mut f,
        "eval_vars",
        "bind x = 2 in the namespace, then evaluate",
        Op::Eval {
            expr: "x ** 10".into(),
            vars: vars(vec![("x", Value::Int(2))]),
        },
    );
    req(
        &mut f,
        "exec",
        "execute statements: answers null",
        Op::Exec {
            code: "import math\ny = math.pi\n".into(),
            vars: vec![],
        },
    );
    req(
        &mut f,
        "exec_vars",
        "bind variables, then execute",
        Op::Exec {
            code: "z = x * 2".into(),
            vars: vars(vec![("x", Value::Float(0.5))]),
        },
    );
    req(
        &mut f,
        "vexec",
        "execute in a fresh temporary namespace holding only vars; answers a map of the names in get",
        Op::Vexec {
            code: "r = n * n".into(),
            get: vec!["r".into()],
            vars: vars(vec![("n", Value::Int(12))]),
        },
    );
    req(
        &mut f,
        "call",
        "call math.pow(2.0, 10): args and kwargs always written",
        Op::Call {
            name: "math.pow".into(),
            args: vec![Value::Float(2.0), Value::Int(10)],
            kwargs: vec![],
        },
    );
    req(
        &mut f,
        "call_kwargs",
        "call a function from the namespace with keyword arguments",
        Op::Call {
            name: "mymod.fit".into(),
            args: vec![f64_array(vec![3], Order::RowMajor, &[1.0, 2.0, 3.0])],
            kwargs: vars(vec![("degree", Value::Int(2)), ("full", Value::Bool(true))]),
        },
    );
    req(
        &mut f,
        "describe",
        "describe a dotted name: answers a map (name, kind, type, doc, signature, attributes)",
        Op::Describe {
            name: "math.sqrt".into(),
        },
    );
    req(
        &mut f,
        "install_source",
        "install a module from its source text",
        Op::Install {
            name: "mymod".into(),
            source: Some("def fit(x, degree=1, full=False):\n    return x\n".into()),
            archive: None,
            is_package: false,
        },
    );
    req(
        &mut f,
        "install_package_source",
        "install a package from the source of its __init__.py",
        Op::Install {
            name: "mypkg".into(),
            source: Some("VERSION = 1\n".into()),
            archive: None,
            is_package: true,
        },
    );
    req(
        &mut f,
        "install_archive",
        "install a package from a zip archive (holding pkg/__init__.py)",
        Op::Install {
            name: "pkg".into(),
            source: None,
            archive: Some(h("504b0304140000000000831822583b89f68b06000000060000000f000000706b672f5f5f696e69745f5f2e707978203d20310a504b01021403140000000000831822583b89f68b06000000060000000f0000000000000000000000800100000000706b672f5f5f696e69745f5f2e7079504b050600000000010001003d000000330000000000")),
            is_package: true,
        },
    );
    req(
        &mut f,
        "import",
        "import modules into the namespace (\"name\" or \"name as alias\")",
        Op::Import {
            modules: vec!["os.path".into(), "numpy as np".into()],
        },
    );
    req(
        &mut f,
        "is_busy",
        "is the engine running a request: answered at once with a bool",
        Op::IsBusy,
    );
    req(
        &mut f,
        "wait",
        "wait until idle, at most 1.5 s: answers whether the engine is idle",
        Op::Wait { timeout: Some(1.5) },
    );
    req(
        &mut f,
        "wait_forever",
        "wait without a timeout (null)",
        Op::Wait { timeout: None },
    );
    req(
        &mut f,
        "interrupt",
        "interrupt the running request: answered at once with whether something was running",
        Op::Interrupt,
    );
    req(
        &mut f,
        "benchmark",
        "run the benchmark 10 times: answers seconds (float)",
        Op::Benchmark { cycles: 10 },
    );
    req(
        &mut f,
        "apply",
        "call a pickled function (here pickle.dumps(math.sqrt, 4)) with args",
        Op::Apply {
            function: h("80049511000000000000008c046d617468948c04737172749493942e"),
            args: vec![Value::Float(2.0)],
            kwargs: vec![],
        },
    );
    req(
        &mut f,
        "engines",
        "server only: the engine directory",
        Op::Engines,
    );
    req(
        &mut f,
        "restart",
        "server only: kill and restart engine 1",
        Op::Restart { index: 1 },
    );
    req(
        &mut f,
        "unknown_op",
        "an op v1 does not know: well-formed; the receiver answers unsupported_op and keeps the connection",
        Op::Unknown("teleport".into()),
    );

    let m = |pairs: Vec<(&str, Value)>| Value::map(pairs);
    f.value(
        "id_zero",
        "ids are any unsigned 64-bit integer chosen by the client, 0 included",
        Request::new(0, Op::Ping).into_value(),
    );
    f.value(
        "id_max",
        "id 2^64-1",
        Request::new(u64::MAX, Op::Ping).into_value(),
    );
    f.value(
        "field_order",
        "fields may come in any order",
        m(vec![
            ("op", s("get")),
            ("name", s("a")),
            ("id", Value::Int(5)),
            ("t", s("req")),
        ]),
    );
    f.value(
        "unknown_field",
        "a field v1 does not know is ignored",
        m(vec![
            ("t", s("req")),
            ("id", Value::Int(6)),
            ("op", s("ping")),
            ("priority", Value::Int(9)),
        ]),
    );
    f.value(
        "unknown_op_with_fields",
        "an unknown op with fields: still well-formed, answered unsupported_op",
        m(vec![
            ("t", s("req")),
            ("id", Value::Int(7)),
            ("op", s("teleport")),
            ("to", s("mars")),
        ]),
    );
    f.value(
        "benchmark_default",
        "benchmark without cycles: 10",
        m(vec![
            ("t", s("req")),
            ("id", Value::Int(8)),
            ("op", s("benchmark")),
        ]),
    );
    f.value(
        "eval_empty_vars",
        "eval with an empty vars map: the same as without",
        m(vec![
            ("t", s("req")),
            ("id", Value::Int(9)),
            ("op", s("eval")),
            ("expr", s("1")),
            ("vars", Value::Map(vec![])),
        ]),
    );
    f.value(
        "call_minimal",
        "call without args and kwargs: none",
        m(vec![
            ("t", s("req")),
            ("id", Value::Int(10)),
            ("op", s("call")),
            ("name", s("gc.collect")),
        ]),
    );
    f.value(
        "vexec_minimal",
        "vexec without get and vars: an empty result map",
        m(vec![
            ("t", s("req")),
            ("id", Value::Int(11)),
            ("op", s("vexec")),
            ("code", s("pass")),
        ]),
    );
    f.value(
        "install_is_package_default",
        "install without is_package: false",
        m(vec![
            ("t", s("req")),
            ("id", Value::Int(12)),
            ("op", s("install")),
            ("name", s("m")),
            ("source", s("x = 1\n")),
        ]),
    );
    f.value(
        "set_value_254_levels",
        "set of a value nested 254 levels below its own top (the deepest a value may be, \
         PROTOCOL.md 6.3): the int sits at depth 256 of the message",
        Request::new(
            14,
            Op::Set {
                vars: vec![(
                    "v".into(),
                    nested_lists(cbor::MAX_VALUE_DEPTH, Value::Int(0)),
                )],
            },
        )
        .into_value(),
    );
    f.value(
        "set_name_not_identifier",
        "vars names are any text, bound as they are (a receiver does not check for identifiers)",
        Request::new(
            15,
            Op::Set {
                vars: vec![("not an identifier".into(), Value::Int(1))],
            },
        )
        .into_value(),
    );
    f.value(
        "wait_int_timeout",
        "an int timeout is read as seconds (written back as a float)",
        m(vec![
            ("t", s("req")),
            ("id", Value::Int(13)),
            ("op", s("wait")),
            ("timeout", Value::Int(2)),
        ]),
    );

    let r = |pairs: Vec<(&str, Value)>| cbor::encode(&Value::map(pairs));
    let mut inv = |name: &str, d: &str, hex: Vec<u8>, e: &str, id: Option<u64>| {
        f.invalid_as(name, d, hex, e, Msg::Request, Some(id));
    };
    inv(
        "not_a_map",
        "a request must be a map",
        cbor::encode(&Value::List(vec![])),
        "expected a map, got list",
        None,
    );
    inv(
        "missing_id",
        "without an id the error cannot be tied to a request: err frame with null id",
        r(vec![("t", s("req")), ("op", s("ping"))]),
        "missing field 'id'",
        None,
    );
    inv(
        "negative_id",
        "ids are unsigned",
        r(vec![
            ("t", s("req")),
            ("id", Value::Int(-1)),
            ("op", s("ping")),
        ]),
        "field 'id' must be an unsigned integer, got int",
        None,
    );
    inv(
        "wrong_t",
        "t must be \"req\"; the id is still answered",
        r(vec![
            ("t", s("ok")),
            ("id", Value::Int(3)),
            ("op", s("ping")),
        ]),
        "field 't' must be \"req\"",
        Some(3),
    );
    inv(
        "missing_op",
        "a request without op",
        r(vec![("t", s("req")), ("id", Value::Int(4))]),
        "missing field 'op'",
        Some(4),
    );
    inv(
        "eval_expr_not_text",
        "a known op with a field of the wrong type: a protocol error answered with the id",
        r(vec![
            ("t", s("req")),
            ("id", Value::Int(9)),
            ("op", s("eval")),
            ("expr", Value::Int(3)),
        ]),
        "field 'expr' must be text, got int",
        Some(9),
    );
    inv(
        "set_missing_vars",
        "set requires vars",
        r(vec![
            ("t", s("req")),
            ("id", Value::Int(10)),
            ("op", s("set")),
        ]),
        "missing field 'vars'",
        Some(10),
    );
    inv(
        "set_non_text_name",
        "variable names are text",
        r(vec![
            ("t", s("req")),
            ("id", Value::Int(11)),
            ("op", s("set")),
            ("vars", kv(vec![(Value::Int(1), Value::Int(2))])),
        ]),
        "field 'vars' must be a map with text keys, got int",
        Some(11),
    );
    inv(
        "get_many_not_text",
        "names must be an array of text",
        r(vec![
            ("t", s("req")),
            ("id", Value::Int(12)),
            ("op", s("get_many")),
            ("names", Value::List(vec![s("a"), Value::Int(1)])),
        ]),
        "field 'names' must be an array of text",
        Some(12),
    );
    inv(
        "install_nothing",
        "install needs source or archive",
        r(vec![
            ("t", s("req")),
            ("id", Value::Int(13)),
            ("op", s("install")),
            ("name", s("m")),
        ]),
        "needs field 'source' or 'archive'",
        Some(13),
    );
    inv(
        "restart_negative_index",
        "restart index is unsigned",
        r(vec![
            ("t", s("req")),
            ("id", Value::Int(14)),
            ("op", s("restart")),
            ("index", Value::Int(-1)),
        ]),
        "field 'index' must be an unsigned integer",
        Some(14),
    );
    inv(
        "apply_function_not_bytes",
        "apply's function is the pickle bytes",
        r(vec![
            ("t", s("req")),
            ("id", Value::Int(15)),
            ("op", s("apply")),
            ("function", s("math.sqrt")),
        ]),
        "field 'function' must be bytes, got str",
        Some(15),
    );
    inv(
        "wait_timeout_text",
        "wait's timeout is a number or null",
        r(vec![
            ("t", s("req")),
            ("id", Value::Int(16)),
            ("op", s("wait")),
            ("timeout", s("1")),
        ]),
        "field 'timeout' must be a number, got str",
        Some(16),
    );
    inv(
        "wait_negative_timeout",
        "a negative wait timeout is a protocol error (+inf reads as no limit)",
        r(vec![
            ("t", s("req")),
            ("id", Value::Int(17)),
            ("op", s("wait")),
            ("timeout", Value::Float(-1.0)),
        ]),
        "field 'timeout' must be a number of seconds >= 0 or null",
        Some(17),
    );
    inv(
        "benchmark_zero_cycles",
        "benchmark cycles must be in 1..100000",
        r(vec![
            ("t", s("req")),
            ("id", Value::Int(18)),
            ("op", s("benchmark")),
            ("cycles", Value::Int(0)),
        ]),
        "field 'cycles' must be in 1..100000",
        Some(18),
    );
    inv(
        "install_source_and_archive",
        "install with both source and archive: send exactly one",
        r(vec![
            ("t", s("req")),
            ("id", Value::Int(19)),
            ("op", s("install")),
            ("name", s("m")),
            ("source", s("x = 1\n")),
            (
                "archive",
                Value::Bytes(h("504b0506000000000000000000000000000000000000").into()),
            ),
        ]),
        "has both 'source' and 'archive'",
        Some(19),
    );
    f
}

// ---- replies.json -----------------------------------------------------------

fn replies() -> File {
    let mut f = File::new(
        "replies.json",
        "Protocol v1 frames from an engine or server to a client: ok, err and out (CBOR payloads without the \
         length prefix).",
        Msg::Reply,
    );
    let ok = |f: &mut File, name: &str, d: &str, id: u64, v: Value| {
        f.value(name, d, Reply::ok(id, v).into_value())
    };
    ok(&mut f, "ok_pong", "answer to ping", 1, s("pong"));
    ok(
        &mut f,
        "ok_null",
        "answer to set, delete, clear, exec, install, import: null",
        2,
        Value::Null,
    );
    ok(
        &mut f,
        "ok_int",
        "answer to eval('a + 1')",
        3,
        Value::Int(2),
    );
    ok(
        &mut f,
        "ok_true",
        "answer to is_busy / wait / interrupt",
        4,
        Value::Bool(true),
    );
    ok(
        &mut f,
        "ok_names",
        "answer to names: sorted user names",
        5,
        Value::List(vec![s("a"), s("b")]),
    );
    ok(
        &mut f,
        "ok_get_many",
        "answer to get_many / vexec: a map name -> value",
        6,
        Value::map([("a", Value::Int(1)), ("b", Value::Tuple(vec![]))]),
    );
    ok(
        &mut f,
        "ok_ndarray",
        "a numpy result",
        7,
        f64_array(vec![2, 2], Order::RowMajor, &[1.0, 0.0, 0.0, 1.0]),
    );
    ok(
        &mut f,
        "ok_benchmark",
        "answer to benchmark: seconds",
        8,
        Value::Float(0.0125),
    );
    ok(
        &mut f,
        "ok_describe",
        "answer to describe('math.sqrt')",
        9,
        Value::map([
            ("name", s("math.sqrt")),
            ("kind", s("function")),
            ("type", s("builtin_function_or_method")),
            ("doc", s("Return the square root of x.")),
            ("signature", s("(x, /)")),
            ("attributes", Value::List(vec![])),
        ]),
    );
    ok(
        &mut f,
        "ok_engines",
        "answer to engines (server): the directory, as in welcome.info.engines",
        10,
        server_info().get("engines").unwrap().clone(),
    );
    ok(
        &mut f,
        "ok_id_max",
        "ids echo the request's, up to 2^64-1",
        u64::MAX,
        Value::Null,
    );

    let err = |f: &mut File, name: &str, d: &str, id: Option<u64>, e: ErrorInfo| {
        f.value(name, d, Reply::Err { id, error: e }.into_value())
    };
    err(
        &mut f,
        "err_remote",
        "remote code raised: kind remote with the exception's type name, message and formatted traceback",
        Some(20),
        ErrorInfo::remote(
            "ZeroDivisionError",
            "division by zero",
            "Traceback (most recent call last):\n  File \"<srpy-eval>\", line 1, in <module>\nZeroDivisionError: division by zero\n",
        ),
    );
    err(
        &mut f,
        "err_remote_qualified",
        "a remote exception of a non-builtin type: module-qualified type name",
        Some(21),
        ErrorInfo::remote(
            "mymod.FitError",
            "did not converge",
            "Traceback (most recent call last):\n  File \"<srpy-exec>\", line 2, in <module>\n  File \"/tmp/srpy/mymod.py\", line 4, in fit\nmymod.FitError: did not converge\n",
        ),
    );
    for (name, kind, id, msg, d) in [
        (
            "err_protocol",
            ErrorKind::Protocol,
            Some(22),
            "invalid request: field 'expr' must be text, got int",
            "a malformed request whose id could be read",
        ),
        (
            "err_auth",
            ErrorKind::Auth,
            None,
            "authentication failed: wrong token",
            "authentication failed (handshake; null id)",
        ),
        (
            "err_version",
            ErrorKind::Version,
            None,
            "no common protocol version: client supports 2..=3, this server supports 1..=1",
            "no common protocol version (handshake; null id)",
        ),
        (
            "err_engine_died",
            ErrorKind::EngineDied,
            Some(23),
            "engine 0 died (exit code -11) while running the request",
            "the engine died while the request was in flight",
        ),
        (
            "err_timeout",
            ErrorKind::Timeout,
            Some(24),
            "no answer within 5 s",
            "the call did not finish in time",
        ),
        (
            "err_interrupted",
            ErrorKind::Interrupted,
            Some(25),
            "interrupted",
            "the request was interrupted",
        ),
        (
            "err_not_transferable",
            ErrorKind::NotTransferable,
            Some(26),
            "value of type 'module' has no wire form (pickling not enabled)",
            "a value has no wire form",
        ),
        (
            "err_unsupported_op",
            ErrorKind::UnsupportedOp,
            Some(27),
            "unsupported op 'teleport'",
            "the op is unknown to the receiver; the connection stays open",
        ),
        (
            "err_unsupported_op_unknown_op",
            ErrorKind::UnsupportedOp,
            Some(29),
            "unsupported op 'teleport'",
            "the answer to requests.json:unknown_op (id 29)",
        ),
        (
            "err_limit",
            ErrorKind::Limit,
            None,
            "frame of 2000000000 bytes exceeds the maximum frame size of 1073741824 bytes",
            "a limit was hit (here the frame size; null id, then the connection closes)",
        ),
        (
            "err_no_such_engine",
            ErrorKind::NoSuchEngine,
            Some(28),
            "no engine 9: this server has 2 engine(s)",
            "no engine with that index",
        ),
        (
            "err_unknown_kind",
            ErrorKind::Unknown("quota".into()),
            Some(29),
            "quota exceeded",
            "a kind this version does not know: kept, treated as a generic error",
        ),
    ] {
        err(&mut f, name, d, id, ErrorInfo::new(kind, msg));
    }
    err(
        &mut f,
        "err_null_id",
        "an error not tied to a readable request: null id; the connection is then closed",
        None,
        ErrorInfo::new(ErrorKind::Protocol, "invalid CBOR at byte 0: indefinite-length items and break codes are not used in protocol v1"),
    );
    err(
        &mut f,
        "err_interrupted_remote",
        "interrupted, with the KeyboardInterrupt's type and traceback",
        Some(30),
        ErrorInfo {
            kind: ErrorKind::Interrupted,
            message: "interrupted on request".into(),
            remote_type: Some("KeyboardInterrupt".into()),
            traceback: Some("Traceback (most recent call last):\n  File \"<srpy-exec>\", line 1, in <module>\nKeyboardInterrupt\n".into()),
        },
    );
    let out = |f: &mut File, name: &str, d: &str, id: u64, stream: Stream, text: &str| {
        f.value(
            name,
            d,
            Reply::Output {
                id,
                stream,
                text: text.into(),
            }
            .into_value(),
        )
    };
    out(
        &mut f,
        "out_stdout",
        "text the request wrote to stdout",
        31,
        Stream::Stdout,
        "hello\n",
    );
    out(
        &mut f,
        "out_stderr",
        "text the request wrote to stderr",
        31,
        Stream::Stderr,
        "warning: x\n",
    );
    out(
        &mut f,
        "out_partial_line",
        "output is sent as written, not necessarily in whole lines",
        32,
        Stream::Stdout,
        "progress 50%",
    );

    let m = |pairs: Vec<(&str, Value)>| Value::map(pairs);
    f.value(
        "err_minimal",
        "an error with only kind: message defaults to \"\"",
        m(vec![
            ("t", s("err")),
            ("id", Value::Int(40)),
            ("error", m(vec![("kind", s("timeout"))])),
        ]),
    );
    f.value(
        "err_missing_id",
        "an err without id reads as a null id",
        m(vec![
            ("t", s("err")),
            (
                "error",
                m(vec![("kind", s("protocol")), ("message", s("bad frame"))]),
            ),
        ]),
    );
    f.value(
        "ok_unknown_field",
        "unknown fields are ignored",
        m(vec![
            ("t", s("ok")),
            ("id", Value::Int(41)),
            ("value", Value::Int(1)),
            ("elapsed", Value::Float(0.5)),
        ]),
    );

    let r = |pairs: Vec<(&str, Value)>| cbor::encode(&Value::map(pairs));
    f.invalid(
        "unknown_frame_type",
        "t must be ok, err or out",
        r(vec![("t", s("progress")), ("id", Value::Int(1))]),
        "unknown message type 'progress'",
    );
    f.invalid(
        "missing_t",
        "a frame without t",
        r(vec![("id", Value::Int(1))]),
        "missing field 't'",
    );
    f.invalid(
        "ok_missing_value",
        "ok without value (a null result is an explicit null)",
        r(vec![("t", s("ok")), ("id", Value::Int(1))]),
        "missing field 'value'",
    );
    f.invalid(
        "ok_missing_id",
        "ok must carry the id",
        r(vec![("t", s("ok")), ("value", Value::Null)]),
        "missing field 'id'",
    );
    f.invalid(
        "err_missing_error",
        "err without error",
        r(vec![("t", s("err")), ("id", Value::Int(1))]),
        "missing field 'error'",
    );
    f.invalid(
        "err_missing_kind",
        "error without kind",
        r(vec![
            ("t", s("err")),
            ("id", Value::Int(1)),
            ("error", m(vec![("message", s("x"))])),
        ]),
        "missing field 'kind'",
    );
    f.invalid(
        "out_unknown_stream",
        "stream must be stdout or stderr",
        r(vec![
            ("t", s("out")),
            ("id", Value::Int(1)),
            ("stream", s("stdlog")),
            ("text", s("x")),
        ]),
        "unknown stream 'stdlog'",
    );
    f.invalid(
        "out_bytes_text",
        "output text is text, not bytes",
        r(vec![
            ("t", s("out")),
            ("id", Value::Int(1)),
            ("stream", s("stdout")),
            ("text", Value::Bytes(vec![0x61].into())),
        ]),
        "field 'text' must be text, got bytes",
    );
    f
}

// ---- frames.json ------------------------------------------------------------

fn frames() -> File {
    let mut f = File::new(
        "frames.json",
        "Whole protocol v1 frames: a 4-byte big-endian payload length, then exactly one CBOR item. `max_frame` is \
         the receiver's maximum frame size (4096 before authentication, 1073741824 = 1 GiB by default after). \
         Invalid frames MUST be refused; an oversized length MUST be refused from the 4-byte prefix alone.",
        Msg::None,
    );
    f.frame(
        "int_1",
        "the int 1: length 1, payload 01",
        Value::Int(1),
        DEFAULT_MAX_FRAME,
    );
    f.frame(
        "ping_request",
        "a ping request frame",
        Request::new(1, Op::Ping).into_value(),
        DEFAULT_MAX_FRAME,
    );
    f.frame(
        "pong_reply",
        "the ok reply to it",
        Reply::ok(1, s("pong")).into_value(),
        DEFAULT_MAX_FRAME,
    );
    f.frame(
        "hello_frame",
        "a hello frame, read under the handshake limit",
        Hello::new("srpy-rust/0.1.0", vec![Feature::Output]).to_value(),
        HANDSHAKE_MAX_FRAME,
    );
    f.frame(
        "handshake_limit_exact",
        "a 4096-byte payload (bytes of length 4093): exactly the handshake limit, accepted",
        Value::Bytes(vec![0xab; 4093].into()),
        HANDSHAKE_MAX_FRAME,
    );
    f.frame(
        "null_frame",
        "the smallest frame: null",
        Value::Null,
        HANDSHAKE_MAX_FRAME,
    );

    f.invalid_frame(
        "handshake_limit_exceeded",
        "a length prefix of 4097 before authentication: refused from the prefix alone, nothing more is read",
        h("00001001"),
        HANDSHAKE_MAX_FRAME,
        "frame of 4097 bytes exceeds the maximum frame size of 4096 bytes",
    );
    f.invalid_frame(
        "default_limit_exceeded",
        "a length prefix of 2^30 + 1 after authentication: refused",
        h("40000001"),
        DEFAULT_MAX_FRAME,
        "frame of 1073741825 bytes exceeds the maximum frame size of 1073741824 bytes",
    );
    f.invalid_frame(
        "max_length_prefix",
        "a length prefix of 2^32-1",
        h("ffffffff"),
        DEFAULT_MAX_FRAME,
        "frame of 4294967295 bytes exceeds the maximum frame size",
    );
    f.invalid_frame(
        "truncated_payload",
        "length 5 but the connection closes after 2 payload bytes",
        h("00000005 0102"),
        DEFAULT_MAX_FRAME,
        "the peer closed the connection in the middle of a frame",
    );
    f.invalid_frame(
        "truncated_prefix",
        "the connection closes inside the length prefix",
        h("0000"),
        DEFAULT_MAX_FRAME,
        "the peer closed the connection in the middle of a frame",
    );
    f.invalid_frame(
        "empty_payload",
        "length 0: a frame must hold one item",
        h("00000000"),
        DEFAULT_MAX_FRAME,
        "truncated",
    );
    f.invalid_frame(
        "two_items",
        "one frame holding two items",
        h("00000002 0102"),
        DEFAULT_MAX_FRAME,
        "1 trailing byte(s) after the item",
    );
    f.invalid_frame(
        "item_longer_than_frame",
        "length 2 but the item (text of 3 bytes) needs more: items never span frames",
        h("00000002 6361"),
        DEFAULT_MAX_FRAME,
        "truncated",
    );
    f
}

// ---- main -------------------------------------------------------------------

// ---- routing.json -------------------------------------------------------------

/// The routing preamble and its answers (PROTOCOL.md 3.1): fixed byte
/// layouts, not CBOR, so the file has its own members.
fn routing() -> (&'static str, String, usize, usize) {
    use srpy_proto::route::{Answer, Code, Preamble, Target};
    let preamble = |name: &str, description: &str, target: Target| {
        let p = Preamble::new(target);
        json!({
            "name": name,
            "description": description,
            "hex": hex::encode(p.encode()),
            "version": p.version,
            "target": match target { Target::Here => json!("here"), Target::Engine(i) => json!(i) },
        })
    };
    let answer = |name: &str, description: &str, a: Answer| {
        json!({
            "name": name,
            "description": description,
            "hex": hex::encode(a.encode()),
            "version": a.version,
            "code": a.code.to_wire(),
            "code_name": a.code.name(),
            "message": a.message,
        })
    };
    let preambles = vec![
        preamble("preamble_here", "the port's own peer: the server's directory at a server's port, the engine at an engine's own port", Target::Here),
        preamble("preamble_engine_0", "engine 0 of the server at this port", Target::Engine(0)),
        preamble("preamble_engine_3", "engine 3 of the server at this port", Target::Engine(3)),
        preamble("preamble_engine_4095", "engine 4095: the index is big-endian", Target::Engine(4095)),
    ];
    let answers = vec![
        answer("answer_ok", "routed: the handshake follows, with the peer that sent this answer", Answer::ok()),
        answer("answer_bad_preamble", "the first 4 bytes were not the magic", Answer::refuse(Code::BadPreamble, "bad routing preamble: expected the magic \"SRPY\", got 58595a20")),
        answer("answer_version", "routing version 2 is not spoken; the answer carries the receiver's highest version (1)", Answer::refuse(Code::Version, "routing version 2 is not supported (this server speaks 1..=1)")),
        answer("answer_no_such_engine", "no engine with that index here", Answer::refuse(Code::NoSuchEngine, "no engine 5: this server has 2 engine(s)")),
        answer("answer_engine_restarting", "the engine has no process now: try again", Answer::refuse(Code::EngineRestarting, "engine 0 is restarting: try again shortly")),
        answer("answer_limit", "the preamble did not arrive within the handshake deadline", Answer::refuse(Code::Limit, "routing preamble not completed in time (the handshake deadline passed)")),
        answer("answer_unknown_code", "a code the receiver does not know: a refusal", Answer { version: 1, code: Code::Unknown(200), message: "from the future".into() }),
    ];
    let mut too_long = b"SRPY\x01\x01\x04\x01".to_vec();
    too_long.extend(std::iter::repeat_n(b'x', 1025));
    let invalid = vec![
        json!({"name": "preamble_bad_magic", "description": "starts with S but is not the magic", "kind": "preamble", "hex": hex::encode(b"SXYZ\x01\x00\x00\x00\x00"), "error": "expected the magic"}),
        json!({"name": "answer_bad_magic", "description": "an answer must start with the magic (an err frame instead starts with its length)", "kind": "answer", "hex": "0000001061626364", "error": "expected the magic"}),
        json!({"name": "answer_message_too_long", "description": "a message of 1025 bytes", "kind": "answer", "hex": hex::encode(&too_long), "error": "at most 1024"}),
        json!({"name": "answer_message_truncated", "description": "the head announces 5 message bytes, 2 follow", "kind": "answer", "hex": hex::encode(b"SRPY\x01\x01\x00\x05ab"), "error": "the head says 5"}),
        json!({"name": "answer_message_not_utf8", "description": "the message is not UTF-8", "kind": "answer", "hex": "5352505901010002fffe", "error": "not UTF-8"}),
    ];
    let (valid, n_invalid) = (preambles.len() + answers.len(), invalid.len());
    let doc = json!({
        "description": "The routing preamble (client -> port) and its answer (port -> client), docs/PROTOCOL.md 3.1: fixed byte layouts, not CBOR. `hex` is the whole preamble or answer.",
        "preambles": preambles,
        "answers": answers,
        "invalid": invalid,
    });
    (
        "routing.json",
        serde_json::to_string_pretty(&doc).unwrap() + "\n",
        valid,
        n_invalid,
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conformance/vectors");
    let (mut force, mut check) = (false, false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--force" => force = true,
            "--check" => check = true,
            "--out" => out = PathBuf::from(args.next().expect("--out DIR")),
            other => panic!("unknown argument {other}"),
        }
    }
    std::fs::create_dir_all(&out).unwrap();
    let mut differ = 0;
    let cbor_files = [values(), handshake(), requests(), replies(), frames()];
    let mut files: Vec<(&str, String, usize, usize)> = cbor_files
        .iter()
        .map(|f| (f.file, f.render(), f.vectors.len(), f.invalid.len()))
        .collect();
    files.push(routing());
    for (name, text, valid, invalid) in files {
        let path = out.join(name);
        let old = std::fs::read_to_string(&path).ok();
        let status = match &old {
            Some(o) if *o == text => "unchanged",
            Some(_) if !force => {
                differ += 1;
                "DIFFERS (a change to the golden vectors is a protocol change; --force to overwrite)"
            }
            _ if check => {
                differ += 1;
                "missing or differs"
            }
            _ => {
                std::fs::write(&path, &text).unwrap();
                "written"
            }
        };
        println!("{name:<15} {valid:>3} vectors, {invalid:>3} invalid: {status}");
    }
    if differ > 0 {
        std::process::exit(1);
    }
}
