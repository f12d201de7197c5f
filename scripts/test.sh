#!/usr/bin/env bash
# The test suite: lints, Rust tests, Python tests, packaging, JVM (Java +
# Jython), documented examples, and the cross-client conformance suite.
# Every part runs against a real srpy-server with real CPython engines.
#
#   bash scripts/test.sh              every suite
#   bash scripts/test.sh NAME...      only these suites (names: --help)
#
# Each suite's output goes to a log; while it runs, its latest line is shown
# every few seconds. A suite that passes shows a summary, one that fails its
# whole log. Each suite runs even when an earlier one failed; the last line
# sums them up.
#
# A new suite is one line below (`suite NAME "title" function`) and its
# function; the summary of a passing suite is its log's lines that match
# SUMMARY (or, when none do, its last 3 lines).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

SUITE_NAMES=()
declare -A SUITE_TITLE SUITE_FN
suite() {
  SUITE_NAMES+=("$1")
  SUITE_TITLE[$1]="$2"
  SUITE_FN[$1]="$3"
}

SUMMARY='^test result:|^[0-9]+ passed|^=+ .*(passed|failed)|Tests run:.*Fail|^cases:|^examples:|^wheel:|^lint:'

lint() {
  cargo fmt --all -- --check &&
    cargo clippy --release --workspace --all-targets -- -D warnings &&
    "$ROOT/.venv/bin/ruff" check srpy-py conformance/drivers bench scripts &&
    (cd srpy-py && "$ROOT/.venv/bin/mypy") &&
    echo "lint: cargo fmt, clippy, ruff and mypy are clean"
}

rust_tests() {
  cargo test --release --workspace --exclude srpy-py --exclude srpy-jvm
}

python_tests() {
  "$SRPY_PYTHON" -m pytest -q -p no:cacheprovider srpy-py/tests
}

python_packaging() {
  rm -rf target/wheels
  (cd srpy-py && "$ROOT/.venv/bin/maturin" build --release -o "$ROOT/target/wheels") &&
    (cd srpy-py/python && "$SRPY_PYTHON" -m mypy.stubtest srpy --mypy-config-file ../pyproject.toml) &&
    local wheel &&
    wheel="$(ls "$ROOT"/target/wheels/srpy-*-abi3-*.whl)" &&
    echo "wheel: $wheel" &&
    # The wheel alone, in a fresh virtualenv: srpy.local(), srpy, srpy-server.
    SRPY_WHEEL="$wheel" "$SRPY_PYTHON" -m pytest -q -p no:cacheprovider srpy-py/tests/test_commands.py
}

jvm_tests() {
  mvn -B -f srpy-jvm/pom.xml verify
}

doc_examples() {
  "$SRPY_PYTHON" scripts/doc_examples.py
}

reliability() {
  "$SRPY_PYTHON" scripts/reliability.py
}

fuzz_short() {
  bash "$ROOT/scripts/fuzz.sh" --time 5
}

conformance() {
  SRPY_CONFORMANCE_REQUIRE="${SRPY_CONFORMANCE_REQUIRE:-rust,python,java,jython}" \
    cargo run --release -p conformance
}

suite lint "lint: cargo fmt, clippy -D warnings, ruff" lint
suite rust "Rust tests (srpy-proto, srpy-server, srpy-client, conformance)" rust_tests
suite python "Python tests (srpy against real engines; docstring examples included)" python_tests
suite packaging "Python packaging: abi3 wheel, stub checked, the wheel alone in a fresh venv" python_packaging
suite jvm "JVM tests (JUnit + Jython scenarios, Maven)" jvm_tests
suite docs "Documented examples: the fenced blocks of README.md, docs/PYTHON.md, docs/JVM.md, as written" doc_examples
suite conformance "Conformance: every case through every client" conformance
suite reliability "Reliability (short): slow readers, floods, slow handshakes, kills, against a real server" reliability
suite fuzz "Fuzz (short): a few seconds of every fuzz target (scripts/fuzz.sh)" fuzz_short

usage() {
  echo "usage: bash scripts/test.sh [SUITE...]"
  echo
  echo "Suites (all of them when none is named):"
  local n
  for n in "${SUITE_NAMES[@]}"; do
    printf '  %-12s %s\n' "$n" "${SUITE_TITLE[$n]}"
  done
}

selected=()
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
  esac
  if [ -z "${SUITE_FN[$arg]+x}" ]; then
    echo "test.sh: no suite named '$arg'" >&2
    usage >&2
    exit 2
  fi
  selected+=("$arg")
done
[ ${#selected[@]} -gt 0 ] || selected=("${SUITE_NAMES[@]}")

source "$ROOT/scripts/setup.sh" || exit 1
set +e # setup.sh runs with -e; the suites below report their own failures
cd "$ROOT"

LOGS="$(mktemp -d /tmp/srpy-test.XXXXXX)"
trap 'rm -rf "$LOGS"' EXIT

# Runs a suite's function with its output in $1, showing its latest line
# when it changed (every 5 s at most) or every 10 s (so no phase is silent
# for long); returns its status.
run_logged() {
  local log="$1" fn="$2" start=$SECONDS last="" shown=$SECONDS line
  "$fn" >"$log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      sleep 0.5
      kill -0 "$pid" 2>/dev/null || break 2
    done
    line="$(tail -n 1 "$log" | tr -d '\r' | cut -c1-110)"
    if [ "$line" != "$last" ] || [ $((SECONDS - shown)) -ge 10 ]; then
      printf '   … %4ds  %s\n' $((SECONDS - start)) "$line"
      last="$line"
      shown=$SECONDS
    fi
  done
  wait "$pid"
}

passed=0
failed=0
failed_names=()
for name in "${selected[@]}"; do
  echo
  echo "== $name: ${SUITE_TITLE[$name]}"
  log="$LOGS/$name.log"
  t0=$SECONDS
  if run_logged "$log" "${SUITE_FN[$name]}"; then
    passed=$((passed + 1))
    summary="$(grep -E "$SUMMARY" "$log" | grep -v '^test result:' | tail -n 12)
$(grep -E '^test result:' "$log" | awk '{p += $4; f += $6}
      END {if (NR) printf "test result: %d passed, %d failed (%d test binaries)", p, f, NR}')"
    summary="$(echo "$summary" | sed '/^$/d')"
    [ -n "$summary" ] || summary="$(tail -n 3 "$log")"
    echo "$summary" | sed 's/^/   /'
    echo "ok: $name ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1))
    failed_names+=("$name")
    echo "---- full output of $name:"
    cat "$log"
    echo "---- end of $name"
    echo "!! suite failed: $name ($((SECONDS - t0)) s)"
  fi
done

echo
echo "elapsed: ${SECONDS} s"
if [ "$failed" -gt 0 ]; then
  echo "failed suites: ${failed_names[*]}"
fi
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
