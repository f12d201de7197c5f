#!/usr/bin/env bash
# Coverage-guided fuzzing of the protocol and of Python value conversion
# (the `fuzz/` crate, libFuzzer through libfuzzer-sys; docs/RELIABILITY.md, "Fuzzing").
#
#   scripts/fuzz.sh [--time SECONDS | --runs N] [TARGET...]
#
# Builds the targets on the stable toolchain with the instrumentation that
# `cargo fuzz build` adds (SanitizerCoverage; no sanitizer, so no nightly
# and no cargo-fuzz install), with overflow checks and debug assertions on,
# seeds each target's corpus from the golden vectors (conformance/vectors)
# and runs it. Default: every target for 5 seconds (the test suite's short
# run). A crash leaves its input in fuzz/artifacts/TARGET/ and fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"

limit=(-max_total_time=5)
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) limit=(-max_total_time="$2"); shift 2 ;;
    --runs) limit=(-runs="$2"); shift 2 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(cbor_decode frame_reader handshake request_parse py_convert)

# The Python target embeds the interpreter of the project's venv (numpy
# included); without one it is skipped with a note.
PY="${SRPY_PYTHON:-$ROOT/.venv/bin/python}"
features=()
if [[ " ${targets[*]} " == *" py_convert "* ]]; then
  if [ -x "$PY" ]; then
    features=(--features python)
    export PYO3_PYTHON="$PY"
    PYLIB="$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')"
    export LD_LIBRARY_PATH="$PYLIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # The embedded interpreter finds the venv's packages (numpy, srpy).
    PYTHONPATH="$("$PY" -c 'import site; print(":".join(site.getsitepackages()))')"
    export PYTHONPATH="$ROOT/srpy-py/python:$PYTHONPATH"
  else
    echo "fuzz.sh: no Python at $PY: skipping py_convert" >&2
    targets=("${targets[@]/py_convert}")
  fi
fi

# What `cargo fuzz build -s none` passes, on stable.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
export CARGO_TARGET_DIR="$ROOT/fuzz/target"
# An explicit --target keeps the flags off build scripts and proc macros.
triple="$(rustc -vV | sed -n 's/^host: //p')"
bins=()
for t in "${targets[@]}"; do [ -n "$t" ] && bins+=(--bin "$t"); done
cargo build --release --quiet --target "$triple" "${features[@]}" "${bins[@]}"

python3 seed.py corpus
status=0
for t in "${targets[@]}"; do
  [ -n "$t" ] || continue
  mkdir -p "artifacts/$t"
  echo "fuzz: $t ${limit[*]}"
  if ! "target/$triple/release/$t" "${limit[@]}" -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" "corpus/$t" 2>"artifacts/$t.log"; then
    tail -n 40 "artifacts/$t.log" >&2
    status=1
  fi
  grep -E "^stat::number_of_executed_units|^stat::average_exec_per_sec|^Done " "artifacts/$t.log" || true
done
exit "$status"
