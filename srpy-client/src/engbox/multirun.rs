//! The original `mrp` / `mrpwait`: a request started on every engine of a
//! box at once ([`EngBox::mrp`] returns without waiting), and waited for
//! later, as often as wanted, with or without a time limit
//! ([`MultiRun::wait`]).
//!
//! SRPy 0.2 (2009) documented the idiom `box.mrpwait(box.mrp.benchmark())`:
//! `mrp` "runs the given method in parallel through threads" and returns at
//! once, `mrpwait(mrp_result, timeout=-1)` "waits for all the threads in a
//! 'mrp' job to finish". Here the calls are requests in flight on the
//! engines' connections (no thread per engine); an engine still running
//! when a wait gives up gets [`Error::Timeout`] as its entry of that wait,
//! and its call goes on (a later wait may see its answer).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use srpy_proto::{Op, Value};
use tokio::sync::watch;

use super::{dup_error, lock, BoxResults, EngBox};
use crate::error::{Error, Result};
use crate::options::CallOptions;

/// A request running on every engine of a box (see the module docs).
/// Cheap to clone; clones wait for the same calls.
#[derive(Clone)]
pub struct MultiRun {
    inner: Arc<Shared>,
}

struct Shared {
    /// Per engine (box order): its answer once it came.
    results: Mutex<Vec<Option<Result<Value>>>>,
    /// How many engines have answered.
    answered: watch::Receiver<usize>,
}

impl std::fmt::Debug for MultiRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiRun")
            .field("engines", &self.len())
            .field("answered", &*self.inner.answered.borrow())
            .finish()
    }
}

fn copy(r: &Result<Value>) -> Result<Value> {
    match r {
        Ok(v) => Ok(v.clone()),
        Err(e) => Err(dup_error(e)),
    }
}

impl MultiRun {
    /// Sends `op` to every engine of `bx` and returns at once. Must be
    /// called inside a tokio runtime.
    pub(super) fn start(bx: &EngBox, op: Op, opts: CallOptions) -> MultiRun {
        let n = bx.len();
        let (tx, rx) = watch::channel(0usize);
        let inner = Arc::new(Shared {
            results: Mutex::new((0..n).map(|_| None).collect()),
            answered: rx,
        });
        let tx = Arc::new(tx);
        for (i, slot) in bx.slots.iter().enumerate() {
            let (slot, op, opts) = (slot.clone(), op.clone(), opts.clone());
            let (shared, tx) = (inner.clone(), tx.clone());
            tokio::spawn(async move {
                let r = slot.engine.perform(op, opts).await;
                slot.note(&r);
                lock(&shared.results)[i] = Some(r);
                tx.send_modify(|answered| *answered += 1);
            });
        }
        MultiRun { inner }
    }

    /// Number of engines the request runs on.
    pub fn len(&self) -> usize {
        lock(&self.inner.results).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every engine has answered.
    pub fn is_done(&self) -> bool {
        *self.inner.answered.borrow() >= self.len()
    }

    /// Waits until every engine has answered, or `timeout` has passed
    /// (`None`: as long as it takes); answers every engine's result in box
    /// order, [`Error::Timeout`] for the engines still running (their calls
    /// go on).
    pub async fn wait(&self, timeout: Option<Duration>) -> BoxResults {
        let n = self.len();
        let mut rx = self.inner.answered.clone();
        let all = rx.wait_for(|&answered| answered >= n);
        match timeout {
            None => drop(all.await),
            Some(t) => drop(tokio::time::timeout(t, all).await),
        }
        self.snapshot(timeout)
    }

    /// The answers so far, without waiting: engines still running are
    /// [`Error::Timeout`].
    pub fn snapshot(&self, timeout: Option<Duration>) -> BoxResults {
        lock(&self.inner.results)
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let r = match r {
                    Some(r) => copy(r),
                    None => Err(Error::Timeout(match timeout {
                        Some(t) => format!(
                            "engine {i} did not answer within {:.3} s (its call goes on)",
                            t.as_secs_f64()
                        ),
                        None => format!("engine {i} has not answered yet (its call goes on)"),
                    })),
                };
                (i, r)
            })
            .collect()
    }
}
