//! The case × client matrix: table, counts, and the committed expected
//! results (`conformance/expected/matrix.json`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Value as J};

use crate::report::{CaseResult, Status};

/// The column of client-independent rows (protocol cases, cbor2 vectors).
pub const WIRE: &str = "wire";

/// A client column: its results, or why it did not run.
pub struct Column {
    pub client: String,
    pub skipped: Option<String>,
    pub results: BTreeMap<String, CaseResult>,
    /// The driver process had trouble (crash, timeout): listed as a failure.
    pub trouble: Option<String>,
}

/// case → client → status, as committed.
pub type Expected = BTreeMap<String, BTreeMap<String, Status>>;

pub fn load_expected(path: &Path) -> Result<Expected, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Expected::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let j: J = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Expected::new();
    let cases = j["cases"]
        .as_object()
        .ok_or_else(|| format!("{}: no \"cases\" object", path.display()))?;
    for (case, row) in cases {
        let row = row
            .as_object()
            .ok_or_else(|| format!("{}: {case}: not an object", path.display()))?;
        let mut r = BTreeMap::new();
        for (client, s) in row {
            let st = s
                .as_str()
                .and_then(Status::parse)
                .ok_or_else(|| format!("{}: {case}/{client}: bad status {s}", path.display()))?;
            r.insert(client.clone(), st);
        }
        out.insert(case.clone(), r);
    }
    Ok(out)
}

pub fn save_expected(path: &Path, e: &Expected) -> Result<(), String> {
    let mut cases = serde_json::Map::new();
    for (case, row) in e {
        let mut r = serde_json::Map::new();
        for (client, s) in row {
            r.insert(client.clone(), J::from(s.name()));
        }
        cases.insert(case.clone(), J::Object(r));
    }
    let j = json!({
        "description": "Expected conformance matrix: case -> client -> pass | n/a. The runner fails when a client that ran differs from this; rewrite with `cargo run --release -p conformance -- --update-expected`.",
        "cases": J::Object(cases),
    });
    let text = serde_json::to_string_pretty(&j).map_err(|e| e.to_string())? + "\n";
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A difference between the run and the expected results.
pub struct Change {
    pub case: String,
    pub client: String,
    pub expected: Option<Status>,
    pub got: Status,
}

/// Compares the cells of the columns that ran with the expected matrix.
/// `rows` are the cases that were selected.
pub fn compare(rows: &[String], cols: &[Column], exp: &Expected) -> Vec<Change> {
    let mut out = Vec::new();
    for col in cols.iter().filter(|c| c.skipped.is_none()) {
        for row in rows {
            let Some(r) = col.results.get(row) else {
                continue;
            };
            if r.status == Status::Fail {
                continue; // a failure is reported as one already
            }
            let want = exp.get(row).and_then(|m| m.get(&col.client)).copied();
            if want != Some(r.status) {
                out.push(Change {
                    case: row.clone(),
                    client: col.client.clone(),
                    expected: want,
                    got: r.status,
                });
            }
        }
    }
    out
}

/// Writes the cells of the columns that ran into `exp` (failures are not
/// recorded: the previous entry stays). With `all_rows`, rows no longer in
/// the suite are dropped.
pub fn update(exp: &mut Expected, rows: &[String], cols: &[Column], all_rows: bool) {
    if all_rows {
        exp.retain(|case, _| rows.contains(case));
    }
    for col in cols.iter().filter(|c| c.skipped.is_none()) {
        for row in rows {
            if let Some(r) = col.results.get(row) {
                if matches!(r.status, Status::Pass | Status::NotApplicable) {
                    exp.entry(row.clone())
                        .or_default()
                        .insert(col.client.clone(), r.status);
                }
            }
        }
    }
}

/// The status of one cell (a missing result of a client that ran is a
/// failure).
pub fn cell(col: &Column, row: &str) -> Status {
    if col.skipped.is_some() {
        return Status::Skipped;
    }
    col.results.get(row).map_or(Status::Fail, |r| r.status)
}

/// Counts over every cell: (passed, failed, n/a, skipped).
pub fn counts(client_rows: &[String], wire_rows: &[String], cols: &[Column]) -> [usize; 4] {
    let mut c = [0; 4];
    for col in cols {
        let rows = if col.client == WIRE {
            wire_rows
        } else {
            client_rows
        };
        for row in rows {
            let i = match cell(col, row) {
                Status::Pass => 0,
                Status::Fail => 1,
                Status::NotApplicable => 2,
                Status::Skipped => 3,
            };
            c[i] += 1;
        }
    }
    c
}

fn mark(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "**FAIL**",
        Status::NotApplicable => "n/a",
        Status::Skipped => "skipped",
    }
}

/// The matrix as Markdown.
pub fn render(
    client_rows: &[String],
    wire_rows: &[String],
    cols: &[Column],
    changes: &[Change],
    extra_failures: &[String],
) -> String {
    let mut s = String::new();
    let clients: Vec<&Column> = cols.iter().filter(|c| c.client != WIRE).collect();
    let wire = cols.iter().find(|c| c.client == WIRE);
    s.push_str("# SRPy conformance matrix\n\n");
    if !clients.is_empty() && !client_rows.is_empty() {
        s.push_str("| case |");
        for c in &clients {
            let _ = write!(s, " {} |", c.client);
        }
        s.push_str("\n|---|");
        for _ in &clients {
            s.push_str("---|");
        }
        s.push('\n');
        for row in client_rows {
            let _ = write!(s, "| {row} |");
            for c in &clients {
                let _ = write!(s, " {} |", mark(cell(c, row)));
            }
            s.push('\n');
        }
    }
    if let Some(w) = wire {
        if !wire_rows.is_empty() {
            s.push_str("\n| wire check | result |\n|---|---|\n");
            for row in wire_rows {
                let _ = writeln!(s, "| {row} | {} |", mark(cell(w, row)));
            }
        }
    }
    let skipped: Vec<&Column> = cols.iter().filter(|c| c.skipped.is_some()).collect();
    if !skipped.is_empty() {
        s.push_str("\n## Skipped clients\n\n");
        for c in skipped {
            let _ = writeln!(s, "- {}: {}", c.client, c.skipped.as_deref().unwrap_or(""));
        }
    }
    let mut fails = Vec::new();
    for c in cols.iter().filter(|c| c.skipped.is_none()) {
        if let Some(t) = &c.trouble {
            fails.push(format!("- {}: the driver {t}", c.client));
        }
        let rows = if c.client == WIRE {
            wire_rows
        } else {
            client_rows
        };
        for row in rows {
            match c.results.get(row) {
                Some(r) if r.status == Status::Fail => {
                    fails.push(format!("- {} / {}: {}", row, c.client, r.detail))
                }
                None => fails.push(format!(
                    "- {} / {}: no result from the driver",
                    row, c.client
                )),
                _ => {}
            }
        }
    }
    fails.extend(extra_failures.iter().map(|f| format!("- {f}")));
    if !fails.is_empty() {
        s.push_str("\n## Failures\n\n");
        for f in fails {
            s.push_str(&f);
            s.push('\n');
        }
    }
    if !changes.is_empty() {
        s.push_str("\n## Changes against conformance/expected/matrix.json\n\n");
        for ch in changes {
            let _ = writeln!(
                s,
                "- {} / {}: expected {}, got {}",
                ch.case,
                ch.client,
                ch.expected.map_or("(no entry)", Status::name),
                ch.got.name()
            );
        }
        s.push_str(
            "\n(If the change is intended, run with --update-expected and commit the file.)\n",
        );
    }
    let mut na: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in cols.iter().filter(|c| c.skipped.is_none()) {
        for r in c
            .results
            .values()
            .filter(|r| r.status == Status::NotApplicable)
        {
            na.entry(format!("{}: {}", c.client, reason_key(&r.detail)))
                .or_default()
                .push(r.case.clone());
        }
    }
    if !na.is_empty() {
        s.push_str("\n## Not applicable\n\n");
        for (why, cases) in na {
            let _ = writeln!(s, "- {why} ({} case(s): {})", cases.len(), cases.join(", "));
        }
    }
    s
}

/// An n/a reason without the step prefix, to group cells by reason.
fn reason_key(detail: &str) -> &str {
    match detail.find("): ") {
        Some(i) if detail.starts_with("step ") => &detail[i + 3..],
        _ => detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(client: &str, cells: &[(&str, Status)]) -> Column {
        Column {
            client: client.into(),
            skipped: None,
            results: cells
                .iter()
                .map(|(c, s)| (c.to_string(), CaseResult::new(*c, *s, "why")))
                .collect(),
            trouble: None,
        }
    }

    #[test]
    fn changes_and_updates() {
        let rows = vec!["a".to_string(), "b".to_string()];
        let cols = vec![col(
            "rust",
            &[("a", Status::Pass), ("b", Status::NotApplicable)],
        )];
        let mut exp = Expected::new();
        assert_eq!(compare(&rows, &cols, &exp).len(), 2);
        update(&mut exp, &rows, &cols, true);
        assert!(compare(&rows, &cols, &exp).is_empty());
        let cols2 = vec![col(
            "rust",
            &[("a", Status::NotApplicable), ("b", Status::NotApplicable)],
        )];
        let ch = compare(&rows, &cols2, &exp);
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].expected, Some(Status::Pass));
        assert_eq!(counts(&rows, &[], &cols), [1, 0, 1, 0]);
    }

    #[test]
    fn missing_results_fail_and_skipped_columns_count_as_skipped() {
        let rows = vec!["a".to_string()];
        let mut skipped = col("java", &[]);
        skipped.skipped = Some("no jar".into());
        let cols = vec![col("rust", &[]), skipped];
        assert_eq!(counts(&rows, &[], &cols), [0, 1, 0, 1]);
        let md = render(&rows, &[], &cols, &[], &[]);
        assert!(md.contains("no result from the driver"));
        assert!(md.contains("- java: no jar"));
    }
}
