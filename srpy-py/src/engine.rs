//! The engine runtime: `python -m srpy.engine` lands here.
//!
//! The network side is `srpy_server::engine_host` (tokio threads, no GIL);
//! this module runs the interpreter's main thread: take the next job with
//! the GIL released, call its typed method of `srpy._executor.Executor`
//! (`op_<name>` with the request's fields, [`executor_call`]), send the
//! result. Remote `print` output goes back to the caller through
//! [`EngineOutput`] objects installed as `sys.stdout` / `sys.stderr`.

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyList, PyString, PyTuple};
use srpy_proto::{ErrorInfo, ErrorKind, Op, Stream, Value};
use srpy_server::engine_host::{EngineConfig, EngineHost, Job, OutputHandle};

use crate::convert::{
    py_to_value, py_vars_to_value, value_to_py, ConvertError, ConvertOptions, PyBytesAlloc, PICKLED,
};
use crate::errors;

/// Where remote output of the running job goes (`None` between jobs).
static CURRENT_OUTPUT: Mutex<Option<OutputHandle>> = Mutex::new(None);

/// `sys.stdout` / `sys.stderr` of an engine: buffers text per line and
/// sends it to the client whose request is running.
#[pyclass(module = "srpy._srpy")]
pub struct EngineOutput {
    stream: Stream,
    buffer: Mutex<String>,
    /// The original stream, for output written between jobs.
    fallback: Py<PyAny>,
}

impl EngineOutput {
    fn send(&self, text: &str) -> bool {
        match CURRENT_OUTPUT.lock().unwrap().as_ref() {
            Some(h) => {
                h.send(self.stream, text);
                true
            }
            None => false,
        }
    }

    fn flush_buffer(&self, py: Python<'_>) -> PyResult<()> {
        let text = std::mem::take(&mut *self.buffer.lock().unwrap());
        if !text.is_empty() && !self.send(&text) {
            self.fallback.call_method1(py, "write", (text,))?;
            self.fallback.call_method0(py, "flush")?;
        }
        Ok(())
    }
}

#[pymethods]
impl EngineOutput {
    fn write(&self, py: Python<'_>, text: &str) -> PyResult<usize> {
        errors::barrier(py, || {
            let flush = {
                let mut b = self.buffer.lock().unwrap();
                b.push_str(text);
                text.contains('\n') || b.len() > 8192
            };
            if flush {
                self.flush_buffer(py)?;
            }
            Ok(text.chars().count())
        })
    }

    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        errors::barrier(py, || self.flush_buffer(py))
    }

    fn isatty(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        true
    }

    fn readable(&self) -> bool {
        false
    }

    #[getter]
    fn encoding(&self) -> &'static str {
        "utf-8"
    }

    #[getter]
    fn errors(&self) -> &'static str {
        "strict"
    }
}

/// Reads the engine configuration: one JSON line on stdin.
fn read_config() -> PyResult<EngineConfig> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
        PyRuntimeError::new_err(format!(
            "cannot read the engine configuration from stdin: {e}"
        ))
    })?;
    serde_json::from_str(&line).map_err(|e| {
        PyRuntimeError::new_err(format!(
            "bad engine configuration on stdin ({e}); engines are started by srpy-server"
        ))
    })
}

/// Exits the process once stdin closes: the supervisor is gone.
fn watch_supervisor(install_dir: PathBuf) {
    std::thread::Builder::new()
        .name("srpy-engine-supervisor-watch".into())
        .spawn(move || {
            let mut sink = [0u8; 256];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            let _ = std::fs::remove_dir_all(&install_dir);
            // SAFETY: _exit ends the process at once, without running
            // Python finalisation concurrently with the main thread.
            unsafe { libc::_exit(0) };
        })
        .expect("spawn supervisor watch thread");
}

/// The host name, from libc (importing Python's `socket` module for it
/// cost every engine a few milliseconds of start-up).
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match (rc, std::str::from_utf8(&buf[..end])) {
        (0, Ok(name)) if !name.is_empty() => name.to_owned(),
        _ => "localhost".into(),
    }
}

/// Keeps freed big blocks in the engine's heap instead of unmapping them.
///
/// A `bytes` pushed to an engine is a new Python object of that size each
/// time; with glibc's defaults it is `mmap`ed fresh and unmapped again when
/// the namespace drops it, so every push pays a page fault and zeroing per
/// page (on this VM sometimes 100–200 ms for 64 MiB, when the host has
/// taken the free memory back). One arena, no mmap below 1 GiB and no
/// automatic trimming make the next push reuse the block; the engine loop
/// gives the memory back with `malloc_trim` once it has been idle a second,
/// and so does the receive buffer pool each time it frees the buffers it
/// kept (2 s after their last use: later than the idle trim, which then
/// had nothing of theirs to give back).
fn keep_freed_memory() {
    srpy_proto::pool::after_release(give_back_freed_memory);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's tuning; called before the engine
    // starts its threads.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// Returns the heap's free memory to the system (see [`keep_freed_memory`]).
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Entry point of `python -m srpy.engine`.
#[pyfunction]
pub fn engine_main(py: Python<'_>) -> PyResult<()> {
    keep_freed_memory();
    let config = py.detach(read_config)?;
    let pid = std::process::id();
    let install_dir = srpy_server::install_dir::create(config.index).map_err(|e| {
        PyRuntimeError::new_err(format!(
            "cannot create the engine's install folder in {}: {e}",
            std::env::temp_dir().display()
        ))
    })?;
    let info = Value::map([
        ("role", Value::from("engine")),
        ("index", Value::from(config.index)),
        ("pid", Value::from(pid)),
        ("name", Value::from(config.name.as_str())),
        ("group", Value::from(config.group.as_str())),
        ("hostname", Value::from(hostname())),
        ("version", Value::from(srpy_proto::SRPY_VERSION)),
    ]);
    // SAFETY: pthread_self of the main thread, valid for the process life.
    let main_thread = unsafe { libc::pthread_self() } as usize;
    let recv_alloc = PyBytesAlloc {
        stopped: None,
        only_thread: Some(main_thread),
    };
    let host = EngineHost::start(&config, info, Some(Arc::new(recv_alloc)))
        .map_err(|e| PyRuntimeError::new_err(format!("engine {}: {e}", config.index)))?;
    // An interrupt is a real SIGINT delivered to the interpreter's main
    // thread: Python's handler raises KeyboardInterrupt at the next bytecode,
    // and a blocking system call (time.sleep, socket reads) returns EINTR so
    // it is interrupted too. (PyErr_SetInterrupt from this I/O thread would
    // only set a flag that a tight loop or a sleep does not look at.)
    // Python installs its SIGINT handler only when SIGINT is not ignored at
    // start-up, and a process started in the background by a shell (`cmd &`)
    // inherits "ignored": install it explicitly, or interrupts would be lost.
    let signal = py.import("signal")?;
    signal.call_method1(
        "signal",
        (
            signal.getattr("SIGINT")?,
            signal.getattr("default_int_handler")?,
        ),
    )?;
    host.set_interrupter(move || {
        // SAFETY: pthread_kill on a live thread of this process.
        unsafe { libc::pthread_kill(main_thread as libc::pthread_t, libc::SIGINT) };
    });
    watch_supervisor(install_dir.clone());

    let executor = py.import("srpy._executor")?.getattr("Executor")?.call1((
        config.index,
        install_dir.to_string_lossy().into_owned(),
        {
            let d = PyDict::new(py);
            d.set_item("srpy", srpy_proto::SRPY_VERSION)?;
            d.set_item("protocol", srpy_proto::handshake::MAX_VERSION)?;
            d
        },
    ))?;
    let describe = py.import("srpy._executor")?.getattr("describe_exception")?;
    let sys = py.import("sys")?;
    let outputs = [Stream::Stdout, Stream::Stderr].map(|stream| {
        let name = if stream == Stream::Stdout {
            "stdout"
        } else {
            "stderr"
        };
        let fallback = sys.getattr(name).expect("sys stream").unbind();
        let out = Py::new(
            py,
            EngineOutput {
                stream,
                buffer: Mutex::new(String::new()),
                fallback,
            },
        )
        .expect("EngineOutput");
        sys.setattr(name, out.clone_ref(py))
            .expect("set sys stream");
        out
    });

    {
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "SRPY-ENGINE-READY {} {}",
            host.local_addr().map_or(0, |a| a.port()),
            install_dir.display()
        )
        .and_then(|_| stdout.flush())
        .map_err(|e| PyRuntimeError::new_err(format!("cannot report readiness: {e}")))?;
    }

    // Whether a job ran since the heap was last trimmed.
    let mut worked = false;
    loop {
        let job = match py.detach(|| host.next_job(Duration::from_secs(1))) {
            Ok(Some(job)) => job,
            Ok(None) => {
                // Idle for a second: give freed memory back.
                if std::mem::take(&mut worked) {
                    py.detach(give_back_freed_memory);
                }
                continue;
            }
            Err(_closed) => break,
        };
        worked = true;
        let mut job = job;
        // A stray interrupt aimed at an earlier job must not hit this one.
        let _ = py.check_signals();
        *CURRENT_OUTPUT.lock().unwrap() = Some(job.output_handle());
        // A panic (a bug found by some request) fails that request only:
        // the engine, its namespace and its other clients go on.
        let result = srpy_client::panic::catch(|| run_job(py, &executor, &describe, &mut job))
            .unwrap_or_else(|m| Err(internal_error(format!("internal error in the engine: {m}"))));
        for out in &outputs {
            let _ = out.borrow(py).flush_buffer(py);
        }
        *CURRENT_OUTPUT.lock().unwrap() = None;
        job.finish(result);
        // An interrupt that raced with the end of the job is still pending
        // in the interpreter: consume it here, not in the next job.
        let _ = py.check_signals();
    }
    host.shutdown();
    let _ = std::fs::remove_dir_all(&install_dir);
    Ok(())
}

/// The executor method of a queued op (`Executor.op_<wire name>`) and its
/// arguments: the op's fields, in the order of the operation table
/// (`srpy_proto::ops`), already checked by the decoder.
fn executor_call<'py>(
    py: Python<'py>,
    op: Op,
    opts: &ConvertOptions,
) -> Result<(&'py Bound<'py, PyString>, Bound<'py, PyTuple>), ConvertError> {
    let vars = |vars: srpy_proto::Vars| -> Result<Bound<'py, PyAny>, ConvertError> {
        let v = PyDict::new(py);
        for (k, val) in vars {
            v.set_item(k, value_to_py(py, val, opts)?)?;
        }
        Ok(v.into_any())
    };
    let list = |values: Vec<Value>| -> Result<Bound<'py, PyAny>, ConvertError> {
        let a = PyList::empty(py);
        for v in values {
            a.append(value_to_py(py, v, opts)?)?;
        }
        Ok(a.into_any())
    };
    let strs = |names: Vec<String>| -> Result<Bound<'py, PyAny>, ConvertError> {
        Ok(PyList::new(py, names)?.into_any())
    };
    let text = |s: String| PyString::new(py, &s).into_any();
    let bytes = |b: Vec<u8>| PyBytes::new(py, &b).into_any();
    let none = || py.None().into_bound(py);
    let (method, args): (&Bound<'py, PyString>, Vec<Bound<'py, PyAny>>) = match op {
        Op::Whoami => (intern!(py, "op_whoami"), vec![]),
        Op::Set { vars: v } => (intern!(py, "op_set"), vec![vars(v)?]),
        Op::Get { name } => (intern!(py, "op_get"), vec![text(name)]),
        Op::GetMany { names } => (intern!(py, "op_get_many"), vec![strs(names)?]),
        Op::Names => (intern!(py, "op_names"), vec![]),
        Op::Delete { names } => (intern!(py, "op_delete"), vec![strs(names)?]),
        Op::Clear => (intern!(py, "op_clear"), vec![]),
        Op::Eval { expr, vars: v } if v.is_empty() => (intern!(py, "op_eval"), vec![text(expr)]),
        Op::Eval { expr, vars: v } => (intern!(py, "op_eval"), vec![text(expr), vars(v)?]),
        Op::Exec { code, vars: v } => (intern!(py, "op_exec"), vec![text(code), vars(v)?]),
        Op::Vexec { code, get, vars: v } => (
            intern!(py, "op_vexec"),
            vec![text(code), strs(get)?, vars(v)?],
        ),
        Op::Call { name, args, kwargs } => (
            intern!(py, "op_call"),
            vec![text(name), list(args)?, vars(kwargs)?],
        ),
        Op::Describe { name } => (intern!(py, "op_describe"), vec![text(name)]),
        Op::Install {
            name,
            source,
            archive,
            is_package,
        } => (
            intern!(py, "op_install"),
            vec![
                text(name),
                source.map_or_else(none, text),
                archive.map_or_else(none, bytes),
                PyBool::new(py, is_package).to_owned().into_any(),
            ],
        ),
        Op::Import { modules } => (intern!(py, "op_import"), vec![strs(modules)?]),
        Op::Benchmark { cycles } => (
            intern!(py, "op_benchmark"),
            vec![PyInt::new(py, cycles).into_any()],
        ),
        Op::Apply {
            function,
            args,
            kwargs,
        } => (
            intern!(py, "op_apply"),
            vec![bytes(function), list(args)?, vars(kwargs)?],
        ),
        other => {
            return Err(ConvertError::Py(PyRuntimeError::new_err(format!(
                "op '{}' is not run by the executor",
                other.name()
            ))))
        }
    };
    Ok((method, PyTuple::new(py, args)?))
}

/// The answer to a request that hit a bug of the engine (a caught panic):
/// a remote `SystemError`, Python's own "internal error" exception.
fn internal_error(message: String) -> ErrorInfo {
    ErrorInfo::remote("SystemError", message, String::new())
}

/// Runs one job on the main thread and shapes its result for the wire.
fn run_job(
    py: Python<'_>,
    executor: &Bound<'_, PyAny>,
    describe: &Bound<'_, PyAny>,
    job: &mut Job,
) -> Result<Value, ErrorInfo> {
    // PROTOCOL.md 9.9: "A receiver MUST NOT unpickle a tag-42002 value
    // from a peer whose handshake did not list `pickle`: it answers
    // `not_transferable`." (`apply`'s `function` is code, like `exec`'s
    // text, not a value: it runs without the feature.)
    let incoming = ConvertOptions {
        allow_pickle: job.wants_pickle,
        share_arrays: false,
    };
    // Results are sent from the objects' own memory: what the socket does
    // not take at once stays queued only until the next job starts (the
    // engine host copies the rest then), so no later job changes it.
    let outgoing = ConvertOptions {
        allow_pickle: job.wants_pickle,
        share_arrays: true,
    };
    let as_remote = |e: PyErr| -> ErrorInfo {
        // into_value attaches the traceback to the exception object.
        let described = describe
            .call1((e.into_value(py),))
            .and_then(|t| t.extract::<(String, String, String)>());
        match described {
            Ok((t, m, tb)) => ErrorInfo::remote(t, m, tb),
            Err(d) => ErrorInfo::remote(
                "Exception",
                format!("unreportable exception ({d})"),
                String::new(),
            ),
        }
    };
    let convert_err = |e: ConvertError| match e {
        ConvertError::NotTransferable(nt) => ErrorInfo {
            kind: ErrorKind::NotTransferable,
            message: nt.message,
            remote_type: Some(nt.type_name),
            traceback: None,
        },
        ConvertError::Py(e) => as_remote(e),
        e @ ConvertError::Panic(_) => internal_error(e.to_string()),
    };
    let op = job.take_op();
    let answers_vars = matches!(op, Op::GetMany { .. } | Op::Vexec { .. });
    let (method, args) = executor_call(py, op, &incoming).map_err(|e| match e {
        ConvertError::NotTransferable(nt) if nt.type_name == PICKLED => ErrorInfo {
            kind: ErrorKind::NotTransferable,
            message: "a pickled value (tag 42002) arrived on a connection whose hello did not \
                      list the 'pickle' feature; connect with pickle allowed to send one"
                .to_owned(),
            remote_type: Some(nt.type_name),
            traceback: None,
        },
        e => convert_err(e),
    })?;
    let result = executor.call_method1(method, args).map_err(as_remote)?;
    match result.cast::<PyDict>() {
        Ok(vars) if answers_vars => py_vars_to_value(vars, &outgoing),
        _ => py_to_value(&result, &outgoing),
    }
    .map_err(convert_err)
}
