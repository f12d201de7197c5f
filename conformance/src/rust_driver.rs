//! The Rust client's driver: runs cases in-process through
//! `srpy_client::blocking`.
//!
//! Also reachable with the common driver command line
//! (`conformance driver --uri URI --token TOKEN --cases DIR [--case PATTERN]
//! [--tls-uri URI --tls-dir DIR --tls-pin PIN]`).

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value as J;
use srpy_client::blocking::{EngBox, Engine};
use srpy_client::{
    discard_sink, Basis, CallOptions, ConnectOptions, Error, MapOptions, MapTask, Op, Uri, Value,
    Vars,
};

use crate::cases::Case;
use crate::notation::{self, differ, short};
use crate::report::{CaseResult, Status};
use crate::tls::TlsTarget;

/// The client name of this driver in the matrix.
pub const CLIENT: &str = "rust";

/// Module name and source of the engine-side helper
/// (`cases/support/srpy_conformance.py`).
pub const SUPPORT_MODULE: &str = "srpy_conformance";

/// Why a step did not pass.
enum Halt {
    Fail(String),
    NotApplicable(String),
}

type Step<T = ()> = Result<T, Halt>;

fn fail<T>(msg: impl Into<String>) -> Step<T> {
    Err(Halt::Fail(msg.into()))
}

fn bad_case(msg: impl Into<String>) -> Halt {
    Halt::Fail(format!("malformed step: {}", msg.into()))
}

/// Runs cases against one server with the Rust client.
pub struct RustDriver {
    server: Uri,
    token: Vec<u8>,
    support_source: String,
    engines: BTreeMap<u64, Engine>,
    /// The box of the case's `box` step, if any.
    engbox: Option<EngBox>,
    tls: Option<TlsTarget>,
}

/// A JSON array of non-negative integers (engine indexes).
fn integers(v: &J, what: &str) -> Step<Vec<u64>> {
    v.as_array()
        .ok_or_else(|| bad_case(what))?
        .iter()
        .map(|x| x.as_u64().ok_or_else(|| bad_case(what)))
        .collect()
}

impl RustDriver {
    pub fn new(server: Uri, token: Vec<u8>, support_source: String) -> RustDriver {
        RustDriver {
            server,
            token,
            support_source,
            engines: BTreeMap::new(),
            engbox: None,
            tls: None,
        }
    }

    fn options(&self, token: Option<&str>) -> ConnectOptions {
        ConnectOptions::new()
            .token(token.map_or_else(|| self.token.clone(), |t| t.as_bytes().to_vec()))
            .connect_timeout(Duration::from_secs(30))
    }

    /// The TLS server of the cases that need one (see [`TlsTarget`]).
    pub fn with_tls(mut self, tls: Option<TlsTarget>) -> RustDriver {
        self.tls = tls;
        self
    }

    /// The address and options of a `connect` step: engine `index` of the
    /// main server or (`"server": "tls"`) of the TLS server, with the
    /// step's token and TLS fields ([`TlsTarget`]).
    fn connect_target(&self, index: u64, s: &J) -> Step<(String, ConnectOptions)> {
        let mut opts = self.options(s["token"].as_str());
        let mut uri = if s["server"].as_str() == Some("tls") {
            let tls = self.tls.as_ref().ok_or_else(|| {
                bad_case("no TLS server (the case must say \"needs\": [\"tls\"])")
            })?;
            tls.uri.engine(index).to_string()
        } else {
            self.server.engine(index).to_string()
        };
        if s["plaintext"].as_bool() == Some(true) {
            uri = uri.replacen("srpys://", "srpy://", 1);
        }
        if let Some(ca) = s["tls_ca"].as_str() {
            let dir = self.tls.as_ref().map(|t| t.dir.clone()).unwrap_or_default();
            opts.tls_ca = Some(dir.join(ca));
        }
        opts.tls_pin = match s["tls_pin"].as_str() {
            Some("server") => Some(
                self.tls
                    .as_ref()
                    .ok_or_else(|| bad_case("tls_pin \"server\" without a TLS server"))?
                    .pin
                    .clone(),
            ),
            other => other.map(str::to_owned),
        };
        Ok((uri, opts))
    }

    fn engine(&mut self, index: u64) -> Step<Engine> {
        if let Some(e) = self.engines.get(&index) {
            return Ok(e.clone());
        }
        let e = Engine::connect(self.server.engine(index), self.options(None))
            .map_err(|e| Halt::Fail(format!("cannot connect to engine {index}: {e}")))?;
        e.set_output_handler(discard_sink());
        self.engines.insert(index, e.clone());
        Ok(e)
    }

    /// Runs one case: a fresh namespace on every engine in use, the
    /// support module installed on engine 0, then the steps.
    pub fn run_case(&mut self, case: &Case) -> CaseResult {
        if !case.is_for(CLIENT) {
            return CaseResult::new(
                &case.name,
                Status::NotApplicable,
                "case not meant for this client",
            );
        }
        let outcome = self.prepare().and_then(|()| {
            for (i, step) in case.steps.iter().enumerate() {
                let op = step["op"].as_str().unwrap_or("?");
                self.step(step).map_err(|h| match h {
                    Halt::Fail(m) => Halt::Fail(format!("step {i} ({op}): {m}")),
                    Halt::NotApplicable(m) => Halt::NotApplicable(format!("step {i} ({op}): {m}")),
                })?;
            }
            Ok(())
        });
        match outcome {
            Ok(()) => CaseResult::new(&case.name, Status::Pass, ""),
            Err(Halt::Fail(m)) => CaseResult::new(&case.name, Status::Fail, m),
            Err(Halt::NotApplicable(m)) => CaseResult::new(&case.name, Status::NotApplicable, m),
        }
    }

    fn prepare(&mut self) -> Step {
        let e0 = self.engine(0)?;
        let others: Vec<Engine> = self.engines.values().cloned().collect();
        for e in others {
            e.clear()
                .map_err(|e| Halt::Fail(format!("preparing the case: clear failed: {e}")))?;
        }
        e0.install_source(SUPPORT_MODULE, self.support_source.clone())
            .map_err(|e| {
                Halt::Fail(format!(
                    "preparing the case: installing the support module failed: {e}"
                ))
            })
    }

    fn step(&mut self, s: &J) -> Step {
        let op = s["op"].as_str().unwrap_or_default();
        let index = s["engine"].as_u64().unwrap_or(0);
        match op {
            "box" => {
                let indices = s["engines"]
                    .as_array()
                    .ok_or_else(|| bad_case("box needs 'engines'"))?;
                let mut engines = Vec::new();
                for i in indices {
                    let i = i
                        .as_u64()
                        .ok_or_else(|| bad_case("engine indices are integers"))?;
                    engines.push(self.engine(i)?);
                }
                self.engbox = Some(EngBox::new(engines));
                Ok(())
            }
            "mrs" | "mrp" => {
                let b = self
                    .engbox
                    .as_ref()
                    .ok_or_else(|| bad_case("no box step before"))?;
                let arg = s["args"][0].as_str().unwrap_or_default().to_owned();
                let request = match s["method"].as_str() {
                    Some("eval") => Op::Eval {
                        expr: arg,
                        vars: vec![],
                    },
                    Some("exec") => Op::Exec {
                        code: arg,
                        vars: vec![],
                    },
                    other => return Err(bad_case(format!("unknown box method {other:?}"))),
                };
                let results = if op == "mrs" {
                    b.mrs(request)
                } else {
                    // SRPy 0.2: mrp answers at once, mrpwait waits.
                    let wait = s["wait"].as_f64().map(Duration::from_secs_f64);
                    let run = b.mrp(request, CallOptions::default());
                    b.mrpwait(&run, wait)
                };
                let want = s["expect_each"]
                    .as_array()
                    .ok_or_else(|| bad_case("needs 'expect_each'"))?;
                if want.len() != results.len() {
                    return fail(format!(
                        "{} results for {} expectations",
                        results.len(),
                        want.len()
                    ));
                }
                for ((i, got), w) in results.into_iter().zip(want) {
                    // Each engine's result is checked like a single call's.
                    let expectation = match (w.get("value"), w.get("error")) {
                        (Some(v), _) => serde_json::json!({ "expect": v }),
                        (None, Some(e)) => serde_json::json!({ "expect_error": e }),
                        _ => return Err(bad_case("expect_each items need 'value' or 'error'")),
                    };
                    let got = match (got, s["method"].as_str()) {
                        (Ok(Value::Null), Some("exec")) => Ok(Value::Null),
                        (r, _) => r,
                    };
                    outcome(&expectation, got).map_err(|h| match h {
                        Halt::Fail(m) => Halt::Fail(format!("engine {i}: {m}")),
                        other => other,
                    })?;
                }
                Ok(())
            }
            "fastest" | "dead" => {
                let b = self
                    .engbox
                    .as_ref()
                    .ok_or_else(|| bad_case("no box step before"))?;
                if op == "fastest" {
                    // getFastest with the original defaults (single, "all").
                    let got = b.get_fastest(true, Basis::All);
                    let want = integers(&s["expect_one_of"], "fastest needs 'expect_one_of'")?;
                    match got.as_slice() {
                        [i] if want.contains(&(*i as u64)) => Ok(()),
                        _ => fail(format!("fastest {got:?}, want one of {want:?}")),
                    }
                } else {
                    let got: Vec<u64> = b.get_dead(true).into_iter().map(|i| i as u64).collect();
                    let want = integers(&s["expect"], "dead needs 'expect'")?;
                    if got == want {
                        Ok(())
                    } else {
                        fail(format!("get_dead {got:?}, want {want:?}"))
                    }
                }
            }
            "map" => {
                let b = self
                    .engbox
                    .as_ref()
                    .ok_or_else(|| bad_case("no box step before"))?;
                let func = s["func"]
                    .as_str()
                    .ok_or_else(|| bad_case("map needs 'func'"))?;
                let items = values(&s["items"])?;
                let out = b
                    .map(MapTask::call(func), items, MapOptions::default())
                    .map_err(|e| Halt::Fail(format!("map failed as a whole: {e}")))?;
                match out.into_values() {
                    Ok(got) => {
                        // `expect` is the plain array of per-item values.
                        let want = values(&s["expect"])?;
                        match differ(&Value::List(got), &Value::List(want)) {
                            None => Ok(()),
                            Some(why) => fail(why),
                        }
                    }
                    Err(e) => {
                        if let Some(want) = s["expect_error"]["index"].as_u64() {
                            if e.index as u64 != want {
                                return fail(format!(
                                    "failing item index {}, want {want}",
                                    e.index
                                ));
                            }
                        }
                        outcome(s, Err(e.error))
                    }
                }
            }
            "connect" => {
                let (uri, opts) = self.connect_target(index, s)?;
                match Engine::connect(uri, opts) {
                    Ok(e) => {
                        e.close();
                        outcome(s, Ok(Value::Null))
                    }
                    Err(e) => outcome(s, Err(e)),
                }
            }
            _ => {
                let eng = self.engine(index)?;
                self.engine_step(&eng, op, s)
            }
        }
    }

    fn engine_step(&mut self, eng: &Engine, op: &str, s: &J) -> Step {
        let timeout = s["timeout"].as_f64().map(Duration::from_secs_f64);
        let call = |op: Op| match timeout {
            Some(t) => eng.request(op, CallOptions::new().timeout(t)),
            None => eng.request(op, CallOptions::new()),
        };
        match op {
            "ping" => outcome(s, eng.ping().map(Value::Str)),
            "whoami" => {
                let who = eng
                    .whoami()
                    .map_err(|e| Halt::Fail(format!("whoami failed: {e}")))?;
                for k in str_list(&s["expect_keys"])? {
                    if who.get(&k).is_none() {
                        return fail(format!("whoami has no key {k:?}: {}", short(&who)));
                    }
                }
                Ok(())
            }
            "set" => outcome(s, eng.set_many(vars(s)?).map(|()| Value::Null)),
            "get" => outcome(s, eng.get(text(s, "name")?)),
            "get_many" => outcome(s, eng.get_many(&str_list(&s["names"])?).map(vars_value)),
            "names" => {
                let names = eng
                    .names()
                    .map_err(|e| Halt::Fail(format!("names failed: {e}")))?;
                check_names(s, &names)
            }
            "delete" => outcome(s, eng.delete(&str_list(&s["names"])?).map(|()| Value::Null)),
            "clear" => outcome(s, eng.clear().map(|()| Value::Null)),
            "eval" => outcome(
                s,
                call(Op::Eval {
                    expr: text(s, "expr")?,
                    vars: vars(s)?,
                }),
            ),
            "exec" => outcome(
                s,
                call(Op::Exec {
                    code: text(s, "code")?,
                    vars: vars(s)?,
                }),
            ),
            "vexec" => outcome(
                s,
                eng.vexec(text(s, "code")?, &str_list(&s["get"])?, vars(s)?)
                    .map(vars_value),
            ),
            "call" => {
                let args = match &s["args"] {
                    J::Null => Vec::new(),
                    a => values(a)?,
                };
                outcome(s, eng.call(text(s, "name")?, args, pairs(&s["kwargs"])?))
            }
            "install" => outcome(
                s,
                eng.request(
                    Op::Install {
                        name: text(s, "module")?,
                        source: Some(text(s, "source")?),
                        archive: None,
                        is_package: s["is_package"].as_bool().unwrap_or(false),
                    },
                    CallOptions::new(),
                ),
            ),
            "import" => outcome(
                s,
                eng.import_modules(&str_list(&s["modules"])?)
                    .map(|()| Value::Null),
            ),
            "is_busy" => outcome(s, eng.is_busy().map(Value::Bool)),
            "wait" => outcome(
                s,
                eng.wait(s["timeout"].as_f64().map(Duration::from_secs_f64))
                    .map(Value::Bool),
            ),
            "interrupt" => outcome(s, eng.interrupt().map(Value::Bool)),
            "benchmark" => {
                let cycles = s["cycles"].as_u64().unwrap_or(1);
                let b = eng
                    .benchmark(cycles)
                    .map_err(|e| Halt::Fail(format!("benchmark failed: {e}")))?;
                if b.net_s >= 0.0 && b.proc_s >= 0.0 && b.net_s.is_finite() && b.proc_s.is_finite()
                {
                    Ok(())
                } else {
                    fail(format!("implausible benchmark {b:?}"))
                }
            }
            "interrupt_loop" => interrupt_loop(eng),
            "roundtrip" => roundtrip(eng, s),
            other => Err(Halt::NotApplicable(format!("unknown op {other:?}"))),
        }
    }
}

/// Starts a 10-second loop, interrupts it once it runs, and expects the
/// loop's request to fail with kind `interrupted`.
fn interrupt_loop(eng: &Engine) -> Step {
    let runner = eng.clone();
    let handle = thread::spawn(move || {
        runner.exec("import time\n_t0 = time.time()\nwhile time.time() - _t0 < 10:\n    pass\n")
    });
    let started = Instant::now();
    loop {
        match eng.is_busy() {
            Ok(true) => break,
            Ok(false) if started.elapsed() < Duration::from_secs(10) => {
                thread::sleep(Duration::from_millis(10))
            }
            Ok(false) => return fail("the loop never showed as busy"),
            Err(e) => return fail(format!("is_busy failed: {e}")),
        }
    }
    thread::sleep(Duration::from_millis(100));
    let hit = eng
        .interrupt()
        .map_err(|e| Halt::Fail(format!("interrupt failed: {e}")))?;
    let res = handle
        .join()
        .map_err(|_| Halt::Fail("the loop's thread panicked".into()))?;
    if !hit {
        return fail("interrupt answered false while the loop ran");
    }
    match res {
        Err(Error::Interrupted(_)) => Ok(()),
        Err(e) => fail(format!(
            "the loop failed with {} ({e}), want interrupted",
            kind_name(&e)
        )),
        Ok(()) => fail("the loop finished normally: it was not interrupted"),
    }
}

/// Set from the client, inspected by Python on the engine, got back and
/// compared.
fn roundtrip(eng: &Engine, s: &J) -> Step {
    let want = value(&s["value"])?;
    let back = match &s["expect_back"] {
        J::Null => want.clone(),
        j => value(j)?,
    };
    eng.set("v", want)
        .map_err(|e| Halt::Fail(format!("set failed: {e}")))?;
    let spec = s["value"].to_string();
    let verdict = eng
        .eval_with(
            format!("__import__('{SUPPORT_MODULE}').check(v, _spec)"),
            vec![("_spec".to_owned(), Value::Str(spec))],
        )
        .map_err(|e| Halt::Fail(format!("the engine's check failed: {e}")))?;
    if verdict != Value::Bool(true) {
        return fail(format!(
            "the engine received another value: {}",
            short(&verdict)
        ));
    }
    if let Some(check) = s["check"].as_str() {
        let r = eng
            .eval(check)
            .map_err(|e| Halt::Fail(format!("check {check:?} failed: {e}")))?;
        if r != Value::Bool(true) {
            return fail(format!("check {check:?} answered {}", short(&r)));
        }
    }
    let got = eng
        .get("v")
        .map_err(|e| Halt::Fail(format!("get failed: {e}")))?;
    match differ(&got, &back) {
        None => Ok(()),
        Some(why) => fail(format!("the value came back different: {why}")),
    }
}

// ---- step fields -------------------------------------------------------------

fn value(j: &J) -> Step<Value> {
    notation::to_value(j).map_err(bad_case)
}

fn values(j: &J) -> Step<Vec<Value>> {
    j.as_array()
        .ok_or_else(|| bad_case("expected an array of values"))?
        .iter()
        .map(value)
        .collect()
}

fn text(s: &J, key: &str) -> Step<String> {
    s[key]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| bad_case(format!("field {key:?} must be text")))
}

fn str_list(j: &J) -> Step<Vec<String>> {
    match j {
        J::Null => Ok(Vec::new()),
        J::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad_case("expected a list of texts"))
            })
            .collect(),
        _ => Err(bad_case("expected a list of texts")),
    }
}

/// `[[name, value], ...]`.
fn pairs(j: &J) -> Step<Vars> {
    match j {
        J::Null => Ok(Vec::new()),
        J::Array(a) => a
            .iter()
            .map(|p| match p.as_array().map(Vec::as_slice) {
                Some([J::String(k), v]) => Ok((k.clone(), value(v)?)),
                _ => Err(bad_case("expected [name, value] pairs")),
            })
            .collect(),
        _ => Err(bad_case("expected [name, value] pairs")),
    }
}

/// A step's variables: `vars` pairs, or `name` with `value`.
fn vars(s: &J) -> Step<Vars> {
    if let Some(name) = s["name"].as_str() {
        if s.get("value").is_some() {
            return Ok(vec![(name.to_owned(), value(&s["value"])?)]);
        }
    }
    pairs(&s["vars"])
}

fn vars_value(v: Vars) -> Value {
    Value::Map(v.into_iter().map(|(k, v)| (Value::Str(k), v)).collect())
}

fn kind_name(e: &Error) -> String {
    e.kind()
        .map_or_else(|| "(no wire kind)".to_owned(), |k| k.name().to_owned())
}

fn check_names(s: &J, names: &[String]) -> Step {
    if s.get("expect").is_some() {
        let want = str_list(&s["expect"])?;
        if names != want.as_slice() {
            return fail(format!("names {names:?}, want {want:?}"));
        }
    }
    for n in str_list(&s["expect_contains"])? {
        if !names.contains(&n) {
            return fail(format!("names {names:?} lack {n:?}"));
        }
    }
    for n in str_list(&s["expect_absent"])? {
        if names.contains(&n) {
            return fail(format!("names {names:?} hold {n:?}"));
        }
    }
    Ok(())
}

/// Checks a step's result against its `expect` / `expect_error`.
fn outcome(s: &J, r: Result<Value, Error>) -> Step {
    match (&s["expect_error"], r) {
        (J::Null, Ok(got)) => match s.get("expect") {
            None => Ok(()),
            Some(want) => match differ(&got, &value(want)?) {
                None => Ok(()),
                Some(why) => fail(why),
            },
        },
        (J::Null, Err(e)) => fail(format!("unexpected error {}: {e}", kind_name(&e))),
        (want, Ok(got)) => fail(format!(
            "expected error {}, got the value {}",
            notation::short_json(want),
            short(&got)
        )),
        (want, Err(e)) => {
            let kind = kind_name(&e);
            if let Some(k) = want["kind"].as_str() {
                if k != kind {
                    return fail(format!("error kind {kind} ({e}), want {k}"));
                }
            }
            if let Some(t) = want["type"].as_str() {
                if e.remote_type() != Some(t) {
                    return fail(format!(
                        "remote type {:?} ({e}), want {t:?}",
                        e.remote_type()
                    ));
                }
            }
            if let Some(m) = want["message_contains"].as_str() {
                if !e.to_string().contains(m) {
                    return fail(format!("error message {:?} lacks {m:?}", e.to_string()));
                }
            }
            Ok(())
        }
    }
}
