//! Writing whole frames to one connection from any thread.
//!
//! An engine's results are written by the interpreter's main thread
//! directly to the socket (no hand-off to an I/O thread: one less thread
//! wake-up per request on the latency path), while the I/O thread writes
//! its immediate answers (`pong`, `is_busy`, …). A mutex keeps frames
//! whole; the socket stays non-blocking for tokio, so a full send buffer
//! is waited out with `poll(2)`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// Frame writer over a duplicate of a connection's socket descriptor.
pub struct ConnWriter {
    fd: OwnedFd,
    /// Whether a frame is being written. A flag rather than a mutex guard,
    /// so that a write begun on the I/O thread can be finished on another.
    writing: Mutex<bool>,
    written: Condvar,
    broken: AtomicBool,
}

/// The right to write to a connection; released on drop.
struct Turn<'a>(&'a ConnWriter);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl ConnWriter {
    /// Duplicates the socket's descriptor (the tokio half keeps its own).
    pub fn new(socket: &impl AsRawFd) -> io::Result<ConnWriter> {
        // SAFETY: dup of a descriptor we own; the result is owned here.
        let fd = unsafe { libc::fcntl(socket.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ConnWriter {
            // SAFETY: `fd` is a fresh descriptor nobody else owns.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            writing: Mutex::new(false),
            written: Condvar::new(),
            broken: AtomicBool::new(false),
        })
    }

    /// Waits for the turn to write.
    fn acquire(&self) -> Turn<'_> {
        let mut w = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        while *w {
            w = self.written.wait(w).unwrap_or_else(|p| p.into_inner());
        }
        *w = true;
        Turn(self)
    }

    /// Takes the turn to write if nobody has it.
    fn try_acquire(&self) -> bool {
        let mut w = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        !std::mem::replace(&mut *w, true)
    }

    fn release(&self) {
        *self.writing.lock().unwrap_or_else(|p| p.into_inner()) = false;
        self.written.notify_one();
    }

    /// Writes one frame, waiting while the peer's window is full. Errors
    /// mark the connection broken; later writes are dropped (the reader
    /// side sees the close and ends the session).
    pub fn write_frame(&self, frame: &[u8]) {
        let _turn = self.acquire();
        self.write_locked(frame, true);
    }

    /// Writes a frame whose big buffers stay in its value (vectored I/O).
    pub fn write_owned(&self, frame: &srpy_proto::frame::OwnedFrame) {
        let _turn = self.acquire();
        let mut done = 0;
        while done < frame.len() && !self.broken.load(Ordering::Relaxed) {
            let slices = frame.slices(done);
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
            // SAFETY: as above; MSG_NOSIGNAL turns SIGPIPE into EPIPE.
            let n = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
            if n >= 0 {
                done += n as usize;
                continue;
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => self.wait_writable(),
                _ => self.broken.store(true, Ordering::Relaxed),
            }
        }
    }

    /// From async code: writes at once when that cannot block, otherwise
    /// finishes the write on a blocking thread (never blocks the caller, so
    /// it works on any tokio runtime).
    pub fn send_from_async(self: &Arc<Self>, frame: Vec<u8>) {
        if !self.try_acquire() {
            let me = self.clone();
            tokio::task::spawn_blocking(move || me.write_frame(&frame));
            return;
        }
        if self.write_locked(&frame, false) {
            self.release();
            return;
        }
        // Partly written and the socket is full: the turn to write moves
        // with the rest of the frame, so nothing can come in between.
        let done = self.take_progress();
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let turn = Turn(&me);
            me.write_locked(&frame[done..], true);
            drop(turn);
        });
    }

    fn take_progress(&self) -> usize {
        PROGRESS.with(|p| p.replace(0))
    }

    /// Writes `frame` (turn held). With `block`, waits for buffer space;
    /// without, returns `false` after a partial write (progress recorded
    /// in a thread-local for the caller to resume).
    fn write_locked(&self, frame: &[u8], block: bool) -> bool {
        let mut done = 0;
        while done < frame.len() && !self.broken.load(Ordering::Relaxed) {
            let rest = &frame[done..];
            // SAFETY: valid buffer; MSG_NOSIGNAL so a closed peer gives
            // EPIPE instead of killing the process with SIGPIPE.
            let n = unsafe {
                libc::send(
                    self.fd.as_raw_fd(),
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if n >= 0 {
                done += n as usize;
                continue;
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock if !block => {
                    PROGRESS.with(|p| p.set(done));
                    return false;
                }
                io::ErrorKind::WouldBlock => self.wait_writable(),
                _ => self.broken.store(true, Ordering::Relaxed),
            }
        }
        true
    }

    fn wait_writable(&self) {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd. A timeout bounds each wait so a vanished
        // peer is noticed through the next send's error.
        unsafe { libc::poll(&mut pfd, 1, 1000) };
    }
}

thread_local! {
    static PROGRESS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}
