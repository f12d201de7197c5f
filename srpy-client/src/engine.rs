//! `Engine`: one remote Python interpreter, one typed method per operation.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use srpy_proto::{Op, Value, Vars};

use crate::endpoint::{Endpoint, Target};
use crate::error::{Error, Result};
use crate::options::{stdio_sink, CallOptions, ConnectOptions, OutputSink};
use crate::typed;
use crate::uri::{IntoUri, Uri};

/// Turns `(name, value)` pairs into [`Vars`].
pub fn vars<I, K, V>(pairs: I) -> Vars
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<Value>,
{
    pairs
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}

fn strings<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    names.iter().map(|s| s.as_ref().to_owned()).collect()
}

/// A map answer with text keys as [`Vars`].
fn into_vars(what: &str, v: Value) -> Result<Vars> {
    match v {
        Value::Map(entries) => entries
            .into_iter()
            .map(|(k, v)| match k {
                Value::Str(k) => Ok((k, v)),
                other => Err(Error::unexpected(what, &other)),
            })
            .collect(),
        other => Err(Error::unexpected(what, &other)),
    }
}

fn expect_bool(what: &str, v: Value) -> Result<bool> {
    v.as_bool().ok_or_else(|| Error::unexpected(what, &v))
}

/// Result of [`Engine::benchmark`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Benchmark {
    /// Mean round trip of a `ping`, measured by the client, in seconds.
    pub net_s: f64,
    /// Seconds the engine took for the processor benchmark.
    pub proc_s: f64,
    /// Whether the engine was busy when asked.
    pub busy: bool,
}

struct Inner {
    ep: Endpoint,
    output: RwLock<OutputSink>,
}

/// A remote Python engine.
///
/// Cheap to clone (an `Arc` inside): clones share one TCP connection, on
/// which any number of requests may be in flight at once (they run one at a
/// time in the engine, in arrival order; `ping`, `is_busy` and `interrupt`
/// are answered at once).
///
/// When the connection is lost (the engine died or was restarted), every
/// request in flight fails with [`Error::EngineDied`]; the next call
/// reconnects — for `srpy://host:port/<index>`, through the server's
/// directory, waiting up to the connect timeout for the engine to be alive
/// again. The new engine has a fresh namespace.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// Connects to an engine: `srpy://host:port/<index>` (engine `index` of
    /// the server at `host:port`), or `host:port` of an engine itself.
    pub async fn connect(uri: impl IntoUri, opts: ConnectOptions) -> Result<Engine> {
        let e = Engine::new(uri.into_uri()?, opts);
        e.inner.ep.conn().await?;
        Ok(e)
    }

    /// A handle that connects on its first call.
    pub fn lazy(uri: impl IntoUri, opts: ConnectOptions) -> Result<Engine> {
        Ok(Engine::new(uri.into_uri()?, opts))
    }

    fn new(uri: Uri, opts: ConnectOptions) -> Engine {
        Engine {
            inner: Arc::new(Inner {
                ep: Endpoint::new(uri, opts, Target::Engine),
                output: RwLock::new(stdio_sink()),
            }),
        }
    }

    /// Whether `other` is a clone of this handle (the same connection), not
    /// merely a handle of the same engine.
    pub fn same_handle(&self, other: &Engine) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The address this engine was connected with.
    pub fn uri(&self) -> &Uri {
        &self.inner.ep.uri
    }

    /// The options this engine connects with.
    pub fn options(&self) -> &ConnectOptions {
        &self.inner.ep.opts
    }

    /// The engine index: from the URI, else from the engine's welcome.
    pub fn index(&self) -> Option<u64> {
        self.uri().index.or_else(|| {
            self.info()
                .get("index")
                .and_then(Value::as_i64)
                .and_then(|i| u64::try_from(i).ok())
        })
    }

    /// The engine's welcome info (`role`, `index`, `pid`, `name`, `group`,
    /// `hostname`) of the current connection; `Null` when not connected.
    pub fn info(&self) -> Value {
        self.inner.ep.info()
    }

    /// Whether a live connection exists now (calls reconnect as needed).
    pub fn is_connected(&self) -> bool {
        self.inner.ep.is_connected()
    }

    /// Closes the connection of this handle and all its clones; later calls
    /// fail with [`Error::Closed`].
    pub fn close(&self) {
        self.inner.ep.close();
    }

    /// Sets where remote stdout/stderr goes for calls that do not pass their
    /// own sink. Default: the local stdout/stderr, unchanged.
    pub fn set_output_handler(&self, sink: OutputSink) {
        *self.inner.output.write().unwrap_or_else(|e| e.into_inner()) = sink;
    }

    /// The current output handler.
    pub fn output_handler(&self) -> OutputSink {
        self.inner
            .output
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sends any operation.
    ///
    /// With a timeout (`opts.timeout`, else the connect options' default
    /// call timeout), a call that has not finished in time returns
    /// [`Error::Timeout`] and the engine is sent an `interrupt` so it stops
    /// working on it; the late reply is dropped. The interrupt hits whatever
    /// the engine is running at that moment: if the timed-out request was
    /// still queued behind other work (its own or another client's), that
    /// work is interrupted instead and the request itself still runs later.
    pub async fn request(&self, op: Op, opts: CallOptions) -> Result<Value> {
        let timeout = opts.timeout.or(self.inner.ep.opts.default_call_timeout);
        self.call_op(op, opts.output, timeout).await
    }

    /// Runs any operation as the typed methods do: the one entry point of
    /// the bindings (an op built by [`Op::from_fields`] from a name and its
    /// fields). `wait` waits as [`Engine::wait`] (the default call timeout
    /// does not apply; `opts.timeout` bounds the whole call); `benchmark`
    /// answers [`Engine::benchmark`]'s figures as the tuple
    /// `(net_s, proc_s, busy)`; any other op is [`Engine::request`].
    pub async fn perform(&self, op: Op, opts: CallOptions) -> Result<Value> {
        match op {
            Op::Wait { timeout } => {
                // Too long to represent: no limit.
                let limit = timeout.and_then(|t| Duration::try_from_secs_f64(t).ok());
                within(opts.timeout, "wait", self.wait(limit))
                    .await
                    .map(Value::Bool)
            }
            Op::Benchmark { cycles } => within(opts.timeout, "benchmark", self.benchmark(cycles))
                .await
                .map(|b| {
                    Value::Tuple(vec![
                        Value::Float(b.net_s),
                        Value::Float(b.proc_s),
                        Value::Bool(b.busy),
                    ])
                }),
            op => self.request(op, opts).await,
        }
    }

    async fn call_op(
        &self,
        op: Op,
        output: Option<OutputSink>,
        timeout: Option<Duration>,
    ) -> Result<Value> {
        let output = match output {
            Some(s) => Some(s),
            None if op.is_immediate() => None,
            None => Some(self.output_handler()),
        };
        self.inner.ep.call(op, output, timeout).await
    }

    async fn req(&self, op: Op) -> Result<Value> {
        self.request(op, CallOptions::default()).await
    }

    /// `"pong"` when the engine is reachable; answered without waiting for
    /// running work.
    pub async fn ping(&self) -> Result<String> {
        Ok(String::try_from(self.req(Op::Ping).await?)?)
    }

    /// A description of the engine (host, OS, Python version, `pid`, …).
    pub async fn whoami(&self) -> Result<Value> {
        self.req(Op::Whoami).await
    }

    /// Binds one variable.
    pub async fn set(&self, name: impl Into<String>, value: impl Into<Value>) -> Result<()> {
        self.set_many(vec![(name.into(), value.into())]).await
    }

    /// Binds several variables at once.
    pub async fn set_many(&self, vars: Vars) -> Result<()> {
        self.req(Op::Set { vars }).await.map(drop)
    }

    /// Binds a variable from any `Serialize` value (see [`typed`]).
    pub async fn set_as<T: Serialize + ?Sized>(
        &self,
        name: impl Into<String>,
        value: &T,
    ) -> Result<()> {
        self.set(name, typed::to_value(value)?).await
    }

    /// One variable's value.
    pub async fn get(&self, name: impl Into<String>) -> Result<Value> {
        self.req(Op::Get { name: name.into() }).await
    }

    /// One variable as any `Deserialize` type (see [`typed`]).
    pub async fn get_as<T: DeserializeOwned>(&self, name: impl Into<String>) -> Result<T> {
        typed::from_value(self.get(name).await?)
    }

    /// Several variables, in the order asked.
    pub async fn get_many<S: AsRef<str>>(&self, names: &[S]) -> Result<Vars> {
        let v = self
            .req(Op::GetMany {
                names: strings(names),
            })
            .await?;
        into_vars("get_many", v)
    }

    /// The names bound in the engine namespace (sorted; dunder names
    /// hidden).
    pub async fn names(&self) -> Result<Vec<String>> {
        let v = self.req(Op::Names).await?;
        match v {
            Value::List(items) | Value::Tuple(items) => items
                .into_iter()
                .map(|i| String::try_from(i).map_err(Error::from))
                .collect(),
            other => Err(Error::unexpected("names", &other)),
        }
    }

    /// Unbinds variables.
    pub async fn delete<S: AsRef<str>>(&self, names: &[S]) -> Result<()> {
        self.req(Op::Delete {
            names: strings(names),
        })
        .await
        .map(drop)
    }

    /// Resets the namespace.
    pub async fn clear(&self) -> Result<()> {
        self.req(Op::Clear).await.map(drop)
    }

    /// Evaluates an expression.
    pub async fn eval(&self, expr: impl Into<String>) -> Result<Value> {
        self.eval_with(expr, Vec::new()).await
    }

    /// Binds `vars`, then evaluates an expression.
    pub async fn eval_with(&self, expr: impl Into<String>, vars: Vars) -> Result<Value> {
        self.req(Op::Eval {
            expr: expr.into(),
            vars,
        })
        .await
    }

    /// Executes statements.
    pub async fn exec(&self, code: impl Into<String>) -> Result<()> {
        self.exec_with(code, Vec::new()).await
    }

    /// Binds `vars`, then executes statements.
    pub async fn exec_with(&self, code: impl Into<String>, vars: Vars) -> Result<()> {
        self.req(Op::Exec {
            code: code.into(),
            vars,
        })
        .await
        .map(drop)
    }

    /// Executes `code` in a fresh temporary namespace holding only `vars`
    /// and answers the variables named in `get`.
    pub async fn vexec<S: AsRef<str>>(
        &self,
        code: impl Into<String>,
        get: &[S],
        vars: Vars,
    ) -> Result<Vars> {
        let v = self
            .req(Op::Vexec {
                code: code.into(),
                get: strings(get),
                vars,
            })
            .await?;
        into_vars("vexec", v)
    }

    /// Calls a function by dotted name (`"math.sqrt"`, `"obj.method"`).
    pub async fn call(
        &self,
        name: impl Into<String>,
        args: Vec<Value>,
        kwargs: Vars,
    ) -> Result<Value> {
        self.req(Op::Call {
            name: name.into(),
            args,
            kwargs,
        })
        .await
    }

    /// A callable handle on a remote function.
    pub fn function(&self, name: impl Into<String>) -> RemoteFunction {
        RemoteFunction {
            engine: self.clone(),
            name: name.into(),
        }
    }

    /// What a dotted name is: `{name, kind, type, doc, signature,
    /// attributes}`.
    pub async fn describe(&self, name: impl Into<String>) -> Result<Value> {
        self.req(Op::Describe { name: name.into() }).await
    }

    /// Ships a module as source; importable as `name` afterwards (reloaded
    /// if it was imported before).
    pub async fn install_source(
        &self,
        name: impl Into<String>,
        source: impl Into<String>,
    ) -> Result<()> {
        self.req(Op::Install {
            name: name.into(),
            source: Some(source.into()),
            archive: None,
            is_package: false,
        })
        .await
        .map(drop)
    }

    /// Ships a package (or several modules) as a zip archive, extracted into
    /// the engine's install directory.
    pub async fn install_archive(
        &self,
        name: impl Into<String>,
        zip: impl Into<Vec<u8>>,
    ) -> Result<()> {
        self.req(Op::Install {
            name: name.into(),
            source: None,
            archive: Some(zip.into()),
            is_package: true,
        })
        .await
        .map(drop)
    }

    /// Imports modules into the namespace (`"os"`, `"numpy as np"`).
    pub async fn import_modules<S: AsRef<str>>(&self, modules: &[S]) -> Result<()> {
        self.req(Op::Import {
            modules: strings(modules),
        })
        .await
        .map(drop)
    }

    /// Whether the engine is running a request now.
    pub async fn is_busy(&self) -> Result<bool> {
        expect_bool("is_busy", self.req(Op::IsBusy).await?)
    }

    /// Waits until the engine is idle, at most `timeout` (`None`: as long as
    /// it takes); true when it is idle. The connect options' default call
    /// timeout does not apply.
    pub async fn wait(&self, timeout: Option<Duration>) -> Result<bool> {
        let op = Op::Wait {
            timeout: timeout.map(|t| t.as_secs_f64()),
        };
        // Bound the call a little past the engine-side wait.
        let call_timeout = timeout.map(|t| t + self.inner.ep.opts.connect_timeout);
        expect_bool("wait", self.call_op(op, None, call_timeout).await?)
    }

    /// Raises `KeyboardInterrupt` in the running request (which then fails
    /// with [`Error::Interrupted`]); true when something was running.
    pub async fn interrupt(&self) -> Result<bool> {
        expect_bool("interrupt", self.req(Op::Interrupt).await?)
    }

    /// Network and processor benchmark: `cycles` pings timed here, and the
    /// engine's processor benchmark run `cycles` times.
    pub async fn benchmark(&self, cycles: u64) -> Result<Benchmark> {
        let busy = self.is_busy().await?;
        let n = cycles.max(1);
        let start = Instant::now();
        for _ in 0..n {
            self.ping().await?;
        }
        let net_s = start.elapsed().as_secs_f64() / n as f64;
        let v = self.req(Op::Benchmark { cycles: n }).await?;
        let proc_s = v
            .as_f64()
            .ok_or_else(|| Error::unexpected("benchmark", &v))?;
        Ok(Benchmark {
            net_s,
            proc_s,
            busy,
        })
    }
}

/// `f`, failing with [`Error::Timeout`] when it takes longer than `limit`.
async fn within<T>(
    limit: Option<Duration>,
    what: &str,
    f: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match limit {
        None => f.await,
        Some(t) => tokio::time::timeout(t, f).await.unwrap_or_else(|_| {
            Err(Error::Timeout(format!(
                "'{what}' did not finish within {t:?}"
            )))
        }),
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("uri", &self.uri().to_string())
            .field("connection", &self.inner.ep.label())
            .finish()
    }
}

/// A remote function bound to an engine ([`Engine::function`]): calling it
/// sends a `call` request.
#[derive(Clone, Debug)]
pub struct RemoteFunction {
    engine: Engine,
    name: String,
}

impl RemoteFunction {
    /// The dotted name called.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Calls with positional arguments.
    pub async fn call(&self, args: Vec<Value>) -> Result<Value> {
        self.engine.call(self.name.clone(), args, Vec::new()).await
    }

    /// Calls with positional and keyword arguments.
    pub async fn call_with(&self, args: Vec<Value>, kwargs: Vars) -> Result<Value> {
        self.engine.call(self.name.clone(), args, kwargs).await
    }

    /// The remote function's description (doc, signature).
    pub async fn describe(&self) -> Result<Value> {
        self.engine.describe(self.name.clone()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vars_from_pairs() {
        let v = vars([("a", 1i64), ("b", 2i64)]);
        assert_eq!(
            v,
            vec![("a".into(), Value::Int(1)), ("b".into(), Value::Int(2))]
        );
    }

    #[test]
    fn map_answers_become_vars() {
        let m = Value::map([("x", Value::from(1)), ("y", Value::Null)]);
        assert_eq!(
            into_vars("get_many", m).unwrap(),
            vec![("x".into(), Value::Int(1)), ("y".into(), Value::Null)]
        );
        assert!(into_vars("get_many", Value::from(1)).is_err());
        let bad = Value::Map(vec![(Value::from(1), Value::Null)]);
        assert!(into_vars("get_many", bad).is_err());
    }

    #[test]
    fn lazy_handles_know_their_uri() {
        let e = Engine::lazy("srpy://127.0.0.1:1/4", ConnectOptions::default()).unwrap();
        assert_eq!(e.index(), Some(4));
        assert_eq!(e.uri().port, 1);
        assert!(!e.is_connected());
        assert_eq!(e.info(), Value::Null);
        assert!(Engine::lazy("nope", ConnectOptions::default()).is_err());
    }
}
