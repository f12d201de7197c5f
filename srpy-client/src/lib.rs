//! Native Rust client of SRPy: control remote Python engines.
//!
//! ```no_run
//! # async fn demo() -> srpy_client::Result<()> {
//! use srpy_client::{ConnectOptions, Engine, Value};
//! let eng = Engine::connect("srpy://127.0.0.1:7000/0", ConnectOptions::default()).await?;
//! eng.set("x", 21).await?;
//! assert_eq!(eng.eval("x * 2").await?, Value::Int(42));
//! let sqrt = eng.function("math.sqrt");
//! println!("{}", sqrt.call(vec![Value::from(2.0)]).await?);
//! # Ok(()) }
//! ```
//!
//! # Map of the crate
//!
//! - [`uri`]: `srpy://host:port` (a server) and `srpy://host:port/<index>`
//!   (one of its engines), `srpys://` for TLS; bare `host:port`; IPv6 as
//!   `[::1]:port`.
//! - [`options`]: [`ConnectOptions`] (token, TLS, connect timeout, default
//!   call timeout), [`CallOptions`] (per-call timeout and output sink),
//!   [`OutputSink`].
//! - `conn` (private): one authenticated TCP connection (`TCP_NODELAY`):
//!   handshake (hello → challenge → auth → welcome, HMAC token proofs), a
//!   writer task fed by a channel of encoded frames, a reader task
//!   dispatching replies by request id to waiting callers, so many requests
//!   are in flight on one connection (pipelining). A lost connection fails
//!   every request in flight with [`Error::EngineDied`] at once.
//! - `route` (private): the routing preamble sent on a new connection,
//!   before TLS and the handshake: the server itself, or engine `<index>`
//!   behind the server's one port.
//! - `tls` (private): the TLS step between the routing preamble and the
//!   handshake (`srpys://` or any `tls_*` option): the server verified by
//!   CA file or pinned fingerprint, a client certificate for mutual TLS,
//!   errors that name the cause.
//! - `endpoint` (private): a reconnecting handle on one address; waits for
//!   restarting engines, reconnects on the next call after a loss.
//! - [`engine`]: [`Engine`], one typed async method per operation
//!   (`ping`, `set`, `get`, `eval`, `exec`, `vexec`, `call`, `install_*`,
//!   `interrupt`, …) plus the generic [`Engine::request`];
//!   [`RemoteFunction`]; [`Benchmark`].
//! - [`engbox`]: [`EngBox`], many engines (of one or several servers) used
//!   together — the only box: the CPython, Java and Jython boxes wrap it.
//!   `mrs`, `mrp` (returns at once; [`MultiRun::wait`] is `mrpwait`),
//!   dead-engine state and checks, search, benchmarks, load-balanced
//!   [`EngBox::map`] / [`EngBox::imap`], scatter/gather.
//! - [`server`]: [`ServerClient`] (directory, restart, connecting to the
//!   engines) and [`EngineInfo`].
//! - [`typed`]: serde ⇄ [`Value`] ([`to_value`], [`from_value`],
//!   [`Engine::get_as`], [`Engine::set_as`]).
//! - [`cluster`]: [`Cluster`], `srpy-server`s started on other hosts over
//!   ssh or with Slurm (token on the launcher's stdin, no orphans), and a
//!   box of their engines.
//! - [`local`]: [`LocalServer`], a private `srpy-server` subprocess.
//! - [`blocking`]: the same API without async, on a process-wide runtime
//!   driven by the threads that wait on it.
//! - [`error`]: [`Error`] (one variant per wire error kind and the client's
//!   own) and [`Result`].
//! - [`panic`]: panic barriers for the language bindings (a panic becomes
//!   an error value).
//!
//! The protocol itself (values, frames, messages) is `srpy_proto`, re-exported
//! as [`proto`]; its [`Value`], [`Op`], [`Vars`] and [`Stream`] are
//! re-exported here.

mod conn;
mod endpoint;
mod route;
mod tls;

pub mod blocking;
pub mod cluster;
pub mod engbox;
pub mod engine;
pub mod error;
pub mod local;
pub mod options;
pub mod panic;
pub mod server;
pub mod typed;
pub mod uri;

pub use cluster::{Cluster, ClusterServer, HostFailure, LaunchError, SlurmOptions, SshOptions};
pub use engbox::{
    Basis, BoxResults, EngBox, MapError, MapOptions, MapOutput, MapReport, MapStream, MapTask,
    MultiRun,
};
pub use engine::{vars, Benchmark, Engine, RemoteFunction};
pub use error::{Error, Result};
pub use local::{find_server_bin, LocalServer, LocalServerOptions};
pub use options::{discard_sink, output_sink, stdio_sink, CallOptions, ConnectOptions, OutputSink};
pub use server::{EngineInfo, ServerClient};
pub use typed::{from_value, to_value};
pub use uri::{IntoUri, Uri};

pub use srpy_proto as proto;

/// The README's Rust example, run as a doctest by `scripts/doc_examples.py`
/// (`--cfg srpy_readme`) with a server on 127.0.0.1:7733.
#[cfg(all(doctest, srpy_readme))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;
pub use srpy_proto::{DType, ErrorKind, NdArray, Op, Order, Stream, Value, Vars};
