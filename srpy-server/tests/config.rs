//! `srpy-server --config FILE`: options from a TOML file, the command line
//! winning, and bad files refused with the reason.

mod common;

use common::{TempDir, TestServer, Wire};
use srpy_proto::Value;

#[test]
fn a_config_file_sets_options_and_the_command_line_wins() {
    let dir = TempDir::new("config");
    std::fs::write(dir.0.join("token"), "s3cret\n").unwrap();
    let config = dir.0.join("srpy.toml");
    std::fs::write(
        &config,
        "# a server for the tests\n\
         name = \"from-config\"\n\
         group = \"cfg-group\"\n\
         token-file = \"token\"   # relative to this file\n\
         engines = 3             # the command line says 1\n\
         max_connections = 16    # underscores work too\n\
         debug = false\n",
    )
    .unwrap();
    // TestServer passes --listen, --engines 1, --uri-file and --python on
    // the command line itself.
    let mut server = TestServer::start(1, None, &["--config", config.to_str().unwrap()]);
    // The token came from the config file: without it the door is shut.
    assert!(Wire::connect(server.port, None).is_err());
    server.token = Some("s3cret".into());
    let w = server.connect();
    let info = w.welcome.as_ref().expect("welcome").info.clone();
    assert_eq!(info.get("name"), Some(&Value::from("from-config")));
    assert_eq!(info.get("group"), Some(&Value::from("cfg-group")));
    assert_eq!(
        server.engines().len(),
        1,
        "--engines 1 overrides engines = 3"
    );
}

fn refused(config_text: Option<&str>, extra: &[&str]) -> String {
    let dir = TempDir::new("badconfig");
    let config = dir.0.join("srpy.toml");
    if let Some(text) = config_text {
        std::fs::write(&config, text).unwrap();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_srpy-server"))
        .arg("--config")
        .arg(&config)
        .args(extra)
        .env_remove("SRPY_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    stderr
}

#[test]
fn bad_config_files_are_refused_with_the_reason() {
    let e = refused(Some("enignes = 2\n"), &[]);
    assert!(e.contains("unknown option 'enignes'"), "{e}");
    assert!(e.contains("known: listen, engines"), "{e}");
    assert!(e.contains("debug, time, log-format, metrics)"), "{e}");

    let e = refused(Some("debug = \"yes\"\n"), &[]);
    assert!(
        e.contains("'debug' must be true or false, got string"),
        "{e}"
    );

    let e = refused(Some("listen = [1, 2]\n"), &[]);
    assert!(e.contains("'listen' must be a string or a number"), "{e}");

    let e = refused(Some("listen = \n"), &[]);
    assert!(e.contains("is not valid TOML"), "{e}");

    let e = refused(None, &[]);
    assert!(e.contains("cannot read --config"), "{e}");

    // The file's values go through the same checks as the command line's.
    let e = refused(Some("engines = 0\n"), &[]);
    assert!(
        e.contains("--engines must be a number from 1 to 4096"),
        "{e}"
    );

    // A relative interpreter path is relative to the file (a bare name
    // would be looked up in PATH).
    let e = refused(
        Some("python = \"bin/python\"\nlisten = \"127.0.0.1:0\"\n"),
        &["--engines", "1"],
    );
    // (the config file's folder is the test's "badconfig" temporary one)
    assert!(e.contains("badconfig"), "{e}");
    assert!(e.contains("/bin/python': No such file"), "{e}");

    // A config file does not get around the door's rule.
    let e = refused(Some("listen = \"0.0.0.0:0\"\n"), &["--engines", "1"]);
    assert!(
        e.contains("refusing to listen on 0.0.0.0:0 without a token"),
        "{e}"
    );
}
