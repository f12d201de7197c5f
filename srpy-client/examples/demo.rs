//! The README's demo: drive the engines of a running server.
//!
//! `cargo run --release -p srpy-client --example demo -- srpy://127.0.0.1:7733`

use srpy_client::blocking::{Engine, ServerClient};
use srpy_client::{vars, ConnectOptions, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let uri = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "srpy://127.0.0.1:7733".into());
    let server = ServerClient::connect(uri.as_str(), ConnectOptions::default())?;
    let engines: Vec<Engine> = server.connect_all()?;
    println!("connected to {} engine(s) at {uri}", engines.len());
    for (i, eng) in engines.iter().enumerate() {
        let who = eng.whoami()?;
        println!(
            "engine {i}: pid {}, Python {} on {}",
            who.get("pid").cloned().unwrap_or(Value::Null),
            who.get("Python Version").cloned().unwrap_or(Value::Null),
            who.get("Hostname").cloned().unwrap_or(Value::Null)
        );
        eng.set("base", (i as i64 + 1) * 10)?;
        eng.exec("import math\nsquares = [n * n for n in range(base // 10, base // 10 + 5)]")?;
        eng.exec("print('hello from engine', base // 10 - 1)")?;
        println!("  squares        = {}", eng.get("squares")?);
        println!("  sqrt(base)     = {}", eng.eval("math.sqrt(base)")?);
        println!(
            "  a + b (vars)   = {}",
            eng.eval_with("a + b", vars([("a", 2), ("b", 3)]))?
        );
        println!(
            "  math.hypot     = {}",
            eng.call("math.hypot", vec![3.0.into(), 4.0.into()], vec![])?
        );
        let err = eng.eval("1 / 0").unwrap_err();
        println!("  1 / 0          -> {err}");
    }
    Ok(())
}
