//! SRPy conformance runner.
//!
//! ```text
//! cargo run --release -p conformance -- [--clients rust,python,java,jython,wire]
//!     [--cases PATTERN] [--matrix-out FILE] [--update-expected]
//! cargo run --release -p conformance -- driver --uri URI --token TOKEN --cases DIR [--case PATTERN]
//!     [--tls-uri URI --tls-dir DIR --tls-pin PIN]
//! ```
//!
//! Starts a real `srpy-server` with 2 engines (and, when a selected case
//! needs one, a TLS server: [`tls`]), runs every case of
//! `conformance/cases/` through every available client driver, runs the
//! protocol-level checks and the cbor2 decoding of the golden vectors,
//! prints the case × client matrix, writes it to a file, compares it with
//! `conformance/expected/matrix.json`, and ends with `N passed, N failed`.
//! See `conformance/README.md`.

mod cases;
mod drivers;
mod matrix;
mod notation;
mod protocol;
mod report;
mod rust_driver;
mod tls;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use srpy_client::blocking::LocalServer;
use srpy_client::{LocalServerOptions, Uri};

use cases::{Case, Pattern};
use matrix::{Column, WIRE};
use report::{CaseResult, Status};
use rust_driver::RustDriver;

/// Every client column, in matrix order.
const ALL_CLIENTS: [&str; 5] = ["rust", "python", "java", "jython", WIRE];

#[derive(Parser)]
#[command(name = "conformance", about = "SRPy cross-client conformance suite")]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Clients to run, comma-separated: rust, python, java, jython, wire
    /// (protocol checks and the cbor2 vectors). Default: all.
    #[arg(long, value_delimiter = ',')]
    clients: Option<Vec<String>>,
    /// Cases to run: comma-separated globs over case names (a pattern
    /// without `*`/`?` matches names containing it). Default: all.
    #[arg(long)]
    cases: Option<String>,
    /// Where to write the Markdown matrix. Default: target/conformance-matrix.md.
    #[arg(long)]
    matrix_out: Option<PathBuf>,
    /// Rewrite conformance/expected/matrix.json from this run (the columns
    /// that ran; failed cells keep their previous entry).
    #[arg(long)]
    update_expected: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the Rust client's driver with the common driver command line.
    Driver {
        #[arg(long)]
        uri: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        cases: PathBuf,
        #[arg(long)]
        case: Option<String>,
        /// The TLS server of the cases that need one (with --tls-dir, --tls-pin).
        #[arg(long, requires_all = ["tls_dir", "tls_pin"])]
        tls_uri: Option<String>,
        #[arg(long)]
        tls_dir: Option<PathBuf>,
        #[arg(long)]
        tls_pin: Option<String>,
    },
}

fn root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let here = std::fs::canonicalize(&here).unwrap_or(here);
    here.parent().map(Path::to_path_buf).unwrap_or(here)
}

fn support_source(cases_dir: &Path) -> Result<String, String> {
    let p = cases_dir.join("support/srpy_conformance.py");
    std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Some(Cmd::Driver {
            ref uri,
            ref token,
            ref cases,
            ref case,
            ref tls_uri,
            ref tls_dir,
            ref tls_pin,
        }) => {
            let tls = match (tls_uri, tls_dir, tls_pin) {
                (Some(u), Some(dir), Some(pin)) => match Uri::parse(u) {
                    Ok(uri) => Some(tls::TlsTarget {
                        uri,
                        dir: dir.clone(),
                        pin: pin.clone(),
                    }),
                    Err(e) => {
                        eprintln!("conformance: --tls-uri: {e}");
                        return ExitCode::from(2);
                    }
                },
                _ => None,
            };
            driver_main(uri, token, cases, case.as_deref(), tls)
        }
        None => runner_main(&cli),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("conformance: {e}");
            ExitCode::from(2)
        }
    }
}

/// `conformance driver ...`: the Rust driver on its own, one JSON line per
/// case.
fn driver_main(
    uri: &str,
    token: &str,
    dir: &Path,
    pattern: Option<&str>,
    tls: Option<tls::TlsTarget>,
) -> Result<ExitCode, String> {
    let all = cases::load_dir(dir)?;
    let pattern = Pattern::new(pattern);
    let uri = Uri::parse(uri).map_err(|e| e.to_string())?;
    let mut d = RustDriver::new(
        uri.server(),
        token.as_bytes().to_vec(),
        support_source(dir)?,
    )
    .with_tls(tls);
    for c in all.iter().filter(|c| pattern.matches(&c.name)) {
        println!("{}", d.run_case(c).to_json_line());
    }
    Ok(ExitCode::SUCCESS)
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn runner_main(cli: &Cli) -> Result<ExitCode, String> {
    let root = root();
    let cases_dir = root.join("conformance/cases");
    let expected_path = root.join("conformance/expected/matrix.json");
    let work = root.join("target/conformance");
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let matrix_out = cli
        .matrix_out
        .clone()
        .unwrap_or_else(|| root.join("target/conformance-matrix.md"));

    let selected: Vec<String> = match &cli.clients {
        Some(list) => {
            for c in list {
                if !ALL_CLIENTS.contains(&c.as_str()) {
                    return Err(format!(
                        "unknown client {c:?} (known: {})",
                        ALL_CLIENTS.join(", ")
                    ));
                }
            }
            ALL_CLIENTS
                .iter()
                .filter(|c| list.iter().any(|l| l == *c))
                .map(|c| c.to_string())
                .collect()
        }
        None => ALL_CLIENTS.iter().map(|c| c.to_string()).collect(),
    };
    let required: Vec<String> = std::env::var("SRPY_CONFORMANCE_REQUIRE")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();

    let pattern = Pattern::new(cli.cases.as_deref());
    let all_cases = cases::load_dir(&cases_dir)?;
    let cases: Vec<&Case> = all_cases
        .iter()
        .filter(|c| pattern.matches(&c.name))
        .collect();
    let client_rows: Vec<String> = cases.iter().map(|c| c.name.clone()).collect();
    let wire_rows: Vec<String> = protocol::row_names()
        .into_iter()
        .chain(cbor2_rows(&root))
        .filter(|r| pattern.matches(r))
        .collect();

    let python = env_path("SRPY_PYTHON").unwrap_or_else(|| root.join(".venv/bin/python"));
    let server_bin =
        env_path("SRPY_SERVER_BIN").unwrap_or_else(|| root.join("target/release/srpy-server"));
    let mut opts = LocalServerOptions::engines(2);
    if server_bin.exists() {
        opts.server_bin = Some(server_bin);
    }
    if python.exists() {
        opts.python = Some(python.clone());
    }
    eprintln!("conformance: starting srpy-server with 2 engines");
    let server =
        LocalServer::start(opts.clone()).map_err(|e| format!("cannot start srpy-server: {e}"))?;
    let uri = server.uri().clone();
    let token = String::from_utf8_lossy(server.token()).into_owned();
    // The TLS server, once for every client, when a selected case needs it.
    let tls_server = if cases.iter().any(|c| c.needs_tls) {
        eprintln!(
            "conformance: starting a TLS srpy-server (certificates in target/conformance/tls)"
        );
        Some(tls::start(&opts, server.token(), &work.join("tls"))?)
    } else {
        None
    };
    let tls_target = tls_server.as_ref().map(|t| t.target.clone());
    let env = drivers::Env {
        root: root.clone(),
        python,
        work: work.clone(),
    };
    let support = support_source(&cases_dir)?;

    let mut cols: Vec<Column> = Vec::new();
    for client in &selected {
        eprintln!("conformance: client {client}");
        let col = match client.as_str() {
            "rust" => {
                let mut d =
                    RustDriver::new(uri.clone(), token.clone().into_bytes(), support.clone())
                        .with_tls(tls_target.clone());
                let results = cases
                    .iter()
                    .map(|c| {
                        let r = d.run_case(c);
                        eprintln!("  {:<7} {}", r.status.name(), r.case);
                        r
                    })
                    .collect();
                column(client, None, results, None)
            }
            WIRE => run_wire(&server, &env, &uri, &token, &pattern, &wire_rows),
            other => {
                let prep = match other {
                    "python" => drivers::prepare_python(&env),
                    "java" => drivers::prepare_java(&env),
                    _ => drivers::prepare_jython(&env),
                };
                match prep {
                    Err(why) => {
                        eprintln!("  skipped: {why}");
                        column(client, Some(why), Vec::new(), None)
                    }
                    Ok(p) => {
                        let mut args: Vec<OsString> = vec![
                            "--uri".into(),
                            uri.to_string().into(),
                            "--token".into(),
                            token.clone().into(),
                            "--cases".into(),
                            cases_dir.clone().into(),
                        ];
                        if !pattern.is_all() {
                            args.push("--case".into());
                            args.push(pattern.to_arg().into());
                        }
                        if let Some(t) = &tls_target {
                            args.extend(t.driver_args());
                        }
                        let ran =
                            drivers::run(&p, &args, &work.join(format!("{client}.log")), true);
                        column(client, None, ran.results, ran.trouble)
                    }
                }
            }
        };
        cols.push(col);
    }
    let _ = server.stop();
    if let Some(t) = tls_server {
        let _ = t.server.stop();
    }

    // Required clients that did not run are failures.
    let mut extra_failures = Vec::new();
    for r in &required {
        match cols.iter().find(|c| &c.client == r) {
            Some(c) if c.skipped.is_some() => extra_failures.push(format!(
                "{r}: required by SRPY_CONFORMANCE_REQUIRE but skipped: {}",
                c.skipped.as_deref().unwrap_or("")
            )),
            None => extra_failures.push(format!(
                "{r}: required by SRPY_CONFORMANCE_REQUIRE but not selected"
            )),
            _ => {}
        }
    }

    let mut expected = matrix::load_expected(&expected_path)?;
    let all_rows: Vec<String> = client_rows.iter().chain(&wire_rows).cloned().collect();
    let changes = matrix::compare(&all_rows, &cols, &expected);
    if cli.update_expected {
        matrix::update(&mut expected, &all_rows, &cols, pattern.is_all());
        matrix::save_expected(&expected_path, &expected)?;
        eprintln!("conformance: wrote {}", expected_path.display());
    }
    let changes = if cli.update_expected {
        Vec::new()
    } else {
        changes
    };

    let md = matrix::render(&client_rows, &wire_rows, &cols, &changes, &extra_failures);
    if let Some(dir) = matrix_out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&matrix_out, &md).map_err(|e| format!("{}: {e}", matrix_out.display()))?;
    println!("{md}");
    println!("(matrix written to {})", matrix_out.display());

    let [passed, failed, na, skipped] = matrix::counts(&client_rows, &wire_rows, &cols);
    let trouble = cols.iter().filter(|c| c.trouble.is_some()).count();
    let failed = failed + changes.len() + extra_failures.len() + trouble;
    let passed = passed.saturating_sub(changes.iter().filter(|c| c.got == Status::Pass).count());
    let na = na.saturating_sub(
        changes
            .iter()
            .filter(|c| c.got == Status::NotApplicable)
            .count(),
    );
    println!("{na} n/a, {skipped} skipped");
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn column(
    client: &str,
    skipped: Option<String>,
    results: Vec<CaseResult>,
    trouble: Option<String>,
) -> Column {
    Column {
        client: client.to_owned(),
        skipped,
        results: results
            .into_iter()
            .map(|r| (r.case.clone(), r))
            .collect::<BTreeMap<_, _>>(),
        trouble,
    }
}

/// The rows of the cbor2 check: one per golden vector file.
fn cbor2_rows(root: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root.join("conformance/vectors"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    // Not CBOR: the routing preamble's byte layouts.
                    (n != "routing.json").then_some(())?;
                    n.strip_suffix(".json")
                        .map(|s| format!("vectors/cbor2/{s}"))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The wire column: protocol checks against the server and engine 0, and
/// the golden vectors decoded by cbor2.
fn run_wire(
    server: &LocalServer,
    env: &drivers::Env,
    uri: &Uri,
    token: &str,
    pattern: &Pattern,
    rows: &[String],
) -> Column {
    let mut results = Vec::new();
    let mut trouble = None;
    let targets = (|| -> Result<Vec<protocol::Target>, String> {
        let sc = server.server_client().map_err(|e| e.to_string())?;
        let engines = sc.engines().map_err(|e| e.to_string())?;
        sc.close();
        if !engines.iter().any(|e| e.index == 0) {
            return Err("the server lists no engine 0".into());
        }
        // Engine 0 is reached through the server's port (PROTOCOL.md 3.1).
        let addr = protocol::resolve(&uri.host, uri.port)?;
        Ok(vec![
            protocol::Target {
                label: "server",
                addr,
                engine: None,
            },
            protocol::Target {
                label: "engine",
                addr,
                engine: Some(0),
            },
        ])
    })();
    match targets {
        Ok(t) => {
            for r in protocol::run(&t, token.as_bytes()) {
                if pattern.matches(&r.case) {
                    eprintln!("  {:<7} {}", r.status.name(), r.case);
                    results.push(r);
                }
            }
        }
        Err(e) => {
            trouble = Some(format!(
                "cannot reach the server for the protocol checks: {e}"
            ))
        }
    }
    if rows.iter().any(|r| r.starts_with("vectors/cbor2/")) {
        match drivers::prepare_cbor2(env) {
            Ok(p) => {
                let args: Vec<OsString> = vec![
                    "--vectors".into(),
                    env.root.join("conformance/vectors").into(),
                ];
                let ran = drivers::run(&p, &args, &env.work.join("cbor2.log"), true);
                results.extend(ran.results.into_iter().filter(|r| pattern.matches(&r.case)));
                if let Some(t) = ran.trouble {
                    trouble = Some(format!("cbor2_vectors.py {t}"));
                }
            }
            Err(why) => {
                for r in rows.iter().filter(|r| r.starts_with("vectors/cbor2/")) {
                    results.push(CaseResult::new(r, Status::Fail, why.clone()));
                }
            }
        }
    }
    column(WIRE, None, results, trouble)
}
