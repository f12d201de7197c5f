//! CBOR (RFC 8949) encoding and strict decoding of [`Value`].
//!
//! The encoder writes definite lengths, shortest-form heads and 8-byte floats.
//! The decoder accepts exactly one well-formed item of the subset protocol v1
//! uses and rejects everything else with a precise [`DecodeError`]: lengths
//! past the end of the input are refused before anything is allocated, and
//! nesting is bounded so hostile input cannot exhaust the stack.
//!
//! Tags (docs/PROTOCOL.md, "Values"):
//!
//! | tag | meaning |
//! |---|---|
//! | 0 | datetime with offset, RFC 3339 text |
//! | 2 / 3 | positive / negative bignum |
//! | 4 | decimal fraction `[exponent, mantissa]` |
//! | 40 / 1040 | multi-dimensional array, row- / column-major (RFC 8746) |
//! | 64–87 | typed arrays (RFC 8746) |
//! | 258 | set |
//! | 1004 | full-date text (RFC 8943) |
//! | 42000 | tuple (SRPy) |
//! | 42001 | complex `[re, im]` (SRPy) |
//! | 42002 | pickled object (SRPy, opt-in) |
//! | 42003 | datetime without offset, ISO 8601 text (SRPy) |
//! | 42004 | bool typed array, one byte per element (SRPy) |

use std::collections::HashSet;

use num_bigint::{BigInt, Sign};

use crate::buf::Buf;
use crate::value::{expected_len, DType, NdArray, Order, Value};

pub const TAG_DATETIME: u64 = 0;
pub const TAG_POS_BIGNUM: u64 = 2;
pub const TAG_NEG_BIGNUM: u64 = 3;
pub const TAG_DECIMAL: u64 = 4;
pub const TAG_ARRAY_ROW_MAJOR: u64 = 40;
pub const TAG_ARRAY_COL_MAJOR: u64 = 1040;
pub const TAG_SET: u64 = 258;
pub const TAG_DATE: u64 = 1004;
pub const TAG_TUPLE: u64 = 42000;
pub const TAG_COMPLEX: u64 = 42001;
pub const TAG_PICKLE: u64 = 42002;
pub const TAG_NAIVE_DATETIME: u64 = 42003;
pub const TAG_BOOL_ARRAY: u64 = 42004;

/// Deepest nesting of arrays, maps and tags the decoder follows, counted
/// from the top of the frame's item (the message).
// PROTOCOL.md 6.3: "A receiver MUST reject an item at a depth greater than
// **256**, and MUST NOT exhaust its stack on deeper input."
pub const MAX_DEPTH: usize = 256;

/// Deepest nesting a *value* may have, counted from the value's own top:
/// the frame's limit less the two levels of the deepest place a message
/// holds a value (a `vars`/`kwargs` entry, an `args` item, a `get_many` or
/// `vexec` result entry), so that a value fits every message.
// PROTOCOL.md 6.3: "A sender MUST NOT send a value nested deeper than 254
// levels below its own top, and MUST accept every such value in every
// place a message holds one."
pub const MAX_VALUE_DEPTH: usize = MAX_DEPTH - 2;

/// Whether `value`, with its top at depth `at`, has an item deeper than
/// `limit`, counted as the decoder counts (PROTOCOL.md 6.3: a tuple or set
/// is its tag plus an array, a complex its tag, an array and two floats, a
/// decimal its tag and two ints, an ndarray its tag, the shape array and
/// its dims). Stops at the first item past the limit, so the recursion is
/// bounded by `limit`.
pub fn nesting_exceeds(value: &Value, at: usize, limit: usize) -> bool {
    if at > limit {
        return true;
    }
    let all = |items: &[Value], d: usize| items.iter().any(|v| nesting_exceeds(v, d, limit));
    match value {
        Value::List(items) => all(items, at + 1),
        Value::Tuple(items) | Value::Set(items) => at + 1 > limit || all(items, at + 2),
        Value::Map(entries) => entries
            .iter()
            .any(|(k, v)| nesting_exceeds(k, at + 1, limit) || nesting_exceeds(v, at + 1, limit)),
        Value::Complex { .. } => at + 2 > limit,
        Value::Decimal { .. } => at + 1 > limit,
        Value::Array(a) => at + 1 + usize::from(!a.shape.is_empty()) > limit,
        _ => false,
    }
}

/// The error message for a value nested deeper than [`MAX_VALUE_DEPTH`]
/// (one text for every sender).
pub fn too_deep_message(what: &str) -> String {
    format!(
        "cannot send {what}: it is nested deeper than {MAX_VALUE_DEPTH} levels \
         (the protocol's limit; does a container hold itself?)"
    )
}

// ---- encoding --------------------------------------------------------------

/// Encodes one value as a CBOR data item.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_size_hint(value));
    encode_into(value, &mut out);
    out
}

/// A cheap lower bound on the encoded size, so big buffers are written into
/// a vector allocated once.
fn encoded_size_hint(value: &Value) -> usize {
    match value {
        Value::Bytes(b) => b.len() + 16,
        Value::Pickled(b) => b.len() + 16,
        Value::Str(s) => s.len() + 16,
        Value::Array(a) => a.data.len() + 64,
        Value::Map(m) => {
            m.iter()
                .map(|(k, v)| encoded_size_hint(k) + encoded_size_hint(v))
                .sum::<usize>()
                + 16
        }
        Value::List(v) | Value::Tuple(v) => v.iter().map(encoded_size_hint).sum::<usize>() + 16,
        _ => 16,
    }
}

/// Appends the CBOR encoding of `value` to `out`.
pub fn encode_into(value: &Value, out: &mut Vec<u8>) {
    encode_to(value, out)
}

/// Where encoded bytes go: a vector, or a segment list that references
/// big buffers instead of copying them ([`crate::frame::OwnedFrame`]).
pub(crate) trait Sink {
    fn byte(&mut self, b: u8);
    fn bytes(&mut self, b: &[u8]);
    /// A byte string's content, possibly large.
    fn big(&mut self, b: &[u8]) {
        self.bytes(b)
    }
}

impl Sink for Vec<u8> {
    fn byte(&mut self, b: u8) {
        self.push(b)
    }
    fn bytes(&mut self, b: &[u8]) {
        self.extend_from_slice(b)
    }
}

pub(crate) fn encode_to<S: Sink>(value: &Value, out: &mut S) {
    match value {
        Value::Null => out.byte(0xf6),
        Value::Bool(false) => out.byte(0xf4),
        Value::Bool(true) => out.byte(0xf5),
        Value::Int(i) => encode_i64(*i, out),
        Value::BigInt(b) => encode_bigint(b, out),
        Value::Float(f) => {
            out.byte(0xfb);
            out.bytes(&f.to_bits().to_be_bytes());
        }
        Value::Str(s) => {
            head(3, s.len() as u64, out);
            out.bytes(s.as_bytes());
        }
        Value::Bytes(b) => {
            head(2, b.len() as u64, out);
            out.big(b);
        }
        Value::List(items) => encode_array(items, out),
        Value::Tuple(items) => {
            head(6, TAG_TUPLE, out);
            encode_array(items, out);
        }
        Value::Map(entries) => {
            head(5, entries.len() as u64, out);
            for (k, v) in entries {
                encode_to(k, out);
                encode_to(v, out);
            }
        }
        Value::Set(items) => {
            head(6, TAG_SET, out);
            encode_array(items, out);
        }
        Value::Complex { re, im } => {
            head(6, TAG_COMPLEX, out);
            encode_array(&[Value::Float(*re), Value::Float(*im)], out);
        }
        Value::DateTime(s) => {
            let tag = if has_utc_offset(s) {
                TAG_DATETIME
            } else {
                TAG_NAIVE_DATETIME
            };
            head(6, tag, out);
            head(3, s.len() as u64, out);
            out.bytes(s.as_bytes());
        }
        Value::Date(s) => {
            head(6, TAG_DATE, out);
            head(3, s.len() as u64, out);
            out.bytes(s.as_bytes());
        }
        Value::Decimal { exponent, mantissa } => {
            head(6, TAG_DECIMAL, out);
            head(4, 2, out);
            encode_i64(*exponent, out);
            encode_bigint(mantissa, out);
        }
        Value::Array(a) => {
            let tag = match a.order {
                Order::RowMajor => TAG_ARRAY_ROW_MAJOR,
                Order::ColumnMajor => TAG_ARRAY_COL_MAJOR,
            };
            head(6, tag, out);
            head(4, 2, out);
            head(4, a.shape.len() as u64, out);
            for &d in &a.shape {
                head(0, d, out);
            }
            head(6, typed_array_tag(a.dtype), out);
            head(2, a.data.len() as u64, out);
            out.big(&a.data);
        }
        Value::Pickled(b) => {
            head(6, TAG_PICKLE, out);
            head(2, b.len() as u64, out);
            out.big(b);
        }
    }
}

/// Whether ISO 8601 text ends with a UTC offset (`Z`, `+hh:mm`, `-hh:mm`).
fn has_utc_offset(s: &str) -> bool {
    if s.ends_with('Z') || s.ends_with('z') {
        return true;
    }
    // The time part starts after 'T'; an offset is a '+' or '-' inside it.
    match s.find(['T', 't', ' ']) {
        Some(t) => s[t..].contains(['+', '-']),
        None => false,
    }
}

fn encode_array<S: Sink>(items: &[Value], out: &mut S) {
    head(4, items.len() as u64, out);
    for v in items {
        encode_to(v, out);
    }
}

fn encode_i64<S: Sink>(i: i64, out: &mut S) {
    if i >= 0 {
        head(0, i as u64, out);
    } else {
        head(1, !(i as u64), out);
    }
}

fn encode_bigint<S: Sink>(b: &BigInt, out: &mut S) {
    if let Ok(u) = u64::try_from(b) {
        return head(0, u, out);
    }
    // Negative n is written as -1 - m: m = -1 - n = |n| - 1.
    let (sign, magnitude) = b.to_bytes_be();
    if sign == Sign::Minus {
        let m = -b - 1u32;
        if let Ok(u) = u64::try_from(&m) {
            return head(1, u, out);
        }
        head(6, TAG_NEG_BIGNUM, out);
        let (_, bytes) = m.to_bytes_be();
        head(2, bytes.len() as u64, out);
        out.bytes(&bytes);
    } else {
        head(6, TAG_POS_BIGNUM, out);
        head(2, magnitude.len() as u64, out);
        out.bytes(&magnitude);
    }
}

/// Writes an item head: major type and argument in shortest form.
pub(crate) fn head<S: Sink>(major: u8, arg: u64, out: &mut S) {
    let m = major << 5;
    if arg < 24 {
        out.byte(m | arg as u8);
    } else if arg <= u8::MAX as u64 {
        out.bytes(&[m | 24, arg as u8]);
    } else if arg <= u16::MAX as u64 {
        out.byte(m | 25);
        out.bytes(&(arg as u16).to_be_bytes());
    } else if arg <= u32::MAX as u64 {
        out.byte(m | 26);
        out.bytes(&(arg as u32).to_be_bytes());
    } else {
        out.byte(m | 27);
        out.bytes(&arg.to_be_bytes());
    }
}

/// RFC 8746 tag of a little-endian typed array of `dtype`.
pub fn typed_array_tag(dtype: DType) -> u64 {
    match dtype {
        DType::U8 => 64,
        DType::U16 => 69,
        DType::U32 => 70,
        DType::U64 => 71,
        DType::I8 => 72,
        DType::I16 => 77,
        DType::I32 => 78,
        DType::I64 => 79,
        DType::F16 => 84,
        DType::F32 => 85,
        DType::F64 => 86,
        DType::Bool => TAG_BOOL_ARRAY,
    }
}

/// Element type and big-endianness of an RFC 8746 typed-array tag.
fn typed_array_dtype(tag: u64) -> Option<(DType, bool)> {
    Some(match tag {
        64 | 68 => (DType::U8, false),
        65 => (DType::U16, true),
        66 => (DType::U32, true),
        67 => (DType::U64, true),
        69 => (DType::U16, false),
        70 => (DType::U32, false),
        71 => (DType::U64, false),
        72 => (DType::I8, false),
        73 => (DType::I16, true),
        74 => (DType::I32, true),
        75 => (DType::I64, true),
        77 => (DType::I16, false),
        78 => (DType::I32, false),
        79 => (DType::I64, false),
        80 => (DType::F16, true),
        81 => (DType::F32, true),
        82 => (DType::F64, true),
        84 => (DType::F16, false),
        85 => (DType::F32, false),
        86 => (DType::F64, false),
        TAG_BOOL_ARRAY => (DType::Bool, false),
        _ => return None,
    })
}

// ---- decoding --------------------------------------------------------------

/// Why a byte string is not a valid protocol v1 CBOR item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CBOR at byte {offset}: {reason}")]
pub struct DecodeError {
    /// Offset of the offending item's first byte.
    pub offset: usize,
    pub reason: String,
}

/// Decodes exactly one CBOR item from `input`; trailing bytes are an error.
pub fn decode(input: &[u8]) -> Result<Value, DecodeError> {
    let mut d = Decoder {
        input,
        pos: 0,
        defer_min: usize::MAX,
        deferred: None,
        external: None,
    };
    d.whole(0)
}

/// Byte strings from this size on are candidates for [`decode_owned`]'s
/// in-place move.
pub const OWNED_MIN: usize = 1 << 20;

/// Decodes exactly one item from an owned buffer, like [`decode`], except
/// that the first byte string (or little-endian array buffer) of at least
/// [`OWNED_MIN`] bytes is not copied out: its bytes are moved to the front
/// of `input`'s own allocation, which becomes that value's buffer. A frame
/// carrying one big buffer is then decoded without a second allocation.
pub fn decode_owned(mut input: Vec<u8>) -> Result<Value, DecodeError> {
    if input.len() < OWNED_MIN {
        return decode(&input);
    }
    let (mut value, deferred) = {
        let mut d = Decoder {
            input: &input,
            pos: 0,
            defer_min: OWNED_MIN,
            deferred: None,
            external: None,
        };
        let v = d.whole(0)?;
        (v, d.deferred)
    };
    if let Some((offset, len)) = deferred {
        input.copy_within(offset..offset + len, 0);
        input.truncate(len);
        let mut slot = Some(input);
        let placed = replace_placeholder(&mut value, &mut slot);
        debug_assert!(placed, "the deferred byte string has a placeholder");
    }
    Ok(value)
}

/// Decodes a frame whose big byte string was read into its own buffer:
/// `small` is the frame without that string's content, which would start at
/// `offset`. See [`find_big_string`] and `FrameReader::read_value`.
pub fn decode_split(small: &[u8], offset: usize, big: Buf) -> Result<Value, DecodeError> {
    let mut d = Decoder {
        input: small,
        pos: 0,
        defer_min: usize::MAX,
        deferred: None,
        external: Some((offset, big)),
    };
    let v = d.whole(0)?;
    if d.external.is_some() {
        return Err(DecodeError {
            offset,
            reason: "no byte string starts where the big one was found".into(),
        });
    }
    Ok(v)
}

/// A big byte string found by [`find_big_string`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BigString {
    /// Offset of the content in the frame.
    pub offset: usize,
    pub len: usize,
    /// An untagged byte string: it decodes to [`Value::Bytes`] (and not to
    /// an array's buffer or a pickle).
    pub plain: bool,
}

/// Finds the first byte string of at least `min` bytes in a frame's first
/// bytes, or `None` when there is none within `prefix` (or the prefix is
/// not well-formed: the full decode then says why). Only plain byte
/// strings, little-endian typed-array buffers and pickles qualify: those
/// become a value's buffer unchanged.
pub fn find_big_string(prefix: &[u8], min: usize) -> Option<BigString> {
    let mut pos = 0usize;
    let mut pending: Vec<u64> = vec![1];
    let mut tag: Option<u64> = None;
    while let Some(top) = pending.last_mut() {
        if *top == 0 {
            pending.pop();
            continue;
        }
        *top -= 1;
        let first = *prefix.get(pos)?;
        let (major, info) = (first >> 5, first & 0x1f);
        let extra = match info {
            0..=23 => 0,
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            _ => return None,
        };
        let bytes = prefix.get(pos + 1..pos + 1 + extra)?;
        let arg = if extra == 0 {
            info as u64
        } else {
            bytes.iter().fold(0u64, |a, &b| (a << 8) | b as u64)
        };
        pos += 1 + extra;
        let enclosing = tag.take();
        match major {
            2 | 3 => {
                let n = usize::try_from(arg).ok()?;
                let plain = matches!(
                    enclosing,
                    None | Some(64 | 68 | 69 | 70 | 71 | 72 | 77 | 78 | 79 | 84 | 85 | 86)
                        | Some(TAG_PICKLE | TAG_BOOL_ARRAY)
                );
                if major == 2 && n >= min && plain {
                    return Some(BigString {
                        offset: pos,
                        len: n,
                        plain: enclosing.is_none(),
                    });
                }
                pos = pos.checked_add(n)?;
            }
            4 => pending.push(arg),
            5 => pending.push(arg.checked_mul(2)?),
            6 => {
                tag = Some(arg);
                pending.push(1);
            }
            _ => {}
        }
        if pos > prefix.len() {
            return None;
        }
    }
    None
}

/// A per-process random marker standing in for a deferred byte string
/// until the decode is complete (unguessable, so no input can forge it).
fn placeholder() -> &'static [u8; 16] {
    static MARK: std::sync::OnceLock<[u8; 16]> = std::sync::OnceLock::new();
    MARK.get_or_init(|| {
        let mut m = [0u8; 16];
        getrandom::getrandom(&mut m).expect("the OS random source is available");
        m
    })
}

fn replace_placeholder(v: &mut Value, data: &mut Option<Vec<u8>>) -> bool {
    let is_mark = |b: &[u8]| b == placeholder();
    match v {
        Value::Bytes(b) if is_mark(b) => {
            *b = data.take().expect("one deferred buffer").into();
            true
        }
        Value::Pickled(b) if is_mark(b) => {
            *b = data.take().expect("one deferred buffer");
            true
        }
        Value::Array(a) if is_mark(&a.data) => {
            a.data = data.take().expect("one deferred buffer").into();
            true
        }
        Value::List(items) | Value::Tuple(items) | Value::Set(items) => {
            items.iter_mut().any(|i| replace_placeholder(i, data))
        }
        Value::Map(entries) => entries
            .iter_mut()
            .any(|(k, v)| replace_placeholder(k, data) || replace_placeholder(v, data)),
        _ => false,
    }
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    /// Byte strings at least this long are deferred (see [`decode_owned`]).
    defer_min: usize,
    /// The deferred byte string: offset and length in `input`.
    deferred: Option<(usize, usize)>,
    /// A byte string whose content is not in `input` but was read into its
    /// own buffer: the offset in `input` where the content would start.
    external: Option<(usize, Buf)>,
}

/// An item head: major type and argument.
struct Head {
    major: u8,
    arg: u64,
    /// For major 7: the additional-information value (20–27).
    info: u8,
}

impl<'a> Decoder<'a> {
    fn whole(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let v = self.item(depth)?;
        if self.pos != self.input.len() {
            return Err(DecodeError {
                offset: self.pos,
                reason: format!(
                    "{} trailing byte(s) after the item",
                    self.input.len() - self.pos
                ),
            });
        }
        Ok(v)
    }

    /// A byte string's content: copied, or deferred when it is the first
    /// big one of an owned decode.
    fn byte_string(&mut self, n: usize, start: usize) -> Result<Buf, DecodeError> {
        if matches!(&self.external, Some((at, big)) if *at == self.pos && big.len() == n) {
            // The content was read straight into its own buffer.
            return Ok(self.external.take().expect("checked").1);
        }
        if n >= self.defer_min && self.deferred.is_none() {
            let at = self.pos;
            self.take(n, start)?;
            self.deferred = Some((at, n));
            return Ok(placeholder().into());
        }
        Ok(self.take(n, start)?.into())
    }

    fn err<T>(&self, offset: usize, reason: impl Into<String>) -> Result<T, DecodeError> {
        Err(DecodeError {
            offset,
            reason: reason.into(),
        })
    }

    fn take(&mut self, n: usize, start: usize) -> Result<&'a [u8], DecodeError> {
        if self.input.len() - self.pos < n {
            return self.err(
                start,
                format!(
                    "truncated: item needs {n} more byte(s), {} left",
                    self.input.len() - self.pos
                ),
            );
        }
        let s = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn head(&mut self) -> Result<Head, DecodeError> {
        let start = self.pos;
        let first = self.take(1, start)?[0];
        let major = first >> 5;
        let info = first & 0x1f;
        let arg = match info {
            0..=23 => info as u64,
            24 => self.take(1, start)?[0] as u64,
            25 => u16::from_be_bytes(self.take(2, start)?.try_into().unwrap()) as u64,
            26 => u32::from_be_bytes(self.take(4, start)?.try_into().unwrap()) as u64,
            27 => u64::from_be_bytes(self.take(8, start)?.try_into().unwrap()),
            28..=30 => return self.err(start, format!("reserved additional information {info}")),
            _ => {
                return self.err(
                    start,
                    "indefinite-length items and break codes are not used in protocol v1",
                )
            }
        };
        Ok(Head { major, arg, info })
    }

    /// A length argument as usize, refused when it exceeds what is left of
    /// the input (so no allocation is ever sized by an untrusted number).
    fn length(&self, arg: u64, min_item_size: usize, start: usize) -> Result<usize, DecodeError> {
        if matches!(&self.external, Some((at, big)) if *at == self.pos && big.len() as u64 == arg) {
            return Ok(arg as usize);
        }
        let left = (self.input.len() - self.pos) as u64;
        if arg.saturating_mul(min_item_size as u64) > left {
            return self.err(
                start,
                format!("truncated: length {arg} exceeds the {left} byte(s) left"),
            );
        }
        Ok(arg as usize)
    }

    fn item(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return self.err(self.pos, format!("nesting deeper than {MAX_DEPTH}"));
        }
        let start = self.pos;
        let h = self.head()?;
        match h.major {
            0 => Ok(match i64::try_from(h.arg) {
                Ok(i) => Value::Int(i),
                Err(_) => Value::BigInt(BigInt::from(h.arg)),
            }),
            1 => Ok(match i64::try_from(h.arg) {
                Ok(i) => Value::Int(-1 - i),
                Err(_) => Value::BigInt(-BigInt::from(h.arg) - 1u32),
            }),
            2 => {
                let n = self.length(h.arg, 1, start)?;
                Ok(Value::Bytes(self.byte_string(n, start)?))
            }
            3 => Ok(Value::Str(self.text_body(h.arg, start)?)),
            4 => {
                let n = self.length(h.arg, 1, start)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.item(depth + 1)?);
                }
                Ok(Value::List(items))
            }
            5 => {
                let n = self.length(h.arg, 2, start)?;
                let mut entries = Vec::with_capacity(n);
                let mut seen: HashSet<Value> = HashSet::with_capacity(n);
                for _ in 0..n {
                    let key_at = self.pos;
                    let k = self.item(depth + 1)?;
                    // RFC 8949 §5.6: a map with duplicate keys is not valid;
                    // protocol v1 rejects it rather than pick one.
                    if !seen.insert(k.clone()) {
                        return self.err(key_at, format!("duplicate map key {k}"));
                    }
                    let v = self.item(depth + 1)?;
                    entries.push((k, v));
                }
                Ok(Value::Map(entries))
            }
            6 => self.tagged(h.arg, start, depth),
            _ => match h.info {
                20 => Ok(Value::Bool(false)),
                21 => Ok(Value::Bool(true)),
                22 => Ok(Value::Null),
                25 => Ok(Value::Float(f16_to_f64(h.arg as u16))),
                26 => Ok(Value::Float(f32::from_bits(h.arg as u32) as f64)),
                27 => Ok(Value::Float(f64::from_bits(h.arg))),
                23 => self.err(start, "simple value 'undefined' is not used in protocol v1"),
                _ => self.err(start, format!("unsupported simple value {}", h.arg)),
            },
        }
    }

    fn text_body(&mut self, len: u64, start: usize) -> Result<String, DecodeError> {
        let n = self.length(len, 1, start)?;
        let bytes = self.take(n, start)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => self.err(start, format!("text string is not valid UTF-8 ({e})")),
        }
    }

    /// The tagged item's content must be of `what`; returns its head.
    fn expect(&mut self, major: u8, tag: u64, what: &str) -> Result<Head, DecodeError> {
        let at = self.pos;
        let h = self.head()?;
        if h.major != major {
            return self.err(at, format!("tag {tag} must enclose {what}"));
        }
        Ok(h)
    }

    fn tagged(&mut self, tag: u64, start: usize, depth: usize) -> Result<Value, DecodeError> {
        match tag {
            TAG_DATETIME | TAG_NAIVE_DATETIME => {
                let h = self.expect(3, tag, "a text string")?;
                Ok(Value::DateTime(self.text_body(h.arg, start)?))
            }
            TAG_DATE => {
                let h = self.expect(3, tag, "a text string")?;
                Ok(Value::Date(self.text_body(h.arg, start)?))
            }
            TAG_POS_BIGNUM | TAG_NEG_BIGNUM => {
                let h = self.expect(2, tag, "a byte string")?;
                let n = self.length(h.arg, 1, start)?;
                let m = BigInt::from_bytes_be(Sign::Plus, self.take(n, start)?);
                Ok(Value::from_bigint(if tag == TAG_POS_BIGNUM {
                    m
                } else {
                    -m - 1u32
                }))
            }
            TAG_DECIMAL => {
                let h = self.expect(4, tag, "an array [exponent, mantissa]")?;
                if h.arg != 2 {
                    return self.err(start, "tag 4 must enclose an array of 2 items");
                }
                let exp_at = self.pos;
                let exponent = match self.item(depth + 1)? {
                    Value::Int(e) => e,
                    _ => {
                        return self.err(exp_at, "decimal exponent must be an integer fitting i64")
                    }
                };
                let man_at = self.pos;
                let mantissa = match self.item(depth + 1)? {
                    Value::Int(i) => BigInt::from(i),
                    Value::BigInt(b) => b,
                    _ => return self.err(man_at, "decimal mantissa must be an integer"),
                };
                Ok(Value::Decimal { exponent, mantissa })
            }
            TAG_TUPLE | TAG_SET => {
                let at = self.pos;
                match self.item(depth + 1)? {
                    Value::List(items) if tag == TAG_TUPLE => Ok(Value::Tuple(items)),
                    Value::List(items) => {
                        let mut seen = HashSet::with_capacity(items.len());
                        if let Some(dup) = items.iter().find(|v| !seen.insert(*v)) {
                            return self.err(at, format!("duplicate set element {dup}"));
                        }
                        Ok(Value::Set(items))
                    }
                    _ => self.err(at, format!("tag {tag} must enclose an array")),
                }
            }
            TAG_COMPLEX => {
                let at = self.pos;
                match self.item(depth + 1)? {
                    Value::List(items) => match items.as_slice() {
                        [Value::Float(re), Value::Float(im)] => {
                            Ok(Value::Complex { re: *re, im: *im })
                        }
                        _ => self.err(at, "tag 42001 must enclose [float, float]"),
                    },
                    _ => self.err(at, "tag 42001 must enclose [float, float]"),
                }
            }
            TAG_PICKLE => {
                let h = self.expect(2, tag, "a byte string")?;
                let n = self.length(h.arg, 1, start)?;
                Ok(Value::Pickled(self.byte_string(n, start)?.into_vec()))
            }
            TAG_ARRAY_ROW_MAJOR | TAG_ARRAY_COL_MAJOR => {
                let order = if tag == TAG_ARRAY_ROW_MAJOR {
                    Order::RowMajor
                } else {
                    Order::ColumnMajor
                };
                let h = self.expect(4, tag, "an array [shape, typed array]")?;
                if h.arg != 2 {
                    return self.err(start, format!("tag {tag} must enclose an array of 2 items"));
                }
                let shape_at = self.pos;
                let shape = match self.item(depth + 1)? {
                    Value::List(dims) => dims
                        .iter()
                        .map(|d| match d {
                            Value::Int(i) if *i >= 0 => Some(*i as u64),
                            _ => None,
                        })
                        .collect::<Option<Vec<u64>>>(),
                    _ => None,
                };
                let Some(shape) = shape else {
                    return self.err(
                        shape_at,
                        "array shape must be an array of unsigned integers",
                    );
                };
                let data_at = self.pos;
                let h = self.head()?;
                if h.major != 6 || typed_array_dtype(h.arg).is_none() {
                    return self.err(
                        data_at,
                        "array data must be a typed array (RFC 8746 tags 64-87)",
                    );
                }
                let a = self.typed_array(h.arg, data_at, Some(shape))?;
                Ok(Value::Array(NdArray { order, ..a }))
            }
            // PROTOCOL.md 6.3: "a bare typed array counts as the ndarray it
            // decodes to: its shape array at d+1 and dims at d+2, the levels
            // of the form an encoder writes for it (7.5)", so that whatever
            // is decoded can be sent again.
            t if typed_array_dtype(t).is_some() => {
                if depth + 2 > MAX_DEPTH {
                    return self.err(start, format!("nesting deeper than {MAX_DEPTH}"));
                }
                Ok(Value::Array(self.typed_array(t, start, None)?))
            }
            _ => self.err(start, format!("unsupported tag {tag}")),
        }
    }

    /// The byte string after a typed-array tag, as a little-endian array.
    /// Without a `shape` (a bare typed array) the array is one-dimensional.
    fn typed_array(
        &mut self,
        tag: u64,
        start: usize,
        shape: Option<Vec<u64>>,
    ) -> Result<NdArray, DecodeError> {
        let (dtype, big_endian) = typed_array_dtype(tag).expect("checked by caller");
        let h = self.expect(2, tag, "a byte string")?;
        let n = self.length(h.arg, 1, start)?;
        let size = dtype.size();
        if n % size != 0 {
            return self.err(
                start,
                format!(
                    "typed array of {} has {n} bytes, not a multiple of {size}",
                    dtype.name()
                ),
            );
        }
        let shape = match shape {
            None => vec![(n / size) as u64],
            Some(shape) if expected_len(dtype, &shape) == Some(n) => shape,
            Some(shape) => {
                return self.err(
                    start,
                    format!(
                        "array of shape {shape:?} and {} needs a different byte count than {n}",
                        dtype.name()
                    ),
                )
            }
        };
        let data = if big_endian && size > 1 {
            let mut d = self.take(n, start)?.to_vec();
            d.chunks_exact_mut(size).for_each(|c| c.reverse());
            d.into()
        } else {
            // Possibly deferred (see `decode_owned`).
            self.byte_string(n, start)?
        };
        Ok(NdArray {
            dtype,
            shape,
            order: Order::RowMajor,
            data,
        })
    }
}

/// IEEE 754 half precision to double.
fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f64;
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: Value) {
        let bytes = encode(&v);
        assert_eq!(decode(&bytes).unwrap(), v, "bytes {bytes:02x?}");
    }

    #[test]
    fn scalars_round_trip() {
        for v in [
            Value::Null,
            Value::Bool(true),
            Value::Int(0),
            Value::Int(-1),
            Value::Int(i64::MAX),
            Value::Int(i64::MIN),
            Value::Float(f64::NAN),
            Value::Float(-0.0),
            Value::Float(f64::NEG_INFINITY),
            Value::Str("héllo 😀".into()),
            Value::Bytes(vec![0, 255].into()),
        ] {
            round_trip(v);
        }
    }

    #[test]
    fn big_ints_use_the_shortest_form() {
        // 2^64 - 1 is a plain CBOR uint, 2^64 needs a bignum.
        let max = Value::from(u64::MAX);
        assert_eq!(encode(&max)[0], 0x1b);
        round_trip(max);
        let big: BigInt = BigInt::from(u64::MAX) + 1u32;
        let bytes = encode(&Value::BigInt(big.clone()));
        assert_eq!(bytes[0], 0xc2);
        round_trip(Value::BigInt(big.clone()));
        round_trip(Value::BigInt(-big.clone()));
        // -2^64 is the most negative plain CBOR int.
        let min = -BigInt::from(u64::MAX) - 1u32;
        assert_eq!(encode(&Value::BigInt(min.clone()))[0], 0x3b);
        round_trip(Value::BigInt(min));
        round_trip(Value::BigInt(BigInt::from(7u32).pow(200)));
    }

    #[test]
    fn containers_and_tags_round_trip() {
        round_trip(Value::Tuple(vec![Value::Int(1), Value::List(vec![])]));
        round_trip(Value::Map(vec![
            (
                Value::Tuple(vec![Value::Int(1), Value::Int(2)]),
                Value::Null,
            ),
            (Value::Int(3), Value::Str("x".into())),
        ]));
        round_trip(Value::Set(vec![Value::Int(1), Value::Str("a".into())]));
        round_trip(Value::Complex { re: 1.5, im: -2.0 });
        round_trip(Value::DateTime("2024-01-02T03:04:05.000006+01:00".into()));
        round_trip(Value::DateTime("2024-01-02T03:04:05".into()));
        round_trip(Value::Date("2024-01-02".into()));
        round_trip(Value::Decimal {
            exponent: -2,
            mantissa: BigInt::from(-12345),
        });
        round_trip(Value::Pickled(vec![0x80, 4]));
    }

    #[test]
    fn arrays_round_trip_every_dtype_and_order() {
        for dtype in DType::ALL {
            for shape in [vec![], vec![3], vec![2, 3], vec![0, 4]] {
                let n: u64 = shape.iter().product();
                let data: Vec<u8> = (0..n as usize * dtype.size()).map(|i| i as u8).collect();
                for order in [Order::RowMajor, Order::ColumnMajor] {
                    let a = NdArray::new(dtype, shape.clone(), order, data.clone()).unwrap();
                    round_trip(Value::Array(a));
                }
            }
        }
    }

    #[test]
    fn big_endian_typed_arrays_are_swapped() {
        // tag 82 (float64 BE) with shape [1]
        let mut bytes = vec![0xd8, 40, 0x82, 0x81, 0x01, 0xd8, 82, 0x48];
        bytes.extend_from_slice(&1.5f64.to_be_bytes());
        let v = decode(&bytes).unwrap();
        let Value::Array(a) = v else { panic!() };
        assert_eq!(a.data, 1.5f64.to_le_bytes());
    }

    #[test]
    fn half_and_single_floats_decode() {
        assert_eq!(decode(&[0xf9, 0x3c, 0x00]).unwrap(), Value::Float(1.0));
        assert_eq!(decode(&[0xf9, 0x80, 0x00]).unwrap(), Value::Float(-0.0));
        assert_eq!(
            decode(&[0xf9, 0x7c, 0x00]).unwrap(),
            Value::Float(f64::INFINITY)
        );
        assert!(matches!(decode(&[0xf9, 0x7e, 0x00]).unwrap(), Value::Float(f) if f.is_nan()));
        assert_eq!(
            decode(&[0xfa, 0x3f, 0xc0, 0, 0]).unwrap(),
            Value::Float(1.5)
        );
    }

    fn reason(bytes: &[u8]) -> String {
        decode(bytes).unwrap_err().to_string()
    }

    #[test]
    fn strict_decoding_names_the_problem() {
        assert!(reason(&[0x01, 0x02]).contains("1 trailing byte"));
        assert!(
            reason(&[0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]).contains("duplicate map key \"a\"")
        );
        assert!(reason(&[0x5a, 0xff, 0xff, 0xff, 0xff]).contains("truncated"));
        assert!(
            reason(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).contains("truncated")
        );
        assert!(reason(&[0x9f]).contains("indefinite-length"));
        assert!(reason(&[0x62, 0xff, 0xfe]).contains("UTF-8"));
        assert!(reason(&[0xf7]).contains("undefined"));
        assert!(reason(&[0xd9, 0x03, 0xe7, 0x00]).contains("unsupported tag 999"));
        assert!(reason(&[0xc2, 0x01]).contains("tag 2 must enclose a byte string"));
        assert!(reason(&[]).contains("truncated"));
        assert!(reason(&[0x1c]).contains("reserved"));
        assert!(reason(&[0xd9, 0x01, 0x02, 0x82, 0x01, 0x01]).contains("duplicate set element"));
    }

    #[test]
    fn value_depth_is_counted_as_the_decoder_counts() {
        // A value of MAX_VALUE_DEPTH levels inside the deepest message
        // place (a `vars` entry: map, map, value) decodes; one more does not.
        for (inner, extra) in [
            (Value::Int(0), 0),
            (Value::Tuple(vec![]), 1),
            (Value::Set(vec![Value::Int(1)]), 2),
            (Value::Complex { re: 0.0, im: 0.0 }, 2),
            (
                Value::Decimal {
                    exponent: 0,
                    mantissa: 1.into(),
                },
                1,
            ),
        ] {
            let fits = nested(MAX_VALUE_DEPTH - extra, inner.clone());
            let deeper = nested(MAX_VALUE_DEPTH - extra + 1, inner.clone());
            assert!(!nesting_exceeds(&fits, 0, MAX_VALUE_DEPTH), "{inner}");
            assert!(nesting_exceeds(&deeper, 0, MAX_VALUE_DEPTH), "{inner}");
            let in_vars = |v: Value| Value::map([("vars", Value::map([("v", v)]))]);
            assert!(decode(&encode(&in_vars(fits))).is_ok(), "{inner}");
            assert!(decode(&encode(&in_vars(deeper))).is_err(), "{inner}");
        }
    }

    fn nested(depth: usize, mut v: Value) -> Value {
        for _ in 0..depth {
            v = Value::List(vec![v]);
        }
        v
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let bytes = vec![0x81; 100_000];
        assert!(reason(&bytes).contains("nesting deeper than 256"));
    }

    #[test]
    fn a_bare_typed_array_counts_the_levels_of_its_canonical_form() {
        // Found by the cbor_decode fuzz target: a bare typed array at depth
        // 255 decoded, but its canonical form (tag 40, shape at d+1, dims at
        // d+2) does not fit the frame's 256, so the value could not be sent
        // again. At depth 254 it fits, and re-encodes to a decodable item.
        let bare = [0xd8, 0x46, 0x44, 0, 0, 0, 0x0c]; // uint32 LE [201326592]
        let at = |depth: usize| {
            let mut bytes = vec![0x81; depth];
            bytes.extend_from_slice(&bare);
            bytes
        };
        assert!(reason(&at(255)).contains("nesting deeper than 256"));
        let v = decode(&at(254)).unwrap();
        let again = decode(&encode(&v)).unwrap();
        assert_eq!(encode(&again), encode(&v));
    }

    #[test]
    fn array_shape_must_match_data() {
        // shape [2] of float64 but 8 bytes of data
        let mut bytes = vec![0xd8, 40, 0x82, 0x81, 0x02, 0xd8, 86, 0x48];
        bytes.extend_from_slice(&[0; 8]);
        assert!(reason(&bytes).contains("shape [2]"));
    }

    #[test]
    fn decode_owned_moves_one_big_buffer_and_matches_decode() {
        let big = (0..OWNED_MIN + 17)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>();
        let arr = NdArray::new(
            DType::F64,
            vec![(OWNED_MIN / 8 + 1) as u64],
            Order::ColumnMajor,
            vec![3; OWNED_MIN + 8],
        )
        .unwrap();
        for v in [
            Value::Bytes(big.clone().into()),
            Value::map([
                ("t", Value::from("ok")),
                ("value", Value::Bytes(big.clone().into())),
            ]),
            Value::List(vec![
                Value::Bytes(big.clone().into()),
                Value::Bytes(big.clone().into()),
                Value::Int(1),
            ]),
            Value::Tuple(vec![Value::Array(arr.clone()), Value::Pickled(big.clone())]),
            Value::Bytes(vec![1, 2, 3].into()),
        ] {
            let bytes = encode(&v);
            assert_eq!(decode_owned(bytes.clone()).unwrap(), v);
            assert_eq!(decode(&bytes).unwrap(), v);
        }
        // Errors are the same as from `decode`.
        let mut bytes = encode(&Value::Bytes(big.into()));
        bytes.push(0);
        assert!(decode_owned(bytes).unwrap_err().reason.contains("trailing"));
    }

    #[test]
    fn split_decode_matches_decode() {
        let big = (0..OWNED_MIN + 5)
            .map(|i| (i % 7) as u8)
            .collect::<Vec<u8>>();
        let arr = NdArray::new(
            DType::F64,
            vec![(OWNED_MIN / 8) as u64],
            Order::RowMajor,
            vec![9; OWNED_MIN],
        )
        .unwrap();
        for v in [
            Value::Bytes(big.clone().into()),
            Value::map([
                ("t", Value::from("ok")),
                ("id", Value::Int(3)),
                ("value", Value::Bytes(big.clone().into())),
            ]),
            Value::List(vec![
                Value::Int(1),
                Value::Array(arr.clone()),
                Value::Bytes(big.clone().into()),
                Value::from("x"),
            ]),
            Value::Tuple(vec![Value::Pickled(big.clone())]),
        ] {
            let bytes = encode(&v);
            let found =
                find_big_string(&bytes[..bytes.len().min(65536)], OWNED_MIN).expect("found");
            let (off, n) = (found.offset, found.len);
            // The first big string is a `bytes` value's, except in the list
            // (an array's buffer comes first) and the tuple (a pickle).
            let is_bytes_value = !matches!(v, Value::List(_) | Value::Tuple(_));
            assert_eq!(found.plain, is_bytes_value, "{v:?}");
            let mut small = bytes[..off].to_vec();
            small.extend_from_slice(&bytes[off + n..]);
            let big_part = bytes[off..off + n].to_vec();
            assert_eq!(decode_split(&small, off, big_part.into()).unwrap(), v);
        }
        // Not found: strings too small, a big text string, a bignum.
        assert_eq!(
            find_big_string(&encode(&Value::Bytes(vec![1; 10].into())), OWNED_MIN),
            None
        );
        let text = encode(&Value::Str("a".repeat(OWNED_MIN)));
        assert_eq!(find_big_string(&text[..100], OWNED_MIN), None);
        // A big-endian typed array keeps the normal path.
        let mut be = vec![0xd8, 82, 0x5a];
        be.extend_from_slice(&(OWNED_MIN as u32).to_be_bytes());
        assert_eq!(find_big_string(&be, OWNED_MIN), None);
        // Garbage in the prefix: None, the full decode reports it.
        assert_eq!(find_big_string(&[0xff, 0x00], 1), None);
    }

    #[test]
    fn agrees_with_ciborium() {
        // An independent CBOR implementation reads what we write.
        let v = Value::map([
            ("a", Value::Int(-5)),
            (
                "b",
                Value::List(vec![Value::Float(1.5), Value::Str("x".into())]),
            ),
            ("c", Value::Bytes(vec![1, 2, 3].into())),
        ]);
        let bytes = encode(&v);
        let theirs: ciborium::Value = ciborium::from_reader(bytes.as_slice()).unwrap();
        let mut back = Vec::new();
        ciborium::into_writer(&theirs, &mut back).unwrap();
        assert_eq!(decode(&back).unwrap(), v);
    }
}
