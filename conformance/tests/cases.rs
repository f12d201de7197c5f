//! Static checks of the committed suite: the case files parse, every step
//! op is one the drivers know, every value notation loads, and the expected
//! matrix only names cases that exist. (Running the cases needs a server:
//! that is the `conformance` binary.)

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value as J;

const OPS: [&str; 28] = [
    "ping",
    "whoami",
    "set",
    "get",
    "get_many",
    "names",
    "delete",
    "clear",
    "eval",
    "exec",
    "vexec",
    "call",
    "install",
    "import",
    "is_busy",
    "wait",
    "interrupt",
    "benchmark",
    "interrupt_loop",
    "roundtrip",
    "connect",
    "box",
    "mrs",
    "mrp",
    "map",
    "fastest",
    "dead",
    "describe",
];

fn dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(sub)
}

fn load(path: &PathBuf) -> J {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn all_cases() -> Vec<J> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| load(f)["cases"].as_array().unwrap().clone())
        .collect()
}

#[test]
fn cases_are_well_formed() {
    let cases = all_cases();
    assert!(cases.len() > 100, "the suite has {} cases", cases.len());
    let mut names = BTreeSet::new();
    for c in &cases {
        let name = c["name"].as_str().expect("a name");
        assert!(names.insert(name.to_owned()), "duplicate case {name}");
        for s in c["steps"].as_array().expect("steps") {
            let op = s["op"].as_str().expect("an op");
            assert!(OPS.contains(&op), "{name}: unknown op {op}");
        }
    }
    for must in ["values.", "ops.", "errors.", "box.", "tls."] {
        assert!(names.iter().any(|n| n.starts_with(must)), "no {must} cases");
    }
}

#[test]
fn every_dtype_is_round_tripped() {
    let text = std::fs::read_to_string(dir("cases/values.json")).unwrap();
    for dtype in [
        "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float16", "float32", "float64",
    ] {
        for shape in ["scalar", "3", "2x3"] {
            let name = format!("values.ndarray.{dtype}.{shape}");
            assert!(text.contains(&format!("\"{name}\"")), "missing {name}");
        }
    }
}

#[test]
fn expected_matrix_names_existing_cases() {
    let names: BTreeSet<String> = all_cases()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    let exp = load(&dir("expected/matrix.json"));
    for (case, row) in exp["cases"].as_object().unwrap() {
        let wire = case.starts_with("protocol/") || case.starts_with("vectors/");
        assert!(
            wire || names.contains(case),
            "expected/matrix.json names unknown case {case}"
        );
        for (client, st) in row.as_object().unwrap() {
            assert!(
                ["pass", "n/a"].contains(&st.as_str().unwrap()),
                "{case}/{client}: {st}"
            );
        }
    }
}

/// The TLS cases of issue 12 (verifying the server by CA and by pin, a pin
/// mismatch) are expected to pass in all four clients.
#[test]
fn tls_cases_pass_in_every_client() {
    let exp = load(&dir("expected/matrix.json"));
    for case in [
        "tls.connect_by_ca",
        "tls.connect_by_pin",
        "tls.pin_mismatch",
    ] {
        for client in ["rust", "python", "java", "jython"] {
            assert_eq!(exp["cases"][case][client], "pass", "{case}/{client}");
        }
    }
}
