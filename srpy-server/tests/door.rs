//! The door under bad input: every case gets a clear error or a closed
//! connection, and another client on the same server keeps working.

mod common;

use std::time::Duration;

use common::{err_info, ok_value, TestServer, Wire};
use srpy_proto::handshake::{client_proof, new_nonce};
use srpy_proto::{AuthReply, Challenge, ErrorKind, Feature, Hello, Op, Reply, Value};

/// Asserts a bystander connection to engine 0 still evaluates.
fn bystander_ok(server: &TestServer, bystander: &mut Wire) {
    assert_eq!(ok_value(bystander.eval("40 + 2")), Value::Int(42));
    assert_eq!(
        ok_value(server.connect().call(Op::Ping)),
        Value::from("pong")
    );
}

#[test]
fn garbage_bytes_get_an_error_or_a_close_and_others_keep_working() {
    let server = TestServer::start(1, None, &["--engine-ports", "auto"]);
    let mut bystander = server.engine(0);
    ok_value(bystander.call(Op::Exec {
        code: "kept = 7".into(),
        vars: vec![],
    }));
    for port in [server.port, server.engine_port(0)] {
        // Not a frame at all: a length prefix of "GET " is over the limit.
        let mut w = Wire::raw(port);
        w.send_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        match w.recv_reply() {
            Some(Reply::Err { id: None, error }) => {
                assert_eq!(error.kind, ErrorKind::Limit, "{error:?}");
                assert!(error.message.contains("exceeds"), "{}", error.message);
            }
            None => {}
            other => panic!("unexpected {other:?}"),
        }
        assert!(w.closed_within(Duration::from_secs(5)));
        // A frame whose payload is not CBOR.
        let mut w = Wire::raw(port);
        w.send_bytes(&[0, 0, 0, 3, 0xff, 0xff, 0xff]).unwrap();
        let e = err_info(w.recv_reply().expect("an error frame"));
        assert_eq!(e.kind, ErrorKind::Protocol);
        assert!(e.message.contains("handshake failed"), "{}", e.message);
        assert!(w.closed_within(Duration::from_secs(5)));
    }
    bystander_ok(&server, &mut bystander);
    assert_eq!(ok_value(bystander.eval("kept")), Value::Int(7));
}

#[test]
fn garbage_after_authentication_is_answered_and_closed() {
    let server = TestServer::start(1, None, &[]);
    let mut bystander = server.engine(0);
    let mut w = server.engine(0);
    w.send_bytes(&[0, 0, 0, 2, 0x9f, 0x01]).unwrap(); // indefinite array
    let e = err_info(w.recv_reply().expect("an error frame"));
    assert_eq!(e.kind, ErrorKind::Protocol);
    assert!(e.message.contains("indefinite-length"), "{}", e.message);
    assert!(w.closed_within(Duration::from_secs(5)));
    bystander_ok(&server, &mut bystander);
}

#[test]
fn oversized_length_prefix_is_refused_before_allocation() {
    let server = TestServer::start(
        1,
        None,
        &["--engine-ports", "auto", "--max-frame", "1000000"],
    );
    let mut bystander = server.engine(0);
    // Before authentication the limit is 4096 bytes.
    let mut w = Wire::raw(server.engine_port(0));
    w.send_bytes(&[0x7f, 0xff, 0xff, 0xff]).unwrap();
    let e = err_info(w.recv_reply().expect("an error frame"));
    assert_eq!(e.kind, ErrorKind::Limit);
    assert!(e.message.contains("4096"), "{}", e.message);
    // After authentication, the configured maximum.
    let mut w = server.engine(0);
    w.send_bytes(&[0x10, 0, 0, 0]).unwrap();
    let e = err_info(w.recv_reply().expect("an error frame"));
    assert_eq!(e.kind, ErrorKind::Limit);
    assert!(
        e.message.contains("maximum frame size of 1000000"),
        "{}",
        e.message
    );
    assert!(w.closed_within(Duration::from_secs(5)));
    bystander_ok(&server, &mut bystander);
}

#[test]
fn truncated_frame_then_close_leaves_the_engine_serving() {
    let server = TestServer::start(1, None, &[]);
    let mut bystander = server.engine(0);
    {
        let mut w = server.engine(0);
        w.send_bytes(&[0, 0, 0, 50, 0xa1, 0x61]).unwrap();
        // Dropped here: the engine sees EOF in the middle of a frame.
    }
    {
        let mut w = Wire::raw(server.port);
        w.send_bytes(&[0, 0]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    bystander_ok(&server, &mut bystander);
}

#[test]
fn wrong_protocol_version_names_both_ranges() {
    let server = TestServer::start(1, None, &[]);
    let mut w = Wire::raw(server.port);
    let mut hello = Hello::new("future-client", vec![]);
    hello.min_version = 7;
    hello.max_version = 9;
    w.send(&hello.to_value());
    let e = err_info(w.recv_reply().expect("an error frame"));
    assert_eq!(e.kind, ErrorKind::Version);
    assert_eq!(
        e.message,
        "no common protocol version: client supports 7..=9, this server supports 1..=1"
    );
    assert!(w.closed_within(Duration::from_secs(5)));
}

#[test]
fn token_is_required_checked_and_not_replayable() {
    let server = TestServer::start(1, Some("s3cret"), &["--engine-ports", "auto"]);
    for port in [server.port, server.engine_port(0)] {
        // Right token: in, and the server proved it knows it too.
        let w = Wire::connect(port, Some("s3cret")).expect("right token");
        assert!(!w.welcome.unwrap().proof.is_empty());
        // Wrong token and no token: a typed auth error, then closed.
        for token in [Some("wrong"), None] {
            let e = match Wire::connect(port, token) {
                Err(Reply::Err { error, .. }) => error,
                other => panic!("expected an auth error, got {:?}", other.map(|_| ())),
            };
            assert_eq!(e.kind, ErrorKind::Auth);
            assert_eq!(e.message, "authentication failed: wrong token");
        }
    }
    // Replay: record a valid auth message, send it on a new connection.
    let mut first = Wire::raw(server.port);
    first.send(&Hello::new("t", vec![]).to_value());
    let ch = Challenge::from_value(first.recv().unwrap()).unwrap();
    let nonce = new_nonce();
    let recorded = AuthReply {
        nonce,
        proof: client_proof(b"s3cret", &ch.nonce, &nonce),
    };
    first.send(&recorded.to_value());
    assert_eq!(
        srpy_proto::handshake::message_type(&first.recv().unwrap()),
        Some("welcome")
    );
    let mut replay = Wire::raw(server.port);
    replay.send(&Hello::new("t", vec![]).to_value());
    let _fresh_challenge = replay.recv().unwrap();
    replay.send(&recorded.to_value());
    let e = err_info(replay.recv_reply().unwrap());
    assert_eq!(e.kind, ErrorKind::Auth);
}

#[test]
fn the_token_never_crosses_the_wire() {
    // Only HMAC proofs travel: the token's bytes appear in no frame sent by
    // a client that authenticates (checked on the encoded frames).
    let ch_nonce = new_nonce();
    let nonce = new_nonce();
    let auth = AuthReply {
        nonce,
        proof: client_proof(b"s3cret-token", &ch_nonce, &nonce),
    };
    let bytes = srpy_proto::frame::encode_frame(&auth.to_value());
    assert!(!bytes.windows(12).any(|w| w == b"s3cret-token"));
}

#[test]
fn handshake_deadline_closes_silent_connections() {
    let server = TestServer::start(1, None, &["--handshake-timeout", "0.3"]);
    let mut w = Wire::raw(server.port);
    let e = err_info(w.recv_reply().expect("an error frame"));
    assert_eq!(e.kind, ErrorKind::Protocol);
    assert!(
        e.message.contains("handshake not completed within 0.3 s"),
        "{}",
        e.message
    );
    assert!(w.closed_within(Duration::from_secs(5)));
}

#[test]
fn connection_limit_refuses_extra_connections() {
    let server = TestServer::start(
        1,
        None,
        &["--engine-ports", "auto", "--max-connections", "2"],
    );
    let port = server.engine_port(0);
    let mut a = Wire::connect(port, None).unwrap();
    let _b = Wire::connect(port, None).unwrap();
    let mut c = Wire::raw(port);
    let e = err_info(c.recv_reply().expect("a limit error"));
    assert_eq!(e.kind, ErrorKind::Limit);
    assert_eq!(e.message, "too many connections (limit 2)");
    assert_eq!(ok_value(a.eval("1")), Value::Int(1));
}

#[test]
fn unknown_ops_and_bad_fields_are_answered_and_the_connection_stays() {
    let server = TestServer::start(1, None, &[]);
    let mut w = server.engine(0);
    let e = err_info(w.call(Op::Unknown("teleport".into())));
    assert_eq!(e.kind, ErrorKind::UnsupportedOp);
    assert_eq!(e.message, "unsupported op 'teleport'");
    // A known op with a field of the wrong type: answered with its id.
    w.send(&Value::map([
        ("t", Value::from("req")),
        ("id", Value::from(99)),
        ("op", Value::from("eval")),
        ("expr", Value::from(5)),
        ("future_field", Value::from("ignored")),
    ]));
    match w.recv_reply().unwrap() {
        Reply::Err {
            id: Some(99),
            error,
        } => {
            assert_eq!(error.kind, ErrorKind::Protocol);
            assert_eq!(
                error.message,
                "invalid request: field 'expr' must be text, got int"
            );
        }
        other => panic!("{other:?}"),
    }
    // Unknown fields are ignored.
    w.send(&Value::map([
        ("t", Value::from("req")),
        ("id", Value::from(100)),
        ("op", Value::from("eval")),
        ("expr", Value::from("2*3")),
        ("priority", Value::from("high")),
    ]));
    assert_eq!(w.recv_reply().unwrap(), Reply::ok(100, Value::Int(6)));
    // The server's own connection answers engine ops with a pointer.
    let e = err_info(server.connect().eval("1"));
    assert_eq!(e.kind, ErrorKind::UnsupportedOp);
    assert!(e.message.contains("served by engines"), "{}", e.message);
}

#[test]
fn non_loopback_listen_without_token_refuses_to_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_srpy-server"))
        .args(["--listen", "0.0.0.0:0", "--engines", "1"])
        .env_remove("SRPY_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 without a token"),
        "{stderr}"
    );
    assert!(stderr.contains("--insecure-no-token"), "{stderr}");
}

#[test]
fn missing_srpy_in_the_engine_interpreter_says_how_to_fix_it() {
    let dir = common::TempDir::new("nosrpy");
    // An interpreter that cannot import srpy: plain python3 with -I would
    // still find site-packages, so point PYTHONPATH nowhere and use -S via
    // a wrapper script.
    let wrapper = dir.0.join("python");
    std::fs::write(&wrapper, "#!/bin/sh\nexec python3 -S -I \"$@\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_srpy-server"))
        .args(["--listen", "127.0.0.1:0", "--engines", "1", "--python"])
        .arg(&wrapper)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot import srpy"), "{stderr}");
    assert!(stderr.contains("-m pip install ./srpy-py"), "{stderr}");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = TestServer::start(1, None, &[]);
    let mut w = server.engine(0);
    let ids: Vec<u64> = (0..200)
        .map(|i| {
            w.send_op(Op::Eval {
                expr: format!("{i} * 2"),
                vars: vec![],
            })
        })
        .collect();
    for (i, id) in ids.into_iter().enumerate() {
        assert_eq!(
            w.recv_reply().unwrap(),
            Reply::ok(id, Value::Int(i as i64 * 2))
        );
    }
    let _ = Feature::Output;
}

#[test]
fn a_token_file_open_to_other_users_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = common::TempDir::new("tokenmode");
    let token = dir.0.join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    // A bad --engine-ports stops the server right after it read the token.
    let stderr_with = |mode: u32| {
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_srpy-server"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--engines",
                "2",
                "--engine-ports",
                "9100-9100",
            ])
            .arg("--token-file")
            .arg(&token)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let open = stderr_with(0o644);
    assert!(
        open.contains("is open to other users (mode 644)") && open.contains("chmod 600"),
        "{open}"
    );
    let private = stderr_with(0o600);
    assert!(!private.contains("open to other users"), "{private}");
    assert!(
        private.contains("has 1 port(s) for 2 engine(s)"),
        "{private}"
    );
}
