//! Typed access to the fields of a message map, with precise errors.
//!
//! `docs/PROTOCOL.md`, "Messages": "A receiver MUST ignore map keys it does
//! not know" — so only the fields asked for are looked at.

use crate::error::{invalid, Result};
use crate::value::Value;

/// The fields of one message (a CBOR map with text keys). Owns the map so
/// big values (bytes, arrays) are moved out, never copied.
pub(crate) struct Fields {
    pub context: &'static str,
    entries: Vec<(Value, Value)>,
}

impl Fields {
    pub fn new(context: &'static str, value: Value) -> Result<Fields> {
        match value {
            Value::Map(entries) => Ok(Fields { context, entries }),
            other => Err(invalid(
                context,
                format!("expected a map, got {}", other.type_name()),
            )),
        }
    }

    pub fn opt(&self, key: &str) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// Moves a field's value out (absent = `None`).
    pub fn take(&mut self, key: &str) -> Option<Value> {
        let i = self
            .entries
            .iter()
            .position(|(k, _)| k.as_str() == Some(key))?;
        Some(self.entries.swap_remove(i).1)
    }

    pub fn req(&self, key: &str) -> Result<&Value> {
        self.opt(key)
            .ok_or_else(|| invalid(self.context, format!("missing field '{key}'")))
    }

    pub fn take_req(&mut self, key: &str) -> Result<Value> {
        self.take(key)
            .ok_or_else(|| invalid(self.context, format!("missing field '{key}'")))
    }

    fn wrong(&self, key: &str, expected: &str, got: &Value) -> crate::Error {
        invalid(
            self.context,
            format!("field '{key}' must be {expected}, got {}", got.type_name()),
        )
    }

    pub fn str(&self, key: &str) -> Result<String> {
        match self.req(key)? {
            Value::Str(s) => Ok(s.clone()),
            other => Err(self.wrong(key, "text", other)),
        }
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<String>> {
        match self.opt(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong(key, "text", other)),
        }
    }

    pub fn u64(&self, key: &str) -> Result<u64> {
        match self.req(key)? {
            Value::Int(i) if *i >= 0 => Ok(*i as u64),
            Value::BigInt(b) => u64::try_from(b).map_err(|_| {
                self.wrong(key, "an unsigned 64-bit integer", &Value::BigInt(b.clone()))
            }),
            other => Err(self.wrong(key, "an unsigned integer", other)),
        }
    }

    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>> {
        match self.opt(key) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.u64(key).map(Some),
        }
    }

    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        match self.opt(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Float(f)) => Ok(Some(*f)),
            Some(Value::Int(i)) => Ok(Some(*i as f64)),
            Some(other) => Err(self.wrong(key, "a number", other)),
        }
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.opt(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(key, "a bool", other)),
        }
    }

    pub fn bytes(&mut self, key: &str) -> Result<Vec<u8>> {
        match self.take_req(key)? {
            Value::Bytes(b) => Ok(b.into_vec()),
            other => Err(self.wrong(key, "bytes", &other)),
        }
    }

    pub fn opt_bytes(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        match self.opt(key) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.bytes(key).map(Some),
        }
    }

    /// An array of text.
    pub fn strs(&self, key: &str) -> Result<Vec<String>> {
        let v = self.req(key)?;
        let items = match v {
            Value::List(items) => items,
            other => return Err(self.wrong(key, "an array of text", other)),
        };
        items
            .iter()
            .map(|i| match i {
                Value::Str(s) => Ok(s.clone()),
                other => Err(self.wrong(key, "an array of text", other)),
            })
            .collect()
    }

    pub fn opt_strs(&self, key: &str) -> Result<Vec<String>> {
        match self.opt(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(_) => self.strs(key),
        }
    }

    /// An array of values (absent = empty).
    pub fn opt_list(&mut self, key: &str) -> Result<Vec<Value>> {
        match self.take(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::List(items)) => Ok(items),
            Some(other) => Err(self.wrong(key, "an array", &other)),
        }
    }

    /// A map with text keys (absent = empty).
    pub fn opt_vars(&mut self, key: &str) -> Result<Vec<(String, Value)>> {
        match self.take(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Map(entries)) => entries
                .into_iter()
                .map(|(k, v)| match k {
                    Value::Str(s) => Ok((s, v)),
                    other => Err(self.wrong(key, "a map with text keys", &other)),
                })
                .collect(),
            Some(other) => Err(self.wrong(key, "a map with text keys", &other)),
        }
    }

    pub fn vars(&mut self, key: &str) -> Result<Vec<(String, Value)>> {
        self.req(key)?;
        self.opt_vars(key)
    }
}
