#!/usr/bin/env bash
# The whole test suite: lints, Rust tests, Python tests, packaging, JVM
# (Java + Jython), and the cross-client conformance suite. Every part runs
# against a real srpy-server with real CPython engines. Each suite runs even
# when an earlier one failed; the last line sums them up.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" || exit 1
set +e  # setup.sh runs with -e; the suites below report their own failures
cd "$ROOT"

passed=0
failed=0
failed_names=()
suite() {
  local name="$1"
  shift
  echo
  echo "== $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failed_names+=("$name")
    echo "!! suite failed: $name"
  fi
}

lint() {
  cargo fmt --all -- --check &&
    cargo clippy --release --workspace --all-targets --quiet -- -D warnings &&
    "$ROOT/.venv/bin/ruff" check --quiet srpy-py conformance/drivers bench
}

rust_tests() {
  cargo test --release --workspace --exclude srpy-py --exclude srpy-jvm 2>&1 |
    grep -E "^test result|^test .*FAILED|panicked|^error|^failures|^---- "
  test "${PIPESTATUS[0]}" -eq 0
}

python_tests() {
  "$SRPY_PYTHON" -m pytest -q -p no:cacheprovider srpy-py/tests
}

python_packaging() {
  rm -rf target/wheels
  (cd srpy-py && "$ROOT/.venv/bin/maturin" build --release --quiet -o "$ROOT/target/wheels" >/dev/null 2>&1) &&
    ls target/wheels/srpy-*-abi3-*.whl &&
    (cd srpy-py/python && "$SRPY_PYTHON" -m mypy.stubtest srpy --mypy-config-file ../pyproject.toml)
}

jvm_tests() {
  mvn -B -f srpy-jvm/pom.xml verify 2>&1 |
    grep -E "Tests run:|FAIL|ERROR|BUILD|passed, .* failed" | grep -v "^\[INFO\] *$"
  test "${PIPESTATUS[0]}" -eq 0
}

conformance() {
  SRPY_CONFORMANCE_REQUIRE="${SRPY_CONFORMANCE_REQUIRE:-rust,python,java,jython}" \
    cargo run --release --quiet -p conformance
}

fuzz_short() {
  bash "$ROOT/scripts/fuzz.sh" --time 5
}

suite "lint: cargo fmt, clippy -D warnings, ruff" lint
suite "Rust tests (srpy-proto, srpy-server, srpy-client, conformance)" rust_tests
suite "Python tests (srpy against real engines; docstring examples included)" python_tests
suite "Python packaging: abi3 wheel, stub checked against the module" python_packaging
suite "JVM tests (JUnit + Jython scenarios, Maven)" jvm_tests
suite "Conformance: every case through every client" conformance
suite "Fuzz (short)" fuzz_short

echo
echo "elapsed: ${SECONDS} s"
if [ "$failed" -gt 0 ]; then
  echo "failed suites: ${failed_names[*]}"
fi
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
