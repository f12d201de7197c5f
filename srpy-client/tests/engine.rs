//! Integration tests against a real `srpy-server` (skipped when the binary
//! cannot be found).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use srpy_client::proto::BigInt;
use srpy_client::{
    vars, CallOptions, ConnectOptions, DType, Engine, Error, NdArray, Op, Order, ServerClient,
    Stream, Value,
};

macro_rules! start {
    ($test:expr, $engines:expr) => {
        match common::start($test, $engines).await {
            Some(s) => s,
            None => return,
        }
    };
}

fn pid_of(v: &Value) -> i64 {
    v.get("pid")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("no pid in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_operations() {
    let srv = start!("basic_operations", 1);
    let e = srv.connect(0).await.unwrap();
    assert_eq!(e.ping().await.unwrap(), "pong");
    assert_eq!(e.index(), Some(0));
    assert_eq!(e.info().get("role"), Some(&Value::from("engine")));
    let who = e.whoami().await.unwrap();
    assert!(pid_of(&who) > 0);

    assert_eq!(e.eval("1+1").await.unwrap(), Value::Int(2));
    e.set("a", 20).await.unwrap();
    e.set_many(vars([("b", 1i64), ("c", 2i64)])).await.unwrap();
    assert_eq!(e.eval("a + b + c").await.unwrap(), Value::Int(23));
    assert_eq!(
        e.eval_with("a + d", vars([("d", 5i64)])).await.unwrap(),
        Value::Int(25)
    );
    e.exec("e = a * 2").await.unwrap();
    e.exec_with("f = e + g", vars([("g", 1i64)])).await.unwrap();
    assert_eq!(e.get("f").await.unwrap(), Value::Int(41));
    assert_eq!(
        e.get_many(&["a", "b"]).await.unwrap(),
        vec![
            ("a".to_string(), Value::Int(20)),
            ("b".to_string(), Value::Int(1))
        ]
    );
    let names = e.names().await.unwrap();
    for n in ["a", "b", "c", "d", "e", "f", "g"] {
        assert!(names.contains(&n.to_string()), "{names:?}");
    }
    e.delete(&["a"]).await.unwrap();
    assert!(!e.names().await.unwrap().contains(&"a".to_string()));

    let out = e
        .vexec("y = x * 3\nz = 'k'", &["y", "z"], vars([("x", 2i64)]))
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![
            ("y".to_string(), Value::Int(6)),
            ("z".to_string(), Value::from("k"))
        ]
    );
    assert!(
        !e.names().await.unwrap().contains(&"y".to_string()),
        "vexec uses a temporary namespace"
    );

    let r = e
        .call(
            "math.pow",
            vec![Value::from(2.0), Value::from(10.0)],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(r, Value::Float(1024.0));
    let r = e
        .call(
            "builtins.int",
            vec![Value::from("ff")],
            vars([("base", 16i64)]),
        )
        .await
        .unwrap();
    assert_eq!(r, Value::Int(255));
    let sqrt = e.function("math.sqrt");
    assert_eq!(
        sqrt.call(vec![Value::from(9.0)]).await.unwrap(),
        Value::Float(3.0)
    );
    let d = e.describe("math.sqrt").await.unwrap();
    assert_eq!(d.get("kind"), Some(&Value::from("function")));

    e.install_source("srpy_test_mod", "def twice(x):\n    return 2 * x\n")
        .await
        .unwrap();
    e.import_modules(&["srpy_test_mod", "os.path as osp"])
        .await
        .unwrap();
    assert_eq!(
        e.eval("srpy_test_mod.twice(21)").await.unwrap(),
        Value::Int(42)
    );
    assert_eq!(
        e.eval("osp.join('a', 'b')").await.unwrap(),
        Value::from("a/b")
    );

    // (The engine may flag itself idle a moment after its last reply.)
    assert!(e.wait(Some(Duration::from_secs(1))).await.unwrap());
    assert!(!e.is_busy().await.unwrap());
    assert!(!e.interrupt().await.unwrap(), "nothing was running");
    let b = e.benchmark(3).await.unwrap();
    assert!(b.net_s > 0.0 && b.net_s < 1.0, "{b:?}");
    assert!(b.proc_s > 0.0, "{b:?}");
    assert!(!b.busy);

    e.clear().await.unwrap();
    assert!(e.names().await.unwrap().is_empty());

    let r = e
        .request(Op::Unknown("teleport".into()), CallOptions::new())
        .await;
    assert!(matches!(r, Err(Error::UnsupportedOp(_))), "{r:?}");
    assert_eq!(e.ping().await.unwrap(), "pong", "the connection survives");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_archive_ships_a_package() {
    let srv = start!("install_archive_ships_a_package", 1);
    let e = srv.connect(0).await.unwrap();
    let made = e
        .vexec(
            "import io, zipfile\n\
             b = io.BytesIO()\n\
             with zipfile.ZipFile(b, 'w') as z:\n\
             \x20   z.writestr('srpy_pkg_t/__init__.py', 'from .sub import X')\n\
             \x20   z.writestr('srpy_pkg_t/sub.py', 'X = 5')\n\
             data = b.getvalue()",
            &["data"],
            vec![],
        )
        .await
        .unwrap();
    let Value::Bytes(zip) = made[0].1.clone() else {
        panic!("{made:?}")
    };
    e.install_archive("srpy_pkg_t", zip).await.unwrap();
    e.import_modules(&["srpy_pkg_t"]).await.unwrap();
    assert_eq!(e.eval("srpy_pkg_t.X").await.unwrap(), Value::Int(5));
}

fn every_value() -> Vec<(&'static str, Value, &'static str)> {
    let big: BigInt = BigInt::from(1) << 100;
    vec![
        ("v_none", Value::Null, "NoneType"),
        ("v_true", Value::Bool(true), "bool"),
        ("v_false", Value::Bool(false), "bool"),
        ("v_int", Value::Int(-42), "int"),
        ("v_imax", Value::Int(i64::MAX), "int"),
        ("v_imin", Value::Int(i64::MIN), "int"),
        ("v_big", Value::from_bigint(big.clone()), "int"),
        ("v_nbig", Value::from_bigint(-big), "int"),
        ("v_u64", Value::from(u64::MAX), "int"),
        ("v_float", Value::Float(3.25), "float"),
        ("v_nan", Value::Float(f64::NAN), "float"),
        ("v_inf", Value::Float(f64::INFINITY), "float"),
        ("v_ninf", Value::Float(f64::NEG_INFINITY), "float"),
        ("v_nzero", Value::Float(-0.0), "float"),
        ("v_str", Value::from("héllo ✓ 🐍"), "str"),
        ("v_empty", Value::from(""), "str"),
        ("v_bytes", Value::Bytes(vec![0, 1, 2, 255].into()), "bytes"),
        (
            "v_list",
            Value::List(vec![Value::Int(1), Value::from("a"), Value::Null]),
            "list",
        ),
        ("v_elist", Value::List(vec![]), "list"),
        (
            "v_tuple",
            Value::Tuple(vec![Value::Int(1), Value::Tuple(vec![])]),
            "tuple",
        ),
        (
            "v_map",
            Value::Map(vec![
                (Value::from("k"), Value::Int(1)),
                (Value::Int(2), Value::from("two")),
                (
                    Value::Tuple(vec![Value::Int(1), Value::Int(2)]),
                    Value::List(vec![]),
                ),
            ]),
            "dict",
        ),
        (
            "v_set",
            Value::Set(vec![Value::Int(1), Value::Int(2), Value::Int(3)]),
            "set",
        ),
        ("v_eset", Value::Set(vec![]), "set"),
        ("v_complex", Value::Complex { re: 1.5, im: -2.0 }, "complex"),
        (
            "v_dt",
            Value::DateTime("2024-02-29T13:14:15.123456".into()),
            "datetime",
        ),
        (
            "v_dtz",
            Value::DateTime("2024-02-29T13:14:15+01:00".into()),
            "datetime",
        ),
        ("v_date", Value::Date("2024-02-29".into()), "date"),
        (
            "v_dec",
            Value::Decimal {
                exponent: -2,
                mantissa: BigInt::from(12345),
            },
            "Decimal",
        ),
        (
            "v_nested",
            Value::map([(
                "a",
                Value::List(vec![Value::map([(
                    "b",
                    Value::Tuple(vec![Value::Bytes(vec![7].into())]),
                )])]),
            )]),
            "dict",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_value_type_round_trips() {
    let srv = start!("every_value_type_round_trips", 1);
    let e = srv.connect(0).await.unwrap();
    for (name, v, py_type) in every_value() {
        e.set(name, v.clone()).await.unwrap();
        let t = e.eval(format!("type({name}).__name__")).await.unwrap();
        assert_eq!(t, Value::from(py_type), "{name}: Python type");
        let back = e.get(name).await.unwrap();
        assert_eq!(back, v, "{name}: round trip");
    }
    // Values made in Python arrive as the documented types.
    assert_eq!(
        e.eval("(1, [2], {3: 4}, {5})").await.unwrap(),
        Value::Tuple(vec![
            Value::Int(1),
            Value::List(vec![Value::Int(2)]),
            Value::Map(vec![(Value::Int(3), Value::Int(4))]),
            Value::Set(vec![Value::Int(5)]),
        ])
    );
    assert_eq!(e.eval("2 ** 70").await.unwrap(), Value::from(1u128 << 70));
    assert_eq!(e.eval("frozenset()").await.unwrap(), Value::Set(vec![]));

    // Big buffers.
    let blob: Vec<u8> = (0..8 << 20).map(|i: u32| (i * 7 % 251) as u8).collect();
    e.set("blob", Value::Bytes(blob.clone().into()))
        .await
        .unwrap();
    assert_eq!(e.eval("len(blob)").await.unwrap(), Value::Int(8 << 20));
    assert_eq!(e.get("blob").await.unwrap(), Value::Bytes(blob.into()));

    // Arrays, when the engine has numpy.
    if e.eval("__import__('importlib.util').util.find_spec('numpy') is not None")
        .await
        .unwrap()
        == Value::Bool(true)
    {
        let a = NdArray::from_f64(vec![2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        e.set("arr", Value::Array(a.clone())).await.unwrap();
        assert_eq!(
            e.eval("float(arr.sum())").await.unwrap(),
            Value::Float(21.0)
        );
        assert_eq!(e.get("arr").await.unwrap(), Value::Array(a));
        let b = NdArray::new(
            DType::I32,
            vec![2],
            Order::RowMajor,
            vec![1, 0, 0, 0, 2, 0, 0, 0],
        )
        .unwrap();
        e.set("arr2", Value::Array(b.clone())).await.unwrap();
        assert_eq!(
            e.eval("str(arr2.dtype)").await.unwrap(),
            Value::from("int32")
        );
    } else {
        eprintln!("note: the engine has no numpy; ndarray round trip not checked");
    }

    // Unsupported values are reported, not dropped.
    let r = e.eval("open").await;
    assert!(
        matches!(r, Err(Error::NotTransferable(ref m)) if m.contains("builtin_function_or_method")),
        "{r:?}"
    );
}

/// PROTOCOL.md 6.3: one limit for values, 254 levels below their own top,
/// in both directions; the connection stays usable after a refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_nest_254_levels_both_ways() {
    let srv = start!("values_nest_254_levels_both_ways", 1);
    let e = srv.connect(0).await.unwrap();
    let nested = |depth: usize| (0..depth).fold(Value::Int(0), |v, _| Value::List(vec![v]));
    e.set("v", nested(254)).await.unwrap();
    assert_eq!(e.get("v").await.unwrap(), nested(254));
    let r = e.set("w", nested(255)).await;
    assert!(
        matches!(r, Err(Error::NotTransferable(ref m)) if m.contains("254 levels")),
        "{r:?}"
    );
    let r = e.eval("[v]").await;
    assert!(
        matches!(r, Err(Error::NotTransferable(ref m)) if m.contains("254 levels")),
        "{r:?}"
    );
    assert_eq!(e.ping().await.unwrap(), "pong");
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Config {
    name: String,
    ratio: f64,
    sizes: Vec<u32>,
    extra: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serde_values() {
    let srv = start!("serde_values", 1);
    let e = srv.connect(0).await.unwrap();
    let c = Config {
        name: "run".into(),
        ratio: 0.5,
        sizes: vec![1, 2, 3],
        extra: None,
    };
    e.set_as("cfg", &c).await.unwrap();
    assert_eq!(e.eval("cfg['sizes'][2]").await.unwrap(), Value::Int(3));
    assert_eq!(
        e.eval("cfg['extra'] is None").await.unwrap(),
        Value::Bool(true)
    );
    let back: Config = e.get_as("cfg").await.unwrap();
    assert_eq!(back, c);
    let t: (i64, String, Vec<f64>) = {
        e.exec("t = (1, 'x', [0.5])").await.unwrap();
        e.get_as("t").await.unwrap()
    };
    assert_eq!(t, (1, "x".into(), vec![0.5]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelining_1000_concurrent_evals_on_one_connection() {
    let srv = start!("pipelining_1000_concurrent_evals_on_one_connection", 1);
    let e = srv.connect(0).await.unwrap();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..1000i64 {
        let e = e.clone();
        set.spawn(async move { (i, e.eval(format!("{i} * 3")).await) });
    }
    let mut n = 0;
    while let Some(r) = set.join_next().await {
        let (i, v) = r.unwrap();
        assert_eq!(v.unwrap(), Value::Int(i * 3));
        n += 1;
    }
    assert_eq!(n, 1000);
    // All on the same connection: the engine saw one client.
    assert!(e.is_connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_interrupt_the_engine() {
    let srv = start!("timeouts_interrupt_the_engine", 1);
    let e = srv.connect(0).await.unwrap();
    let t0 = Instant::now();
    let r = e
        .request(
            Op::Eval {
                // Short sleeps: the interrupt lands between them (a single
                // long C-level sleep is the engine's business).
                expr: "[__import__('time').sleep(0.01) for _ in range(2000)]".into(),
                vars: vec![],
            },
            CallOptions::new().timeout(Duration::from_millis(300)),
        )
        .await;
    assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    // The interrupt stopped the sleep: the engine is idle again soon.
    assert!(e.wait(Some(Duration::from_secs(5))).await.unwrap());
    assert!(t0.elapsed() < Duration::from_secs(6));
    assert_eq!(e.eval("1+1").await.unwrap(), Value::Int(2));

    // The default call timeout applies too.
    let opts = srv
        .connect_options()
        .default_call_timeout(Some(Duration::from_millis(200)));
    let e2 = Engine::connect(srv.engine_uri(0), opts).await.unwrap();
    let r = e2
        .exec("import time\nfor _ in range(2000): time.sleep(0.01)")
        .await;
    assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
    assert!(e2.wait(Some(Duration::from_secs(5))).await.unwrap());
    assert_eq!(e2.ping().await.unwrap(), "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_stops_a_busy_loop() {
    let srv = start!("interrupt_stops_a_busy_loop", 1);
    let e = srv.connect(0).await.unwrap();
    let e2 = e.clone();
    let busy = tokio::spawn(async move { e2.exec("while True: pass").await });
    let t0 = Instant::now();
    while !e.is_busy().await.unwrap() {
        assert!(t0.elapsed() < Duration::from_secs(5), "never busy");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ping is answered while the engine is busy.
    assert_eq!(e.ping().await.unwrap(), "pong");
    assert!(e.interrupt().await.unwrap());
    let r = tokio::time::timeout(Duration::from_secs(5), busy)
        .await
        .expect("the loop stops")
        .unwrap();
    assert!(matches!(r, Err(Error::Interrupted(_))), "{r:?}");
    assert_eq!(e.eval("'alive'").await.unwrap(), Value::from("alive"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_streamed_back() {
    let srv = start!("output_is_streamed_back", 1);
    let e = srv.connect(0).await.unwrap();
    let got: Arc<Mutex<Vec<(Stream, String)>>> = Arc::default();
    let sink = got.clone();
    e.request(
        Op::Exec {
            code: "import sys\nprint('hello')\nprint('oops', file=sys.stderr)\nprint('bye')".into(),
            vars: vec![],
        },
        CallOptions::new().on_output(move |s, t| sink.lock().unwrap().push((s, t.to_owned()))),
    )
    .await
    .unwrap();
    let all = got.lock().unwrap().clone();
    let text = |stream| {
        all.iter()
            .filter(|(s, _)| *s == stream)
            .map(|(_, t)| t.as_str())
            .collect::<String>()
    };
    assert_eq!(text(Stream::Stdout), "hello\nbye\n");
    assert_eq!(text(Stream::Stderr), "oops\n");

    // The engine-wide handler.
    let got2: Arc<Mutex<String>> = Arc::default();
    let sink = got2.clone();
    e.set_output_handler(srpy_client::output_sink(move |_, t| {
        sink.lock().unwrap().push_str(t)
    }));
    e.exec("print('via handler', 42)").await.unwrap();
    assert_eq!(got2.lock().unwrap().as_str(), "via handler 42\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_exceptions_keep_type_and_traceback() {
    let srv = start!("remote_exceptions_keep_type_and_traceback", 1);
    let e = srv.connect(0).await.unwrap();
    let err = e.eval("1/0").await.unwrap_err();
    match &err {
        Error::Remote {
            type_name,
            message,
            traceback,
        } => {
            assert_eq!(type_name, "ZeroDivisionError");
            assert_eq!(message, "division by zero");
            let tb = traceback.as_deref().unwrap();
            assert!(tb.contains("ZeroDivisionError"), "{tb}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.kind(), Some(srpy_client::ErrorKind::Remote));

    let err = e
        .exec("class MyError(Exception):\n    pass\ndef f():\n    raise MyError('custom')\nf()")
        .await
        .unwrap_err();
    assert!(err.remote_type().unwrap().ends_with("MyError"), "{err}");
    assert!(err.to_string().ends_with("MyError: custom"), "{err}");
    assert!(err.traceback().unwrap().contains("in f"), "{err:?}");

    let err = e.get("undefined_name").await.unwrap_err();
    assert_eq!(err.remote_type(), Some("NameError"), "{err}");
    let err = e.exec("def (").await.unwrap_err();
    assert_eq!(err.remote_type(), Some("SyntaxError"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_after_restart() {
    let srv = start!("reconnect_after_restart", 2);
    let server: ServerClient = srv.server_client().await.unwrap();
    let dir = server.engines().await.unwrap();
    assert_eq!(dir.len(), 2);
    assert!(dir.iter().all(|d| d.alive));
    assert_eq!(server.ping().await.unwrap(), "pong");

    let all = server.connect_all().await.unwrap();
    assert_eq!(all.len(), 2);
    let (e0, e1) = (all[0].clone(), all[1].clone());
    assert_eq!(e0.index(), Some(0));
    e0.set("x", 1).await.unwrap();
    e1.set("x", 2).await.unwrap();
    let pid_before = pid_of(&e0.whoami().await.unwrap());

    let e0b = e0.clone();
    let in_flight = tokio::spawn(async move { e0b.exec("import time; time.sleep(30)").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart(0).await.unwrap();
    let t0 = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("the in-flight request fails promptly")
        .unwrap();
    match &r {
        Err(Error::EngineDied(m)) => assert!(m.contains("engine 0"), "{m}"),
        other => panic!("expected EngineDied, got {other:?}"),
    }
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());

    // The next call reconnects to the restarted engine: fresh namespace.
    assert_eq!(e0.ping().await.unwrap(), "pong");
    assert_ne!(pid_of(&e0.whoami().await.unwrap()), pid_before);
    assert!(e0.get("x").await.is_err(), "fresh namespace");
    assert_eq!(
        e1.get("x").await.unwrap(),
        Value::Int(2),
        "engine 1 untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_crash_is_reported_and_survived() {
    let srv = start!("engine_crash_is_reported_and_survived", 1);
    let e = srv.connect(0).await.unwrap();
    let pid_before = pid_of(&e.whoami().await.unwrap());
    let t0 = Instant::now();
    let r = e.exec("import os; os._exit(3)").await;
    assert!(matches!(r, Err(Error::EngineDied(_))), "{r:?}");
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    // The supervisor restarts it; the next call waits for it and reconnects.
    assert_eq!(e.eval("40 + 2").await.unwrap(), Value::Int(42));
    assert_ne!(pid_of(&e.whoami().await.unwrap()), pid_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_killed_mid_request_is_engine_died() {
    let srv = start!("engine_killed_mid_request_is_engine_died", 1);
    let e = srv.connect(0).await.unwrap();
    let pid_before = pid_of(&e.whoami().await.unwrap());
    let r = e
        .exec("import os, signal, time; time.sleep(0.1); os.kill(os.getpid(), signal.SIGKILL)")
        .await;
    assert!(matches!(r, Err(Error::EngineDied(_))), "{r:?}");
    assert_eq!(e.eval("40 + 2").await.unwrap(), Value::Int(42));
    assert_ne!(pid_of(&e.whoami().await.unwrap()), pid_before);
}

/// A value the engine's conversion did not expect (a datetime whose offset
/// text is `+€1`: fuzzing found it panicking) fails that request with a
/// typed error; the engine, its namespace and its pid stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_value_is_a_typed_error_and_the_engine_lives_on() {
    let srv = start!("hostile_value_is_a_typed_error_and_the_engine_lives_on", 1);
    let e = srv.connect(0).await.unwrap();
    e.set("kept", 42).await.unwrap();
    let pid_before = pid_of(&e.whoami().await.unwrap());
    let bad = Value::DateTime("2024-01-02T03:04:05+€1".into());
    for _ in 0..2 {
        let r = e.set("x", bad.clone()).await;
        // PROTOCOL.md 7.3: unreadable datetime text is not transferable.
        assert!(
            matches!(&r, Err(Error::NotTransferable(m)) if m.contains("not ISO 8601")),
            "{r:?}"
        );
    }
    assert_eq!(e.get("kept").await.unwrap(), Value::Int(42));
    assert_eq!(pid_of(&e.whoami().await.unwrap()), pid_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_errors_are_typed() {
    let srv = start!("connection_errors_are_typed", 1);
    // Wrong token.
    let bad = ConnectOptions::new().token("wrong");
    let r = Engine::connect(srv.engine_uri(0), bad.clone()).await;
    assert!(matches!(r, Err(Error::Auth(_))), "{r:?}");
    let r = ServerClient::connect(srv.uri(), bad).await;
    assert!(matches!(r, Err(Error::Auth(_))), "{r:?}");
    // No token at all (unless SRPY_TOKEN is set in the environment).
    if std::env::var_os("SRPY_TOKEN").is_none() {
        let r = Engine::connect(srv.engine_uri(0), ConnectOptions::new()).await;
        assert!(
            matches!(r, Err(Error::Auth(ref m)) if m.contains("requires a token")),
            "{r:?}"
        );
    }
    // No such engine.
    let r = srv.connect(99).await;
    assert!(matches!(r, Err(Error::NoSuchEngine(_))), "{r:?}");
    // A server URI is not an engine.
    let r = Engine::connect(srv.uri(), srv.connect_options()).await;
    assert!(matches!(r, Err(Error::InvalidUri(_))), "{r:?}");
    // Nothing listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = Engine::connect(format!("127.0.0.1:{port}"), ConnectOptions::new()).await;
    assert!(matches!(r, Err(Error::ServerNotFound { .. })), "{r:?}");
    // A closed handle.
    let e = srv.connect(0).await.unwrap();
    e.close();
    assert!(matches!(e.ping().await, Err(Error::Closed)));
}

#[test]
fn blocking_api() {
    let Some(opts) = common::options("blocking_api", 1) else {
        return;
    };
    let srv = match srpy_client::blocking::LocalServer::start(opts) {
        Ok(s) => s,
        Err(e) if common::engines_unavailable("blocking_api", &e) => return,
        Err(e) => panic!("cannot start srpy-server: {e}"),
    };
    let e = srv.connect(0).unwrap();
    assert_eq!(e.ping().unwrap(), "pong");
    e.set("n", 5).unwrap();
    assert_eq!(e.eval("n * n").unwrap(), Value::Int(25));
    assert_eq!(
        e.function("builtins.divmod")
            .call(vec![Value::from(7), Value::from(2)])
            .unwrap(),
        Value::Tuple(vec![Value::Int(3), Value::Int(1)])
    );
    let server = srv.server_client().unwrap();
    assert_eq!(server.engines().unwrap().len(), 1);
    let all = srv.connect_all().unwrap();
    assert_eq!(all[0].eval("n").unwrap(), Value::Int(5));
    let pid = srv.pid();
    srv.stop().unwrap();
    assert!(!srv.is_running());
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/status"))
                .map(|s| s.contains("State:\tZ"))
                .unwrap_or(true),
        "server process gone"
    );
    assert!(matches!(
        e.ping(),
        Err(Error::EngineDied(_) | Error::ServerNotFound { .. } | Error::Timeout(_))
    ));
}

/// A connection the server closed for idleness is reopened by the next call,
/// which succeeds (engine and server connections alike).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_for_idleness_reconnects_on_the_next_call() {
    let Some(srv) = common::start_with("idle_reconnect", 1, &["--idle-timeout", "0.5"]).await
    else {
        return;
    };
    let e = srv.connect(0).await.unwrap();
    let server = srv.server_client().await.unwrap();
    e.set("kept", 7).await.unwrap();
    let pid = pid_of(&e.whoami().await.unwrap());
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert!(
            !e.is_connected(),
            "the engine did not close the idle connection"
        );
        assert_eq!(e.eval("kept + 1").await.unwrap(), Value::Int(8));
        assert_eq!(server.ping().await.unwrap(), "pong");
    }
    // The same engine (not a restart): the namespace is intact.
    assert_eq!(pid_of(&e.whoami().await.unwrap()), pid);
}

#[test]
fn a_blocking_connection_closed_for_idleness_reconnects_on_the_next_call() {
    let Some(opts) = common::options("idle_reconnect_blocking", 1) else {
        return;
    };
    let opts = srpy_client::LocalServerOptions {
        extra_args: vec!["--idle-timeout".into(), "0.5".into()],
        ..opts
    };
    let srv = match srpy_client::blocking::LocalServer::start(opts) {
        Ok(s) => s,
        Err(e) if common::engines_unavailable("idle_reconnect_blocking", &e) => return,
        Err(e) => panic!("cannot start srpy-server: {e}"),
    };
    let e = srv.connect(0).unwrap();
    assert_eq!(e.eval("1 + 1").unwrap(), Value::Int(2));
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(e.eval("2 + 2").unwrap(), Value::Int(4));
}
