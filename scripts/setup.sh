#!/usr/bin/env bash
# Builds everything SRPy needs on this machine, idempotently:
#   - the Rust workspace in release mode (srpy-server binary, libraries)
#   - a virtualenv .venv with the `srpy` package (engines + Python client)
# Sourced by demo.sh and test.sh; exports SRPY_PYTHON and SRPY_SERVER_BIN.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: '$1' not found: $2" >&2; exit 1; }; }
need cargo "install Rust (https://rustup.rs)"
need python3 "install CPython 3.11+"
# Drops lines of noise from a command's output (its status stays the
# pipeline's, through pipefail).
drop() { grep --line-buffered -v "$1" || true; }
# Runs a command, saying every 10 s that it still runs (a crate can take
# minutes to compile without a line of output).
heartbeat() {
  local label="$1" pid t=0
  shift
  "$@" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    t=$((t + 1))
    if [ $((t % 10)) -eq 0 ]; then echo "setup: … $label ($t s)"; fi
  done
  wait "$pid"
}
pip_install_tools() {
  "$VENV_PY" -m pip install --disable-pip-version-check --progress-bar off \
    "maturin>=1.7,<2" pytest numpy cloudpickle cbor2 "ruff==0.17.6" mypy \
    ipython ipykernel ipywidgets nbclient nbformat tqdm prometheus_client 2>&1 |
    drop "^Ignoring \|^  Using cached\|^Requirement already satisfied"
}
# maturin shows cargo's progress; pip's "Ignoring <dep>: markers ..." lines
# (optional dependencies of other Pythons) are noise.
maturin_develop() {
  (cd srpy-py && VIRTUAL_ENV="$ROOT/.venv" PATH="$ROOT/.venv/bin:$PATH" \
    "$ROOT/.venv/bin/maturin" develop --release 2>&1 | drop "^Ignoring ")
}

PY="${SRPY_BOOTSTRAP_PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
VENV_PY="$ROOT/.venv/bin/python"
# Python tools for the build and the tests (skipped when already present).
if ! "$VENV_PY" -c "import maturin, pytest, numpy, cloudpickle, cbor2, IPython, ipykernel, ipywidgets, nbclient, nbformat, tqdm, prometheus_client" 2>/dev/null; then
  echo "setup: installing Python build/test tools into .venv"
  heartbeat "pip install" pip_install_tools
fi

echo "setup: building the Rust workspace (release)"
heartbeat "cargo build" cargo build --release --workspace --bins

echo "setup: building and installing the srpy Python package into .venv"
heartbeat "maturin develop" maturin_develop
"$VENV_PY" -c "import srpy, srpy.engine" || { echo "setup: the srpy package did not install" >&2; exit 1; }

export SRPY_PYTHON="$VENV_PY"
# Tests that need real engines fail (instead of skipping) when they are missing.
export SRPY_REQUIRE_ENGINES=1
export SRPY_SERVER_BIN="$ROOT/target/release/srpy-server"
