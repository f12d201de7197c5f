//! The box for Python: thin wrappers over `srpy_client::EngBox` (the box
//! itself is written once, in `srpy-client`); `srpy/_box.py` builds the
//! Python-facing `srpy.EngBox` on them.
//!
//! - [`RawBox`]: a box over the `RawEngine`s of some `PythonEngine`s
//!   (sharing their connections), kept by each `srpy.EngBox` (remade, with
//!   the state it knew, when the engine list changes): broadcasts, the
//!   dead/alive state of the engines, dead-engine checks, benchmarks,
//!   scatter/gather, and starting maps.
//! - [`RawMap`]: a running map; `next_batch()` hands out the results that
//!   arrived, waiting with the GIL released.
//!
//! Waiting is done in slices of [`SLICE`] with the GIL released, checking
//! signals in between: on Ctrl-C a map is cancelled (its engines are
//! interrupted) and a broadcast's engines are sent an `interrupt`, then the
//! `KeyboardInterrupt` propagates.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use srpy_client::blocking::runtime;
use srpy_client::engbox::{
    self, Basis, BoxResults, EngBox, EngineOutput, MapOptions, MapStream, MapTask,
};
use srpy_client::{CallOptions, ConnectOptions, Error, Op, OutputSink, Stream, Value};

use crate::client::{convert_err, internal_message, op_from, to_value, with_tls, RawEngine};
use crate::convert::{value_to_py, ConvertOptions};
use crate::errors;

/// How long a wait runs between two looks at signals.
const SLICE: Duration = Duration::from_millis(50);

/// Runs `fut` on the calling thread with the GIL released, checking signals
/// every [`SLICE`]; when a signal handler raises, `on_signal` runs (with the
/// GIL released) and the exception is returned.
fn wait<F>(py: Python<'_>, fut: F, on_signal: impl FnOnce() + Send) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    wait_with(py, fut, on_signal, |_| {})
}

/// [`wait`], calling `between` (with the GIL) after every slice.
fn wait_with<F>(
    py: Python<'_>,
    fut: F,
    on_signal: impl FnOnce() + Send,
    mut between: impl FnMut(Python<'_>),
) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    // A panic in the call fails the call (SRPyError), not the caller.
    let mut fut = std::pin::pin!(srpy_client::panic::catch_future(fut));
    loop {
        let step =
            py.detach(|| runtime().block_on(async { tokio::time::timeout(SLICE, &mut fut).await }));
        between(py);
        match step {
            Ok(r) => return r.map_err(|m| errors::internal(py, internal_message(&m))),
            Err(_) => {
                if let Err(e) = py.check_signals() {
                    py.detach(on_signal);
                    return Err(e);
                }
            }
        }
    }
}

fn values_from(items: &Bound<'_, PyAny>, opts: &ConvertOptions) -> PyResult<Vec<Value>> {
    let mut out = Vec::with_capacity(items.len().unwrap_or(0));
    for a in items.try_iter()? {
        out.push(to_value(&a?, opts)?);
    }
    Ok(out)
}

fn seconds(what: &str, t: Option<f64>) -> PyResult<Option<Duration>> {
    match t {
        None => Ok(None),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Some(Duration::from_secs_f64(s))),
        Some(s) if s.is_infinite() && s > 0.0 => Ok(None),
        Some(s) => Err(PyValueError::new_err(format!(
            "{what} must be a non-negative number of seconds, got {s}"
        ))),
    }
}

/// `(ok, value)`: the value, or the exception object.
fn outcome(
    py: Python<'_>,
    r: srpy_client::Result<Value>,
    opts: &ConvertOptions,
    engine: &str,
) -> PyResult<Py<PyAny>> {
    let (ok, v) = match r {
        Ok(v) => match value_to_py(py, v, opts) {
            Ok(o) => (true, o),
            Err(e) => (false, convert_err(py, e).into_value(py).into_any()),
        },
        Err(e) => (
            false,
            errors::to_pyerr(py, e, engine).into_value(py).into_any(),
        ),
    };
    Ok(PyTuple::new(
        py,
        [ok.into_pyobject(py)?.to_owned().into_any().unbind(), v],
    )?
    .into_any()
    .unbind())
}

/// A box over the engines of some `PythonEngine` objects.
#[pyclass(module = "srpy._srpy", name = "RawBox", frozen)]
pub struct RawBox {
    bx: EngBox,
    uris: Vec<String>,
    /// Values cross pickled only when every engine handle allows it.
    opts: ConvertOptions,
    /// Per engine: the Python `output(stream, text)` callable that gets its
    /// remote output, if any.
    routers: Routers,
}

type Routers = Arc<Vec<Option<Py<PyAny>>>>;

/// Remote output, until the waiting thread delivers it: `(engine, stream,
/// text)`.
type OutputQueue = Arc<Mutex<Vec<(usize, Stream, String)>>>;

/// Hands queued remote output to the engines' Python output callables; an
/// exception there is reported as unraisable.
fn deliver(py: Python<'_>, queue: &OutputQueue, routers: &Routers) {
    let items = std::mem::take(&mut *queue.lock().unwrap_or_else(|e| e.into_inner()));
    for (i, stream, text) in items {
        if let Some(Some(f)) = routers.get(i) {
            let f = f.bind(py);
            if let Err(e) = f.call1((stream.name(), text)) {
                e.write_unraisable(py, Some(f));
            }
        }
    }
}

fn push_output(queue: &OutputQueue, i: usize, stream: Stream, text: &str) {
    queue
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((i, stream, text.to_owned()));
}

impl RawBox {
    fn results(&self, py: Python<'_>, rs: BoxResults) -> PyResult<Py<PyList>> {
        let out = PyList::empty(py);
        for (i, r) in rs {
            out.append(outcome(py, r, &self.opts, &self.uris[i])?)?;
        }
        Ok(out.unbind())
    }

    /// Runs `op` on every engine at once; on Ctrl-C the engines are
    /// interrupted.
    fn run(&self, py: Python<'_>, op: Op, timeout: Option<f64>) -> PyResult<Py<PyList>> {
        let timeout = seconds("timeout", timeout)?;
        let interrupts = !op.is_immediate();
        let queue: OutputQueue = Arc::new(Mutex::new(Vec::new()));
        let sinks: Vec<Option<OutputSink>> = self
            .routers
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.as_ref().map(|_| {
                    let q = queue.clone();
                    Arc::new(move |stream, text: &str| push_output(&q, i, stream, text))
                        as OutputSink
                })
            })
            .collect();
        let bx = &self.bx;
        let fut = bx.parallel(move |i, e| {
            let opts = CallOptions {
                timeout,
                output: sinks.get(i).cloned().flatten(),
            };
            let op = op.clone();
            async move { e.perform(op, opts).await }
        });
        let on_signal = || {
            if interrupts {
                interrupt_all(bx);
            }
        };
        let rs = wait_with(py, fut, on_signal, |py| deliver(py, &queue, &self.routers))?;
        self.results(py, rs)
    }
}

/// Sends `interrupt` to every engine without waiting for the answers.
fn interrupt_all(bx: &EngBox) {
    for e in bx.engines() {
        runtime().spawn(async move {
            let opts = CallOptions::default().timeout(Duration::from_secs(10));
            let _ = e.request(Op::Interrupt, opts).await;
        });
    }
}

#[pymethods]
impl RawBox {
    /// A box over these engines: `RawEngine` objects, or objects with a
    /// `_raw` attribute holding one (`PythonEngine`). `outputs[i]`: the
    /// callable `f(stream, text)` that gets engine `i`'s remote output
    /// (None: dropped), delivered by the thread that waits. `previous`: a
    /// box whose dead/alive state the engines it shares with this one keep
    /// (and share from now on: `EngBox::keep_state_of`).
    #[new]
    #[pyo3(signature = (engines, outputs = None, previous = None))]
    fn new(
        py: Python<'_>,
        engines: &Bound<'_, PyAny>,
        outputs: Option<Vec<Option<Py<PyAny>>>>,
        previous: Option<PyRef<'_, RawBox>>,
    ) -> PyResult<RawBox> {
        errors::barrier(py, || {
            let mut all = Vec::new();
            let mut uris = Vec::new();
            let mut pickle = true;
            for e in engines.try_iter()? {
                let e = e?;
                let raw = match e.cast::<RawEngine>() {
                    Ok(r) => r.clone(),
                    Err(_) => e
                        .getattr("_raw")
                        .ok()
                        .and_then(|r| r.cast_into::<RawEngine>().ok())
                        .ok_or_else(|| {
                            PyTypeError::new_err(format!(
                                "a box holds srpy.PythonEngine objects, got {}",
                                e.get_type()
                                    .name()
                                    .map(|n| n.to_string())
                                    .unwrap_or_default()
                            ))
                        })?,
                };
                pickle &= raw.getattr("allow_pickle")?.extract::<bool>()?;
                let eng = raw.get().inner().clone();
                uris.push(eng.uri().to_string());
                all.push(eng);
            }
            let allow_pickle = pickle && !uris.is_empty();
            let mut routers = outputs.unwrap_or_default();
            routers.resize_with(all.len(), || None);
            let mut bx = EngBox::new(all);
            if let Some(p) = previous {
                bx.keep_state_of(&p.bx);
            }
            Ok(RawBox {
                bx,
                uris,
                opts: ConvertOptions {
                    allow_pickle,
                    ..Default::default()
                },
                routers: Arc::new(routers),
            })
        })
    }

    /// The engine URIs an address stands for: the engine itself, or every
    /// engine of a server (`srpy://host:port`), in index order.
    #[staticmethod]
    #[pyo3(signature = (uri, token = None, connect_timeout = 10.0, tls = None))]
    fn expand_uri(
        py: Python<'_>,
        uri: &str,
        token: Option<Vec<u8>>,
        connect_timeout: f64,
        tls: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Vec<String>> {
        errors::barrier(py, || {
            let mut opts = with_tls(
                ConnectOptions {
                    token,
                    ..Default::default()
                },
                tls,
            )?;
            if let Some(t) = seconds("connect_timeout", Some(connect_timeout))? {
                opts.connect_timeout = t;
            }
            let r = wait(py, engbox::expand_uri(uri.to_owned(), &opts), || {})?;
            match r {
                Ok(uris) => Ok(uris.iter().map(ToString::to_string).collect()),
                Err(e) => Err(errors::to_pyerr(py, e, uri)),
            }
        })
    }

    /// The `(uri, tls_pin or None)` entries of a URI list (one per line,
    /// blank lines and `#` comments skipped; `srpy_client`'s one parser).
    #[staticmethod]
    fn parse_uri_list(py: Python<'_>, text: &str) -> PyResult<Vec<(String, Option<String>)>> {
        errors::barrier(py, || {
            engbox::parse_uri_list(text)
                .map(|entries| {
                    entries
                        .into_iter()
                        .map(|e| (e.uri.to_string(), e.tls_pin))
                        .collect()
                })
                .map_err(|e| errors::to_pyerr(py, e, ""))
        })
    }

    fn __len__(&self) -> usize {
        self.bx.len()
    }

    /// Indices of the engines that do not answer a ping within
    /// `ping_timeout` seconds (all pinged at once; any failure counts).
    /// The box remembers them (`is_dead`).
    #[pyo3(signature = (ping_timeout = 3.0))]
    fn get_dead(&self, py: Python<'_>, ping_timeout: f64) -> PyResult<Vec<usize>> {
        errors::barrier(py, || {
            let mut bx = self.bx.clone();
            if let Some(t) = seconds("ping_timeout", Some(ping_timeout))? {
                bx.set_ping_timeout(t);
            }
            wait(py, bx.get_dead(true), || {})
        })
    }

    /// Indices of the engines last seen dead (by pings, calls and maps),
    /// without asking them.
    fn last_dead(&self, py: Python<'_>) -> PyResult<Vec<usize>> {
        errors::barrier(py, || {
            Ok((0..self.bx.len()).filter(|&i| self.bx.is_dead(i)).collect())
        })
    }

    /// Records what a call made through engine `index`'s own handle showed:
    /// the engine is gone (`dead`), or it answered.
    fn set_dead(&self, py: Python<'_>, index: usize, dead: bool) -> PyResult<()> {
        errors::barrier(py, || {
            self.bx.set_dead(index, dead);
            Ok(())
        })
    }

    /// Indices of the engines ranked by benchmark, fastest first (only the
    /// fastest with `single`); `basis`: "all", "net" or "proc".
    fn get_fastest(&self, py: Python<'_>, single: bool, basis: &str) -> PyResult<Vec<usize>> {
        errors::barrier(py, || {
            let basis: Basis = basis
                .parse()
                .map_err(|e: Error| PyValueError::new_err(e.to_string()))?;
            wait(py, self.bx.get_fastest(single, basis), || {})
        })
    }

    /// The operation `op` with `fields` (as `RawEngine.request`) on every
    /// engine at once: `(ok, result | exception)` each.
    #[pyo3(signature = (op, fields = None, timeout = None))]
    fn request_all(
        &self,
        py: Python<'_>,
        op: &str,
        fields: Option<&Bound<'_, PyDict>>,
        timeout: Option<f64>,
    ) -> PyResult<Py<PyList>> {
        errors::barrier(py, || {
            let op = op_from(op, fields, &self.opts)?;
            self.run(py, op, timeout)
        })
    }

    /// Binds `name` to `parts[i]` on engine `i`.
    fn set_each(&self, py: Python<'_>, name: &str, parts: &Bound<'_, PyAny>) -> PyResult<()> {
        errors::barrier(py, || {
            let parts = values_from(parts, &self.opts)?;
            let r = wait(py, self.bx.set_each(name, parts), || {})?;
            r.map_err(|e| errors::to_pyerr(py, e, ""))
        })
    }

    /// Splits `items` into one contiguous list per engine and binds it to
    /// `name` there.
    fn scatter(&self, py: Python<'_>, name: &str, items: &Bound<'_, PyAny>) -> PyResult<()> {
        errors::barrier(py, || {
            let items = values_from(items, &self.opts)?;
            let r = wait(py, self.bx.scatter(name, items), || {})?;
            r.map_err(|e| errors::to_pyerr(py, e, ""))
        })
    }

    /// The value of `name` on every engine, in box order.
    fn gather_parts(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyList>> {
        errors::barrier(py, || {
            let r = wait(py, self.bx.gather_parts(name), || {})?;
            let parts = r.map_err(|e| errors::to_pyerr(py, e, ""))?;
            let out = PyList::empty(py);
            for v in parts {
                out.append(value_to_py(py, v, &self.opts).map_err(|e| convert_err(py, e))?)?;
            }
            Ok(out.unbind())
        })
    }

    /// Starts a map. `kind` is "expr" (`payload` the expression, over
    /// `var`), "call" (`payload` a dotted name) or "pickle" (`payload` a
    /// pickled callable).
    #[pyo3(signature = (kind, payload, items, var = "x", chunksize = None, ordered = true, max_retries = 2, pipeline = None))]
    #[allow(clippy::too_many_arguments)]
    fn imap(
        &self,
        py: Python<'_>,
        kind: &str,
        payload: &Bound<'_, PyAny>,
        items: &Bound<'_, PyAny>,
        var: &str,
        chunksize: Option<usize>,
        ordered: bool,
        max_retries: usize,
        pipeline: Option<usize>,
    ) -> PyResult<RawMap> {
        errors::barrier(py, || {
            let task = match kind {
                "expr" => MapTask::expr_with(payload.extract::<String>()?, var),
                "call" => MapTask::call(payload.extract::<String>()?),
                "pickle" => MapTask::Pickled(payload.cast::<PyBytes>()?.as_bytes().to_vec()),
                other => {
                    return Err(PyValueError::new_err(format!(
                        "unknown map task kind {other:?}"
                    )))
                }
            };
            if chunksize == Some(0) {
                return Err(PyValueError::new_err("chunksize must be at least 1"));
            }
            let items = values_from(items, &self.opts)?;
            let queue: OutputQueue = Arc::new(Mutex::new(Vec::new()));
            let engine_output: Option<EngineOutput> = if self.routers.iter().any(Option::is_some) {
                let q = queue.clone();
                Some(Arc::new(move |i, stream, text: &str| {
                    push_output(&q, i, stream, text)
                }))
            } else {
                None
            };
            let opts = MapOptions {
                chunksize,
                ordered,
                max_retries,
                pipeline,
                engine_output,
                ..Default::default()
            };
            let _in_runtime = runtime().enter();
            let stream = self
                .bx
                .imap(task, items, opts)
                .map_err(|e| errors::to_pyerr(py, e, ""))?;
            Ok(RawMap {
                total: stream.total(),
                stream: Mutex::new(stream),
                opts: self.opts,
                queue,
                routers: self.routers.clone(),
            })
        })
    }

    fn __repr__(&self) -> String {
        format!("<RawBox of {} engine(s)>", self.bx.len())
    }
}

/// A running map.
#[pyclass(module = "srpy._srpy", name = "RawMap", frozen)]
pub struct RawMap {
    stream: Mutex<MapStream>,
    total: usize,
    opts: ConvertOptions,
    /// Remote output of the chunks, until the waiting thread delivers it.
    queue: OutputQueue,
    routers: Routers,
}

/// Locks the stream without holding the GIL while another thread (which
/// released it) works on the stream.
fn lock_py<'a>(py: Python<'_>, m: &'a Mutex<MapStream>) -> std::sync::MutexGuard<'a, MapStream> {
    loop {
        match m.try_lock() {
            Ok(g) => return g,
            Err(std::sync::TryLockError::Poisoned(p)) => return p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                py.detach(|| std::thread::sleep(Duration::from_millis(1)));
            }
        }
    }
}

#[pymethods]
impl RawMap {
    /// Number of items.
    #[getter]
    fn total(&self) -> usize {
        self.total
    }

    /// The results that arrived (waiting for at least one), as a list of
    /// `(index, ok, value | exception)`; `None` at the end. Ctrl-C cancels
    /// the map (interrupting its engines) and raises `KeyboardInterrupt`.
    fn next_batch(&self, py: Python<'_>) -> PyResult<Option<Py<PyList>>> {
        errors::barrier(py, || {
            let mut guard = lock_py(py, &self.stream);
            let stream: &mut MapStream = &mut guard;
            let batch = loop {
                // `next_batch` is cancel-safe: a slice that times out loses nothing.
                let step = py.detach(|| {
                    runtime()
                        .block_on(async { tokio::time::timeout(SLICE, stream.next_batch()).await })
                });
                deliver(py, &self.queue, &self.routers);
                match step {
                    Ok(b) => break b,
                    Err(_) => {
                        if let Err(e) = py.check_signals() {
                            py.detach(|| runtime().block_on(stream.cancel()));
                            return Err(e);
                        }
                    }
                }
            };
            let Some(batch) = batch else { return Ok(None) };
            let out = PyList::empty(py);
            for (i, r) in batch {
                let o = outcome(py, r, &self.opts, "")?;
                let o = o.bind(py);
                out.append((i, o.get_item(0)?, o.get_item(1)?))?;
            }
            Ok(Some(out.unbind()))
        })
    }

    /// Stops the map and interrupts the engines still working on it.
    fn cancel(&self, py: Python<'_>) -> PyResult<()> {
        errors::barrier(py, || {
            let mut guard = lock_py(py, &self.stream);
            let stream: &mut MapStream = &mut guard;
            py.detach(|| runtime().block_on(stream.cancel()));
            Ok(())
        })
    }

    /// What happened so far: `total`, `chunksize`, `chunks`, `failed`,
    /// `retried_chunks`, `dead_engines` (box indices), `items_per_engine`.
    fn report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        errors::barrier(py, || {
            let r = lock_py(py, &self.stream).report();
            let d = PyDict::new(py);
            d.set_item("total", r.total)?;
            d.set_item("chunksize", r.chunksize)?;
            d.set_item("chunks", r.chunks)?;
            d.set_item("failed", r.failed)?;
            d.set_item("retried_chunks", r.retried_chunks)?;
            d.set_item("dead_engines", r.dead_engines)?;
            d.set_item("items_per_engine", r.items_per_engine)?;
            Ok(d)
        })
    }
}

/// Adds the box classes to the `_srpy` module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RawBox>()?;
    m.add_class::<RawMap>()?;
    Ok(())
}
