//! The server's own connections: the engine directory and supervisor ops.
//!
//! Clients come here first, read the directory in the `welcome`, then talk
//! to each engine directly (no relay on the data path). Requests here are
//! few: `ping`, `whoami`, `engines`, `restart`.

use std::sync::Arc;
use std::time::Duration;

use srpy_proto::frame::encode_frame;
use srpy_proto::request::RequestError;
use srpy_proto::{ErrorKind, Op, Reply, Request, Value};

use crate::door::{self, Limits, Session};
use crate::supervisor::Supervisor;

/// Static facts about this server, for `whoami` and the welcome.
#[derive(Clone, Debug)]
pub struct ServerInfo {
    pub name: String,
    pub group: String,
    pub hostname: String,
}

/// The `info` of the server's welcome: who it is and its engines.
pub fn welcome_info(info: &ServerInfo, sup: &Supervisor) -> Value {
    Value::map([
        ("role", Value::from("server")),
        ("name", Value::from(info.name.as_str())),
        ("group", Value::from(info.group.as_str())),
        ("hostname", Value::from(info.hostname.as_str())),
        ("version", Value::from(srpy_proto::SRPY_VERSION)),
        ("pid", Value::from(std::process::id())),
        ("engines", sup.directory()),
    ])
}

/// Serves one authenticated client of the server, one request at a time
/// (a client that does not read its replies stalls only itself). A client
/// idle for `idle_timeout` is told so and closed; so is one that takes no
/// reply for as long.
pub async fn serve_connection(
    mut session: Session,
    info: Arc<ServerInfo>,
    sup: Arc<Supervisor>,
    limits: Arc<Limits>,
) {
    let idle_timeout = limits.idle_timeout;
    loop {
        let read = tokio::time::timeout(idle_timeout, session.reader.read_value()).await;
        let Ok(read) = read else {
            let frame = encode_frame(&door::idle_notice(&limits).0.into_value());
            let write = session.writer.write_encoded(&frame);
            let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
            return;
        };
        let value = match read {
            Ok(Some(v)) => v,
            Ok(None) => return,
            Err(e) => {
                let kind = match e {
                    srpy_proto::Error::FrameTooLarge { .. } => ErrorKind::Limit,
                    _ => ErrorKind::Protocol,
                };
                let _ = session
                    .writer
                    .write_encoded(&encode_frame(
                        &Reply::err(None, kind, e.to_string()).into_value(),
                    ))
                    .await;
                return;
            }
        };
        let reply = match Request::from_value(value) {
            Ok(req) => answer(req, &info, &sup).await,
            Err(RequestError { id, error }) => {
                let fatal = id.is_none();
                let r = Reply::err(id, ErrorKind::Protocol, error.to_string());
                let _ = session
                    .writer
                    .write_encoded(&encode_frame(&r.into_value()))
                    .await;
                if fatal {
                    return;
                }
                continue;
            }
        };
        let frame = encode_frame(&reply.into_value());
        let write = session.writer.write_encoded(&frame);
        if !matches!(tokio::time::timeout(idle_timeout, write).await, Ok(Ok(_))) {
            return;
        }
    }
}

async fn answer(req: Request, info: &ServerInfo, sup: &Supervisor) -> Reply {
    let id = req.id;
    match req.op {
        Op::Ping => Reply::ok(id, Value::from("pong")),
        Op::Whoami => Reply::ok(id, welcome_info(info, sup)),
        Op::Engines => Reply::ok(id, sup.directory()),
        Op::Restart { index } => {
            if index as usize >= sup.len() {
                return Reply::err(
                    Some(id),
                    ErrorKind::NoSuchEngine,
                    format!("no engine {index}: this server has {} engine(s)", sup.len()),
                );
            }
            match sup.restart(index as usize, Duration::from_secs(30)).await {
                Ok(()) => Reply::ok(id, Value::Null),
                Err(e) => Reply::err(Some(id), ErrorKind::EngineDied, e.to_string()),
            }
        }
        Op::Unknown(name) => Reply::err(Some(id), ErrorKind::UnsupportedOp, format!("unsupported op '{name}'")),
        op => Reply::err(
            Some(id),
            ErrorKind::UnsupportedOp,
            format!(
                "op '{}' is served by engines, not by the server: connect to srpy://host:port/<index>",
                op.name()
            ),
        ),
    }
}
