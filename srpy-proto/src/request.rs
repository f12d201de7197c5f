//! Requests: `{"t": "req", "id": <uint>, "op": <text>, ...op fields}`.
//!
//! `docs/PROTOCOL.md`, "Requests": ids are chosen by the client and echoed
//! in every frame answering the request; an op a receiver does not know is
//! answered with an `unsupported_op` error, and the connection stays open.

use crate::error::{invalid, Result};
use crate::fields::Fields;
use crate::ops::{self, OpSpec};
use crate::value::Value;

/// Named variables, in order.
pub type Vars = Vec<(String, Value)>;

/// One operation with its arguments.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Op {
    /// Liveness check; answers `"pong"` without waiting for busy work.
    Ping,
    /// Description of the engine (or server).
    Whoami,
    /// Bind variables in the engine namespace.
    Set {
        vars: Vars,
    },
    /// One variable's value.
    Get {
        name: String,
    },
    /// Several variables, as a map.
    GetMany {
        names: Vec<String>,
    },
    /// The names bound in the namespace.
    Names,
    Delete {
        names: Vec<String>,
    },
    /// Reset the namespace.
    Clear,
    /// Evaluate an expression (after binding `vars`).
    Eval {
        expr: String,
        vars: Vars,
    },
    /// Execute statements (after binding `vars`).
    Exec {
        code: String,
        vars: Vars,
    },
    /// Execute in a fresh temporary namespace holding only `vars`; answer
    /// the names in `get`.
    Vexec {
        code: String,
        get: Vec<String>,
        vars: Vars,
    },
    /// Call a function by dotted name.
    Call {
        name: String,
        args: Vec<Value>,
        kwargs: Vars,
    },
    /// What a dotted name is (module, class, function, value) and its doc.
    Describe {
        name: String,
    },
    /// Ship a module: its source, or a zip archive of a package.
    Install {
        name: String,
        source: Option<String>,
        archive: Option<Vec<u8>>,
        is_package: bool,
    },
    Import {
        modules: Vec<String>,
    },
    /// Whether the engine is running a request; answered at once.
    IsBusy,
    /// Wait until the engine is idle, at most `timeout` seconds; answers
    /// whether it is idle.
    Wait {
        timeout: Option<f64>,
    },
    /// Raise `KeyboardInterrupt` in the running request; answers whether
    /// something was running. Answered at once.
    Interrupt,
    /// Run the processor benchmark `cycles` times; answers seconds.
    Benchmark {
        cycles: u64,
    },
    /// Call a pickled function (Python callers that opted in to pickle).
    Apply {
        function: Vec<u8>,
        args: Vec<Value>,
        kwargs: Vars,
    },
    /// Server only: the engine directory.
    Engines,
    /// Server only: kill and restart one engine (fresh namespace).
    Restart {
        index: u64,
    },
    /// An op this build does not know; answered with `unsupported_op`.
    Unknown(String),
}

impl Op {
    /// The wire name of the op.
    pub fn name(&self) -> &str {
        match self {
            Op::Unknown(name) => name,
            known => known.known_name().unwrap_or("unknown"),
        }
    }

    /// The wire name of a known op as a `'static` string (`None` for
    /// [`Op::Unknown`]): for logs kept after the op is consumed.
    pub fn known_name(&self) -> Option<&'static str> {
        Some(match self {
            Op::Ping => "ping",
            Op::Whoami => "whoami",
            Op::Set { .. } => "set",
            Op::Get { .. } => "get",
            Op::GetMany { .. } => "get_many",
            Op::Names => "names",
            Op::Delete { .. } => "delete",
            Op::Clear => "clear",
            Op::Eval { .. } => "eval",
            Op::Exec { .. } => "exec",
            Op::Vexec { .. } => "vexec",
            Op::Call { .. } => "call",
            Op::Describe { .. } => "describe",
            Op::Install { .. } => "install",
            Op::Import { .. } => "import",
            Op::IsBusy => "is_busy",
            Op::Wait { .. } => "wait",
            Op::Interrupt => "interrupt",
            Op::Benchmark { .. } => "benchmark",
            Op::Apply { .. } => "apply",
            Op::Engines => "engines",
            Op::Restart { .. } => "restart",
            Op::Unknown(_) => return None,
        })
    }

    /// The op's row of the operation table (`None` for [`Op::Unknown`]).
    pub fn spec(&self) -> Option<&'static OpSpec> {
        ops::spec(self.known_name()?)
    }

    /// Ops an engine's I/O side answers without queueing behind Python work.
    pub fn is_immediate(&self) -> bool {
        self.spec().is_some_and(OpSpec::is_immediate)
    }

    /// Builds an op from its wire name and a map of its fields (the
    /// generic form every binding sends: `docs/PROTOCOL.md` 10.4), checked
    /// exactly as a received request is. An unknown name gives
    /// [`Op::Unknown`].
    pub fn from_fields(name: &str, fields: Value) -> Result<Op> {
        let fields = match fields {
            Value::Null => Value::Map(Vec::new()),
            other => other,
        };
        let mut f = Fields::new("request", fields)?;
        parse_named_op(name.to_owned(), &mut f)
    }
}

/// Moves the variables into a map value: their (possibly big) values are
/// not copied.
fn vars_value(vars: Vars) -> Value {
    Value::Map(vars.into_iter().map(|(k, v)| (Value::Str(k), v)).collect())
}

fn strs_value(names: &[String]) -> Value {
    Value::List(names.iter().map(|s| Value::Str(s.clone())).collect())
}

/// A request frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub id: u64,
    pub op: Op,
}

impl Request {
    pub fn new(id: u64, op: Op) -> Request {
        Request { id, op }
    }

    /// The request as a message map. Clones the op's values; use
    /// [`Request::into_value`] to move them.
    pub fn to_value(&self) -> Value {
        self.clone().into_value()
    }

    pub fn into_value(self) -> Value {
        let mut m: Vec<(Value, Value)> = vec![
            (Value::from("t"), Value::from("req")),
            (Value::from("id"), Value::from(self.id)),
            (Value::from("op"), Value::from(self.op.name())),
        ];
        let mut put = |k: &str, v: Value| m.push((Value::from(k), v));
        match self.op {
            Op::Ping
            | Op::Whoami
            | Op::Names
            | Op::Clear
            | Op::IsBusy
            | Op::Interrupt
            | Op::Engines
            | Op::Unknown(_) => {}
            Op::Set { vars } => put("vars", vars_value(vars)),
            Op::Get { name } | Op::Describe { name } => put("name", Value::Str(name)),
            Op::GetMany { names } | Op::Delete { names } => put("names", strs_value(&names)),
            Op::Eval { expr, vars } => {
                put("expr", Value::Str(expr));
                if !vars.is_empty() {
                    put("vars", vars_value(vars));
                }
            }
            Op::Exec { code, vars } => {
                put("code", Value::Str(code));
                if !vars.is_empty() {
                    put("vars", vars_value(vars));
                }
            }
            Op::Vexec { code, get, vars } => {
                put("code", Value::Str(code));
                put("get", strs_value(&get));
                put("vars", vars_value(vars));
            }
            Op::Call { name, args, kwargs } => {
                put("name", Value::Str(name));
                put("args", Value::List(args));
                put("kwargs", vars_value(kwargs));
            }
            Op::Install {
                name,
                source,
                archive,
                is_package,
            } => {
                put("name", Value::Str(name));
                if let Some(s) = source {
                    put("source", Value::Str(s));
                }
                if let Some(a) = archive {
                    put("archive", Value::Bytes(a.into()));
                }
                put("is_package", Value::Bool(is_package));
            }
            Op::Import { modules } => put("modules", strs_value(&modules)),
            Op::Wait { timeout } => put("timeout", timeout.map_or(Value::Null, Value::Float)),
            Op::Benchmark { cycles } => put("cycles", Value::from(cycles)),
            Op::Apply {
                function,
                args,
                kwargs,
            } => {
                put("function", Value::Bytes(function.into()));
                put("args", Value::List(args));
                put("kwargs", vars_value(kwargs));
            }
            Op::Restart { index } => put("index", Value::from(index)),
        }
        Value::Map(m)
    }

    /// Decodes a request. A well-formed request with an unknown op gives
    /// `Op::Unknown`; a known op with bad fields is an error that still
    /// carries the id (see [`RequestError`]) so it can be answered.
    pub fn from_value(v: Value) -> std::result::Result<Request, RequestError> {
        let mut f = Fields::new("request", v).map_err(RequestError::without_id)?;
        let id = f.u64("id").map_err(RequestError::without_id)?;
        match f.opt("t") {
            Some(Value::Str(t)) if t == "req" => {}
            _ => {
                return Err(RequestError {
                    id: Some(id),
                    error: invalid("request", "field 't' must be \"req\""),
                })
            }
        }
        let op = parse_op(&mut f).map_err(|error| RequestError {
            id: Some(id),
            error,
        })?;
        Ok(Request { id, op })
    }
}

fn parse_op(f: &mut Fields) -> Result<Op> {
    let name = f.str("op")?;
    parse_named_op(name, f)
}

fn parse_named_op(name: String, f: &mut Fields) -> Result<Op> {
    Ok(match name.as_str() {
        "ping" => Op::Ping,
        "whoami" => Op::Whoami,
        "set" => Op::Set {
            vars: f.vars("vars")?,
        },
        "get" => Op::Get {
            name: f.str("name")?,
        },
        "get_many" => Op::GetMany {
            names: f.strs("names")?,
        },
        "names" => Op::Names,
        "delete" => Op::Delete {
            names: f.strs("names")?,
        },
        "clear" => Op::Clear,
        "eval" => Op::Eval {
            expr: f.str("expr")?,
            vars: f.opt_vars("vars")?,
        },
        "exec" => Op::Exec {
            code: f.str("code")?,
            vars: f.opt_vars("vars")?,
        },
        "vexec" => Op::Vexec {
            code: f.str("code")?,
            get: f.opt_strs("get")?,
            vars: f.opt_vars("vars")?,
        },
        "call" => Op::Call {
            name: f.str("name")?,
            args: f.opt_list("args")?,
            kwargs: f.opt_vars("kwargs")?,
        },
        "describe" => Op::Describe {
            name: f.str("name")?,
        },
        "install" => {
            let op = Op::Install {
                name: f.str("name")?,
                source: f.opt_str("source")?,
                archive: f.opt_bytes("archive")?,
                is_package: f.opt_bool("is_package")?.unwrap_or(false),
            };
            match &op {
                Op::Install {
                    source: None,
                    archive: None,
                    ..
                } => {
                    return Err(invalid(
                        "install request",
                        "needs field 'source' or 'archive'",
                    ))
                }
                Op::Install {
                    source: Some(_),
                    archive: Some(_),
                    ..
                } => {
                    return Err(invalid(
                        "install request",
                        "has both 'source' and 'archive'; send exactly one",
                    ))
                }
                _ => {}
            }
            op
        }
        "import" => Op::Import {
            modules: f.strs("modules")?,
        },
        "is_busy" => Op::IsBusy,
        "wait" => Op::Wait {
            timeout: wait_timeout(f)?,
        },
        "interrupt" => Op::Interrupt,
        "benchmark" => Op::Benchmark {
            cycles: benchmark_cycles(f)?,
        },
        "apply" => Op::Apply {
            function: f.bytes("function")?,
            args: f.opt_list("args")?,
            kwargs: f.opt_vars("kwargs")?,
        },
        "engines" => Op::Engines,
        "restart" => Op::Restart {
            index: f.u64("index")?,
        },
        _ => Op::Unknown(name),
    })
}

/// The `cycles` a `benchmark` request may ask for.
pub const BENCHMARK_CYCLES: std::ops::RangeInclusive<u64> = 1..=100_000;

// PROTOCOL.md 10.4: "`cycles` outside 1..100000 is a `protocol` error
// naming the field."
fn benchmark_cycles(f: &Fields) -> Result<u64> {
    let cycles = f.opt_u64("cycles")?.unwrap_or(10);
    if !BENCHMARK_CYCLES.contains(&cycles) {
        return Err(invalid(
            "request",
            format!(
                "field 'cycles' must be in {}..{}, got {cycles}",
                BENCHMARK_CYCLES.start(),
                BENCHMARK_CYCLES.end()
            ),
        ));
    }
    Ok(cycles)
}

// PROTOCOL.md 10.4: "A receiver reads an absent `timeout` as `null`; a
// negative or NaN timeout is a `protocol` error naming the field, and
// +infinity means no limit, like `null`."
fn wait_timeout(f: &Fields) -> Result<Option<f64>> {
    match f.opt_f64("timeout")? {
        Some(t) if t.is_nan() || t < 0.0 => Err(invalid(
            "request",
            format!("field 'timeout' must be a number of seconds >= 0 or null, got {t}"),
        )),
        Some(t) if t.is_infinite() => Ok(None),
        t => Ok(t),
    }
}

/// A request that could not be decoded, with its id when one was readable.
#[derive(Debug)]
pub struct RequestError {
    pub id: Option<u64>,
    pub error: crate::Error,
}

impl RequestError {
    fn without_id(error: crate::Error) -> RequestError {
        RequestError { id: None, error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn building_a_request_moves_its_values_without_copying() {
        type MakeOp = fn(Vars) -> Op;
        let makers: [(&str, MakeOp); 4] = [
            ("vars", |vars| Op::Set { vars }),
            ("vars", |vars| Op::Eval {
                expr: "b".into(),
                vars,
            }),
            ("vars", |vars| Op::Exec {
                code: "pass".into(),
                vars,
            }),
            ("kwargs", |kwargs| Op::Call {
                name: "f".into(),
                args: Vec::new(),
                kwargs,
            }),
        ];
        for (key, make) in makers {
            let big = vec![7u8; 1 << 20];
            let at = big.as_ptr();
            let op = make(vec![("b".into(), Value::Bytes(big.into()))]);
            let value = Request::new(1, op).into_value();
            match value.get(key).and_then(|v| v.get("b")) {
                Some(Value::Bytes(b)) => assert_eq!(b.as_ptr(), at, "{key}: the buffer was copied"),
                other => panic!("{key}: no bytes in the request: {other:?}"),
            }
        }
    }

    fn all_ops() -> Vec<Op> {
        let vars = vec![("a".to_string(), Value::Int(1))];
        vec![
            Op::Ping,
            Op::Whoami,
            Op::Set { vars: vars.clone() },
            Op::Get { name: "a".into() },
            Op::GetMany {
                names: vec!["a".into(), "b".into()],
            },
            Op::Names,
            Op::Delete {
                names: vec!["a".into()],
            },
            Op::Clear,
            Op::Eval {
                expr: "1+1".into(),
                vars: vec![],
            },
            Op::Eval {
                expr: "a+1".into(),
                vars: vars.clone(),
            },
            Op::Exec {
                code: "x=1".into(),
                vars: vars.clone(),
            },
            Op::Vexec {
                code: "y=a".into(),
                get: vec!["y".into()],
                vars: vars.clone(),
            },
            Op::Call {
                name: "math.sqrt".into(),
                args: vec![Value::Float(2.0)],
                kwargs: vec![],
            },
            Op::Describe {
                name: "math".into(),
            },
            Op::Install {
                name: "m".into(),
                source: Some("x=1".into()),
                archive: None,
                is_package: false,
            },
            Op::Install {
                name: "p".into(),
                source: None,
                archive: Some(vec![1, 2]),
                is_package: true,
            },
            Op::Import {
                modules: vec!["os".into()],
            },
            Op::IsBusy,
            Op::Wait { timeout: Some(1.5) },
            Op::Wait { timeout: None },
            Op::Interrupt,
            Op::Benchmark { cycles: 3 },
            Op::Apply {
                function: vec![0x80],
                args: vec![],
                kwargs: vars,
            },
            Op::Engines,
            Op::Restart { index: 2 },
        ]
    }

    #[test]
    fn every_op_round_trips() {
        for (i, op) in all_ops().into_iter().enumerate() {
            let r = Request::new(i as u64, op);
            let back = Request::from_value(r.to_value()).unwrap();
            assert_eq!(back, r);
            assert!(
                r.op.spec().is_some(),
                "{} has no row in ops::OPS",
                r.op.name()
            );
        }
    }

    #[test]
    fn unknown_op_decodes_as_unknown() {
        let v = Value::map([
            ("t", Value::from("req")),
            ("id", Value::from(7)),
            ("op", Value::from("teleport")),
        ]);
        assert_eq!(
            Request::from_value(v).unwrap(),
            Request::new(7, Op::Unknown("teleport".into()))
        );
    }

    #[test]
    fn bad_fields_keep_the_id_and_name_the_field() {
        let v = Value::map([
            ("t", Value::from("req")),
            ("id", Value::from(9)),
            ("op", Value::from("eval")),
            ("expr", Value::from(3)),
        ]);
        let e = Request::from_value(v).unwrap_err();
        assert_eq!(e.id, Some(9));
        assert_eq!(
            e.error.to_string(),
            "invalid request: field 'expr' must be text, got int"
        );
    }

    #[test]
    fn missing_id_is_reported_without_id() {
        let v = Value::map([("t", Value::from("req")), ("op", Value::from("ping"))]);
        let e = Request::from_value(v).unwrap_err();
        assert_eq!(e.id, None);
        assert_eq!(e.error.to_string(), "invalid request: missing field 'id'");
    }
}
