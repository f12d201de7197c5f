//! A reconnecting handle on one address: resolves `srpy://host:port/<i>`
//! through the server's directory, keeps the current connection, and opens
//! a new one on the next call after the old one died.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use srpy_proto::{Op, Role, Value};
use tokio::time::Instant;

use crate::conn::{self, Conn};
use crate::error::{Error, Result};
use crate::options::ConnectOptions;
use crate::server::EngineInfo;
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
        let token = self.token.as_deref();
        let uri = &self.uri;
        let tls = TlsClient::new(&self.opts, uri.tls)?;
        match (self.target, uri.index) {
            (Target::Engine, Some(index)) => self.open_indexed(index, deadline, tls.as_ref()).await,
            (target, _) => {
                let h = conn::handshake(
                    &uri.host,
                    uri.port,
                    token,
                    self.opts.accept_pickle,
                    &uri.to_string(),
                    tls.as_ref(),
                )
                .await?;
                match (target, h.role) {
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
                let label = conn::label(h.role, &h.info, &uri.host, uri.port);
                let mut h = h;
                if let (Some(alloc), Role::Engine) = (&self.opts.recv_alloc, h.role) {
                    h.set_recv_alloc(alloc.clone());
                }
                Ok(Conn::start(h, label))
            }
        }
    }

    /// Engine `index` of the server at `uri`: look it up in the directory
    /// (waiting while it is not alive), then connect to it.
    async fn open_indexed(
        &self,
        index: u64,
        deadline: Instant,
        tls: Option<&TlsClient>,
    ) -> Result<Conn> {
        let token = self.token.as_deref();
        let server_uri = self.uri.server();
        let host = &self.uri.host;
        let h = conn::handshake(
            host,
            self.uri.port,
            token,
            false,
            &server_uri.to_string(),
            tls,
        )
        .await?;
        if h.role != Role::Server {
            return Err(Error::InvalidUri(format!(
                "{server_uri} is an engine, not a server; {} names an engine of a server",
                self.uri
            )));
        }
        let mut engines = EngineInfo::list_from_welcome(&h.info)?;
        let server = Conn::start(h, format!("server at {}", server_uri.authority()));
        let mut last_error = None;
        loop {
            let Some(e) = engines.iter().find(|e| e.index == index) else {
                return Err(Error::NoSuchEngine(format!(
                    "{server_uri} has no engine {index} (it has {})",
                    engines.len()
                )));
            };
            if e.alive {
                let engine_uri = format!(
                    "{} (engine {index} of {server_uri})",
                    authority(host, e.port)
                );
                let pickle = self.opts.accept_pickle;
                match conn::handshake(host, e.port, token, pickle, &engine_uri, tls).await {
                    Ok(mut h) if h.role == Role::Engine => {
                        if let Some(alloc) = &self.opts.recv_alloc {
                            h.set_recv_alloc(alloc.clone());
                        }
                        let label = format!("engine {index} at {}", authority(host, e.port));
                        return Ok(Conn::start(h, label));
                    }
                    Ok(_) => {
                        return Err(Error::Protocol(format!(
                            "the directory of {server_uri} lists port {} for engine {index}, \
                             but a server answers there",
                            e.port
                        )))
                    }
                    // The engine may have died after the directory was
                    // read (and is being restarted): look again.
                    Err(
                        err @ (Error::ServerNotFound { .. } | Error::Io(_) | Error::Protocol(_)),
                    ) if Instant::now() + POLL < deadline => {
                        last_error = Some(err);
                    }
                    Err(err) => return Err(err),
                }
            }
            if Instant::now() + POLL >= deadline {
                return Err(Error::Timeout(format!(
                    "engine {index} of {server_uri} did not become reachable within {:?}{}",
                    self.opts.connect_timeout,
                    last_error.map_or_else(String::new, |e| format!(" (last error: {e})"))
                )));
            }
            tokio::time::sleep(POLL).await;
            let v = server.call(Op::Engines, None, None).await?;
            engines = EngineInfo::list(&v)?;
        }
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
