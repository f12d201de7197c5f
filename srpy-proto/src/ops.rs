//! The operation table: every operation of the protocol, once.
//!
//! `docs/PROTOCOL.md` 10.4 in code. Each [`OpSpec`] names an operation's
//! wire name, its fields (the request's own fields: the generic argument
//! shape every binding uses), where it runs and how it is answered. The
//! layers read it instead of listing operations themselves:
//!
//! - the codec: [`Op::from_fields`](crate::Op::from_fields) builds a typed
//!   [`Op`](crate::Op) from an operation name and a map of its fields (the
//!   same parser as a received request), [`Op::is_immediate`] and
//!   [`Op::spec`](crate::Op::spec) look here;
//! - the bindings (pyo3 `RawEngine.request`, JNI `Native.request`) take an
//!   operation name and a field map, nothing per operation;
//! - the server's per-op counters count [`NAMES`] one by one.
//!
//! Adding an operation: a variant of [`Op`](crate::Op), its line in
//! `parse_op`/`into_value` (`request.rs`), its row here, its method in the
//! engine's executor; the tests below fail until the table and the enum
//! agree.
//!
//! [`Op::is_immediate`]: crate::Op::is_immediate

/// How a field's value is typed (`docs/PROTOCOL.md` 10.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// Text.
    Text,
    /// An array of text (`names`).
    Names,
    /// A map with text keys (`vars`).
    Vars,
    /// An array of values.
    Array,
    Bytes,
    Bool,
    Uint,
    /// A float number of seconds, or `null`.
    Seconds,
}

/// One field of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: &'static str,
    pub ty: FieldType,
    /// Whether a request without it is malformed.
    pub required: bool,
}

/// Who answers an operation, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runs {
    /// An engine, in order, on its interpreter thread (the executor).
    Queued,
    /// An engine's I/O side, at once, without waiting for running work.
    Immediate,
    /// A server's directory only.
    ServerOnly,
}

/// One row of the operation table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpSpec {
    /// The wire name (`op` field).
    pub name: &'static str,
    pub fields: &'static [FieldSpec],
    pub runs: Runs,
    /// Whether a server answers it too (besides [`Runs::ServerOnly`] ops).
    pub also_server: bool,
}

impl OpSpec {
    pub fn is_immediate(&self) -> bool {
        self.runs == Runs::Immediate
    }

    /// Whether a timed-out call of it is followed by an `interrupt` to the
    /// engine (only queued work can be interrupted).
    pub fn interrupts_on_timeout(&self) -> bool {
        self.runs == Runs::Queued
    }
}

const fn req(name: &'static str, ty: FieldType) -> FieldSpec {
    FieldSpec {
        name,
        ty,
        required: true,
    }
}

const fn opt(name: &'static str, ty: FieldType) -> FieldSpec {
    FieldSpec {
        name,
        ty,
        required: false,
    }
}

const fn op(name: &'static str, fields: &'static [FieldSpec], runs: Runs) -> OpSpec {
    OpSpec {
        name,
        fields,
        runs,
        also_server: false,
    }
}

use FieldType::*;
use Runs::*;

/// Every operation of protocol version 1, in the order of PROTOCOL.md 10.4.
pub const OPS: [OpSpec; 22] = [
    OpSpec {
        also_server: true,
        ..op("ping", &[], Immediate)
    },
    OpSpec {
        also_server: true,
        ..op("whoami", &[], Queued)
    },
    op("set", &[req("vars", Vars)], Queued),
    op("get", &[req("name", Text)], Queued),
    op("get_many", &[req("names", Names)], Queued),
    op("names", &[], Queued),
    op("delete", &[req("names", Names)], Queued),
    op("clear", &[], Queued),
    op("eval", &[req("expr", Text), opt("vars", Vars)], Queued),
    op("exec", &[req("code", Text), opt("vars", Vars)], Queued),
    op(
        "vexec",
        &[req("code", Text), opt("get", Names), opt("vars", Vars)],
        Queued,
    ),
    op(
        "call",
        &[req("name", Text), opt("args", Array), opt("kwargs", Vars)],
        Queued,
    ),
    op("describe", &[req("name", Text)], Queued),
    op(
        "install",
        &[
            req("name", Text),
            opt("source", Text),
            opt("archive", Bytes),
            opt("is_package", Bool),
        ],
        Queued,
    ),
    op("import", &[req("modules", Names)], Queued),
    op("is_busy", &[], Immediate),
    op("wait", &[opt("timeout", Seconds)], Immediate),
    op("interrupt", &[], Immediate),
    op("benchmark", &[opt("cycles", Uint)], Queued),
    op(
        "apply",
        &[
            req("function", Bytes),
            opt("args", Array),
            opt("kwargs", Vars),
        ],
        Queued,
    ),
    op("engines", &[], ServerOnly),
    op("restart", &[req("index", Uint)], ServerOnly),
];

/// The wire names of [`OPS`], in the same order.
pub const NAMES: [&str; OPS.len()] = {
    let mut names = [""; OPS.len()];
    let mut i = 0;
    while i < OPS.len() {
        names[i] = OPS[i].name;
        i += 1;
    }
    names
};

/// The row of an operation, by wire name.
pub fn spec(name: &str) -> Option<&'static OpSpec> {
    OPS.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Op, Request};
    use crate::value::Value;

    /// A value of a field's type.
    fn sample(f: &FieldSpec) -> Value {
        match f.ty {
            Text => Value::from("x"),
            Names => Value::List(vec![Value::from("a")]),
            Vars => Value::map([("a", Value::Int(1))]),
            Array => Value::List(vec![Value::Int(1)]),
            Bytes => Value::Bytes(vec![1u8].into()),
            Bool => Value::Bool(true),
            Uint => Value::from(3u64),
            Seconds => Value::Float(1.5),
        }
    }

    /// The required fields of an op, and its optional ones too.
    fn fields(spec: &OpSpec, all: bool) -> Value {
        Value::Map(
            spec.fields
                .iter()
                .filter(|f| all || f.required)
                // `install` takes exactly one of `source` and `archive`.
                .filter(|f| !(spec.name == "install" && f.name == "archive"))
                .map(|f| (Value::from(f.name), sample(f)))
                .collect(),
        )
    }

    #[test]
    fn every_op_in_the_table_parses_and_its_name_round_trips() {
        for spec in &OPS {
            for all in [false, true] {
                let mut args = fields(spec, all);
                if spec.name == "install" && !all {
                    args = fields(spec, true);
                }
                let op = Op::from_fields(spec.name, args)
                    .unwrap_or_else(|e| panic!("{}: {e}", spec.name));
                assert_eq!(op.name(), spec.name);
                assert_eq!(op.known_name(), Some(spec.name));
                assert_eq!(op.spec(), Some(spec));
                assert_eq!(op.is_immediate(), spec.runs == Immediate, "{}", spec.name);
                let r = Request::new(1, op.clone());
                assert_eq!(Request::from_value(r.to_value()).unwrap().op, op);
            }
        }
    }

    #[test]
    fn a_missing_required_field_is_named() {
        for spec in &OPS {
            for f in spec.fields.iter().filter(|f| f.required) {
                let Value::Map(mut m) = fields(spec, true) else {
                    unreachable!()
                };
                m.retain(|(k, _)| k.as_str() != Some(f.name));
                let e = Op::from_fields(spec.name, Value::Map(m)).unwrap_err();
                assert!(
                    e.to_string().contains(&format!("'{}'", f.name)),
                    "{}: {e}",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn a_field_of_the_wrong_type_is_refused() {
        for spec in &OPS {
            for f in spec.fields {
                let Value::Map(mut m) = fields(spec, true) else {
                    unreachable!()
                };
                m.retain(|(k, _)| k.as_str() != Some(f.name));
                // No field of the table takes a map with int keys.
                let wrong = Value::Map(vec![(Value::Int(1), Value::Int(1))]);
                m.push((Value::from(f.name), wrong));
                assert!(
                    Op::from_fields(spec.name, Value::Map(m)).is_err(),
                    "{}.{} took a wrong value",
                    spec.name,
                    f.name
                );
            }
        }
    }

    #[test]
    fn names_are_unique_and_unknown_names_stay_unknown() {
        let mut names = NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), OPS.len());
        assert_eq!(
            Op::from_fields("teleport", Value::Map(vec![])).unwrap(),
            Op::Unknown("teleport".into())
        );
        assert!(spec("teleport").is_none());
    }
}
