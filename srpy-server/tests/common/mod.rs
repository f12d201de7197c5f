//! A real `srpy-server` with real CPython engines, and a minimal blocking
//! wire client built on `srpy-proto` alone, for tests that must control
//! every byte (garbage, truncation, replay).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use srpy_proto::handshake::{client_proof, new_nonce};
use srpy_proto::route::{self, Answer, Preamble, Target};
use srpy_proto::{AuthReply, Challenge, Feature, Hello, Op, Reply, Request, Value, Welcome};

/// The interpreter that runs engines: `SRPY_PYTHON`, else the repo's .venv.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("SRPY_PYTHON") {
        return p.into();
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        venv.exists(),
        "no engine interpreter: set SRPY_PYTHON or run scripts/setup.sh to create .venv"
    );
    venv
}

pub struct TestServer {
    pub child: Child,
    pub port: u16,
    pub uri_file: PathBuf,
    pub token: Option<String>,
    _dir: TempDir,
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("srpy-test-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TestServer {
    pub fn start(engines: usize, token: Option<&str>, extra: &[&str]) -> TestServer {
        let dir = TempDir::new("server");
        let uri_file = dir.0.join("uri");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_srpy-server"));
        cmd.args(["--listen", "127.0.0.1:0", "--engines", &engines.to_string()])
            .arg("--uri-file")
            .arg(&uri_file)
            .arg("--python")
            .arg(python())
            .args(extra)
            .env_remove("SRPY_TOKEN")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.0.join("stderr")).unwrap());
        if let Some(t) = token {
            let tf = dir.0.join("token");
            std::fs::write(&tf, t).unwrap();
            cmd.arg("--token-file").arg(&tf);
        }
        let mut child = cmd.spawn().expect("spawn srpy-server");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Ok(s) = std::fs::read_to_string(&uri_file) {
                let first = s.lines().next().unwrap_or_default().to_string();
                break first.rsplit(':').next().unwrap().parse::<u16>().unwrap();
            }
            if let Some(st) = child.try_wait().unwrap() {
                panic!("srpy-server exited early: {st}");
            }
            assert!(Instant::now() < deadline, "srpy-server not ready in 30 s");
            std::thread::sleep(Duration::from_millis(20));
        };
        TestServer {
            child,
            port,
            uri_file,
            token: token.map(str::to_owned),
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server and its engines wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.0.join("stderr")).unwrap_or_default()
    }

    /// Waits until the log contains `needle`; returns whether it did.
    pub fn log_shows(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// A connection to the server (directory) itself.
    pub fn connect(&self) -> Wire {
        Wire::connect(self.port, self.token.as_deref()).expect("server handshake")
    }

    /// The engine directory.
    pub fn engines(&self) -> Vec<Value> {
        let mut w = self.connect();
        match w.call(Op::Engines) {
            Reply::Ok {
                value: Value::List(items),
                ..
            } => items,
            other => panic!("engines: {other:?}"),
        }
    }

    /// The engine's own TCP port: started with `--engine-ports`.
    pub fn engine_port(&self, index: usize) -> u16 {
        let own = self.engines()[index].get("engine_port").cloned();
        own.and_then(|p| p.as_i64())
            .expect("an engine port: start the server with --engine-ports") as u16
    }

    pub fn engine_pid(&self, index: usize) -> u32 {
        self.engines()[index].get("pid").unwrap().as_i64().unwrap() as u32
    }

    /// An authenticated connection to engine `index` through the server's port.
    pub fn engine(&self, index: usize) -> Wire {
        Wire::connect_routed(self.port, Some(index as u32), self.token.as_deref())
            .expect("engine handshake")
    }

    /// Sends a signal to the server and waits for it to exit.
    pub fn signal_and_wait(&mut self, sig: i32) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit after signal {sig}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.split(") ").nth(1).unwrap_or("").starts_with('Z'),
        Err(_) => false,
    }
}

/// Waits until `pid` is gone; returns whether it went in time.
pub fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A blocking protocol client over one TCP connection.
pub struct Wire {
    pub stream: TcpStream,
    pub next_id: u64,
    pub welcome: Option<Welcome>,
}

impl Wire {
    pub fn raw(port: u16) -> Wire {
        Wire::over(TcpStream::connect(("127.0.0.1", port)).unwrap())
    }

    /// A raw connection from the loopback address `from` (e.g. 127.0.0.2),
    /// so that tests can play clients on different addresses.
    pub fn raw_from(from: [u8; 4], port: u16) -> Wire {
        use std::os::fd::FromRawFd;
        let addr = |ip: [u8; 4], port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_be_bytes(ip).to_be(),
            },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: plain socket calls on a descriptor owned here, with
        // sockaddr_in values that live across each call.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0);
            let local = addr(from, 0);
            assert_eq!(
                libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len),
                0
            );
            let remote = addr([127, 0, 0, 1], port);
            let rc = libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len);
            assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
            Wire::over(TcpStream::from_raw_fd(fd))
        }
    }

    fn over(stream: TcpStream) -> Wire {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Wire {
            stream,
            next_id: 1,
            welcome: None,
        }
    }

    /// Sends a routing preamble and reads the answer.
    pub fn route(&mut self, target: Target) -> Answer {
        self.send_bytes(&Preamble::new(target).encode()).unwrap();
        self.read_answer()
    }

    /// Reads a routing answer.
    pub fn read_answer(&mut self) -> Answer {
        self.try_read_answer().expect("a routing answer")
    }

    /// Reads a routing answer; `None` when the connection closed first.
    pub fn try_read_answer(&mut self) -> Option<Answer> {
        let mut head = [0u8; route::ANSWER_HEAD_LEN];
        self.stream.read_exact(&mut head).ok()?;
        let len = Answer::message_len(&head).expect("a routing answer head");
        let mut message = vec![0; len];
        self.stream.read_exact(&mut message).ok()?;
        Some(Answer::decode(&head, &message).unwrap())
    }

    /// A raw connection routed to engine `index` (`None`: the port's own
    /// service) of the server at `port`.
    pub fn raw_routed(port: u16, index: Option<u32>) -> Wire {
        let mut w = Wire::raw(port);
        let target = index.map_or(Target::Here, Target::Engine);
        let answer = w.route(target);
        assert_eq!(answer.code, route::Code::Ok, "{answer:?}");
        w
    }

    /// Routes, connects and completes the handshake; `Err` carries the
    /// peer's error reply.
    pub fn connect_routed(
        port: u16,
        index: Option<u32>,
        token: Option<&str>,
    ) -> Result<Wire, Reply> {
        Wire::raw_routed(port, index).handshake(token)
    }

    /// Connects and completes the handshake without a routing preamble
    /// (a client from before it); `Err` carries the peer's error reply.
    pub fn connect(port: u16, token: Option<&str>) -> Result<Wire, Reply> {
        Wire::raw(port).handshake(token)
    }

    /// Completes the handshake; `Err` carries the peer's error reply.
    pub fn handshake(self, token: Option<&str>) -> Result<Wire, Reply> {
        let mut w = self;
        w.send(&Hello::new("srpy-test", vec![Feature::Output]).to_value());
        let challenge = w.recv().expect("challenge");
        if srpy_proto::handshake::message_type(&challenge) != Some("challenge") {
            return Err(Reply::from_value(challenge).unwrap());
        }
        let challenge = Challenge::from_value(challenge).unwrap();
        let nonce = new_nonce();
        let proof = token.map_or(Vec::new(), |t| {
            client_proof(t.as_bytes(), &challenge.nonce, &nonce)
        });
        w.send(&AuthReply { nonce, proof }.to_value());
        let answer = w.recv().expect("welcome");
        if srpy_proto::handshake::message_type(&answer) != Some("welcome") {
            return Err(Reply::from_value(answer).unwrap());
        }
        w.welcome = Some(Welcome::from_value(answer).unwrap());
        Ok(w)
    }

    pub fn send(&mut self, v: &Value) {
        self.stream
            .write_all(&srpy_proto::frame::encode_frame(v))
            .unwrap();
    }

    pub fn send_bytes(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(b)
    }

    /// The next frame, `None` when the peer closed the connection.
    pub fn recv(&mut self) -> Option<Value> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).ok()?;
        let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut buf).ok()?;
        Some(srpy_proto::cbor::decode(&buf).expect("valid CBOR from the server"))
    }

    pub fn recv_reply(&mut self) -> Option<Reply> {
        self.recv()
            .map(|v| Reply::from_value(v).expect("valid reply"))
    }

    pub fn send_op(&mut self, op: Op) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&Request::new(id, op).into_value());
        id
    }

    /// Sends an op and returns its final reply (output frames skipped).
    pub fn call(&mut self, op: Op) -> Reply {
        let id = self.send_op(op);
        loop {
            let r = self.recv_reply().expect("reply");
            match r {
                Reply::Output { .. } => continue,
                r => {
                    assert_eq!(r.id(), Some(id));
                    return r;
                }
            }
        }
    }

    pub fn eval(&mut self, expr: &str) -> Reply {
        self.call(Op::Eval {
            expr: expr.into(),
            vars: vec![],
        })
    }

    /// Whether the peer has closed the connection (reads until EOF/error).
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        self.stream.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return false
                }
                Err(_) => return true,
            }
        }
    }
}

pub fn ok_value(r: Reply) -> Value {
    match r {
        Reply::Ok { value, .. } => value,
        other => panic!("expected ok, got {other:?}"),
    }
}

pub fn err_info(r: Reply) -> srpy_proto::ErrorInfo {
    match r {
        Reply::Err { error, .. } => error,
        other => panic!("expected an error, got {other:?}"),
    }
}
