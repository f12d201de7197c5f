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

PY="${SRPY_BOOTSTRAP_PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
VENV_PY="$ROOT/.venv/bin/python"
# Python tools for the build and the tests (skipped when already present).
if ! "$VENV_PY" -c "import maturin, pytest, numpy, cloudpickle, cbor2, IPython, ipykernel, ipywidgets, nbclient, nbformat, tqdm, prometheus_client" 2>/dev/null; then
  echo "setup: installing Python build/test tools into .venv"
  "$VENV_PY" -m pip install -q --disable-pip-version-check \
    "maturin>=1.7,<2" pytest numpy cloudpickle cbor2 "ruff==0.17.6" mypy ipython ipykernel ipywidgets nbclient nbformat tqdm prometheus_client
fi

echo "setup: building the Rust workspace (release)"
cargo build --release --workspace --bins --quiet

echo "setup: building and installing the srpy Python package into .venv"
( cd srpy-py && VIRTUAL_ENV="$ROOT/.venv" PATH="$ROOT/.venv/bin:$PATH" \
    "$ROOT/.venv/bin/maturin" develop --release --quiet 2>&1 | grep -v "^📦\|^🔗\|^🐍\|^⚠️\|^🛠" || true )
"$VENV_PY" -c "import srpy, srpy.engine" || { echo "setup: the srpy package did not install" >&2; exit 1; }

export SRPY_PYTHON="$VENV_PY"
# Tests that need real engines fail (instead of skipping) when they are missing.
export SRPY_REQUIRE_ENGINES=1
export SRPY_SERVER_BIN="$ROOT/target/release/srpy-server"
