//! Activity counters of one process (an engine, or the server's own port),
//! kept where the supervisor can read them without asking the engine.
//!
//! An engine's counters live in a [`CounterPage`]: a shared memory page
//! (`memfd`) that the supervisor creates, maps, and hands to the engine
//! process as an inherited descriptor ([`EngineConfig::metrics_fd`]). The
//! engine maps the same page and bumps plain atomics in it; a scrape of
//! `/metrics` reads them from the supervisor's own mapping. So counting
//! costs an engine a few relaxed atomic adds per request, needs no wire
//! operation and no engine thread, works while the interpreter is busy,
//! and the last counts of an engine killed with `kill -9` stay readable.
//! Without a descriptor (engines run by hand, the server's own port) the
//! page is ordinary memory.
//!
//! The layout is fixed ([`Counters`], `#[repr(C)]`, only `AtomicU64`s):
//! the supervisor and its engines are the same build. Ops and outcomes are
//! counted by their position in [`OPS`] and [`OUTCOMES`]; a name not in
//! them (an op added to the protocol later) is counted as `other`.
//!
//! [`EngineConfig::metrics_fd`]: crate::engine_host::EngineConfig::metrics_fd

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use srpy_proto::ErrorKind;

/// Op names counted one by one (the operation table's, in its order);
/// anything else is [`OTHER`].
pub const OPS: [&str; srpy_proto::OPS.len() + 1] = {
    let mut names = [OTHER; srpy_proto::OPS.len() + 1];
    let mut i = 0;
    while i < srpy_proto::OPS.len() {
        names[i] = srpy_proto::ops::NAMES[i];
        i += 1;
    }
    names
};

/// Outcomes of a request: `ok`, or the error kind of its reply (the
/// protocol's names, in its order), or [`OTHER`].
pub const OUTCOMES: [&str; ErrorKind::NAMES.len() + 2] = {
    let mut names = [OTHER; ErrorKind::NAMES.len() + 2];
    names[0] = "ok";
    let mut i = 0;
    while i < ErrorKind::NAMES.len() {
        names[i + 1] = ErrorKind::NAMES[i];
        i += 1;
    }
    names
};

/// Why a connection was refused before or during the handshake.
pub const REFUSALS: [&str; 9] = [
    "auth",
    "version",
    "protocol",
    "frame_limit",
    "connection_limit",
    "handshake_limit",
    // A routing preamble for no engine, or one that is restarting.
    "routing",
    "timeout",
    "tls",
];

/// The name under which unlisted ops and outcomes are counted.
pub const OTHER: &str = "other";

/// Upper bounds (seconds) of the request duration histogram's buckets.
pub const DURATION_BUCKETS: [f64; 18] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// The counters themselves (the page's layout).
#[repr(C)]
pub struct Counters {
    /// Requests answered, by op and outcome.
    requests: [[AtomicU64; OUTCOMES.len()]; OPS.len()],
    /// Request durations by op: per bucket (not cumulative; the last slot
    /// is above every bound), then the sum in nanoseconds.
    durations: [[AtomicU64; DURATION_BUCKETS.len() + 2]; OPS.len()],
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// Authenticated connections now open.
    connections_open: AtomicU64,
    /// Requests queued or running in the interpreter.
    pending: AtomicU64,
    refused: [AtomicU64; REFUSALS.len()],
}

/// Index of `name` in `names`, or of the last entry ([`OTHER`]).
fn index_of(names: &[&str], name: &str) -> usize {
    names
        .iter()
        .position(|n| *n == name)
        .unwrap_or(names.len() - 1)
}

/// The counter slot of an op (by its wire name).
pub fn op_slot(op: &str) -> usize {
    index_of(&OPS, op)
}

/// The counter slot of a reply's outcome (`Ok`, or its error kind); its
/// name is `OUTCOMES[slot]`.
pub fn outcome_slot(outcome: Result<(), &ErrorKind>) -> usize {
    match outcome {
        Ok(()) => 0,
        Err(kind) => index_of(&OUTCOMES, kind.name()),
    }
}

/// One histogram as read: `(upper bound, count in this bucket alone)`
/// pairs, the last one `+Inf` (the form `prometheus-client` encodes, adding
/// them up itself), the sum in seconds and the count.
pub struct HistogramSnapshot {
    pub buckets: Vec<(f64, u64)>,
    pub sum_seconds: f64,
    pub count: u64,
}

impl Counters {
    /// Counts a request answered after `started` (slots from [`op_slot`]
    /// and [`outcome_slot`]).
    pub fn request_done(&self, op: usize, outcome: usize, started: Instant) {
        let op = op.min(OPS.len() - 1);
        let outcome = outcome.min(OUTCOMES.len() - 1);
        self.requests[op][outcome].fetch_add(1, Ordering::Relaxed);
        let elapsed = started.elapsed();
        let seconds = elapsed.as_secs_f64();
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(DURATION_BUCKETS.len());
        let row = &self.durations[op];
        row[bucket].fetch_add(1, Ordering::Relaxed);
        row[DURATION_BUCKETS.len() + 1].fetch_add(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub fn add_bytes_in(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_bytes_out(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A request entered the interpreter's queue.
    pub fn job_queued(&self) {
        self.pending.fetch_add(1, Ordering::Relaxed);
    }

    /// A queued request left it (answered or dropped).
    pub fn job_left(&self) {
        let _ = self
            .pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| p.checked_sub(1));
    }

    /// Counts a refused connection; `kind` is the refusal's error kind.
    pub fn refused(&self, reason: &str) {
        self.refused[index_of(&REFUSALS, reason)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an open connection until the guard is dropped.
    pub fn connection_opened(&self) -> OpenConnection<'_> {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self)
    }

    pub fn requests(&self, op: usize, outcome: usize) -> u64 {
        self.requests[op][outcome].load(Ordering::Relaxed)
    }

    pub fn duration(&self, op: usize) -> HistogramSnapshot {
        let row = &self.durations[op];
        let mut count = 0;
        let mut buckets = Vec::with_capacity(DURATION_BUCKETS.len() + 1);
        let bounds = DURATION_BUCKETS.iter().copied().chain([f64::INFINITY]);
        for (bound, slot) in bounds.zip(row.iter()) {
            let n = slot.load(Ordering::Relaxed);
            count += n;
            buckets.push((bound, n));
        }
        let sum_ns = row[DURATION_BUCKETS.len() + 1].load(Ordering::Relaxed);
        HistogramSnapshot {
            buckets,
            sum_seconds: sum_ns as f64 / 1e9,
            count,
        }
    }

    pub fn bytes_in(&self) -> u64 {
        self.bytes_in.load(Ordering::Relaxed)
    }

    pub fn bytes_out(&self) -> u64 {
        self.bytes_out.load(Ordering::Relaxed)
    }

    pub fn connections_open(&self) -> u64 {
        self.connections_open.load(Ordering::Relaxed)
    }

    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    pub fn refusals(&self, reason: usize) -> u64 {
        self.refused[reason].load(Ordering::Relaxed)
    }
}

/// Keeps a connection counted as open (see [`Counters::connection_opened`]).
pub struct OpenConnection<'a>(&'a Counters);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        let _ = self
            .0
            .connections_open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

/// The memory holding one process's [`Counters`].
pub struct CounterPage {
    counters: NonNull<Counters>,
    /// The shared page's descriptor (`None` once handed over or closed, and
    /// for a page in ordinary memory).
    fd: Option<OwnedFd>,
    mapped: bool,
}

// SAFETY: the page holds only atomics.
unsafe impl Send for CounterPage {}
// SAFETY: the page holds only atomics.
unsafe impl Sync for CounterPage {}

impl std::fmt::Debug for CounterPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CounterPage")
            .field("shared", &self.mapped)
            .finish()
    }
}

const PAGE_SIZE: usize = std::mem::size_of::<Counters>();

impl CounterPage {
    /// Counters in ordinary memory, all zero.
    pub fn private() -> CounterPage {
        // SAFETY: zeroed memory is a valid `Counters` (atomics of 0).
        let boxed: Box<Counters> = unsafe { Box::new(std::mem::zeroed()) };
        CounterPage {
            counters: NonNull::from(Box::leak(boxed)),
            fd: None,
            mapped: false,
        }
    }

    /// A new shared page (all zero) whose descriptor a child process can
    /// inherit: see [`CounterPage::fd`].
    pub fn shared() -> std::io::Result<CounterPage> {
        // SAFETY: memfd_create with a static name; the result is owned.
        let raw = unsafe { libc::memfd_create(c"srpy-counters".as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: plain ftruncate on our descriptor.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), PAGE_SIZE as libc::off_t) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut page = Self::map(fd.as_raw_fd())?;
        page.fd = Some(fd);
        Ok(page)
    }

    /// Maps the page passed as descriptor `fd` (in an engine), then closes
    /// the descriptor (the mapping stays).
    pub fn inherit(fd: RawFd) -> std::io::Result<CounterPage> {
        // SAFETY: the supervisor gave us this descriptor for this purpose;
        // it is ours to close.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: fstat into a zeroed struct.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if (st.st_size as usize) < PAGE_SIZE {
            return Err(std::io::Error::other(format!(
                "counter page of {} bytes is smaller than {PAGE_SIZE}",
                st.st_size
            )));
        }
        Self::map(fd.as_raw_fd())
    }

    fn map(fd: RawFd) -> std::io::Result<CounterPage> {
        // SAFETY: a fresh shared mapping of a descriptor of at least
        // PAGE_SIZE bytes; unmapped in Drop.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(CounterPage {
            counters: NonNull::new(ptr.cast()).expect("mmap returned a pointer"),
            fd: None,
            mapped: true,
        })
    }

    /// The descriptor a child inherits (it must clear `FD_CLOEXEC` on it
    /// between fork and exec: see [`allow_inherit`]).
    pub fn fd(&self) -> Option<RawFd> {
        self.fd.as_ref().map(|f| f.as_raw_fd())
    }

    /// Closes the descriptor once the child has it (the mapping stays).
    pub fn close_fd(&mut self) {
        self.fd = None;
    }
}

/// Lets `fd` survive `exec` in a freshly forked child. Async-signal-safe:
/// for `Command::pre_exec`.
pub fn allow_inherit(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor of this (child) process.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl std::ops::Deref for CounterPage {
    type Target = Counters;
    fn deref(&self) -> &Counters {
        // SAFETY: valid until Drop; only atomics, shared access is fine.
        unsafe { self.counters.as_ref() }
    }
}

impl Drop for CounterPage {
    fn drop(&mut self) {
        if self.mapped {
            // SAFETY: the mapping made in `map`, of PAGE_SIZE bytes.
            unsafe {
                libc::munmap(self.counters.as_ptr().cast(), PAGE_SIZE);
            }
        } else {
            // SAFETY: the Box leaked in `private`.
            drop(unsafe { Box::from_raw(self.counters.as_ptr()) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_page_is_seen_through_a_second_mapping() {
        let mut page = CounterPage::shared().unwrap();
        // What an engine does with the inherited descriptor.
        // SAFETY: dup of our own descriptor; `inherit` owns the copy.
        let dup = unsafe { libc::dup(page.fd().unwrap()) };
        let engine = CounterPage::inherit(dup).unwrap();
        page.close_fd();
        let started = Instant::now();
        let (ok, remote) = (outcome_slot(Ok(())), outcome_slot(Err(&ErrorKind::Remote)));
        engine.request_done(op_slot("exec"), ok, started);
        engine.request_done(op_slot("exec"), remote, started);
        engine.request_done(op_slot("no-such-op"), ok, started);
        engine.add_bytes_in(10);
        engine.add_bytes_out(7);
        engine.refused("auth");
        drop(engine);
        let exec = op_slot("exec");
        assert_eq!(page.requests(exec, 0), 1);
        assert_eq!(page.requests(exec, index_of(&OUTCOMES, "remote")), 1);
        assert_eq!(page.requests(op_slot(OTHER), 0), 1);
        assert_eq!((page.bytes_in(), page.bytes_out()), (10, 7));
        assert_eq!(page.refusals(0), 1);
        let h = page.duration(exec);
        assert_eq!(h.count, 2);
        assert_eq!(h.buckets.last().unwrap().0, f64::INFINITY);
        assert_eq!(h.buckets.iter().map(|b| b.1).sum::<u64>(), 2);
    }

    #[test]
    fn open_connections_and_pending_go_down_again() {
        let page = CounterPage::private();
        let a = page.connection_opened();
        let b = page.connection_opened();
        assert_eq!(page.connections_open(), 2);
        drop(a);
        drop(b);
        assert_eq!(page.connections_open(), 0);
        page.job_queued();
        page.job_left();
        page.job_left();
        assert_eq!(page.pending(), 0);
    }

    #[test]
    fn the_listed_ops_and_outcomes_are_the_protocol_s() {
        use srpy_proto::{Request, Value};
        for name in &OPS[..OPS.len() - 1] {
            let v = Value::map([
                ("t", Value::from("req")),
                ("id", Value::from(1u64)),
                ("op", Value::from(*name)),
            ]);
            // A known op parses, or fails on its missing fields; an unknown
            // one parses as `Op::Unknown`.
            if let Ok(r) = Request::from_value(v) {
                assert_eq!(r.op.known_name(), Some(*name));
            }
        }
        for name in &OUTCOMES[1..OUTCOMES.len() - 1] {
            let kind = ErrorKind::parse(name);
            assert!(!matches!(kind, ErrorKind::Unknown(_)), "{name}");
            assert_eq!(outcome_slot(Err(&kind)), index_of(&OUTCOMES, name));
        }
    }

    #[test]
    fn a_short_page_is_refused() {
        // SAFETY: as in `shared`.
        let raw = unsafe { libc::memfd_create(c"short".as_ptr(), libc::MFD_CLOEXEC) };
        assert!(raw >= 0);
        let err = CounterPage::inherit(raw).unwrap_err();
        assert!(err.to_string().contains("smaller"), "{err}");
    }
}
