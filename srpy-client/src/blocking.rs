//! Blocking wrappers over the async API.
//!
//! Every method mirrors the async one and runs it on a process-wide
//! [`ClientRuntime`], created on first use. Do not call these from inside
//! an async context (tokio refuses to block a runtime thread); use the
//! async types there.
//!
//! # Who reads the reply
//!
//! The runtime is single-threaded and the thread that waits drives it: a
//! blocking call writes its request and then sleeps in the runtime's own
//! `epoll_wait`, so the reply wakes that thread and no other. (On a
//! multi-thread runtime a worker read the reply and then woke the caller:
//! two thread wake-ups per call instead of one, which on a machine with slow
//! wake-ups cost more than the rest of the client.) When nobody has waited
//! for [`GRACE`], one background thread, `srpy-client-io`, drives the
//! runtime instead, so spawned work (futures, streamed maps, interrupts)
//! always progresses; a caller that arrives then asks it to let go.

use std::process::ExitStatus;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use srpy_proto::{Op, Value, Vars};
use tokio::runtime::{EnterGuard, Handle, Runtime};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::engbox::{Basis, BoxResults, MapOptions, MapOutput, MapReport, MapTask};
use crate::engine::Benchmark;
use crate::error::Result;
use crate::local::LocalServerOptions;
use crate::options::{CallOptions, ConnectOptions, OutputSink};
use crate::server::EngineInfo;
use crate::uri::{IntoUri, Uri};

/// How long after the last blocking wait the background thread takes over
/// the runtime. Calls that follow each other closer than this never involve
/// it; spawned work waits at most this long for a driver.
pub const GRACE: Duration = Duration::from_millis(2);

/// The process-wide runtime of the blocking API: a single-threaded tokio
/// runtime driven by whichever thread waits on it (see the module docs).
pub struct ClientRuntime {
    rt: Runtime,
    state: Mutex<DriverState>,
    /// Wakes the background thread to re-check `state`.
    changed: Condvar,
    /// Tells the background thread to stop driving (a caller wants to).
    give_back: Notify,
}

#[derive(Default)]
struct DriverState {
    /// Threads inside [`ClientRuntime::block_on`].
    callers: usize,
    /// When the last of them left.
    last_left: Option<Instant>,
    /// The background thread drives the runtime.
    background_driving: bool,
    /// The background thread sleeps until the last caller leaves.
    background_asleep: bool,
}

impl std::fmt::Debug for ClientRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRuntime").finish_non_exhaustive()
    }
}

impl ClientRuntime {
    fn lock(&self) -> MutexGuard<'_, DriverState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` to completion on the calling thread, which drives the
    /// runtime meanwhile (unless another thread already does).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        {
            let mut st = self.lock();
            st.callers += 1;
            if st.background_driving {
                self.give_back.notify_one();
            }
        }
        // Leaves the count right even when `f` panics.
        struct Leave<'a>(&'a ClientRuntime);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                let mut st = self.0.lock();
                st.callers -= 1;
                if st.callers == 0 {
                    st.last_left = Some(Instant::now());
                    // Back-to-back calls wake the background thread at most
                    // once per GRACE: after this it waits on a timer.
                    if st.background_asleep {
                        st.background_asleep = false;
                        self.0.changed.notify_one();
                    }
                }
            }
        }
        let _leave = Leave(self);
        self.rt.block_on(f)
    }

    /// Spawns `f` on the runtime. Its first step runs here, on the calling
    /// thread, so a request it makes is on the wire before this returns:
    /// calls reach an engine in the order the program made them, whether
    /// they block or not. The rest runs whenever a thread drives the
    /// runtime (at the latest [`GRACE`] after the last blocking wait).
    pub fn spawn<F>(&self, f: F) -> JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let _in_runtime = self.rt.enter();
        let mut f = Box::pin(f);
        // A throwaway waker is enough: the spawned task polls again (with
        // its own waker) before it waits for anything.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(out) => self.rt.spawn(async move { out }),
            std::task::Poll::Pending => self.rt.spawn(f),
        }
    }

    /// Enters the runtime's context (for code that spawns with
    /// `tokio::spawn` or `Handle::current()`).
    pub fn enter(&self) -> EnterGuard<'_> {
        self.rt.enter()
    }

    pub fn handle(&self) -> &Handle {
        self.rt.handle()
    }

    /// The background thread: drives the runtime whenever no caller has
    /// for [`GRACE`].
    fn drive_in_background(&self) {
        let mut st = self.lock();
        loop {
            let now = Instant::now();
            let since_last = st.last_left.map(|t| now.duration_since(t));
            if st.callers == 0 && since_last.is_none_or(|d| d >= GRACE) {
                st.background_driving = true;
                drop(st);
                self.rt.block_on(self.give_back.notified());
                st = self.lock();
                st.background_driving = false;
                continue;
            }
            if st.callers > 0 {
                st.background_asleep = true;
                st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            let wait = GRACE - since_last.unwrap_or_default();
            st = self
                .changed
                .wait_timeout(st, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// The process-wide runtime of the blocking API.
pub fn runtime() -> &'static ClientRuntime {
    static RT: OnceLock<ClientRuntime> = OnceLock::new();
    static BACKGROUND: OnceLock<()> = OnceLock::new();
    let rt = RT.get_or_init(|| ClientRuntime {
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the srpy-client runtime starts"),
        state: Mutex::new(DriverState::default()),
        changed: Condvar::new(),
        give_back: Notify::new(),
    });
    BACKGROUND.get_or_init(|| {
        std::thread::Builder::new()
            .name("srpy-client-io".into())
            .spawn(move || rt.drive_in_background())
            .expect("start the srpy-client-io thread");
    });
    rt
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

/// Blocking [`crate::Engine`].
#[derive(Clone, Debug)]
pub struct Engine {
    inner: crate::Engine,
}

impl Engine {
    pub fn connect(uri: impl IntoUri, opts: ConnectOptions) -> Result<Engine> {
        let uri = uri.into_uri()?;
        Ok(Engine {
            inner: block_on(crate::Engine::connect(uri, opts))?,
        })
    }

    /// Wraps an async engine (its connection keeps running where it was
    /// made).
    pub fn from_async(inner: crate::Engine) -> Engine {
        Engine { inner }
    }

    /// The async engine inside.
    pub fn as_async(&self) -> &crate::Engine {
        &self.inner
    }

    pub fn uri(&self) -> &Uri {
        self.inner.uri()
    }
    pub fn index(&self) -> Option<u64> {
        self.inner.index()
    }
    pub fn info(&self) -> Value {
        self.inner.info()
    }
    pub fn is_connected(&self) -> bool {
        self.inner.is_connected()
    }
    pub fn close(&self) {
        self.inner.close()
    }
    pub fn set_output_handler(&self, sink: OutputSink) {
        self.inner.set_output_handler(sink)
    }
    pub fn output_handler(&self) -> OutputSink {
        self.inner.output_handler()
    }
    pub fn request(&self, op: Op, opts: CallOptions) -> Result<Value> {
        block_on(self.inner.request(op, opts))
    }
    pub fn ping(&self) -> Result<String> {
        block_on(self.inner.ping())
    }
    pub fn whoami(&self) -> Result<Value> {
        block_on(self.inner.whoami())
    }
    pub fn set(&self, name: impl Into<String>, value: impl Into<Value>) -> Result<()> {
        block_on(self.inner.set(name, value))
    }
    pub fn set_many(&self, vars: Vars) -> Result<()> {
        block_on(self.inner.set_many(vars))
    }
    pub fn set_as<T: Serialize + ?Sized>(&self, name: impl Into<String>, value: &T) -> Result<()> {
        block_on(self.inner.set_as(name, value))
    }
    pub fn get(&self, name: impl Into<String>) -> Result<Value> {
        block_on(self.inner.get(name))
    }
    pub fn get_as<T: DeserializeOwned>(&self, name: impl Into<String>) -> Result<T> {
        block_on(self.inner.get_as(name))
    }
    pub fn get_many<S: AsRef<str>>(&self, names: &[S]) -> Result<Vars> {
        block_on(self.inner.get_many(names))
    }
    pub fn names(&self) -> Result<Vec<String>> {
        block_on(self.inner.names())
    }
    pub fn delete<S: AsRef<str>>(&self, names: &[S]) -> Result<()> {
        block_on(self.inner.delete(names))
    }
    pub fn clear(&self) -> Result<()> {
        block_on(self.inner.clear())
    }
    pub fn eval(&self, expr: impl Into<String>) -> Result<Value> {
        block_on(self.inner.eval(expr))
    }
    pub fn eval_with(&self, expr: impl Into<String>, vars: Vars) -> Result<Value> {
        block_on(self.inner.eval_with(expr, vars))
    }
    pub fn exec(&self, code: impl Into<String>) -> Result<()> {
        block_on(self.inner.exec(code))
    }
    pub fn exec_with(&self, code: impl Into<String>, vars: Vars) -> Result<()> {
        block_on(self.inner.exec_with(code, vars))
    }
    pub fn vexec<S: AsRef<str>>(
        &self,
        code: impl Into<String>,
        get: &[S],
        vars: Vars,
    ) -> Result<Vars> {
        block_on(self.inner.vexec(code, get, vars))
    }
    pub fn call(&self, name: impl Into<String>, args: Vec<Value>, kwargs: Vars) -> Result<Value> {
        block_on(self.inner.call(name, args, kwargs))
    }
    pub fn function(&self, name: impl Into<String>) -> RemoteFunction {
        RemoteFunction {
            inner: self.inner.function(name),
        }
    }
    pub fn describe(&self, name: impl Into<String>) -> Result<Value> {
        block_on(self.inner.describe(name))
    }
    pub fn install_source(&self, name: impl Into<String>, source: impl Into<String>) -> Result<()> {
        block_on(self.inner.install_source(name, source))
    }
    pub fn install_archive(&self, name: impl Into<String>, zip: impl Into<Vec<u8>>) -> Result<()> {
        block_on(self.inner.install_archive(name, zip))
    }
    pub fn import_modules<S: AsRef<str>>(&self, modules: &[S]) -> Result<()> {
        block_on(self.inner.import_modules(modules))
    }
    pub fn is_busy(&self) -> Result<bool> {
        block_on(self.inner.is_busy())
    }
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool> {
        block_on(self.inner.wait(timeout))
    }
    pub fn interrupt(&self) -> Result<bool> {
        block_on(self.inner.interrupt())
    }
    pub fn benchmark(&self, cycles: u64) -> Result<Benchmark> {
        block_on(self.inner.benchmark(cycles))
    }
}

/// Blocking [`crate::RemoteFunction`].
#[derive(Clone, Debug)]
pub struct RemoteFunction {
    inner: crate::RemoteFunction,
}

impl RemoteFunction {
    pub fn name(&self) -> &str {
        self.inner.name()
    }
    pub fn call(&self, args: Vec<Value>) -> Result<Value> {
        block_on(self.inner.call(args))
    }
    pub fn call_with(&self, args: Vec<Value>, kwargs: Vars) -> Result<Value> {
        block_on(self.inner.call_with(args, kwargs))
    }
    pub fn describe(&self) -> Result<Value> {
        block_on(self.inner.describe())
    }
}

/// Blocking [`crate::ServerClient`].
#[derive(Clone, Debug)]
pub struct ServerClient {
    inner: crate::ServerClient,
}

impl ServerClient {
    pub fn connect(uri: impl IntoUri, opts: ConnectOptions) -> Result<ServerClient> {
        let uri = uri.into_uri()?;
        Ok(ServerClient {
            inner: block_on(crate::ServerClient::connect(uri, opts))?,
        })
    }
    pub fn as_async(&self) -> &crate::ServerClient {
        &self.inner
    }
    pub fn uri(&self) -> &Uri {
        self.inner.uri()
    }
    pub fn info(&self) -> Value {
        self.inner.info()
    }
    pub fn request(&self, op: Op, opts: CallOptions) -> Result<Value> {
        block_on(self.inner.request(op, opts))
    }
    pub fn ping(&self) -> Result<String> {
        block_on(self.inner.ping())
    }
    pub fn whoami(&self) -> Result<Value> {
        block_on(self.inner.whoami())
    }
    pub fn engines(&self) -> Result<Vec<EngineInfo>> {
        block_on(self.inner.engines())
    }
    pub fn restart(&self, index: u64) -> Result<()> {
        block_on(self.inner.restart(index))
    }
    pub fn engine(&self, index: u64) -> Result<Engine> {
        block_on(self.inner.engine(index)).map(Engine::from_async)
    }
    pub fn connect_all(&self) -> Result<Vec<Engine>> {
        let all = block_on(self.inner.connect_all())?;
        Ok(all.into_iter().map(Engine::from_async).collect())
    }
    pub fn close(&self) {
        self.inner.close()
    }
}

/// Blocking [`crate::LocalServer`].
#[derive(Debug)]
pub struct LocalServer {
    inner: crate::LocalServer,
}

impl LocalServer {
    pub fn start(opts: LocalServerOptions) -> Result<LocalServer> {
        Ok(LocalServer {
            inner: block_on(crate::LocalServer::start(opts))?,
        })
    }
    pub fn as_async(&self) -> &crate::LocalServer {
        &self.inner
    }
    pub fn uri(&self) -> &Uri {
        self.inner.uri()
    }
    pub fn engine_uri(&self, index: u64) -> Uri {
        self.inner.engine_uri(index)
    }
    pub fn token(&self) -> &[u8] {
        self.inner.token()
    }
    pub fn connect_options(&self) -> ConnectOptions {
        self.inner.connect_options()
    }
    pub fn engine_count(&self) -> usize {
        self.inner.engine_count()
    }
    pub fn pid(&self) -> u32 {
        self.inner.pid()
    }
    pub fn log_path(&self) -> std::path::PathBuf {
        self.inner.log_path()
    }
    pub fn is_running(&self) -> bool {
        self.inner.is_running()
    }
    pub fn connect(&self, index: u64) -> Result<Engine> {
        block_on(self.inner.connect(index)).map(Engine::from_async)
    }
    pub fn server_client(&self) -> Result<ServerClient> {
        Ok(ServerClient {
            inner: block_on(self.inner.server_client())?,
        })
    }
    pub fn connect_all(&self) -> Result<Vec<Engine>> {
        let all = block_on(self.inner.connect_all())?;
        Ok(all.into_iter().map(Engine::from_async).collect())
    }
    pub fn stop(&self) -> Result<Option<ExitStatus>> {
        self.inner.stop_blocking()
    }
}

/// Blocking [`crate::EngBox`].
#[derive(Clone, Debug, Default)]
pub struct EngBox {
    inner: crate::EngBox,
}

impl EngBox {
    pub fn new(engines: impl IntoIterator<Item = Engine>) -> EngBox {
        EngBox {
            inner: crate::EngBox::new(engines.into_iter().map(|e| e.inner)),
        }
    }
    pub fn connect(uri: impl IntoUri, opts: ConnectOptions) -> Result<EngBox> {
        let uri = uri.into_uri()?;
        Ok(EngBox {
            inner: block_on(crate::EngBox::connect(uri, opts))?,
        })
    }
    pub fn from_async(inner: crate::EngBox) -> EngBox {
        EngBox { inner }
    }
    pub fn as_async(&self) -> &crate::EngBox {
        &self.inner
    }
    pub fn as_async_mut(&mut self) -> &mut crate::EngBox {
        &mut self.inner
    }
    pub fn append(&mut self, engine: Engine) {
        self.inner.append(engine.inner)
    }
    pub fn start_and_append(
        &mut self,
        uri: impl IntoUri,
        opts: &ConnectOptions,
    ) -> Result<Vec<usize>> {
        let uri = uri.into_uri()?;
        block_on(self.inner.start_and_append(uri, opts))
    }
    pub fn start_and_append_from_text(
        &mut self,
        text: &str,
        opts: &ConnectOptions,
    ) -> Result<Vec<usize>> {
        block_on(self.inner.start_and_append_from_text(text, opts))
    }
    pub fn start_and_append_from_file(
        &mut self,
        path: impl AsRef<std::path::Path>,
        opts: &ConnectOptions,
    ) -> Result<Vec<usize>> {
        block_on(self.inner.start_and_append_from_file(path, opts))
    }
    pub fn engines(&self) -> Vec<Engine> {
        self.inner
            .engines()
            .into_iter()
            .map(Engine::from_async)
            .collect()
    }
    pub fn len(&self) -> usize {
        self.inner.len()
    }
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
    pub fn get(&self, index: usize) -> Option<Engine> {
        self.inner.get(index).cloned().map(Engine::from_async)
    }
    pub fn remove(&mut self, index: usize) -> Engine {
        Engine::from_async(self.inner.remove(index))
    }
    pub fn is_dead(&self, index: usize) -> bool {
        self.inner.is_dead(index)
    }
    pub fn search_for_engine(
        &self,
        name: Option<&str>,
        group: Option<&str>,
        ip: Option<&str>,
        hostname: Option<&str>,
    ) -> Vec<usize> {
        block_on(self.inner.search_for_engine(name, group, ip, hostname))
    }
    pub fn benchmark_all(&self, cycles: u64) -> BoxResults<Benchmark> {
        block_on(self.inner.benchmark_all(cycles))
    }
    pub fn get_fastest(&self, single: bool, basis: Basis) -> Vec<usize> {
        block_on(self.inner.get_fastest(single, basis))
    }
    pub fn get_dead(&self, new: bool) -> Vec<usize> {
        block_on(self.inner.get_dead(new))
    }
    pub fn clean_dead(&mut self) -> Vec<Engine> {
        let removed = block_on(self.inner.clean_dead());
        removed.into_iter().map(Engine::from_async).collect()
    }
    pub fn run_sequential(&self, op: Op) -> BoxResults {
        block_on(self.inner.run_sequential(op))
    }
    /// [`crate::EngBox::mrs`].
    pub fn mrs(&self, op: Op) -> BoxResults {
        block_on(self.inner.mrs(op))
    }
    /// [`crate::EngBox::mrp`]: started at once; wait with
    /// [`EngBox::mrpwait`].
    pub fn mrp(&self, op: Op, opts: crate::CallOptions) -> crate::engbox::MultiRun {
        let _in_runtime = runtime().enter();
        self.inner.mrp(op, opts)
    }
    /// [`crate::engbox::MultiRun::wait`] (the original `mrpwait`).
    pub fn mrpwait(&self, run: &crate::engbox::MultiRun, timeout: Option<Duration>) -> BoxResults {
        block_on(run.wait(timeout))
    }
    pub fn run_parallel(&self, op: Op) -> BoxResults {
        block_on(self.inner.run_parallel(op))
    }
    pub fn run_parallel_timeout(&self, op: Op, timeout: Duration) -> BoxResults {
        block_on(self.inner.run_parallel_timeout(op, timeout))
    }
    pub fn exec_all(&self, code: impl Into<String>) -> BoxResults {
        block_on(self.inner.exec_all(code))
    }
    pub fn eval_all(&self, expr: impl Into<String>) -> BoxResults {
        block_on(self.inner.eval_all(expr))
    }
    pub fn set_all(&self, vars: Vars) -> BoxResults {
        block_on(self.inner.set_all(vars))
    }
    pub fn apply_all(&self, function: Vec<u8>, args: Vec<Value>, kwargs: Vars) -> BoxResults {
        block_on(self.inner.apply_all(function, args, kwargs))
    }
    pub fn scatter(&self, name: &str, items: Vec<Value>) -> Result<()> {
        block_on(self.inner.scatter(name, items))
    }
    pub fn gather(&self, name: &str) -> Result<Vec<Value>> {
        block_on(self.inner.gather(name))
    }
    pub fn map(&self, task: MapTask, items: Vec<Value>, opts: MapOptions) -> Result<MapOutput> {
        block_on(self.inner.map(task, items, opts))
    }
    pub fn imap(&self, task: MapTask, items: Vec<Value>, opts: MapOptions) -> Result<MapStream> {
        let _in_runtime = runtime().enter();
        Ok(MapStream {
            inner: self.inner.imap(task, items, opts)?,
        })
    }
    pub fn imap_unordered(
        &self,
        task: MapTask,
        items: Vec<Value>,
        opts: MapOptions,
    ) -> Result<MapStream> {
        self.imap(task, items, opts.ordered(false))
    }
}

/// Blocking [`crate::MapStream`]: an iterator of `(index, result)`.
#[derive(Debug)]
pub struct MapStream {
    inner: crate::MapStream,
}

impl MapStream {
    pub fn as_async_mut(&mut self) -> &mut crate::MapStream {
        &mut self.inner
    }
    pub fn total(&self) -> usize {
        self.inner.total()
    }
    pub fn report(&self) -> MapReport {
        self.inner.report()
    }
    /// Everything available now (waiting for at least one result); `None`
    /// at the end.
    pub fn next_batch(&mut self) -> Option<Vec<(usize, Result<Value>)>> {
        block_on(self.inner.next_batch())
    }
    pub fn cancel(&mut self) {
        block_on(self.inner.cancel())
    }
}

impl Iterator for MapStream {
    type Item = (usize, Result<Value>);
    fn next(&mut self) -> Option<Self::Item> {
        block_on(self.inner.next())
    }
}
