//! Java objects ⇄ SRPy values (docs/PROTOCOL.md's value table), by JNI calls
//! through cached classes and method IDs.
//!
//! | Java → | value | → Java |
//! |---|---|---|
//! | null | Null | null |
//! | Boolean | Bool | Boolean |
//! | Long, Integer, Short, Byte | Int | Long |
//! | BigInteger | Int / BigInt | Long (fits i64) / BigInteger |
//! | Double, Float | Float | Double |
//! | String, Character | Str | String |
//! | byte[] | Bytes | byte[] |
//! | org.srpy.Tuple | Tuple | Tuple |
//! | List, other Collection, Object[] | List | ArrayList |
//! | Set | Set | LinkedHashSet |
//! | Map | Map | LinkedHashMap |
//! | org.srpy.Complex | Complex | Complex |
//! | LocalDateTime / OffsetDateTime, ZonedDateTime | DateTime | LocalDateTime / OffsetDateTime |
//! | LocalDate | Date | LocalDate |
//! | BigDecimal | Decimal | BigDecimal |
//! | org.srpy.NDArray, double[] float[] long[] int[] short[] boolean[] | Array | NDArray |

use jni::sys::{jlong, jobject, jvalue};
use srpy_proto::{BigInt, DType, NdArray, Order, Value};

use crate::error::JvmError;
use crate::raw::{jv_bool, jv_double, jv_int, jv_long, jv_obj, Cache, Prim, J};

/// Deepest nesting sent, counted as the wire counts it (a tuple or set
/// takes two levels).
// PROTOCOL.md 6.3: "A sender MUST NOT send a value nested deeper than 254
// levels below its own top".
const MAX_DEPTH: u32 = srpy_proto::cbor::MAX_VALUE_DEPTH as u32;

/// Refuses a value with a part at wire depth `depth` past [`MAX_DEPTH`].
fn check_depth(j: &J, c: &Cache, o: jobject, depth: u32) -> Result<(), JvmError> {
    if depth > MAX_DEPTH {
        return Err(JvmError::NotTransferable(
            srpy_proto::cbor::too_deep_message(&format!("a {}", class_name(j, c, o))),
        ));
    }
    Ok(())
}

/// The class name of an object, for messages.
pub fn class_name(j: &J, c: &Cache, o: jobject) -> String {
    let name = (|| -> Result<String, JvmError> {
        let cls = j.call_obj(o, c.get_class, &[])?;
        let n = j.call_obj(cls, c.class_get_name, &[])?;
        let s = j.string(n);
        j.del(n);
        j.del(cls);
        s
    })();
    name.unwrap_or_else(|_| {
        j.clear_exception();
        "<unknown class>".to_owned()
    })
}

fn to_value_at(j: &J, c: &Cache, o: jobject, depth: u32) -> Result<Value, JvmError> {
    if o.is_null() {
        return Ok(Value::Null);
    }
    // `depth` is the wire depth of `o` (PROTOCOL.md 6.3).
    check_depth(j, c, o, depth)?;
    if j.is(o, c.string) {
        return Ok(Value::Str(j.string(o)?));
    }
    if j.is(o, c.long) || j.is(o, c.integer) || j.is(o, c.short) || j.is(o, c.byte) {
        return Ok(Value::Int(j.call_long(o, c.number_long_value)?));
    }
    if j.is(o, c.double) || j.is(o, c.float) {
        return Ok(Value::Float(j.call_double(o, c.number_double_value)?));
    }
    if j.is(o, c.boolean) {
        return Ok(Value::Bool(j.call_bool(o, c.boolean_value, &[])?));
    }
    if j.is(o, c.byte_array) {
        return Ok(Value::Bytes(j.bytes_of(o)?.into()));
    }
    if j.is(o, c.tuple) {
        // Tag 42000, its array one level down, the items two.
        check_depth(j, c, o, depth + 1)?;
        return Ok(Value::Tuple(collection(j, c, o, depth + 2)?));
    }
    if j.is(o, c.map) {
        return map(j, c, o, depth + 1);
    }
    if j.is(o, c.set) {
        check_depth(j, c, o, depth + 1)?;
        return Ok(Value::Set(collection(j, c, o, depth + 2)?));
    }
    if j.is(o, c.collection) {
        return Ok(Value::List(collection(j, c, o, depth + 1)?));
    }
    if j.is(o, c.object_array) {
        return Ok(Value::List(array_items(j, c, o, depth + 1)?));
    }
    if j.is(o, c.big_integer) {
        return Ok(Value::from_bigint(big_integer(j, c, o)?));
    }
    if j.is(o, c.big_decimal) {
        check_depth(j, c, o, depth + 1)?;
        let unscaled = j.call_obj(o, c.big_decimal_unscaled, &[])?;
        let mantissa = big_integer(j, c, unscaled);
        j.del(unscaled);
        let scale = j.call_int(o, c.big_decimal_scale)?;
        return Ok(Value::Decimal {
            exponent: -(scale as i64),
            mantissa: mantissa?,
        });
    }
    if j.is(o, c.complex) {
        check_depth(j, c, o, depth + 2)?;
        return Ok(Value::Complex {
            re: j.call_double(o, c.complex_re)?,
            im: j.call_double(o, c.complex_im)?,
        });
    }
    if j.is(o, c.local_date_time) || j.is(o, c.offset_date_time) || j.is(o, c.zoned_date_time) {
        return Ok(Value::DateTime(static_text(
            j,
            c,
            c.internal_iso_datetime,
            o,
        )?));
    }
    if j.is(o, c.local_date) {
        return Ok(Value::Date(static_text(j, c, c.internal_iso_date, o)?));
    }
    if j.is(o, c.ndarray) {
        check_depth(j, c, o, depth + 2)?;
        return ndarray(j, c, o);
    }
    if j.is(o, c.character) {
        let s = j.call_obj(o, c.char_value, &[])?;
        let r = j.string(s);
        j.del(s);
        return Ok(Value::Str(r?));
    }
    let prims = [
        (c.double_array, DType::F64),
        (c.long_array, DType::I64),
        (c.int_array, DType::I32),
        (c.float_array, DType::F32),
        (c.short_array, DType::I16),
        (c.bool_array, DType::Bool),
    ];
    for (cls, dtype) in prims {
        if j.is(o, cls) {
            check_depth(j, c, o, depth + 2)?;
            let data = j.primitive_bytes(o, dtype.size())?;
            let n = (data.len() / dtype.size()) as u64;
            return Ok(Value::Array(
                NdArray::new(dtype, vec![n], Order::RowMajor, from_native(dtype, data))
                    .ok_or_else(|| JvmError::Internal("array length mismatch".into()))?,
            ));
        }
    }
    Err(JvmError::Arg(format!(
        "cannot send a {} to Python: the class has no SRPy value mapping (see docs/JVM.md)",
        class_name(j, c, o)
    )))
}

fn static_text(j: &J, c: &Cache, m: crate::raw::M, o: jobject) -> Result<String, JvmError> {
    let s = j.call_static_obj(c.internal, m, &[jv_obj(o)])?;
    let r = j.string(s);
    j.del(s);
    r
}

fn big_integer(j: &J, c: &Cache, o: jobject) -> Result<BigInt, JvmError> {
    let bytes = j.call_obj(o, c.big_integer_to_bytes, &[])?;
    let b = j.bytes_of(bytes);
    j.del(bytes);
    Ok(BigInt::from_signed_bytes_be(&b?))
}

/// The items of a collection, at wire depth `item_depth`.
fn collection(j: &J, c: &Cache, o: jobject, item_depth: u32) -> Result<Vec<Value>, JvmError> {
    let arr = j.call_obj(o, c.collection_to_array, &[])?;
    let r = array_items(j, c, arr, item_depth);
    j.del(arr);
    r
}

/// The items of an `Object[]`, at wire depth `item_depth`.
fn array_items(j: &J, c: &Cache, arr: jobject, item_depth: u32) -> Result<Vec<Value>, JvmError> {
    let n = j.array_len(arr);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let e = j.array_get(arr, i)?;
        let v = to_value_at(j, c, e, item_depth);
        j.del(e);
        out.push(v?);
    }
    Ok(out)
}

/// A map whose keys and values are at wire depth `item_depth`.
fn map(j: &J, c: &Cache, o: jobject, item_depth: u32) -> Result<Value, JvmError> {
    let set = j.call_obj(o, c.map_entry_set, &[])?;
    let arr = j.call_obj(set, c.collection_to_array, &[]);
    j.del(set);
    let arr = arr?;
    let r = (|| {
        let n = j.array_len(arr);
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let e = j.array_get(arr, i)?;
            let kv = (|| {
                let k = j.call_obj(e, c.entry_key, &[])?;
                let kv = to_value_at(j, c, k, item_depth);
                j.del(k);
                let v = j.call_obj(e, c.entry_value, &[])?;
                let vv = to_value_at(j, c, v, item_depth);
                j.del(v);
                Ok::<_, JvmError>((kv?, vv?))
            })();
            j.del(e);
            out.push(kv?);
        }
        Ok(Value::Map(out))
    })();
    j.del(arr);
    r
}

/// Variables from a `Map<String, ?>` (null: none).
pub fn to_vars(j: &J, c: &Cache, o: jobject) -> Result<Vec<(String, Value)>, JvmError> {
    if o.is_null() {
        return Ok(Vec::new());
    }
    if !j.is(o, c.map) {
        return Err(JvmError::Arg(format!(
            "variables must be a Map<String, ?>, got a {}",
            class_name(j, c, o)
        )));
    }
    // Each variable is a value of its own (PROTOCOL.md 6.3): its depth
    // counts from its own top.
    match map(j, c, o, 0)? {
        Value::Map(entries) => entries
            .into_iter()
            .map(|(k, v)| match k {
                Value::Str(k) => Ok((k, v)),
                other => Err(JvmError::Arg(format!(
                    "a variable name must be a String, got a {} key",
                    other.type_name()
                ))),
            })
            .collect(),
        _ => Err(JvmError::Internal("map conversion".into())),
    }
}

/// Names from a `String[]`.
pub fn to_names(j: &J, c: &Cache, o: jobject) -> Result<Vec<String>, JvmError> {
    if o.is_null() {
        return Ok(Vec::new());
    }
    let n = j.array_len(o);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let e = j.array_get(o, i)?;
        if e.is_null() || !j.is(e, c.string) {
            j.del(e);
            return Err(JvmError::Arg("a name must be a non-null String".into()));
        }
        let s = j.string(e);
        j.del(e);
        out.push(s?);
    }
    Ok(out)
}

/// One value (its depth counted from its own top).
pub fn to_value(j: &J, c: &Cache, o: jobject) -> Result<Value, JvmError> {
    to_value_at(j, c, o, 0)
}

/// Positional arguments from an `Object[]`.
pub fn to_args(j: &J, c: &Cache, o: jobject) -> Result<Vec<Value>, JvmError> {
    if o.is_null() {
        return Ok(Vec::new());
    }
    array_items(j, c, o, 0)
}

fn ndarray(j: &J, c: &Cache, o: jobject) -> Result<Value, JvmError> {
    let dt = j.call_obj(o, c.nd_dtype, &[])?;
    let dtype_name = j.string(dt);
    j.del(dt);
    let dtype_name = dtype_name?;
    let dtype = DType::from_name(&dtype_name)
        .ok_or_else(|| JvmError::Arg(format!("unsupported dtype '{dtype_name}'")))?;
    let sh = j.call_obj(o, c.nd_shape, &[])?;
    let shape = j.longs_of(sh);
    j.del(sh);
    let shape: Vec<u64> = shape?
        .into_iter()
        .map(|d| u64::try_from(d).map_err(|_| JvmError::Arg("negative dimension".into())))
        .collect::<Result<_, _>>()?;
    let fortran = j.call_bool(o, c.nd_fortran, &[])?;
    let data = j.call_obj(o, c.nd_data, &[])?;
    let bytes = j.primitive_bytes(data, dtype.size());
    j.del(data);
    let bytes = from_native(dtype, bytes?);
    let order = if fortran {
        Order::ColumnMajor
    } else {
        Order::RowMajor
    };
    NdArray::new(dtype, shape, order, bytes)
        .map(Value::Array)
        .ok_or_else(|| JvmError::Arg("the NDArray's shape does not match its data".into()))
}

/// Native-order element bytes → little-endian (a no-op on little-endian hosts).
fn from_native(dtype: DType, mut data: Vec<u8>) -> Vec<u8> {
    if cfg!(target_endian = "big") && dtype.size() > 1 {
        for chunk in data.chunks_mut(dtype.size()) {
            chunk.reverse();
        }
    }
    data
}

fn java_prim(dtype: DType) -> Prim {
    match dtype {
        DType::Bool => Prim::Bool,
        DType::I8 | DType::U8 => Prim::Byte,
        DType::I16 | DType::U16 | DType::F16 => Prim::Short,
        DType::I32 | DType::U32 => Prim::Int,
        DType::I64 | DType::U64 => Prim::Long,
        DType::F32 => Prim::Float,
        _ => Prim::Double,
    }
}

/// A value as a Java object (a new local reference, or null).
pub fn to_java(j: &J, c: &Cache, v: Value) -> Result<jobject, JvmError> {
    Ok(match v {
        Value::Null => std::ptr::null_mut(),
        Value::Bool(b) => j.local(if b { c.boolean_true } else { c.boolean_false }),
        Value::Int(i) => j.call_static_obj(c.long, c.long_value_of, &[jv_long(i)])?,
        Value::BigInt(b) => new_big_integer(j, c, &b)?,
        Value::Float(f) => j.call_static_obj(c.double, c.double_value_of, &[jv_double(f)])?,
        Value::Str(s) => j.new_string(&s)?,
        Value::Bytes(b) => j.byte_array(&b)?,
        Value::List(items) => {
            let list = j.new_obj(c.array_list, c.array_list_ctor, &[jv_int(cap(items.len()))])?;
            for item in items {
                let o = to_java(j, c, item).inspect_err(|_| j.del(list))?;
                let r = j.call_bool(list, c.list_add, &[jv_obj(o)]);
                j.del(o);
                r.inspect_err(|_| j.del(list))?;
            }
            list
        }
        Value::Tuple(items) => {
            let arr = j.new_object_array(items.len(), c.object)?;
            for (i, item) in items.into_iter().enumerate() {
                let o = to_java(j, c, item).inspect_err(|_| j.del(arr))?;
                let r = j.array_set(arr, i, o);
                j.del(o);
                r.inspect_err(|_| j.del(arr))?;
            }
            let t = j.call_static_obj(c.internal, c.internal_tuple, &[jv_obj(arr)]);
            j.del(arr);
            t?
        }
        Value::Set(items) => {
            let set = j.new_obj(
                c.linked_hash_set,
                c.linked_hash_set_ctor,
                &[jv_int(cap(items.len() * 4 / 3 + 1))],
            )?;
            for item in items {
                let o = to_java(j, c, item).inspect_err(|_| j.del(set))?;
                let r = j.call_bool(set, c.set_add, &[jv_obj(o)]);
                j.del(o);
                r.inspect_err(|_| j.del(set))?;
            }
            set
        }
        Value::Map(entries) => {
            let map = j.new_obj(
                c.linked_hash_map,
                c.linked_hash_map_ctor,
                &[jv_int(cap(entries.len() * 4 / 3 + 1))],
            )?;
            for (k, v) in entries {
                let ko = to_java(j, c, k).inspect_err(|_| j.del(map))?;
                let vo = to_java(j, c, v).inspect_err(|_| {
                    j.del(ko);
                    j.del(map)
                })?;
                let r = j.call_obj(map, c.map_put, &[jv_obj(ko), jv_obj(vo)]);
                j.del(ko);
                j.del(vo);
                j.del(r.inspect_err(|_| j.del(map))?);
            }
            map
        }
        Value::Complex { re, im } => {
            j.new_obj(c.complex, c.complex_ctor, &[jv_double(re), jv_double(im)])?
        }
        Value::DateTime(s) => {
            let t = j.new_string(&s)?;
            let r = j.call_static_obj(c.internal, c.internal_parse_datetime, &[jv_obj(t)]);
            j.del(t);
            r?
        }
        Value::Date(s) => {
            let t = j.new_string(&s)?;
            let r = j.call_static_obj(c.internal, c.internal_parse_date, &[jv_obj(t)]);
            j.del(t);
            r?
        }
        Value::Decimal { exponent, mantissa } => {
            let scale =
                i32::try_from(exponent.checked_neg().unwrap_or(i64::MAX)).map_err(|_| {
                    JvmError::NotTransferable(format!(
                        "a Decimal with exponent {exponent} does not fit a Java BigDecimal"
                    ))
                })?;
            let m = new_big_integer(j, c, &mantissa)?;
            let r = j.new_obj(
                c.big_decimal,
                c.big_decimal_ctor,
                &[jv_obj(m), jv_int(scale)],
            );
            j.del(m);
            r?
        }
        Value::Array(a) => new_ndarray(j, c, a)?,
        Value::Pickled(_) => {
            return Err(JvmError::NotTransferable(
                "a pickled Python object cannot be read in the JVM".into(),
            ))
        }
        other => {
            return Err(JvmError::NotTransferable(format!(
                "a {} has no Java mapping",
                other.type_name()
            )))
        }
    })
}

fn cap(n: usize) -> i32 {
    n.min(1 << 30) as i32
}

fn new_big_integer(j: &J, c: &Cache, b: &BigInt) -> Result<jobject, JvmError> {
    let bytes = j.byte_array(&b.to_signed_bytes_be())?;
    let r = j.new_obj(c.big_integer, c.big_integer_ctor, &[jv_obj(bytes)]);
    j.del(bytes);
    r
}

fn new_ndarray(j: &J, c: &Cache, a: NdArray) -> Result<jobject, JvmError> {
    let prim = java_prim(a.dtype);
    let data = from_native(a.dtype, a.data.into_vec()); // LE → native is the same swap
    let n = data.len() / a.dtype.size();
    let arr = j.new_primitive(prim, n)?;
    j.fill_primitive(arr, &data).inspect_err(|_| j.del(arr))?;
    drop(data);
    let shape: Vec<jlong> = a
        .shape
        .iter()
        .map(|&d| jlong::try_from(d).unwrap_or(jlong::MAX))
        .collect();
    let shape = j.long_array(&shape).inspect_err(|_| j.del(arr))?;
    let dtype = j.new_string(a.dtype.name())?;
    let args: [jvalue; 4] = [
        jv_obj(dtype),
        jv_obj(shape),
        jv_bool(a.order == Order::ColumnMajor),
        jv_obj(arr),
    ];
    let r = j.call_static_obj(c.internal, c.internal_ndarray, &args);
    j.del(dtype);
    j.del(shape);
    j.del(arr);
    r
}
