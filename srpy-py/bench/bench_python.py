"""Benchmark of the CPython client, with same-run baselines.

    python srpy-py/bench/bench_python.py [--calls 2000] [--mib 64] [--no-rust]

Measures, against a private server started here (``srpy.local``):

- ``eval("1+1")`` round trip through ``PythonEngine.eval``, p50 / p99 over
  ``--calls`` calls after a warm-up; the same through the raw extension
  object (``RawEngine.request("eval", ...)``, no Python wrapper);
- raw loopback TCP 16-byte ping-pong RTT measured from Python (echo server
  in another process);
- a ``--mib`` MiB numpy float64 array ``set`` and ``get`` (2 untimed rounds, then best and median of 5), in
  GB/s, against raw loopback TCP of the same size sent from Python
  (receiver in another process, which answers one byte at the end);
- unless ``--no-rust``: the Rust client's numbers from
  ``cargo bench -p srpy-client --bench roundtrip`` run in the same
  invocation (its own server, same machine).

Prints a Markdown table. Needs numpy, a built ``srpy-server``
(``SRPY_SERVER_BIN`` or the usual lookup) and an engine Python that can
``import srpy`` (``SRPY_PYTHON``, default this interpreter).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import srpy

REPO = Path(__file__).resolve().parents[2]

ECHO_SERVER = textwrap.dedent(
    """
    import socket, sys
    l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
    print(l.getsockname()[1], flush=True)
    s, _ = l.accept(); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    mode = s.recv(1)
    if mode == b"p":
        while True:
            m = s.recv(16, socket.MSG_WAITALL)
            if len(m) < 16: break
            s.sendall(m)
    else:
        size = int.from_bytes(s.recv(8, socket.MSG_WAITALL), "big")
        # The whole transfer lands in one buffer, reused (warm) each round.
        view = memoryview(bytearray(size))
        while True:
            got = 0
            while got < size:
                n = s.recv_into(view[got:])
                if not n: sys.exit(0)
                got += n
            s.sendall(b"k")
    """
)


# Bulk rows: untimed rounds first (a new process's first big buffers are
# fresh memory, which this VM supplies slowly: see docs/PERFORMANCE.md),
# then the best and the median of the timed ones.
WARM_UP = 2
REPEATS = 5


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    s = sorted(samples_ns)
    return s[len(s) // 2] / 1000, s[int((len(s) - 1) * 0.99)] / 1000


def _echo_process() -> tuple[subprocess.Popen[str], socket.socket]:
    proc = subprocess.Popen([sys.executable, "-c", ECHO_SERVER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return proc, s


def tcp_rtt(calls: int) -> tuple[float, float]:
    proc, s = _echo_process()
    try:
        s.sendall(b"p")
        msg = b"x" * 16
        for _ in range(500):
            s.sendall(msg)
            s.recv(16, socket.MSG_WAITALL)
        samples = []
        pc = time.perf_counter_ns
        for _ in range(calls):
            t = pc()
            s.sendall(msg)
            s.recv(16, socket.MSG_WAITALL)
            samples.append(pc() - t)
        return percentiles(samples)
    finally:
        s.close()
        proc.wait(5)


def tcp_bulk(data: memoryview, repeats: int = REPEATS) -> float:
    """Best seconds to send ``data`` over loopback and get a 1-byte ack."""
    proc, s = _echo_process()
    try:
        s.sendall(b"b" + len(data).to_bytes(8, "big"))
        best = float("inf")
        for _ in range(repeats + WARM_UP):
            t = time.perf_counter()
            s.sendall(data)
            s.recv(1, socket.MSG_WAITALL)
            best = min(best, time.perf_counter() - t)
        return best
    finally:
        s.close()
        proc.wait(5)


def eval_rtt(fn, calls: int) -> tuple[float, float]:
    for _ in range(calls // 2):
        fn("1+1")
    samples = []
    pc = time.perf_counter_ns
    for _ in range(calls):
        t = pc()
        fn("1+1")
        samples.append(pc() - t)
    return percentiles(samples)


def best_of(f, repeats: int = REPEATS) -> tuple[float, float]:
    """(best, median) seconds of ``f()`` after ``WARM_UP`` untimed calls."""
    for _ in range(WARM_UP):
        f()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def rust_numbers() -> dict[str, str]:
    """The Rust client's benchmark (cargo bench), parsed from its table."""
    cargo = shutil.which("cargo")
    if cargo is None or not (REPO / "srpy-client" / "benches" / "roundtrip.rs").exists():
        return {}
    env = dict(os.environ)
    env.setdefault("SRPY_PYTHON", sys.executable)
    proc = subprocess.run(
        [cargo, "bench", "-p", "srpy-client", "--bench", "roundtrip"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    rows = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"\|\s*(.+?)\s*\|\s*(.+?)\s*\|$", line)
        if m and not m.group(1).startswith(("measurement", "---")):
            rows[m.group(1)] = m.group(2)
    if not rows:
        print(f"(cargo bench failed: {proc.stderr.strip()[-500:]})", file=sys.stderr)
    return rows


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, numpy {np.__version__}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--no-rust", action="store_true")
    args = ap.parse_args()

    rows: list[tuple[str, str]] = []
    with srpy.local(engines=1, output=None) as cluster:
        eng = cluster[0]
        p50, p99 = eval_rtt(eng.eval, args.calls)
        rows.append(('Python `eng.eval("1+1")` RTT (p50 / p99)', f"{p50:.1f} µs / {p99:.1f} µs"))
        raw = eng._raw
        r50, r99 = eval_rtt(lambda expr: raw.request("eval", {"expr": expr}), args.calls)
        rows.append(
            (
                'Python `RawEngine.request("eval", …)` RTT (p50 / p99)',
                f"{r50:.1f} µs / {r99:.1f} µs",
            )
        )
        t50, t99 = tcp_rtt(args.calls)
        rows.append(
            ("raw loopback TCP 16-byte RTT from Python (p50 / p99)", f"{t50:.1f} µs / {t99:.1f} µs")
        )

        n = args.mib * (1 << 20) // 8
        a = np.random.default_rng(0).random(n)
        nbytes = a.nbytes
        t_set = best_of(lambda: eng.set(a=a))
        assert eng.eval("a.shape") == (n,)
        t_get = best_of(lambda: eng.get("a"))
        back = eng.get("a")
        assert np.array_equal(back, a)
        t_tcp = tcp_bulk(memoryview(a).cast("B"))
        gb = nbytes / 1e9
        raw_gbs = gb / t_tcp
        rows.append(
            (f"raw loopback TCP, {args.mib} MiB one way, from Python", f"{raw_gbs:.2f} GB/s")
        )
        for what, (t, med) in (("set", t_set), ("get", t_get)):
            rate = gb / t
            rows.append(
                (
                    f"`{what}` {args.mib} MiB numpy float64 (best of {REPEATS}; median)",
                    (
                        f"{rate:.2f} GB/s ({t * 1000:.1f} ms, {100 * rate / raw_gbs:.0f}% of raw);"
                        f" median {gb / med:.2f} GB/s"
                    ),
                )
            )

    if not args.no_rust:
        rust = rust_numbers()
        for key, value in rust.items():
            if key.startswith(
                ("`eval", "`ping", "raw loopback TCP 16", "`set", "`get", "raw loopback TCP, 64")
            ):
                rows.append((f"Rust client: {key}", value))
        # Against the Rust blocking API: the path the Python client wraps.
        m = re.match(r"([\d.]+)", rust.get('`eval("1+1")` RTT, blocking API (p50 / p99)', ""))
        if m:
            rows.append(
                ("Python − Rust (blocking API) `eval` p50", f"{p50 - float(m.group(1)):+.1f} µs")
            )

    print(f"\nmachine: {machine()}\n")
    print("| measurement | result |")
    print("|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")
    print(f"\n({args.calls} calls per latency row after {args.calls // 2} warm-up calls)")


if __name__ == "__main__":
    main()
