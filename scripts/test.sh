#!/usr/bin/env bash
# The whole test suite: lints, Rust tests, Python tests, conformance, JVM.
# Every part runs against a real srpy-server with real CPython engines.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"

step() { echo; echo "== $*"; }

step "lint: cargo fmt, clippy, ruff"
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets --quiet -- -D warnings
"$ROOT/.venv/bin/ruff" check --quiet srpy-py

step "Rust tests (srpy-proto, srpy-server, srpy-client)"
cargo test --release --quiet 2>&1 | tee /tmp/srpy-cargo-test.log | grep -E "^test result|FAILED|panicked|^error" || true
test "${PIPESTATUS[0]}" -eq 0

step "Python tests (srpy package against real engines)"
"$SRPY_PYTHON" -m pytest -q srpy-py/tests

if [ -f conformance/Cargo.toml ]; then
  step "Conformance suite (every client)"
  cargo run --release --quiet -p conformance
fi

if [ -f srpy-jvm/pom.xml ]; then
  step "JVM tests (Java + Jython)"
  mvn -B -q -f srpy-jvm/pom.xml verify
fi
echo; echo "all test suites passed"
