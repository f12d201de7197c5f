//! A handle on a server: its engine directory, restarting engines, and
//! connecting to them.

use std::sync::Arc;

use srpy_proto::{Op, Value};

use crate::endpoint::{Endpoint, Target};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::options::{CallOptions, ConnectOptions};
use crate::uri::{IntoUri, Uri};

/// One entry of a server's engine directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineInfo {
    pub index: u64,
    /// The host the engine listens on, as the server reports it (clients
    /// connect to the host of the server URI they used).
    pub host: String,
    pub port: u16,
    /// The engine's process id, when it has one.
    pub pid: Option<u32>,
    /// Whether the engine is up (false while it is being restarted).
    pub alive: bool,
}

impl EngineInfo {
    /// Parses one directory entry `{"index","host","port","pid","alive"}`.
    pub fn from_value(v: &Value) -> Result<EngineInfo> {
        let bad = |why: &str| Error::Protocol(format!("bad engine directory entry ({why}): {v}"));
        let index = v
            .get("index")
            .and_then(Value::as_i64)
            .and_then(|i| u64::try_from(i).ok())
            .ok_or_else(|| bad("'index'"))?;
        let port = v
            .get("port")
            .and_then(Value::as_i64)
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| bad("'port'"))?;
        let host = v
            .get("host")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let pid = v
            .get("pid")
            .and_then(Value::as_i64)
            .and_then(|p| u32::try_from(p).ok());
        let alive = v.get("alive").and_then(Value::as_bool).unwrap_or(true);
        Ok(EngineInfo {
            index,
            host,
            port,
            pid,
            alive,
        })
    }

    /// Parses a directory: a list of entries.
    pub fn list(v: &Value) -> Result<Vec<EngineInfo>> {
        match v.as_seq() {
            Some(items) => items.iter().map(EngineInfo::from_value).collect(),
            None => Err(Error::unexpected("engines", v)),
        }
    }

    /// The directory in a server's welcome info (`"engines"`).
    pub fn list_from_welcome(info: &Value) -> Result<Vec<EngineInfo>> {
        match info.get("engines") {
            Some(v) => EngineInfo::list(v),
            None => Err(Error::Protocol(
                "the server's welcome has no engine directory".into(),
            )),
        }
    }
}

/// A connection to a server (its directory and supervisor). Cheap to clone;
/// reconnects on the next call after the connection was lost.
#[derive(Clone)]
pub struct ServerClient {
    ep: Arc<Endpoint>,
}

impl ServerClient {
    /// Connects to the server at `uri` (`srpy://host:port`; an engine index
    /// in the URI is ignored).
    pub async fn connect(uri: impl IntoUri, opts: ConnectOptions) -> Result<ServerClient> {
        let ep = Arc::new(Endpoint::new(uri.into_uri()?, opts, Target::Server));
        ep.conn().await?;
        Ok(ServerClient { ep })
    }

    /// The server's address.
    pub fn uri(&self) -> &Uri {
        &self.ep.uri
    }

    /// The options this client connects with (also used for engines).
    pub fn options(&self) -> &ConnectOptions {
        &self.ep.opts
    }

    /// The server's welcome info (`role`, `name`, `group`, `hostname`,
    /// `version`, `engines`).
    pub fn info(&self) -> Value {
        self.ep.info()
    }

    /// Any request to the server.
    pub async fn request(&self, op: Op, opts: CallOptions) -> Result<Value> {
        let timeout = opts.timeout.or(self.ep.opts.default_call_timeout);
        self.ep.call(op, opts.output, timeout).await
    }

    async fn req(&self, op: Op) -> Result<Value> {
        self.request(op, CallOptions::default()).await
    }

    pub async fn ping(&self) -> Result<String> {
        let v = self.req(Op::Ping).await?;
        String::try_from(v).map_err(Error::from)
    }

    pub async fn whoami(&self) -> Result<Value> {
        self.req(Op::Whoami).await
    }

    /// The engine directory, fresh from the server.
    pub async fn engines(&self) -> Result<Vec<EngineInfo>> {
        EngineInfo::list(&self.req(Op::Engines).await?)
    }

    /// Kills and restarts engine `index` (fresh namespace, same index).
    /// Clients connected to it see `EngineDied` and reconnect on their next
    /// call.
    pub async fn restart(&self, index: u64) -> Result<()> {
        self.req(Op::Restart { index }).await.map(drop)
    }

    /// Connects to engine `index` of this server.
    pub async fn engine(&self, index: u64) -> Result<Engine> {
        Engine::connect(self.ep.uri.engine(index), self.ep.opts.clone()).await
    }

    /// Connects to every engine of the server, in index order.
    pub async fn connect_all(&self) -> Result<Vec<Engine>> {
        let engines = self.engines().await?;
        let mut tasks = tokio::task::JoinSet::new();
        for e in &engines {
            let (uri, opts, i) = (self.ep.uri.engine(e.index), self.ep.opts.clone(), e.index);
            tasks.spawn(async move { (i, Engine::connect(uri, opts).await) });
        }
        let mut out = Vec::with_capacity(engines.len());
        while let Some(r) = tasks.join_next().await {
            let (i, e) = r.map_err(|e| Error::Other(format!("connect task failed: {e}")))?;
            out.push((i, e?));
        }
        out.sort_by_key(|(i, _)| *i);
        Ok(out.into_iter().map(|(_, e)| e).collect())
    }

    /// Closes the connection; later calls fail with `Error::Closed`.
    pub fn close(&self) {
        self.ep.close();
    }
}

impl std::fmt::Debug for ServerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerClient")
            .field("uri", &self.ep.uri.to_string())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: i64, port: i64, pid: Value, alive: bool) -> Value {
        Value::map([
            ("index", Value::from(index)),
            ("host", Value::from("127.0.0.1")),
            ("port", Value::from(port)),
            ("pid", pid),
            ("alive", Value::from(alive)),
            ("future_field", Value::from(1)),
        ])
    }

    #[test]
    fn directory_entries_parse() {
        let list = Value::List(vec![
            entry(0, 4000, Value::from(123), true),
            entry(1, 4001, Value::Null, false),
        ]);
        let info = Value::map([("role", Value::from("server")), ("engines", list.clone())]);
        let got = EngineInfo::list_from_welcome(&info).unwrap();
        assert_eq!(got, EngineInfo::list(&list).unwrap());
        assert_eq!(
            got,
            vec![
                EngineInfo {
                    index: 0,
                    host: "127.0.0.1".into(),
                    port: 4000,
                    pid: Some(123),
                    alive: true
                },
                EngineInfo {
                    index: 1,
                    host: "127.0.0.1".into(),
                    port: 4001,
                    pid: None,
                    alive: false
                },
            ]
        );
    }

    #[test]
    fn bad_directories_are_protocol_errors() {
        assert!(matches!(
            EngineInfo::list(&Value::from(1)),
            Err(Error::Protocol(_))
        ));
        assert!(matches!(
            EngineInfo::list(&Value::List(vec![entry(0, 70000, Value::Null, true)])),
            Err(Error::Protocol(m)) if m.contains("'port'")
        ));
        assert!(matches!(
            EngineInfo::list_from_welcome(&Value::map([("role", Value::from("server"))])),
            Err(Error::Protocol(_))
        ));
    }
}
