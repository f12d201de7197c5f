//! SRPy server library: the directory and supervisor behind the
//! `srpy-server` binary, and the network side of every engine.
//!
//! - [`door`]: listener, connection limit and the server side of the
//!   handshake (version negotiation, token challenge–response, deadline,
//!   pre-authentication frame limit). Shared by server and engines.
//! - [`engine_host`]: an engine's I/O threads: decode requests, answer
//!   `ping` / `is_busy` / `interrupt` / `wait` at once, queue the rest for
//!   the interpreter's main thread ([`engine_host::Job`]). Linked into the
//!   Python extension (`srpy-py`), which runs the jobs.
//! - [`supervisor`] (feature `cli`): starts, watches, restarts and stops the
//!   engine processes.
//! - [`directory`] (feature `cli`): the server's own connections: engine
//!   directory, `restart`.
//! - [`cli`] (feature `cli`): the `srpy-server` command line and program,
//!   also run by the Python extension (`python -m srpy.server`).
//! - [`error`]: the crate's `Error` and `Result`.

#[cfg(feature = "cli")]
pub mod cli;
mod conn_writer;
#[cfg(feature = "cli")]
pub mod directory;
pub mod door;
pub mod engine_host;
pub mod error;
#[cfg(feature = "cli")]
pub mod supervisor;

pub use error::{Error, Result};
