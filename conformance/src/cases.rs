//! Loading the language-neutral cases (`conformance/cases/*.json`) and
//! selecting them by name pattern.

use std::path::{Path, PathBuf};

use serde_json::Value as J;

/// One case: a name, a description, an optional client filter and its
/// steps (kept as JSON: each driver interprets them).
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    /// `None`: every client; else the clients the case is meant for (the
    /// others answer `n/a`).
    pub clients: Option<Vec<String>>,
    /// The case's `"needs": ["tls"]`: it connects to the runner's TLS
    /// server (`crate::tls`), which is started when a selected case needs it.
    pub needs_tls: bool,
    pub steps: Vec<J>,
}

impl Case {
    pub fn is_for(&self, client: &str) -> bool {
        self.clients
            .as_ref()
            .is_none_or(|c| c.iter().any(|x| x == client))
    }
}

/// Every case of every `*.json` file in `dir`, in file-name order, then in
/// file order. Names must be unique.
pub fn load_dir(dir: &Path) -> Result<Vec<Case>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out: Vec<Case> = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let j: J = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", f.display()))?;
        let file = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cases = j["cases"]
            .as_array()
            .ok_or_else(|| format!("{file}: no \"cases\" array"))?;
        for c in cases {
            let name = c["name"]
                .as_str()
                .ok_or_else(|| format!("{file}: a case without a name"))?
                .to_owned();
            if out.iter().any(|o| o.name == name) {
                return Err(format!("{file}: duplicate case name {name:?}"));
            }
            let steps = c["steps"]
                .as_array()
                .ok_or_else(|| format!("{file}: case {name}: no \"steps\" array"))?
                .clone();
            for (i, s) in steps.iter().enumerate() {
                if s["op"].as_str().is_none() {
                    return Err(format!("{file}: case {name}: step {i} has no \"op\""));
                }
            }
            let clients = match &c["clients"] {
                J::Null => None,
                J::Array(a) => Some(
                    a.iter()
                        .map(|x| x.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| format!("{file}: case {name}: clients must be names"))?,
                ),
                _ => return Err(format!("{file}: case {name}: clients must be an array")),
            };
            let needs_tls = match &c["needs"] {
                J::Null => false,
                J::Array(a) if a.iter().all(|x| x.as_str() == Some("tls")) => !a.is_empty(),
                _ => {
                    return Err(format!(
                        "{file}: case {name}: needs must be an array of known needs (\"tls\")"
                    ))
                }
            };
            out.push(Case {
                name,
                clients,
                needs_tls,
                steps,
            });
        }
    }
    Ok(out)
}

/// A selection of cases by name: comma-separated glob patterns (`*` any
/// text, `?` one character), matched against the whole name. A pattern
/// without a wildcard matches names containing it.
#[derive(Clone, Debug, Default)]
pub struct Pattern {
    globs: Vec<String>,
}

impl Pattern {
    /// `None` or an empty text selects everything.
    pub fn new(spec: Option<&str>) -> Pattern {
        let globs = spec
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s.contains(['*', '?']) {
                    s.to_owned()
                } else {
                    format!("*{s}*")
                }
            })
            .collect();
        Pattern { globs }
    }

    pub fn is_all(&self) -> bool {
        self.globs.is_empty()
    }

    pub fn matches(&self, name: &str) -> bool {
        self.is_all()
            || self
                .globs
                .iter()
                .any(|g| glob(g.as_bytes(), name.as_bytes()))
    }

    /// The pattern as drivers take it (`--case`): comma-separated globs.
    pub fn to_arg(&self) -> String {
        self.globs.join(",")
    }
}

/// Glob match of a whole text: `*` any run, `?` one byte.
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = Pattern::new(Some("values.int.*,ping"));
        assert!(p.matches("values.int.zero"));
        assert!(p.matches("ops.ping"));
        assert!(!p.matches("values.float.nan"));
        assert_eq!(p.to_arg(), "values.int.*,*ping*");
        assert!(Pattern::new(None).matches("anything"));
        assert!(Pattern::new(Some("a?c")).matches("abc"));
        assert!(!Pattern::new(Some("a?c")).matches("abbc"));
    }
}
