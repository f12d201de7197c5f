//! `srpy._srpy`: the compiled part of the `srpy` Python package.
//!
//! - [`engine`]: the engine runtime behind `python -m srpy.engine`.
//! - [`convert`]: Python objects to protocol values and back.
//! - [`client`]: the client (`RawEngine`, `RawServer`, `RawLocalServer`),
//!   wrapping `srpy_client`; the `srpy` package's Python layer builds on it.
//! - [`cluster`]: `RawCluster`, servers started on other hosts over ssh.
//! - [`errors`]: client errors as the exceptions of `srpy._errors`.
//! - [`server_main`]: the `srpy-server` program itself, so the wheel alone
//!   runs a server (`python -m srpy.server`, the `srpy-server` script).

use pyo3::prelude::*;

mod client;
mod cluster;
mod convert;
mod engbox;
mod engine;
mod errors;

/// Runs the `srpy-server` program with this command line (`argv[0]`
/// first) until a signal stops it; returns its exit status. The server
/// takes over SIGINT, SIGTERM and SIGHUP: call it only in a process that
/// exists to be the server.
#[pyfunction]
fn server_main(py: Python<'_>, argv: Vec<std::ffi::OsString>) -> i32 {
    py.detach(|| srpy_server::cli::main(argv))
}

/// Test hook: Python -> Value -> Python.
#[pyfunction]
#[pyo3(signature = (obj, allow_pickle = false))]
fn _roundtrip(py: Python<'_>, obj: &Bound<'_, PyAny>, allow_pickle: bool) -> PyResult<Py<PyAny>> {
    let opts = convert::ConvertOptions {
        allow_pickle,
        ..Default::default()
    };
    let v = convert::py_to_value(obj, &opts).map_err(convert::ConvertError::into_pyerr)?;
    convert::value_to_py(py, v, &opts).map_err(convert::ConvertError::into_pyerr)
}

/// Test hook: the CBOR encoding of a Python object.
#[pyfunction]
#[pyo3(signature = (obj, allow_pickle = false))]
fn _encode(py: Python<'_>, obj: &Bound<'_, PyAny>, allow_pickle: bool) -> PyResult<Py<PyAny>> {
    let opts = convert::ConvertOptions {
        allow_pickle,
        ..Default::default()
    };
    let v = convert::py_to_value(obj, &opts).map_err(convert::ConvertError::into_pyerr)?;
    Ok(pyo3::types::PyBytes::new(py, &srpy_proto::cbor::encode(&v))
        .into_any()
        .unbind())
}

/// Test hook: a Python object from CBOR bytes.
#[pyfunction]
#[pyo3(signature = (data, allow_pickle = false))]
fn _decode(py: Python<'_>, data: &[u8], allow_pickle: bool) -> PyResult<Py<PyAny>> {
    let v = srpy_proto::cbor::decode(data)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    convert::value_to_py(
        py,
        v,
        &convert::ConvertOptions {
            allow_pickle,
            ..Default::default()
        },
    )
    .map_err(convert::ConvertError::into_pyerr)
}

/// The fuzz target `py_convert` (`fuzz/`): CBOR bytes converted as an
/// engine converts a request's values (pickles refused) and the Python
/// object converted back and encoded, as for its answer. Conversion errors
/// are expected; `Err` is a panic caught by the conversion's barrier (its
/// message), which the fuzzer reports as a crash.
#[doc(hidden)]
pub fn fuzz_convert(py: Python<'_>, data: &[u8]) -> Result<(), String> {
    let Ok(v) = srpy_proto::cbor::decode(data) else {
        return Ok(());
    };
    let opts = convert::ConvertOptions::default();
    let obj = match convert::value_to_py(py, v, &opts) {
        Ok(obj) => obj,
        Err(convert::ConvertError::Panic(m)) => return Err(m),
        Err(_) => return Ok(()),
    };
    match convert::py_to_value(obj.bind(py), &opts) {
        Ok(back) => {
            srpy_proto::cbor::encode(&back);
            Ok(())
        }
        Err(convert::ConvertError::Panic(m)) => Err(m),
        Err(_) => Ok(()),
    }
}

#[pymodule]
fn _srpy(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", srpy_proto::SRPY_VERSION)?;
    m.add("PROTOCOL_VERSION", srpy_proto::handshake::MAX_VERSION)?;
    m.add_function(wrap_pyfunction!(engine::engine_main, m)?)?;
    m.add_function(wrap_pyfunction!(server_main, m)?)?;
    m.add_class::<engine::EngineOutput>()?;
    engbox::register(m)?;
    m.add_class::<client::RawEngine>()?;
    m.add_class::<client::RawServer>()?;
    m.add_class::<client::RawLocalServer>()?;
    m.add_class::<cluster::RawCluster>()?;
    m.add_function(wrap_pyfunction!(client::_at_exit, m)?)?;
    m.add_function(wrap_pyfunction!(errors::_client_error, m)?)?;
    m.add_function(wrap_pyfunction!(errors::_barrier_check, m)?)?;
    m.add_function(wrap_pyfunction!(_roundtrip, m)?)?;
    m.add_function(wrap_pyfunction!(_encode, m)?)?;
    m.add_function(wrap_pyfunction!(_decode, m)?)?;
    Ok(())
}
