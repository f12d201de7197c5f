//! TLS from outside, with a real `srpy-server` and real engines: a CA,
//! a pinned `--tls auto` certificate, mutual TLS, and every error a user
//! will meet, each with its message; then across hosts, a server and its
//! clients in two network namespaces joined by a veth pair.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use srpy_client::{ConnectOptions, Engine, Error, LocalServer, ServerClient, Value};

/// A certificate authority of the test, with files in a folder.
struct Pki {
    dir: tempdir::Dir,
    ca: Issuer<'static, KeyPair>,
}

/// A private folder removed on drop.
mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Dir {
            let n = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let p = std::env::temp_dir().join(format!("srpy-tls-{tag}-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Pki {
    fn new(tag: &str) -> Pki {
        let dir = tempdir::Dir::new(tag);
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("srpy test CA {tag}"));
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.0.join("ca.pem"), cert.pem()).unwrap();
        Pki {
            dir,
            ca: Issuer::new(params, key),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.0.join(name)
    }

    /// A certificate signed by the CA for `names`, written as
    /// `<name>.pem` and `<name>.key`; `expired`: valid only in 2000.
    fn issue(&self, name: &str, names: &[&str], expired: bool) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2000, 12, 31);
        }
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let (c, k) = (
            self.path(&format!("{name}.pem")),
            self.path(&format!("{name}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

async fn tls_server(test: &str, args: &[&str]) -> Option<LocalServer> {
    common::start_with(test, 1, args).await
}

/// The options of `server` (its token) with TLS options on top.
fn with(server: &LocalServer, f: impl FnOnce(ConnectOptions) -> ConnectOptions) -> ConnectOptions {
    let mut o = server.connect_options();
    o.tls_ca = None;
    o.tls_pin = None;
    f(o.connect_timeout(Duration::from_secs(5)))
}

async fn engine_err(uri: String, opts: ConnectOptions) -> Error {
    match Engine::connect(uri, opts).await {
        Ok(_) => panic!("connected, expected an error"),
        Err(e) => e,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_ca_and_its_errors() {
    let pki = Pki::new("ca");
    let (cert, key) = pki.issue("server", &["127.0.0.1", "localhost"], false);
    let args = ["--tls-cert", s(&cert), "--tls-key", s(&key)];
    let Some(server) = tls_server("tls_with_a_ca_and_its_errors", &args).await else {
        return;
    };
    assert!(server.uri().tls, "{}", server.uri());
    let ca = pki.path("ca.pem");
    // Through the directory (srpys://host:port/0) and to the engine.
    let eng = Engine::connect(server.engine_uri(0), with(&server, |o| o.tls_ca(&ca)))
        .await
        .unwrap();
    assert_eq!(eng.eval("6 * 7").await.unwrap(), Value::Int(42));
    let big = vec![7u8; 8 << 20];
    eng.set("blob", Value::Bytes(big.clone().into()))
        .await
        .unwrap();
    assert_eq!(eng.get("blob").await.unwrap(), Value::Bytes(big.into()));
    // The token still runs inside TLS.
    let wrong_token = with(&server, |o| o.tls_ca(&ca).token("not the token"));
    let e = engine_err(server.engine_uri(0).to_string(), wrong_token).await;
    assert!(
        matches!(e, Error::Auth(_)) && e.to_string().contains("wrong token"),
        "{e}"
    );

    // A CA that did not sign the server's certificate.
    let other = Pki::new("other");
    let e = engine_err(
        server.engine_uri(0).to_string(),
        with(&server, |o| o.tls_ca(other.path("ca.pem"))),
    )
    .await;
    assert!(matches!(e, Error::Auth(_)), "{e:?}");
    assert!(e.to_string().contains("not signed by a trusted CA"), "{e}");

    // Plaintext client on a TLS server: told so, not left waiting.
    let plain = server.uri().to_string().replace("srpys://", "srpy://");
    let e = match ServerClient::connect(plain, with(&server, |o| o)).await {
        Ok(_) => panic!("a plaintext client got in"),
        Err(e) => e,
    };
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    assert!(e.to_string().contains("this server requires TLS"), "{e}");
    drop(server);

    // An expired certificate.
    let (cert, key) = pki.issue("expired", &["127.0.0.1"], true);
    let args = ["--tls-cert", s(&cert), "--tls-key", s(&key)];
    let Some(server) = tls_server("tls_with_a_ca_and_its_errors", &args).await else {
        return;
    };
    let e = match ServerClient::connect(server.uri(), with(&server, |o| o.tls_ca(&ca))).await {
        Ok(_) => panic!("an expired certificate was accepted"),
        Err(e) => e,
    };
    assert!(matches!(e, Error::Auth(_)), "{e:?}");
    assert!(e.to_string().contains("the certificate has expired"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_auto_with_a_pinned_fingerprint() {
    let Some(server) = tls_server("tls_auto_with_a_pinned_fingerprint", &["--tls", "auto"]).await
    else {
        return;
    };
    // LocalServer pins what the server wrote in its uri file.
    let pin = server
        .connect_options()
        .tls_pin
        .expect("the uri file's pin");
    let eng = Engine::connect(server.engine_uri(0), with(&server, |o| o.tls_pin(&pin)))
        .await
        .unwrap();
    assert_eq!(eng.eval("'pinned'").await.unwrap(), Value::from("pinned"));
    // The pin in another spelling (no colons, lower case, sha256: prefix).
    let shown = pin.trim_start_matches("sha256:");
    let bare = shown.replace(':', "").to_lowercase();
    let eng = Engine::connect(server.engine_uri(0), with(&server, |o| o.tls_pin(&bare)))
        .await
        .unwrap();
    assert_eq!(eng.ping().await.unwrap(), "pong");

    // A pin of another certificate: both fingerprints in the message.
    let wrong = vec!["AB"; 32].join(":");
    let e = engine_err(
        server.engine_uri(0).to_string(),
        with(&server, |o| o.tls_pin(&wrong)),
    )
    .await;
    assert!(matches!(e, Error::Auth(_)), "{e:?}");
    let m = e.to_string();
    assert!(m.contains("does not match the pinned fingerprint"), "{m}");
    assert!(m.contains(&wrong) && m.contains(shown), "{m}");
    // srpys:// without a way to verify the server.
    let e = engine_err(server.engine_uri(0).to_string(), with(&server, |o| o)).await;
    assert!(e.to_string().contains("give tls_ca"), "{e}");
}

/// The options of `server` pinning its `--tls auto` certificate.
fn pinned(server: &LocalServer) -> ConnectOptions {
    let pin = server
        .connect_options()
        .tls_pin
        .expect("the uri file's pin");
    with(server, |o| o.tls_pin(pin))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_through_the_one_port_to_engine_i_pinned() {
    let test = "tls_through_the_one_port_to_engine_i_pinned";
    let Some(server) = common::start_with(test, 2, &["--tls", "auto"]).await else {
        return;
    };
    let directory = ServerClient::connect(server.uri(), pinned(&server))
        .await
        .unwrap();
    let engines = directory.engines().await.unwrap();
    for i in [1u64, 0] {
        // The routing preamble (plaintext) names engine i at the server's
        // port; engine i's process answers it, then terminates TLS itself.
        let uri = server.engine_uri(i);
        assert_eq!(uri.port, server.uri().port, "{uri}");
        let eng = Engine::connect(uri, pinned(&server)).await.unwrap();
        let pid = eng.eval("__import__('os').getpid()").await.unwrap();
        assert_eq!(pid, Value::Int(engines[i as usize].pid.unwrap().into()));
    }
    // The engine's TLS step answers a plaintext client after the preamble.
    let plain = server
        .engine_uri(1)
        .to_string()
        .replace("srpys://", "srpy://");
    let e = engine_err(plain, with(&server, |o| o)).await;
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    assert!(e.to_string().contains("this server requires TLS"), "{e}");
    // A wrong pin fails engine 1's certificate, as it does the directory's.
    let wrong = vec!["AB"; 32].join(":");
    let opts = with(&server, |o| o.tls_pin(&wrong));
    let e = engine_err(server.engine_uri(1).to_string(), opts).await;
    assert!(matches!(e, Error::Auth(_)), "{e:?}");
    assert!(
        e.to_string()
            .contains("does not match the pinned fingerprint"),
        "{e}"
    );
}

/// A reply as large as the output-buffer limit (64 MiB, the default) leaves
/// over TLS as it does in plaintext: the limit bounds what waits behind the
/// frame being written, not the frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_moves_64_mib_each_way() {
    let test = "tls_moves_64_mib_each_way";
    let Some(server) = common::start_with(test, 1, &["--tls", "auto"]).await else {
        return;
    };
    let eng = Engine::connect(server.engine_uri(0), pinned(&server))
        .await
        .unwrap();
    let big: Vec<u8> = (0..64usize << 20).map(|i| (i % 251) as u8).collect();
    eng.set("blob", Value::Bytes(big.clone().into()))
        .await
        .unwrap();
    let got = eng.get("blob").await.unwrap();
    assert!(
        got == Value::Bytes(big.into()),
        "64 MiB came back different"
    );
    // The connection is still good after it.
    assert_eq!(eng.eval("len(blob)").await.unwrap(), Value::Int(64 << 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_against_a_plaintext_server_is_told_so() {
    let Some(server) = tls_server("tls_client_against_a_plaintext_server", &[]).await else {
        return;
    };
    let tls_uri = server
        .engine_uri(0)
        .to_string()
        .replace("srpy://", "srpys://");
    let pin = vec!["AB"; 32].join(":");
    let e = engine_err(tls_uri, with(&server, |o| o.tls_pin(&pin))).await;
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    assert!(e.to_string().contains("did not answer in TLS"), "{e}");
    assert!(e.to_string().contains("plaintext SRPy server"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_wants_a_client_certificate_of_its_ca() {
    let pki = Pki::new("mtls");
    let (cert, key) = pki.issue("server", &["127.0.0.1"], false);
    let (client_cert, client_key) = pki.issue("client", &["client"], false);
    let ca = pki.path("ca.pem");
    let args = [
        "--tls-cert",
        s(&cert),
        "--tls-key",
        s(&key),
        "--tls-client-ca",
        s(&ca),
    ];
    let Some(server) = tls_server("mutual_tls", &args).await else {
        return;
    };
    let opts = with(&server, |o| {
        o.tls_ca(&ca).tls_client_cert(&client_cert, &client_key)
    });
    let eng = Engine::connect(server.engine_uri(0), opts).await.unwrap();
    assert_eq!(eng.eval("1 + 1").await.unwrap(), Value::Int(2));
    // Without a client certificate.
    let e = engine_err(
        server.engine_uri(0).to_string(),
        with(&server, |o| o.tls_ca(&ca)),
    )
    .await;
    assert!(matches!(e, Error::Auth(_)), "{e:?}");
    assert!(e.to_string().contains("refused the connection"), "{e}");
    // With a certificate of another CA.
    let other = Pki::new("mtls-other");
    let (c, k) = other.issue("stranger", &["client"], false);
    let opts = with(&server, |o| o.tls_ca(&ca).tls_client_cert(&c, &k));
    let e = engine_err(server.engine_uri(0).to_string(), opts).await;
    assert!(matches!(e, Error::Auth(_)), "{e:?}");
}

/// Two network namespaces joined by a veth pair, `10.99.0.1` (server side)
/// and `10.99.0.2` (client side); removed on drop.
struct NetPair {
    server_ns: String,
    client_ns: String,
}

fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl NetPair {
    /// `None` (after saying why) when this process may not make namespaces.
    fn new(test: &str) -> Option<NetPair> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIP {test}: needs root to create network namespaces (CI runs as root)");
            return None;
        }
        let tag = std::process::id() % 100_000;
        let pair = NetPair {
            server_ns: format!("srpy-s{tag}"),
            client_ns: format!("srpy-c{tag}"),
        };
        let (vs, vc) = (format!("vs{tag}"), format!("vc{tag}"));
        ip(&["netns", "add", &pair.server_ns]);
        ip(&["netns", "add", &pair.client_ns]);
        ip(&["link", "add", &vs, "type", "veth", "peer", "name", &vc]);
        ip(&["link", "set", &vs, "netns", &pair.server_ns]);
        ip(&["link", "set", &vc, "netns", &pair.client_ns]);
        for (ns, dev, addr) in [
            (&pair.server_ns, &vs, "10.99.0.1/24"),
            (&pair.client_ns, &vc, "10.99.0.2/24"),
        ] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        Some(pair)
    }

    /// `srpy-server` in the server namespace.
    fn server(&self, args: &[&str]) -> std::process::Child {
        let bin = common::server_bin().expect("a srpy-server binary");
        std::process::Command::new("ip")
            .args(["netns", "exec", &self.server_ns])
            .arg(bin)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("srpy-server")
    }

    /// Runs `f` on a thread inside the client namespace, with a runtime
    /// of its own there (its sockets are made in that namespace).
    fn client<T: Send>(&self, f: impl FnOnce(&tokio::runtime::Runtime) -> T + Send) -> T {
        use std::os::fd::AsRawFd;
        let path = format!("/var/run/netns/{}", self.client_ns);
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let ns = std::fs::File::open(&path).expect("the namespace file");
                    // SAFETY: setns on this thread only, with an open namespace file.
                    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    f(&rt)
                })
                .join()
                .unwrap()
        })
    }
}

impl Drop for NetPair {
    fn drop(&mut self) {
        for ns in [&self.server_ns, &self.client_ns] {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .status();
        }
    }
}

/// Waits for the uri file of a server: (server URI, pin).
fn wait_uri_file(path: &Path, child: &mut std::process::Child) -> (String, String) {
    let start = std::time::Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Some(pin) = text.lines().find_map(|l| l.strip_prefix("tls-pin ")) {
                return (text.lines().next().unwrap().to_owned(), pin.to_owned());
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("srpy-server exited ({status}): {err}");
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no uri file");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn across_hosts_in_network_namespaces() {
    let test = "across_hosts_in_network_namespaces";
    if common::options(test, 1).is_none() {
        return;
    }
    let Some(net) = NetPair::new(test) else {
        return;
    };
    let pki = Pki::new("netns");
    let (client_cert, client_key) = pki.issue("client", &["client"], false);
    let token = pki.path("token");
    std::fs::write(&token, "netns-token").unwrap();
    let tok = s(&token);
    let listen = [
        "--listen",
        "10.99.0.1:7733",
        "--engines",
        "1",
        "--token-file",
        tok,
    ];

    // Without TLS, a non-loopback address is refused at start.
    let out = net.server(&listen).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on 10.99.0.1:7733 without TLS"),
        "{err}"
    );

    for mutual in [false, true] {
        let uri_file = pki.path(&format!("uri-{mutual}"));
        let mut args = listen.to_vec();
        args.extend(["--tls", "auto", "--uri-file", s(&uri_file)]);
        let ca = pki.path("ca.pem");
        if mutual {
            args.extend(["--tls-client-ca", s(&ca)]);
        }
        let mut child = net.server(&args);
        let (uri, pin) = wait_uri_file(&uri_file, &mut child);
        assert_eq!(uri, "srpys://10.99.0.1:7733");
        let (cert, key) = (&client_cert, &client_key);
        let result = net.client(|rt| {
            rt.block_on(async {
                let mut opts = ConnectOptions::new().token("netns-token").tls_pin(&pin);
                if mutual {
                    opts = opts.tls_client_cert(cert, key);
                }
                let eng = Engine::connect(format!("{uri}/0"), opts.clone()).await?;
                let peer = eng
                    .eval("__import__('socket').gethostname() and 'ok'")
                    .await?;
                // Without the client certificate (mutual TLS only).
                let refused = Engine::connect(
                    format!("{uri}/0"),
                    ConnectOptions::new().token("netns-token").tls_pin(&pin),
                )
                .await
                .err();
                Ok::<_, Error>((peer, refused))
            })
        });
        let _ = child.kill();
        let _ = child.wait();
        let (peer, refused) = result.unwrap_or_else(|e| panic!("mutual={mutual}: {e}"));
        assert_eq!(peer, Value::from("ok"));
        match (mutual, refused) {
            (false, None) => {}
            (true, Some(e)) => assert!(e.to_string().contains("refused the connection"), "{e}"),
            (m, r) => panic!("mutual={m}: {r:?}"),
        }
    }
}
