//! SRPy wire protocol, version 1.
//!
//! The normative description is `docs/PROTOCOL.md`; this crate is its
//! reference implementation, shared by the server, the engines and every
//! client (no other implementation of the protocol exists in the project).
//!
//! - [`buf`]: byte buffers of values, owned or shared without a copy.
//! - [`value`]: the value model (`Value`, `NdArray`), the value table of docs/PROTOCOL.md.
//! - [`cbor`]: CBOR encoding and strict decoding of values, with the tags.
//! - [`frame`]: length-prefixed frames and the frame-size limit.
//! - [`connection`]: async frame reader/writer over tokio streams
//!   (feature `tokio`, on by default).
//! - [`pool`]: recently freed big buffers, reused by the next receive.
//! - [`handshake`]: `hello` / `challenge` / `auth` / `welcome`, version
//!   negotiation and the token HMAC proofs.
//! - [`route`]: the routing preamble (which service behind a port) and
//!   its answer, sent before TLS and the handshake.
//! - [`ops`]: the operation table (names, fields, where each op runs),
//!   read by every layer.
//! - [`request`]: requests and the operations (`Op`).
//! - [`reply`]: results, typed errors (`ErrorInfo`, `ErrorKind`) and
//!   output frames.
//! - [`tls`]: the connection stream that may be TLS, PEM loading and
//!   certificate fingerprints (feature `tls`).
//! - [`error`]: this crate's `Error` and `Result`.

pub mod buf;
pub mod cbor;
#[cfg(feature = "tokio")]
pub mod connection;
pub mod error;
mod fields;
pub mod frame;
pub mod handshake;
pub mod ops;
pub mod pool;
pub mod reply;
pub mod request;
pub mod route;
#[cfg(feature = "tls")]
pub mod tls;
pub mod value;

pub use buf::Buf;
pub use error::{Error, Result};
pub use handshake::{AuthMethod, AuthReply, Challenge, Feature, Hello, Role, Welcome};
pub use ops::{OpSpec, OPS};
pub use reply::{ErrorInfo, ErrorKind, Reply, Stream};
pub use request::{Op, Request, Vars};
pub use value::{BigInt, DType, NdArray, Order, Value};

/// The version of this crate (reported by `whoami` and the handshake).
pub const SRPY_VERSION: &str = env!("CARGO_PKG_VERSION");
