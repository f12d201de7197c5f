//! Recently freed big buffers, kept a moment for the next big receive.
//!
//! Receiving 64 MiB into fresh memory costs a page fault and a page of
//! zeroes per page (and, on a VM whose free memory goes back to the host,
//! sometimes far more: 100–200 ms for 64 MiB were measured here). Bulk
//! work comes in runs — a loop of `set`s, a `get` per step — so a buffer
//! freed now is most likely wanted again within a second. The pool keeps a
//! few of them for [`KEEP_FOR`]; a background thread frees what was not
//! taken, so an idle process goes back to its small size.
//!
//! Only buffers from [`POOL_MIN`] bytes on are kept; a buffer is handed out
//! empty (`len() == 0`): its old contents are never visible.
//!
//! A process that keeps freed memory in its heap (an engine: see
//! `srpy-py`'s `keep_freed_memory`) registers [`after_release`] to give
//! the memory back once the trimmer has freed buffers: the trimmer runs on
//! its own clock, after the process's own idle-time trim may have run.

use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Smallest buffer worth keeping.
pub const POOL_MIN: usize = 4 << 20;
/// At most this many buffers are kept...
const MAX_BUFFERS: usize = 4;
/// ...and at most this many bytes.
const MAX_BYTES: usize = 1 << 30;
/// How long an unused buffer is kept.
pub const KEEP_FOR: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Pool {
    /// Buffers with the time they were freed, oldest first.
    buffers: Vec<(Vec<u8>, Instant)>,
    bytes: usize,
}

struct Shared {
    pool: Mutex<Pool>,
    /// Wakes the trimmer when a buffer arrives.
    arrived: Condvar,
    /// Whether the trimmer thread runs (without it nothing is kept).
    trimmer: bool,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        // The thread's first `shared()` waits until this init is done.
        let trimmer = std::thread::Builder::new()
            .name("srpy-buffer-pool".into())
            .spawn(trim_forever)
            .is_ok();
        Shared {
            pool: Mutex::new(Pool::default()),
            arrived: Condvar::new(),
            trimmer,
        }
    })
}

/// Called by the trimmer after it freed buffers (see the module docs).
static AFTER_RELEASE: OnceLock<fn()> = OnceLock::new();

/// Registers `f` to run (on the trimmer thread) each time the trimmer has
/// freed buffers. The first registration wins.
pub fn after_release(f: fn()) {
    let _ = AFTER_RELEASE.set(f);
}

/// The trimmer: frees each buffer [`KEEP_FOR`] after it was kept.
fn trim_forever() {
    let s = shared();
    let mut pool = s.pool.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let now = Instant::now();
        let expired = pool
            .buffers
            .iter()
            .take_while(|(_, at)| now.duration_since(*at) >= KEEP_FOR)
            .count();
        let freed: Vec<_> = pool.buffers.drain(..expired).collect();
        pool.bytes -= freed.iter().map(|(b, _)| b.capacity()).sum::<usize>();
        let wait = pool
            .buffers
            .first()
            .map(|(_, at)| KEEP_FOR.saturating_sub(now.duration_since(*at)));
        // Free outside the lock: unmapping 64 MiB takes milliseconds.
        drop(pool);
        if !freed.is_empty() {
            drop(freed);
            if let Some(f) = AFTER_RELEASE.get() {
                f();
            }
        }
        pool = s.pool.lock().unwrap_or_else(|e| e.into_inner());
        pool = match wait {
            Some(w) => {
                s.arrived
                    .wait_timeout(pool, w)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => s.arrived.wait(pool).unwrap_or_else(|e| e.into_inner()),
        };
    }
}

/// An empty buffer with room for `n` bytes from the pool: the smallest kept
/// one that fits without wasting more than an eighth. `None` when none does.
pub fn take(n: usize) -> Option<Vec<u8>> {
    if n < POOL_MIN {
        return None;
    }
    let s = shared();
    let mut pool = s.pool.lock().unwrap_or_else(|e| e.into_inner());
    let best = pool
        .buffers
        .iter()
        .enumerate()
        .filter(|(_, (b, _))| b.capacity() >= n && b.capacity() - n <= n / 8)
        .min_by_key(|(_, (b, _))| b.capacity())
        .map(|(i, _)| i)?;
    let (buffer, _) = pool.buffers.remove(best);
    pool.bytes -= buffer.capacity();
    Some(buffer)
}

/// Gives a buffer back for reuse (a small one is simply freed).
pub fn recycle(mut buffer: Vec<u8>) {
    if buffer.capacity() < POOL_MIN || buffer.capacity() > MAX_BYTES {
        return;
    }
    let s = shared();
    if !s.trimmer {
        return; // Nothing would ever free it.
    }
    buffer.clear();
    let mut evicted = Vec::new();
    {
        let mut pool = s.pool.lock().unwrap_or_else(|e| e.into_inner());
        pool.bytes += buffer.capacity();
        pool.buffers.push((buffer, Instant::now()));
        while pool.buffers.len() > MAX_BUFFERS || pool.bytes > MAX_BYTES {
            let (old, _) = pool.buffers.remove(0);
            pool.bytes -= old.capacity();
            evicted.push(old);
        }
    }
    s.arrived.notify_one();
    drop(evicted);
}

/// Bytes held by the pool now (for tests and diagnostics).
pub fn held_bytes() -> usize {
    shared()
        .pool
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_then_freed() {
        // One test touches the process-wide pool, so the steps stay in order.
        let n = POOL_MIN + 12_345;
        let mut b = Vec::<u8>::with_capacity(n);
        b.extend_from_slice(b"secret");
        let at = b.as_ptr();
        recycle(b);
        let mut c = Vec::<u8>::with_capacity(n);
        c.push(1);
        let c_at = c.as_ptr();
        recycle(c);
        assert!(held_bytes() >= n);
        // Too small a request, or one the buffer would waste space on: no.
        assert!(take(POOL_MIN - 1).is_none());
        assert!(take(n * 2).is_none());
        let got = take(n - 100).expect("a kept buffer fits");
        assert!(got.is_empty(), "handed out empty: old contents stay hidden");
        assert!(got.as_ptr() == c_at || got.as_ptr() == at);
        drop(got);
        // Kept buffers are freed after KEEP_FOR.
        let deadline = Instant::now() + KEEP_FOR + Duration::from_secs(3);
        while held_bytes() > 0 {
            assert!(Instant::now() < deadline, "kept buffers were never freed");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(take(n).is_none());
    }
}
