//! The CPython client: thin wrappers over `srpy_client` (no protocol code
//! here).
//!
//! - [`RawEngine`]: one remote engine, with one entry point for every
//!   operation, `request(op, fields, timeout, future)`: the operation's wire
//!   name and a dict of its fields, converted by the operation table
//!   ([`op_from`]); an optional per-call `timeout` and an optional `future`
//!   (`concurrent.futures.Future`): without it the call blocks, with it the
//!   call returns at once and the future is completed later.
//! - [`RawLocalServer`]: a private `srpy-server` ([`srpy_client::LocalServer`]).
//! - [`RawServer`]: a server's directory ([`srpy_client::ServerClient`]).
//!
//! # Waiting
//!
//! A blocking call runs its future on the calling thread
//! (`ClientRuntime::block_on` of the process-wide runtime
//! [`srpy_client::blocking::runtime`], which the waiting thread drives, so
//! the reply wakes that thread directly) with the GIL released, in slices of
//! [`SLICE`]: between slices it delivers remote output and calls
//! `PyErr_CheckSignals`. On `KeyboardInterrupt` (or any exception a signal
//! handler raises) the call is abandoned — srpy-client drops its late reply
//! — an `interrupt` is sent to the engine without waiting, and the exception
//! propagates. The engine stays usable and keeps its namespace.
//!
//! # Output
//!
//! Remote stdout/stderr of a call is queued by the call's sink (on the
//! connection's reader task, which never takes the GIL) and handed to the
//! Python output callable `output(stream, text)` by the thread that waits for
//! the call, under the GIL — as it arrives, not only at the end.
//!
//! # Futures
//!
//! With `future=`, the call is spawned on the runtime (its request is
//! written before the method returns: program order holds). Its output, as
//! it arrives, and then its result go to one process-wide completer thread
//! that takes the GIL, delivers the output, converts the value and calls
//! `future.set_result` / `set_exception`. The runtime's tasks never wait for
//! the GIL beyond creating the `bytes` a big reply is read into.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use srpy_client::local::LocalServerOptions;
use srpy_client::panic;
use srpy_client::proto::ops::{self, FieldType};
use srpy_client::{
    blocking::runtime, discard_sink, CallOptions, ConnectOptions, Engine, Error, Op, OutputSink,
    Stream, Value, Vars,
};

use crate::convert::{py_to_value, value_to_py, ConvertError, ConvertOptions, PyBytesAlloc};
use crate::errors;

/// How long a blocking wait runs between two looks at signals.
pub const SLICE: Duration = Duration::from_millis(50);

/// A timeout standing for "no limit" where `None` would mean "the default".
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// How long the fire-and-forget `interrupt` after a Ctrl-C may take.
const INTERRUPT_TIMEOUT: Duration = Duration::from_secs(10);

// ---- helpers ------------------------------------------------------------------

/// A per-call timeout in seconds: `None` (the default), a non-negative
/// number, or `inf` (no limit).
fn duration(what: &str, t: Option<f64>) -> PyResult<Option<Duration>> {
    match t {
        None => Ok(None),
        Some(s) if s.is_infinite() && s > 0.0 => Ok(Some(FOREVER)),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Some(Duration::from_secs_f64(s).min(FOREVER))),
        Some(s) => Err(PyValueError::new_err(format!(
            "{what} must be a non-negative number of seconds or None, got {s}"
        ))),
    }
}

fn token_bytes(token: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<u8>>> {
    let Some(t) = token else { return Ok(None) };
    if t.is_none() {
        return Ok(None);
    }
    if let Ok(s) = t.cast::<PyString>() {
        return Ok(Some(s.to_cow()?.trim().as_bytes().to_vec()));
    }
    if let Ok(b) = t.cast::<PyBytes>() {
        return Ok(Some(b.as_bytes().to_vec()));
    }
    Err(PyTypeError::new_err(format!(
        "token must be str or bytes, got {}",
        t.get_type().name()?
    )))
}

/// Connect options with a token (`None`: `SRPY_TOKEN`) and a connect
/// timeout in seconds.
fn connect_options(
    token: Option<&Bound<'_, PyAny>>,
    connect_timeout: f64,
    tls: Option<&Bound<'_, PyDict>>,
) -> PyResult<ConnectOptions> {
    // Big `bytes` results are read straight into Python `bytes` objects.
    let mut opts = ConnectOptions::new().recv_alloc(Arc::new(PyBytesAlloc {
        stopped: Some(&SHUTTING_DOWN),
        only_thread: None,
    }));
    if let Some(t) = token_bytes(token)? {
        opts = opts.token(t);
    }
    if let Some(t) = duration("connect_timeout", Some(connect_timeout))? {
        opts = opts.connect_timeout(t);
    }
    with_tls(opts, tls)
}

/// Sets the TLS options of a `tls` dict (`ca`, `pin`, `cert`, `key`, as the
/// Python keywords `tls_ca=`, `tls_pin=`, `tls_cert=`, `tls_key=` give them).
pub(crate) fn with_tls(
    mut opts: ConnectOptions,
    tls: Option<&Bound<'_, PyDict>>,
) -> PyResult<ConnectOptions> {
    let Some(tls) = tls else { return Ok(opts) };
    let get = |key: &str| -> PyResult<Option<String>> {
        match tls.get_item(key)? {
            Some(v) if !v.is_none() => Ok(Some(v.str()?.to_cow()?.into_owned())),
            _ => Ok(None),
        }
    };
    opts.tls_ca = get("ca")?.map(PathBuf::from);
    opts.tls_pin = get("pin")?;
    opts.tls_cert = get("cert")?.map(PathBuf::from);
    opts.tls_key = get("key")?.map(PathBuf::from);
    Ok(opts)
}

pub(crate) fn convert_err(py: Python<'_>, e: ConvertError) -> PyErr {
    e.into_pyerr_with(|m| errors::not_transferable(py, m))
}

pub(crate) fn to_value(obj: &Bound<'_, PyAny>, opts: &ConvertOptions) -> PyResult<Value> {
    py_to_value(obj, opts).map_err(|e| convert_err(obj.py(), e))
}

pub(crate) fn vars_from(d: Option<&Bound<'_, PyDict>>, opts: &ConvertOptions) -> PyResult<Vars> {
    let Some(d) = d else { return Ok(Vec::new()) };
    let mut out = Vec::with_capacity(d.len());
    for (k, v) in d.iter() {
        let name = k.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!(
                "variable names must be str, got {}",
                k.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        out.push((name.to_cow()?.into_owned(), to_value(&v, opts)?));
    }
    Ok(out)
}

fn values_from(args: Option<&Bound<'_, PyAny>>, opts: &ConvertOptions) -> PyResult<Vec<Value>> {
    let Some(args) = args else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(args.len().unwrap_or(0));
    for a in args.try_iter()? {
        out.push(to_value(&a?, opts)?);
    }
    Ok(out)
}

/// A list of names; a single `str` is refused (it would be split in chars).
fn names_from(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<String>> {
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a list of str, not a str"
        )));
    }
    let mut out = Vec::new();
    for n in obj.try_iter()? {
        let n = n?;
        let s = n
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err(format!("{what} must be a list of str")))?;
        out.push(s.to_cow()?.into_owned());
    }
    Ok(out)
}

/// The typed op `name` with the Python `fields`, each converted as the
/// operation table types it (`srpy_proto::ops`), then checked as a received
/// request is. A `vars`/`kwargs` entry or an `args` item counts its nesting
/// from its own top, as on the wire.
pub(crate) fn op_from(
    name: &str,
    fields: Option<&Bound<'_, PyDict>>,
    opts: &ConvertOptions,
) -> PyResult<Op> {
    let spec = ops::spec(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown operation {name:?}; the operations are {}",
            ops::NAMES.join(", ")
        ))
    })?;
    let mut map = Vec::new();
    for (k, v) in fields.into_iter().flat_map(|d| d.iter()) {
        let key = k.extract::<String>().ok();
        let Some(field) = key
            .as_deref()
            .and_then(|k| spec.fields.iter().find(|f| f.name == k))
        else {
            let names: Vec<&str> = spec.fields.iter().map(|f| f.name).collect();
            return Err(PyTypeError::new_err(format!(
                "{name}: no field {k}; its fields are [{}]",
                names.join(", ")
            )));
        };
        let value = if v.is_none() {
            Value::Null
        } else {
            match field.ty {
                FieldType::Vars => {
                    let d = v.cast::<PyDict>().map_err(|_| {
                        PyTypeError::new_err(format!(
                            "{name}: '{}' must be a dict, got {}",
                            field.name,
                            type_name(&v)
                        ))
                    })?;
                    Value::Map(
                        vars_from(Some(d), opts)?
                            .into_iter()
                            .map(|(k, v)| (Value::Str(k), v))
                            .collect(),
                    )
                }
                FieldType::Array => Value::List(values_from(Some(&v), opts)?),
                FieldType::Names => Value::List(
                    names_from(&v, field.name)?
                        .into_iter()
                        .map(Value::Str)
                        .collect(),
                ),
                _ => to_value(&v, opts)?,
            }
        };
        map.push((Value::from(field.name), value));
    }
    Op::from_fields(name, Value::Map(map)).map_err(|e| PyTypeError::new_err(format!("{name}: {e}")))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default()
}

// ---- output ---------------------------------------------------------------------

/// Output of one call, queued by its sink until the waiting thread takes it.
struct OutQueue {
    items: Mutex<Vec<(Stream, String)>>,
    notify: tokio::sync::Notify,
}

impl OutQueue {
    fn new() -> Arc<OutQueue> {
        Arc::new(OutQueue {
            items: Mutex::new(Vec::new()),
            notify: tokio::sync::Notify::new(),
        })
    }

    fn sink(self: &Arc<Self>) -> OutputSink {
        let q = self.clone();
        Arc::new(move |stream, text| {
            q.items
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((stream, text.to_owned()));
            q.notify.notify_one();
        })
    }

    fn take(&self) -> Vec<(Stream, String)> {
        std::mem::take(&mut *self.items.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Calls `output(stream, text)` for each piece; an exception in the callable
/// is reported as unraisable (it must not break the call).
fn deliver(py: Python<'_>, output: &Bound<'_, PyAny>, items: Vec<(Stream, String)>) {
    for (stream, text) in items {
        if let Err(e) = output.call1((stream.name(), text)) {
            e.write_unraisable(py, Some(output));
        }
    }
}

async fn wait_output(q: Option<&OutQueue>) {
    match q {
        Some(q) => q.notify.notified().await,
        None => std::future::pending().await,
    }
}

enum Step<T> {
    Done(T),
    Again,
}

/// Runs `fut` to completion on the calling thread with the GIL released,
/// delivering output and checking signals every [`SLICE`]. When a signal
/// handler raises, `on_signal` runs, the future is dropped and the exception
/// is returned.
fn wait<F, T>(
    py: Python<'_>,
    fut: F,
    out: Option<(&OutQueue, &Bound<'_, PyAny>)>,
    on_signal: impl FnOnce(),
) -> PyResult<T>
where
    F: Future<Output = T> + Send,
    T: Send,
{
    // A panic in the call fails the call (SRPyError), not the caller.
    let mut fut = std::pin::pin!(panic::catch_future(fut));
    let queue = out.map(|(q, _)| q);
    loop {
        let step = py.detach(|| {
            runtime().block_on(async {
                tokio::select! {
                    biased;
                    r = &mut fut => Step::Done(r),
                    _ = wait_output(queue) => Step::Again,
                    _ = tokio::time::sleep(SLICE) => Step::Again,
                }
            })
        });
        if let Some((q, output)) = out {
            let items = q.take();
            if !items.is_empty() {
                deliver(py, output, items);
            }
        }
        match step {
            Step::Done(r) => return r.map_err(|m| errors::internal(py, internal_message(&m))),
            Step::Again => {
                if let Err(e) = py.check_signals() {
                    on_signal();
                    return Err(e);
                }
            }
        }
    }
}

/// [`wait`] for client futures, turning client errors into exceptions.
fn wait_client<F, T>(py: Python<'_>, fut: F, what: &str) -> PyResult<T>
where
    F: Future<Output = srpy_client::Result<T>> + Send,
    T: Send,
{
    wait(py, fut, None, || {})?.map_err(|e| errors::to_pyerr(py, e, what))
}

/// The message of an `SRPyError` raised for a panic caught at a barrier.
pub(crate) fn internal_message(panic: &str) -> String {
    format!("internal error in srpy: {panic}")
}

// ---- futures ----------------------------------------------------------------------

/// The output queue of a call that returns a future, and where it goes.
struct FutureOutput {
    queue: Arc<OutQueue>,
    output: Py<PyAny>,
}

impl FutureOutput {
    fn deliver(&self, py: Python<'_>) {
        let items = self.queue.take();
        if !items.is_empty() {
            deliver(py, self.output.bind(py), items);
        }
    }
}

/// A finished call whose Python future is still to be completed.
struct Completion {
    future: Py<PyAny>,
    result: Result<Value, Error>,
    out: Option<Arc<FutureOutput>>,
    opts: ConvertOptions,
    engine: Arc<str>,
}

/// Work for the completer thread, in the order it happened.
enum Job {
    /// Output of a call still running.
    Output(Arc<FutureOutput>),
    /// A finished call.
    Done(Completion),
}

fn complete(py: Python<'_>, c: Completion) {
    if let Some(out) = &c.out {
        out.deliver(py);
    }
    let fut = c.future.bind(py);
    let err = match c.result {
        Ok(v) => match value_to_py(py, v, &c.opts) {
            Ok(o) => {
                // Fails only when the future was cancelled: nothing to do.
                let _ = fut.call_method1("set_result", (o,));
                return;
            }
            Err(e) => convert_err(py, e),
        },
        Err(e) => errors::to_pyerr(py, e, &c.engine),
    };
    let _ = fut.call_method1("set_exception", (err.into_value(py),));
}

/// Set at interpreter exit (`atexit`): the completer thread stops taking
/// the GIL.
static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

/// Called by `atexit` (registered by `srpy._client`): futures still pending
/// at exit are left incomplete.
#[pyfunction]
pub fn _at_exit() {
    SHUTTING_DOWN.store(true, Ordering::Release);
}

/// The channel to the completer thread (started on first use).
fn completer() -> &'static mpsc::Sender<Job> {
    static TX: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    TX.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("srpy-futures".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch: Vec<Job> = vec![first];
                    batch.extend(rx.try_iter());
                    if SHUTTING_DOWN.load(Ordering::Acquire) {
                        // Taking the GIL while the interpreter finalizes can
                        // end this thread in the middle of Rust code.
                        std::mem::forget(batch);
                        return;
                    }
                    let mut todo = Some(batch);
                    let done = Python::try_attach(|py| {
                        for job in todo.take().into_iter().flatten() {
                            match job {
                                // A panic loses that output or fails that
                                // future only: this thread completes every
                                // future of the process.
                                Job::Output(out) => {
                                    let _ = panic::catch(|| out.deliver(py));
                                }
                                Job::Done(c) => {
                                    let future = c.future.clone_ref(py);
                                    if let Err(m) = panic::catch(|| complete(py, c)) {
                                        let err = errors::internal(py, internal_message(&m));
                                        let _ = future.call_method1(
                                            py,
                                            "set_exception",
                                            (err.into_value(py),),
                                        );
                                    }
                                }
                            }
                        }
                    });
                    if done.is_none() {
                        // The interpreter is gone: the Python objects cannot
                        // be released any more.
                        std::mem::forget(todo);
                        return;
                    }
                }
            })
            .expect("start the srpy-futures thread");
        tx
    })
}

// ---- RawEngine ----------------------------------------------------------------------

/// Sends `op` through the client's generic entry point.
async fn perform(
    eng: &Engine,
    op: Op,
    timeout: Option<Duration>,
    output: Option<OutputSink>,
) -> srpy_client::Result<Value> {
    // `..Default::default()`: fields srpy-client may add later.
    #[allow(clippy::needless_update)]
    let opts = CallOptions {
        timeout,
        output,
        ..Default::default()
    };
    eng.perform(op, opts).await
}

/// A connection to one engine; the `srpy.PythonEngine` class builds on it.
///
/// Every operation takes `timeout` (seconds; `None`: the handle's default
/// call timeout; `inf`: no limit) and `future` (a
/// `concurrent.futures.Future` to complete instead of blocking; the method
/// then returns `None` at once).
#[pyclass(module = "srpy._srpy", name = "RawEngine", frozen)]
pub struct RawEngine {
    eng: Engine,
    uri: Arc<str>,
    opts: ConvertOptions,
    output: RwLock<Option<Py<PyAny>>>,
    /// Default per-call timeout in nanoseconds; [`NO_TIMEOUT`]: none.
    default_timeout: AtomicU64,
}

const NO_TIMEOUT: u64 = u64::MAX;

fn timeout_nanos(t: Option<Duration>) -> u64 {
    t.map_or(NO_TIMEOUT, |d| {
        u64::try_from(d.as_nanos()).unwrap_or(NO_TIMEOUT - 1)
    })
}

impl RawEngine {
    /// The `srpy_client` engine inside (the box, `engbox.rs`, runs on it).
    pub(crate) fn inner(&self) -> &Engine {
        &self.eng
    }

    fn default_timeout(&self) -> Option<Duration> {
        match self.default_timeout.load(Ordering::Relaxed) {
            NO_TIMEOUT => None,
            n => Some(Duration::from_nanos(n)),
        }
    }

    fn output(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.output
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|o| o.clone_ref(py))
    }

    /// How a call's arguments are converted: a call that waits for its
    /// answer sends numpy arrays from their own memory; one that returns a
    /// future copies them first, since the caller may change them at once.
    fn send_opts(&self, future: &Option<Bound<'_, PyAny>>) -> ConvertOptions {
        ConvertOptions {
            share_arrays: future.is_none(),
            ..self.opts
        }
    }

    /// Sends `interrupt` without waiting for its answer.
    fn fire_interrupt(&self) {
        let eng = self.eng.clone();
        runtime().spawn(async move {
            let opts = CallOptions::new().timeout(INTERRUPT_TIMEOUT);
            let _ = eng.request(Op::Interrupt, opts).await;
        });
    }

    fn run(
        &self,
        py: Python<'_>,
        op: Op,
        timeout: Option<f64>,
        future: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        // The default applies to every call but `wait` (whose own limit is
        // its field).
        let timeout = match (duration("timeout", timeout)?, &op) {
            (Some(t), _) => Some(t),
            (None, Op::Wait { .. }) => None,
            (None, _) => self.default_timeout(),
        };
        let output = self.output(py);
        let queue = output.as_ref().map(|_| OutQueue::new());
        let sink = queue.as_ref().map(|q| q.sink());

        if let Some(future) = future {
            let out = queue
                .zip(output)
                .map(|(queue, output)| Arc::new(FutureOutput { queue, output }));
            let done = Completion {
                future: future.unbind(),
                result: Ok(Value::Null),
                out: out.clone(),
                opts: self.opts,
                engine: self.uri.clone(),
            };
            let eng = self.eng.clone();
            runtime().spawn(async move {
                let call = perform(&eng, op, timeout, sink);
                let call = async move {
                    match out {
                        None => call.await,
                        Some(out) => {
                            // Output is handed on as it arrives, not only at the end.
                            let mut call = std::pin::pin!(call);
                            loop {
                                tokio::select! {
                                    biased;
                                    r = &mut call => break r,
                                    _ = out.queue.notify.notified() => {
                                        let _ = completer().send(Job::Output(out.clone()));
                                    }
                                }
                            }
                        }
                    }
                };
                // A panicking call must still complete its future.
                let result = panic::catch_future(call)
                    .await
                    .unwrap_or_else(|m| Err(Error::Other(internal_message(&m))));
                let _ = completer().send(Job::Done(Completion { result, ..done }));
            });
            return Ok(py.None());
        }

        let interrupts = !op.is_immediate();
        let out = match (&queue, &output) {
            (Some(q), Some(o)) => Some((&**q, o.bind(py))),
            _ => None,
        };
        let result = wait(py, perform(&self.eng, op, timeout, sink), out, || {
            if interrupts {
                self.fire_interrupt();
            }
        })?;
        match result {
            Ok(v) => value_to_py(py, v, &self.opts).map_err(|e| convert_err(py, e)),
            Err(e) => Err(errors::to_pyerr(py, e, &self.uri)),
        }
    }
}

#[pymethods]
impl RawEngine {
    /// Connects to an engine (`srpy://host:port/<index>`, or the
    /// `host:port` of an engine itself).
    #[staticmethod]
    #[pyo3(signature = (uri, token = None, connect_timeout = 10.0, call_timeout = None, allow_pickle = false, tls = None))]
    fn connect(
        py: Python<'_>,
        uri: &str,
        token: Option<&Bound<'_, PyAny>>,
        connect_timeout: f64,
        call_timeout: Option<f64>,
        allow_pickle: bool,
        tls: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<RawEngine> {
        errors::barrier(py, || {
            let opts = connect_options(token, connect_timeout, tls)?.accept_pickle(allow_pickle);
            let default_timeout = timeout_nanos(duration("call_timeout", call_timeout)?);
            let eng = wait_client(py, Engine::connect(uri.to_owned(), opts), uri)?;
            // Output goes nowhere unless a Python callable is set: calls pass
            // their own sink then.
            eng.set_output_handler(discard_sink());
            Ok(RawEngine {
                uri: Arc::from(eng.uri().to_string()),
                eng,
                opts: ConvertOptions {
                    allow_pickle,
                    ..Default::default()
                },
                output: RwLock::new(None),
                default_timeout: AtomicU64::new(default_timeout),
            })
        })
    }

    /// The default per-call timeout in seconds (`None`: no limit); may be
    /// changed.
    #[getter]
    fn get_timeout(&self) -> Option<f64> {
        self.default_timeout().map(|d| d.as_secs_f64())
    }

    #[setter]
    fn set_timeout(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        errors::barrier(py, || {
            let t = duration("timeout", timeout)?;
            self.default_timeout
                .store(timeout_nanos(t), Ordering::Relaxed);
            Ok(())
        })
    }

    /// The engine's URI.
    #[getter]
    fn uri(&self) -> &str {
        &self.uri
    }

    /// The engine index (from the URI, else from the engine).
    #[getter]
    fn index(&self) -> Option<u64> {
        self.eng.index()
    }

    /// Whether pickled values are accepted from (and may be sent to) the engine.
    #[getter]
    fn allow_pickle(&self) -> bool {
        self.opts.allow_pickle
    }

    /// The engine's welcome info of the current connection (`None` when not
    /// connected).
    #[getter]
    fn info(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        errors::barrier(py, || {
            value_to_py(py, self.eng.info(), &ConvertOptions::default())
                .map_err(|e| convert_err(py, e))
        })
    }

    /// Whether a live connection exists now (calls reconnect as needed).
    #[getter]
    fn is_connected(&self, py: Python<'_>) -> PyResult<bool> {
        errors::barrier(py, || Ok(self.eng.is_connected()))
    }

    /// Sets the output callable `output(stream, text)` (`stream` is
    /// `"stdout"` or `"stderr"`), or `None` to drop remote output.
    #[pyo3(signature = (output))]
    fn set_output(&self, py: Python<'_>, output: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        errors::barrier(py, || {
            if let Some(o) = &output {
                if !o.is_callable() {
                    return Err(PyTypeError::new_err("output must be callable or None"));
                }
            }
            *self.output.write().unwrap_or_else(|e| e.into_inner()) = output.map(Bound::unbind);
            Ok(())
        })
    }

    /// Closes the connection; later calls raise `srpy.EngineClosed`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        errors::barrier(py, || {
            self.eng.close();
            Ok(())
        })
    }

    /// Sends the operation `op` (its wire name, `docs/PROTOCOL.md` 10.4)
    /// with `fields`, a dict of its fields (`{"expr": "1+1"}`), converted
    /// by the operation table (`srpy_proto::ops`). `wait` waits at most its
    /// `timeout` field (the default call timeout does not apply);
    /// `benchmark` answers `(net_s, proc_s, busy)`.
    #[pyo3(signature = (op, fields = None, timeout = None, future = None))]
    fn request(
        &self,
        py: Python<'_>,
        op: &str,
        fields: Option<&Bound<'_, PyDict>>,
        timeout: Option<f64>,
        future: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        errors::barrier(py, || {
            let op = op_from(op, fields, &self.send_opts(&future))?;
            self.run(py, op, timeout, future)
        })
    }

    fn __repr__(&self) -> String {
        format!("<RawEngine {}>", self.uri)
    }
}

// ---- RawServer --------------------------------------------------------------------------

/// A connection to a server: its engine directory and restarts.
#[pyclass(module = "srpy._srpy", name = "RawServer", frozen)]
pub struct RawServer {
    inner: srpy_client::ServerClient,
    uri: String,
}

fn engine_info_dict<'py>(
    py: Python<'py>,
    e: &srpy_client::EngineInfo,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("index", e.index)?;
    d.set_item("host", &e.host)?;
    d.set_item("port", e.port)?;
    d.set_item("pid", e.pid)?;
    d.set_item("alive", e.alive)?;
    Ok(d)
}

#[pymethods]
impl RawServer {
    /// Connects to a server (`srpy://host:port`).
    #[staticmethod]
    #[pyo3(signature = (uri, token = None, connect_timeout = 10.0, tls = None))]
    fn connect(
        py: Python<'_>,
        uri: &str,
        token: Option<&Bound<'_, PyAny>>,
        connect_timeout: f64,
        tls: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<RawServer> {
        errors::barrier(py, || {
            let opts = connect_options(token, connect_timeout, tls)?;
            let inner = wait_client(
                py,
                srpy_client::ServerClient::connect(uri.to_owned(), opts),
                uri,
            )?;
            Ok(RawServer {
                uri: inner.uri().to_string(),
                inner,
            })
        })
    }

    #[getter]
    fn uri(&self) -> &str {
        &self.uri
    }

    /// The server's welcome info.
    #[getter]
    fn info(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        errors::barrier(py, || {
            value_to_py(py, self.inner.info(), &ConvertOptions::default())
                .map_err(|e| convert_err(py, e))
        })
    }

    fn ping(&self, py: Python<'_>) -> PyResult<String> {
        errors::barrier(py, || wait_client(py, self.inner.ping(), &self.uri))
    }

    fn whoami(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        errors::barrier(py, || {
            let v = wait_client(py, self.inner.whoami(), &self.uri)?;
            value_to_py(py, v, &ConvertOptions::default()).map_err(|e| convert_err(py, e))
        })
    }

    /// The engine directory: a list of `{index, host, port, pid, alive}`.
    fn engines<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        errors::barrier(py, || {
            let list = wait_client(py, self.inner.engines(), &self.uri)?;
            list.iter().map(|e| engine_info_dict(py, e)).collect()
        })
    }

    /// Kills engine `index` and starts a replacement (fresh namespace);
    /// returns once it is alive.
    fn restart(&self, py: Python<'_>, index: u64) -> PyResult<()> {
        errors::barrier(py, || wait_client(py, self.inner.restart(index), &self.uri))
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        errors::barrier(py, || {
            self.inner.close();
            Ok(())
        })
    }

    fn __repr__(&self) -> String {
        format!("<RawServer {}>", self.uri)
    }
}

// ---- RawLocalServer -------------------------------------------------------------------

/// A private `srpy-server` on loopback with a fresh random token, stopped by
/// `stop()` or when this object is garbage collected.
#[pyclass(module = "srpy._srpy", name = "RawLocalServer", frozen)]
pub struct RawLocalServer {
    inner: srpy_client::LocalServer,
    uri: String,
}

#[pymethods]
impl RawLocalServer {
    /// Starts a server with `engines` engines and waits until it is ready.
    #[staticmethod]
    #[pyo3(signature = (engines = 1, python = None, server_bin = None, token = None, extra_args = None, start_timeout = 30.0, server_bin_args = None))]
    #[allow(clippy::too_many_arguments)]
    fn start(
        py: Python<'_>,
        engines: usize,
        python: Option<PathBuf>,
        server_bin: Option<PathBuf>,
        token: Option<&Bound<'_, PyAny>>,
        extra_args: Option<Vec<String>>,
        start_timeout: f64,
        server_bin_args: Option<Vec<std::ffi::OsString>>,
    ) -> PyResult<RawLocalServer> {
        errors::barrier(py, || {
            let mut opts = LocalServerOptions::engines(engines);
            opts.python = python;
            opts.server_bin = server_bin;
            opts.server_bin_args = server_bin_args.unwrap_or_default();
            opts.token = token_bytes(token)?;
            opts.extra_args = extra_args
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect();
            if let Some(t) = duration("start_timeout", Some(start_timeout))? {
                opts.start_timeout = t;
            }
            let inner = wait_client(
                py,
                srpy_client::LocalServer::start(opts),
                "a local srpy-server",
            )?;
            Ok(RawLocalServer {
                uri: inner.uri().to_string(),
                inner,
            })
        })
    }

    /// The server's URI (`srpy://127.0.0.1:PORT`).
    #[getter]
    fn uri(&self) -> &str {
        &self.uri
    }

    /// The URI of engine `index`.
    fn engine_uri(&self, py: Python<'_>, index: u64) -> PyResult<String> {
        errors::barrier(py, || Ok(self.inner.engine_uri(index).to_string()))
    }

    /// The server's token.
    #[getter]
    fn token<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.token())
    }

    #[getter]
    fn engine_count(&self) -> usize {
        self.inner.engine_count()
    }

    #[getter]
    fn pid(&self) -> u32 {
        self.inner.pid()
    }

    /// The server's stdout/stderr log file.
    #[getter]
    fn log_path(&self) -> PathBuf {
        self.inner.log_path()
    }

    fn is_running(&self, py: Python<'_>) -> PyResult<bool> {
        errors::barrier(py, || Ok(self.inner.is_running()))
    }

    /// Stops the server (SIGTERM, then SIGKILL after 5 s); its exit code
    /// (negative: the signal that ended it), or `None` if it was already
    /// stopped. Idempotent.
    fn stop(&self, py: Python<'_>) -> PyResult<Option<i32>> {
        errors::barrier(py, || {
            let status = py
                .detach(|| self.inner.stop_blocking())
                .map_err(|e| errors::to_pyerr(py, e, &self.uri))?;
            Ok(status.map(|s| {
                #[cfg(unix)]
                {
                    use std::os::unix::process::ExitStatusExt;
                    s.code().unwrap_or_else(|| -s.signal().unwrap_or(0))
                }
                #[cfg(not(unix))]
                {
                    s.code().unwrap_or(-1)
                }
            }))
        })
    }

    fn __repr__(&self) -> String {
        format!("<RawLocalServer {} pid={}>", self.uri, self.inner.pid())
    }
}
