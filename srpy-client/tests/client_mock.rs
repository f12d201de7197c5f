//! The client's connection machinery against an in-process mock server
//! (no Python, no `srpy-server` needed).

#[allow(dead_code)]
mod mock;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mock::MockServer;
use srpy_client::{CallOptions, ConnectOptions, Engine, Error, Op, ServerClient, Stream, Value};

fn opts(token: &[u8]) -> ConnectOptions {
    ConnectOptions::new()
        .token(token.to_vec())
        .connect_timeout(Duration::from_secs(5))
}

fn eval(expr: &str) -> Op {
    Op::Eval {
        expr: expr.into(),
        vars: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_with_token_and_directory_resolution() {
    let srv = MockServer::start(2, Some(b"tok".to_vec())).await;
    let e = Engine::connect(format!("{}/1", srv.uri()), opts(b"tok"))
        .await
        .unwrap();
    assert_eq!(e.index(), Some(1));
    assert_eq!(e.info().get("role"), Some(&Value::from("engine")));
    assert_eq!(e.ping().await.unwrap(), "pong");
    assert_eq!(srv.engines[1].connections.load(Ordering::SeqCst), 1);
    assert_eq!(srv.engines[0].connections.load(Ordering::SeqCst), 0);

    // Bare host:port of the engine itself.
    let direct = format!("127.0.0.1:{}", srv.engines[0].port());
    let d = Engine::connect(direct, opts(b"tok")).await.unwrap();
    assert_eq!(d.index(), Some(0));
    assert_eq!(d.eval("x").await.unwrap(), Value::from("x"));

    let r = Engine::connect(format!("{}/1", srv.uri()), opts(b"bad")).await;
    assert!(matches!(r, Err(Error::Auth(_))), "{r:?}");
    let r = Engine::connect(format!("{}/1", srv.uri()), ConnectOptions::new()).await;
    if std::env::var_os("SRPY_TOKEN").is_none() {
        assert!(
            matches!(r, Err(Error::Auth(ref m)) if m.contains("requires a token")),
            "{r:?}"
        );
    }
    let r = Engine::connect(format!("{}/7", srv.uri()), opts(b"tok")).await;
    assert!(matches!(r, Err(Error::NoSuchEngine(_))), "{r:?}");
    let r = Engine::connect(srv.uri(), opts(b"tok")).await;
    assert!(matches!(r, Err(Error::InvalidUri(_))), "{r:?}");
    let r =
        ServerClient::connect(format!("127.0.0.1:{}", srv.engines[0].port()), opts(b"tok")).await;
    assert!(matches!(r, Err(Error::InvalidUri(_))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_server() {
    let srv = MockServer::start(1, None).await;
    let e = Engine::connect(format!("{}/0", srv.uri()), ConnectOptions::new())
        .await
        .unwrap();
    assert_eq!(e.ping().await.unwrap(), "pong");
    // A token the server does not ask for is harmless.
    let e = Engine::connect(format!("{}/0", srv.uri()), opts(b"x"))
        .await
        .unwrap();
    assert_eq!(e.ping().await.unwrap(), "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_matched_by_id() {
    let srv = MockServer::start(1, None).await;
    let e = Engine::connect(format!("{}/0", srv.uri()), ConnectOptions::new())
        .await
        .unwrap();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..2000 {
        let e = e.clone();
        set.spawn(async move { (i, e.eval(format!("v{i}")).await) });
    }
    while let Some(r) = set.join_next().await {
        let (i, v) = r.unwrap();
        assert_eq!(v.unwrap(), Value::from(format!("v{i}")));
    }
    assert_eq!(srv.engines[0].connections.load(Ordering::SeqCst), 1);
    // Immediate ops overtake queued work.
    let slow = {
        let e = e.clone();
        tokio::spawn(async move { e.eval("sleep:500").await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t0 = Instant::now();
    assert!(e.is_busy().await.unwrap());
    assert_eq!(e.ping().await.unwrap(), "pong");
    assert!(t0.elapsed() < Duration::from_millis(300));
    assert_eq!(slow.await.unwrap().unwrap(), Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_frames_reach_the_right_sink() {
    let srv = MockServer::start(1, None).await;
    let e = Engine::connect(format!("{}/0", srv.uri()), ConnectOptions::new())
        .await
        .unwrap();
    let a: Arc<Mutex<Vec<(Stream, String)>>> = Arc::default();
    let b: Arc<Mutex<Vec<(Stream, String)>>> = Arc::default();
    let (sa, sb) = (a.clone(), b.clone());
    e.set_output_handler(srpy_client::output_sink(move |s, t| {
        sb.lock().unwrap().push((s, t.to_owned()))
    }));
    e.request(
        eval("print:hello\n"),
        CallOptions::new().on_output(move |s, t| sa.lock().unwrap().push((s, t.to_owned()))),
    )
    .await
    .unwrap();
    e.eval("eprint:oops\n").await.unwrap();
    assert_eq!(
        *a.lock().unwrap(),
        vec![(Stream::Stdout, "hello\n".to_string())]
    );
    assert_eq!(
        *b.lock().unwrap(),
        vec![(Stream::Stderr, "oops\n".to_string())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_send_an_interrupt_and_drop_the_late_reply() {
    let srv = MockServer::start(1, None).await;
    let e = Engine::connect(format!("{}/0", srv.uri()), ConnectOptions::new())
        .await
        .unwrap();
    let t0 = Instant::now();
    let r = e
        .request(
            eval("sleep:5000"),
            CallOptions::new().timeout(Duration::from_millis(100)),
        )
        .await;
    assert!(
        matches!(r, Err(Error::Timeout(ref m)) if m.contains("interrupt")),
        "{r:?}"
    );
    assert!(t0.elapsed() < Duration::from_millis(1000));
    // The interrupt ended the sleep: the next request runs at once, and the
    // late (interrupted) reply of the first is not mistaken for it.
    let t1 = Instant::now();
    assert_eq!(e.eval("after").await.unwrap(), Value::from("after"));
    assert!(
        t1.elapsed() < Duration::from_millis(1000),
        "{:?}",
        t1.elapsed()
    );

    // Default call timeout from the options.
    let e2 = Engine::connect(
        format!("{}/0", srv.uri()),
        ConnectOptions::new().default_call_timeout(Some(Duration::from_millis(100))),
    )
    .await
    .unwrap();
    assert!(matches!(
        e2.eval("sleep:5000").await,
        Err(Error::Timeout(_))
    ));
    assert_eq!(e2.eval("ok").await.unwrap(), Value::from("ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_and_remote_errors() {
    let srv = MockServer::start(1, None).await;
    let e = Engine::connect(format!("{}/0", srv.uri()), ConnectOptions::new())
        .await
        .unwrap();
    let e2 = e.clone();
    let busy = tokio::spawn(async move { e2.eval("sleep:10000").await });
    while !e.is_busy().await.unwrap() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(e.interrupt().await.unwrap());
    let r = busy.await.unwrap();
    assert!(matches!(r, Err(Error::Interrupted(_))), "{r:?}");
    let err = e.eval("raise").await.unwrap_err();
    assert_eq!(err.remote_type(), Some("ValueError"));
    assert_eq!(err.to_string(), "ValueError: bad");
    assert!(err.traceback().unwrap().contains("Traceback"));
    let err = e.get("nope").await.unwrap_err();
    assert_eq!(err.remote_type(), Some("NameError"));
    let r = e
        .request(Op::Unknown("teleport".into()), CallOptions::new())
        .await;
    assert!(matches!(r, Err(Error::UnsupportedOp(_))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_death_fails_in_flight_requests_and_reconnects() {
    let srv = MockServer::start(2, Some(b"t".to_vec())).await;
    let e = Engine::connect(format!("{}/0", srv.uri()), opts(b"t"))
        .await
        .unwrap();
    e.set("x", 1).await.unwrap();
    let old_port = srv.engines[0].port();
    let old_pid = e.info().get("pid").cloned();

    // Several requests in flight, queued behind a long one.
    let mut in_flight = Vec::new();
    for i in 0..5 {
        let e = e.clone();
        in_flight.push(tokio::spawn(async move {
            e.eval(if i == 0 {
                "sleep:10000".to_string()
            } else {
                format!("q{i}")
            })
            .await
        }));
        if i == 0 {
            // The long request must reach the engine first: the tasks race.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = Instant::now();
    srv.engines[0].restart(); // the engine process dies
    for h in in_flight {
        let r = h.await.unwrap();
        match r {
            Err(Error::EngineDied(m)) => {
                assert!(m.contains("engine 0") && m.contains("lost"), "{m}")
            }
            other => panic!("expected EngineDied, got {other:?}"),
        }
    }
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());

    // Next call: re-resolved through the directory (new port), waiting for
    // the engine to be alive again; fresh namespace.
    assert_eq!(e.ping().await.unwrap(), "pong");
    assert_ne!(srv.engines[0].port(), old_port);
    assert_ne!(e.info().get("pid").cloned(), old_pid);
    assert!(e.get("x").await.is_err());

    // Restart through the server client.
    let server = ServerClient::connect(srv.uri(), opts(b"t")).await.unwrap();
    let dir = server.engines().await.unwrap();
    assert_eq!(dir.len(), 2);
    assert!(dir.iter().all(|d| d.alive));
    let e1 = server.engine(1).await.unwrap();
    let all = server.connect_all().await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.index()).collect::<Vec<_>>(),
        vec![Some(0), Some(1)]
    );
    e1.set("y", 2).await.unwrap();
    server.restart(1).await.unwrap();
    let dir = server.engines().await.unwrap();
    assert!(!dir[1].alive);
    // The next call waits until engine 1 is alive again.
    let r = e1.get("y").await;
    let r = match r {
        Err(Error::EngineDied(_)) => e1.get("y").await, // raced the restart
        other => other,
    };
    assert!(matches!(r, Err(Error::Remote { .. })), "{r:?}");
    assert_eq!(e1.ping().await.unwrap(), "pong");
    assert!(matches!(
        server.restart(9).await,
        Err(Error::NoSuchEngine(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_direct_engine_reports_not_found() {
    let srv = MockServer::start(1, None).await;
    let direct = format!("127.0.0.1:{}", srv.engines[0].port());
    let e = Engine::connect(direct, ConnectOptions::new())
        .await
        .unwrap();
    let _ = e.eval("die").await;
    // The old port is gone; a direct address is not re-resolved.
    let r = e.ping().await;
    assert!(matches!(r, Err(Error::ServerNotFound { .. })), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_timeout_bounds_waiting_for_a_dead_engine() {
    let srv = MockServer::start(1, None).await;
    let e = Engine::connect(
        format!("{}/0", srv.uri()),
        ConnectOptions::new().connect_timeout(Duration::from_millis(100)),
    )
    .await
    .unwrap();
    let _ = e.eval("die").await;
    // The engine comes back after 150 ms: longer than the connect timeout.
    let t0 = Instant::now();
    let r = e.ping().await;
    assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
    assert!(
        t0.elapsed() < Duration::from_millis(400),
        "{:?}",
        t0.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(e.ping().await.unwrap(), "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_handles_refuse_calls() {
    let srv = MockServer::start(1, None).await;
    let e = Engine::connect(format!("{}/0", srv.uri()), ConnectOptions::new())
        .await
        .unwrap();
    let clone = e.clone();
    e.close();
    assert!(matches!(clone.ping().await, Err(Error::Closed)));
    assert!(!clone.is_connected());
}

#[test]
fn blocking_engine_against_the_mock() {
    // The mock runs on the blocking API's own runtime.
    let rt = srpy_client::blocking::runtime();
    let srv = rt.block_on(MockServer::start(1, None));
    let e =
        srpy_client::blocking::Engine::connect(format!("{}/0", srv.uri()), ConnectOptions::new())
            .unwrap();
    assert_eq!(e.ping().unwrap(), "pong");
    e.set("a", 3).unwrap();
    assert_eq!(e.get("a").unwrap(), Value::Int(3));
    assert_eq!(e.eval("hi").unwrap(), Value::from("hi"));
    let s = srpy_client::blocking::ServerClient::connect(srv.uri(), ConnectOptions::new()).unwrap();
    assert_eq!(s.engines().unwrap().len(), 1);
}
