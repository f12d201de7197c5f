//! Writing whole frames to one connection from any thread, never blocking.
//!
//! An engine's results are written by the interpreter's main thread
//! directly to the socket when it takes the whole frame (no hand-off to an
//! I/O thread: one less thread wake-up per request on the latency path).
//! What the socket does not take is queued, and the connection's drain task
//! ([`ConnWriter::drain`], on the engine's I/O runtime) writes it as the
//! peer reads. No thread ever waits for a peer: a peer that does not read
//! only grows its own queue, and past the output limit (`--max-output-buffer`,
//! counted beyond the frame being written, so one result of any allowed size
//! always fits) the connection is closed and the reason logged.
//!
//! A queued result may still be leaving when the next job runs, so it
//! stops referring to its value's memory before that job starts
//! ([`ConnWriter::detach_queued`]): zero-copy for a client that reads its
//! result before asking again, one copy of the rest for one that does not.
//!
//! Over TLS the bytes must pass through the TLS session, which the drain
//! task owns: every frame is queued, and the drain task copies it into the
//! TLS stream in chunks (copied under the lock, so `detach_queued` holds).
//! The output limit counts the same: a frame that starts the queue is the
//! one being written.
//!
//! The writer also counts the connection's unanswered requests: a permit of
//! [`ConnWriter::unanswered`] is taken for each request read and given back
//! when its final reply has left (or was dropped with the connection), so the
//! reader stops reading a peer that does not take its answers.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use srpy_proto::frame::OwnedFrame;
use srpy_proto::tls::NetWrite;
use tokio::io::{AsyncWrite, AsyncWriteExt, Interest};
use tokio::sync::{Notify, Semaphore};

/// A frame to write: plain bytes, or one whose big buffers stay in its value.
pub enum Frame {
    Plain(Vec<u8>),
    Owned(OwnedFrame),
}

impl Frame {
    fn len(&self) -> usize {
        match self {
            Frame::Plain(v) => v.len(),
            Frame::Owned(f) => f.len(),
        }
    }

    /// The bytes from `done` on.
    fn slices_from(&self, done: usize) -> Vec<io::IoSlice<'_>> {
        match self {
            Frame::Plain(v) => vec![io::IoSlice::new(&v[done..])],
            Frame::Owned(f) => f.slices(done),
        }
    }

    /// Writes what the socket takes from `done` on; `Ok(n)` bytes written.
    fn send_from(&self, fd: i32, done: usize) -> io::Result<usize> {
        let slices = self.slices_from(done);
        let iov: Vec<libc::iovec> = slices
            .iter()
            .take(512)
            .map(|s| libc::iovec {
                iov_base: s.as_ptr() as *mut libc::c_void,
                iov_len: s.len(),
            })
            .collect();
        // SAFETY: a zeroed msghdr is valid; iov points at live slices.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = iov.len() as _;
        // SAFETY: as above. MSG_NOSIGNAL turns SIGPIPE into EPIPE and
        // MSG_DONTWAIT keeps the call from ever waiting for the peer.
        let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

/// Bytes the TLS drain task takes from the queue at a time.
const TLS_CHUNK: usize = 256 * 1024;

/// A queued frame and how much of it has left.
struct Queued {
    frame: Frame,
    done: usize,
    /// The final reply to a request: gives back an `unanswered` permit.
    answers: bool,
}

#[derive(Default)]
struct Out {
    queue: VecDeque<Queued>,
    /// Unwritten bytes in `queue` after its first frame.
    behind: usize,
    /// Why the connection was closed, once it was.
    closed: Option<String>,
}

/// Frame writer over a duplicate of a connection's socket descriptor.
pub struct ConnWriter {
    fd: OwnedFd,
    /// Frames may be written straight to `fd` (no TLS).
    direct: bool,
    out: Mutex<Out>,
    /// Wakes the drain task when a frame is queued or the writer closes.
    queued: Notify,
    /// Bytes that may wait behind the frame being written.
    limit: usize,
    /// One permit per request that may still be unanswered.
    pub unanswered: Arc<Semaphore>,
    /// Requests read whose final reply is not yet handed to [`Self::send`].
    working: AtomicUsize,
    /// When a frame was last read or a byte last written.
    epoch: Instant,
    last_activity_ms: AtomicU64,
    /// `"[engine 0] 127.0.0.1:5000"`, for the log.
    label: String,
}

impl ConnWriter {
    /// A writer over `socket`, a duplicate of the connection's descriptor
    /// (the tokio half keeps its own). `tls`: the bytes go through the TLS
    /// stream given to [`Self::drain`], never straight to the socket.
    pub fn new(
        socket: OwnedFd,
        tls: bool,
        limit: usize,
        max_unanswered: usize,
        label: String,
    ) -> io::Result<ConnWriter> {
        Ok(ConnWriter {
            fd: socket,
            direct: !tls,
            out: Mutex::new(Out::default()),
            queued: Notify::new(),
            limit,
            unanswered: Arc::new(Semaphore::new(max_unanswered.max(1))),
            working: AtomicUsize::new(0),
            epoch: Instant::now(),
            last_activity_ms: AtomicU64::new(0),
            label,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Out> {
        self.out.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records activity (a frame read, bytes written) for the idle check.
    pub fn touch(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_activity_ms.store(ms, Ordering::Relaxed);
    }

    /// Time since the last activity.
    pub fn idle_for(&self) -> std::time::Duration {
        let last = self.last_activity_ms.load(Ordering::Relaxed);
        self.epoch
            .elapsed()
            .saturating_sub(std::time::Duration::from_millis(last))
    }

    /// A request was read; its final reply will come through [`Self::send`].
    pub fn begin(&self) {
        self.working.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests read and not yet answered (their replies not yet sent).
    pub fn working(&self) -> usize {
        self.working.load(Ordering::Relaxed)
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed.is_some()
    }

    /// Writes `frame` at once as far as the socket takes it and queues the
    /// rest; never waits. `answers`: it is the final reply to a request.
    /// Returns whether part of the frame stays queued.
    pub fn send(&self, frame: Frame, answers: bool) -> bool {
        if answers {
            let _ = self
                .working
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
        let mut out = self.lock();
        if out.closed.is_some() {
            drop(out);
            self.answered(answers);
            return false;
        }
        let mut done = 0;
        if out.queue.is_empty() && self.direct {
            while done < frame.len() {
                match frame.send_from(self.fd.as_raw_fd(), done) {
                    Ok(n) => done += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        self.close_locked(&mut out, format!("write failed: {e}"), false);
                        drop(out);
                        self.answered(answers);
                        return false;
                    }
                }
            }
            if done > 0 {
                self.touch();
            }
            if done == frame.len() {
                drop(out);
                self.answered(answers);
                return false;
            }
        } else if !out.queue.is_empty() {
            // Behind the frame being written. A frame that starts an empty
            // queue (over TLS, every frame does) is the one being written:
            // the limit bounds what waits behind it, never the reply
            // itself, so a reply of any size leaves as in plaintext.
            out.behind += frame.len();
        }
        out.queue.push_back(Queued {
            frame,
            done,
            answers,
        });
        if out.behind > self.limit {
            let reason = format!(
                "output buffer limit exceeded ({} bytes queued behind the frame being \
                 written, limit {}): the client does not read its replies",
                out.behind, self.limit
            );
            self.close_locked(&mut out, reason, true);
            return false;
        }
        drop(out);
        self.queued.notify_one();
        true
    }

    /// Copies the unwritten rest of every queued frame that still refers to
    /// its value's memory, which the next job may change (a numpy array).
    pub fn detach_queued(&self) {
        let mut out = self.lock();
        for q in out.queue.iter_mut() {
            if let Frame::Owned(f) = &q.frame {
                let mut rest = Vec::with_capacity(f.len() - q.done);
                for s in f.slices(q.done) {
                    rest.extend_from_slice(&s);
                }
                q.frame = Frame::Plain(rest);
                q.done = 0;
            }
        }
    }

    fn answered(&self, answers: bool) {
        if answers {
            self.unanswered.add_permits(1);
        }
    }

    /// Closes the connection (both directions; the reader sees the end) and
    /// drops what is queued. `log`: say why at warning level (else debug).
    pub fn close(&self, reason: String, log: bool) {
        let mut out = self.lock();
        self.close_locked(&mut out, reason, log);
    }

    fn close_locked(&self, out: &mut Out, reason: String, log: bool) {
        if out.closed.is_some() {
            return;
        }
        // The reason goes in the message: engines' events reach the
        // server's log through `logging::forward_engine_line`, which keeps
        // the message and a fixed set of fields.
        if log {
            tracing::warn!(peer = %self.label, "connection closed: {reason}");
        } else {
            tracing::debug!(peer = %self.label, "connection closed: {reason}");
        }
        out.closed = Some(reason);
        let answers = out.queue.drain(..).filter(|q| q.answers).count();
        out.behind = 0;
        self.unanswered.add_permits(answers);
        // SAFETY: shutdown of a descriptor we own; bytes the kernel already
        // holds are still sent before the FIN.
        unsafe { libc::shutdown(self.fd.as_raw_fd(), libc::SHUT_RDWR) };
        self.queued.notify_one();
    }

    /// Writes queued frames until the queue is empty (`Ok`), the socket is
    /// full (`WouldBlock`) or the connection is closed (another error).
    fn flush(&self) -> io::Result<()> {
        let mut out = self.lock();
        loop {
            if out.closed.is_some() {
                return Err(io::ErrorKind::NotConnected.into());
            }
            let Some(head) = out.queue.front_mut() else {
                return Ok(());
            };
            match head.frame.send_from(self.fd.as_raw_fd(), head.done) {
                Ok(n) => {
                    head.done += n;
                    self.touch();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(e),
                Err(e) => {
                    self.close_locked(&mut out, format!("write failed: {e}"), false);
                    return Err(e);
                }
            }
            self.pop_written(&mut out);
        }
    }

    /// Drops the first queued frame once all of it has left; the next one
    /// becomes the frame being written (no longer counted as behind).
    fn pop_written(&self, out: &mut Out) {
        let Some(head) = out.queue.front() else {
            return;
        };
        if head.done < head.frame.len() {
            return;
        }
        let answers = head.answers;
        out.queue.pop_front();
        let next = out.queue.front().map_or(0, |q| q.frame.len() - q.done);
        out.behind -= next;
        self.answered(answers);
    }

    /// The drain task: writes queued frames as the peer reads, until the
    /// writer is closed. Owns the socket's write half (dropping it at the
    /// end shuts down the sending side).
    pub async fn drain(self: Arc<Self>, socket: NetWrite) {
        let socket = match socket {
            NetWrite::Plain(socket) => socket,
            tls => return self.drain_through(tls).await,
        };
        let stream = socket.as_ref();
        loop {
            self.queued.notified().await;
            loop {
                // `try_io` clears tokio's readiness on `WouldBlock`, so the
                // next `writable` waits for the peer to read.
                match stream.try_io(Interest::WRITABLE, || self.flush()) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        tokio::select! {
                            ready = stream.writable() => if ready.is_err() { return },
                            // Closed meanwhile (the next flush says so).
                            _ = self.queued.notified() => {}
                        }
                    }
                    Err(_) => return,
                }
            }
        }
    }

    /// The drain task over TLS: copies queued bytes, a chunk at a time,
    /// into `stream` (which encrypts and writes them as the peer reads).
    async fn drain_through(self: Arc<Self>, mut stream: impl AsyncWrite + Unpin) {
        let mut chunk = Vec::with_capacity(TLS_CHUNK);
        loop {
            chunk.clear();
            if self.take_chunk(&mut chunk).is_err() {
                return;
            }
            if chunk.is_empty() {
                if stream.flush().await.is_err() {
                    return self.close("write failed".into(), false);
                }
                self.queued.notified().await;
                continue;
            }
            if let Err(e) = stream.write_all(&chunk).await {
                return self.close(format!("write failed: {e}"), false);
            }
            self.touch();
        }
    }

    /// Moves up to [`TLS_CHUNK`] queued bytes into `chunk`; `Err` once closed.
    fn take_chunk(&self, chunk: &mut Vec<u8>) -> Result<(), ()> {
        let mut out = self.lock();
        if out.closed.is_some() {
            return Err(());
        }
        while chunk.len() < TLS_CHUNK {
            let Some(head) = out.queue.front_mut() else {
                break;
            };
            let room = TLS_CHUNK - chunk.len();
            for s in head.frame.slices_from(head.done) {
                let n = s.len().min(TLS_CHUNK - chunk.len());
                chunk.extend_from_slice(&s[..n]);
                if chunk.len() == TLS_CHUNK {
                    break;
                }
            }
            let taken = room - (TLS_CHUNK - chunk.len());
            head.done += taken;
            self.pop_written(&mut out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_tls_the_limit_counts_only_what_waits_behind_the_frame_being_written() {
        let (socket, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let w = ConnWriter::new(socket.into(), true, 10, 4, "test".into()).unwrap();
        // A frame over the limit on its own is the one being written.
        assert!(w.send(Frame::Plain(vec![0; 100]), true));
        assert!(!w.is_closed());
        assert!(w.send(Frame::Plain(vec![0; 10]), false));
        assert!(!w.is_closed());
        // 11 bytes behind it: over the limit of 10.
        assert!(!w.send(Frame::Plain(vec![0; 1]), false));
        assert!(w.is_closed());
    }
}
