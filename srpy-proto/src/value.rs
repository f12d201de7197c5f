//! The value model: what can cross the wire between a client and an engine.
//!
//! One Rust enum per Python type family of docs/PROTOCOL.md's value table. The CBOR
//! mapping (tags and all) lives in [`crate::cbor`]; this module only defines
//! the values, their equality, and conversions from and to std types.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{Hash, Hasher};

pub use num_bigint::BigInt;

pub use crate::buf::Buf;

/// A value as it travels between client and engine.
///
/// Equality is *structural identity*, the notion round-trip tests need:
/// floats compare by their bits (so `NaN == NaN` and `0.0 != -0.0`), maps and
/// sets compare in order.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Value {
    /// Python `None`.
    Null,
    Bool(bool),
    /// An int that fits in `i64`.
    Int(i64),
    /// An int outside `i64` (Python ints have no size limit).
    BigInt(BigInt),
    Float(f64),
    Str(String),
    /// Python `bytes` (a big one may share its memory: see [`Buf`]).
    Bytes(Buf),
    /// Python `list`.
    List(Vec<Value>),
    /// Python `tuple`.
    Tuple(Vec<Value>),
    /// Python `dict`: keys of any hashable type, insertion order kept.
    Map(Vec<(Value, Value)>),
    /// Python `set` / `frozenset`.
    Set(Vec<Value>),
    Complex {
        re: f64,
        im: f64,
    },
    /// Python `datetime.datetime` as ISO 8601 text (`isoformat()`); with a
    /// UTC offset when the datetime is aware.
    DateTime(String),
    /// Python `datetime.date` as `YYYY-MM-DD`.
    Date(String),
    /// Python `decimal.Decimal` (finite): `mantissa * 10^exponent`.
    Decimal {
        exponent: i64,
        mantissa: BigInt,
    },
    /// An n-dimensional numeric array (numpy `ndarray`).
    Array(NdArray),
    /// A pickled Python object: only produced and accepted when the user
    /// opted in (Python to Python only).
    Pickled(Vec<u8>),
}

/// Element type of an [`NdArray`]. Data is always little-endian on the wire
/// side of this crate (big-endian typed arrays are swapped on decode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DType {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F16,
    F32,
    F64,
}

impl DType {
    pub const ALL: [DType; 12] = [
        DType::Bool,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::F16,
        DType::F32,
        DType::F64,
    ];

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::I8 | DType::U8 => 1,
            DType::I16 | DType::U16 | DType::F16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::U64 | DType::F64 => 8,
        }
    }

    /// The numpy name of the type (`"float64"`, `"bool"`, …).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::F16 => "float16",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }
}

/// Memory order of an [`NdArray`]'s buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Order {
    /// Row-major (C order): RFC 8746 tag 40.
    RowMajor,
    /// Column-major (Fortran order): RFC 8746 tag 1040.
    ColumnMajor,
}

/// An n-dimensional numeric array: element type, shape, memory order and the
/// raw little-endian buffer (`shape.product() * dtype.size()` bytes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NdArray {
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub order: Order,
    pub data: Buf,
}

impl NdArray {
    /// Builds an array, checking that the buffer length matches the shape.
    pub fn new(
        dtype: DType,
        shape: Vec<u64>,
        order: Order,
        data: impl Into<Buf>,
    ) -> Option<NdArray> {
        let data = data.into();
        let expected = expected_len(dtype, &shape)?;
        (expected == data.len()).then_some(NdArray {
            dtype,
            shape,
            order,
            data,
        })
    }

    /// A row-major `float64` array from values.
    pub fn from_f64(shape: Vec<u64>, values: &[f64]) -> Option<NdArray> {
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        NdArray::new(DType::F64, shape, Order::RowMajor, data)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.size()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Buffer length implied by a dtype and shape, `None` on overflow.
pub(crate) fn expected_len(dtype: DType, shape: &[u64]) -> Option<usize> {
    let mut n: u64 = dtype.size() as u64;
    for &d in shape {
        n = n.checked_mul(d)?;
    }
    usize::try_from(n).ok()
}

impl Value {
    /// The Python type name of the value, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Map(_) => "dict",
            Value::Set(_) => "set",
            Value::Complex { .. } => "complex",
            Value::DateTime(_) => "datetime",
            Value::Date(_) => "date",
            Value::Decimal { .. } => "Decimal",
            Value::Array(_) => "ndarray",
            Value::Pickled(_) => "pickled object",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The entries of a map, `None` for other values.
    pub fn as_map(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Items of a list or tuple.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// Looks up a text key in a map value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// A map with text keys, from pairs.
    pub fn map<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (Value::Str(k.into()), v))
                .collect(),
        )
    }

    /// Normalises an integer: `Int` when it fits `i64`, else `BigInt`.
    pub fn from_bigint(b: BigInt) -> Value {
        match i64::try_from(&b) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::BigInt(b),
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (BigInt(a), BigInt(b)) => a == b,
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Str(a), Str(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            (List(a), List(b)) | (Tuple(a), Tuple(b)) | (Set(a), Set(b)) => a == b,
            (Map(a), Map(b)) => a == b,
            (Complex { re: a, im: b }, Complex { re: c, im: d }) => {
                a.to_bits() == c.to_bits() && b.to_bits() == d.to_bits()
            }
            (DateTime(a), DateTime(b)) | (Date(a), Date(b)) => a == b,
            (
                Decimal {
                    exponent: a,
                    mantissa: b,
                },
                Decimal {
                    exponent: c,
                    mantissa: d,
                },
            ) => a == c && b == d,
            (Array(a), Array(b)) => a == b,
            (Pickled(a), Pickled(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Value::Null => {}
            Value::Bool(b) => b.hash(state),
            Value::Int(i) => i.hash(state),
            Value::BigInt(b) => b.hash(state),
            Value::Float(f) => f.to_bits().hash(state),
            Value::Str(s) | Value::DateTime(s) | Value::Date(s) => s.hash(state),
            Value::Bytes(b) => b.hash(state),
            Value::Pickled(b) => b.hash(state),
            Value::List(v) | Value::Tuple(v) | Value::Set(v) => v.hash(state),
            Value::Map(m) => m.hash(state),
            Value::Complex { re, im } => {
                re.to_bits().hash(state);
                im.to_bits().hash(state);
            }
            Value::Decimal { exponent, mantissa } => {
                exponent.hash(state);
                mantissa.hash(state);
            }
            Value::Array(a) => a.hash(state),
        }
    }
}

impl fmt::Display for Value {
    /// A Python-like rendering, for messages and demos.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn seq(
            f: &mut fmt::Formatter<'_>,
            items: &[Value],
            open: &str,
            close: &str,
        ) -> fmt::Result {
            f.write_str(open)?;
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{v}")?;
            }
            if open == "(" && items.len() == 1 {
                f.write_str(",")?;
            }
            f.write_str(close)
        }
        match self {
            Value::Null => f.write_str("None"),
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
            Value::Int(i) => write!(f, "{i}"),
            Value::BigInt(b) => write!(f, "{b}"),
            Value::Float(x) if x.is_nan() => f.write_str("nan"),
            Value::Float(x) if x.is_infinite() => {
                f.write_str(if *x > 0.0 { "inf" } else { "-inf" })
            }
            Value::Float(x) if x.fract() == 0.0 && x.abs() < 1e16 => write!(f, "{x:.1}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => write!(f, "b{:?}", String::from_utf8_lossy(b)),
            Value::List(v) => seq(f, v, "[", "]"),
            Value::Tuple(v) => seq(f, v, "(", ")"),
            Value::Set(v) if v.is_empty() => f.write_str("set()"),
            Value::Set(v) => seq(f, v, "{", "}"),
            Value::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            Value::Complex { re, im } => write!(f, "({re}{im:+}j)"),
            Value::DateTime(s) => write!(f, "datetime({s})"),
            Value::Date(s) => write!(f, "date({s})"),
            Value::Decimal { exponent, mantissa } => {
                write!(f, "Decimal({mantissa}e{exponent})")
            }
            Value::Array(a) => write!(f, "ndarray({}, shape={:?})", a.dtype.name(), a.shape),
            Value::Pickled(b) => write!(f, "<pickled object, {} bytes>", b.len()),
        }
    }
}

// ---- conversions from std types -------------------------------------------

macro_rules! from_small_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value { Value::Int(v as i64) }
        }
    )*};
}
from_small_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::from_bigint(BigInt::from(v))
    }
}
impl From<i128> for Value {
    fn from(v: i128) -> Value {
        Value::from_bigint(BigInt::from(v))
    }
}
impl From<u128> for Value {
    fn from(v: u128) -> Value {
        Value::from_bigint(BigInt::from(v))
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Value {
        Value::from(v as u64)
    }
}
impl From<BigInt> for Value {
    fn from(v: BigInt) -> Value {
        Value::from_bigint(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Value {
        Value::Float(v as f64)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Bytes(v.into())
    }
}
impl From<()> for Value {
    fn from(_: ()) -> Value {
        Value::Null
    }
}
impl From<NdArray> for Value {
    fn from(v: NdArray) -> Value {
        Value::Array(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Value {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}
impl<K: Into<Value>, V: Into<Value>> From<BTreeMap<K, V>> for Value {
    fn from(m: BTreeMap<K, V>) -> Value {
        Value::Map(m.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}
impl<K: Into<Value>, V: Into<Value>, S> From<HashMap<K, V, S>> for Value {
    fn from(m: HashMap<K, V, S>) -> Value {
        Value::Map(m.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

macro_rules! from_tuple {
    ($($n:ident : $t:ident),+) => {
        impl<$($t: Into<Value>),+> From<($($t,)+)> for Value {
            fn from(($($n,)+): ($($t,)+)) -> Value {
                Value::Tuple(vec![$($n.into()),+])
            }
        }
    };
}
from_tuple!(a: A);
from_tuple!(a: A, b: B);
from_tuple!(a: A, b: B, c: C);
from_tuple!(a: A, b: B, c: C, d: D);

// ---- conversions to std types ---------------------------------------------

/// A value was not of the Rust type asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, got {got}")]
pub struct TypeMismatch {
    pub expected: &'static str,
    pub got: String,
}

fn mismatch(expected: &'static str, got: &Value) -> TypeMismatch {
    TypeMismatch {
        expected,
        got: got.type_name().to_owned(),
    }
}

impl TryFrom<Value> for i64 {
    type Error = TypeMismatch;
    fn try_from(v: Value) -> Result<i64, TypeMismatch> {
        match v {
            Value::Int(i) => Ok(i),
            other => Err(mismatch("int (fitting i64)", &other)),
        }
    }
}
impl TryFrom<Value> for BigInt {
    type Error = TypeMismatch;
    fn try_from(v: Value) -> Result<BigInt, TypeMismatch> {
        match v {
            Value::Int(i) => Ok(BigInt::from(i)),
            Value::BigInt(b) => Ok(b),
            other => Err(mismatch("int", &other)),
        }
    }
}
impl TryFrom<Value> for f64 {
    type Error = TypeMismatch;
    fn try_from(v: Value) -> Result<f64, TypeMismatch> {
        match v {
            Value::Float(f) => Ok(f),
            Value::Int(i) => Ok(i as f64),
            other => Err(mismatch("float", &other)),
        }
    }
}
impl TryFrom<Value> for bool {
    type Error = TypeMismatch;
    fn try_from(v: Value) -> Result<bool, TypeMismatch> {
        match v {
            Value::Bool(b) => Ok(b),
            other => Err(mismatch("bool", &other)),
        }
    }
}
impl TryFrom<Value> for String {
    type Error = TypeMismatch;
    fn try_from(v: Value) -> Result<String, TypeMismatch> {
        match v {
            Value::Str(s) => Ok(s),
            other => Err(mismatch("str", &other)),
        }
    }
}
impl TryFrom<Value> for Vec<u8> {
    type Error = TypeMismatch;
    fn try_from(v: Value) -> Result<Vec<u8>, TypeMismatch> {
        match v {
            Value::Bytes(b) => Ok(b.into_vec()),
            other => Err(mismatch("bytes", &other)),
        }
    }
}
impl TryFrom<Value> for Vec<Value> {
    type Error = TypeMismatch;
    fn try_from(v: Value) -> Result<Vec<Value>, TypeMismatch> {
        match v {
            Value::List(v) | Value::Tuple(v) | Value::Set(v) => Ok(v),
            other => Err(mismatch("list, tuple or set", &other)),
        }
    }
}
impl TryFrom<Value> for NdArray {
    type Error = TypeMismatch;
    fn try_from(v: Value) -> Result<NdArray, TypeMismatch> {
        match v {
            Value::Array(a) => Ok(a),
            other => Err(mismatch("ndarray", &other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_equality_is_bitwise() {
        assert_eq!(Value::Float(f64::NAN), Value::Float(f64::NAN));
        assert_ne!(Value::Float(0.0), Value::Float(-0.0));
    }

    #[test]
    fn ints_normalise_to_i64_when_they_fit() {
        assert_eq!(Value::from(5u64), Value::Int(5));
        assert!(matches!(Value::from(u64::MAX), Value::BigInt(_)));
    }

    #[test]
    fn ndarray_checks_buffer_length() {
        assert!(NdArray::new(DType::F64, vec![2, 3], Order::RowMajor, vec![0; 48]).is_some());
        assert!(NdArray::new(DType::F64, vec![2, 3], Order::RowMajor, vec![0; 47]).is_none());
        assert!(NdArray::new(DType::F64, vec![u64::MAX, 2], Order::RowMajor, vec![]).is_none());
    }

    #[test]
    fn display_is_python_like() {
        let v = Value::from((1i64, "a", 2.0f64));
        assert_eq!(v.to_string(), "(1, \"a\", 2.0)");
        assert_eq!(Value::Tuple(vec![Value::Null]).to_string(), "(None,)");
    }

    #[test]
    fn try_from_reports_both_types() {
        let err = i64::try_from(Value::from("x")).unwrap_err();
        assert_eq!(err.to_string(), "expected int (fitting i64), got str");
    }
}
