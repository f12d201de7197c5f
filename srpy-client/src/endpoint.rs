//! A reconnecting handle on one address: `srpy://host:port/<i>` is engine
//! `i` behind the server's port (routing preamble), a restarting engine is
//! waited for; it keeps the current connection and opens a new one on the
//! next call after the old one died.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use srpy_proto::route;
use srpy_proto::{Op, Role, Value};
use tokio::time::Instant;

use crate::conn::{self, Conn};
use crate::error::{Error, Result};
use crate::options::ConnectOptions;
use crate::tls::TlsClient;
use crate::uri::{authority, Uri};

/// How often an engine that is not alive is looked up again.
const POLL: Duration = Duration::from_millis(50);

/// What the endpoint must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Server,
    Engine,
}

pub(crate) struct Endpoint {
    pub(crate) uri: Uri,
    pub(crate) opts: ConnectOptions,
    token: Option<Vec<u8>>,
    target: Target,
    current: Mutex<Option<Arc<Conn>>>,
    connecting: tokio::sync::Mutex<()>,
    closed: AtomicBool,
}

impl Endpoint {
    pub(crate) fn new(uri: Uri, opts: ConnectOptions, target: Target) -> Endpoint {
        let uri = match target {
            Target::Server => uri.server(),
            Target::Engine => uri,
        };
        Endpoint {
            token: opts.effective_token(),
            uri,
            opts,
            target,
            current: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            closed: AtomicBool::new(false),
        }
    }

    fn current(&self) -> Option<Arc<Conn>> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The live connection, opening a new one when there is none.
    pub(crate) async fn conn(&self) -> Result<Arc<Conn>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if let Some(c) = self.current().filter(|c| c.is_alive()) {
            return Ok(c);
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(c) = self.current().filter(|c| c.is_alive()) {
            return Ok(c);
        }
        let c = Arc::new(self.open().await?);
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(c.clone());
        Ok(c)
    }

    /// The welcome info of the current connection (`Null` when none).
    pub(crate) fn info(&self) -> Value {
        self.current().map_or(Value::Null, |c| c.info.clone())
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.current().is_some_and(|c| c.is_alive())
    }

    /// Drops the connection; later calls fail with [`Error::Closed`].
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    async fn open(&self) -> Result<Conn> {
        let limit = self.opts.connect_timeout;
        let deadline = Instant::now() + limit;
        match tokio::time::timeout_at(deadline, self.open_until(deadline)).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout(format!(
                "connecting to {} did not finish within {limit:?}",
                self.uri
            ))),
        }
    }

    async fn open_until(&self, deadline: Instant) -> Result<Conn> {
        let uri = &self.uri;
        let target = match uri.index {
            Some(i) if self.target == Target::Engine => {
                let index = u32::try_from(i)
                    .ok()
                    .filter(|i| *i != srpy_proto::route::TARGET_HERE)
                    .ok_or_else(|| {
                        Error::NoSuchEngine(format!("{uri}: no engine has index {i}"))
                    })?;
                route::Target::Engine(index)
            }
            _ => route::Target::Here,
        };
        let tls = TlsClient::new(&self.opts, uri.tls)?;
        let mut last_error = None;
        let shown = uri.to_string();
        let h = loop {
            let attempt = conn::handshake(
                &uri.host,
                uri.port,
                target,
                self.token.as_deref(),
                self.opts.accept_pickle,
                &shown,
                tls.as_ref(),
            );
            match attempt.await {
                Ok(h) => break h,
                // `engine_restarting` (or the engine died between the
                // hand-off and the handshake): ask again.
                Err(err @ (Error::EngineDied(_) | Error::Io(_)))
                    if target != route::Target::Here && Instant::now() + POLL < deadline =>
                {
                    last_error = Some(err);
                    tokio::time::sleep(POLL).await;
                }
                Err(err @ Error::EngineDied(_)) => {
                    return Err(Error::Timeout(format!(
                        "{uri} did not become reachable within {:?} ({err})",
                        self.opts.connect_timeout
                    )))
                }
                Err(err) => {
                    return Err(match last_error {
                        Some(last) => Error::Timeout(format!(
                            "{uri} did not become reachable within {:?} (last error: {last}; then: {err})",
                            self.opts.connect_timeout
                        )),
                        None => err,
                    })
                }
            }
        };
        match (self.target, h.role) {
            (Target::Server, Role::Engine) => {
                return Err(Error::InvalidUri(format!(
                    "{uri} is an engine, not a server"
                )))
            }
            (Target::Engine, Role::Server) => {
                return Err(Error::InvalidUri(format!(
                    "{uri} is a server; name one of its engines as {}",
                    uri.engine(0).to_string().replace("/0", "/<index>")
                )))
            }
            _ => {}
        }
        let label = match target {
            route::Target::Engine(i) => format!("engine {i} at {}", authority(&uri.host, uri.port)),
            route::Target::Here => conn::label(h.role, &h.info, &uri.host, uri.port),
        };
        let mut h = h;
        if let (Some(alloc), Role::Engine) = (&self.opts.recv_alloc, h.role) {
            h.set_recv_alloc(alloc.clone());
        }
        Ok(Conn::start(h, label))
    }

    /// A request on the current (or a new) connection.
    pub(crate) async fn call(
        &self,
        op: Op,
        output: Option<crate::options::OutputSink>,
        timeout: Option<Duration>,
    ) -> Result<Value> {
        let c = self.conn().await?;
        c.call(op, output, timeout).await
    }

    /// The label of the current connection, for messages.
    pub(crate) fn label(&self) -> String {
        self.current()
            .map_or_else(|| self.uri.to_string(), |c| c.label().to_owned())
    }
}
