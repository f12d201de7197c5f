//! The value notation of `conformance/vectors/README.md` (plus the
//! generator forms of `conformance/README.md`) ⇄ [`Value`], and the
//! suite's equality.

use serde_json::Value as J;
use srpy_proto::{BigInt, DType, NdArray, Order, Value};

/// A notation that is not well-formed.
pub type NResult<T> = Result<T, String>;

fn hex_of(j: &J, what: &str) -> NResult<Vec<u8>> {
    let s = j
        .as_str()
        .ok_or_else(|| format!("{what}: hex must be a string"))?;
    hex::decode(s).map_err(|e| format!("{what}: {e}"))
}

fn u64_of(j: &J, what: &str) -> NResult<u64> {
    j.as_u64()
        .ok_or_else(|| format!("{what} must be a non-negative integer"))
}

/// A float notation's text as an `f64` (`"nan"` is the quiet NaN
/// `0x7ff8000000000000`).
pub fn parse_float(s: &str) -> NResult<f64> {
    match s {
        "nan" => Ok(f64::from_bits(0x7ff8_0000_0000_0000)),
        "inf" => Ok(f64::INFINITY),
        "-inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse().map_err(|e| format!("float {s:?}: {e}")),
    }
}

fn float_of(j: &J) -> NResult<f64> {
    let s = j
        .get("float")
        .and_then(J::as_str)
        .ok_or_else(|| format!("not a float notation: {j}"))?;
    parse_float(s)
}

fn items(j: &J) -> NResult<Vec<Value>> {
    j.as_array()
        .ok_or_else(|| format!("expected a JSON array: {}", short_json(j)))?
        .iter()
        .map(to_value)
        .collect()
}

fn text<'a>(j: &'a J, key: &str) -> NResult<&'a str> {
    j.get(key)
        .and_then(J::as_str)
        .ok_or_else(|| format!("field {key:?} must be text in {}", short_json(j)))
}

/// The buffer of an `ndarray` notation: `data` (hex), or `data_repeat`
/// (hex repeated until the buffer implied by dtype and shape is full).
fn nd_data(v: &J, dtype: DType, shape: &[u64]) -> NResult<Vec<u8>> {
    if let Some(unit) = v.get("data_repeat") {
        let unit = hex_of(unit, "data_repeat")?;
        let n = shape
            .iter()
            .try_fold(dtype.size() as u64, |n, &d| n.checked_mul(d))
            .ok_or("shape too large")? as usize;
        if unit.is_empty() && n > 0 {
            return Err("data_repeat must not be empty".into());
        }
        return Ok(unit.iter().copied().cycle().take(n).collect());
    }
    hex_of(&v["data"], "ndarray data")
}

/// The notation `j` as a [`Value`].
pub fn to_value(j: &J) -> NResult<Value> {
    Ok(match j {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::from(u),
            _ => return Err(format!("plain JSON numbers are integers only: {n}")),
        },
        J::String(s) => Value::Str(s.clone()),
        J::Array(_) => {
            return Err(format!(
                "a plain JSON array is not a value: {}",
                short_json(j)
            ))
        }
        J::Object(o) => {
            if o.len() != 1 {
                return Err(format!(
                    "a notation object has exactly one key: {}",
                    short_json(j)
                ));
            }
            let (k, v) = o.iter().next().expect("one entry");
            match k.as_str() {
                "int" => {
                    let s = v.as_str().ok_or("int as decimal text")?;
                    Value::from_bigint(s.parse::<BigInt>().map_err(|e| format!("int {s:?}: {e}"))?)
                }
                "float" => Value::Float(float_of(j)?),
                "bytes" => Value::Bytes(hex_of(v, "bytes")?.into()),
                "bytes_repeat" => {
                    let unit = hex_of(&v["hex"], "bytes_repeat.hex")?;
                    let times = u64_of(&v["times"], "bytes_repeat.times")? as usize;
                    Value::Bytes(unit.repeat(times).into())
                }
                "str_repeat" => {
                    let unit = text(v, "text")?;
                    let times = u64_of(&v["times"], "str_repeat.times")? as usize;
                    Value::Str(unit.repeat(times))
                }
                "int_range" => {
                    let start = v["start"].as_i64().ok_or("int_range.start")?;
                    let stop = v["stop"].as_i64().ok_or("int_range.stop")?;
                    Value::List((start..stop).map(Value::Int).collect())
                }
                "list" => Value::List(items(v)?),
                "tuple" => Value::Tuple(items(v)?),
                "set" => Value::Set(items(v)?),
                "map" => Value::Map(
                    v.as_array()
                        .ok_or("map entries must be an array")?
                        .iter()
                        .map(|e| match e.as_array().map(Vec::as_slice) {
                            Some([k, v]) => Ok((to_value(k)?, to_value(v)?)),
                            _ => Err(format!("a map entry is [key, value]: {}", short_json(e))),
                        })
                        .collect::<NResult<_>>()?,
                ),
                "complex" => match v.as_array().map(Vec::as_slice) {
                    Some([re, im]) => Value::Complex {
                        re: float_of(re)?,
                        im: float_of(im)?,
                    },
                    _ => return Err(format!("complex is [re, im]: {j}")),
                },
                "datetime" => Value::DateTime(v.as_str().ok_or("datetime text")?.to_owned()),
                "date" => Value::Date(v.as_str().ok_or("date text")?.to_owned()),
                "decimal" => Value::Decimal {
                    exponent: v["exponent"].as_i64().ok_or("decimal exponent")?,
                    mantissa: text(v, "mantissa")?
                        .parse()
                        .map_err(|e| format!("decimal mantissa: {e}"))?,
                },
                "ndarray" => {
                    let dtype_name = text(v, "dtype")?;
                    let dtype = DType::from_name(dtype_name)
                        .ok_or_else(|| format!("unknown dtype {dtype_name:?}"))?;
                    let shape = v["shape"]
                        .as_array()
                        .ok_or("ndarray shape")?
                        .iter()
                        .map(|d| u64_of(d, "a dimension"))
                        .collect::<NResult<Vec<u64>>>()?;
                    let order = match text(v, "order")? {
                        "C" => Order::RowMajor,
                        "F" => Order::ColumnMajor,
                        other => return Err(format!("order {other:?}")),
                    };
                    let data = nd_data(v, dtype, &shape)?;
                    Value::Array(
                        NdArray::new(dtype, shape, order, data)
                            .ok_or_else(|| format!("ndarray data size in {}", short_json(j)))?,
                    )
                }
                "pickled" => Value::Pickled(hex_of(v, "pickled")?),
                "nested_lists" => {
                    let depth = u64_of(&v["depth"], "nested_lists.depth")?;
                    let inner = to_value(&v["value"])?;
                    (0..depth).fold(inner, |inner, _| Value::List(vec![inner]))
                }
                "nested_maps" => {
                    let depth = u64_of(&v["depth"], "nested_maps.depth")?;
                    let key = to_value(&v["key"])?;
                    let inner = to_value(&v["value"])?;
                    (0..depth).fold(inner, |inner, _| Value::Map(vec![(key.clone(), inner)]))
                }
                other => return Err(format!("unknown notation {other:?}")),
            }
        }
    })
}

/// A JSON value, cut short for messages.
pub fn short_json(j: &J) -> String {
    cut(j.to_string(), 160)
}

/// A value rendered for a message, cut short.
pub fn short(v: &Value) -> String {
    let s = match v {
        Value::Bytes(b) if b.len() > 64 => format!("<{} bytes>", b.len()),
        Value::Str(s) if s.len() > 128 => format!("<str of {} chars>", s.chars().count()),
        Value::Array(a) => format!(
            "ndarray({}, shape={:?}, {:?}, {} bytes)",
            a.dtype.name(),
            a.shape,
            a.order,
            a.data.len()
        ),
        other => other.to_string(),
    };
    cut(s, 160)
}

fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// The suite's equality: `None` when `got` is `want`, else where they
/// differ. Structural identity (floats by bits, a tuple is never a list,
/// maps in order), except that sets compare without regard to order: a
/// Python engine iterates a set in hash order, not in the order it was
/// sent.
pub fn differ(got: &Value, want: &Value) -> Option<String> {
    diff_at(got, want, "v")
}

fn diff_at(got: &Value, want: &Value, path: &str) -> Option<String> {
    let mismatch = || Some(format!("{path}: got {}, want {}", short(got), short(want)));
    match (got, want) {
        (Value::List(a), Value::List(b)) | (Value::Tuple(a), Value::Tuple(b)) => {
            if a.len() != b.len() {
                return Some(format!("{path}: got {} items, want {}", a.len(), b.len()));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| diff_at(x, y, &format!("{path}[{i}]")))
        }
        (Value::Map(a), Value::Map(b)) => {
            if a.len() != b.len() {
                return Some(format!("{path}: got {} entries, want {}", a.len(), b.len()));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, ((ka, va), (kb, vb)))| {
                    diff_at(ka, kb, &format!("{path}.key#{i}"))
                        .or_else(|| diff_at(va, vb, &format!("{path}[{}]", short(kb))))
                })
        }
        (Value::Set(a), Value::Set(b)) => {
            if a.len() != b.len() {
                return Some(format!(
                    "{path}: got {} elements, want {}",
                    a.len(),
                    b.len()
                ));
            }
            let mut rest: Vec<&Value> = a.iter().collect();
            for y in b {
                match rest.iter().position(|x| differ(x, y).is_none()) {
                    Some(i) => {
                        rest.remove(i);
                    }
                    None => return Some(format!("{path}: element {} missing", short(y))),
                }
            }
            None
        }
        _ if got == want => None,
        _ => mismatch(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn generator_forms() {
        let v = to_value(&json!({"bytes_repeat": {"hex": "0102", "times": 3}})).unwrap();
        assert_eq!(v, Value::Bytes(vec![1, 2, 1, 2, 1, 2].into()));
        let v = to_value(&json!({"str_repeat": {"text": "ab", "times": 2}})).unwrap();
        assert_eq!(v, Value::from("abab"));
        let v = to_value(&json!({"int_range": {"start": -1, "stop": 2}})).unwrap();
        assert_eq!(
            v,
            Value::List(vec![Value::Int(-1), Value::Int(0), Value::Int(1)])
        );
        let v = to_value(&json!({"nested_maps": {"depth": 2, "key": "k", "value": 1}})).unwrap();
        assert_eq!(v, Value::map([("k", Value::map([("k", Value::Int(1))]))]));
        let v = to_value(&json!({"ndarray": {"dtype": "int16", "shape": [3], "order": "C", "data_repeat": "0100"}}))
            .unwrap();
        match v {
            Value::Array(a) => assert_eq!(a.data, vec![1, 0, 1, 0, 1, 0]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn equality_is_strict_but_sets_are_unordered() {
        let a = to_value(&json!({"set": [1, "a"]})).unwrap();
        let b = to_value(&json!({"set": ["a", 1]})).unwrap();
        assert_eq!(differ(&a, &b), None);
        let l = to_value(&json!({"list": [1]})).unwrap();
        let t = to_value(&json!({"tuple": [1]})).unwrap();
        assert!(differ(&l, &t).is_some());
        let z = to_value(&json!({"float": "0.0"})).unwrap();
        let mz = to_value(&json!({"float": "-0.0"})).unwrap();
        assert!(differ(&z, &mz).is_some());
        let nan = to_value(&json!({"float": "nan"})).unwrap();
        assert_eq!(differ(&nan, &nan), None);
        let m1 = to_value(&json!({"map": [["a", 1], ["b", 2]]})).unwrap();
        let m2 = to_value(&json!({"map": [["b", 2], ["a", 1]]})).unwrap();
        assert!(differ(&m1, &m2).is_some(), "maps compare in order");
    }

    #[test]
    fn big_ints_normalise() {
        assert_eq!(to_value(&json!({"int": "5"})).unwrap(), Value::Int(5));
        assert!(matches!(
            to_value(&json!({"int": "18446744073709551616"})).unwrap(),
            Value::BigInt(_)
        ));
    }
}
