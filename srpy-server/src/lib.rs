//! SRPy server library: the directory and supervisor behind the
//! `srpy-server` binary, and the network side of every engine.
//!
//! - [`door`]: listener, connection and handshake slots (in all and per
//!   client address), every limit of a server or engine
//!   ([`door::Limits`]), and the server side of the handshake (version
//!   negotiation, token challenge–response, deadline, pre-authentication
//!   frame limit). Shared by server and engines.
//! - [`routing`]: one port per server: the routing preamble at a door,
//!   and handing accepted sockets to engine processes (SCM_RIGHTS over a
//!   Unix socket pair per engine), so no relay sits on the data path.
//! - [`tls`]: the TLS step after the routing preamble and before the
//!   handshake (certificate and key, `--tls auto`, mutual TLS, telling TLS
//!   and plaintext peers apart); terminated by the process that serves the
//!   connection (the directory, or the engine it was handed to).
//! - [`counters`]: an engine's request, byte, connection and refusal
//!   counters, in a memory page the supervisor shares with the engine
//!   process (read for `--metrics` without asking the engine).
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
//! - [`metrics`] (feature `cli`): `--metrics`, Prometheus text on
//!   `/metrics` and `/healthz`, read from the supervisor and the engines'
//!   counter pages at each scrape.
//! - [`directory`] (feature `cli`): the server's own connections: engine
//!   directory, `restart`.
//! - [`logging`]: the `tracing` subscribers of the server and of engines,
//!   and the re-emission of engines' log lines in the server's log.
//! - [`launched`] (feature `cli`): a server started by a launcher over
//!   ssh or Slurm: the token on stdin, stop when stdin closes.
//! - [`cli`] (feature `cli`): the `srpy-server` command line and program,
//!   also run by the Python extension (`python -m srpy.server`).
//! - [`error`]: the crate's `Error` and `Result`.

#[cfg(feature = "cli")]
pub mod cli;
mod conn_writer;
pub mod counters;
#[cfg(feature = "cli")]
pub mod directory;
pub mod door;
pub mod engine_host;
pub mod error;
pub mod install_dir;
#[cfg(feature = "cli")]
pub mod launched;
pub mod logging;
#[cfg(feature = "cli")]
pub mod metrics;
pub mod routing;
#[cfg(feature = "cli")]
pub mod supervisor;
pub mod tls;

pub use error::{Error, Result};
