//! The load-balanced map of a box: its task and options ([`MapTask`],
//! [`MapOptions`]), the per-engine workers and their shared queue, and the
//! stream of results ([`MapStream`]); how it runs is in the `engbox` module
//! docs.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use srpy_proto::{Op, Stream, Value};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use super::{
    dup_error, lock, loss, EngBox, Slot, CHUNKS_PER_ENGINE, FAST_CHUNK, FAST_PIPELINE,
    MAP_CHUNK_FUNCTION, MAX_AUTO_CHUNK, PIPELINE,
};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::options::{CallOptions, OutputSink};

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
pub(super) fn parse_chunk(v: Value, n: usize) -> Result<Vec<Result<Value>>> {
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
    pub(super) fn start(
        bx: &EngBox,
        task: MapTask,
        items: Vec<Value>,
        opts: MapOptions,
    ) -> MapStream {
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
