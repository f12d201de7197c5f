//! Conversion between Python objects and the wire value model
//! ([`srpy_proto::Value`]).
//!
//! This is on the hot path of every call, so the common types are recognised
//! by comparing type pointers (no attribute lookups, no `isinstance`), and the
//! modules needed for the rarer types (`datetime`, `decimal`, `numpy`,
//! `pickle`) are looked up once and cached.
//!
//! Only the limited (abi3) C API is used. numpy is optional: it is never
//! imported to *send* a value (an object can only be a numpy array or scalar
//! when numpy is already in `sys.modules`), and it is imported lazily when an
//! array must be *received*.
//!
//! | Python | `Value` |
//! |---|---|
//! | `None` / `bool` / `int` / `float` / `str` | `Null` / `Bool` / `Int` or `BigInt` / `Float` / `Str` |
//! | `bytes`, `bytearray`, `memoryview` | `Bytes` (back as `bytes`) |
//! | `list` / `tuple` / `dict` | `List` / `Tuple` / `Map` |
//! | `set`, `frozenset` | `Set` (back as `set`; `frozenset` where it must be hashable) |
//! | `complex` | `Complex` |
//! | `datetime.datetime` / `datetime.date` | `DateTime` / `Date` (ISO 8601 text) |
//! | `decimal.Decimal` (finite) | `Decimal` |
//! | `numpy.ndarray` (bool, int8–64, uint8–64, float16–64) | `Array` |
//! | numpy scalars | the matching plain value |
//! | anything else, with `allow_pickle` | `Pickled` |
//!
//! Subclasses of the builtin types convert as their base type (a namedtuple
//! arrives as a tuple, an `IntEnum` member as an int, an `OrderedDict` as a
//! dict). When a map key or set element comes back, a list becomes a tuple
//! and a set a frozenset, so that it stays hashable.
//!
//! The protocol's rules a Python peer enforces here (docs/PROTOCOL.md):
//! values nest at most [`MAX_DEPTH`] (254) levels counted as the wire counts
//! them (6.3); a received map whose keys, or set whose elements, are equal
//! in Python though distinct on the wire (`1`, `1.0`, `True`) is refused,
//! naming them (7.2); datetime or date text Python cannot read is refused
//! (7.3). Each is a [`NotTransferable`].

use std::borrow::Cow;
use std::fmt;
use std::ptr::addr_of_mut;
use std::sync::Arc;

use pyo3::exceptions::{PyImportError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyByteArray, PyBytes, PyComplex, PyDict, PyFrozenSet, PyList, PySet, PyString, PyTuple,
};
use srpy_client::panic;
use srpy_proto::buf::{Buf, BufOwner, RecvAlloc, RecvTarget};
use srpy_proto::value::{BigInt, DType, NdArray, Order, Value};

/// Deepest nesting [`py_to_value`] sends, counted as the wire counts it
/// (a tuple or set takes two levels); deeper (or self-referencing)
/// structures are refused.
// PROTOCOL.md 6.3: "A sender MUST NOT send a value nested deeper than 254
// levels below its own top".
pub const MAX_DEPTH: usize = srpy_proto::cbor::MAX_VALUE_DEPTH;

/// The type name of a [`NotTransferable`] for a pickled value received
/// without `allow_pickle`.
pub const PICKLED: &str = "pickled object";

/// Longest `repr` quoted in a [`NotTransferable`] message.
const REPR_MAX_CHARS: usize = 80;

/// Options of a conversion.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConvertOptions {
    /// Send objects without a wire form pickled, and accept pickled values
    /// (Python to Python only; unpickling runs code, so only between peers
    /// that trust each other).
    pub allow_pickle: bool,
    /// Send contiguous numpy arrays from their own memory instead of a
    /// copy. Only for calls that wait for their answer: an array changed
    /// while its request is still being written would travel half-changed.
    /// (`bytes` are immutable and always shared.)
    pub share_arrays: bool,
}

/// A value that has no wire form (or a pickled value received without
/// `allow_pickle`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotTransferable {
    /// The Python type of the offending object: `module.qualname`, or just
    /// the name for builtins (`"module"`, `"function"`).
    pub type_name: String,
    /// The whole message, ready for the user.
    pub message: String,
}

impl fmt::Display for NotTransferable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NotTransferable {}

/// Why a conversion failed.
#[derive(Debug)]
pub enum ConvertError {
    /// The object has no wire form; the caller raises `srpy.NotTransferable`.
    NotTransferable(NotTransferable),
    /// A Python exception raised while converting (e.g. by `isoformat()`, an
    /// unhashable map key, a missing numpy), to be re-raised as it is.
    Py(PyErr),
    /// The conversion panicked (a bug, found by a value it did not expect):
    /// the message of the panic. Raised as `srpy.SRPyError`; an engine
    /// answers it as a remote `SystemError` and goes on.
    Panic(String),
}

impl ConvertError {
    /// The Python exception to raise: `make` builds it from the message of a
    /// [`ConvertError::NotTransferable`]; a [`ConvertError::Py`] is returned
    /// as it is.
    pub fn into_pyerr_with(self, make: impl FnOnce(String) -> PyErr) -> PyErr {
        match self {
            ConvertError::NotTransferable(nt) => make(nt.message),
            ConvertError::Py(e) => e,
            e @ ConvertError::Panic(_) => {
                Python::attach(|py| crate::errors::internal(py, e.to_string()))
            }
        }
    }

    /// As [`ConvertError::into_pyerr_with`], with a `TypeError` for values
    /// that are not transferable.
    pub fn into_pyerr(self) -> PyErr {
        self.into_pyerr_with(PyTypeError::new_err)
    }
}

impl From<PyErr> for ConvertError {
    fn from(e: PyErr) -> Self {
        ConvertError::Py(e)
    }
}

impl From<NotTransferable> for ConvertError {
    fn from(e: NotTransferable) -> Self {
        ConvertError::NotTransferable(e)
    }
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvertError::NotTransferable(nt) => nt.fmt(f),
            ConvertError::Py(e) => e.fmt(f),
            ConvertError::Panic(m) => {
                write!(f, "internal error in srpy while converting a value: {m}")
            }
        }
    }
}

impl std::error::Error for ConvertError {}

type CResult<T> = Result<T, ConvertError>;

// ============================================================================
// Python -> Value
// ============================================================================

/// Converts a Python object to a wire value.
///
/// Fails with [`ConvertError::NotTransferable`] when the object (or one
/// nested in it) has no wire form, and with [`ConvertError::Py`] when Python
/// code raised while converting.
pub fn py_to_value(obj: &Bound<'_, PyAny>, opts: &ConvertOptions) -> Result<Value, ConvertError> {
    panic::catch(|| to_value(obj, opts, 0)).unwrap_or_else(|m| Err(ConvertError::Panic(m)))
}

/// Converts a dict of named values (a `get_many` or `vexec` result) to a
/// map whose values count their depth from their own top, as values in
/// a `vars` map do: the message holds them two levels down (PROTOCOL.md
/// 6.3), so the map costs them nothing.
pub fn py_vars_to_value(dict: &Bound<'_, PyDict>, opts: &ConvertOptions) -> CResult<Value> {
    let mut entries = Vec::with_capacity(dict.len());
    for (k, v) in dict.iter() {
        entries.push((to_value(&k, opts, 0)?, to_value(&v, opts, 0)?));
    }
    Ok(Value::Map(entries))
}

/// `depth` is the wire depth of `obj` below the top value (PROTOCOL.md
/// 6.3: an item of a list or dict is one level deeper, of a tuple or set
/// two).
fn to_value(obj: &Bound<'_, PyAny>, opts: &ConvertOptions, depth: usize) -> CResult<Value> {
    check_depth(obj, depth)?;
    let tp = obj.get_type_ptr();
    // SAFETY (whole block): the addresses of the builtin type objects are
    // only compared, never dereferenced; each cast is to the exact type just
    // checked.
    unsafe {
        if tp == addr_of_mut!(ffi::PyLong_Type) {
            return int_to_value(obj);
        }
        if tp == addr_of_mut!(ffi::PyUnicode_Type) {
            return str_to_value(obj, opts);
        }
        if tp == addr_of_mut!(ffi::PyFloat_Type) {
            return Ok(Value::Float(ffi::PyFloat_AsDouble(obj.as_ptr())));
        }
        if obj.is_none() {
            return Ok(Value::Null);
        }
        if tp == addr_of_mut!(ffi::PyBool_Type) {
            return Ok(Value::Bool(obj.as_ptr() == ffi::Py_True()));
        }
        if tp == addr_of_mut!(ffi::PyList_Type) {
            return list_to_value(obj.cast_unchecked::<PyList>(), opts, depth);
        }
        if tp == addr_of_mut!(ffi::PyTuple_Type) {
            return tuple_to_value(obj.cast_unchecked::<PyTuple>(), opts, depth);
        }
        if tp == addr_of_mut!(ffi::PyDict_Type) {
            return dict_to_value(obj.cast_unchecked::<PyDict>(), opts, depth);
        }
        if tp == addr_of_mut!(ffi::PyBytes_Type) {
            return Ok(Value::Bytes(bytes_to_buf(obj.cast_unchecked::<PyBytes>())));
        }
        if tp == addr_of_mut!(ffi::PySet_Type) || tp == addr_of_mut!(ffi::PyFrozenSet_Type) {
            return set_to_value(obj, opts, depth);
        }
        if tp == addr_of_mut!(ffi::PyComplex_Type) {
            let c = obj.cast_unchecked::<PyComplex>();
            return complex_value(obj, c.real(), c.imag(), depth);
        }
        if tp == addr_of_mut!(ffi::PyByteArray_Type) {
            return Ok(Value::Bytes(
                obj.cast_unchecked::<PyByteArray>().to_vec().into(),
            ));
        }
    }
    other_to_value(obj, opts, depth)
}

/// Everything that is not one of the exact builtin types.
fn other_to_value(obj: &Bound<'_, PyAny>, opts: &ConvertOptions, depth: usize) -> CResult<Value> {
    let py = obj.py();

    // Subclasses of the builtins (cheap checks on the type's flags first).
    if obj.is_instance_of::<pyo3::types::PyInt>() {
        return int_to_value(obj);
    }
    if obj.is_instance_of::<PyString>() {
        return str_to_value(obj, opts);
    }
    if obj.is_instance_of::<pyo3::types::PyFloat>() {
        // numpy.float64 lands here (it subclasses float).
        return Ok(Value::Float(obj.extract::<f64>()?));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return tuple_to_value(t, opts, depth);
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return list_to_value(l, opts, depth);
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return dict_subclass_to_value(d, opts, depth);
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Value::Bytes(b.as_bytes().into()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Value::Bytes(b.to_vec().into()));
    }
    if obj.is_instance_of::<PySet>() || obj.is_instance_of::<PyFrozenSet>() {
        return set_to_value(obj, opts, depth);
    }
    if let Ok(c) = obj.cast::<PyComplex>() {
        return complex_value(obj, c.real(), c.imag(), depth);
    }

    // Types of modules that are only looked at when already imported: an
    // object of such a type cannot exist otherwise.
    if let Some(dt) = datetime_if_loaded(py) {
        // datetime.datetime subclasses datetime.date: test it first.
        if obj.is_instance(dt.datetime.bind(py))? {
            let s = obj.call_method0(intern!(py, "isoformat"))?;
            return Ok(Value::DateTime(py_str_owned(&s)?));
        }
        if obj.is_instance(dt.date.bind(py))? {
            let s = obj.call_method0(intern!(py, "isoformat"))?;
            return Ok(Value::Date(py_str_owned(&s)?));
        }
    }
    if let Some(dec) = decimal_if_loaded(py) {
        if obj.is_instance(dec.decimal.bind(py))? {
            // Tag 4's two ints are one level below it.
            check_depth(obj, depth + 1)?;
            return decimal_to_value(obj, opts);
        }
    }
    if let Some(np) = numpy_if_loaded(py) {
        if obj.is_instance(np.ndarray.bind(py))? {
            // The shape's dims are two levels below the array's tag.
            check_depth(obj, depth + 2)?;
            return array_to_value(obj, np, opts);
        }
        if obj.is_instance(np.generic.bind(py))? {
            return numpy_scalar_to_value(obj, np, opts, depth);
        }
    }

    if obj.get_type_ptr() == addr_of_mut!(ffi::PyMemoryView_Type) {
        let b = obj.call_method0(intern!(py, "tobytes"))?;
        return Ok(Value::Bytes(bytes_to_buf(
            b.cast::<PyBytes>().map_err(PyErr::from)?,
        )));
    }

    refuse(obj, "not transferable", opts)
}

fn int_to_value(obj: &Bound<'_, PyAny>) -> CResult<Value> {
    let mut overflow: std::os::raw::c_int = 0;
    // SAFETY: obj is a live int (or int subclass) object.
    let v = unsafe { ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
    if overflow == 0 {
        if v == -1 {
            if let Some(e) = PyErr::take(obj.py()) {
                return Err(e.into());
            }
        }
        return Ok(Value::Int(v));
    }
    Ok(Value::from_bigint(py_int_to_bigint(obj)?))
}

/// A Python int of any size, through `int.to_bytes` (limited API).
fn py_int_to_bigint(obj: &Bound<'_, PyAny>) -> PyResult<BigInt> {
    let py = obj.py();
    let bits: usize = obj.call_method0(intern!(py, "bit_length"))?.extract()?;
    let len = bits / 8 + 1; // room for the sign bit
    let kwargs = PyDict::new(py);
    kwargs.set_item(intern!(py, "signed"), true)?;
    let bytes = obj.call_method(
        intern!(py, "to_bytes"),
        (len, intern!(py, "little")),
        Some(&kwargs),
    )?;
    Ok(BigInt::from_signed_bytes_le(
        bytes.cast::<PyBytes>()?.as_bytes(),
    ))
}

fn str_to_value(obj: &Bound<'_, PyAny>, opts: &ConvertOptions) -> CResult<Value> {
    // SAFETY: callers checked that obj is a str (or subclass).
    let s = unsafe { obj.cast_unchecked::<PyString>() };
    match s.to_cow() {
        Ok(c) => Ok(Value::Str(c.into_owned())),
        // Lone surrogates cannot be encoded as UTF-8.
        Err(_) => refuse(
            obj,
            "the str contains lone surrogates (not valid UTF-8)",
            opts,
        ),
    }
}

/// Text of a str object, owned.
fn py_str_owned(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(obj.cast::<PyString>()?.to_cow()?.into_owned())
}

/// Refuses `obj` when a part of it sits at wire depth `depth` and that is
/// deeper than [`MAX_DEPTH`].
fn check_depth(obj: &Bound<'_, PyAny>, depth: usize) -> CResult<()> {
    if depth > MAX_DEPTH {
        let type_name = type_display_name(obj);
        return Err(NotTransferable {
            message: srpy_proto::cbor::too_deep_message(&format!("a value of type '{type_name}'")),
            type_name,
        }
        .into());
    }
    Ok(())
}

/// A complex: its tag, then an array, then the two floats.
fn complex_value(obj: &Bound<'_, PyAny>, re: f64, im: f64, depth: usize) -> CResult<Value> {
    check_depth(obj, depth + 2)?;
    Ok(Value::Complex { re, im })
}

fn list_to_value(l: &Bound<'_, PyList>, opts: &ConvertOptions, depth: usize) -> CResult<Value> {
    let mut items = Vec::with_capacity(l.len());
    for item in l.iter() {
        items.push(to_value(&item, opts, depth + 1)?);
    }
    Ok(Value::List(items))
}

fn tuple_to_value(t: &Bound<'_, PyTuple>, opts: &ConvertOptions, depth: usize) -> CResult<Value> {
    // Tag 42000, then its array one level down, then the items.
    check_depth(t.as_any(), depth + 1)?;
    let mut items = Vec::with_capacity(t.len());
    for item in t.iter() {
        items.push(to_value(&item, opts, depth + 2)?);
    }
    Ok(Value::Tuple(items))
}

fn dict_to_value(d: &Bound<'_, PyDict>, opts: &ConvertOptions, depth: usize) -> CResult<Value> {
    let mut entries = Vec::with_capacity(d.len());
    for (k, v) in d.iter() {
        entries.push((
            to_value(&k, opts, depth + 1)?,
            to_value(&v, opts, depth + 1)?,
        ));
    }
    Ok(Value::Map(entries))
}

/// A dict subclass is read through `items()`, so that a subclass keeping its
/// own order (`OrderedDict.move_to_end`) is honoured.
fn dict_subclass_to_value(
    d: &Bound<'_, PyDict>,
    opts: &ConvertOptions,
    depth: usize,
) -> CResult<Value> {
    let py = d.py();
    let mut entries = Vec::with_capacity(d.len());
    for pair in d.call_method0(intern!(py, "items"))?.try_iter()? {
        let pair = pair?;
        let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair.extract()?;
        entries.push((
            to_value(&k, opts, depth + 1)?,
            to_value(&v, opts, depth + 1)?,
        ));
    }
    Ok(Value::Map(entries))
}

fn set_to_value(obj: &Bound<'_, PyAny>, opts: &ConvertOptions, depth: usize) -> CResult<Value> {
    // Tag 258, then its array one level down, then the elements.
    check_depth(obj, depth + 1)?;
    let mut items = Vec::with_capacity(obj.len().unwrap_or(0));
    for item in obj.try_iter()? {
        items.push(to_value(&item?, opts, depth + 2)?);
    }
    Ok(Value::Set(items))
}

fn decimal_to_value(obj: &Bound<'_, PyAny>, opts: &ConvertOptions) -> CResult<Value> {
    let py = obj.py();
    let t = obj.call_method0(intern!(py, "as_tuple"))?;
    let t = t.cast::<PyTuple>().map_err(PyErr::from)?;
    let exponent = t.get_item(2)?;
    // Non-finite decimals have a str exponent ('n', 'N', 'F').
    let Ok(exponent) = exponent.extract::<i64>() else {
        return refuse(
            obj,
            "a non-finite Decimal (NaN or Infinity) has no wire form",
            opts,
        );
    };
    let negative = t.get_item(0)?.extract::<i64>()? != 0;
    let digits = t.get_item(1)?;
    let digits = digits.cast::<PyTuple>().map_err(PyErr::from)?;
    let mut text = Vec::with_capacity(digits.len() + 1);
    if negative {
        text.push(b'-');
    }
    for d in digits.iter() {
        let d: u8 = d.extract()?;
        text.push(b'0' + d);
    }
    let mantissa = BigInt::parse_bytes(&text, 10)
        .ok_or_else(|| PyValueError::new_err("Decimal.as_tuple() returned invalid digits"))?;
    Ok(Value::Decimal { exponent, mantissa })
}

// ---- numpy ------------------------------------------------------------------

/// numpy's little-endian type string (`__array_interface__` `typestr`).
fn dtype_typestr(d: DType) -> Option<&'static str> {
    Some(match d {
        DType::Bool => "|b1",
        DType::I8 => "|i1",
        DType::I16 => "<i2",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
        DType::U8 => "|u1",
        DType::U16 => "<u2",
        DType::U32 => "<u4",
        DType::U64 => "<u8",
        DType::F16 => "<f2",
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

/// The dtype of a numpy type string and whether its data is big-endian.
fn parse_typestr(s: &str) -> Option<(DType, bool)> {
    let b = s.as_bytes();
    if b.len() != 3 {
        return None;
    }
    let big = match b[0] {
        b'<' | b'|' => false,
        b'>' => true,
        b'=' => cfg!(target_endian = "big"),
        _ => return None,
    };
    let d = match (b[1], b[2]) {
        (b'b', b'1') => DType::Bool,
        (b'i', b'1') => DType::I8,
        (b'i', b'2') => DType::I16,
        (b'i', b'4') => DType::I32,
        (b'i', b'8') => DType::I64,
        (b'u', b'1') => DType::U8,
        (b'u', b'2') => DType::U16,
        (b'u', b'4') => DType::U32,
        (b'u', b'8') => DType::U64,
        (b'f', b'2') => DType::F16,
        (b'f', b'4') => DType::F32,
        (b'f', b'8') => DType::F64,
        _ => return None,
    };
    Some((d, big && d.size() > 1))
}

/// Whether an array with these shape and strides (bytes) is Fortran-contiguous
/// (numpy's relaxed rule: dimensions of length 1 have any stride).
fn is_f_contiguous(shape: &[u64], strides: &[i64], itemsize: usize) -> bool {
    if shape.contains(&0) {
        return true;
    }
    let mut expected = itemsize as i64;
    for (&d, &s) in shape.iter().zip(strides) {
        if d != 1 {
            if s != expected {
                return false;
            }
            expected = expected.saturating_mul(d as i64);
        }
    }
    true
}

fn array_to_value(obj: &Bound<'_, PyAny>, np: &Numpy, opts: &ConvertOptions) -> CResult<Value> {
    let py = obj.py();
    // A subclass (np.matrix, ...) is sent as a plain ndarray (a view).
    let mut arr = if obj.get_type_ptr() == np.ndarray.bind(py).as_type_ptr() {
        obj.clone()
    } else {
        np.asarray.bind(py).call1((obj,))?
    };
    let mut iface = array_interface(&arr)?;
    let typestr = dict_item(&iface, intern!(py, "typestr"))?;
    let Some((dtype, big_endian)) =
        parse_typestr(&typestr.cast::<PyString>().map_err(PyErr::from)?.to_cow()?)
    else {
        let name = arr
            .getattr(intern!(py, "dtype"))?
            .str()?
            .to_cow()?
            .into_owned();
        return refuse(
            obj,
            &format!(
                "arrays of dtype {name} have no wire form (supported: bool, int8-int64, \
                 uint8-uint64, float16-float64)"
            ),
            opts,
        );
    };
    if big_endian {
        // Swap to little-endian, keeping the memory layout.
        arr = arr.call_method1(intern!(py, "astype"), (np.dtype(py, dtype)?,))?;
        iface = array_interface(&arr)?;
    }
    let itemsize = dtype.size();
    let shape: Vec<u64> = dict_item(&iface, intern!(py, "shape"))?.extract()?;
    let strides = dict_item(&iface, intern!(py, "strides"))?;
    let order = if strides.is_none() {
        Order::RowMajor // numpy reports no strides exactly for C-contiguous arrays
    } else {
        let strides: Vec<i64> = strides.extract()?;
        if is_f_contiguous(&shape, &strides, itemsize) {
            Order::ColumnMajor
        } else {
            arr = np.ascontiguousarray.bind(py).call1((&arr,))?;
            iface = array_interface(&arr)?;
            Order::RowMajor
        }
    };
    let nbytes = shape
        .iter()
        .try_fold(itemsize as u64, |n, &d| n.checked_mul(d))
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| PyValueError::new_err("array too large"))?;
    let data: Buf = if nbytes == 0 {
        Buf::default()
    } else {
        let ptr: usize = dict_item(&iface, intern!(py, "data"))?
            .get_item(0)?
            .extract()?;
        if opts.share_arrays && nbytes >= SHARE_MIN {
            // SAFETY: numpy reports `ptr` as the start of the array's
            // contiguous buffer of `nbytes` bytes, kept alive by `arr`; the
            // caller waits for the call, so nobody changes it meanwhile.
            Buf::shared(Arc::new(unsafe {
                PyMemory::new(arr.unbind(), ptr as *const u8, nbytes)
            }))
        } else {
            let mut data = alloc_buffer(nbytes);
            // SAFETY: as above; the GIL is held throughout the copy, and
            // `data` has capacity `nbytes`.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr as *const u8, data.as_mut_ptr(), nbytes);
                data.set_len(nbytes);
            }
            data.into()
        }
    };
    Ok(Value::Array(NdArray {
        dtype,
        shape,
        order,
        data,
    }))
}

/// `d[key]`, a `KeyError` when missing.
fn dict_item<'py>(
    d: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
) -> PyResult<Bound<'py, PyAny>> {
    d.get_item(key)?
        .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(key.clone().unbind()))
}

/// Buffers from this size on are shared with the Python object they come
/// from instead of copied (the frame writer sends them from there).
const SHARE_MIN: usize = srpy_proto::frame::SEGMENT_MIN;

/// Memory of a Python object shared with a [`Buf`]: the object is kept
/// alive by the reference held here (released through pyo3's pool when the
/// last `Buf` drops without the GIL).
pub struct PyMemory {
    obj: Py<PyAny>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: `Py` is Send + Sync; the memory is only read (see `BufOwner`).
unsafe impl Send for PyMemory {}
unsafe impl Sync for PyMemory {}

impl PyMemory {
    /// # Safety
    /// `ptr..ptr + len` is memory of `obj` that lives as long as `obj` and
    /// does not change while shared.
    unsafe fn new(obj: Py<PyAny>, ptr: *const u8, len: usize) -> PyMemory {
        PyMemory { obj, ptr, len }
    }

    /// The object, if it is a `bytes` whose whole content this is.
    fn as_bytes_object<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        let o = self.obj.bind(py);
        // SAFETY: type pointer comparison and a size query on a live object.
        let exact = unsafe {
            o.get_type_ptr() == addr_of_mut!(ffi::PyBytes_Type)
                && ffi::PyBytes_Size(o.as_ptr()) as usize == self.len
        };
        exact.then(|| o.clone())
    }
}

// SAFETY: per `PyMemory::new`, the slice is the same and unchanged for the
// owner's life.
unsafe impl BufOwner for PyMemory {
    fn bytes(&self) -> &[u8] {
        // SAFETY: see `PyMemory::new`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// A `bytes` object's content: a big one is shared (bytes never change),
/// a small one copied (cheaper than a reference kept across threads).
fn bytes_to_buf(b: &Bound<'_, PyBytes>) -> Buf {
    let data = b.as_bytes();
    if data.len() < SHARE_MIN {
        return data.into();
    }
    // SAFETY: a bytes object's buffer lives as long as the object and
    // never changes.
    Buf::shared(Arc::new(unsafe {
        PyMemory::new(b.clone().into_any().unbind(), data.as_ptr(), data.len())
    }))
}

/// Reads big received `bytes` values straight into new Python `bytes`
/// objects: an engine's namespace, or a client's caller, then gets them as
/// they arrived, without a copy.
pub struct PyBytesAlloc {
    /// Set at interpreter exit: from then on, read into vectors (taking the
    /// GIL while the interpreter finalizes can end a thread mid-Rust-code).
    pub stopped: Option<&'static std::sync::atomic::AtomicBool>,
    /// Only on this thread (`pthread_self`), else read into vectors. An
    /// engine allocates on its main thread, which drives the reader while
    /// idle; the I/O thread reads while Python runs, and must not wait for
    /// the GIL then (it answers `ping` and `interrupt` meanwhile).
    pub only_thread: Option<usize>,
}

impl RecvAlloc for PyBytesAlloc {
    fn alloc_bytes(&self, n: usize) -> Option<RecvTarget> {
        if self
            .stopped
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::Acquire))
        {
            return None;
        }
        // SAFETY: pthread_self has no preconditions.
        if self
            .only_thread
            .is_some_and(|t| t != unsafe { libc::pthread_self() } as usize)
        {
            return None;
        }
        // The reader may wait here for a busy interpreter to let go of the
        // GIL: on a multi-thread runtime tell tokio, so that other
        // connections (`ping`, `interrupt`) are still served meanwhile.
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let alloc = || {
            Python::attach(|py| {
                // SAFETY: PyBytes_FromStringAndSize(NULL, n) returns a new
                // bytes object of n uninitialised bytes, or NULL with an
                // exception (then read into a vector instead).
                let obj = unsafe {
                    Bound::from_owned_ptr_or_err(
                        py,
                        ffi::PyBytes_FromStringAndSize(std::ptr::null(), n as ffi::Py_ssize_t),
                    )
                }
                .ok()?;
                // SAFETY: the content of the bytes object just made.
                let ptr = unsafe { ffi::PyBytes_AsString(obj.as_ptr()) } as *mut u8;
                srpy_proto::frame::advise_huge_pages(ptr, n);
                // SAFETY: nobody else has seen `obj`; the reader fills all n
                // bytes before the Buf is used, and no one changes them then.
                let owner = Arc::new(unsafe { PyMemory::new(obj.unbind(), ptr, n) });
                Some(unsafe { RecvTarget::new(owner, ptr, n) })
            })
        };
        if multi_thread {
            tokio::task::block_in_place(alloc)
        } else {
            alloc()
        }
    }
}

/// A Python `bytes` holding a copy of `b`. A big one is allocated without
/// being zeroed and backed by huge pages before the copy (one pass over
/// fresh memory instead of page faults interleaved with the copy).
fn bytes_to_py<'py>(py: Python<'py>, b: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    if b.len() >= srpy_proto::frame::HUGE_PAGE_MIN {
        // SAFETY: PyBytes_FromStringAndSize(NULL, n) returns a new bytes
        // object with n uninitialised bytes (or NULL and an exception); we
        // fill every byte before anyone else can see the object.
        unsafe {
            let obj = Bound::from_owned_ptr_or_err(
                py,
                ffi::PyBytes_FromStringAndSize(std::ptr::null(), b.len() as ffi::Py_ssize_t),
            )?;
            let dst = ffi::PyBytes_AsString(obj.as_ptr()) as *mut u8;
            srpy_proto::frame::advise_huge_pages(dst, b.len());
            std::ptr::copy_nonoverlapping(b.as_ptr(), dst, b.len());
            return Ok(obj);
        }
    }
    Ok(PyBytes::new(py, b).into_any())
}

/// An empty vector with room for `n` bytes (huge pages when big).
fn alloc_buffer(n: usize) -> Vec<u8> {
    srpy_proto::frame::big_buffer(n)
}

fn array_interface<'py>(arr: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    Ok(arr
        .getattr(intern!(arr.py(), "__array_interface__"))?
        .cast_into::<PyDict>()?)
}

fn numpy_scalar_to_value(
    obj: &Bound<'_, PyAny>,
    np: &Numpy,
    opts: &ConvertOptions,
    depth: usize,
) -> CResult<Value> {
    let py = obj.py();
    if obj.is_instance(np.bool_.bind(py))? {
        return Ok(Value::Bool(obj.is_truthy()?));
    }
    if obj.is_instance(np.integer.bind(py))? {
        // SAFETY: obj is live; PyNumber_Index returns a new reference or NULL
        // with an exception set.
        let i = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyNumber_Index(obj.as_ptr()))? };
        return int_to_value(&i);
    }
    let itemsize: usize = obj.getattr(intern!(py, "itemsize"))?.extract()?;
    if obj.is_instance(np.floating.bind(py))? {
        if itemsize <= 8 {
            return Ok(Value::Float(obj.extract::<f64>()?));
        }
        return refuse(
            obj,
            "a numpy float wider than 64 bits would lose precision",
            opts,
        );
    }
    if obj.is_instance(np.complexfloating.bind(py))? {
        if itemsize <= 16 {
            let re: f64 = obj.getattr(intern!(py, "real"))?.extract()?;
            let im: f64 = obj.getattr(intern!(py, "imag"))?.extract()?;
            return complex_value(obj, re, im, depth);
        }
        return refuse(
            obj,
            "a numpy complex wider than 128 bits would lose precision",
            opts,
        );
    }
    refuse(obj, "not transferable", opts)
}

// ---- refusal, pickling ------------------------------------------------------

/// The type of `obj` for messages: `module.qualname`, or the bare name for
/// builtins.
fn type_display_name(obj: &Bound<'_, PyAny>) -> String {
    let ty = obj.get_type();
    let qualname = ty
        .qualname()
        .ok()
        .and_then(|q| q.to_cow().ok().map(Cow::into_owned))
        .unwrap_or_else(|| "?".to_owned());
    match ty
        .module()
        .ok()
        .and_then(|m| m.to_cow().ok().map(Cow::into_owned))
    {
        Some(m) if m != "builtins" => format!("{m}.{qualname}"),
        _ => qualname,
    }
}

/// `repr(obj)`, cut to [`REPR_MAX_CHARS`] characters.
fn short_repr(obj: &Bound<'_, PyAny>) -> String {
    let Ok(r) = obj.repr() else {
        return "<repr failed>".to_owned();
    };
    let r = r.to_string_lossy();
    if r.chars().count() <= REPR_MAX_CHARS {
        r.into_owned()
    } else {
        let mut s: String = r.chars().take(REPR_MAX_CHARS - 3).collect();
        s.push_str("...");
        s
    }
}

/// An object with no wire form: pickled when allowed, else refused.
fn refuse(obj: &Bound<'_, PyAny>, reason: &str, opts: &ConvertOptions) -> CResult<Value> {
    let type_name = type_display_name(obj);
    let message = if opts.allow_pickle {
        match pickle_dumps(obj) {
            Ok(bytes) => return Ok(Value::Pickled(bytes)),
            Err(e) => format!(
                "cannot send a value of type '{type_name}' ({}): {reason}, and pickling it \
                 failed: {e}",
                short_repr(obj)
            ),
        }
    } else {
        format!(
            "cannot send a value of type '{type_name}' ({}): {reason}; pass allow_pickle=True \
             to send it pickled (Python to Python only)",
            short_repr(obj)
        )
    };
    Err(NotTransferable { type_name, message }.into())
}

static PICKLE_DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static PICKLE_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `cloudpickle.dumps(obj, 5)` when cloudpickle is installed (it pickles
/// lambdas and classes defined in `__main__`), else `pickle.dumps(obj, 5)`.
fn pickle_dumps(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let py = obj.py();
    let dumps = PICKLE_DUMPS.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        let m = match py.import("cloudpickle") {
            Ok(m) => m,
            Err(_) => py.import("pickle")?,
        };
        Ok(m.getattr("dumps")?.unbind())
    })?;
    let b = dumps.bind(py).call1((obj, 5))?;
    Ok(b.cast::<PyBytes>()?.as_bytes().to_vec())
}

fn pickle_loads<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let loads = PICKLE_LOADS.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("pickle")?.getattr("loads")?.unbind())
    })?;
    loads.bind(py).call1((PyBytes::new(py, data),))
}

// ---- cached modules ---------------------------------------------------------

/// `sys.modules[name]` if present, without importing anything.
fn loaded_module<'py>(py: Python<'py>, name: &Bound<'py, PyString>) -> Option<Bound<'py, PyAny>> {
    // SAFETY: PyImport_GetModule returns a new reference, or NULL (with or
    // without an exception set).
    let p = unsafe { ffi::PyImport_GetModule(name.as_ptr()) };
    if p.is_null() {
        let _ = PyErr::take(py);
        return None;
    }
    let m = unsafe { Bound::from_owned_ptr(py, p) };
    (!m.is_none()).then_some(m)
}

struct Datetime {
    datetime: Py<PyAny>,
    date: Py<PyAny>,
}

static DATETIME: PyOnceLock<Datetime> = PyOnceLock::new();

fn datetime_from(m: &Bound<'_, PyAny>) -> PyResult<Datetime> {
    Ok(Datetime {
        datetime: m.getattr("datetime")?.unbind(),
        date: m.getattr("date")?.unbind(),
    })
}

fn datetime_if_loaded(py: Python<'_>) -> Option<&'static Datetime> {
    if let Some(d) = DATETIME.get(py) {
        return Some(d);
    }
    let m = loaded_module(py, intern!(py, "datetime"))?;
    DATETIME.get_or_try_init(py, || datetime_from(&m)).ok()
}

fn datetime_imported(py: Python<'_>) -> PyResult<&'static Datetime> {
    DATETIME.get_or_try_init(py, || datetime_from(py.import("datetime")?.as_any()))
}

struct Decimal {
    decimal: Py<PyAny>,
}

static DECIMAL: PyOnceLock<Decimal> = PyOnceLock::new();

fn decimal_from(m: &Bound<'_, PyAny>) -> PyResult<Decimal> {
    Ok(Decimal {
        decimal: m.getattr("Decimal")?.unbind(),
    })
}

fn decimal_if_loaded(py: Python<'_>) -> Option<&'static Decimal> {
    if let Some(d) = DECIMAL.get(py) {
        return Some(d);
    }
    let m = loaded_module(py, intern!(py, "decimal"))?;
    DECIMAL.get_or_try_init(py, || decimal_from(&m)).ok()
}

fn decimal_imported(py: Python<'_>) -> PyResult<&'static Decimal> {
    DECIMAL.get_or_try_init(py, || decimal_from(py.import("decimal")?.as_any()))
}

struct Numpy {
    ndarray: Py<pyo3::types::PyType>,
    generic: Py<PyAny>,
    bool_: Py<PyAny>,
    integer: Py<PyAny>,
    floating: Py<PyAny>,
    complexfloating: Py<PyAny>,
    empty: Py<PyAny>,
    frombuffer: Py<PyAny>,
    asarray: Py<PyAny>,
    ascontiguousarray: Py<PyAny>,
    /// `numpy.dtype` objects for the little-endian type strings.
    dtypes: Vec<(DType, Py<PyAny>)>,
}

impl Numpy {
    fn dtype<'py>(&self, py: Python<'py>, d: DType) -> PyResult<&Bound<'py, PyAny>> {
        self.dtypes
            .iter()
            .find(|(x, _)| *x == d)
            .map(|(_, o)| o.bind(py))
            .ok_or_else(|| PyValueError::new_err(format!("unsupported array dtype {}", d.name())))
    }
}

static NUMPY: PyOnceLock<Numpy> = PyOnceLock::new();

fn numpy_from(m: &Bound<'_, PyAny>) -> PyResult<Numpy> {
    let dtype = m.getattr("dtype")?;
    let mut dtypes = Vec::with_capacity(DType::ALL.len());
    for d in DType::ALL {
        if let Some(ts) = dtype_typestr(d) {
            dtypes.push((d, dtype.call1((ts,))?.unbind()));
        }
    }
    Ok(Numpy {
        ndarray: m
            .getattr("ndarray")?
            .cast_into::<pyo3::types::PyType>()?
            .unbind(),
        generic: m.getattr("generic")?.unbind(),
        bool_: m.getattr("bool_")?.unbind(),
        integer: m.getattr("integer")?.unbind(),
        floating: m.getattr("floating")?.unbind(),
        complexfloating: m.getattr("complexfloating")?.unbind(),
        empty: m.getattr("empty")?.unbind(),
        frombuffer: m.getattr("frombuffer")?.unbind(),
        asarray: m.getattr("asarray")?.unbind(),
        ascontiguousarray: m.getattr("ascontiguousarray")?.unbind(),
        dtypes,
    })
}

/// numpy, when something already imported it (never imports it).
fn numpy_if_loaded(py: Python<'_>) -> Option<&'static Numpy> {
    if let Some(n) = NUMPY.get(py) {
        return Some(n);
    }
    let m = loaded_module(py, intern!(py, "numpy"))?;
    NUMPY.get_or_try_init(py, || numpy_from(&m)).ok()
}

/// numpy, imported if need be; an `ImportError` saying why when missing.
fn numpy_imported(py: Python<'_>) -> PyResult<&'static Numpy> {
    NUMPY.get_or_try_init(py, || {
        let m = py.import("numpy").map_err(|e| {
            let err = PyImportError::new_err(
                "numpy is needed to receive arrays (an ndarray value arrived): \
                 install it with `pip install numpy`",
            );
            err.set_cause(py, Some(e));
            err
        })?;
        numpy_from(m.as_any())
    })
}

// ============================================================================
// Value -> Python
// ============================================================================

/// Converts a wire value to a Python object.
///
/// A pickled value is refused with [`ConvertError::NotTransferable`] unless
/// `opts.allow_pickle`; an array needs numpy (an `ImportError` otherwise).
pub fn value_to_py(
    py: Python<'_>,
    v: Value,
    opts: &ConvertOptions,
) -> Result<Py<PyAny>, ConvertError> {
    // Values come from peers: a value no code path expected must fail this
    // conversion, not the thread (an engine's main thread, the futures
    // thread of a client).
    match panic::catch(|| to_py(py, v, opts, false)) {
        Ok(r) => Ok(r?.unbind()),
        Err(m) => Err(ConvertError::Panic(m)),
    }
}

/// `hashable`: the result is a dict key, a set element, or inside one of
/// those: lists become tuples and sets frozensets.
fn to_py<'py>(
    py: Python<'py>,
    v: Value,
    opts: &ConvertOptions,
    hashable: bool,
) -> CResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => pyo3::types::PyBool::new(py, b).to_owned().into_any(),
        // SAFETY: PyLong_FromLongLong returns a new reference or NULL with an
        // exception set.
        Value::Int(i) => unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyLong_FromLongLong(i))? },
        Value::BigInt(b) => bigint_to_py(py, &b)?,
        Value::Float(f) => pyo3::types::PyFloat::new(py, f).into_any(),
        Value::Str(s) => PyString::new(py, &s).into_any(),
        Value::Bytes(b) => match b.owner::<PyMemory>().and_then(|m| m.as_bytes_object(py)) {
            // Received in place: already the `bytes` object.
            Some(obj) => obj,
            None => bytes_to_py(py, &b)?,
        },
        Value::List(items) if hashable => seq_to_tuple(py, items, opts, true)?,
        Value::List(items) => {
            // SAFETY: PyList_New returns a new list of NULL slots (or NULL
            // with an exception); every slot is filled by PyList_SetItem
            // (which steals the reference) before the list is handed out. On
            // an error the half-filled list is dropped, which is allowed.
            let list = unsafe {
                Bound::from_owned_ptr_or_err(py, ffi::PyList_New(items.len() as ffi::Py_ssize_t))?
            };
            for (i, item) in items.into_iter().enumerate() {
                let o = to_py(py, item, opts, false)?;
                if unsafe { ffi::PyList_SetItem(list.as_ptr(), i as ffi::Py_ssize_t, o.into_ptr()) }
                    != 0
                {
                    return Err(PyErr::fetch(py).into());
                }
            }
            list
        }
        Value::Tuple(items) => seq_to_tuple(py, items, opts, hashable)?,
        Value::Map(entries) => {
            let d = PyDict::new(py);
            for (k, v) in entries {
                let k = to_py(py, k, opts, true)?;
                let v = to_py(py, v, opts, false)?;
                let before = d.len();
                d.set_item(&k, v)?;
                if d.len() == before {
                    return Err(collision(d.as_any(), &k, "map keys", "dict")?);
                }
            }
            d.into_any()
        }
        Value::Set(items) => {
            let set = PySet::empty(py)?;
            for item in items {
                let e = to_py(py, item, opts, true)?;
                let before = set.len();
                set.add(&e)?;
                if set.len() == before {
                    return Err(collision(set.as_any(), &e, "set elements", "set")?);
                }
            }
            if hashable {
                PyFrozenSet::new(py, set.iter())?.into_any()
            } else {
                set.into_any()
            }
        }
        Value::Complex { re, im } => PyComplex::from_doubles(py, re, im).into_any(),
        Value::DateTime(s) => {
            datetime_from_iso(py, &s).map_err(|e| unreadable("datetime", &s, e))?
        }
        Value::Date(s) => {
            let dt = datetime_imported(py)?;
            dt.date
                .bind(py)
                .call_method1(intern!(py, "fromisoformat"), (&s,))
                .map_err(|e| unreadable("date", &s, e))?
        }
        Value::Decimal { exponent, mantissa } => {
            // The Decimal constructor is exact (no context rounding).
            let dec = decimal_imported(py)?;
            dec.decimal
                .bind(py)
                .call1((format!("{mantissa}E{exponent}"),))?
        }
        Value::Array(a) => array_to_py(py, a)?,
        Value::Pickled(b) => {
            if !opts.allow_pickle {
                return Err(NotTransferable {
                    type_name: PICKLED.to_owned(),
                    message: format!(
                        "received a pickled object ({} bytes) but allow_pickle is False; pass \
                         allow_pickle=True to accept pickled values (only from a peer you \
                         trust: unpickling runs code)",
                        b.len()
                    ),
                }
                .into());
            }
            pickle_loads(py, &b)?
        }
        #[allow(unreachable_patterns)]
        other => {
            return Err(PyValueError::new_err(format!(
                "cannot convert a value of type {} to Python",
                other.type_name()
            ))
            .into())
        }
    })
}

/// The error for a map key or set element `new` that is distinct on the
/// wire but equal in Python to one already in `container` (`1`, `1.0` and
/// `True`; `Decimal('1.5')` and `Decimal('1.50')`; two sets in different
/// orders): it names both.
// PROTOCOL.md 7.2: "A Python receiver MUST reject a map whose keys, or a
// set whose elements, collide in Python, with `not_transferable` naming the
// colliding keys; it MUST NOT drop entries."
fn collision(
    container: &Bound<'_, PyAny>,
    new: &Bound<'_, PyAny>,
    what: &str,
    python_type: &str,
) -> PyResult<ConvertError> {
    let mut earlier = None;
    for k in container.try_iter()? {
        let k = k?;
        if k.eq(new)? {
            earlier = Some(k);
            break;
        }
    }
    let earlier = earlier.map_or_else(|| "an earlier one".to_owned(), |k| short_repr(&k));
    Ok(NotTransferable {
        type_name: python_type.to_owned(),
        message: format!(
            "received {what} that collide in Python: {earlier} and {} are distinct on the \
             wire but equal in Python, and a {python_type} cannot hold both",
            short_repr(new)
        ),
    }
    .into())
}

fn seq_to_tuple<'py>(
    py: Python<'py>,
    items: Vec<Value>,
    opts: &ConvertOptions,
    hashable: bool,
) -> CResult<Bound<'py, PyAny>> {
    // SAFETY: as for lists: PyTuple_New gives NULL slots, each filled once by
    // PyTuple_SetItem (stealing the reference) before the tuple escapes; a
    // half-filled tuple may be dropped.
    let t = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyTuple_New(items.len() as ffi::Py_ssize_t))?
    };
    for (i, item) in items.into_iter().enumerate() {
        let o = to_py(py, item, opts, hashable)?;
        if unsafe { ffi::PyTuple_SetItem(t.as_ptr(), i as ffi::Py_ssize_t, o.into_ptr()) } != 0 {
            return Err(PyErr::fetch(py).into());
        }
    }
    Ok(t)
}

fn bigint_to_py<'py>(py: Python<'py>, b: &BigInt) -> PyResult<Bound<'py, PyAny>> {
    let kwargs = PyDict::new(py);
    kwargs.set_item(intern!(py, "signed"), true)?;
    py.get_type::<pyo3::types::PyInt>().call_method(
        intern!(py, "from_bytes"),
        (
            PyBytes::new(py, &b.to_signed_bytes_le()),
            intern!(py, "little"),
        ),
        Some(&kwargs),
    )
}

/// A datetime or date whose text Python cannot read.
// PROTOCOL.md 7.3: "A receiver that cannot read the text as a date-time
// (or date) MUST report the value as not transferable, naming the text".
fn unreadable(kind: &str, text: &str, e: PyErr) -> ConvertError {
    let shown: String = text.chars().take(REPR_MAX_CHARS).collect();
    NotTransferable {
        type_name: kind.to_owned(),
        message: format!("received a {kind} whose text {shown:?} is not ISO 8601 ({e})"),
    }
    .into()
}

/// `datetime.fromisoformat`, made to accept what Python before 3.11 refuses
/// but other clients send: a `Z` suffix, fractions of other than 3 or 6
/// digits, offsets written `+hhmm` or `+hh`.
fn datetime_from_iso<'py>(py: Python<'py>, s: &str) -> PyResult<Bound<'py, PyAny>> {
    let cls = datetime_imported(py)?.datetime.bind(py);
    match cls.call_method1(intern!(py, "fromisoformat"), (s,)) {
        Ok(d) => Ok(d),
        Err(e) => match normalize_iso_datetime(s) {
            Some(n) if n != s => cls
                .call_method1(intern!(py, "fromisoformat"), (n,))
                .map_err(|_| e),
            _ => Err(e),
        },
    }
}

/// Rewrites ISO 8601 date-time text to the subset Python 3.9's
/// `datetime.fromisoformat` reads (see [`datetime_from_iso`]).
pub(crate) fn normalize_iso_datetime(s: &str) -> Option<String> {
    if s.len() < 11 || !s.is_char_boundary(10) {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let sep = rest.as_bytes()[0];
    if !matches!(sep, b'T' | b't' | b' ') {
        return None;
    }
    let time = &rest[1..];
    // Split off the offset.
    let (clock, offset) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, "+00:00".to_owned())
    } else if let Some(i) = time.rfind(['+', '-']) {
        let (c, o) = time.split_at(i);
        let (sign, digits) = o.split_at(1);
        // Only ASCII digits are sliced by byte: other text (a hostile
        // `+€1`) is left for fromisoformat to refuse.
        let o = match digits.len() {
            _ if !digits.bytes().all(|b| b.is_ascii_digit()) => o.to_owned(),
            2 => format!("{sign}{digits}:00"),
            4 => format!("{sign}{}:{}", &digits[..2], &digits[2..]),
            _ => o.to_owned(),
        };
        (c, o)
    } else {
        (time, String::new())
    };
    // Fraction of a second: exactly 6 digits.
    let clock = match clock.find(['.', ',']) {
        Some(i) => {
            let frac = &clock[i + 1..];
            if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let mut f: String = frac.chars().take(6).collect();
            while f.len() < 6 {
                f.push('0');
            }
            format!("{}.{f}", &clock[..i])
        }
        None => clock.to_owned(),
    };
    Some(format!("{date}T{clock}{offset}"))
}

/// Arrays from this size on are handed to numpy without a copy.
const ZERO_COPY_MIN: usize = 1 << 20;

/// A received array buffer lent to numpy through the buffer protocol: the
/// bytes are not copied, and stay alive as long as the array (its `base`).
#[pyclass(module = "srpy._srpy", frozen)]
pub struct ReceivedBuffer {
    ptr: *mut u8,
    len: usize,
    cap: usize,
}

// SAFETY: the buffer is owned by this object alone; Python code that writes
// into it through numpy does so under the GIL, like any numpy array.
unsafe impl Send for ReceivedBuffer {}
unsafe impl Sync for ReceivedBuffer {}

impl ReceivedBuffer {
    fn new(data: Vec<u8>) -> ReceivedBuffer {
        let mut data = std::mem::ManuallyDrop::new(data);
        ReceivedBuffer {
            ptr: data.as_mut_ptr(),
            len: data.len(),
            cap: data.capacity(),
        }
    }
}

impl Drop for ReceivedBuffer {
    fn drop(&mut self) {
        // SAFETY: the parts came from a Vec in `new` and are used once.
        let data = unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) };
        // Kept a moment for the next big receive (a loop of gets or sets).
        srpy_proto::pool::recycle(data);
    }
}

#[pymethods]
impl ReceivedBuffer {
    /// The buffer protocol: one writable, contiguous run of bytes.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: std::os::raw::c_int,
    ) -> PyResult<()> {
        let (ptr, len) = (slf.get().ptr, slf.get().len);
        // SAFETY: `view` is the exporter's view to fill; PyBuffer_FillInfo
        // takes a new reference to `slf` for it.
        let rc = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                ptr.cast(),
                len as ffi::Py_ssize_t,
                0,
                flags,
            )
        };
        if rc == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}
}

fn array_to_py<'py>(py: Python<'py>, a: NdArray) -> PyResult<Bound<'py, PyAny>> {
    let np = numpy_imported(py)?;
    let expected = a
        .shape
        .iter()
        .try_fold(a.dtype.size() as u64, |n, &d| n.checked_mul(d))
        .and_then(|n| usize::try_from(n).ok());
    if expected != Some(a.data.len()) {
        return Err(PyValueError::new_err(format!(
            "array of {} with shape {:?} has {} bytes of data",
            a.dtype.name(),
            a.shape,
            a.data.len()
        )));
    }
    let shape = PyTuple::new(py, &a.shape)?;
    let order = match a.order {
        Order::RowMajor => intern!(py, "C"),
        Order::ColumnMajor => intern!(py, "F"),
    };
    if a.data.len() >= ZERO_COPY_MIN {
        // No copy: a writable array over the received buffer itself, which
        // the array keeps alive (its `base`).
        let dtype = np.dtype(py, a.dtype)?.clone();
        let buffer = Py::new(py, ReceivedBuffer::new(a.data.into_vec()))?;
        let flat = np.frombuffer.bind(py).call1((buffer, dtype))?;
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item(intern!(py, "order"), order)?;
        return flat.call_method(intern!(py, "reshape"), (shape,), Some(&kwargs));
    }
    // One copy, into a fresh writable array that owns its memory.
    let out = np
        .empty
        .bind(py)
        .call1((shape, np.dtype(py, a.dtype)?, order))?;
    if !a.data.is_empty() {
        let iface = array_interface(&out)?;
        let ptr: usize = dict_item(&iface, intern!(py, "data"))?
            .get_item(0)?
            .extract()?;
        // SAFETY: `out` is a new contiguous array of exactly `a.data.len()`
        // bytes (dtype size times the shape) in the requested order, so its
        // buffer is the destination of a flat copy in that order.
        unsafe {
            std::ptr::copy_nonoverlapping(a.data.as_ptr(), ptr as *mut u8, a.data.len());
        }
    }
    Ok(out)
}
