//! The blocking API's runtime against a real `srpy-server`: the waiting
//! thread reads its own reply, spawned work runs without any waiting
//! thread, and many threads share the runtime.

mod common;

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use srpy_client::blocking::{runtime, LocalServer};
use srpy_client::{output_sink, CallOptions, Op, Value};

fn start(test: &str, engines: usize) -> Option<LocalServer> {
    let opts = common::options(test, engines)?;
    match LocalServer::start(opts) {
        Ok(s) => Some(s),
        Err(e) if common::engines_unavailable(test, &e) => None,
        Err(e) => panic!("{test}: cannot start srpy-server: {e}"),
    }
}

// One test running the cases one after the other: the runtime is
// process-wide, and the first case needs to be its only user.
#[test]
fn blocking_runtime() {
    let Some(srv) = start("blocking_runtime", 2) else {
        return;
    };
    the_waiting_thread_reads_its_own_reply(&srv);
    spawned_work_runs_with_no_thread_waiting(&srv);
    many_threads_share_the_runtime(&srv);
}

fn the_waiting_thread_reads_its_own_reply(srv: &LocalServer) {
    let eng = srv.connect(0).unwrap();
    // Output frames are handled by the connection's reader, on whichever
    // thread drives the runtime: for a blocking call, the caller itself (no
    // hand-off between a runtime worker and the caller).
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let opts = CallOptions {
        output: Some(output_sink(move |_, _| {
            record.lock().unwrap().push(std::thread::current().id());
        })),
        ..Default::default()
    };
    for _ in 0..20 {
        eng.request(
            Op::Exec {
                code: "print('x', flush=True)".into(),
                vars: Default::default(),
            },
            opts.clone(),
        )
        .unwrap();
    }
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty(), "no output arrived");
    let me = std::thread::current().id();
    assert!(
        seen.iter().all(|t| *t == me),
        "output read on another thread than the caller's: {seen:?} (caller {me:?})"
    );
}

fn spawned_work_runs_with_no_thread_waiting(srv: &LocalServer) {
    let eng = srv.connect(0).unwrap();
    assert_eq!(eng.eval("1+1").unwrap(), Value::Int(2));
    // Right after a blocking call, and again after a pause: nobody calls
    // `block_on`, the background thread must drive the requests.
    for pause in [Duration::ZERO, Duration::from_millis(50)] {
        std::thread::sleep(pause);
        let (tx, rx) = mpsc::channel();
        for i in 0..5i64 {
            let eng = eng.as_async().clone();
            let tx = tx.clone();
            runtime().spawn(async move {
                let _ = tx.send((i, eng.eval(format!("{i} * 7")).await));
            });
        }
        drop(tx);
        let mut got: Vec<(i64, Value)> = rx
            .iter()
            .map(|(i, r)| (i, r.unwrap()))
            .take(5)
            .collect::<Vec<_>>();
        got.sort_by_key(|(i, _)| *i);
        let want: Vec<(i64, Value)> = (0..5).map(|i| (i, Value::Int(i * 7))).collect();
        assert_eq!(got, want, "after a pause of {pause:?}");
    }
    // A spawned request is on the wire when `spawn` returns: a later
    // blocking call runs after it.
    eng.exec("log = []").unwrap();
    for i in 0..20i64 {
        let eng = eng.as_async().clone();
        runtime().spawn(async move { eng.exec(format!("log.append({i})")).await });
    }
    let log = eng.eval("log").unwrap();
    assert_eq!(log, Value::List((0..20i64).map(Value::Int).collect()));
    // A spawned long call keeps the background thread driving; a blocking
    // caller arriving meanwhile takes the runtime over and is answered.
    let (tx, rx) = mpsc::channel();
    let slow = eng.as_async().clone();
    runtime().spawn(async move {
        let _ = tx.send(slow.eval("__import__('time').sleep(0.3) or 'slow'").await);
    });
    let other = srv.connect(0).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    for i in 0..50i64 {
        assert_eq!(other.eval(format!("{i} + 1")).unwrap(), Value::Int(i + 1));
    }
    let slow = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the spawned call ended");
    assert_eq!(slow.unwrap(), Value::from("slow"));
}

fn many_threads_share_the_runtime(srv: &LocalServer) {
    let engines = srv.connect_all().unwrap();
    let threads: Vec<_> = (0..8i64)
        .map(|t| {
            let eng = engines[t as usize % engines.len()].clone();
            std::thread::spawn(move || {
                for i in 0..200i64 {
                    let v = eng.eval(format!("{t} * 1000 + {i}")).unwrap();
                    assert_eq!(v, Value::Int(t * 1000 + i));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a calling thread failed");
    }
}
