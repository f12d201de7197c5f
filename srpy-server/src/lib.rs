//! SRPy server library: the directory and supervisor behind the
//! `srpy-server` binary, and the network side of every engine.
//!
//! - [`door`]: listener, connection and handshake slots (in all and per
//!   client address), every limit of a server or engine
//!   ([`door::Limits`]), and the server side of the handshake (version
//!   negotiation, token challenge–response, deadline, pre-authentication
//!   frame limit). Shared by server and engines.
//! - [`engine_host`]: an engine's I/O threads: decode requests, answer
//!   `ping` / `is_busy` / `interrupt` / `wait` at once, queue the rest for
//!   the interpreter's main thread ([`engine_host::Job`]); stop reading a
//!   connection with too many unanswered requests; close idle ones. Linked
//!   into the Python extension (`srpy-py`), which runs the jobs.
//! - `conn_writer`: replies written without ever waiting for the peer; what
//!   the socket does not take is queued, up to the output limit, for the
//!   connection's drain task.
//! - [`install_dir`]: an engine's private folder for shipped modules
//!   (random name, mode 0700, never adopted; stale ones swept).
//! - [`supervisor`] (feature `cli`): starts, watches, restarts and stops the
//!   engine processes.
//! - [`directory`] (feature `cli`): the server's own connections: engine
//!   directory, `restart`.
//! - [`error`]: the crate's `Error` and `Result`.

mod conn_writer;
#[cfg(feature = "cli")]
pub mod directory;
pub mod door;
pub mod engine_host;
pub mod error;
pub mod install_dir;
#[cfg(feature = "cli")]
pub mod supervisor;

pub use error::{Error, Result};
