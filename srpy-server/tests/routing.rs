//! One port per server (docs/PROTOCOL.md 3.1): a real server and real
//! engines, reached through the server's port with the routing preamble.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{ok_value, TestServer, Wire};
use srpy_proto::route::{Code, Target};
use srpy_proto::{Op, Role, Value};

fn pid_of(w: &mut Wire) -> i64 {
    ok_value(w.eval("__import__('os').getpid()"))
        .as_i64()
        .unwrap()
}

/// The inodes of the TCP sockets in LISTEN state (IPv4 and IPv6).
fn listening_inodes() -> HashSet<String> {
    let mut out = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // st 0A: LISTEN; field 9: the socket's inode.
            if f.len() > 9 && f[3] == "0A" {
                out.insert(f[9].to_owned());
            }
        }
    }
    out
}

/// Whether process `pid` holds a listening TCP socket.
fn listens_on_tcp(pid: u32) -> bool {
    let listening = listening_inodes();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .any(|inode| listening.contains(&inode))
}

#[test]
fn every_engine_through_one_port_and_engines_listen_on_no_tcp_port() {
    let server = TestServer::start(3, None, &[]);
    let mut pids = HashSet::new();
    for i in 0..3 {
        let mut e = server.engine(i);
        let info = &e.welcome.as_ref().unwrap().info;
        assert_eq!(info.get("role").and_then(Value::as_str), Some("engine"));
        let pid = pid_of(&mut e);
        assert_eq!(pid as u32, server.engine_pid(i), "engine {i}");
        pids.insert(pid);
        assert!(!listens_on_tcp(pid as u32), "engine {i} listens on TCP");
    }
    assert_eq!(pids.len(), 3);
    assert!(listens_on_tcp(server.pid()), "the server listens");
    // The directory names each engine by the server's port.
    for (i, e) in server.engines().iter().enumerate() {
        assert_eq!(
            e.get("address").and_then(Value::as_str),
            Some(format!("srpy://127.0.0.1:{}/{i}", server.port).as_str())
        );
        assert_eq!(e.get("engine_port"), Some(&Value::Null));
    }
}

#[test]
fn a_routed_connection_authenticates_with_the_engine_itself() {
    let server = TestServer::start(1, Some("s3cret"), &[]);
    let w = Wire::raw_routed(server.port, Some(0));
    let w = w.handshake(Some("s3cret")).expect("right token");
    assert!(!w.welcome.unwrap().proof.is_empty());
    let e = match Wire::connect_routed(server.port, Some(0), Some("wrong")) {
        Err(srpy_proto::Reply::Err { error, .. }) => error,
        other => panic!("expected an auth error, got {:?}", other.map(|_| ())),
    };
    assert_eq!(e.message, "authentication failed: wrong token");
}

#[test]
fn bad_preambles_get_typed_answers_and_never_hurt_other_sessions() {
    let server = TestServer::start(2, None, &[]);
    let mut bystander = server.engine(1);
    ok_value(bystander.eval("globals().setdefault('kept', 7)"));
    let cases: [(&[u8], Code, &str); 4] = [
        (
            b"SRPY\x09\x00\x00\x00\x00",
            Code::Version,
            "routing version 9 is not supported",
        ),
        (
            b"SRPY\x01\x00\x00\x00\x05",
            Code::NoSuchEngine,
            "no engine 5: this server has 2 engine(s)",
        ),
        (
            b"SXYZ\x01\x00\x00\x00\x00",
            Code::BadPreamble,
            "expected the magic \"SRPY\", got 5358595a",
        ),
        (
            b"SRPY\x01\xff\xff\xff\xfe",
            Code::NoSuchEngine,
            "no engine 4294967294",
        ),
    ];
    for (bytes, code, text) in cases {
        let mut w = Wire::raw(server.port);
        w.send_bytes(bytes).unwrap();
        let answer = w.read_answer();
        assert_eq!(answer.code, code, "{answer:?}");
        assert!(answer.message.contains(text), "{answer:?}");
        assert!(w.closed_within(Duration::from_secs(5)));
    }
    assert_eq!(ok_value(bystander.eval("kept")), Value::Int(7));
    let mut again = server.engine(0);
    assert_eq!(ok_value(again.eval("1 + 1")), Value::Int(2));
}

#[test]
fn a_slow_preamble_is_cut_off_by_the_handshake_deadline() {
    let server = TestServer::start(1, None, &["--handshake-timeout", "0.3"]);
    let mut bystander = server.engine(0);
    let started = Instant::now();
    let mut slow = Wire::raw(server.port);
    slow.send_bytes(b"SRP").unwrap();
    let answer = slow.read_answer();
    assert_eq!(answer.code, Code::Limit, "{answer:?}");
    assert!(
        answer.message.contains("not completed in time"),
        "{answer:?}"
    );
    assert!(slow.closed_within(Duration::from_secs(5)));
    assert!(started.elapsed() < Duration::from_secs(3));
    // One that sends nothing gets the handshake's own timeout error.
    let mut silent = Wire::raw(server.port);
    let e = common::err_info(silent.recv_reply().expect("an error frame"));
    assert!(e.message.contains("handshake not completed"), "{e:?}");
    assert_eq!(ok_value(bystander.call(Op::Ping)), Value::from("pong"));
}

#[test]
fn a_client_without_preamble_gets_the_directory() {
    let server = TestServer::start(1, None, &[]);
    let w = Wire::connect(server.port, None).expect("directory");
    let welcome = w.welcome.unwrap();
    assert_eq!(
        welcome.info.get("role").and_then(Value::as_str),
        Some("server")
    );
    // An old client that follows the directory's `port` for an engine
    // reaches the server again: its challenge says role `server`, which a
    // client checks (PROTOCOL.md 4).
    let mut raw = Wire::raw(server.port);
    raw.send(&srpy_proto::Hello::new("old", vec![]).to_value());
    let ch = srpy_proto::Challenge::from_value(raw.recv().unwrap()).unwrap();
    assert_eq!(ch.role, Role::Server);
}

#[test]
fn a_restarted_engine_is_reached_again_and_restarting_is_answered() {
    let server = TestServer::start(2, None, &[]);
    let mut other = server.engine(1);
    let other_pid = pid_of(&mut other);
    let old = server.engine_pid(0);
    unsafe {
        libc::kill(old as i32, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let mut e = loop {
        assert!(Instant::now() < deadline, "engine 0 not back: {seen:?}");
        let mut w = Wire::raw(server.port);
        w.send_bytes(&srpy_proto::route::Preamble::new(Target::Engine(0)).encode())
            .unwrap();
        // Handed to the engine as it died: closed without an answer.
        let Some(answer) = w.try_read_answer() else {
            seen.push("closed without an answer".into());
            continue;
        };
        if answer.code == Code::Ok {
            match w.handshake(None) {
                Ok(w) => break w,
                Err(r) => seen.push(format!("{r:?}")),
            }
        } else {
            assert_eq!(answer.code, Code::EngineRestarting, "{answer:?}");
            assert!(
                answer.message.contains("engine 0 is restarting"),
                "{answer:?}"
            );
            seen.push(answer.message);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let new = pid_of(&mut e);
    assert_ne!(new as u32, old);
    assert!(!seen.is_empty(), "the restart was never observed");
    assert_eq!(pid_of(&mut other), other_pid);
}

#[test]
fn engine_ports_serve_with_and_without_a_preamble() {
    let server = TestServer::start(2, None, &["--engine-ports", "auto"]);
    let port = server.engine_port(1);
    let plain = Wire::connect(port, None).expect("no preamble");
    let info = plain.welcome.unwrap().info;
    assert_eq!(info.get("role").and_then(Value::as_str), Some("engine"));
    for target in [None, Some(1)] {
        let mut w = Wire::connect_routed(port, target, None).expect("routed");
        assert_eq!(ok_value(w.call(Op::Ping)), Value::from("pong"));
    }
    let mut w = Wire::raw(port);
    let answer = w.route(Target::Engine(0));
    assert_eq!(answer.code, Code::NoSuchEngine);
    assert!(
        answer.message.contains("port of engine 1 alone"),
        "{answer:?}"
    );
    // And through the server's port as well.
    let mut e = server.engine(1);
    assert_eq!(pid_of(&mut e) as u32, server.engine_pid(1));
}
