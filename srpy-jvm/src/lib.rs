//! SRPy for the JVM: the native methods behind the Java package `org.srpy`
//! (class `org.srpy.Native`), wrapping [`srpy_client`] — no second protocol
//! implementation.
//!
//! - Handles: a Java `long` is a pointer to a boxed [`srpy_client::Engine`]
//!   (an `Arc` inside), [`srpy_client::LocalServer`], `EngBox` ([`engbox`])
//!   or `Cluster` ([`cluster`]); the Java side frees
//!   each exactly once (`free` / `localFree`), after the last call using it.
//! - Threads: calls block the calling Java thread on the process-wide
//!   runtime of [`srpy_client::blocking::runtime`]. No runtime thread ever
//!   calls into Java (so none is attached to the JVM, which therefore exits
//!   normally): remote output is handed over a channel to the calling
//!   thread, which runs the Java output handler before the call returns.
//! - Errors: every native body runs inside `with_env` with the
//!   [`error::ThrowSrpy`] policy: a Rust error becomes the matching
//!   `org.srpy` exception, a panic an `SRPyException`.
//! - Values: [`convert`] walks Java objects by JNI calls through IDs cached
//!   by `Native.init()` ([`raw::init`]).
//! - Connect options: `org.srpy.ConnectOptions` arrives as its token,
//!   connect timeout and a `String[]` of TLS options, made into the Rust
//!   client's [`ConnectOptions`] in one place ([`connect_options`]); the
//!   Rust client checks and uses them (no TLS code here).

mod cluster;
mod convert;
mod engbox;
mod error;
mod raw;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use jni::sys::{jboolean, jclass, jdouble, jint, jlong, jobject, jstring};
use jni::EnvUnowned;
use srpy_client::proto::ops::{self, FieldType};
use srpy_client::{
    blocking, CallOptions, ConnectOptions, Engine, LocalServer, LocalServerOptions, Op, OutputSink,
    Stream, Value,
};

use crate::convert::{to_args, to_java, to_names, to_value, to_vars};
use crate::error::{JvmError, ThrowSrpy};
use crate::raw::{cache, jv_obj, Cache, J};

/// A `jobject` return value with a `Default` (null) for the error policy.
pub(crate) struct Obj(pub(crate) jobject);

impl Default for Obj {
    fn default() -> Self {
        Obj(std::ptr::null_mut())
    }
}

/// Runs a native body with the `ThrowSrpy` policy.
pub(crate) fn run<'l, T: Default>(
    env: &mut EnvUnowned<'l>,
    f: impl FnOnce(&J) -> Result<T, JvmError>,
) -> T {
    env.with_env(|env| -> Result<T, JvmError> {
        // SAFETY: the JNIEnv of this native call, on this thread.
        let j = unsafe { J::new(env.get_raw()) };
        f(&j)
    })
    .resolve::<ThrowSrpy>()
}

pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
    blocking::runtime().block_on(f)
}

pub(crate) fn engine<'a>(h: jlong) -> Result<&'a Engine, JvmError> {
    if h == 0 {
        return Err(JvmError::State("the engine is closed".into()));
    }
    // SAFETY: `h` came from `connect` and the Java side frees it only after
    // the last call using it has returned.
    Ok(unsafe { &*(h as *const Engine) })
}

/// Drops the boxed `T` behind a handle (0: nothing).
///
/// # Safety
/// `h` is 0 or came from `Box::<T>::into_raw`, is freed once, and no call
/// uses it any more (the Java side guarantees both).
pub(crate) unsafe fn free_handle<T>(h: jlong) -> Result<(), JvmError> {
    if h != 0 {
        // SAFETY: as the caller promises.
        drop(unsafe { Box::from_raw(h as *mut T) });
    }
    Ok(())
}

fn local_server<'a>(h: jlong) -> Result<&'a LocalServer, JvmError> {
    if h == 0 {
        return Err(JvmError::State("the local server is closed".into()));
    }
    // SAFETY: as for `engine`.
    Ok(unsafe { &*(h as *const LocalServer) })
}

pub(crate) fn opt_string(j: &J, s: jobject) -> Result<Option<String>, JvmError> {
    if s.is_null() {
        Ok(None)
    } else {
        j.string(s).map(Some)
    }
}

pub(crate) fn string_arg(j: &J, s: jobject, what: &str) -> Result<String, JvmError> {
    opt_string(j, s)?.ok_or_else(|| JvmError::Arg(format!("{what} must not be null")))
}

pub(crate) fn opt_bytes(j: &J, b: jobject) -> Result<Option<Vec<u8>>, JvmError> {
    if b.is_null() {
        Ok(None)
    } else {
        j.bytes_of(b).map(Some)
    }
}

pub(crate) fn duration(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs > 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)))
}

/// The entries of a Java `String[]` (null entries `None`; a null array has
/// none).
pub(crate) fn string_array(j: &J, a: jobject) -> Result<Vec<Option<String>>, JvmError> {
    let n = if a.is_null() { 0 } else { j.array_len(a) };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let o = j.array_get(a, i)?;
        let s = opt_string(j, o);
        j.del(o);
        out.push(s?);
    }
    Ok(out)
}

/// The Rust client's connect options from what `org.srpy.ConnectOptions`
/// hands over: the token (null: `SRPY_TOKEN`), the connect timeout in
/// seconds (NaN or <= 0: the default), and `tls`, a `String[]` of the TLS
/// options: CA file, pin, client certificate, its key (null entries unset;
/// a null array: no TLS options). The Rust client checks them when it
/// connects (a missing file or a malformed pin is its error).
pub(crate) fn connect_options(
    j: &J,
    token: jobject,
    connect_timeout: f64,
    tls: jobject,
) -> Result<ConnectOptions, JvmError> {
    let mut opts = ConnectOptions {
        token: opt_bytes(j, token)?,
        ..ConnectOptions::default()
    };
    if let Some(t) = duration(connect_timeout) {
        opts.connect_timeout = t;
    }
    match <[Option<String>; 4]>::try_from(string_array(j, tls)?) {
        Ok([ca, pin, cert, key]) => {
            opts.tls_ca = ca.map(PathBuf::from);
            opts.tls_pin = pin;
            opts.tls_cert = cert.map(PathBuf::from);
            opts.tls_key = key.map(PathBuf::from);
        }
        Err(v) if v.is_empty() => {}
        Err(v) => {
            return Err(JvmError::Internal(format!(
                "{} TLS options, expected 4 (ca, pin, cert, key)",
                v.len()
            )))
        }
    }
    Ok(opts)
}

fn discard() -> OutputSink {
    static SINK: OnceLock<OutputSink> = OnceLock::new();
    SINK.get_or_init(srpy_client::discard_sink).clone()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_init<'l>(mut env: EnvUnowned<'l>, _cls: jclass) {
    run(&mut env, raw::init)
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_version<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
) -> jstring {
    run(&mut env, |j| {
        j.new_string(env!("CARGO_PKG_VERSION")).map(Obj)
    })
    .0
}

// ------------------------------------------------------------------ engines

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_connect<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    uri: jstring,
    token: jobject,
    connect_timeout: jdouble,
    tls: jobject,
    call_timeout: jdouble,
) -> jlong {
    run(&mut env, |j| {
        let uri = string_arg(j, uri, "uri")?;
        let mut opts = connect_options(j, token, connect_timeout, tls)?;
        opts.default_call_timeout = duration(call_timeout);
        let eng = block_on(Engine::connect(uri.as_str(), opts))?;
        Ok(Box::into_raw(Box::new(eng)) as jlong)
    })
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_close<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
) {
    run(&mut env, |_| {
        engine(h)?.close();
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_free<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
) {
    run(&mut env, |_| {
        if h != 0 {
            // SAFETY: made by `connect`, freed once (the Java side's Cleaner
            // and in-flight count guarantee it).
            let eng = unsafe { Box::from_raw(h as *mut Engine) };
            eng.close();
            drop(eng);
        }
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_info<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
) -> jobject {
    run(&mut env, |j| {
        let c = cache()?;
        let info = engine(h)?.info();
        to_java(j, c, info).map(Obj)
    })
    .0
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_isConnected<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
) -> jboolean {
    run(&mut env, |_| Ok(engine(h)?.is_connected()))
}

/// One request: the operation `op` (its wire name, `docs/PROTOCOL.md`
/// 10.4) with `fields`, an `Object[]` of alternating field names and values
/// (null: none); `timeout`: seconds, NaN or <= 0 for none.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_request<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
    op: jstring,
    fields: jobject,
    timeout: jdouble,
    out: jobject,
) -> jobject {
    run(&mut env, |j| {
        let c = cache()?;
        let eng = engine(h)?;
        let op = build_op(j, c, op, fields)?;
        let v = call(j, c, eng, op, duration(timeout), out)?;
        to_java(j, c, v).map(Obj)
    })
    .0
}

/// The typed op named `op` with the Java `fields` (alternating names and
/// values), each converted as the operation table (`srpy_proto::ops`)
/// types it, then checked as a received request is.
pub(crate) fn build_op(j: &J, c: &Cache, op: jstring, fields: jobject) -> Result<Op, JvmError> {
    let name = string_arg(j, op, "operation")?;
    let spec = ops::spec(&name).ok_or_else(|| {
        JvmError::Arg(format!(
            "unknown operation {name:?}; the operations are {}",
            ops::NAMES.join(", ")
        ))
    })?;
    let n = if fields.is_null() {
        0
    } else {
        j.array_len(fields)
    };
    if n % 2 != 0 {
        return Err(JvmError::Arg(format!(
            "{name}: fields come in pairs (name, value), got {n} items"
        )));
    }
    let mut map = Vec::with_capacity(n / 2);
    for i in (0..n).step_by(2) {
        let k = j.array_get(fields, i)?;
        let key = string_arg(j, k, "a field name");
        j.del(k);
        let key = key?;
        let field = spec.fields.iter().find(|f| f.name == key).ok_or_else(|| {
            let names: Vec<&str> = spec.fields.iter().map(|f| f.name).collect();
            JvmError::Arg(format!(
                "{name}: no field {key:?}; its fields are [{}]",
                names.join(", ")
            ))
        })?;
        let v = j.array_get(fields, i + 1)?;
        let value = if v.is_null() {
            Ok(Value::Null)
        } else {
            match field.ty {
                FieldType::Vars => to_vars(j, c, v)
                    .map(|vars| Value::Map(vars.into_iter().map(|(k, v)| (k.into(), v)).collect())),
                FieldType::Array => to_args(j, c, v).map(Value::List),
                FieldType::Names => to_names(j, c, v)
                    .map(|ns| Value::List(ns.into_iter().map(Value::Str).collect())),
                _ => to_value(j, c, v),
            }
        };
        j.del(v);
        map.push((Value::from(field.name), value?));
    }
    Op::from_fields(&name, Value::Map(map)).map_err(|e| JvmError::Arg(format!("{name}: {e}")))
}

enum Step<T> {
    Out((Stream, String)),
    Done(T),
}

/// Sends `op` and waits for its answer on this (Java) thread; remote output
/// arriving meanwhile is passed to the Java handler `out` here, in order,
/// before the answer is returned.
fn call(
    j: &J,
    c: &Cache,
    eng: &Engine,
    op: Op,
    timeout: Option<Duration>,
    out: jobject,
) -> Result<Value, JvmError> {
    let mut opts = CallOptions {
        timeout,
        ..CallOptions::default()
    };
    if op.is_immediate() {
        return Ok(block_on(eng.perform(op, opts))?);
    }
    Ok(with_output(j, c, out, move |sink| {
        opts.output = Some(sink);
        eng.perform(op, opts)
    })?)
}

/// Runs the future `make(sink)` on the runtime, blocking this Java thread;
/// text written to `sink` (by runtime threads) reaches the Java handler
/// `out` on this thread, in order, before the result is returned. A null
/// `out` drops the output.
pub(crate) fn with_output<'f, T, Fut>(
    j: &J,
    c: &Cache,
    out: jobject,
    make: impl FnOnce(OutputSink) -> Fut,
) -> T
where
    Fut: Future<Output = T> + 'f,
{
    if out.is_null() {
        return block_on(make(discard()));
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Stream, String)>();
    let sink: OutputSink = Arc::new(move |stream, text: &str| {
        let _ = tx.send((stream, text.to_owned()));
    });
    let mut fut = Box::pin(make(sink));
    loop {
        let step = block_on(async {
            tokio::select! {
                biased;
                Some(o) = rx.recv() => Step::Out(o),
                r = &mut fut => Step::Done(r),
            }
        });
        match step {
            Step::Out(o) => deliver(j, c, out, o),
            Step::Done(r) => {
                while let Ok(o) = rx.try_recv() {
                    deliver(j, c, out, o);
                }
                return r;
            }
        }
    }
}

/// Calls `out.accept(stream, text)`; an exception it throws is dropped (the
/// Java side wraps user handlers so they report their own failures).
fn deliver(j: &J, c: &Cache, out: jobject, (stream, text): (Stream, String)) {
    let s = match stream {
        Stream::Stderr => c.stderr,
        _ => c.stdout,
    };
    let Ok(t) = j.new_string(&text) else {
        j.clear_exception();
        return;
    };
    let sl = j.local(s);
    if j.call_void(out, c.bi_consumer_accept, &[jv_obj(sl), jv_obj(t)])
        .is_err()
    {
        j.clear_exception();
    }
    j.del(sl);
    j.del(t);
}

// ------------------------------------------------------------------ local servers

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_localStart<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    engines: jint,
    python: jstring,
    server_bin: jstring,
    token: jobject,
    start_timeout: jdouble,
    server_args: jobject,
) -> jlong {
    run(&mut env, |j| {
        let mut opts = LocalServerOptions::engines(engines.max(1) as usize);
        opts.python = opt_string(j, python)?.map(PathBuf::from);
        opts.server_bin = opt_string(j, server_bin)?.map(PathBuf::from);
        opts.token = opt_bytes(j, token)?;
        for arg in string_array(j, server_args)? {
            let arg = arg.ok_or_else(|| JvmError::Arg("a server argument is null".into()))?;
            opts.extra_args.push(arg.into());
        }
        if let Some(t) = duration(start_timeout) {
            opts.start_timeout = t;
        }
        let srv = block_on(LocalServer::start(opts))?;
        Ok(Box::into_raw(Box::new(srv)) as jlong)
    })
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_localUri<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
) -> jstring {
    run(&mut env, |j| {
        j.new_string(&local_server(h)?.uri().to_string()).map(Obj)
    })
    .0
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_localToken<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
) -> jobject {
    run(&mut env, |j| {
        j.byte_array(local_server(h)?.token()).map(Obj)
    })
    .0
}

/// The pin of the server's certificate (`--tls auto` and the like) from its
/// uri file, or null without TLS.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_localTlsPin<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
) -> jstring {
    run(&mut env, |j| {
        match local_server(h)?.connect_options().tls_pin {
            Some(pin) => j.new_string(&pin).map(Obj),
            None => Ok(Obj::default()),
        }
    })
    .0
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_localPid<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
) -> jlong {
    run(&mut env, |_| Ok(local_server(h)?.pid() as jlong))
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_localRunning<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
) -> jboolean {
    run(&mut env, |_| Ok(local_server(h)?.is_running()))
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_localLog<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
) -> jstring {
    run(&mut env, |j| {
        j.new_string(&local_server(h)?.log_path().to_string_lossy())
            .map(Obj)
    })
    .0
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_localStop<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
) {
    run(&mut env, |_| {
        local_server(h)?.stop_blocking()?;
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_localFree<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
) {
    // SAFETY: made by `localStart`, freed once by LocalServer.close().
    run(&mut env, |_| unsafe { free_handle::<LocalServer>(h) })
}

// ------------------------------------------------------------------ test and benchmark support

/// Throws the exception an error of `kind` maps to (tests of the mapping;
/// `"panic"` panics inside the native method).
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_testThrow<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    kind: jstring,
) {
    run(&mut env, |j| {
        use srpy_client::Error as E;
        let kind = string_arg(j, kind, "kind")?;
        let m = || format!("test {kind}");
        let e = match kind.as_str() {
            "remote" => E::Remote {
                type_name: "KeyError".into(),
                message: "'k'".into(),
                traceback: Some(
                    "Traceback (most recent call last):\n  ...\nKeyError: 'k'\n".into(),
                ),
            },
            "protocol" => E::Protocol(m()),
            "version" => E::Version(m()),
            "auth" => E::Auth(m()),
            "engine_died" => E::EngineDied(m()),
            "timeout" => E::Timeout(m()),
            "interrupted" => E::Interrupted(m()),
            "not_transferable" => E::NotTransferable(m()),
            "unsupported_op" => E::UnsupportedOp(m()),
            "limit" => E::Limit(m()),
            "no_such_engine" => E::NoSuchEngine(m()),
            "server_not_found" => E::ServerNotFound {
                uri: "srpy://127.0.0.1:1".into(),
                source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
            },
            "io" => E::Io(std::io::Error::other(m())),
            "closed" => E::Closed,
            "invalid_uri" => E::InvalidUri(m()),
            "other" => E::Other(m()),
            "arg" => return Err(JvmError::Arg(m())),
            "panic" => panic!("test panic"),
            _ => return Err(JvmError::Arg(format!("unknown kind {kind}"))),
        };
        Err(e.into())
    })
}

/// The Rust client's own round trips, in this process on the same engine
/// handle: `n` evaluations of `expr` by `srpy_client::Engine::eval` (the
/// answer converted to nothing), each one's nanoseconds.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_benchRustEval<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
    expr: jstring,
    n: jint,
) -> jobject {
    run(&mut env, |j| {
        let eng = engine(h)?;
        let expr = string_arg(j, expr, "expr")?;
        let mut out = Vec::with_capacity(n.max(0) as usize);
        for _ in 0..n.max(0) {
            let t = std::time::Instant::now();
            block_on(eng.eval(expr.as_str()))?;
            out.push(t.elapsed().as_nanos() as jlong);
        }
        j.long_array(&out).map(Obj)
    })
    .0
}

/// The Rust client's own `set`/`get` of `size` bytes, `reps` times on the
/// same connection: `[set seconds..., get seconds...]`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_benchRustBytes<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
    size: jint,
    reps: jint,
) -> jobject {
    run(&mut env, |j| {
        let eng = engine(h)?;
        let reps = reps.max(1) as usize;
        let data = vec![7u8; size.max(0) as usize];
        let mut out = vec![0.0; 2 * reps];
        for r in 0..reps {
            let v = Value::Bytes(data.clone().into());
            let t = std::time::Instant::now();
            block_on(eng.set("blob_rust", v))?;
            out[r] = t.elapsed().as_secs_f64();
            let t = std::time::Instant::now();
            let back = block_on(eng.get("blob_rust"))?;
            out[reps + r] = t.elapsed().as_secs_f64();
            drop(back);
        }
        j.double_array(&out).map(Obj)
    })
    .0
}
