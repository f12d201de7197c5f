//! `EngBox` against real servers with several engines (skipped when the
//! `srpy-server` binary cannot be found).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use srpy_client::engbox::{auto_chunksize, parse_uri_list};
use srpy_client::{
    vars, Basis, ConnectOptions, EngBox, Error, LocalServer, MapOptions, MapTask, Op, Value,
};

macro_rules! start {
    ($test:expr, $engines:expr) => {
        match common::start($test, $engines).await {
            Some(s) => s,
            None => return,
        }
    };
    ($test:expr, $engines:expr, $($arg:expr),+) => {
        match common::start_with($test, $engines, &[$($arg),+]).await {
            Some(s) => s,
            None => return,
        }
    };
}

async fn box_of(srv: &LocalServer) -> EngBox {
    let mut b = EngBox::default();
    b.start_and_append(srv.uri(), &srv.connect_options())
        .await
        .unwrap();
    b
}

fn ints(r: &[Result<Value, Error>]) -> Vec<i64> {
    r.iter()
        .map(|r| match r {
            Ok(Value::Int(i)) => *i,
            other => panic!("not an int: {other:?}"),
        })
        .collect()
}

async fn pid(e: &srpy_client::Engine) -> i32 {
    let who = e.whoami().await.unwrap();
    who.get("pid").and_then(Value::as_i64).unwrap() as i32
}

#[cfg(unix)]
fn kill9(pid: i32) {
    // SAFETY: kill(2) with a valid signal on an engine process we started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn building_a_box() {
    let srv = start!("building_a_box", 3);
    let opts = srv.connect_options();

    // A server URI expands to all its engines.
    let mut b = EngBox::default();
    let added = b.start_and_append(srv.uri(), &opts).await.unwrap();
    assert_eq!(added, vec![0, 1, 2]);
    assert_eq!(b.len(), 3);
    for (i, e) in b.iter().enumerate() {
        assert_eq!(e.index(), Some(i as u64));
    }
    // An engine URI adds one.
    let added = b.start_and_append(srv.engine_uri(1), &opts).await.unwrap();
    assert_eq!(added, vec![3]);
    assert_eq!(b[3].index(), Some(1));
    // Text and files: one URI per line, comments and blanks skipped.
    let text = format!(
        "# my engines\n\n{}\n{}  # engine 2\n",
        srv.engine_uri(0),
        srv.engine_uri(2)
    );
    assert_eq!(parse_uri_list(&text).unwrap().len(), 2);
    let added = b.start_and_append_from_text(&text, &opts).await.unwrap();
    assert_eq!(added, vec![4, 5]);
    let file = std::env::temp_dir().join(format!("srpy-engbox-{}.txt", std::process::id()));
    std::fs::write(&file, format!("{}\n", srv.uri())).unwrap();
    let added = b.start_and_append_from_file(&file, &opts).await.unwrap();
    std::fs::remove_file(&file).unwrap();
    assert_eq!(added, vec![6, 7, 8]);
    assert!(b
        .start_and_append_from_file("/nonexistent/srpy-uris", &opts)
        .await
        .is_err());
    // Bad text adds nothing.
    assert!(b
        .start_and_append_from_text(&format!("{}\nnot a uri\n", srv.uri()), &opts)
        .await
        .is_err());
    assert_eq!(b.len(), 9);

    // Indexing, removal, selection, engines().
    let removed = b.remove(3);
    assert_eq!(removed.index(), Some(1));
    assert_eq!(b.len(), 8);
    assert_eq!(b.engines().len(), 8);
    assert!(b.get(8).is_none());
    let sub = b.select(&[0, 2, 99]);
    assert_eq!(sub.len(), 2);
    assert_eq!(sub[1].index(), Some(2));
    let b2: EngBox = b.engines().into_iter().take(2).collect();
    assert_eq!(b2.len(), 2);
    assert!(format!("{b2:?}").contains("srpy://127.0.0.1"));

    // EngBox::connect.
    let b3 = EngBox::connect(srv.uri(), opts.clone()).await.unwrap();
    assert_eq!(b3.len(), 3);
    // A wrong token fails.
    let bad = ConnectOptions::default().token("wrong");
    assert!(matches!(
        EngBox::connect(srv.uri(), bad).await,
        Err(Error::Auth(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_on_every_engine_with_one_failing() {
    let srv = start!("run_on_every_engine_with_one_failing", 3);
    let b = box_of(&srv).await;
    b.set_each("me", vec![Value::from(0), Value::from(1), Value::from(2)])
        .await
        .unwrap();

    for results in [
        b.run_sequential(Op::Eval {
            expr: "10 // (me - 1)".into(),
            vars: vec![],
        })
        .await,
        b.run_parallel(Op::Eval {
            expr: "10 // (me - 1)".into(),
            vars: vec![],
        })
        .await,
    ] {
        assert_eq!(results.len(), 3);
        assert_eq!(results[0].0, 0);
        assert_eq!(results[0].1.as_ref().unwrap(), &Value::Int(-10));
        let e = results[1].1.as_ref().unwrap_err();
        assert_eq!(e.remote_type(), Some("ZeroDivisionError"));
        assert!(e.traceback().unwrap().contains("<srpy-eval>"));
        assert_eq!(results[2].1.as_ref().unwrap(), &Value::Int(10));
    }

    // Parallel really is parallel: three 0.4 s sleeps take well under 1.2 s.
    let t = Instant::now();
    let r = b
        .run_parallel(Op::Exec {
            code: "import time; time.sleep(0.4)".into(),
            vars: vec![],
        })
        .await;
    assert!(r.iter().all(|(_, r)| r.is_ok()));
    assert!(
        t.elapsed() < Duration::from_millis(1100),
        "{:?}",
        t.elapsed()
    );

    // With a timeout: the slow engine is interrupted and reports Timeout.
    let t = Instant::now();
    let r = b
        .run_parallel_timeout(
            Op::Exec {
                code: "import time\nif me == 2: time.sleep(30)".into(),
                vars: vec![],
            },
            Duration::from_millis(500),
        )
        .await;
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(r[0].1.is_ok() && r[1].1.is_ok());
    assert!(matches!(r[2].1, Err(Error::Timeout(_))), "{:?}", r[2].1);
    // The interrupted engine is usable again.
    let e2 = &b[2];
    assert!(e2.wait(Some(Duration::from_secs(5))).await.unwrap());
    assert_eq!(e2.eval("me").await.unwrap(), Value::Int(2));

    // Broadcasts.
    assert!(b
        .exec_all("def sq(v):\n    return v * v\n")
        .await
        .iter()
        .all(|(_, r)| r.is_ok()));
    assert!(b
        .set_all(vars([("k", 7i64)]))
        .await
        .iter()
        .all(|(_, r)| r.is_ok()));
    let r = b.eval_all("sq(k) + me").await;
    let got: Vec<Value> = r.into_iter().map(|(_, r)| r.unwrap()).collect();
    assert_eq!(got, vec![Value::Int(49), Value::Int(50), Value::Int(51)]);
    // functools.partial(max, 10), pickled.
    let blob = hex(
        "8004953d000000000000008c0966756e63746f6f6c73948c077061727469616c9493948c08\
         6275696c74696e73948c036d6178949394859452942868054b0a85947d944e7494622e",
    );
    let r = b.apply_all(blob, vec![Value::from(3)], vec![]).await;
    assert!(r
        .iter()
        .all(|(_, r)| r.as_ref().unwrap() == &Value::Int(10)));
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The 2009 idiom `box.mrpwait(box.mrp.benchmark())`: `mrp` returns at
/// once, `mrpwait` waits (with a time limit: engines still running are
/// timeouts of that wait, and their calls go on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mrp_returns_at_once_and_mrpwait_waits() {
    let srv = start!("mrp_returns_at_once_and_mrpwait_waits", 2);
    let b = box_of(&srv).await;
    let t = Instant::now();
    let run = b.mrp(
        Op::Exec {
            code: "import time; time.sleep(1.0); done = 1".into(),
            vars: Vec::new(),
        },
        Default::default(),
    );
    assert!(t.elapsed() < Duration::from_millis(300), "mrp waited");
    assert_eq!(run.len(), 2);
    assert!(!run.is_done());
    let early = run.wait(Some(Duration::from_millis(100))).await;
    assert!(
        early
            .iter()
            .all(|(_, r)| matches!(r, Err(Error::Timeout(_)))),
        "{early:?}"
    );
    let all = run.wait(None).await;
    assert!(
        all.iter().all(|(_, r)| matches!(r, Ok(Value::Null))),
        "{all:?}"
    );
    assert!(run.is_done());
    // Waiting again answers the same results at once.
    assert_eq!(run.wait(Some(Duration::ZERO)).await.len(), 2);
    // The calls ran to the end: both engines have `done`.
    assert_eq!(
        ints(
            &b.eval_all("done")
                .await
                .into_iter()
                .map(|(_, r)| r)
                .collect::<Vec<_>>()
        ),
        vec![1, 1]
    );
    // An engine's failure is its entry.
    b[1].set("only_here", 5).await.unwrap();
    let r = b
        .mrp(
            Op::Eval {
                expr: "only_here".into(),
                vars: Vec::new(),
            },
            Default::default(),
        )
        .wait(None)
        .await;
    assert!(matches!(&r[0].1, Err(Error::Remote { type_name, .. }) if type_name == "NameError"));
    assert!(matches!(r[1].1, Ok(Value::Int(5))));
    // mrs gives the same shape, one engine after the other.
    let s = b
        .mrs(Op::Eval {
            expr: "only_here".into(),
            vars: Vec::new(),
        })
        .await;
    assert!(s[0].1.is_err() && matches!(s[1].1, Ok(Value::Int(5))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatter_and_gather() {
    let srv = start!("scatter_and_gather", 3);
    let b = box_of(&srv).await;
    let items: Vec<Value> = (0..10).map(Value::from).collect();
    b.scatter("part", items.clone()).await.unwrap();
    let lens: Vec<Value> = b
        .eval_all("len(part)")
        .await
        .into_iter()
        .map(|(_, r)| r.unwrap())
        .collect();
    assert_eq!(lens, vec![Value::Int(4), Value::Int(3), Value::Int(3)]);
    assert_eq!(b.gather("part").await.unwrap(), items);
    // Fewer items than engines: empty parts.
    b.scatter("few", vec![Value::from("a")]).await.unwrap();
    assert_eq!(b.gather("few").await.unwrap(), vec![Value::from("a")]);
    // Gathering a name that is missing somewhere is an error.
    b[0].set("only0", Value::List(vec![])).await.unwrap();
    assert!(matches!(
        b.gather("only0").await,
        Err(Error::Remote { ref type_name, .. }) if type_name == "NameError"
    ));
    b.set_all(vars([("notalist", 1i64)])).await;
    assert!(matches!(b.gather("notalist").await, Err(Error::Other(_))));
    assert_eq!(b.gather_parts("notalist").await.unwrap().len(), 3);
    assert!(b.set_each("x", vec![Value::Null]).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maps() {
    let srv = start!("maps", 2);
    let b = box_of(&srv).await;
    let items: Vec<Value> = (0..1000).map(Value::from).collect();
    let want: Vec<i64> = (0..1000).map(|i| i + 1).collect();

    // Expressions, several chunk sizes; results in input order.
    for chunksize in [None, Some(1), Some(7), Some(5000)] {
        let opts = MapOptions {
            chunksize,
            ..Default::default()
        };
        let out = b
            .map(MapTask::expr("x + 1"), items.clone(), opts)
            .await
            .unwrap();
        assert_eq!(ints(&out.results), want, "chunksize {chunksize:?}");
        let r = &out.report;
        assert_eq!(r.total, 1000);
        assert_eq!(
            r.chunksize,
            chunksize.unwrap_or_else(|| auto_chunksize(1000, 2))
        );
        assert_eq!(r.chunks, 1000usize.div_ceil(r.chunksize));
        assert_eq!(r.failed, 0);
        assert!(r.dead_engines.is_empty());
        assert_eq!(r.items_per_engine.iter().sum::<usize>(), 1000);
        if chunksize == Some(1) {
            assert!(r.items_per_engine.iter().all(|&n| n > 0), "{r:?}");
        }
    }
    let out = b
        .map(
            MapTask::expr_with("y * 2", "y"),
            items.clone(),
            MapOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(out.into_values().unwrap()[999], Value::Int(1998));
    // Names resolve in the engine namespace; the item does not leak into it.
    b.exec_all("def sq(v):\n    return v * v\nK = 3").await;
    let out = b
        .map(
            MapTask::expr("sq(x) + K"),
            items.clone(),
            MapOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(ints(&out.results)[10], 103);
    assert!(!b[0].names().await.unwrap().contains(&"x".to_string()));
    // Dotted names: namespace first, then modules.
    let out = b
        .map(MapTask::call("sq"), items.clone(), MapOptions::default())
        .await
        .unwrap();
    assert_eq!(ints(&out.results)[12], 144);
    let out = b
        .map(
            MapTask::call("math.sqrt"),
            vec![Value::from(16.0)],
            MapOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(out.results[0].as_ref().unwrap(), &Value::Float(4.0));
    // Empty input.
    let out = b
        .map(MapTask::expr("x"), vec![], MapOptions::default())
        .await
        .unwrap();
    assert!(out.results.is_empty());

    // Progress: called after every chunk, ends at (total, total).
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let opts = MapOptions::default()
        .chunksize(100)
        .progress(move |done, total| s2.lock().unwrap().push((done, total)));
    b.map(MapTask::expr("x"), items.clone(), opts)
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    // At most once per chunk (a report overtaken by a later one is skipped).
    assert!((1..=10).contains(&seen.len()), "{seen:?}");
    assert_eq!(*seen.last().unwrap(), (1000, 1000));
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));

    // Remote output, with the engine that wrote it.
    let printed = Arc::new(Mutex::new(Vec::new()));
    let p2 = printed.clone();
    let opts = MapOptions {
        chunksize: Some(1),
        engine_output: Some(Arc::new(move |i, stream, text: &str| {
            p2.lock().unwrap().push((i, stream, text.to_owned()))
        })),
        ..Default::default()
    };
    b.map(MapTask::expr("print(x) or x"), items[..6].to_vec(), opts)
        .await
        .unwrap();
    let printed = printed.lock().unwrap().clone();
    let mut lines: Vec<i64> = printed
        .iter()
        .filter(|(_, _, t)| !t.trim().is_empty())
        .map(|(_, _, t)| t.trim().parse().unwrap())
        .collect();
    lines.sort_unstable();
    assert_eq!(lines, (0..6).collect::<Vec<_>>());
    assert!(printed
        .iter()
        .all(|(i, s, _)| *i < 2 && *s == srpy_client::Stream::Stdout));

    // A task error for every item (a bad expression) fails every item alone.
    let out = b
        .map(
            MapTask::expr("x +"),
            items[..3].to_vec(),
            MapOptions::default(),
        )
        .await
        .unwrap();
    assert!(out
        .results
        .iter()
        .all(|r| r.as_ref().unwrap_err().remote_type() == Some("SyntaxError")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_items_keep_the_other_results() {
    let srv = start!("failing_items_keep_the_other_results", 2);
    let b = box_of(&srv).await;
    b.exec_all("def f(v):\n    return 100 // (v % 7)\n").await;
    let items: Vec<Value> = (0..50).map(Value::from).collect();
    let out = b
        .map(
            MapTask::call("f"),
            items,
            MapOptions::default().chunksize(4),
        )
        .await
        .unwrap();
    assert_eq!(out.report.failed, 8); // 0, 7, 14, …, 49
    for (i, r) in out.results.iter().enumerate() {
        if i % 7 == 0 {
            let e = r.as_ref().unwrap_err();
            assert_eq!(e.remote_type(), Some("ZeroDivisionError"));
            let tb = e.traceback().unwrap();
            assert!(tb.contains("line 2, in f"), "{tb}");
            assert!(!tb.contains("map_chunk"), "{tb}");
        } else {
            assert_eq!(r.as_ref().unwrap(), &Value::Int(100 / (i as i64 % 7)));
        }
    }
    let err = out.into_values().unwrap_err();
    assert_eq!(err.index, 0);
    assert_eq!(err.failed, 8);
    assert!(err
        .to_string()
        .contains("map item 0 failed (8 of 50 items failed)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_maps() {
    let srv = start!("streaming_maps", 2);
    let b = box_of(&srv).await;
    // Item 0 is slow: in order, it comes first anyway; unordered, it comes last.
    let task = MapTask::expr("(__import__('time').sleep(0.5), x)[1] if x == 0 else x");
    let items: Vec<Value> = (0..20).map(Value::from).collect();

    let mut s = b
        .imap(
            task.clone(),
            items.clone(),
            MapOptions::default().chunksize(1),
        )
        .unwrap();
    assert_eq!(s.total(), 20);
    let mut order = Vec::new();
    while let Some((i, r)) = s.next().await {
        assert_eq!(r.unwrap(), Value::from(i as i64));
        order.push(i);
    }
    assert_eq!(order, (0..20).collect::<Vec<_>>());
    assert!(s.is_finished());
    assert_eq!(s.yielded(), 20);
    assert_eq!(s.done(), 20);

    let mut s = b
        .imap_unordered(task, items, MapOptions::default().chunksize(1))
        .unwrap();
    let mut order = Vec::new();
    while let Some(batch) = s.next_batch().await {
        for (i, r) in batch {
            assert_eq!(r.unwrap(), Value::from(i as i64));
            order.push(i);
        }
    }
    assert_eq!(order.len(), 20);
    // The slow item comes at the end (only the chunk pipelined behind it on
    // the same engine may come later).
    let pos = order.iter().position(|&i| i == 0).unwrap();
    assert!(pos >= 18, "{order:?}");
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..20).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_map_interrupts_the_engines() {
    let srv = start!("cancelling_a_map_interrupts_the_engines", 2);
    let b = box_of(&srv).await;
    let items: Vec<Value> = (0..40).map(Value::from).collect();
    let mut s = b
        .imap(
            MapTask::expr("__import__('time').sleep(1.0) or x"),
            items,
            MapOptions::default().chunksize(1),
        )
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    s.cancel().await;
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    for e in b.iter() {
        assert!(!e.is_busy().await.unwrap());
        assert_eq!(e.eval("1 + 1").await.unwrap(), Value::Int(2));
    }
    // Dropping a stream cancels too.
    let s = b
        .imap(
            MapTask::expr("__import__('time').sleep(1.0) or x"),
            (0..40).map(Value::from).collect(),
            MapOptions::default().chunksize(1),
        )
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(s);
    let t = Instant::now();
    for e in b.iter() {
        assert!(e.wait(Some(Duration::from_secs(5))).await.unwrap());
    }
    assert!(t.elapsed() < Duration::from_secs(4));
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_map() {
    let srv = start!("kill_9_during_a_map", 3);
    let b = box_of(&srv).await;
    let victim = pid(&b[1]).await;
    let items: Vec<Value> = (0..120).map(Value::from).collect();
    let done = Arc::new(AtomicUsize::new(0));
    let d2 = done.clone();
    let opts = MapOptions::default().chunksize(2).progress(move |n, _| {
        d2.fetch_max(n, Ordering::Relaxed);
    });
    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        kill9(victim);
    });
    let out = b
        .map(
            MapTask::expr("__import__('time').sleep(0.02) or x * 2"),
            items,
            opts,
        )
        .await
        .unwrap();
    killer.await.unwrap();
    // Every result, in order, despite the death.
    assert_eq!(
        ints(&out.results),
        (0..120).map(|i| i * 2).collect::<Vec<_>>()
    );
    assert_eq!(out.report.dead_engines, vec![1]);
    assert!(out.report.retried_chunks >= 1, "{:?}", out.report);
    assert_eq!(done.load(Ordering::Relaxed), 120);
    // The box knows.
    assert_eq!(b.get_dead(false).await, vec![1]);
    assert!(b.is_dead(1));
    // The server restarted the engine: a fresh check finds it alive again.
    let t = Instant::now();
    loop {
        if b.get_dead(true).await.is_empty() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "engine 1 did not come back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_ne!(pid(&b[1]).await, victim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_that_kills_every_engine_is_reported_not_retried_forever() {
    // 4 engines: the chunk kills 2 (charged twice > max_retries = 1), or 3
    // when an engine's reset connection drops the answer of the chunk before
    // it (then the first death is charged to that one: see engine_lost).
    let srv = start!(
        "a_chunk_that_kills_every_engine_is_reported_not_retried_forever",
        4
    );
    let b = box_of(&srv).await;
    let items: Vec<Value> = (0..30).map(Value::from).collect();
    let out = b
        .map(
            MapTask::expr("__import__('os')._exit(3) if x == 5 else x"),
            items,
            MapOptions::default().chunksize(1).max_retries(1),
        )
        .await
        .unwrap();
    for (i, r) in out.results.iter().enumerate() {
        if i == 5 {
            let e = r.as_ref().unwrap_err();
            assert!(
                matches!(e, Error::EngineDied(m) if m.contains("not retried")),
                "{e}"
            );
        } else {
            assert_eq!(r.as_ref().unwrap(), &Value::from(i as i64), "item {i}");
        }
    }
    assert!(
        (2..=3).contains(&out.report.dead_engines.len()),
        "{:?}",
        out.report
    );
    assert_eq!(out.report.failed, 1);

    // One engine that dies: nothing is left to run the rest.
    let srv1 = start!(
        "a_chunk_that_kills_every_engine_is_reported_not_retried_forever",
        1
    );
    let b1 = box_of(&srv1).await;
    let out = b1
        .map(
            MapTask::expr("__import__('os')._exit(3) if x == 1 else x"),
            (0..6).map(Value::from).collect(),
            MapOptions::default().chunksize(2),
        )
        .await
        .unwrap();
    assert_eq!(out.report.dead_engines, vec![0]);
    for r in &out.results[2..] {
        assert!(matches!(r, Err(Error::EngineDied(_))), "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_box_over_two_servers_and_a_stopped_server() {
    let a = start!(
        "a_box_over_two_servers",
        2,
        "--name",
        "alpha",
        "--group",
        "red"
    );
    let bsrv = start!(
        "a_box_over_two_servers",
        1,
        "--name",
        "beta",
        "--group",
        "blue"
    );
    let mut b = EngBox::default();
    b.start_and_append(a.uri(), &a.connect_options())
        .await
        .unwrap();
    b.start_and_append(bsrv.uri(), &bsrv.connect_options())
        .await
        .unwrap();
    assert_eq!(b.len(), 3);

    // A map over both servers uses all engines (items take a little time,
    // so no engine can drain the queue before the others start).
    let out = b
        .map(
            MapTask::expr("__import__('time').sleep(0.002) or x * 3"),
            (0..300).map(Value::from).collect(),
            MapOptions::default().chunksize(5),
        )
        .await
        .unwrap();
    assert_eq!(ints(&out.results)[299], 897);
    assert!(
        out.report.items_per_engine.iter().all(|&n| n > 0),
        "{:?}",
        out.report
    );

    // searchForEngine by name, group, ip and host name.
    assert_eq!(
        b.search_for_engine(Some("alpha"), None, None, None).await,
        vec![0, 1]
    );
    assert_eq!(
        b.search_for_engine(None, Some("blue"), None, None).await,
        vec![2]
    );
    assert_eq!(
        b.search_for_engine(Some("alpha"), Some("blue"), None, None)
            .await,
        Vec::<usize>::new()
    );
    assert_eq!(
        b.search_for_engine(None, None, Some("127.0.0.1"), None)
            .await,
        vec![0, 1, 2]
    );
    assert!(b
        .search_for_engine(None, None, Some("10.9.9.9"), None)
        .await
        .is_empty());
    let host = b[0]
        .info()
        .get("hostname")
        .and_then(Value::as_str)
        .unwrap()
        .to_owned();
    assert_eq!(
        b.search_for_engine(None, Some("red"), None, Some(&host))
            .await,
        vec![0, 1]
    );
    assert!(b
        .search_for_engine(None, None, None, Some("no-such-host"))
        .await
        .is_empty());
    assert_eq!(
        b.search_for_engine(None, None, None, None).await,
        vec![0, 1, 2]
    );

    // getFastest.
    let fastest = b.get_fastest(true, Basis::All).await;
    assert_eq!(fastest.len(), 1);
    assert!(fastest[0] < 3);
    for basis in [Basis::All, Basis::Net, Basis::Proc] {
        let mut ranked = b.get_fastest(false, basis).await;
        ranked.sort_unstable();
        assert_eq!(ranked, vec![0, 1, 2]);
    }

    // Stop server beta: engine 2 is dead, the others are not.
    assert!(b.get_dead(true).await.is_empty());
    bsrv.stop().await.unwrap();
    assert!(
        b.get_dead(false).await.is_empty(),
        "last known state: alive"
    );
    let t = Instant::now();
    assert_eq!(b.get_dead(true).await, vec![2]);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(b.get_dead(false).await, vec![2]);
    // mrp: the dead engine's entry is an error, the others answer.
    let r = b.run_parallel(Op::Ping).await;
    assert!(r[0].1.is_ok() && r[1].1.is_ok());
    assert!(r[2].1.is_err());
    // A map over the box still completes on the live engines (slow enough
    // that the dead engine's task surely tries a chunk).
    let out = b
        .map(
            MapTask::expr("__import__('time').sleep(0.005) or x"),
            (0..50).map(Value::from).collect(),
            MapOptions::default().chunksize(3),
        )
        .await
        .unwrap();
    assert_eq!(ints(&out.results), (0..50).collect::<Vec<_>>());
    assert_eq!(out.report.dead_engines, vec![2]);
    // cleanDead removes it.
    let removed = b.clean_dead().await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].uri().port, bsrv.uri().port);
    assert_eq!(b.len(), 2);
    assert!(b.get_dead(true).await.is_empty());
}

#[test]
fn blocking_box() {
    let Some(opts) = common::options("blocking_box", 2) else {
        return;
    };
    let srv = match srpy_client::blocking::LocalServer::start(opts) {
        Ok(s) => s,
        Err(e) if common::engines_unavailable("blocking_box", &e) => return,
        Err(e) => panic!("{e}"),
    };
    let mut b = srpy_client::blocking::EngBox::default();
    b.start_and_append(srv.uri(), &srv.connect_options())
        .unwrap();
    assert_eq!(b.len(), 2);
    let out = b
        .map(
            MapTask::expr("x - 1"),
            (0..100).map(Value::from).collect(),
            MapOptions::default(),
        )
        .unwrap();
    assert_eq!(ints(&out.results)[0], -1);
    let got: Vec<usize> = b
        .imap_unordered(
            MapTask::expr("x"),
            (0..10).map(Value::from).collect(),
            MapOptions::default(),
        )
        .unwrap()
        .map(|(i, _)| i)
        .collect();
    assert_eq!(got.len(), 10);
    assert!(b.run_parallel(Op::Ping).iter().all(|(_, r)| r.is_ok()));
    b.scatter("p", (0..4).map(Value::from).collect()).unwrap();
    assert_eq!(b.gather("p").unwrap().len(), 4);
    assert!(b.get_dead(true).is_empty());
    assert_eq!(b.get_fastest(true, Basis::Net).len(), 1);
    let e = b.remove(0);
    assert_eq!(e.ping().unwrap(), "pong");
    assert_eq!(b.len(), 1);
    b.append(e);
    assert_eq!(b.engines().len(), 2);
}
