//! `EngBox`: many engines — of one server or of several — used together.
//!
//! The original SRPy's box, complete: building a box from engines, engine
//! URIs, server URIs (`srpy://host:port` expands to all its engines) and
//! URI lists ([`EngBox::start_and_append_from_text`]); finding engines
//! ([`EngBox::search_for_engine`], [`EngBox::get_fastest`]); noticing and
//! dropping dead ones ([`EngBox::get_dead`], [`EngBox::clean_dead`]); and
//! running one request on every engine, in sequence ([`EngBox::mrs`]) or
//! in parallel ([`EngBox::mrp`] starts it and returns at once, with a
//! [`MultiRun`] whose [`MultiRun::wait`] is the original `mrpwait`;
//! [`EngBox::run_parallel`] waits), where one engine's failure is that
//! engine's entry and never a failure of the whole call.
//!
//! Modules: `mod.rs` the box (engines, their dead/alive state, search,
//! benchmarks, broadcasts, scatter/gather); [`uris`] server and engine
//! addresses and URI lists; [`multirun`] `mrp`/`mrpwait`; [`map`] the
//! load-balanced map (types, scheduler, [`MapStream`]).
//!
//! The defaults every binding follows (written down in docs/PYTHON.md and
//! docs/JVM.md, as in SRPy 0.2 of 2009): `getFastest(single = true, basis
//! = "all")` with the bases `"all"`, `"net"` and `"proc"`; `getDead()`
//! pings every engine now and counts every engine whose ping fails, for
//! whatever reason (see [`EngBox::get_dead`]).
//!
//! Beyond the original: a load-balanced [`EngBox::map`] and its streaming
//! forms [`EngBox::imap`] / [`EngBox::imap_unordered`], [`EngBox::scatter`]
//! / [`EngBox::gather`], and broadcasts ([`EngBox::exec_all`],
//! [`EngBox::set_all`], [`EngBox::apply_all`]).
//!
//! # How a map runs
//!
//! ```text
//!  items ──► chunks (contiguous ranges) ──► shared queue
//!                                             │  each engine task pulls the next chunk
//!                       ┌─────────────────────┼───────────────────┐
//!                 engine 0 (≤ 2 in flight)   engine 1 (≤ 2 in flight)   …
//!                       │ one `call srpy._executor.map_chunk(task, items)`
//!                       ▼   per chunk: [values, errors]
//!                 results ──► MapStream (in input order, or as they come)
//! ```
//!
//! - **Dynamic load balancing.** One task per engine keeps up to
//!   `pipeline` chunks (default 2; 4 while chunks take under
//!   [`FAST_CHUNK`]) in flight on it: it takes the next chunk from the
//!   shared queue when one is answered, so a fast engine does more chunks,
//!   and the next chunk waits queued in the engine, hiding the round trip.
//!   A second chunk is only taken while the queue holds more chunks than
//!   there are engines with nothing to do.
//! - **Chunks.** A chunk is one request: the engine-side helper
//!   `srpy._executor.map_chunk` applies the task to every item and answers
//!   per-item results, so a failing item fails alone (its index, remote type
//!   and traceback are kept) and the other items' results are not lost. The
//!   automatic chunk size is [`auto_chunksize`]: about eight chunks per
//!   engine, at most [`MAX_AUTO_CHUNK`] items (with four, a map of few long
//!   items ended less evenly: `bench/cpu_chunks.py`).
//! - **Engine deaths.** When an engine's connection is lost, its chunks in
//!   flight go back to the queue for the other engines and the engine is
//!   marked dead (in the map's [`MapReport`] and in the box, see
//!   [`EngBox::get_dead`]); its task stops. The chunk the engine was running
//!   when it died (the oldest in flight) is charged with the death, and the
//!   chunks that were in flight with it are retried alone (nothing
//!   pipelined with them), so that a chunk that kills engines is charged
//!   for sure; a chunk charged more than `max_retries` times is not retried
//!   again: its items fail with
//!   [`Error::EngineDied`]. When no engine is left, the remaining items fail
//!   with [`Error::EngineDied`]. A dead engine is not used again within the
//!   same map even when its server restarts it: the restarted engine has a
//!   fresh namespace, without what the map's task may rely on (functions
//!   defined with [`EngBox::exec_all`]). An engine that cannot be reached at
//!   all (connection refused, connect timeout) counts as dead too, and its
//!   chunks run elsewhere uncharged. To allow retries, every request sends a
//!   copy of its chunk's items.
//! - **Errors of a whole chunk.** When the chunk request itself fails (a
//!   result without a wire form, a syntax error in the expression, a call
//!   timeout, an interrupt), every item of the chunk gets that error.
//! - **Cancelling.** [`MapStream::cancel`] (or dropping the stream) stops
//!   the engine tasks and interrupts the engines still working on chunks.

mod map;
pub mod multirun;
#[cfg(test)]
mod tests;
mod uris;

pub use map::*;
pub use multirun::MultiRun;
pub use uris::{connect_uri, expand_uri, parse_uri_list, UriListEntry};

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use srpy_proto::{Op, Value, Vars};
use tokio::task::JoinSet;

use crate::engine::{Benchmark, Engine};
use crate::error::{Error, Result};
use crate::options::{CallOptions, ConnectOptions};
use crate::uri::IntoUri;
use uris::connect_all;

/// The engine-side helper one map chunk calls (see `srpy/_executor.py`).
pub const MAP_CHUNK_FUNCTION: &str = "srpy._executor.map_chunk";
/// Largest chunk the automatic chunk size picks.
pub const MAX_AUTO_CHUNK: usize = 4096;
/// Chunks per engine the automatic chunk size aims at. Each chunk costs a
/// request (pipelined, so its round trip is hidden); smaller chunks let the
/// engines finish closer together.
pub const CHUNKS_PER_ENGINE: usize = 8;
/// How long [`EngBox::get_dead`] waits for a `ping` answer by default.
pub const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(3);
/// Default benchmark cycles of [`EngBox::get_fastest`].
pub const DEFAULT_BENCHMARK_CYCLES: u64 = 10;
/// Chunks in flight per engine by default.
pub const PIPELINE: usize = 2;
/// Chunks in flight per engine while chunks are answered fast.
pub const FAST_PIPELINE: usize = 4;
/// A chunk the engine runs within this time counts as fast (see
/// [`MapOptions::pipeline`]).
pub const FAST_CHUNK: Duration = Duration::from_millis(2);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A copy of an error (errors are not `Clone`: I/O errors keep their kind
/// and message).
pub fn dup_error(e: &Error) -> Error {
    match e {
        Error::Remote {
            type_name,
            message,
            traceback,
        } => Error::Remote {
            type_name: type_name.clone(),
            message: message.clone(),
            traceback: traceback.clone(),
        },
        Error::Protocol(m) => Error::Protocol(m.clone()),
        Error::Auth(m) => Error::Auth(m.clone()),
        Error::Version(m) => Error::Version(m.clone()),
        Error::EngineDied(m) => Error::EngineDied(m.clone()),
        Error::Timeout(m) => Error::Timeout(m.clone()),
        Error::Interrupted(m) => Error::Interrupted(m.clone()),
        Error::NotTransferable(m) => Error::NotTransferable(m.clone()),
        Error::UnsupportedOp(m) => Error::UnsupportedOp(m.clone()),
        Error::Limit(m) => Error::Limit(m.clone()),
        Error::NoSuchEngine(m) => Error::NoSuchEngine(m.clone()),
        Error::ServerNotFound { uri, source } => Error::ServerNotFound {
            uri: uri.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        Error::Io(io) => Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        Error::Closed => Error::Closed,
        Error::InvalidUri(m) => Error::InvalidUri(m.clone()),
        Error::Other(m) => Error::Other(m.clone()),
    }
}

/// How an error says the engine is gone: `Some(true)` lost while the
/// request was in flight, `Some(false)` not reachable at all, `None` the
/// engine is fine (the request itself failed).
fn loss(e: &Error) -> Option<bool> {
    match e {
        Error::EngineDied(_) => Some(true),
        Error::ServerNotFound { .. } | Error::Io(_) | Error::Closed | Error::NoSuchEngine(_) => {
            Some(false)
        }
        _ => None,
    }
}

// ---- the box -------------------------------------------------------------------

#[derive(Clone)]
struct Slot {
    engine: Engine,
    /// Last known state: set by failed pings and calls, cleared by answers.
    dead: Arc<AtomicBool>,
}

impl Slot {
    fn new(engine: Engine) -> Slot {
        Slot {
            engine,
            dead: Arc::new(AtomicBool::new(false)),
        }
    }

    fn note<T>(&self, r: &Result<T>) {
        match r {
            Ok(_) => self.dead.store(false, Ordering::Relaxed),
            Err(e) if loss(e).is_some() => self.dead.store(true, Ordering::Relaxed),
            // A timeout without a connection: the engine cannot be reached.
            Err(Error::Timeout(_)) if !self.engine.is_connected() => {
                self.dead.store(true, Ordering::Relaxed)
            }
            Err(_) => {}
        }
    }
}

/// What [`EngBox::get_fastest`] ranks by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Basis {
    /// Network round trip plus processor time.
    #[default]
    All,
    /// Network round trip (`ping`).
    Net,
    /// Processor benchmark.
    Proc,
}

impl Basis {
    fn score(self, b: &Benchmark) -> f64 {
        match self {
            Basis::All => b.net_s + b.proc_s,
            Basis::Net => b.net_s,
            Basis::Proc => b.proc_s,
        }
    }
}

impl FromStr for Basis {
    type Err = Error;
    fn from_str(s: &str) -> Result<Basis> {
        match s.to_ascii_lowercase().as_str() {
            "all" => Ok(Basis::All),
            "net" => Ok(Basis::Net),
            "proc" => Ok(Basis::Proc),
            _ => Err(Error::Other(format!(
                "basis must be 'all', 'net' or 'proc', got {s:?}"
            ))),
        }
    }
}

/// Results of a request run on every engine: `(index in the box, result)`,
/// in box order.
pub type BoxResults<T = Value> = Vec<(usize, Result<T>)>;

/// A box of engines, possibly of several servers.
///
/// Cheap to clone; clones share the engines' connections and their
/// dead/alive state.
#[derive(Clone, Default)]
pub struct EngBox {
    slots: Vec<Slot>,
    ping_timeout: Option<Duration>,
}

impl fmt::Debug for EngBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngBox")
            .field(
                "engines",
                &self
                    .slots
                    .iter()
                    .map(|s| s.engine.uri().to_string())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl EngBox {
    /// A box of these engines.
    pub fn new(engines: impl IntoIterator<Item = Engine>) -> EngBox {
        EngBox {
            slots: engines.into_iter().map(Slot::new).collect(),
            ping_timeout: None,
        }
    }

    /// Connects to every engine an address stands for (a server URI: all
    /// its engines) and makes a box of them.
    pub async fn connect(uri: impl IntoUri, opts: ConnectOptions) -> Result<EngBox> {
        Ok(EngBox::new(connect_uri(uri, &opts).await?))
    }

    /// How long [`EngBox::get_dead`] waits for a ping (default
    /// [`DEFAULT_PING_TIMEOUT`]).
    pub fn set_ping_timeout(&mut self, t: Duration) {
        self.ping_timeout = Some(t);
    }

    /// Adds an engine at the end.
    pub fn append(&mut self, engine: Engine) {
        self.slots.push(Slot::new(engine));
    }

    /// Connects and adds the engines of an address: one engine for
    /// `srpy://h:p/<i>`, every engine of the server for `srpy://h:p`.
    /// Answers the box indices of the new engines.
    pub async fn start_and_append(
        &mut self,
        uri: impl IntoUri,
        opts: &ConnectOptions,
    ) -> Result<Vec<usize>> {
        let engines = connect_uri(uri, opts).await?;
        Ok(self.extend(engines))
    }

    /// [`EngBox::start_and_append`] for every URI of a URI list (one per
    /// line, each optionally with its server's TLS pin; blank lines and `#`
    /// comments skipped: see [`parse_uri_list`]). Nothing is added unless
    /// every engine could be connected.
    pub async fn start_and_append_from_text(
        &mut self,
        text: &str,
        opts: &ConnectOptions,
    ) -> Result<Vec<usize>> {
        let mut uris = Vec::new();
        for entry in parse_uri_list(text)? {
            let entry_opts = entry.connect_options(opts);
            for u in expand_uri(entry.uri, &entry_opts).await? {
                uris.push((u, entry_opts.clone()));
            }
        }
        let engines = connect_all(uris).await?;
        Ok(self.extend(engines))
    }

    /// [`EngBox::start_and_append_from_text`] with the text of a file.
    pub async fn start_and_append_from_file(
        &mut self,
        path: impl AsRef<Path>,
        opts: &ConnectOptions,
    ) -> Result<Vec<usize>> {
        let text = std::fs::read_to_string(path.as_ref()).map_err(|e| {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("cannot read {}: {e}", path.as_ref().display()),
            ))
        })?;
        self.start_and_append_from_text(&text, opts).await
    }

    fn extend(&mut self, engines: Vec<Engine>) -> Vec<usize> {
        let first = self.slots.len();
        self.slots.extend(engines.into_iter().map(Slot::new));
        (first..self.slots.len()).collect()
    }

    /// The engines, in box order (cheap handle clones).
    pub fn engines(&self) -> Vec<Engine> {
        self.slots.iter().map(|s| s.engine.clone()).collect()
    }

    /// Iterates over the engines.
    pub fn iter(&self) -> impl Iterator<Item = &Engine> {
        self.slots.iter().map(|s| &s.engine)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<&Engine> {
        self.slots.get(index).map(|s| &s.engine)
    }

    /// Removes and answers engine `index` (panics when out of range, like
    /// `Vec::remove`). The connection stays open for other handles.
    pub fn remove(&mut self, index: usize) -> Engine {
        self.slots.remove(index).engine
    }

    /// A box of some of the engines (sharing their state), in the order
    /// given; out-of-range indices are skipped.
    pub fn select(&self, indices: &[usize]) -> EngBox {
        EngBox {
            slots: indices
                .iter()
                .filter_map(|&i| self.slots.get(i).cloned())
                .collect(),
            ping_timeout: self.ping_timeout,
        }
    }

    /// Takes over the dead/alive state of the engines this box shares
    /// with `other` (the same handles, see [`Engine::same_handle`]): a box
    /// rebuilt over a changed list of engines keeps what it knew, and both
    /// boxes share that state from now on.
    pub fn keep_state_of(&mut self, other: &EngBox) {
        for s in &mut self.slots {
            if let Some(o) = other.slots.iter().find(|o| o.engine.same_handle(&s.engine)) {
                s.dead = o.dead.clone();
            }
        }
    }

    /// Records that engine `index` was seen dead (or alive) by a call made
    /// outside the box (a binding calling the engine handle itself).
    pub fn set_dead(&self, index: usize, dead: bool) {
        if let Some(s) = self.slots.get(index) {
            s.dead.store(dead, Ordering::Relaxed);
        }
    }

    /// Whether engine `index` was dead when last seen (see
    /// [`EngBox::get_dead`]).
    pub fn is_dead(&self, index: usize) -> bool {
        self.slots
            .get(index)
            .is_some_and(|s| s.dead.load(Ordering::Relaxed))
    }

    // ---- finding engines ----------------------------------------------------

    /// The engines matching every given criterion (`None`: any), by box
    /// index: `name` and `group` as the engine's server was started with
    /// (`--name`, `--group`), `ip` the host of the engine's URI, `hostname`
    /// the engine machine's host name. Engines not connected yet are
    /// connected (with a ping) to learn their names; unreachable engines
    /// match only when no criterion but `ip` is given.
    pub async fn search_for_engine(
        &self,
        name: Option<&str>,
        group: Option<&str>,
        ip: Option<&str>,
        hostname: Option<&str>,
    ) -> Vec<usize> {
        let needs_info = name.is_some() || group.is_some() || hostname.is_some();
        if needs_info {
            let unknown: Vec<usize> = (0..self.len())
                .filter(|&i| self.slots[i].engine.info() == Value::Null)
                .collect();
            if !unknown.is_empty() {
                let timeout = self.ping_timeout.unwrap_or(DEFAULT_PING_TIMEOUT);
                self.select(&unknown)
                    .parallel(move |_, e| async move {
                        tokio::time::timeout(timeout, e.ping())
                            .await
                            .unwrap_or_else(|_| Err(Error::Timeout("ping".into())))
                    })
                    .await;
            }
        }
        let field_is = |info: &Value, key: &str, want: Option<&str>| match want {
            None => true,
            Some(w) => info.get(key).and_then(Value::as_str) == Some(w),
        };
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                let info = s.engine.info();
                field_is(&info, "name", name)
                    && field_is(&info, "group", group)
                    && field_is(&info, "hostname", hostname)
                    && ip.is_none_or(|ip| same_host(&s.engine.uri().host, ip))
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Benchmarks every engine at once ([`Engine::benchmark`]).
    pub async fn benchmark_all(&self, cycles: u64) -> BoxResults<Benchmark> {
        self.parallel(move |_, e| async move { e.benchmark(cycles).await })
            .await
    }

    /// The engines ranked by their benchmark (fastest first; engines whose
    /// benchmark failed are left out); with `single`, only the fastest.
    pub async fn get_fastest(&self, single: bool, basis: Basis) -> Vec<usize> {
        let mut ranked: Vec<(usize, f64)> = self
            .benchmark_all(DEFAULT_BENCHMARK_CYCLES)
            .await
            .into_iter()
            .filter_map(|(i, r)| r.ok().map(|b| (i, basis.score(&b))))
            .collect();
        ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
        if single {
            ranked.truncate(1);
        }
        ranked.into_iter().map(|(i, _)| i).collect()
    }

    /// The engines that do not answer: with `new`, every engine is pinged
    /// now (at most the ping timeout each, all at once) and every engine
    /// whose ping fails counts, whatever the reason (no answer in time, the
    /// engine died, its server is gone: connection refused); else the last
    /// known state (from earlier checks, calls and maps) is answered. The
    /// bindings' `getDead()` is `get_dead(true)`, as SRPy 0.2's pinged.
    pub async fn get_dead(&self, new: bool) -> Vec<usize> {
        if new {
            let timeout = self.ping_timeout.unwrap_or(DEFAULT_PING_TIMEOUT);
            for (i, r) in self
                .parallel(move |_, e| async move {
                    tokio::time::timeout(timeout, e.ping())
                        .await
                        .unwrap_or_else(|_| {
                            Err(Error::EngineDied(format!(
                                "no answer to ping within {timeout:?}"
                            )))
                        })
                })
                .await
            {
                let dead = r.is_err();
                self.slots[i].dead.store(dead, Ordering::Relaxed);
            }
        }
        (0..self.len()).filter(|&i| self.is_dead(i)).collect()
    }

    /// Checks every engine now and removes the dead ones; answers them.
    pub async fn clean_dead(&mut self) -> Vec<Engine> {
        let dead = self.get_dead(true).await;
        let mut removed = Vec::with_capacity(dead.len());
        for &i in dead.iter().rev() {
            removed.push(self.slots.remove(i).engine);
        }
        removed.reverse();
        removed
    }

    // ---- running on every engine --------------------------------------------

    /// Runs `f(index, engine)` for every engine at once; answers the results
    /// in box order. A task that panics is that engine's error.
    pub async fn parallel<F, Fut, T>(&self, f: F) -> BoxResults<T>
    where
        F: Fn(usize, Engine) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let mut set = JoinSet::new();
        for (i, s) in self.slots.iter().enumerate() {
            let fut = f(i, s.engine.clone());
            let slot = s.clone();
            set.spawn(async move {
                let r = fut.await;
                slot.note(&r);
                (i, r)
            });
        }
        let mut out: Vec<Option<Result<T>>> = (0..self.len()).map(|_| None).collect();
        while let Some(j) = set.join_next().await {
            if let Ok((i, r)) = j {
                out[i] = Some(r);
            }
        }
        out.into_iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    i,
                    r.unwrap_or_else(|| Err(Error::Other("the task of this engine failed".into()))),
                )
            })
            .collect()
    }

    /// Runs the same request on each engine, one after the other (the
    /// original `mrs`).
    pub async fn mrs(&self, op: Op) -> BoxResults {
        self.run_sequential(op).await
    }

    /// Starts the same request on every engine at once and returns without
    /// waiting (the original `mrp`); [`MultiRun::wait`] (the original
    /// `mrpwait`) waits for the answers. Must be called inside a tokio
    /// runtime.
    pub fn mrp(&self, op: Op, opts: CallOptions) -> MultiRun {
        MultiRun::start(self, op, opts)
    }

    /// [`EngBox::mrs`].
    pub async fn run_sequential(&self, op: Op) -> BoxResults {
        let mut out = Vec::with_capacity(self.len());
        for (i, s) in self.slots.iter().enumerate() {
            let r = s.engine.perform(op.clone(), CallOptions::default()).await;
            s.note(&r);
            out.push((i, r));
        }
        out
    }

    /// Runs the same request on every engine at once (the original `mrp`).
    pub async fn run_parallel(&self, op: Op) -> BoxResults {
        self.run_parallel_with(op, CallOptions::default()).await
    }

    /// [`EngBox::run_parallel`] where every engine must answer within
    /// `timeout` (a call timeout: an engine that does not answer is
    /// interrupted and its entry is [`Error::Timeout`]; compare
    /// [`MultiRun::wait`], which leaves the calls running).
    pub async fn run_parallel_timeout(&self, op: Op, timeout: Duration) -> BoxResults {
        self.run_parallel_with(op, CallOptions::default().timeout(timeout))
            .await
    }

    /// [`EngBox::run_parallel`] with call options.
    pub async fn run_parallel_with(&self, op: Op, opts: CallOptions) -> BoxResults {
        self.parallel(move |_, e| {
            let (op, opts) = (op.clone(), opts.clone());
            async move { e.perform(op, opts).await }
        })
        .await
    }

    /// Executes code on every engine.
    pub async fn exec_all(&self, code: impl Into<String>) -> BoxResults {
        self.run_parallel(Op::Exec {
            code: code.into(),
            vars: Vec::new(),
        })
        .await
    }

    /// Evaluates an expression on every engine.
    pub async fn eval_all(&self, expr: impl Into<String>) -> BoxResults {
        self.run_parallel(Op::Eval {
            expr: expr.into(),
            vars: Vec::new(),
        })
        .await
    }

    /// Binds variables on every engine.
    pub async fn set_all(&self, vars: Vars) -> BoxResults {
        self.run_parallel(Op::Set { vars }).await
    }

    /// Calls a pickled function (for Python callers) on every engine.
    pub async fn apply_all(&self, function: Vec<u8>, args: Vec<Value>, kwargs: Vars) -> BoxResults {
        self.run_parallel(Op::Apply {
            function,
            args,
            kwargs,
        })
        .await
    }

    /// Binds `name` on engine `i` to `parts[i]` (one part per engine, all at
    /// once). The first failure is the error.
    pub async fn set_each(&self, name: &str, parts: Vec<Value>) -> Result<()> {
        if parts.len() != self.len() {
            return Err(Error::Other(format!(
                "set_each: {} parts for {} engines",
                parts.len(),
                self.len()
            )));
        }
        let parts = Arc::new(Mutex::new(parts.into_iter().map(Some).collect::<Vec<_>>()));
        let name = name.to_owned();
        self.parallel(move |i, e| {
            let v = lock(&parts)[i].take().unwrap_or(Value::Null);
            let name = name.clone();
            async move { e.set(name, v).await }
        })
        .await
        .into_iter()
        .try_for_each(|(i, r)| r.map_err(|e| with_engine(i, e)))
    }

    /// Splits `items` into `len()` contiguous parts (sizes differ by at most
    /// one, the larger first) and binds part `i` as a list to `name` on
    /// engine `i`.
    pub async fn scatter(&self, name: &str, items: Vec<Value>) -> Result<()> {
        if self.is_empty() {
            return Err(Error::Other("scatter: the box has no engines".into()));
        }
        let sizes = split_sizes(items.len(), self.len());
        let mut it = items.into_iter();
        let parts = sizes
            .into_iter()
            .map(|n| Value::List(it.by_ref().take(n).collect()))
            .collect();
        self.set_each(name, parts).await
    }

    /// The value of `name` on every engine, in box order.
    pub async fn gather_parts(&self, name: &str) -> Result<Vec<Value>> {
        let name = name.to_owned();
        self.parallel(move |_, e| {
            let name = name.clone();
            async move { e.get(name).await }
        })
        .await
        .into_iter()
        .map(|(i, r)| r.map_err(|e| with_engine(i, e)))
        .collect()
    }

    /// The lists (or tuples) bound to `name` on the engines, concatenated in
    /// box order (the inverse of [`EngBox::scatter`]).
    pub async fn gather(&self, name: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for (i, v) in self.gather_parts(name).await?.into_iter().enumerate() {
            match v {
                Value::List(items) | Value::Tuple(items) => out.extend(items),
                other => {
                    return Err(Error::Other(format!(
                        "gather: '{name}' on engine {i} is a {}, not a list",
                        other.type_name()
                    )))
                }
            }
        }
        Ok(out)
    }

    // ---- map --------------------------------------------------------------------

    /// Applies a task to every item on the engines of the box, load-balanced;
    /// answers every item's result in input order (see the module docs).
    pub async fn map(
        &self,
        task: MapTask,
        items: Vec<Value>,
        opts: MapOptions,
    ) -> Result<MapOutput> {
        let mut stream = self.imap(task, items, opts)?;
        let total = stream.total();
        let mut results: Vec<Option<Result<Value>>> = (0..total).map(|_| None).collect();
        while let Some(batch) = stream.next_batch().await {
            for (i, r) in batch {
                results[i] = Some(r);
            }
        }
        let report = stream.report();
        let results = results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(Error::Other("no result (the map was cut short)".into())))
            })
            .collect();
        Ok(MapOutput { results, report })
    }

    /// Starts a map and streams its results (in input order when
    /// `opts.ordered`, else as they come). Must be called inside a tokio
    /// runtime; fails when the box is empty.
    pub fn imap(&self, task: MapTask, items: Vec<Value>, opts: MapOptions) -> Result<MapStream> {
        if self.is_empty() {
            return Err(Error::Other("map: the box has no engines".into()));
        }
        Ok(MapStream::start(self, task, items, opts))
    }

    /// [`EngBox::imap`] yielding results as they come.
    pub fn imap_unordered(
        &self,
        task: MapTask,
        items: Vec<Value>,
        opts: MapOptions,
    ) -> Result<MapStream> {
        self.imap(
            task,
            items,
            MapOptions {
                ordered: false,
                ..opts
            },
        )
    }
}

impl std::ops::Index<usize> for EngBox {
    type Output = Engine;
    fn index(&self, i: usize) -> &Engine {
        &self.slots[i].engine
    }
}

impl FromIterator<Engine> for EngBox {
    fn from_iter<I: IntoIterator<Item = Engine>>(iter: I) -> EngBox {
        EngBox::new(iter)
    }
}

impl Extend<Engine> for EngBox {
    fn extend<I: IntoIterator<Item = Engine>>(&mut self, iter: I) {
        self.slots.extend(iter.into_iter().map(Slot::new));
    }
}

fn with_engine(i: usize, e: Error) -> Error {
    match e {
        Error::Other(m) => Error::Other(format!("engine {i}: {m}")),
        e => e,
    }
}

fn same_host(host: &str, want: &str) -> bool {
    let strip = |h: &str| h.trim_start_matches('[').trim_end_matches(']').to_owned();
    let (a, b) = (strip(host), strip(want));
    if a.eq_ignore_ascii_case(&b) {
        return true;
    }
    match (a.parse::<std::net::IpAddr>(), b.parse::<std::net::IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Sizes of `parts` contiguous parts of `n` items: they differ by at most
/// one, the larger first (like `numpy.array_split`).
pub fn split_sizes(n: usize, parts: usize) -> Vec<usize> {
    if parts == 0 {
        return Vec::new();
    }
    let (q, r) = (n / parts, n % parts);
    (0..parts).map(|i| q + usize::from(i < r)).collect()
}
