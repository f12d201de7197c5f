//! Slow, stalled and flooding clients: nothing they do stalls another
//! client, and nothing they cause grows without bound.

mod common;

use std::time::{Duration, Instant};

use common::{err_info, ok_value, TestServer, Wire};
use srpy_proto::{ErrorKind, Hello, Op, Reply, Value};

/// `eval` of `expr` on `w`, sent and not read.
fn send_eval(w: &mut Wire, expr: &str) -> u64 {
    w.send_op(Op::Eval {
        expr: expr.into(),
        vars: vec![],
    })
}

/// A field of `/proc/<pid>/status` in kB (or a count).
fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

#[test]
fn a_client_that_does_not_read_does_not_stall_others() {
    let server = TestServer::start(1, None, &[]);
    let mut bystander = server.engine(0);
    let mut stalled = server.engine(0);
    // 4 × 8 MiB of results the client never reads: far more than the
    // socket buffers hold.
    for _ in 0..4 {
        send_eval(&mut stalled, "b'x' * (8 << 20)");
    }
    bystander
        .stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    for i in 0..50 {
        assert_eq!(
            ok_value(bystander.eval(&format!("{i} + 1"))),
            Value::Int(i + 1)
        );
    }
    // Before, the first of these waited for the stalled client forever.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(ok_value(bystander.call(Op::Interrupt)), Value::Bool(false));
    drop(stalled);
    assert_eq!(ok_value(bystander.eval("2 + 2")), Value::Int(4));
}

#[test]
fn past_the_output_limit_the_connection_is_closed_and_the_reason_logged() {
    let server = TestServer::start(1, None, &["--max-output-buffer", "1000000"]);
    let mut bystander = server.engine(0);
    let mut stalled = server.engine(0);
    for _ in 0..4 {
        send_eval(&mut stalled, "b'x' * (4 << 20)");
    }
    assert!(
        server.log_shows("output buffer limit exceeded", Duration::from_secs(20)),
        "no log line; log: {}",
        server.log()
    );
    assert!(server.log().contains("limit 1000000"), "{}", server.log());
    assert!(stalled.closed_within(Duration::from_secs(10)));
    assert_eq!(ok_value(bystander.eval("40 + 2")), Value::Int(42));
}

#[test]
fn a_connection_with_too_many_unanswered_requests_is_not_read() {
    let server = TestServer::start(1, None, &["--max-unanswered", "8"]);
    let mut busy = server.engine(0);
    let mut flooder = server.engine(0);
    busy.send_op(Op::Exec {
        code: "import time; time.sleep(1.0)".into(),
        vars: vec![],
    });
    std::thread::sleep(Duration::from_millis(200));
    // 100 `wait`s stay unanswered while the engine is busy; past 8 the
    // engine stops reading, so the `ping` behind them is not answered
    // before the waits are.
    for _ in 0..100 {
        flooder.send_op(Op::Wait { timeout: None });
    }
    let ping = flooder.send_op(Op::Ping);
    let first = flooder.recv_reply().expect("a reply");
    let first_id = first.id().expect("an id");
    assert_ne!(first_id, ping, "the ping overtook the waits");
    assert_eq!(ok_value(first), Value::Bool(true));
    // Then every request is answered.
    let mut ids = vec![first_id];
    while ids.len() < 101 {
        ids.extend(flooder.recv_reply().expect("a reply").id());
    }
    ids.sort_unstable();
    assert_eq!(ids, (1..=ping).collect::<Vec<u64>>());
    assert!(matches!(busy.recv_reply(), Some(Reply::Ok { .. })));
}

#[test]
fn an_unread_ping_flood_stays_bounded() {
    let server = TestServer::start(1, None, &[]);
    let pid = server.engine_pid(0);
    let mut bystander = server.engine(0);
    let rss_before = proc_status(pid, "VmRSS:");
    let mut flooder = server.engine(0);
    flooder
        .stream
        .set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let ping = srpy_proto::frame::encode_frame(&srpy_proto::Request::new(1, Op::Ping).into_value());
    let batch: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 1000)
        .collect();
    let started = Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < Duration::from_secs(3) {
        if flooder.send_bytes(&batch).is_err() {
            break; // the engine stopped reading: backpressure
        }
        sent += 1000;
    }
    assert!(sent > 0);
    assert_eq!(ok_value(bystander.eval("1 + 1")), Value::Int(2));
    let rss_after = proc_status(pid, "VmRSS:");
    let threads = proc_status(pid, "Threads:");
    assert!(
        rss_after < rss_before + 64 * 1024,
        "engine RSS grew from {rss_before} kB to {rss_after} kB after {sent} pings"
    );
    assert!(threads <= 8, "engine has {threads} threads");
}

#[test]
fn handshakes_have_slots_of_their_own_per_address() {
    let server = TestServer::start(
        1,
        None,
        &[
            "--engine-ports",
            "auto",
            "--max-handshakes-per-address",
            "4",
            "--max-handshakes",
            "6",
            "--handshake-timeout",
            "2",
        ],
    );
    let port = server.engine_port(0);
    // Silent handshakes from 127.0.0.2 take its 4 slots.
    let mut silent: Vec<Wire> = (0..4)
        .map(|_| Wire::raw_from([127, 0, 0, 2], port))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // Another address gets in at once.
    let started = Instant::now();
    let mut bystander = server.engine(0);
    assert!(started.elapsed() < Duration::from_secs(1));
    // A fifth from 127.0.0.2 waits, unread, and gets the slot one frees.
    let mut waiter = Wire::raw_from([127, 0, 0, 2], port);
    waiter.send(&Hello::new("srpy-test", vec![]).to_value());
    std::thread::sleep(Duration::from_millis(300));
    drop(silent.remove(0));
    let challenge = waiter.recv().expect("a challenge once a slot frees");
    assert_eq!(
        srpy_proto::handshake::message_type(&challenge),
        Some("challenge")
    );
    // Past the total of 6 (3 + the waiter from .2, 2 from .3), one from .4
    // waits too; with no slot free in time it gets an error and is closed.
    let _more: Vec<Wire> = (0..2)
        .map(|_| Wire::raw_from([127, 0, 0, 3], port))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut over = Wire::raw_from([127, 0, 0, 4], port);
    let e = err_info(over.recv_reply().expect("an error frame"));
    assert!(
        e.kind == ErrorKind::Limit || e.message.contains("handshake not completed"),
        "{e:?}"
    );
    assert!(over.closed_within(Duration::from_secs(5)));
    // Authenticated connections do not count against handshake slots.
    let mut clients: Vec<Wire> = (0..10).map(|_| server.engine(0)).collect();
    assert_eq!(ok_value(clients[9].eval("6 * 7")), Value::Int(42));
    assert_eq!(ok_value(bystander.eval("1 + 1")), Value::Int(2));
}

#[test]
fn a_burst_of_connections_from_one_address_all_get_in() {
    let server = TestServer::start(
        1,
        None,
        &[
            "--engine-ports",
            "auto",
            "--max-handshakes-per-address",
            "2",
        ],
    );
    let port = server.engine_port(0);
    let clients: Vec<_> = (0..40)
        .map(|_| std::thread::spawn(move || Wire::connect(port, None).is_ok()))
        .collect();
    assert!(clients.into_iter().all(|c| c.join().unwrap()));
}

#[test]
fn engines_honour_the_handshake_timeout() {
    let server = TestServer::start(
        1,
        None,
        &["--engine-ports", "auto", "--handshake-timeout", "0.3"],
    );
    let mut w = Wire::raw(server.engine_port(0));
    let started = Instant::now();
    let e = err_info(w.recv_reply().expect("an error frame"));
    assert!(
        e.message.contains("handshake not completed within 0.3 s"),
        "{}",
        e.message
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn idle_connections_are_told_and_closed() {
    let server = TestServer::start(
        1,
        None,
        &["--engine-ports", "auto", "--idle-timeout", "0.5"],
    );
    let port = server.engine_port(0);
    for port in [server.port, port] {
        let mut w = Wire::connect(port, None).unwrap();
        assert_eq!(ok_value(w.call(Op::Ping)), Value::from("pong"));
        let e = err_info(w.recv_reply().expect("a notice"));
        assert_eq!(e.kind, ErrorKind::Limit);
        assert_eq!(
            e.message,
            "connection idle for 0.5 s: closed (reconnect to go on)"
        );
        assert!(w.closed_within(Duration::from_secs(5)));
    }
    // A long request is not idleness.
    let mut w = server.engine(0);
    let reply = w.call(Op::Exec {
        code: "import time; time.sleep(1.2)".into(),
        vars: vec![],
    });
    assert!(matches!(reply, Reply::Ok { .. }), "{reply:?}");
}
