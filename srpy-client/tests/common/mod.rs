//! Shared helpers of the integration tests: they need a real `srpy-server`
//! (and a Python that can `import srpy`), and skip with a message when the
//! server binary cannot be found.

#![allow(dead_code)]

use std::path::PathBuf;

use srpy_client::{find_server_bin, LocalServer, LocalServerOptions};

/// The `srpy-server` binary: the usual lookup (`SRPY_SERVER_BIN`, next to
/// the test binary, PATH), then the workspace's `target/{debug,release}`.
pub fn server_bin() -> Option<PathBuf> {
    find_server_bin(None).or_else(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        ["debug", "release"]
            .iter()
            .map(|p| root.join("target").join(p).join("srpy-server"))
            .find(|p| p.is_file())
    })
}

/// Options for `engines` engines with the server binary found, or `None`
/// (after printing why) when there is none.
pub fn options(test: &str, engines: usize) -> Option<LocalServerOptions> {
    match server_bin() {
        Some(bin) => Some(LocalServerOptions {
            server_bin: Some(bin),
            ..LocalServerOptions::engines(engines)
        }),
        None => {
            assert!(
                std::env::var_os("SRPY_REQUIRE_ENGINES").is_none(),
                "{test}: no srpy-server binary, and SRPY_REQUIRE_ENGINES is set"
            );
            eprintln!(
                "SKIP {test}: no srpy-server binary (set SRPY_SERVER_BIN or build srpy-server)"
            );
            None
        }
    }
}

/// Whether a start failure means the engine runtime is not installed
/// (Python cannot `import srpy`): the tests skip then, unless
/// `SRPY_REQUIRE_ENGINES` is set (CI with srpy-py installed sets it).
pub fn engines_unavailable(test: &str, err: &srpy_client::Error) -> bool {
    let msg = err.to_string();
    let missing = msg.contains("cannot import srpy") || msg.contains("No module named 'srpy'");
    if missing && std::env::var_os("SRPY_REQUIRE_ENGINES").is_none() {
        eprintln!(
            "SKIP {test}: srpy-server found, but its Python cannot import srpy \
             (install srpy-py, or set SRPY_PYTHON; set SRPY_REQUIRE_ENGINES=1 to fail instead)"
        );
        return true;
    }
    false
}

/// Starts a private server, or `None` to skip.
pub async fn start(test: &str, engines: usize) -> Option<LocalServer> {
    start_with(test, engines, &[]).await
}

/// Starts a private server with extra `srpy-server` options, or `None` to
/// skip.
pub async fn start_with(test: &str, engines: usize, args: &[&str]) -> Option<LocalServer> {
    let opts = LocalServerOptions {
        extra_args: args.iter().map(std::ffi::OsString::from).collect(),
        ..options(test, engines)?
    };
    match LocalServer::start(opts).await {
        Ok(s) => Some(s),
        Err(e) if engines_unavailable(test, &e) => None,
        Err(e) => panic!("{test}: cannot start srpy-server: {e}"),
    }
}
