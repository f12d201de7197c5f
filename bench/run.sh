#!/usr/bin/env bash
# The comparative benchmark in one command, from the repository root:
#
#   bash bench/run.sh            # full run: 5 repetitions (~12 min on 2 cores)
#   bash bench/run.sh --quick    # harness check: 1 repetition, no 64 MiB transfers
#   bash bench/run.sh --only srpy,dask --workloads rtt,bulk
#   bash bench/run.sh --cpu-awake --out bench/results/cpu-awake --img docs/img/cpu-awake
#                                # CPUs held out of idle (root): steady wake-ups
#
# Creates bench/.venv (isolated from the project's .venv), installs the peers
# from PyPI (bench/requirements.txt), builds the srpy wheel with maturin into
# bench/.wheels and installs it, builds target/release/srpy-server, then runs
# bench/compare.py with the arguments given. Results: bench/results/latest.md
# and .json, charts: docs/img/bench-*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/bench/.venv
PY=$VENV/bin/python

if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV"
fi
"$PY" -m pip install --quiet --upgrade pip
"$PY" -m pip install --quiet -r bench/requirements.txt

echo "== building srpy (wheel) and srpy-server"
rm -rf bench/.wheels
(cd srpy-py && "$VENV/bin/maturin" build --release --quiet -o "$ROOT/bench/.wheels" -i "$PY")
"$PY" -m pip install --quiet --force-reinstall --no-deps bench/.wheels/srpy-*.whl
cargo build --release --quiet -p srpy-server
export SRPY_SERVER_BIN=$ROOT/target/release/srpy-server

"$PY" -c 'import srpy; print("srpy", srpy.__version__, "from", srpy.__file__)'
exec "$PY" bench/compare.py "$@"
