#!/usr/bin/env bash
# The main job: build everything, start srpy-server with 2 engines on
# loopback, run the demo client against it, stop the server.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"

URI_FILE="$(mktemp -u /tmp/srpy-demo-uri.XXXXXX)"
"$SRPY_SERVER_BIN" --listen 127.0.0.1:0 --engines 2 --python "$SRPY_PYTHON" --uri-file "$URI_FILE" &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null || true; rm -f "$URI_FILE"' EXIT
for _ in $(seq 1 300); do [ -s "$URI_FILE" ] && break; kill -0 $SERVER_PID || exit 1; sleep 0.1; done
URI="$(head -n1 "$URI_FILE")"

echo; echo "== Rust client demo against $URI"
cargo run --release -p srpy-client --example demo -- "$URI"
if [ -f srpy-py/examples/demo.py ]; then
  echo; echo "== Python client demo against $URI"
  "$SRPY_PYTHON" srpy-py/examples/demo.py "$URI"
fi
