//! An in-process mock of a server and its engines, speaking protocol v1
//! with `srpy_proto`, so the client's connection machinery (handshake,
//! pipelining, output, timeouts, engine death, reconnect through the
//! directory) is tested without Python. The server's port routes
//! connections to its engines (the routing preamble, PROTOCOL.md 3.1): a
//! connection for engine i is served by that engine in-process, as the
//! real server hands the socket to the engine's process.
//!
//! Engine "code" is a tiny language understood by `eval`:
//! `sleep:MS` (interruptible), `print:TEXT` (stdout frame), `eprint:TEXT`,
//! `die` (the engine dies and is restarted on a new port), `raise` (a
//! remote `ValueError`); anything else is echoed back as a string.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use srpy_client::proto::connection::{FrameReader, FrameWriter};
use srpy_client::proto::handshake::{new_nonce, server_proof, verify_client_proof};
use srpy_client::proto::route::{self, Answer, Code, Preamble, Target};
use srpy_client::proto::{
    AuthMethod, AuthReply, Challenge, ErrorInfo, ErrorKind, Feature, Hello, Op, Reply, Request,
    Role, Stream, Value, Welcome,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};

struct Job {
    id: u64,
    op: Op,
    gen: u64,
    out: mpsc::UnboundedSender<Value>,
}

pub struct MockEngine {
    pub index: u64,
    port: AtomicU16,
    alive: AtomicBool,
    pid: AtomicU64,
    gen: watch::Sender<u64>,
    jobs: mpsc::UnboundedSender<Job>,
    busy: AtomicBool,
    interrupt: Notify,
    vars: Mutex<HashMap<String, Value>>,
    pub connections: AtomicU64,
    token: Option<Vec<u8>>,
}

pub struct MockServer {
    pub addr: SocketAddr,
    pub engines: Vec<Arc<MockEngine>>,
    pub token: Option<Vec<u8>>,
}

impl MockServer {
    pub async fn start(n: usize, token: Option<Vec<u8>>) -> Arc<MockServer> {
        let mut engines = Vec::new();
        for i in 0..n {
            engines.push(MockEngine::start(i as u64, token.clone()).await);
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let srv = Arc::new(MockServer {
            addr,
            engines,
            token,
        });
        let s = srv.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move { s.serve(sock).await });
            }
        });
        srv
    }

    pub fn uri(&self) -> String {
        format!("srpy://{}", self.addr)
    }

    fn directory(&self) -> Value {
        Value::List(self.engines.iter().map(|e| e.entry()).collect())
    }

    async fn serve(self: Arc<Self>, mut sock: TcpStream) {
        match read_route(&mut sock).await {
            None => return,
            Some(Target::Here) => answer(&mut sock, Answer::ok()).await,
            Some(Target::Engine(i)) => {
                let refusal = match self.engines.get(i as usize) {
                    None => Answer::refuse(Code::NoSuchEngine, format!("no engine {i}")),
                    Some(e) if e.alive.load(Ordering::SeqCst) => {
                        answer(&mut sock, Answer::ok()).await;
                        let gen = *e.gen.borrow();
                        return e.clone().serve(sock, gen).await;
                    }
                    Some(_) => {
                        Answer::refuse(Code::EngineRestarting, format!("engine {i} is restarting"))
                    }
                };
                return answer(&mut sock, refusal).await;
            }
        }
        let info = Value::map([
            ("role", Value::from("server")),
            ("name", Value::from("mock")),
            ("group", Value::from("default")),
            ("hostname", Value::from("localhost")),
            ("version", Value::from("0")),
            ("engines", self.directory()),
        ]);
        let Some((mut r, mut w)) = handshake(sock, Role::Server, self.token.as_deref(), info).await
        else {
            return;
        };
        while let Ok(Some(v)) = r.read_value().await {
            let Ok(req) = Request::from_value(v) else {
                return;
            };
            let reply = match req.op {
                Op::Ping => Reply::ok(req.id, Value::from("pong")),
                Op::Engines => Reply::ok(req.id, self.directory()),
                Op::Restart { index } => match self.engines.get(index as usize) {
                    Some(e) => {
                        e.restart();
                        Reply::ok(req.id, Value::Null)
                    }
                    None => Reply::err(Some(req.id), ErrorKind::NoSuchEngine, "no such engine"),
                },
                other => Reply::err(
                    Some(req.id),
                    ErrorKind::UnsupportedOp,
                    format!("unsupported op '{}'", other.name()),
                ),
            };
            if w.write_value(&reply.into_value()).await.is_err() {
                return;
            }
        }
    }
}

impl MockEngine {
    async fn start(index: u64, token: Option<Vec<u8>>) -> Arc<MockEngine> {
        let (jobs, rx) = mpsc::unbounded_channel();
        let e = Arc::new(MockEngine {
            index,
            port: AtomicU16::new(0),
            alive: AtomicBool::new(false),
            pid: AtomicU64::new(1000 + index * 100),
            gen: watch::channel(0).0,
            jobs,
            busy: AtomicBool::new(false),
            interrupt: Notify::new(),
            vars: Mutex::default(),
            connections: AtomicU64::new(0),
            token,
        });
        tokio::spawn(e.clone().work(rx));
        e.clone().listen().await;
        e
    }

    fn entry(&self) -> Value {
        Value::map([
            ("index", Value::from(self.index)),
            ("host", Value::from("127.0.0.1")),
            ("port", Value::from(self.port.load(Ordering::SeqCst))),
            ("pid", Value::from(self.pid.load(Ordering::SeqCst))),
            ("alive", Value::from(self.alive.load(Ordering::SeqCst))),
        ])
    }

    pub fn port(&self) -> u16 {
        self.port.load(Ordering::SeqCst)
    }

    async fn listen(self: Arc<Self>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        self.port
            .store(listener.local_addr().unwrap().port(), Ordering::SeqCst);
        self.alive.store(true, Ordering::SeqCst);
        let mut gen = self.gen.subscribe();
        let my_gen = *gen.borrow_and_update();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    a = listener.accept() => {
                        let Ok((mut sock, _)) = a else { return };
                        let e = self.clone();
                        tokio::spawn(async move {
                            match read_route(&mut sock).await {
                                Some(Target::Here) => answer(&mut sock, Answer::ok()).await,
                                Some(Target::Engine(i)) if u64::from(i) == e.index => {
                                    answer(&mut sock, Answer::ok()).await
                                }
                                Some(Target::Engine(_)) => {
                                    let no = Answer::refuse(Code::NoSuchEngine, "not this engine");
                                    return answer(&mut sock, no).await;
                                }
                                None => return,
                            }
                            e.serve(sock, my_gen).await
                        });
                    }
                    _ = gen.changed() => return,
                }
            }
        });
    }

    /// Kills this incarnation (connections close) and starts a new one on
    /// a new port after a short while.
    pub fn restart(self: &Arc<Self>) {
        self.alive.store(false, Ordering::SeqCst);
        self.vars.lock().unwrap().clear();
        self.pid.fetch_add(1, Ordering::SeqCst);
        self.gen.send_modify(|g| *g += 1);
        self.interrupt.notify_waiters();
        let e = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            e.listen().await;
        });
    }

    async fn serve(self: Arc<Self>, sock: TcpStream, my_gen: u64) {
        let info = Value::map([
            ("role", Value::from("engine")),
            ("index", Value::from(self.index)),
            ("pid", Value::from(self.pid.load(Ordering::SeqCst))),
            ("name", Value::from("mock")),
            ("group", Value::from("default")),
            ("hostname", Value::from("localhost")),
        ]);
        let Some((mut r, mut w)) = handshake(sock, Role::Engine, self.token.as_deref(), info).await
        else {
            return;
        };
        self.connections.fetch_add(1, Ordering::SeqCst);
        let (out, mut out_rx) = mpsc::unbounded_channel::<Value>();
        let mut gen = self.gen.subscribe();
        let writer = tokio::spawn(async move {
            while let Some(v) = out_rx.recv().await {
                if w.write_value(&v).await.is_err() {
                    return;
                }
            }
        });
        loop {
            let v = tokio::select! {
                v = r.read_value() => match v { Ok(Some(v)) => v, _ => break },
                _ = gen.changed() => break,
            };
            let req = match Request::from_value(v) {
                Ok(r) => r,
                Err(e) => {
                    let _ = out.send(
                        Reply::err(e.id, ErrorKind::Protocol, e.error.to_string()).into_value(),
                    );
                    continue;
                }
            };
            let id = req.id;
            let immediate = |v: Value| {
                let _ = out.send(Reply::ok(id, v).into_value());
            };
            match req.op {
                Op::Ping => immediate(Value::from("pong")),
                Op::IsBusy => immediate(Value::from(self.busy.load(Ordering::SeqCst))),
                Op::Interrupt => {
                    let was = self.busy.load(Ordering::SeqCst);
                    self.interrupt.notify_waiters();
                    immediate(Value::from(was));
                }
                op => {
                    let _ = self.jobs.send(Job {
                        id,
                        op,
                        gen: my_gen,
                        out: out.clone(),
                    });
                }
            }
        }
        writer.abort();
    }

    async fn work(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Job>) {
        while let Some(job) = rx.recv().await {
            if job.gen != *self.gen.borrow() {
                continue;
            }
            self.busy.store(true, Ordering::SeqCst);
            let reply = self.run(&job).await;
            self.busy.store(false, Ordering::SeqCst);
            if job.gen != *self.gen.borrow() {
                continue; // died meanwhile: no reply
            }
            if let Some(reply) = reply {
                let _ = job.out.send(reply.into_value());
            }
        }
    }

    async fn run(self: &Arc<Self>, job: &Job) -> Option<Reply> {
        let id = job.id;
        let ok = |v| Some(Reply::ok(id, v));
        match &job.op {
            Op::Whoami => ok(Value::map([(
                "pid",
                Value::from(self.pid.load(Ordering::SeqCst)),
            )])),
            Op::Set { vars } => {
                let mut m = self.vars.lock().unwrap();
                for (k, v) in vars {
                    m.insert(k.clone(), v.clone());
                }
                ok(Value::Null)
            }
            Op::Get { name } => match self.vars.lock().unwrap().get(name) {
                Some(v) => ok(v.clone()),
                None => Some(Reply::Err {
                    id: Some(id),
                    error: ErrorInfo::remote(
                        "NameError",
                        format!("name '{name}' is not defined"),
                        "Traceback (most recent call last):\nNameError",
                    ),
                }),
            },
            Op::Wait { .. } => ok(Value::Bool(true)),
            Op::Eval { expr, .. } => {
                if let Some(ms) = expr.strip_prefix("sleep:") {
                    let ms: u64 = ms.parse().unwrap();
                    let interrupted = self.interrupt.notified();
                    let mut gen = self.gen.subscribe();
                    tokio::select! {
                        _ = gen.changed() => None,
                        _ = tokio::time::sleep(Duration::from_millis(ms)) => ok(Value::Null),
                        _ = interrupted => Some(Reply::err(
                            Some(id), ErrorKind::Interrupted, "KeyboardInterrupt")),
                    }
                } else if let Some(t) = expr.strip_prefix("print:") {
                    let _ = job.out.send(
                        Reply::Output {
                            id,
                            stream: Stream::Stdout,
                            text: t.to_owned(),
                        }
                        .into_value(),
                    );
                    ok(Value::Null)
                } else if let Some(t) = expr.strip_prefix("eprint:") {
                    let _ = job.out.send(
                        Reply::Output {
                            id,
                            stream: Stream::Stderr,
                            text: t.to_owned(),
                        }
                        .into_value(),
                    );
                    ok(Value::Null)
                } else if expr == "die" {
                    self.restart();
                    None
                } else if expr == "raise" {
                    Some(Reply::Err {
                        id: Some(id),
                        error: ErrorInfo::remote(
                            "ValueError",
                            "bad",
                            "Traceback ...\nValueError: bad",
                        ),
                    })
                } else {
                    ok(Value::from(expr.as_str()))
                }
            }
            other => Some(Reply::err(
                Some(id),
                ErrorKind::UnsupportedOp,
                format!("unsupported op '{}'", other.name()),
            )),
        }
    }
}

/// The routing preamble of a new connection (PROTOCOL.md 3.1): `Here`
/// when there is none.
async fn read_route(sock: &mut TcpStream) -> Option<Target> {
    let mut first = [0u8; 1];
    if sock.peek(&mut first).await.ok()? == 0 {
        return None;
    }
    if !route::starts_preamble(first[0]) {
        return Some(Target::Here);
    }
    let mut bytes = [0u8; route::PREAMBLE_LEN];
    sock.read_exact(&mut bytes).await.ok()?;
    Some(Preamble::decode(&bytes).ok()?.target)
}

async fn answer(sock: &mut TcpStream, a: Answer) {
    let _ = sock.write_all(&a.encode()).await;
}

type Halves = (
    FrameReader<tokio::net::tcp::OwnedReadHalf>,
    FrameWriter<tokio::net::tcp::OwnedWriteHalf>,
);

async fn handshake(
    sock: TcpStream,
    role: Role,
    token: Option<&[u8]>,
    info: Value,
) -> Option<Halves> {
    sock.set_nodelay(true).ok()?;
    let (r, w) = sock.into_split();
    let (mut r, mut w) = (FrameReader::new(r), FrameWriter::new(w));
    let hello = Hello::from_value(r.read_value().await.ok()??).ok()?;
    assert!(hello.client.starts_with("srpy-rust/"), "{}", hello.client);
    assert!(hello.has(&Feature::Output));
    let nonce = new_nonce();
    let ch = Challenge {
        version: 1,
        role,
        auth: if token.is_some() {
            AuthMethod::Token
        } else {
            AuthMethod::None
        },
        nonce,
        features: vec![Feature::Output],
    };
    w.write_value(&ch.to_value()).await.ok()?;
    let auth = AuthReply::from_value(r.read_value().await.ok()??).ok()?;
    let proof = match token {
        Some(t) => {
            if !verify_client_proof(t, &nonce, &auth.nonce, &auth.proof) {
                let e = Reply::err(None, ErrorKind::Auth, "authentication failed");
                let _ = w.write_value(&e.into_value()).await;
                return None;
            }
            server_proof(t, &nonce, &auth.nonce)
        }
        None => Vec::new(),
    };
    let welcome = Welcome { proof, info };
    w.write_value(&welcome.to_value()).await.ok()?;
    Some((r, w))
}
