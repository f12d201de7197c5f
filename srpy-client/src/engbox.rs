//! `EngBox`: many engines — of one server or of several — used together.
//!
//! The original SRPy's box, complete: building a box from engines, engine
//! URIs, server URIs (`srpy://host:port` expands to all its engines) and
//! URI lists ([`EngBox::start_and_append_from_text`]); finding engines
//! ([`EngBox::search_for_engine`], [`EngBox::get_fastest`]); noticing and
//! dropping dead ones ([`EngBox::get_dead`], [`EngBox::clean_dead`]); and
//! running one request on every engine, in sequence or in parallel
//! ([`EngBox::run_sequential`], [`EngBox::run_parallel`],
//! [`EngBox::run_parallel_timeout`]), where one engine's failure is that
//! engine's entry and never a failure of the whole call.
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

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::{Duration, Instant};

use srpy_proto::{Op, Stream, Value, Vars};
use tokio::sync::{mpsc, Notify};
use tokio::task::{JoinHandle, JoinSet};

use crate::engine::{Benchmark, Engine};
use crate::error::{Error, Result};
use crate::options::{CallOptions, ConnectOptions, OutputSink};
use crate::server::ServerClient;
use crate::uri::{IntoUri, Uri};

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

// ---- URIs --------------------------------------------------------------------

/// The URIs of a text: one per line; blank lines and `#` comments (whole
/// lines, or after the URI) are skipped.
pub fn parse_uri_list(text: &str) -> Result<Vec<Uri>> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty())
        .map(Uri::parse)
        .collect()
}

/// The engine URIs an address stands for: itself for an engine URI
/// (`srpy://h:p/<i>`), every engine of the directory for a server URI
/// (`srpy://h:p`), in index order.
pub async fn expand_uri(uri: impl IntoUri, opts: &ConnectOptions) -> Result<Vec<Uri>> {
    let uri = uri.into_uri()?;
    if uri.index.is_some() {
        return Ok(vec![uri]);
    }
    let server = ServerClient::connect(&uri, opts.clone()).await?;
    let engines = server.engines().await;
    server.close();
    let mut indices: Vec<u64> = engines?.iter().map(|e| e.index).collect();
    indices.sort_unstable();
    Ok(indices.into_iter().map(|i| uri.engine(i)).collect())
}

/// Connects to every engine an address stands for (see [`expand_uri`]).
pub async fn connect_uri(uri: impl IntoUri, opts: &ConnectOptions) -> Result<Vec<Engine>> {
    let uris = expand_uri(uri, opts).await?;
    connect_all(uris, opts).await
}

async fn connect_all(uris: Vec<Uri>, opts: &ConnectOptions) -> Result<Vec<Engine>> {
    let mut set = JoinSet::new();
    for (i, u) in uris.into_iter().enumerate() {
        let o = opts.clone();
        set.spawn(async move { (i, Engine::connect(u, o).await) });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        let (i, e) = r.map_err(|e| Error::Other(format!("connect task failed: {e}")))?;
        out.push((i, e?));
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, e)| e).collect())
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

    /// [`EngBox::start_and_append`] for every URI of a text (one per line;
    /// blank lines and `#` comments skipped). Nothing is added unless every
    /// engine could be connected.
    pub async fn start_and_append_from_text(
        &mut self,
        text: &str,
        opts: &ConnectOptions,
    ) -> Result<Vec<usize>> {
        let mut uris = Vec::new();
        for u in parse_uri_list(text)? {
            uris.extend(expand_uri(u, opts).await?);
        }
        let engines = connect_all(uris, opts).await?;
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
    /// now (at most the ping timeout each, all at once); else the last
    /// known state (from earlier checks, calls and maps) is answered.
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
    pub async fn run_sequential(&self, op: Op) -> BoxResults {
        let mut out = Vec::with_capacity(self.len());
        for (i, s) in self.slots.iter().enumerate() {
            let r = s.engine.request(op.clone(), CallOptions::default()).await;
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
    /// `timeout` (the original `mrpwait`): an engine that does not is
    /// interrupted and its entry is [`Error::Timeout`].
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

/// The automatic chunk size: about [`CHUNKS_PER_ENGINE`] chunks per engine,
/// within `1..=`[`MAX_AUTO_CHUNK`].
pub fn auto_chunksize(items: usize, engines: usize) -> usize {
    items
        .div_ceil(engines.max(1) * CHUNKS_PER_ENGINE)
        .clamp(1, MAX_AUTO_CHUNK)
}

// ---- map types ------------------------------------------------------------------

/// What a map applies to every item.
#[derive(Clone, Debug, PartialEq)]
pub enum MapTask {
    /// An expression evaluated in the engine namespace with the item bound
    /// to `var` (a local name: the namespace is not changed), e.g. `x + 1`.
    Expr { expr: String, var: String },
    /// A function by dotted name, resolved like `call` (namespace first,
    /// then importable modules), e.g. `math.sqrt`.
    Call(String),
    /// A pickled callable (for Python callers; needs the engine to be able
    /// to unpickle it, e.g. with `cloudpickle` installed).
    Pickled(Vec<u8>),
}

impl MapTask {
    /// An expression over `x`.
    pub fn expr(expr: impl Into<String>) -> MapTask {
        MapTask::expr_with(expr, "x")
    }

    /// An expression over the variable `var`.
    pub fn expr_with(expr: impl Into<String>, var: impl Into<String>) -> MapTask {
        MapTask::Expr {
            expr: expr.into(),
            var: var.into(),
        }
    }

    /// A function by dotted name.
    pub fn call(name: impl Into<String>) -> MapTask {
        MapTask::Call(name.into())
    }

    /// The task as `map_chunk` reads it.
    pub fn spec(&self) -> Value {
        match self {
            MapTask::Expr { expr, var } => Value::List(vec![
                Value::from("expr"),
                Value::from(expr.as_str()),
                Value::from(var.as_str()),
            ]),
            MapTask::Call(name) => {
                Value::List(vec![Value::from("call"), Value::from(name.as_str())])
            }
            MapTask::Pickled(b) => {
                Value::List(vec![Value::from("pickle"), Value::Bytes(b.clone().into())])
            }
        }
    }
}

/// Called with `(items done, total)` after every chunk, on a runtime thread.
pub type Progress = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// Receives the remote output of a map's chunks with the box index of the
/// engine that wrote it: `(engine, stream, text)`, on a runtime thread.
pub type EngineOutput = Arc<dyn Fn(usize, Stream, &str) + Send + Sync>;

/// How a map runs.
#[derive(Clone)]
pub struct MapOptions {
    /// Items per request; `None`: [`auto_chunksize`].
    pub chunksize: Option<usize>,
    /// Stream results in input order ([`EngBox::imap`]); [`EngBox::map`]
    /// always answers in input order.
    pub ordered: bool,
    /// How many times a chunk may be charged with an engine's death and
    /// still be retried on another engine. Default 2.
    pub max_retries: usize,
    /// Progress callback.
    pub progress: Option<Progress>,
    /// Chunks in flight per engine (at least 1). `None` (the default): 2 —
    /// one running, one queued in the engine, hiding the round trip — and 4
    /// while the engine answers chunks within [`FAST_CHUNK`] (tiny chunks,
    /// where the round trip is most of the cost).
    pub pipeline: Option<usize>,
    /// Where remote output of the chunks goes; `None`: each engine's output
    /// handler.
    pub output: Option<OutputSink>,
    /// Where remote output goes, with the engine's box index (takes
    /// precedence over `output`).
    pub engine_output: Option<EngineOutput>,
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions {
            chunksize: None,
            ordered: true,
            max_retries: 2,
            progress: None,
            pipeline: None,
            output: None,
            engine_output: None,
        }
    }
}

impl MapOptions {
    pub fn chunksize(mut self, n: usize) -> Self {
        self.chunksize = Some(n);
        self
    }
    pub fn ordered(mut self, ordered: bool) -> Self {
        self.ordered = ordered;
        self
    }
    pub fn max_retries(mut self, n: usize) -> Self {
        self.max_retries = n;
        self
    }
    pub fn progress(mut self, f: impl Fn(usize, usize) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }
    pub fn pipeline(mut self, n: usize) -> Self {
        self.pipeline = Some(n);
        self
    }
}

impl fmt::Debug for MapOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapOptions")
            .field("chunksize", &self.chunksize)
            .field("ordered", &self.ordered)
            .field("max_retries", &self.max_retries)
            .field("progress", &self.progress.as_ref().map(|_| "<fn>"))
            .field("pipeline", &self.pipeline)
            .field("output", &self.output.as_ref().map(|_| "<sink>"))
            .field(
                "engine_output",
                &self.engine_output.as_ref().map(|_| "<fn>"),
            )
            .finish()
    }
}

/// What happened during a map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapReport {
    /// Number of items.
    pub total: usize,
    /// Items per chunk.
    pub chunksize: usize,
    /// Number of chunks.
    pub chunks: usize,
    /// Items that failed.
    pub failed: usize,
    /// Chunks that were run again after an engine died.
    pub retried_chunks: usize,
    /// Box indices of the engines that died (or could not be reached)
    /// during the map, in the order noticed.
    pub dead_engines: Vec<usize>,
    /// Items done by each engine of the box (box order).
    pub items_per_engine: Vec<usize>,
}

/// The results of [`EngBox::map`]: one per item, in input order.
#[derive(Debug)]
pub struct MapOutput {
    pub results: Vec<Result<Value>>,
    pub report: MapReport,
}

impl MapOutput {
    /// The values, or the first failure.
    pub fn into_values(self) -> std::result::Result<Vec<Value>, MapError> {
        if let Some(index) = self.results.iter().position(|r| r.is_err()) {
            let failed = self.results.iter().filter(|r| r.is_err()).count();
            let mut results = self.results;
            let error = match std::mem::replace(&mut results[index], Ok(Value::Null)) {
                Err(e) => e,
                Ok(_) => unreachable!("position found an error"),
            };
            return Err(MapError {
                index,
                error,
                failed,
                report: Box::new(self.report),
            });
        }
        Ok(self
            .results
            .into_iter()
            .map(|r| r.unwrap_or(Value::Null))
            .collect())
    }
}

/// The first failing item of a map.
#[derive(Debug)]
pub struct MapError {
    /// Its index in the input.
    pub index: usize,
    pub error: Error,
    /// How many items failed in all.
    pub failed: usize,
    pub report: Box<MapReport>,
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "map item {} failed ({} of {} items failed): {}",
            self.index, self.failed, self.report.total, self.error
        )
    }
}

impl std::error::Error for MapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

// ---- map machinery ------------------------------------------------------------

struct Chunk {
    start: usize,
    items: Vec<Value>,
    /// Box indices of the engines that died running it.
    killed: Vec<usize>,
    /// It was in flight on an engine that died: it runs alone from now on
    /// (nothing pipelined with it), so a death is charged to it for sure.
    suspect: bool,
}

struct ChunkDone {
    start: usize,
    results: Vec<Result<Value>>,
}

struct Sched {
    queue: VecDeque<Chunk>,
    /// Chunks without a final result yet.
    outstanding: usize,
    /// Engine tasks still running.
    workers: usize,
    /// Engine tasks with nothing in flight: a task only takes a second
    /// (pipelined) chunk when the queue holds more chunks than that.
    hungry: usize,
    cancelled: bool,
}

struct Worker {
    slot: Slot,
    box_index: usize,
    dead: AtomicBool,
    /// Chunks of this map in flight on the engine.
    inflight: AtomicUsize,
    items_done: AtomicUsize,
}

struct MapState {
    task: Value,
    total: usize,
    max_retries: usize,
    /// `None`: automatic.
    pipeline: Option<usize>,
    progress: Option<Progress>,
    /// Highest count reported to `progress` (reports never go backwards).
    progress_shown: Mutex<usize>,
    output: Option<OutputSink>,
    engine_output: Option<EngineOutput>,
    sched: Mutex<Sched>,
    notify: Notify,
    tx: mpsc::UnboundedSender<ChunkDone>,
    done: AtomicUsize,
    report: Mutex<MapReport>,
    workers: Vec<Worker>,
}

enum Next {
    Chunk(Chunk),
    Empty,
    Stop,
}

impl MapState {
    fn should_stop(&self, s: &Sched, w: &Worker) -> bool {
        s.cancelled || s.outstanding == 0 || w.dead.load(Ordering::Acquire)
    }

    /// The next chunk for the engine of `w`, without waiting; `hungry`: it
    /// has nothing in flight (else the chunk would be a pipelined one).
    fn try_next(&self, w: &Worker, hungry: bool) -> Next {
        let mut s = lock(&self.sched);
        if self.should_stop(&s, w) {
            return Next::Stop;
        }
        if !hungry && s.queue.len() <= s.hungry {
            return Next::Empty;
        }
        // A suspect chunk only goes to an engine with nothing in flight.
        let at = if hungry {
            0
        } else {
            match s.queue.iter().position(|c| !c.suspect) {
                Some(i) => i,
                None => return Next::Empty,
            }
        };
        match s.queue.remove(at) {
            Some(c) => {
                if hungry {
                    s.hungry -= 1;
                }
                Next::Chunk(c)
            }
            None => Next::Empty,
        }
    }

    fn become_hungry(&self) {
        lock(&self.sched).hungry += 1;
    }

    /// Waits until the queue has a chunk (true) or the engine should stop
    /// (false): chunks in flight elsewhere may come back to the queue.
    async fn wait_for_work(&self, w: &Worker) -> bool {
        loop {
            let notified = self.notify.notified();
            {
                let s = lock(&self.sched);
                if self.should_stop(&s, w) {
                    return false;
                }
                if !s.queue.is_empty() {
                    return true;
                }
            }
            notified.await;
        }
    }

    /// Final results of a chunk.
    fn finish(&self, w: Option<&Worker>, start: usize, results: Vec<Result<Value>>) {
        let n = results.len();
        let failed = results.iter().filter(|r| r.is_err()).count();
        if let Some(w) = w {
            w.items_done.fetch_add(n - failed, Ordering::Relaxed);
        }
        if failed > 0 {
            lock(&self.report).failed += failed;
        }
        let done = self.done.fetch_add(n, Ordering::AcqRel) + n;
        // Progress first: once the last results are sent, the map may end.
        if let Some(p) = &self.progress {
            let mut shown = lock(&self.progress_shown);
            if done > *shown {
                *shown = done;
                p(done, self.total);
            }
        }
        let _ = self.tx.send(ChunkDone { start, results });
        let mut s = lock(&self.sched);
        s.outstanding -= 1;
        if s.outstanding == 0 {
            self.notify.notify_waiters();
        }
    }

    fn fail_chunk(&self, w: Option<&Worker>, chunk: Chunk, e: &Error) {
        let results = (0..chunk.items.len()).map(|_| Err(dup_error(e))).collect();
        self.finish(w, chunk.start, results);
    }

    fn requeue(&self, chunk: Chunk) {
        lock(&self.report).retried_chunks += 1;
        lock(&self.sched).queue.push_front(chunk);
        self.notify.notify_waiters();
    }

    /// The engine of `w` is gone while running `chunk` (`charged`: the
    /// chunk was running when it died, rather than never sent).
    ///
    /// The oldest chunk in flight is the one the engine was running, unless
    /// its answer was lost with the connection (a reset drops unread
    /// replies): then the next one was. So the oldest is charged, and every
    /// chunk that was in flight becomes a suspect that runs alone.
    fn engine_lost(&self, w: &Worker, mut chunk: Chunk, err: &Error, charged: bool) {
        if !w.dead.swap(true, Ordering::AcqRel) {
            w.slot.dead.store(true, Ordering::Relaxed);
            lock(&self.report).dead_engines.push(w.box_index);
        }
        if charged {
            chunk.killed.push(w.box_index);
            chunk.suspect = true;
        }
        if chunk.killed.len() > self.max_retries {
            let end = chunk.start + chunk.items.len();
            let e = Error::EngineDied(format!(
                "items {}..{end} were not retried: every engine that ran them died \
                 ({} time(s): engines {:?}; max_retries = {}); last: {err}",
                chunk.start,
                chunk.killed.len(),
                chunk.killed,
                self.max_retries
            ));
            self.fail_chunk(Some(w), chunk, &e);
            return;
        }
        self.requeue(chunk);
    }

    /// An engine task stops; the last one fails whatever is left.
    fn worker_exit(&self, hungry: bool) {
        let leftovers: Vec<Chunk> = {
            let mut s = lock(&self.sched);
            s.workers -= 1;
            if hungry {
                s.hungry -= 1;
            }
            if s.workers == 0 && !s.cancelled {
                s.queue.drain(..).collect()
            } else {
                Vec::new()
            }
        };
        if !leftovers.is_empty() {
            let e = Error::EngineDied("no engine of the box is left alive".into());
            for c in leftovers {
                self.fail_chunk(None, c, &e);
            }
        }
        self.notify.notify_waiters();
    }
}

/// Per-item results of a `map_chunk` answer `[values, errors]`.
fn parse_chunk(v: Value, n: usize) -> Result<Vec<Result<Value>>> {
    let bad = |v: &Value| Error::unexpected("map_chunk", v);
    let Value::List(mut parts) = v else {
        return Err(bad(&v));
    };
    if parts.len() != 2 {
        return Err(bad(&Value::List(parts)));
    }
    let errors = parts.pop().unwrap_or(Value::Null);
    let values = parts.pop().unwrap_or(Value::Null);
    let Value::List(values) = values else {
        return Err(bad(&values));
    };
    if values.len() != n {
        return Err(Error::Protocol(format!(
            "map_chunk answered {} results for {n} items",
            values.len()
        )));
    }
    let mut out: Vec<Result<Value>> = values.into_iter().map(Ok).collect();
    let Value::List(errors) = errors else {
        return Err(bad(&errors));
    };
    for e in errors {
        let fields = e.as_seq().unwrap_or_default();
        let pos = fields
            .first()
            .and_then(Value::as_i64)
            .and_then(|p| usize::try_from(p).ok())
            .filter(|&p| p < n)
            .ok_or_else(|| bad(&e))?;
        let text = |i: usize| fields.get(i).and_then(Value::as_str).map(str::to_owned);
        out[pos] = Err(Error::Remote {
            type_name: text(1).unwrap_or_else(|| "Exception".into()),
            message: text(2).unwrap_or_default(),
            traceback: text(3),
        });
    }
    Ok(out)
}

type Reply<'a> = Pin<Box<dyn Future<Output = Result<Value>> + Send + 'a>>;

/// A chunk request: answered already, or waiting for its reply.
enum Flight<'a> {
    Done(Result<Value>),
    Waiting(Reply<'a>),
}

/// Polls a future once: its output when ready at once.
async fn poll_once<F: Future + Unpin>(f: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| match Pin::new(&mut *f).poll(cx) {
        Poll::Ready(v) => Poll::Ready(Some(v)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

/// The task of one engine: keeps up to `depth` chunks in flight, sent in
/// order and answered in order (the engine runs them in arrival order), so
/// the oldest one is the one running — the one to charge when the engine
/// dies.
async fn worker(state: Arc<MapState>, wi: usize) {
    let w = &state.workers[wi];
    let output: Option<OutputSink> = match &state.engine_output {
        Some(f) => {
            let (f, i) = (f.clone(), w.box_index);
            Some(Arc::new(move |stream, text: &str| f(i, stream, text)))
        }
        None => state.output.clone(),
    };
    let mut inflight: VecDeque<(Chunk, Flight<'_>, Instant)> = VecDeque::new();
    // Counted in `Sched::hungry` while true.
    let mut hungry = true;
    let mut depth = state.pipeline.unwrap_or(PIPELINE);
    let mut last_answer = Instant::now();
    loop {
        // Nothing goes behind a suspect chunk.
        while inflight.len() < depth && !inflight.front().is_some_and(|(c, _, _)| c.suspect) {
            let chunk = match state.try_next(w, hungry) {
                Next::Chunk(c) => c,
                Next::Empty | Next::Stop => break,
            };
            hungry = false;
            let op = Op::Call {
                name: MAP_CHUNK_FUNCTION.to_owned(),
                args: vec![state.task.clone(), Value::List(chunk.items.clone())],
                kwargs: Vec::new(),
            };
            let opts = CallOptions {
                timeout: None,
                output: output.clone(),
            };
            let mut reply: Reply<'_> = Box::pin(w.slot.engine.request(op, opts));
            // The first poll sends the request on a live connection, so
            // requests leave in the order of `inflight`.
            let (flight, connecting) = match poll_once(&mut reply).await {
                Some(r) => (Flight::Done(r), false),
                None => (Flight::Waiting(reply), !w.slot.engine.is_connected()),
            };
            w.inflight.fetch_add(1, Ordering::AcqRel);
            inflight.push_back((chunk, flight, Instant::now()));
            if connecting {
                // Still connecting: this request is not sent yet, so send
                // nothing behind it until it is answered (keeps the order).
                break;
            }
        }
        let Some((chunk, flight, sent)) = inflight.pop_front() else {
            if state.wait_for_work(w).await {
                continue;
            }
            break;
        };
        let r = match flight {
            Flight::Done(r) => r,
            Flight::Waiting(reply) => reply.await,
        };
        w.inflight.fetch_sub(1, Ordering::AcqRel);
        if state.pipeline.is_none() {
            // The engine started this chunk when it answered the previous
            // one (or when it got it, if later).
            let now = Instant::now();
            let ran = now - sent.max(last_answer);
            last_answer = now;
            depth = if ran < FAST_CHUNK {
                FAST_PIPELINE
            } else {
                PIPELINE
            };
        }
        // How the engine is gone, if it is: a timeout without a connection
        // is a connect timeout (an unreachable engine), not a slow chunk.
        let lost = match &r {
            Ok(_) => None,
            Err(Error::Timeout(_)) if !w.slot.engine.is_connected() => Some(false),
            Err(e) => loss(e),
        };
        if inflight.is_empty() && lost.is_none() {
            hungry = true;
            state.become_hungry();
        }
        match r {
            Ok(v) => {
                w.slot.dead.store(false, Ordering::Relaxed);
                match parse_chunk(v, chunk.items.len()) {
                    Ok(results) => state.finish(Some(w), chunk.start, results),
                    Err(e) => state.fail_chunk(Some(w), chunk, &e),
                }
            }
            Err(e) => match lost {
                Some(sent) => {
                    state.engine_lost(w, chunk, &e, sent);
                    // The chunks queued behind it (most likely) never ran:
                    // back to the queue, uncharged, as suspects.
                    for (mut c, _, _) in inflight.drain(..) {
                        w.inflight.fetch_sub(1, Ordering::AcqRel);
                        c.suspect |= sent;
                        state.requeue(c);
                    }
                    break;
                }
                None => state.fail_chunk(Some(w), chunk, &e),
            },
        }
    }
    state.worker_exit(hungry);
}

/// The results of a running map ([`EngBox::imap`]).
///
/// Dropping it before the end cancels the map (see [`MapStream::cancel`]).
pub struct MapStream {
    rx: mpsc::UnboundedReceiver<ChunkDone>,
    ordered: bool,
    /// Ordered mode: chunk results that arrived early, by start.
    pending: BTreeMap<usize, Vec<Result<Value>>>,
    next_index: usize,
    ready: VecDeque<(usize, Result<Value>)>,
    yielded: usize,
    state: Arc<MapState>,
    tasks: Vec<JoinHandle<()>>,
    runtime: tokio::runtime::Handle,
}

impl fmt::Debug for MapStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapStream")
            .field("total", &self.state.total)
            .field("yielded", &self.yielded)
            .field("ordered", &self.ordered)
            .finish()
    }
}

impl MapStream {
    fn start(bx: &EngBox, task: MapTask, items: Vec<Value>, opts: MapOptions) -> MapStream {
        let total = items.len();
        let chunksize = opts
            .chunksize
            .unwrap_or_else(|| auto_chunksize(total, bx.len()))
            .max(1);
        let mut queue = VecDeque::with_capacity(total.div_ceil(chunksize));
        let mut it = items.into_iter();
        let mut start = 0;
        while start < total {
            let part: Vec<Value> = it.by_ref().take(chunksize).collect();
            let n = part.len();
            queue.push_back(Chunk {
                start,
                items: part,
                killed: Vec::new(),
                suspect: false,
            });
            start += n;
        }
        let pipeline = opts.pipeline.map(|n| n.max(1));
        let chunks = queue.len();
        let (tx, rx) = mpsc::unbounded_channel();
        let workers: Vec<Worker> = bx
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| Worker {
                slot: s.clone(),
                box_index: i,
                dead: AtomicBool::new(false),
                inflight: AtomicUsize::new(0),
                items_done: AtomicUsize::new(0),
            })
            .collect();
        let n_workers = workers.len();
        let state = Arc::new(MapState {
            task: task.spec(),
            total,
            max_retries: opts.max_retries,
            pipeline,
            progress: opts.progress,
            progress_shown: Mutex::new(0),
            output: opts.output,
            engine_output: opts.engine_output,
            sched: Mutex::new(Sched {
                queue,
                outstanding: chunks,
                workers: n_workers,
                hungry: n_workers,
                cancelled: false,
            }),
            notify: Notify::new(),
            tx,
            done: AtomicUsize::new(0),
            report: Mutex::new(MapReport {
                total,
                chunksize,
                chunks,
                items_per_engine: vec![0; bx.len()],
                ..Default::default()
            }),
            workers,
        });
        let runtime = tokio::runtime::Handle::current();
        let handles = if chunks == 0 {
            lock(&state.sched).workers = 0;
            Vec::new()
        } else {
            (0..state.workers.len())
                .map(|wi| runtime.spawn(worker(state.clone(), wi)))
                .collect()
        };
        MapStream {
            rx,
            ordered: opts.ordered,
            pending: BTreeMap::new(),
            next_index: 0,
            ready: VecDeque::new(),
            yielded: 0,
            state,
            tasks: handles,
            runtime,
        }
    }

    /// Number of items.
    pub fn total(&self) -> usize {
        self.state.total
    }

    /// Items whose results were handed out so far.
    pub fn yielded(&self) -> usize {
        self.yielded
    }

    /// Items with a result so far (handed out or not).
    pub fn done(&self) -> usize {
        self.state.done.load(Ordering::Acquire)
    }

    /// What happened so far (final once the stream has ended).
    pub fn report(&self) -> MapReport {
        let mut r = lock(&self.state.report).clone();
        for w in &self.state.workers {
            r.items_per_engine[w.box_index] = w.items_done.load(Ordering::Relaxed);
        }
        r
    }

    fn accept(&mut self, c: ChunkDone) {
        if !self.ordered {
            self.ready.extend(
                c.results
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| (c.start + i, r)),
            );
            return;
        }
        self.pending.insert(c.start, c.results);
        while let Some(results) = self.pending.remove(&self.next_index) {
            let start = self.next_index;
            self.next_index += results.len();
            self.ready
                .extend(results.into_iter().enumerate().map(|(i, r)| (start + i, r)));
        }
    }

    /// Waits for more results; answers everything available (at least one
    /// item), `None` at the end. Cancel-safe.
    pub async fn next_batch(&mut self) -> Option<Vec<(usize, Result<Value>)>> {
        loop {
            if !self.ready.is_empty() {
                let batch: Vec<_> = self.ready.drain(..).collect();
                self.yielded += batch.len();
                return Some(batch);
            }
            if self.yielded >= self.state.total {
                return None;
            }
            match self.rx.recv().await {
                Some(c) => {
                    self.accept(c);
                    while let Ok(c) = self.rx.try_recv() {
                        self.accept(c);
                    }
                }
                None => return None,
            }
        }
    }

    /// The next result `(index, result)`; `None` at the end. Cancel-safe.
    pub async fn next(&mut self) -> Option<(usize, Result<Value>)> {
        loop {
            if let Some(x) = self.ready.pop_front() {
                self.yielded += 1;
                return Some(x);
            }
            if self.yielded >= self.state.total {
                return None;
            }
            match self.rx.recv().await {
                Some(c) => self.accept(c),
                None => return None,
            }
        }
    }

    /// Whether every result was handed out.
    pub fn is_finished(&self) -> bool {
        self.yielded >= self.state.total
    }

    /// Stops the map: no more chunks are sent, the engine tasks stop, and engines
    /// still working on chunks of this map are interrupted (until they are
    /// idle, at most a few seconds). Results not handed out yet are lost.
    pub async fn cancel(&mut self) {
        if let Some(interrupts) = self.stop() {
            for t in interrupts {
                let _ = t.await;
            }
        }
    }

    /// Stops the engine tasks and starts interrupting busy engines; answers the
    /// interrupting tasks (`None` when the map had ended).
    fn stop(&mut self) -> Option<Vec<JoinHandle<()>>> {
        let finished = {
            let mut s = lock(&self.state.sched);
            let finished = s.outstanding == 0 || s.cancelled;
            s.cancelled = true;
            finished
        };
        self.state.notify.notify_waiters();
        for t in self.tasks.drain(..) {
            t.abort();
        }
        if finished {
            return None;
        }
        let busy: Vec<Engine> = self
            .state
            .workers
            .iter()
            .filter(|w| w.inflight.load(Ordering::Acquire) > 0 && !w.dead.load(Ordering::Acquire))
            .map(|w| w.slot.engine.clone())
            .collect();
        Some(
            busy.into_iter()
                .map(|e| self.runtime.spawn(interrupt_until_idle(e)))
                .collect(),
        )
    }
}

/// Interrupts an engine until it is idle (its queued chunks start and are
/// interrupted in turn); gives up after a few seconds.
async fn interrupt_until_idle(e: Engine) {
    let quick = CallOptions::default().timeout(Duration::from_secs(2));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        let _ = e.request(Op::Interrupt, quick.clone()).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        match e.request(Op::IsBusy, quick.clone()).await {
            Ok(Value::Bool(true)) => continue,
            _ => return,
        }
    }
}

impl Drop for MapStream {
    fn drop(&mut self) {
        // Tasks spawned here outlive the stream; they end on their own.
        let _ = self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_sizes_are_balanced() {
        assert_eq!(split_sizes(10, 3), vec![4, 3, 3]);
        assert_eq!(split_sizes(2, 4), vec![1, 1, 0, 0]);
        assert_eq!(split_sizes(0, 2), vec![0, 0]);
        assert_eq!(split_sizes(5, 0), Vec::<usize>::new());
        assert_eq!(split_sizes(9, 3).iter().sum::<usize>(), 9);
    }

    #[test]
    fn automatic_chunks() {
        assert_eq!(auto_chunksize(10_000, 2), 625);
        assert_eq!(auto_chunksize(16, 2), 1);
        assert_eq!(auto_chunksize(40, 2), 3);
        assert_eq!(auto_chunksize(3, 8), 1);
        assert_eq!(auto_chunksize(0, 2), 1);
        assert_eq!(auto_chunksize(10_000_000, 1), MAX_AUTO_CHUNK);
        assert_eq!(auto_chunksize(20, 0), 3);
    }

    #[test]
    fn uri_lists_skip_blanks_and_comments() {
        let text = "# engines\n\nsrpy://127.0.0.1:9000/0\n  srpy://h:1  # a server\n#x\n";
        let got = parse_uri_list(text).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].index, Some(0));
        assert_eq!(got[1].host, "h");
        assert_eq!(got[1].index, None);
        assert!(parse_uri_list("nope").is_err());
        assert!(parse_uri_list("").unwrap().is_empty());
    }

    #[test]
    fn basis_parses() {
        assert_eq!("ALL".parse::<Basis>().unwrap(), Basis::All);
        assert_eq!("net".parse::<Basis>().unwrap(), Basis::Net);
        assert_eq!("proc".parse::<Basis>().unwrap(), Basis::Proc);
        assert!("cpu".parse::<Basis>().is_err());
        let b = Benchmark {
            net_s: 1.0,
            proc_s: 2.0,
            busy: false,
        };
        assert_eq!(Basis::All.score(&b), 3.0);
        assert_eq!(Basis::Net.score(&b), 1.0);
        assert_eq!(Basis::Proc.score(&b), 2.0);
    }

    #[test]
    fn task_specs() {
        assert_eq!(
            MapTask::expr("x + 1").spec(),
            Value::List(vec!["expr".into(), "x + 1".into(), "x".into()])
        );
        assert_eq!(
            MapTask::call("math.sqrt").spec(),
            Value::List(vec!["call".into(), "math.sqrt".into()])
        );
        assert_eq!(
            MapTask::Pickled(vec![1, 2]).spec(),
            Value::List(vec!["pickle".into(), Value::Bytes(vec![1, 2].into())])
        );
    }

    #[test]
    fn chunk_answers_parse() {
        let v = Value::List(vec![
            Value::List(vec![Value::Int(1), Value::Null, Value::Int(3)]),
            Value::List(vec![Value::List(vec![
                Value::Int(1),
                "ZeroDivisionError".into(),
                "division by zero".into(),
                "Traceback ...".into(),
            ])]),
        ]);
        let r = parse_chunk(v, 3).unwrap();
        assert_eq!(r[0].as_ref().unwrap(), &Value::Int(1));
        let e = r[1].as_ref().unwrap_err();
        assert_eq!(e.remote_type(), Some("ZeroDivisionError"));
        assert_eq!(e.traceback(), Some("Traceback ..."));
        assert_eq!(r[2].as_ref().unwrap(), &Value::Int(3));

        let short = Value::List(vec![Value::List(vec![]), Value::List(vec![])]);
        assert!(matches!(parse_chunk(short, 1), Err(Error::Protocol(_))));
        assert!(parse_chunk(Value::Int(1), 1).is_err());
        let bad_pos = Value::List(vec![
            Value::List(vec![Value::Null]),
            Value::List(vec![Value::List(vec![Value::Int(5)])]),
        ]);
        assert!(parse_chunk(bad_pos, 1).is_err());
    }

    #[test]
    fn errors_duplicate() {
        let e = Error::Remote {
            type_name: "KeyError".into(),
            message: "'a'".into(),
            traceback: Some("tb".into()),
        };
        let d = dup_error(&e);
        assert_eq!(d.remote_type(), Some("KeyError"));
        assert_eq!(d.traceback(), Some("tb"));
        let io = Error::Io(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "gone"));
        assert!(
            matches!(dup_error(&io), Error::Io(ref x) if x.kind() == std::io::ErrorKind::BrokenPipe)
        );
        assert_eq!(loss(&Error::EngineDied("x".into())), Some(true));
        assert_eq!(loss(&Error::Closed), Some(false));
        assert_eq!(loss(&e), None);
    }

    #[test]
    fn hosts_compare() {
        assert!(same_host("127.0.0.1", "127.0.0.1"));
        assert!(same_host("::1", "[::1]"));
        assert!(same_host("LocalHost", "localhost"));
        assert!(!same_host("127.0.0.1", "127.0.0.2"));
    }

    #[tokio::test]
    async fn empty_boxes() {
        let b = EngBox::default();
        assert!(b.is_empty());
        assert!(b
            .imap(MapTask::expr("x"), vec![], MapOptions::default())
            .is_err());
        assert!(b.scatter("a", vec![]).await.is_err());
        assert!(b.run_parallel(Op::Ping).await.is_empty());
        assert!(b.get_dead(true).await.is_empty());
        assert_eq!(b.gather("a").await.unwrap(), Vec::<Value>::new());
    }

    #[tokio::test]
    async fn unreachable_engines_fail_every_item_and_are_reported() {
        // A port nothing listens on: connecting fails at once.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let opts = ConnectOptions::default().connect_timeout(Duration::from_millis(500));
        let e = Engine::lazy(format!("127.0.0.1:{port}"), opts).unwrap();
        let b = EngBox::new([e.clone(), e]);
        let out = b
            .map(
                MapTask::expr("x"),
                (0..5).map(Value::from).collect(),
                MapOptions::default().chunksize(2),
            )
            .await
            .unwrap();
        assert_eq!(out.results.len(), 5);
        assert!(out
            .results
            .iter()
            .all(|r| matches!(r, Err(Error::EngineDied(_)))));
        assert_eq!(out.report.dead_engines, vec![0, 1]);
        assert_eq!(out.report.failed, 5);
        assert_eq!(b.get_dead(false).await, vec![0, 1]);
        let empty = b
            .map(MapTask::expr("x"), vec![], MapOptions::default())
            .await
            .unwrap();
        assert!(empty.results.is_empty());
    }

    #[tokio::test]
    async fn engines_that_never_answer_the_handshake_count_as_dead() {
        // Accepted by the kernel, never spoken to: the connect times out.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let opts = ConnectOptions::default().connect_timeout(Duration::from_millis(300));
        let b = EngBox::new([Engine::lazy(format!("127.0.0.1:{port}"), opts).unwrap()]);
        let out = b
            .map(
                MapTask::expr("x"),
                (0..3).map(Value::from).collect(),
                MapOptions::default(),
            )
            .await
            .unwrap();
        assert!(out
            .results
            .iter()
            .all(|r| matches!(r, Err(Error::EngineDied(_)))));
        assert_eq!(out.report.dead_engines, vec![0]);
        assert_eq!(out.report.retried_chunks, 1, "{:?}", out.report);
        let r = b.run_parallel(Op::Ping).await;
        assert!(matches!(r[0].1, Err(Error::Timeout(_))));
        assert!(b.is_dead(0));
        drop(silent);
    }
}
