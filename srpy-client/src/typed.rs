//! Rust types ⇄ [`Value`] through serde, by way of CBOR (ciborium).
//!
//! `to_value` serialises with ciborium and decodes the bytes with the
//! protocol's strict decoder; `from_value` goes the other way. Structs
//! become dicts with text keys, `Option::None` and `()` become `None`,
//! tuples and sequences become lists, unit enum variants become strings.
//!
//! Byte strings need `serde_bytes` (or `Value::Bytes`) to travel as bytes:
//! serde serialises a plain `Vec<u8>` as a list of ints.
//!
//! Before decoding into a Rust type, SRPy-specific tagged values are turned
//! into plain data so any `Deserialize` type can take them: tuples and sets
//! become sequences, datetimes and dates ISO strings, complex numbers
//! `[re, im]`, decimals their text (`"123.45"`), arrays a map `{dtype,
//! shape, order, data}`, pickled objects bytes.

use serde::de::DeserializeOwned;
use serde::Serialize;
use srpy_proto::value::{NdArray, Order};
use srpy_proto::{cbor, Value};

use crate::error::{Error, Result};

/// Converts any `Serialize` value to a [`Value`].
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value> {
    let mut buf = Vec::new();
    ciborium::into_writer(value, &mut buf)
        .map_err(|e| Error::NotTransferable(format!("cannot serialise the value: {e}")))?;
    cbor::decode(&buf).map_err(|e| {
        Error::NotTransferable(format!(
            "the serialised value is outside the SRPy value model: {e}"
        ))
    })
}

/// Converts a [`Value`] to any `Deserialize` type.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T> {
    let type_name = value.type_name();
    let bytes = cbor::encode(&plain(value));
    ciborium::from_reader(bytes.as_slice()).map_err(|e| {
        Error::Other(format!(
            "cannot convert a remote {type_name} to {}: {e}",
            std::any::type_name::<T>()
        ))
    })
}

/// The value with SRPy-specific tags replaced by plain data.
fn plain(v: Value) -> Value {
    match v {
        Value::List(items) | Value::Tuple(items) | Value::Set(items) => {
            Value::List(items.into_iter().map(plain).collect())
        }
        Value::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (plain(k), plain(v)))
                .collect(),
        ),
        Value::DateTime(s) | Value::Date(s) => Value::Str(s),
        Value::Complex { re, im } => Value::List(vec![Value::Float(re), Value::Float(im)]),
        Value::Decimal { exponent, mantissa } => Value::Str(decimal_text(exponent, &mantissa)),
        Value::Array(a) => array_map(a),
        Value::Pickled(b) => Value::Bytes(b.into()),
        other => other,
    }
}

fn array_map(a: NdArray) -> Value {
    Value::map([
        ("dtype", Value::from(a.dtype.name())),
        (
            "shape",
            Value::List(a.shape.iter().map(|&d| Value::from(d)).collect()),
        ),
        (
            "order",
            Value::from(match a.order {
                Order::RowMajor => "C",
                Order::ColumnMajor => "F",
            }),
        ),
        ("data", Value::Bytes(a.data)),
    ])
}

/// `mantissa * 10^exponent` as Python's `str(Decimal)` writes it.
fn decimal_text(exponent: i64, mantissa: &srpy_proto::BigInt) -> String {
    let text = mantissa.to_string();
    let (sign, digits) = match text.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", text.as_str()),
    };
    let n = digits.len() as i64;
    let left = exponent.saturating_add(n);
    let dot = if exponent <= 0 && left > -6 { left } else { 1 };
    let (int_part, frac_part) = if dot <= 0 {
        (
            "0".to_owned(),
            format!(".{}{digits}", "0".repeat(dot.unsigned_abs() as usize)),
        )
    } else if dot >= n {
        (
            format!("{digits}{}", "0".repeat((dot - n) as usize)),
            String::new(),
        )
    } else {
        let (i, f) = digits.split_at(dot as usize);
        (i.to_owned(), format!(".{f}"))
    };
    let exp = if left == dot {
        String::new()
    } else {
        format!("E{:+}", left - dot)
    };
    format!("{sign}{int_part}{frac_part}{exp}")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};
    use srpy_proto::{BigInt, DType};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Color {
        Red,
        Rgb(u8, u8, u8),
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Point {
        name: String,
        x: f64,
        y: i64,
        tags: Vec<String>,
        parent: Option<Box<Point>>,
        color: Color,
        flag: bool,
    }

    fn point() -> Point {
        Point {
            name: "p".into(),
            x: 1.5,
            y: -3,
            tags: vec!["a".into(), "b".into()],
            parent: None,
            color: Color::Red,
            flag: true,
        }
    }

    #[test]
    fn structs_become_dicts() {
        let v = to_value(&point()).unwrap();
        assert_eq!(v.get("name"), Some(&Value::from("p")));
        assert_eq!(v.get("x"), Some(&Value::Float(1.5)));
        assert_eq!(v.get("y"), Some(&Value::Int(-3)));
        assert_eq!(v.get("parent"), Some(&Value::Null));
        assert_eq!(v.get("color"), Some(&Value::from("Red")));
        assert_eq!(
            v.get("tags"),
            Some(&Value::List(vec![Value::from("a"), Value::from("b")]))
        );
        let back: Point = from_value(v).unwrap();
        assert_eq!(back, point());
    }

    #[test]
    fn round_trips_of_std_types() {
        let m: BTreeMap<String, Vec<i32>> = [("a".to_string(), vec![1, 2]), ("b".into(), vec![])]
            .into_iter()
            .collect();
        assert_eq!(
            from_value::<BTreeMap<String, Vec<i32>>>(to_value(&m).unwrap()).unwrap(),
            m
        );
        assert_eq!(to_value(&u64::MAX).unwrap(), Value::from(u64::MAX));
        assert_eq!(from_value::<u64>(Value::from(u64::MAX)).unwrap(), u64::MAX);
        assert_eq!(to_value(&i128::MIN).unwrap(), Value::from(i128::MIN));
        assert_eq!(
            from_value::<i128>(Value::from(i128::MIN)).unwrap(),
            i128::MIN
        );
        assert_eq!(to_value(&0.1f32).unwrap(), Value::Float(0.1f32 as f64));
        assert_eq!(to_value(&()).unwrap(), Value::Null);
        assert_eq!(to_value("s").unwrap(), Value::from("s"));
        let rgb = Color::Rgb(1, 2, 3);
        assert_eq!(from_value::<Color>(to_value(&rgb).unwrap()).unwrap(), rgb);
        assert!(from_value::<f64>(Value::Float(f64::NAN)).unwrap().is_nan());
    }

    #[test]
    fn tagged_values_decode_as_plain_data() {
        let t = Value::Tuple(vec![Value::Int(1), Value::from("a")]);
        assert_eq!(
            from_value::<(i64, String)>(t.clone()).unwrap(),
            (1, "a".into())
        );
        let s = Value::Set(vec![Value::Int(3), Value::Int(4)]);
        assert_eq!(from_value::<Vec<i64>>(s).unwrap(), vec![3, 4]);
        let nested = Value::List(vec![t]);
        assert_eq!(
            from_value::<Vec<(i64, String)>>(nested).unwrap(),
            vec![(1, "a".into())]
        );
        assert_eq!(
            from_value::<String>(Value::DateTime("2024-01-02T03:04:05".into())).unwrap(),
            "2024-01-02T03:04:05"
        );
        assert_eq!(
            from_value::<String>(Value::Date("2024-01-02".into())).unwrap(),
            "2024-01-02"
        );
        assert_eq!(
            from_value::<(f64, f64)>(Value::Complex { re: 1.0, im: -2.0 }).unwrap(),
            (1.0, -2.0)
        );
        let big = Value::from_bigint(BigInt::from(7) << 100);
        assert!(from_value::<i64>(big).is_err());
    }

    #[test]
    fn arrays_decode_as_maps() {
        #[derive(Deserialize)]
        struct Arr {
            dtype: String,
            shape: Vec<u64>,
            order: String,
            data: Vec<u8>,
        }
        let a = NdArray::new(DType::U8, vec![2, 2], Order::RowMajor, vec![1, 2, 3, 4]).unwrap();
        let got: Arr = from_value(Value::Array(a)).unwrap();
        assert_eq!(
            (got.dtype.as_str(), got.shape, got.order.as_str(), got.data),
            ("uint8", vec![2, 2], "C", vec![1, 2, 3, 4])
        );
    }

    #[test]
    fn decimals_print_like_python() {
        let d = |m: i64, e: i64| decimal_text(e, &BigInt::from(m));
        assert_eq!(d(12345, -2), "123.45");
        assert_eq!(d(-12345, -2), "-123.45");
        assert_eq!(d(5, -3), "0.005");
        assert_eq!(d(5, 0), "5");
        assert_eq!(d(1, 3), "1E+3");
        assert_eq!(d(123, -10), "1.23E-8");
        assert_eq!(d(0, -2), "0.00");
        assert_eq!(d(1, -6), "0.000001");
        assert_eq!(d(1, -7), "1E-7");
        assert_eq!(
            from_value::<String>(Value::Decimal {
                exponent: -1,
                mantissa: BigInt::from(15)
            })
            .unwrap(),
            "1.5"
        );
    }

    #[test]
    fn mismatches_name_both_types() {
        let e = from_value::<i64>(Value::from("x")).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("remote str") && m.contains("i64"), "{m}");
    }
}
