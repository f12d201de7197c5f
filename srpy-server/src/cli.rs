//! The `srpy-server` command line (feature `cli`): options, `--config`
//! files, start-up and shutdown on a signal. [`main`] is the whole program;
//! the `srpy-server` binary and the Python extension's
//! `srpy._srpy.server_main` (behind `python -m srpy.server` and the wheel's
//! `srpy-server` script) both call it.

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::directory::{self, ServerInfo};
use crate::door::{self, DoorConfig, Limits};
use crate::logging::{self, LogFormat};
use crate::metrics;
use crate::routing::Routing;
use crate::supervisor::{Supervisor, SupervisorConfig};
use crate::tls::{TlsAcceptor, TlsIdentity};
use clap::Parser;
use srpy_proto::Role;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::broadcast;

/// Default port of `srpy-server`.
const DEFAULT_PORT: u16 = 7733;

#[derive(Parser, Debug)]
#[command(
    name = "srpy-server",
    version,
    about = "Serve CPython engines that SRPy clients control over the network",
    after_help = "Clients connect to srpy://HOST:PORT (all engines) or srpy://HOST:PORT/INDEX (one engine).\n\
                  The token may also come from the SRPY_TOKEN environment variable.\n\
                  Precedence: the command line, then --config, then SRPY_PYTHON / SRPY_TOKEN, then the defaults.",
    // A --config file's options come first on the command line; the user's
    // own, later, win.
    args_override_self = true
)]
struct Args {
    /// TOML file of options: the long option names as keys (`listen =
    /// "0.0.0.0:7733"`, `engines = 8`, `token-file = "token"`, `debug =
    /// true`, ...); relative paths are relative to the file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on. Non-loopback addresses need a token and TLS.
    #[arg(long, default_value_t = SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)))]
    listen: SocketAddr,
    /// Number of engines, or `auto` for one per CPU.
    #[arg(long, default_value = "auto")]
    engines: String,
    /// Engines also listen on TCP ports of their own: a fixed range, e.g.
    /// `9100-9107`, or `auto` for ephemeral ones. Default: none; clients
    /// reach every engine through the server's one port.
    #[arg(long, value_name = "FIRST-LAST|auto")]
    engine_ports: Option<String>,
    /// Python interpreter that runs the engines (must be able to `import srpy`).
    #[arg(
        long,
        value_name = "PATH",
        default_value = "python3",
        env = "SRPY_PYTHON"
    )]
    python: PathBuf,
    /// File holding the shared token clients must prove they know.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Read the token from the first line of stdin (for launchers: the
    /// token never appears on a command line or in a file).
    #[arg(long, conflicts_with = "token_file")]
    token_stdin: bool,
    /// Stop, with the engines, when stdin reaches end of file (for
    /// launchers: the server ends when the channel that started it closes).
    #[arg(long)]
    exit_on_stdin_eof: bool,
    /// Allow a non-loopback --listen without a token: anyone who can reach
    /// the port can run any code as this user.
    #[arg(long)]
    insecure_no_token: bool,
    /// `auto`: serve TLS with a self-signed certificate made at start (its
    /// SHA-256 fingerprint is printed and written to --uri-file; clients
    /// pin it with tls_pin).
    #[arg(long, value_name = "auto", conflicts_with = "tls_cert")]
    tls: Option<String>,
    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Mutual TLS: clients must present a certificate signed by this CA (PEM).
    #[arg(long, value_name = "FILE")]
    tls_client_ca: Option<PathBuf>,
    /// Allow a non-loopback --listen without TLS: everything sent, the
    /// values and the code, crosses the network readable and alterable by
    /// anyone on the path.
    #[arg(long)]
    insecure_plaintext: bool,
    /// Write the server URI and the engine URIs to this file once ready.
    ///
    /// Format: UTF-8 text, one address per line, each line ending in "\n":
    /// first the server (`srpy://HOST:PORT`, `srpys://` with TLS), then one
    /// line per engine in index order (`srpy://HOST:PORT/0`, ...), then with
    /// TLS the line `tls-pin sha256:<fingerprint>` (the server's
    /// certificate, for clients' tls_pin). It is
    /// written whole to a temporary file beside FILE and renamed to FILE
    /// once every engine is up, so a reader sees the complete file or none; it is not rewritten
    /// when an engine restarts (its address stays the same) and is removed
    /// when the server stops.
    #[arg(long, value_name = "FILE")]
    uri_file: Option<PathBuf>,
    /// Name of this server (default: the host name).
    #[arg(long)]
    name: Option<String>,
    /// Group of this server.
    #[arg(long, default_value = "default")]
    group: String,
    /// Maximum frame size in bytes after authentication.
    #[arg(long, default_value_t = srpy_proto::frame::DEFAULT_MAX_FRAME)]
    max_frame: usize,
    /// Maximum simultaneous connections, per engine and to the server.
    #[arg(long, default_value_t = 256)]
    max_connections: usize,
    /// Maximum handshakes in progress, per engine and to the server
    /// (apart from --max-connections).
    #[arg(long, default_value_t = Limits::default().max_handshakes)]
    max_handshakes: usize,
    /// Maximum handshakes in progress from one client address.
    #[arg(long, default_value_t = Limits::default().max_handshakes_per_address)]
    max_handshakes_per_address: usize,
    /// Seconds a client has to complete the handshake.
    #[arg(long, default_value_t = Limits::default().handshake_timeout.as_secs_f64())]
    handshake_timeout: f64,
    /// Seconds after which a connection with nothing read, nothing written
    /// and no request under way is closed (clients reconnect on their next
    /// call).
    #[arg(long, default_value_t = Limits::default().idle_timeout.as_secs_f64())]
    idle_timeout: f64,
    /// Bytes of replies an engine queues for a client that does not read
    /// them, beyond the reply being written; past it the connection is
    /// closed.
    #[arg(long, default_value_t = Limits::default().max_output_buffer)]
    max_output_buffer: usize,
    /// Requests of one connection an engine holds unanswered before it
    /// stops reading that connection until it takes its replies.
    #[arg(long, default_value_t = Limits::default().max_unanswered)]
    max_unanswered: usize,
    /// Log at debug level: every request (engines log to this server's stderr).
    #[arg(short, long)]
    debug: bool,
    /// Log each request's completion with its duration (`ms`) at info level.
    #[arg(short, long)]
    time: bool,
    /// Log line format on stderr: `human`, or `json` (one object per line).
    #[arg(long, value_enum, default_value = "human")]
    log_format: LogFormat,
    /// Serve Prometheus metrics on http://ADDR/metrics and health on
    /// /healthz (port 0: any free port). Non-loopback addresses need a token.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
}

fn limits(args: &Args) -> Limits {
    let seconds = |s: f64| Duration::from_secs_f64(s.clamp(0.1, 1e9));
    Limits {
        max_frame: args.max_frame,
        max_connections: args.max_connections,
        max_handshakes: args.max_handshakes.max(1),
        max_handshakes_per_address: args.max_handshakes_per_address.max(1),
        handshake_timeout: seconds(args.handshake_timeout),
        idle_timeout: seconds(args.idle_timeout),
        max_output_buffer: args.max_output_buffer,
        max_unanswered: args.max_unanswered.max(1),
    }
}

/// Ends the program on a bad option: the server process exists only for
/// this, also when it runs inside a Python interpreter.
fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("srpy-server: error: {message}");
    std::process::exit(2);
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn read_token(args: &Args) -> Option<Vec<u8>> {
    let raw = match &args.token_file {
        None if args.token_stdin => crate::launched::read_token_line().unwrap_or_else(|e| fail(e)),
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => {
                warn_if_others_can_read(path);
                bytes
            }
            Err(e) => fail(format!("cannot read --token-file {}: {e}", path.display())),
        },
        None => std::env::var("SRPY_TOKEN").ok()?.into_bytes(),
    };
    let token = String::from_utf8_lossy(&raw).trim().as_bytes().to_vec();
    if token.is_empty() {
        fail("the token is empty");
    }
    Some(token)
}

/// Whoever reads the token can run any code as this user: say so when the
/// file is open to others (like ssh about private keys, but a warning).
fn warn_if_others_can_read(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            "--token-file {} is open to other users (mode {mode:03o}); \
             whoever reads it can run any code as this user (chmod 600 it)",
            path.display()
        );
    }
}

fn engine_count(s: &str) -> usize {
    if s == "auto" {
        return std::thread::available_parallelism().map_or(1, |n| n.get());
    }
    match s.parse::<usize>() {
        Ok(n) if (1..=4096).contains(&n) => n,
        _ => fail(format!(
            "--engines must be a number from 1 to 4096 or 'auto', got '{s}'"
        )),
    }
}

fn first_port(range: &Option<String>, engines: usize) -> Option<u16> {
    let r = range.as_ref()?;
    if r == "auto" {
        return Some(0);
    }
    let parsed = r
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?)));
    match parsed {
        Some((a, b)) if a > 0 && a <= b && (b - a) as usize + 1 >= engines => Some(a),
        Some((a, b)) if a <= b => fail(format!(
            "--engine-ports {r} has {} port(s) for {engines} engine(s)",
            (b - a) as usize + 1
        )),
        _ => fail(format!(
            "--engine-ports must look like 9100-9107 or be 'auto', got '{r}'"
        )),
    }
}

/// The options a `--config` file may set, from the command line's own
/// definition (so the two never drift apart): (name, takes a value, is a
/// path to resolve against the file's folder).
fn config_options() -> Vec<(String, bool, bool)> {
    use clap::CommandFactory;
    Args::command()
        .get_arguments()
        .filter_map(|a| {
            let long = a.get_long()?;
            if matches!(long, "config" | "help" | "version") {
                return None;
            }
            let is_path = a
                .get_value_names()
                .is_some_and(|names| names.iter().any(|n| n == "FILE" || n == "PATH"));
            Some((long.to_owned(), a.get_action().takes_values(), is_path))
        })
        .collect()
}

/// The command line with the options of its `--config` file (if any) put
/// in front, so that the command line's own options override them.
fn command_line(argv: Vec<OsString>) -> Vec<OsString> {
    let mut config = None;
    let mut it = argv.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--" {
            break;
        }
        if a == "--config" {
            config = it.next().map(PathBuf::from);
        } else if let Some(v) = a.strip_prefix("--config=") {
            config = Some(PathBuf::from(v));
        }
    }
    let Some(path) = config else { return argv };
    let from_file = config_args(&path).unwrap_or_else(|e| fail(e));
    let mut out = Vec::with_capacity(argv.len() + from_file.len());
    out.push(argv[0].clone());
    out.extend(from_file);
    out.extend(argv.into_iter().skip(1));
    out
}

/// A `--config` file as command-line options.
fn config_args(path: &Path) -> Result<Vec<OsString>, String> {
    let shown = path.display();
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read --config {shown}: {e}"))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("--config {shown} is not valid TOML: {e}"))?;
    let base = path.parent().unwrap_or(Path::new(""));
    let options = config_options();
    let mut args = Vec::new();
    for (key, value) in &table {
        let name = key.replace('_', "-");
        let Some(&(_, takes_value, is_path)) = options.iter().find(|(k, ..)| *k == name) else {
            let known: Vec<&str> = options.iter().map(|(k, ..)| k.as_str()).collect();
            return Err(format!(
                "--config {shown}: unknown option '{key}' (known: {})",
                known.join(", ")
            ));
        };
        let flag = OsString::from(format!("--{name}"));
        match (takes_value, value) {
            (false, toml::Value::Boolean(true)) => args.push(flag),
            (false, toml::Value::Boolean(false)) => {}
            (false, other) => {
                return Err(format!(
                    "--config {shown}: '{key}' must be true or false, got {}",
                    other.type_str()
                ))
            }
            // A relative path is relative to the file; a bare command name
            // (`python = "python3"`) is looked up in PATH as usual.
            (true, toml::Value::String(s)) if is_path && (name != "python" || s.contains('/')) => {
                args.push(flag);
                args.push(base.join(s).into_os_string());
            }
            (true, toml::Value::String(s)) => {
                args.push(flag);
                args.push(s.into());
            }
            (true, toml::Value::Integer(n)) => {
                args.push(flag);
                args.push(n.to_string().into());
            }
            (true, toml::Value::Float(x)) => {
                args.push(flag);
                args.push(x.to_string().into());
            }
            (true, other) => {
                return Err(format!(
                    "--config {shown}: '{key}' must be a string or a number, got {}",
                    other.type_str()
                ))
            }
        }
    }
    Ok(args)
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

/// A non-loopback address needs a token (or --insecure-no-token): says
/// what would be exposed and exits.
fn require_token_off_loopback(
    doing: &str,
    addr: SocketAddr,
    risk: &str,
    args: &Args,
    token: &Option<Vec<u8>>,
) {
    if !is_loopback(addr.ip()) && token.is_none() && !args.insecure_no_token {
        fail(format!(
            "refusing to {doing} {addr} without a token: anyone who reaches it could {risk}.\n\
             Give --token-file FILE (or SRPY_TOKEN), or --insecure-no-token if you really mean it."
        ));
    }
}

/// What running without a token exposes, and to whom. The engines listen
/// on the same address as the server, so on a non-loopback address they are
/// open to the network, not only to the server's own port.
fn no_token_exposure(ip: IpAddr) -> String {
    if is_loopback(ip) {
        "no token configured: every local user can connect to this server and its engines \
         and run any code as this user (use --token-file to require one)"
            .into()
    } else {
        format!(
            "no token configured (--insecure-no-token): anyone on the network who can reach {ip} \
             can connect to this server and to every engine's port, and run any code as this user; \
             all traffic is plaintext"
        )
    }
}

/// The TLS identity of the command line's `--tls*` options, if any.
fn tls_identity(args: &Args, listen: IpAddr) -> Option<TlsIdentity> {
    let identity = match (&args.tls, &args.tls_cert, &args.tls_key) {
        (None, None, _) => {
            if args.tls_client_ca.is_some() {
                fail("--tls-client-ca needs TLS: give --tls-cert and --tls-key, or --tls auto");
            }
            return None;
        }
        (Some(mode), ..) if mode != "auto" => {
            fail(format!("--tls takes 'auto', got '{mode}' (for your own certificate give --tls-cert and --tls-key)"))
        }
        (Some(_), ..) => {
            let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
            names.push(hostname());
            if !listen.is_unspecified() && !listen.is_loopback() {
                names.push(listen.to_string());
            }
            let mut identity = TlsIdentity::self_signed(names).unwrap_or_else(|e| fail(e));
            if let Some(ca) = &args.tls_client_ca {
                let pem = std::fs::read_to_string(ca)
                    .unwrap_or_else(|e| fail(format!("cannot read --tls-client-ca {}: {e}", ca.display())));
                identity.client_ca_pem = Some(pem);
            }
            identity
        }
        (None, Some(cert), Some(key)) => {
            TlsIdentity::from_files(cert, key, args.tls_client_ca.as_deref()).unwrap_or_else(|e| fail(e))
        }
        (None, Some(_), None) => fail("--tls-cert needs --tls-key"),
    };
    // Checked before any engine starts.
    if let Err(e) = TlsAcceptor::new(&identity) {
        fail(e);
    }
    Some(identity)
}

/// A non-loopback address needs TLS (or --insecure-plaintext): says what
/// would be exposed and exits; with --insecure-plaintext, warns.
fn require_tls_off_loopback(args: &Args, tls: &Option<TlsIdentity>) {
    let addr = args.listen;
    if is_loopback(addr.ip()) || tls.is_some() {
        return;
    }
    if !args.insecure_plaintext {
        fail(format!(
            "refusing to listen on {addr} without TLS: anyone on the network path to it could read \
             every value, result and piece of code sent, and inject requests into an \
             authenticated connection (running any code as this user).\n\
             Give --tls auto (clients pin the printed fingerprint) or --tls-cert/--tls-key, \
             or --insecure-plaintext if the network is trusted."
        ));
    }
    tracing::warn!(
        "--insecure-plaintext: traffic to {addr} and its engines is not encrypted: anyone on the \
         network path can read every value, result and piece of code sent, and inject requests \
         into an authenticated connection (running any code as this user)"
    );
}

/// Runs the server with this command line (`argv[0]` first) until a
/// signal stops it; returns the exit status.
pub fn main(argv: impl IntoIterator<Item = OsString>) -> i32 {
    let args = Args::parse_from(command_line(argv.into_iter().collect()));
    logging::init_server(args.log_format, args.debug);
    let token = read_token(&args);
    let risk = "run any code as this user";
    require_token_off_loopback("listen on", args.listen, risk, &args, &token);
    let tls = tls_identity(&args, args.listen.ip());
    require_tls_off_loopback(&args, &tls);
    if let Some(addr) = args.metrics {
        let risk = "read this server's metrics";
        require_token_off_loopback("serve --metrics on", addr, risk, &args, &token);
    }
    let engines = engine_count(&args.engines);
    let first_port = first_port(&args.engine_ports, engines);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("srpy-server")
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(format!("cannot start the runtime: {e}")));
    let code = runtime.block_on(run(args, token, tls, engines, first_port));
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

async fn run(
    args: Args,
    token: Option<Vec<u8>>,
    tls: Option<TlsIdentity>,
    engines: usize,
    first_port: Option<u16>,
) -> i32 {
    // Bind first: a taken port fails fast, before any engine starts.
    let listener = match TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => fail(format!("cannot listen on {}: {e}", args.listen)),
    };
    let addr = listener
        .local_addr()
        .expect("bound listener has an address");
    let metrics_listener = match args.metrics {
        Some(a) => match TcpListener::bind(a).await {
            Ok(l) => Some(l),
            Err(e) => fail(format!("cannot listen on --metrics {a}: {e}")),
        },
        None => None,
    };
    if token.is_none() {
        tracing::warn!("{}", no_token_exposure(addr.ip()));
    }
    let hostname = hostname();
    let info = Arc::new(ServerInfo {
        name: args.name.clone().unwrap_or_else(|| hostname.clone()),
        group: args.group.clone(),
        hostname,
    });
    let limits = limits(&args);
    let sup = match Supervisor::start(SupervisorConfig {
        python: args.python.clone(),
        engines,
        host: addr.ip(),
        server_port: addr.port(),
        first_port,
        token: token.clone(),
        tls: tls.clone(),
        name: info.name.clone(),
        group: info.group.clone(),
        limits: limits.clone(),
        debug: args.debug,
        time: args.time,
        start_timeout: Duration::from_secs(60),
    })
    .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            return 2;
        }
    };

    let (shutdown_tx, shutdown_rx) = broadcast::channel(1);
    // The server's own requests are small.
    let server_limits = Limits {
        max_frame: args.max_frame.min(1 << 20),
        ..limits
    };
    let limits_for_conn = Arc::new(server_limits.clone());
    let routing = Routing::Server(sup.clone());
    let mut door_config = DoorConfig::new(Role::Server, token.clone(), server_limits, routing);
    door_config.tls = tls
        .as_ref()
        .map(|identity| TlsAcceptor::new(identity).unwrap_or_else(|e| fail(e)));
    let server_counters = door_config.counters.clone();
    let (info_for_welcome, sup_for_welcome) = (info.clone(), sup.clone());
    let (info_for_conn, sup_for_conn) = (info.clone(), sup.clone());
    let server = tokio::spawn(door::serve(
        door::Incoming {
            listener: Some(listener),
            handed: None,
        },
        Arc::new(door_config),
        move || directory::welcome_info(&info_for_welcome, &sup_for_welcome),
        move |session| {
            directory::serve_connection(
                session,
                info_for_conn.clone(),
                sup_for_conn.clone(),
                limits_for_conn.clone(),
            )
        },
        shutdown_rx,
    ));
    let metrics_addr = metrics_listener.map(|listener| {
        let addr = listener
            .local_addr()
            .expect("bound listener has an address");
        let source = metrics::MetricsSource {
            supervisor: sup.clone(),
            server: server_counters,
        };
        let (token, stop) = (token.clone(), shutdown_tx.subscribe());
        tokio::spawn(async move { metrics::serve(listener, source, token.as_deref(), stop).await });
        addr
    });

    let scheme = if tls.is_some() { "srpys" } else { "srpy" };
    let uri = format!("{scheme}://{addr}");
    let mut lines = vec![uri.clone()];
    let fingerprint = tls
        .as_ref()
        .map(|identity| identity.fingerprint().unwrap_or_else(|e| fail(e)));
    // With TLS the pin is on the serving line too, so a launcher reading
    // that one line (srpy_client::Cluster) can verify the server.
    let pin = match &fingerprint {
        Some(f) => format!(" (tls-pin sha256:{f})"),
        None => String::new(),
    };
    println!(
        "srpy-server {} serving {uri} with {engines} engine(s){pin}",
        srpy_proto::SRPY_VERSION
    );
    for i in 0..sup.len() {
        let st = sup.state(i).unwrap_or_default();
        let line = format!("{uri}/{i}");
        let own_port = match st.port {
            0 => String::new(),
            p => format!(", own port {p}"),
        };
        println!(
            "  engine {i}: {line} (pid {}{own_port})",
            st.pid.unwrap_or(0)
        );
        lines.push(line);
    }
    if let (Some(identity), Some(fingerprint)) = (&tls, &fingerprint) {
        println!("  TLS certificate SHA-256 fingerprint: {fingerprint}");
        if identity.client_ca_pem.is_some() {
            println!("  mutual TLS: clients must present a certificate of --tls-client-ca");
        }
        lines.push(format!("tls-pin sha256:{fingerprint}"));
    }
    if let Some(a) = metrics_addr {
        println!("  metrics: http://{a}/metrics (health: http://{a}/healthz)");
    }
    if let Some(path) = &args.uri_file {
        // Written whole then renamed, so a reader never sees half a file.
        let tmp = path.with_extension("tmp");
        let written =
            std::fs::write(&tmp, lines.join("\n") + "\n").and_then(|_| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            tracing::error!("cannot write --uri-file {}: {e}", path.display());
            sup.stop().await;
            return 2;
        }
    }

    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    let mut hup = signal(SignalKind::hangup()).expect("SIGHUP handler");
    let stdin_closed = async {
        match args.exit_on_stdin_eof {
            true => drop(crate::launched::stdin_closed().await),
            false => std::future::pending().await,
        }
    };
    let why = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        _ = hup.recv() => "SIGHUP",
        _ = stdin_closed => "end of stdin",
    };
    tracing::info!("{why} received, stopping {} engine(s)", sup.len());
    let _ = shutdown_tx.send(());
    sup.stop().await;
    let _ = server.await;
    if let Some(path) = &args.uri_file {
        let _ = std::fs::remove_file(path);
    }
    0
}
