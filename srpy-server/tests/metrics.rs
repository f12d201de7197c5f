//! `srpy-server --metrics`: option handling. (The endpoint itself is
//! scraped with real engines in `srpy-py/tests/test_metrics.py`.)

mod common;

use common::TempDir;

fn server(args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_srpy-server"))
        .args(args)
        .env_remove("SRPY_TOKEN")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn non_loopback_metrics_without_a_token_is_refused() {
    // Refused before anything binds or starts.
    let (code, stderr) = server(&["--metrics", "0.0.0.0:0", "--engines", "1"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("refusing to serve --metrics on 0.0.0.0:0 without a token"),
        "{stderr}"
    );
    assert!(stderr.contains("--insecure-no-token"), "{stderr}");

    // The same from a --config file.
    let dir = TempDir::new("metrics-config");
    let config = dir.0.join("srpy.toml");
    std::fs::write(&config, "metrics = \"[::]:9100\"\nlog-format = \"json\"\n").unwrap();
    let (code, stderr) = server(&["--config", config.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("refusing to serve --metrics on [::]:9100 without a token"),
        "{stderr}"
    );
}

#[test]
fn bad_metrics_options_are_refused_with_the_reason() {
    let (code, stderr) = server(&["--metrics", "localhost"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--metrics <ADDR>"), "{stderr}");

    let (code, stderr) = server(&["--log-format", "xml"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("possible values: human, json"), "{stderr}");

    // A taken metrics port fails fast, before engines start.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, stderr) = server(&["--metrics", &addr, "--listen", "127.0.0.1:0"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on --metrics {addr}")),
        "{stderr}"
    );
}
