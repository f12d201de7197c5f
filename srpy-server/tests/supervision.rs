//! Engines as supervised processes: busy engines still answer, interrupts
//! land, dead engines come back, and nothing is left behind on exit.

mod common;

use std::time::{Duration, Instant};

use common::{alive, err_info, ok_value, wait_gone, TestServer};
use srpy_proto::{ErrorKind, Op, Reply, Stream, Value};

#[test]
fn busy_engine_answers_ping_and_is_busy_and_interrupt_keeps_the_namespace() {
    let server = TestServer::start(1, None, &[]);
    let mut worker = server.engine(0);
    ok_value(worker.call(Op::Exec {
        code: "kept = [1, 2, 3]".into(),
        vars: vec![],
    }));
    let busy_id = worker.send_op(Op::Exec {
        code: "while True: pass".into(),
        vars: vec![],
    });
    let mut side = server.engine(0);
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    assert_eq!(ok_value(side.call(Op::Ping)), Value::from("pong"));
    assert_eq!(ok_value(side.call(Op::IsBusy)), Value::Bool(true));
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "immediate ops waited for the busy loop"
    );
    assert_eq!(
        ok_value(side.call(Op::Wait { timeout: Some(0.1) })),
        Value::Bool(false)
    );
    assert_eq!(ok_value(side.call(Op::Interrupt)), Value::Bool(true));
    match worker.recv_reply().unwrap() {
        Reply::Err { id, error } => {
            assert_eq!(id, Some(busy_id));
            assert_eq!(error.kind, ErrorKind::Interrupted);
            assert_eq!(error.remote_type.as_deref(), Some("KeyboardInterrupt"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ok_value(side.call(Op::Wait { timeout: Some(5.0) })),
        Value::Bool(true)
    );
    assert_eq!(ok_value(side.call(Op::IsBusy)), Value::Bool(false));
    assert_eq!(
        ok_value(worker.eval("kept")),
        Value::List(vec![1.into(), 2.into(), 3.into()])
    );
    // Nothing running: an interrupt hits nothing and the next job is clean.
    assert_eq!(ok_value(side.call(Op::Interrupt)), Value::Bool(false));
    assert_eq!(ok_value(worker.eval("sum(kept)")), Value::Int(6));
}

#[test]
fn interrupt_stops_a_blocking_sleep() {
    let server = TestServer::start(1, None, &[]);
    let mut worker = server.engine(0);
    let mut side = server.engine(0);
    let id = worker.send_op(Op::Exec {
        code: "import time; time.sleep(60)".into(),
        vars: vec![],
    });
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    assert_eq!(ok_value(side.call(Op::Interrupt)), Value::Bool(true));
    let e = err_info(worker.recv_reply().unwrap());
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "sleep not interrupted"
    );
    assert_eq!(e.kind, ErrorKind::Interrupted, "request {id}: {e:?}");
    assert_eq!(ok_value(worker.eval("6 * 7")), Value::Int(42));
    assert_eq!(ok_value(side.call(Op::IsBusy)), Value::Bool(false));
}

#[test]
fn requests_from_two_clients_run_in_arrival_order() {
    let server = TestServer::start(1, None, &[]);
    let mut a = server.engine(0);
    let mut b = server.engine(0);
    ok_value(a.call(Op::Exec {
        code: "log = []".into(),
        vars: vec![],
    }));
    let a_id = a.send_op(Op::Exec {
        code: "import time; time.sleep(0.3); log.append('a')".into(),
        vars: vec![],
    });
    std::thread::sleep(Duration::from_millis(50));
    let b_id = b.send_op(Op::Exec {
        code: "log.append('b')".into(),
        vars: vec![],
    });
    assert_eq!(a.recv_reply().unwrap().id(), Some(a_id));
    assert_eq!(b.recv_reply().unwrap().id(), Some(b_id));
    assert_eq!(
        ok_value(a.eval("log")),
        Value::List(vec!["a".into(), "b".into()])
    );
}

#[test]
fn remote_print_streams_back_tagged_with_the_request() {
    let server = TestServer::start(1, None, &[]);
    let mut w = server.engine(0);
    let id = w.send_op(Op::Exec {
        code: "import sys\nprint('hello')\nprint('oops', file=sys.stderr)".into(),
        vars: vec![],
    });
    let mut out = Vec::new();
    loop {
        match w.recv_reply().unwrap() {
            Reply::Output {
                id: oid,
                stream,
                text,
            } => {
                assert_eq!(oid, id);
                out.push((stream, text));
            }
            Reply::Ok { id: rid, .. } => {
                assert_eq!(rid, id);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        out,
        vec![
            (Stream::Stdout, "hello\n".to_string()),
            (Stream::Stderr, "oops\n".to_string())
        ]
    );
}

#[test]
fn killed_engine_is_restarted_fresh_and_others_are_untouched() {
    let server = TestServer::start(2, None, &[]);
    let mut e0 = server.engine(0);
    let mut e1 = server.engine(1);
    ok_value(e0.call(Op::Exec {
        code: "x = 'zero'".into(),
        vars: vec![],
    }));
    ok_value(e1.call(Op::Exec {
        code: "x = 'one'".into(),
        vars: vec![],
    }));
    let old_pid = server.engine_pid(0);
    let in_flight = e0.send_op(Op::Exec {
        code: "import time; time.sleep(30)".into(),
        vars: vec![],
    });
    std::thread::sleep(Duration::from_millis(100));
    unsafe {
        libc::kill(old_pid as i32, libc::SIGKILL);
    }
    // The in-flight request's connection drops at once.
    let t = Instant::now();
    assert!(
        e0.recv_reply().is_none(),
        "request {in_flight} should see the connection drop"
    );
    assert!(t.elapsed() < Duration::from_secs(1));
    // Same index, new process, fresh namespace.
    let st = wait_restarted(&server, 0, old_pid);
    assert_eq!(st.get("restarts"), Some(&Value::Int(1)));
    let mut e0 = server.engine(0);
    let e = err_info(e0.eval("x"));
    assert_eq!(e.remote_type.as_deref(), Some("NameError"));
    assert_eq!(ok_value(e1.eval("x")), Value::from("one"));
}

#[test]
fn os_exit_and_segfault_are_survived() {
    let server = TestServer::start(1, None, &[]);
    for code in [
        "import os; os._exit(3)",
        "import ctypes; ctypes.string_at(0)",
    ] {
        let pid = server.engine_pid(0);
        let mut w = server.engine(0);
        w.send_op(Op::Exec {
            code: code.into(),
            vars: vec![],
        });
        assert!(w.recv_reply().is_none(), "{code}: connection should drop");
        assert!(wait_gone(pid, Duration::from_secs(5)));
        wait_restarted(&server, 0, pid);
        assert_eq!(ok_value(server.engine(0).eval("1 + 1")), Value::Int(2));
    }
}

#[test]
fn restart_op_gives_a_fresh_engine() {
    let server = TestServer::start(1, None, &[]);
    ok_value(server.engine(0).call(Op::Exec {
        code: "y = 1".into(),
        vars: vec![],
    }));
    let pid = server.engine_pid(0);
    assert_eq!(
        ok_value(server.connect().call(Op::Restart { index: 0 })),
        Value::Null
    );
    assert_ne!(server.engine_pid(0), pid);
    let e = err_info(server.engine(0).eval("y"));
    assert_eq!(e.remote_type.as_deref(), Some("NameError"));
    let e = err_info(server.connect().call(Op::Restart { index: 5 }));
    assert_eq!(e.kind, ErrorKind::NoSuchEngine);
}

/// Waits until engine `index` is alive under a pid other than `old_pid`;
/// returns its directory entry.
fn wait_restarted(server: &TestServer, index: usize, old_pid: u32) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = server.engines().swap_remove(index);
        if st.get("alive") == Some(&Value::Bool(true))
            && st.get("pid").and_then(Value::as_i64) != Some(old_pid as i64)
        {
            return st;
        }
        assert!(Instant::now() < deadline, "engine {index} not restarted");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn engine_pids(server: &TestServer, n: usize) -> Vec<u32> {
    (0..n).map(|i| server.engine_pid(i)).collect()
}

#[test]
fn no_engine_left_after_sigterm_sigint_or_sigkill() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGKILL] {
        let mut server = TestServer::start(2, None, &[]);
        let pids = engine_pids(&server, 2);
        assert!(pids.iter().all(|&p| alive(p)));
        // A busy engine must go too.
        let mut w = server.engine(0);
        w.send_op(Op::Exec {
            code: "while True: pass".into(),
            vars: vec![],
        });
        std::thread::sleep(Duration::from_millis(100));
        let status = server.signal_and_wait(sig);
        if sig != libc::SIGKILL {
            assert!(status.success(), "signal {sig}: {status}");
        }
        for pid in pids {
            assert!(
                wait_gone(pid, Duration::from_secs(5)),
                "engine {pid} left behind after signal {sig}"
            );
        }
    }
}

/// Two consecutive free loopback ports (probed; the range is then given to
/// the server, so a race with another process is possible but unlikely).
fn free_port_pair() -> u16 {
    for _ in 0..50 {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no two consecutive free ports");
}

#[test]
fn fixed_engine_ports_are_used_and_kept_across_restarts() {
    let first = free_port_pair();
    let range = format!("{first}-{}", first + 1);
    let server = TestServer::start(2, None, &["--engine-ports", &range]);
    assert_eq!(server.engine_port(0), first);
    assert_eq!(server.engine_port(1), first + 1);
    let old = server.engine_pid(1);
    unsafe {
        libc::kill(old as i32, libc::SIGKILL);
    }
    wait_restarted(&server, 1, old);
    assert_eq!(
        server.engine_port(1),
        first + 1,
        "a restarted engine keeps its port"
    );
    assert_eq!(ok_value(server.engine(1).eval("7 * 6")), Value::Int(42));
}

#[test]
fn engine_ports_range_too_small_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_srpy-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--engines",
            "3",
            "--engine-ports",
            "9100-9101",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--engine-ports 9100-9101 has 2 port(s) for 3 engine(s)"),
        "{stderr}"
    );
}

/// The server's stderr after one `eval` on engine 0, with `options`.
fn log_of_one_eval(options: &[&str]) -> String {
    let dir = common::TempDir::new("log");
    let log = std::fs::File::create(dir.0.join("stderr")).unwrap();
    let uri_file = dir.0.join("uri");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_srpy-server"))
        .args(["--listen", "127.0.0.1:0", "--engines", "1"])
        .args(options)
        .arg("--uri-file")
        .arg(&uri_file)
        .arg("--python")
        .arg(common::python())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !uri_file.exists() {
        assert!(Instant::now() < deadline, "server not ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&uri_file).unwrap();
    let port: u16 = text
        .lines()
        .next()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut server = common::Wire::connect(port, None).unwrap();
    let engines = match server.call(Op::Engines) {
        Reply::Ok {
            value: Value::List(items),
            ..
        } => items,
        other => panic!("{other:?}"),
    };
    assert!(!engines.is_empty());
    let mut e = common::Wire::connect_routed(port, Some(0), None).unwrap();
    assert_eq!(ok_value(e.eval("40 + 2")), Value::Int(42));
    drop(e);
    std::thread::sleep(Duration::from_millis(300));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    child.wait().unwrap();
    std::fs::read_to_string(dir.0.join("stderr")).unwrap()
}

#[test]
fn debug_and_time_log_every_request() {
    let log = log_of_one_eval(&["--debug", "--time"]);
    // The engine's events, re-emitted by the server with its index and pid.
    let start = log
        .lines()
        .find(|l| l.contains("DEBUG srpy_server::engine: request engine=0 pid="));
    assert!(
        start.is_some_and(|l| l.contains("op=\"eval\" id=1")),
        "--debug line missing:\n{log}"
    );
    let done = log
        .lines()
        .find(|l| l.contains("INFO srpy_server::engine: request done engine=0 pid="));
    assert!(
        done.is_some_and(|l| l.contains("op=\"eval\" id=1 outcome=\"ok\" ms=")),
        "--time line missing:\n{log}"
    );
}

#[test]
fn json_logs_are_one_object_per_line_with_the_engine_fields() {
    let log = log_of_one_eval(&["--time", "--log-format", "json"]);
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let done = events
        .iter()
        .find(|e| e["message"] == "request done")
        .unwrap_or_else(|| panic!("no request done event:\n{log}"));
    assert_eq!(done["level"], "INFO");
    assert_eq!(
        (done["engine"].as_u64(), done["op"].as_str()),
        (Some(0), Some("eval"))
    );
    assert_eq!(
        (done["id"].as_u64(), done["outcome"].as_str()),
        (Some(1), Some("ok"))
    );
    assert!(
        done["pid"].as_u64().is_some() && done["ms"].as_f64().is_some(),
        "{done}"
    );
    // Without --debug, the start of a request is not logged.
    assert!(!events.iter().any(|e| e["message"] == "request"), "{log}");
}

/// The `--uri-file` format the README and `--help` document: UTF-8, one
/// address per line ending in a newline, the server first, then each
/// engine in index order; removed when the server stops.
#[test]
fn uri_file_lists_the_server_then_each_engine() {
    let mut server = common::TestServer::start(2, None, &[]);
    let text = std::fs::read_to_string(&server.uri_file).unwrap();
    let base = format!("srpy://127.0.0.1:{}", server.port);
    assert_eq!(text, format!("{base}\n{base}/0\n{base}/1\n"));
    let uri_file = server.uri_file.clone();
    server.signal_and_wait(libc::SIGTERM);
    assert!(!uri_file.exists(), "the uri file outlived the server");
}
