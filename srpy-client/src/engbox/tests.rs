//! Unit tests of the box and its map (the end-to-end tests with real
//! engines are in `srpy-client/tests/engbox.rs`).

use super::map::parse_chunk;
use super::*;

#[test]
fn split_sizes_are_balanced() {
    assert_eq!(split_sizes(10, 3), vec![4, 3, 3]);
    assert_eq!(split_sizes(2, 4), vec![1, 1, 0, 0]);
    assert_eq!(split_sizes(0, 2), vec![0, 0]);
    assert_eq!(split_sizes(5, 0), Vec::<usize>::new());
    assert_eq!(split_sizes(9, 3).iter().sum::<usize>(), 9);
}

#[test]
fn automatic_chunks() {
    assert_eq!(auto_chunksize(10_000, 2), 625);
    assert_eq!(auto_chunksize(16, 2), 1);
    assert_eq!(auto_chunksize(40, 2), 3);
    assert_eq!(auto_chunksize(3, 8), 1);
    assert_eq!(auto_chunksize(0, 2), 1);
    assert_eq!(auto_chunksize(10_000_000, 1), MAX_AUTO_CHUNK);
    assert_eq!(auto_chunksize(20, 0), 3);
}

#[test]
fn uri_lists_skip_blanks_and_comments() {
    let text = "# engines\n\nsrpy://127.0.0.1:9000/0\n  srpy://h:1  # a server\n#x\n";
    let got = parse_uri_list(text).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].uri.index, Some(0));
    assert_eq!(got[1].uri.host, "h");
    assert_eq!(got[1].uri.index, None);
    assert!(got.iter().all(|e| e.tls_pin.is_none()));
    assert!(parse_uri_list("nope").is_err());
    assert!(parse_uri_list("").unwrap().is_empty());
}

#[test]
fn uri_lists_carry_each_servers_pin() {
    let a = "ab".repeat(32);
    let b = format!("sha256:{}", "CD:".repeat(31) + "CD");
    let text = format!(
        "# srpy cluster pid 7\nsrpys://10.0.0.2:4000 tls-pin sha256:{a}  # h1\n\
         srpys://10.0.0.3:4000 tls-pin {b}\nsrpys://10.0.0.4:4000\n"
    );
    let got = parse_uri_list(&text).unwrap();
    let pins: Vec<_> = got.iter().map(|e| e.tls_pin.clone()).collect();
    let canonical_a = "AB:".repeat(31) + "AB";
    assert_eq!(
        pins,
        vec![Some(canonical_a.clone()), Some(b[7..].to_owned()), None]
    );
    // A pin of the list wins over the caller's; without one, the caller's.
    let base = ConnectOptions::default().tls_pin("caller");
    assert_eq!(
        got[0].connect_options(&base).tls_pin,
        Some(canonical_a.clone())
    );
    assert_eq!(
        got[2].connect_options(&base).tls_pin.as_deref(),
        Some("caller")
    );

    // `srpy-server --uri-file`: one pin line for all its addresses.
    let server_file = format!("srpys://h:1\nsrpys://h:1/0\ntls-pin sha256:{a}\n");
    let got = parse_uri_list(&server_file).unwrap();
    assert!(got
        .iter()
        .all(|e| e.tls_pin.as_deref() == Some(canonical_a.as_str())));

    // Bad pins and stray fields are named with their line.
    let err = parse_uri_list("srpys://h:1\nsrpys://h:2 tls-pin sha256:12\n").unwrap_err();
    assert!(
        err.to_string().contains("line 2") && err.to_string().contains("64 hex"),
        "{err}"
    );
    let err = parse_uri_list("srpys://h:2 pin xyz\n").unwrap_err();
    assert!(err.to_string().contains("expected `URI`"), "{err}");
    let twice = format!("tls-pin {a}\ntls-pin {a}\n");
    assert!(parse_uri_list(&twice)
        .unwrap_err()
        .to_string()
        .contains("second"));
}

#[test]
fn basis_parses() {
    assert_eq!("ALL".parse::<Basis>().unwrap(), Basis::All);
    assert_eq!("net".parse::<Basis>().unwrap(), Basis::Net);
    assert_eq!("proc".parse::<Basis>().unwrap(), Basis::Proc);
    assert!("cpu".parse::<Basis>().is_err());
    let b = Benchmark {
        net_s: 1.0,
        proc_s: 2.0,
        busy: false,
    };
    assert_eq!(Basis::All.score(&b), 3.0);
    assert_eq!(Basis::Net.score(&b), 1.0);
    assert_eq!(Basis::Proc.score(&b), 2.0);
}

#[test]
fn task_specs() {
    assert_eq!(
        MapTask::expr("x + 1").spec(),
        Value::List(vec!["expr".into(), "x + 1".into(), "x".into()])
    );
    assert_eq!(
        MapTask::call("math.sqrt").spec(),
        Value::List(vec!["call".into(), "math.sqrt".into()])
    );
    assert_eq!(
        MapTask::Pickled(vec![1, 2]).spec(),
        Value::List(vec!["pickle".into(), Value::Bytes(vec![1, 2].into())])
    );
}

#[test]
fn chunk_answers_parse() {
    let v = Value::List(vec![
        Value::List(vec![Value::Int(1), Value::Null, Value::Int(3)]),
        Value::List(vec![Value::List(vec![
            Value::Int(1),
            "ZeroDivisionError".into(),
            "division by zero".into(),
            "Traceback ...".into(),
        ])]),
    ]);
    let r = parse_chunk(v, 3).unwrap();
    assert_eq!(r[0].as_ref().unwrap(), &Value::Int(1));
    let e = r[1].as_ref().unwrap_err();
    assert_eq!(e.remote_type(), Some("ZeroDivisionError"));
    assert_eq!(e.traceback(), Some("Traceback ..."));
    assert_eq!(r[2].as_ref().unwrap(), &Value::Int(3));

    let short = Value::List(vec![Value::List(vec![]), Value::List(vec![])]);
    assert!(matches!(parse_chunk(short, 1), Err(Error::Protocol(_))));
    assert!(parse_chunk(Value::Int(1), 1).is_err());
    let bad_pos = Value::List(vec![
        Value::List(vec![Value::Null]),
        Value::List(vec![Value::List(vec![Value::Int(5)])]),
    ]);
    assert!(parse_chunk(bad_pos, 1).is_err());
}

#[test]
fn errors_duplicate() {
    let e = Error::Remote {
        type_name: "KeyError".into(),
        message: "'a'".into(),
        traceback: Some("tb".into()),
    };
    let d = dup_error(&e);
    assert_eq!(d.remote_type(), Some("KeyError"));
    assert_eq!(d.traceback(), Some("tb"));
    let io = Error::Io(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "gone"));
    assert!(
        matches!(dup_error(&io), Error::Io(ref x) if x.kind() == std::io::ErrorKind::BrokenPipe)
    );
    assert_eq!(loss(&Error::EngineDied("x".into())), Some(true));
    assert_eq!(loss(&Error::Closed), Some(false));
    assert_eq!(loss(&e), None);
}

#[test]
fn hosts_compare() {
    assert!(same_host("127.0.0.1", "127.0.0.1"));
    assert!(same_host("::1", "[::1]"));
    assert!(same_host("LocalHost", "localhost"));
    assert!(!same_host("127.0.0.1", "127.0.0.2"));
}

#[tokio::test]
async fn empty_boxes() {
    let b = EngBox::default();
    assert!(b.is_empty());
    assert!(b
        .imap(MapTask::expr("x"), vec![], MapOptions::default())
        .is_err());
    assert!(b.scatter("a", vec![]).await.is_err());
    assert!(b.run_parallel(Op::Ping).await.is_empty());
    assert!(b.get_dead(true).await.is_empty());
    assert_eq!(b.gather("a").await.unwrap(), Vec::<Value>::new());
}

#[tokio::test]
async fn unreachable_engines_fail_every_item_and_are_reported() {
    // A port nothing listens on: connecting fails at once.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let opts = ConnectOptions::default().connect_timeout(Duration::from_millis(500));
    let e = Engine::lazy(format!("127.0.0.1:{port}"), opts).unwrap();
    let b = EngBox::new([e.clone(), e]);
    let out = b
        .map(
            MapTask::expr("x"),
            (0..5).map(Value::from).collect(),
            MapOptions::default().chunksize(2),
        )
        .await
        .unwrap();
    assert_eq!(out.results.len(), 5);
    assert!(out
        .results
        .iter()
        .all(|r| matches!(r, Err(Error::EngineDied(_)))));
    assert_eq!(out.report.dead_engines, vec![0, 1]);
    assert_eq!(out.report.failed, 5);
    assert_eq!(b.get_dead(false).await, vec![0, 1]);
    let empty = b
        .map(MapTask::expr("x"), vec![], MapOptions::default())
        .await
        .unwrap();
    assert!(empty.results.is_empty());
}

#[tokio::test]
async fn engines_that_never_answer_the_handshake_count_as_dead() {
    // Accepted by the kernel, never spoken to: the connect times out.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let opts = ConnectOptions::default().connect_timeout(Duration::from_millis(300));
    let b = EngBox::new([Engine::lazy(format!("127.0.0.1:{port}"), opts).unwrap()]);
    let out = b
        .map(
            MapTask::expr("x"),
            (0..3).map(Value::from).collect(),
            MapOptions::default(),
        )
        .await
        .unwrap();
    assert!(out
        .results
        .iter()
        .all(|r| matches!(r, Err(Error::EngineDied(_)))));
    assert_eq!(out.report.dead_engines, vec![0]);
    assert_eq!(out.report.retried_chunks, 1, "{:?}", out.report);
    let r = b.run_parallel(Op::Ping).await;
    assert!(matches!(r[0].1, Err(Error::Timeout(_))));
    assert!(b.is_dead(0));
    drop(silent);
}
