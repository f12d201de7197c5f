//! One case's result, as every driver reports it (one JSON line each).

use serde_json::json;

/// A cell of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Pass,
    Fail,
    /// Not applicable: the case uses something the client cannot express
    /// or does not have (declared by the driver, with the reason).
    NotApplicable,
    /// The client did not run (its prerequisites are missing).
    Skipped,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::NotApplicable => "n/a",
            Status::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "pass" => Status::Pass,
            "fail" => Status::Fail,
            "n/a" => Status::NotApplicable,
            "skipped" => Status::Skipped,
            _ => return None,
        })
    }
}

/// The result of one case on one client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseResult {
    pub case: String,
    pub status: Status,
    pub detail: String,
}

impl CaseResult {
    pub fn new(case: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        CaseResult {
            case: case.into(),
            status,
            detail: detail.into(),
        }
    }

    /// The driver protocol's line: `{"case", "status", "detail"}`.
    pub fn to_json_line(&self) -> String {
        json!({"case": self.case, "status": self.status.name(), "detail": self.detail}).to_string()
    }

    /// Parses a driver's output line; `None` for lines that are not results.
    pub fn from_json_line(line: &str) -> Option<CaseResult> {
        let j: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
        Some(CaseResult {
            case: j["case"].as_str()?.to_owned(),
            status: Status::parse(j["status"].as_str()?)?,
            detail: j["detail"].as_str().unwrap_or_default().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_round_trip() {
        let r = CaseResult::new("ops.ping", Status::NotApplicable, "no box");
        assert_eq!(CaseResult::from_json_line(&r.to_json_line()), Some(r));
        assert_eq!(CaseResult::from_json_line("hello"), None);
        assert_eq!(
            CaseResult::from_json_line(r#"{"case":"x","status":"bogus"}"#),
            None
        );
    }
}
