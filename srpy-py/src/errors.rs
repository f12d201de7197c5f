//! Client errors as Python exceptions: `srpy_client::Error` → `PyErr`, at
//! the boundary only.
//!
//! The exception classes are defined in Python (`srpy/_errors.py`), because
//! several of them have two bases (`SRPyTimeoutError` is also a
//! `TimeoutError`, `NotTransferable` also a `TypeError`, a remote `KeyError`
//! is raised as a class that is both `RemoteError` and `KeyError`) and
//! override `__str__` to show the remote traceback, which `create_exception!`
//! cannot express. This module looks the classes up once (cached) and builds
//! the exception for each error variant.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use srpy_client::Error;

/// The classes of `srpy._errors`, looked up once.
struct Classes {
    srpy_error: Py<PyAny>,
    make_remote: Py<PyAny>,
    server_not_found: Py<PyAny>,
    engine_died: Py<PyAny>,
    timeout: Py<PyAny>,
    interrupted: Py<PyAny>,
    auth: Py<PyAny>,
    protocol: Py<PyAny>,
    version: Py<PyAny>,
    not_transferable: Py<PyAny>,
    unsupported: Py<PyAny>,
    limit: Py<PyAny>,
    no_such_engine: Py<PyAny>,
    closed: Py<PyAny>,
    invalid_uri: Py<PyAny>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&'static Classes> {
    CLASSES.get_or_try_init(py, || {
        let m = py.import("srpy._errors")?;
        let get = |name: &str| -> PyResult<Py<PyAny>> { Ok(m.getattr(name)?.unbind()) };
        Ok(Classes {
            srpy_error: get("SRPyError")?,
            make_remote: get("_make_remote_error")?,
            server_not_found: get("SRPyServerNotFound")?,
            engine_died: get("EngineDiedError")?,
            timeout: get("SRPyTimeoutError")?,
            interrupted: get("RemoteInterrupted")?,
            auth: get("AuthError")?,
            protocol: get("ProtocolError")?,
            version: get("VersionMismatch")?,
            not_transferable: get("NotTransferable")?,
            unsupported: get("UnsupportedOperation")?,
            limit: get("LimitExceeded")?,
            no_such_engine: get("NoSuchEngine")?,
            closed: get("EngineClosed")?,
            invalid_uri: get("InvalidURI")?,
        })
    })
}

/// `cls(message)` as a `PyErr`, with extra attributes set on the instance.
fn instantiate(
    py: Python<'_>,
    cls: &Py<PyAny>,
    message: String,
    attrs: &[(&str, Option<&str>)],
) -> PyErr {
    let made = cls.bind(py).call1((message,)).and_then(|e| {
        for (k, v) in attrs {
            e.setattr(*k, *v)?;
        }
        Ok(e)
    });
    match made {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// A local value that has no wire form (raised while converting arguments).
pub fn not_transferable(py: Python<'_>, message: String) -> PyErr {
    match classes(py) {
        Ok(c) => instantiate(py, &c.not_transferable, message, &[]),
        Err(e) => e,
    }
}

/// `srpy.SRPyError(message)`: a failure inside this library (a panic caught
/// at a barrier), never a `pyo3_runtime.PanicException`.
pub fn internal(py: Python<'_>, message: String) -> PyErr {
    match classes(py) {
        Ok(c) => instantiate(py, &c.srpy_error, message, &[]),
        Err(e) => e,
    }
}

/// The panic barrier of a Python entry point: runs `f`; a panic in it
/// fails this call with `srpy.SRPyError` (never a
/// `pyo3_runtime.PanicException`, which `except Exception` does not catch).
pub fn barrier<T>(py: Python<'_>, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    srpy_client::panic::catch(f)
        .unwrap_or_else(|m| Err(internal(py, crate::client::internal_message(&m))))
}

/// Test hook: runs [`barrier`] around a body that panics when `panic` is
/// true (no other entry point panics on purpose).
#[pyfunction]
pub fn _barrier_check(py: Python<'_>, panic: bool) -> PyResult<&'static str> {
    barrier(py, || {
        if panic {
            panic!("the barrier check panicked on purpose");
        }
        Ok("no panic")
    })
}

/// The Python exception for a client error. `engine` names the engine (its
/// URI) in remote errors.
pub fn to_pyerr(py: Python<'_>, err: Error, engine: &str) -> PyErr {
    let c = match classes(py) {
        Ok(c) => c,
        Err(e) => {
            let fallback = PyRuntimeError::new_err(err.to_string());
            fallback.set_cause(py, Some(e));
            return fallback;
        }
    };
    let msg = err.to_string();
    match err {
        Error::Remote {
            type_name,
            message,
            traceback,
        } => {
            let kwargs = PyDict::new(py);
            let made = kwargs.set_item("engine", engine).and_then(|_| {
                c.make_remote.bind(py).call(
                    (type_name, message, traceback.unwrap_or_default()),
                    Some(&kwargs),
                )
            });
            match made {
                Ok(e) => PyErr::from_value(e),
                Err(e) => e,
            }
        }
        Error::ServerNotFound { ref uri, .. } => {
            let uri = uri.clone();
            instantiate(py, &c.server_not_found, msg, &[("uri", Some(&uri))])
        }
        Error::EngineDied(_) => instantiate(py, &c.engine_died, msg, &[("engine", Some(engine))]),
        Error::Timeout(_) => instantiate(py, &c.timeout, msg, &[]),
        Error::Interrupted(_) => instantiate(py, &c.interrupted, msg, &[("engine", Some(engine))]),
        Error::Auth(_) => instantiate(py, &c.auth, msg, &[]),
        Error::Protocol(_) => instantiate(py, &c.protocol, msg, &[]),
        Error::Version(_) => instantiate(py, &c.version, msg, &[]),
        Error::NotTransferable(m) => instantiate(py, &c.not_transferable, m, &[]),
        Error::UnsupportedOp(_) => instantiate(py, &c.unsupported, msg, &[]),
        Error::Limit(_) => instantiate(py, &c.limit, msg, &[]),
        Error::NoSuchEngine(_) => instantiate(py, &c.no_such_engine, msg, &[]),
        Error::Closed => instantiate(py, &c.closed, msg, &[]),
        Error::InvalidUri(_) => instantiate(py, &c.invalid_uri, msg, &[]),
        _ => instantiate(py, &c.srpy_error, msg, &[]),
    }
}

/// Test hook: the exception that a client error of `kind` becomes (a wire
/// error kind such as `"timeout"` or `"remote"`, or one of the client's own:
/// `"server_not_found"`, `"closed"`, `"invalid_uri"`, `"io"`).
#[pyfunction]
#[pyo3(signature = (kind, message, remote_type = None, traceback = None, engine = "srpy://test:1/0"))]
pub fn _client_error(
    py: Python<'_>,
    kind: &str,
    message: String,
    remote_type: Option<String>,
    traceback: Option<String>,
    engine: &str,
) -> PyErr {
    let err = match kind {
        "server_not_found" => Error::ServerNotFound {
            uri: message,
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        },
        "closed" => Error::Closed,
        "invalid_uri" => Error::InvalidUri(message),
        "io" => Error::Io(std::io::Error::other(message)),
        wire => Error::from(srpy_client::proto::ErrorInfo {
            kind: srpy_client::proto::ErrorKind::parse(wire),
            message,
            remote_type,
            traceback,
        }),
    };
    to_pyerr(py, err, engine)
}
