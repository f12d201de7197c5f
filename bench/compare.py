"""SRPy next to Pyro5, RPyC, execnet, ipyparallel and Dask, on the same
workloads, in one run on one machine, next to the raw loopback TCP floor.

    bench/.venv/bin/python bench/compare.py [--quick] [--reps N]
        [--only srpy,rust,pyro5,rpyc,execnet,ipyparallel,dask]
        [--workloads rtt,bulk,cpu,tiny,cold,rss] [--cpu-awake] [--out PATH] [--img DIR]

(``bash bench/run.sh`` sets up ``bench/.venv`` and runs this.)

Every (library, repetition) runs in a fresh child interpreter in its own
session; libraries take turns within each repetition (round robin, the
starting library rotating), so slow drifts of the machine's load spread over
all of them. After each child, every process that carries the child's tag in
its environment is looked for and killed (and reported as a leftover).
Results: ``bench/results/latest.{md,json}`` and ``docs/img/bench-*.png``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import signal
import statistics
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
WORK = HERE / ".work"
IMG = ROOT / "docs" / "img"

LIBS = ["srpy", "rust", "pyro5", "pyro5-msgpack", "rpyc", "execnet", "ipyparallel", "dask"]
OPTIONAL_LIBS: list[str] = []
WORKLOADS = ["rtt", "bulk", "cpu", "tiny", "cold", "rss"]
KIB, MIB = 1024, 1024 * 1024
ENGINES = 2
#: A push + pull slower than this (seconds) is measured once (its warm-up).
SLOW_S = 4.0


# ---------------------------------------------------------------------------
# child side: one library, one repetition
# ---------------------------------------------------------------------------


def _pct(sorted_us: list[float], q: float) -> float:
    return sorted_us[round((len(sorted_us) - 1) * q)]


def _timed_calls(call: Any, n: int, into: list[float]) -> None:
    clock = time.perf_counter_ns
    for _ in range(n):
        t = clock()
        call()
        into.append((clock() - t) / 1e3)


def _measure_rtt(a: Any, p: dict[str, Any], m: dict[str, Any], floor: bool) -> None:
    """The library's round trips, and (unless it is the floor) a raw TCP
    ping-pong in the same child, interleaved with them in 4 blocks: this
    2-core machine's wake-up latency changes with whatever else runs, so the
    ratio is taken against the floor of the same moment."""
    import adapters

    call = a.one_plus_one
    pair = None if floor else adapters.Floor()
    if pair is not None:
        pair.start(1)
    try:
        for _ in range(p["rtt_warmup"]):
            call()
            if pair is not None:
                pair.one_plus_one()
        samples: list[float] = []
        floor_samples: list[float] = []
        blocks = 4
        for _ in range(blocks):
            if pair is not None:
                _timed_calls(pair.one_plus_one, p["rtt_calls"] // blocks, floor_samples)
            _timed_calls(call, p["rtt_calls"] // blocks, samples)
    finally:
        if pair is not None:
            pair.stop()
    samples.sort()
    m["rtt_p50_us"] = _pct(samples, 0.50)
    m["rtt_p99_us"] = _pct(samples, 0.99)
    m["rtt_mean_us"] = statistics.fmean(samples)
    if floor_samples:
        floor_samples.sort()
        m["rtt_floor_p50_us"] = _pct(floor_samples, 0.50)
        m["rtt_floor_p99_us"] = _pct(floor_samples, 0.99)
        m["rtt_p50_x_floor"] = m["rtt_p50_us"] / m["rtt_floor_p50_us"]
        m["rtt_p99_x_floor"] = m["rtt_p99_us"] / m["rtt_floor_p99_us"]


def _rate(nbytes: int, seconds: list[float]) -> float:
    """MB/s (10^6 bytes) of the median transfer."""
    return nbytes / statistics.median(seconds) / 1e6


def _measure_bulk(a: Any, p: dict[str, Any], m: dict[str, Any]) -> None:
    import numpy as np

    clock = time.perf_counter
    for label, size, count in p["bulk_sizes"]:
        data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
        t = clock()  # warm-up, and check what comes back
        a.push(data)
        t1 = clock()
        back = a.pull()
        t2 = clock()
        if len(back) != size or bytes(back[:64]) != data[:64] or bytes(back[-64:]) != data[-64:]:
            raise AssertionError(f"{label}: pulled data differs from pushed")
        del back
        push, pull = [], []
        if t2 - t > SLOW_S:  # a library this slow: its warm-up is its one sample
            push, pull, count = [t1 - t], [t2 - t1], 0
        for _ in range(count):
            t = clock()
            a.push(data)
            push.append(clock() - t)
            t = clock()
            back = a.pull()
            pull.append(clock() - t)
            del back
        m[f"push_{label}_MBps"] = _rate(size, push)
        m[f"pull_{label}_MBps"] = _rate(size, pull)
    if p["array_mib"]:
        n = p["array_mib"] * MIB // 8
        arr = np.random.default_rng(1).random(n)
        label = f"np{p['array_mib']}MiB"
        t = clock()
        a.push_array(arr)
        t1 = clock()
        back = a.pull_array()
        t2 = clock()
        if back.shape != arr.shape or back.dtype != arr.dtype or back[-1] != arr[-1]:
            raise AssertionError("pulled array differs from pushed")
        del back
        push, pull, count = [], [], p["array_count"]
        if t2 - t > SLOW_S:
            push, pull, count = [t1 - t], [t2 - t1], 0
        for _ in range(count):
            t = clock()
            a.push_array(arr)
            push.append(clock() - t)
            t = clock()
            back = a.pull_array()
            pull.append(clock() - t)
            del back
        m[f"push_{label}_MBps"] = _rate(arr.nbytes, push)
        m[f"pull_{label}_MBps"] = _rate(arr.nbytes, pull)


def _measure_cpu(a: Any, p: dict[str, Any], m: dict[str, Any], floor: bool) -> None:
    from benchtasks import cpu_task

    items = [p["cpu_n"]] * p["cpu_items"]
    t = time.perf_counter()
    expect = [cpu_task(x) for x in items]
    m["cpu_serial_s"] = serial = time.perf_counter() - t
    if floor:
        return
    a.map(cpu_task, [1000] * ENGINES * 2)  # warm-up: functions shipped, imports done
    t = time.perf_counter()
    got = a.map(cpu_task, items)
    m["cpu_map_s"] = took = time.perf_counter() - t
    if list(got) != expect:
        raise AssertionError("cpu map: wrong results")
    m["cpu_speedup"] = serial / took


def _measure_tiny(a: Any, p: dict[str, Any], m: dict[str, Any], floor: bool) -> None:
    from benchtasks import inc

    items = list(range(p["tiny_items"]))
    t = time.perf_counter()
    expect = [inc(x) for x in items]
    local = time.perf_counter() - t
    m["tiny_local_us"] = local / len(items) * 1e6
    if floor:
        return
    a.map(inc, items[:50])  # warm-up
    t = time.perf_counter()
    got = a.map(inc, items)
    took = time.perf_counter() - t
    if list(got) != expect:
        raise AssertionError("tiny map: wrong results")
    m["tiny_us"] = (took - local) / len(items) * 1e6


def _rss_mib(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / MIB


def child_main(lib: str, p: dict[str, Any]) -> dict[str, Any]:
    import adapters

    a = adapters.ADAPTERS[lib]()
    m: dict[str, Any] = {}
    out: dict[str, Any] = {"metrics": m, "errors": {}}
    floor = lib == "tcp"
    a.start(ENGINES)
    out["how"] = a.how
    try:
        if a.one_plus_one() != 2:
            raise AssertionError("1+1 != 2")
        steps = {
            "rtt": lambda: _measure_rtt(a, p, m, floor),
            "bulk": lambda: _measure_bulk(a, p, m),
            "cpu": lambda: _measure_cpu(a, p, m, floor),
            "tiny": lambda: _measure_tiny(a, p, m, floor),
        }
        for w, step in steps.items():
            if w not in p["workloads"]:
                continue
            try:
                step()
            except adapters.NotAvailable as exc:
                out["errors"][w] = f"n/a: {exc}"
            except Exception as exc:  # noqa: BLE001 - one workload failing must not hide the rest
                out["errors"][w] = f"{type(exc).__name__}: {exc}"[:500]
    finally:
        a.stop()
    return out


def child_cold(lib: str, p: dict[str, Any]) -> dict[str, Any]:
    """Cold start in this fresh interpreter: import the library, start 2
    engines, first remote ``1+1`` answered; then the idle engines' RSS."""
    t0 = time.perf_counter()
    import psutil

    m: dict[str, Any] = {}
    if lib == "tcp":
        import adapters

        procs = [adapters.spawn("bare")[0] for _ in range(ENGINES)]
        try:
            assert procs[0].stdin is not None and procs[0].stdout is not None
            procs[0].stdin.write("2\n")
            procs[0].stdin.flush()
            assert procs[0].stdout.readline().strip() == "2"
            m["cold_ms"] = (time.perf_counter() - t0) * 1e3
            time.sleep(p["settle_s"])
            pids = [pr.pid for pr in procs]
            m["rss_engine_MiB"] = statistics.fmean(_rss_mib(x) for x in pids)
            m["rss_total_MiB"] = sum(_rss_mib(x) for x in pids)
        finally:
            adapters.stop_procs(procs)
        return {"metrics": m, "errors": {}}
    import adapters

    a = adapters.ADAPTERS[lib]()
    a.start(ENGINES)
    try:
        if a.one_plus_one() != 2:
            raise AssertionError("1+1 != 2")
        m["cold_ms"] = (time.perf_counter() - t0) * 1e3
        time.sleep(p["settle_s"])
        pids = a.engine_pids()
        m["rss_engine_MiB"] = statistics.fmean(_rss_mib(x) for x in pids)
        procs = psutil.Process().children(recursive=True)
        m["rss_total_MiB"] = sum(pr.memory_info().rss for pr in procs) / MIB
        m["processes"] = len(procs)
    finally:
        a.stop()
    return {"metrics": m, "errors": {}, "how": {"cold": a.how.get("cold", "")}}


# ---------------------------------------------------------------------------
# parent side
# ---------------------------------------------------------------------------


def _tagged_pids(tag: str) -> list[int]:
    needle = f"SRPY_BENCH_TAG={tag}".encode()
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as fh:
                env = fh.read()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            found.append(int(d))
    return found


def _wait_untagged(tag: str, grace: float) -> float:
    """Gives the processes a stopped library leaves behind ``grace``
    seconds to exit by themselves (ipyparallel's engine nannies take a few);
    returns how long it took."""
    t = time.perf_counter()
    while _tagged_pids(tag) and time.perf_counter() - t < grace:
        time.sleep(0.1)
    return time.perf_counter() - t


def _kill_tagged(tag: str) -> list[str]:
    """Kills what is left of a child's processes; describes each."""
    left = []
    for pid in _tagged_pids(tag):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
            os.kill(pid, signal.SIGKILL)
            left.append(f"{pid} {cmd[:120]}")
        except OSError:
            pass
    return left


def child_env(tag: str) -> dict[str, str]:
    env = dict(os.environ)
    env["SRPY_BENCH_TAG"] = tag
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    env["IPYTHONDIR"] = str(WORK / "ipython")
    env.setdefault("SRPY_SERVER_BIN", str(ROOT / "target" / "release" / "srpy-server"))
    env["SRPY_PYTHON"] = sys.executable
    env["MPLBACKEND"] = "Agg"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _loadavg() -> float:
    with open("/proc/loadavg") as fh:
        return float(fh.read().split()[0])


def run_child(lib: str, job: str, p: dict[str, Any], rep: int, timeout: float) -> dict[str, Any]:
    tag = uuid.uuid4().hex
    logs = WORK / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out_path = logs / f"{rep}-{lib}-{job}.json"
    log_path = logs / f"{rep}-{lib}-{job}.log"
    out_path.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", lib, "--job", job,
           "--params", json.dumps(p), "--out", str(out_path)]
    load = _loadavg()
    t = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=child_env(tag), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=WORK)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = "timeout"
    took = time.perf_counter() - t
    linger = _wait_untagged(tag, 15.0)
    leftovers = _kill_tagged(tag)
    if out_path.is_file():
        res = json.loads(out_path.read_text())
    else:
        tail = log_path.read_text(errors="replace")[-1500:]
        res = {"metrics": {}, "errors": {"all": f"child exited {rc}: {tail}"}}
    res.update(lib=lib, job=job, rep=rep, rc=rc, seconds=round(took, 2), load=load,
               leftovers=leftovers, linger_s=round(linger, 1))
    status = "ok" if rc == 0 and not res["errors"] else f"rc={rc} errors={list(res['errors'])}"
    print(f"  [{rep}] {lib:<13} {job:<5} {took:6.1f}s load {load:.2f} {status}"
          + (f" (processes lingered {linger:.1f}s)" if linger > 0.5 else "")
          + (f" LEFTOVERS {len(leftovers)}" if leftovers else ""), flush=True)
    return res


# ---- the Rust client's own benchmark --------------------------------------


def _num(s: str) -> float:
    return float(re.findall(r"[-+]?\d*\.?\d+", s.replace(",", ""))[0])


def parse_rust_table(text: str) -> dict[str, Any]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] not in ("measurement", "---"):
            rows[cells[0]] = cells[1]
    m: dict[str, Any] = {}
    for k, v in rows.items():
        if k.startswith("`eval(") and "RTT" in k and "async" not in k:
            # The blocking API: the same path as the other clients' calls.
            p50, p99 = v.split("/")
            m["rtt_p50_us"], m["rtt_p99_us"] = _num(p50), _num(p99)
        elif k.startswith("raw loopback TCP") and "RTT" in k:
            p50, p99 = v.split("/")
            m["tcp_rtt_p50_us"], m["tcp_rtt_p99_us"] = _num(p50), _num(p99)
        elif k.startswith("raw loopback TCP") and "MiB" in k:
            m["tcp_bulk_MBps"] = _num(v) * 1e3
        elif re.match(r"`(set|get)` 64 MiB", k):
            key = "push_64MiB_MBps" if k.startswith("`set`") else "pull_64MiB_MBps"
            m[key] = _num(v) * 1e3
        elif k.startswith("cold start"):
            m["cold_ms"] = _num(v)
        elif k.startswith("pipelined"):
            m["pipelined_calls_per_s"] = _num(v)
    return {"metrics": m, "rows": rows}


def run_rust(quick: bool) -> dict[str, Any]:
    tag = uuid.uuid4().hex
    env = child_env(tag)
    if quick:
        env.update(SRPY_BENCH_CALLS="300", SRPY_BENCH_PIPELINED="5000", SRPY_BENCH_MIB="8")
    cmd = ["cargo", "bench", "-p", "srpy-client", "--bench", "roundtrip"]
    print("  building and running: " + " ".join(cmd), flush=True)
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=1800, check=False, start_new_session=True)
        out, err, rc = proc.stdout, proc.stderr, proc.returncode
    except (OSError, subprocess.TimeoutExpired) as exc:
        out, err, rc = "", str(exc), "failed"
    leftovers = _kill_tagged(tag)
    res: dict[str, Any] = {"metrics": {}, "errors": {}}
    if rc == 0 and "| measurement |" in out:
        res = parse_rust_table(out)
        res["errors"] = {}
    else:
        res["errors"]["all"] = f"cargo bench exited {rc}: {(err or out)[-1500:]}"
    res.update(lib="rust", job="bench", rep=0, rc=rc, seconds=round(time.perf_counter() - t, 1),
               leftovers=leftovers, load=_loadavg(), command=" ".join(cmd))
    print(f"  rust bench {res['seconds']}s rc={rc} {sorted(res['metrics'])}", flush=True)
    return res


# ---- machine and versions ---------------------------------------------------


def _cmd(*args: str) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=30, check=False,
                              cwd=ROOT).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine_info() -> dict[str, Any]:
    cpu = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1])
    return {
        "nproc": _cmd("nproc") or str(os.cpu_count()),
        "cpu": cpu,
        "ram_gib": round(mem / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "rustc": _cmd("rustc", "--version"),
    }


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("srpy", "Pyro5", "msgpack", "serpent", "rpyc", "execnet", "ipyparallel",
                 "pyzmq", "dask", "distributed", "tornado", "cloudpickle", "numpy", "psutil",
                 "matplotlib"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    commit = _cmd("git", "rev-parse", "--short", "HEAD")
    dirty = _cmd("git", "status", "--porcelain", "--", "srpy-proto", "srpy-server",
                 "srpy-client", "srpy-py")
    out["srpy commit"] = commit + (" + uncommitted changes" if dirty else "")
    return out


# ---- calibration --------------------------------------------------------------


def calibrate_cpu(target_s: float) -> int:
    """``n`` such that ``cpu_task(n)`` takes about ``target_s`` here."""
    sys.path.insert(0, str(HERE))
    from benchtasks import cpu_task

    n = 20000
    for _ in range(4):
        best = min(_timed(cpu_task, n) for _ in range(3))
        n = int(n * (target_s / best) ** (1 / 1.4))  # trial division grows ~n^1.4
    return n


def _timed(f: Any, *args: Any) -> float:
    t = time.perf_counter()
    f(*args)
    return time.perf_counter() - t


# ---- aggregation ----------------------------------------------------------------


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    values: dict[str, dict[str, list[float]]] = {}
    errors: dict[str, dict[str, str]] = {}
    how: dict[str, dict[str, str]] = {}
    for r in runs:
        lib = r["lib"]
        for k, v in r.get("metrics", {}).items():
            if isinstance(v, (int, float)):
                values.setdefault(lib, {}).setdefault(k, []).append(float(v))
        for w, e in r.get("errors", {}).items():
            errors.setdefault(lib, {})[w] = e
        how.setdefault(lib, {}).update(r.get("how", {}))
    stats: dict[str, dict[str, dict[str, Any]]] = {}
    for lib, ms in values.items():
        for k, vs in ms.items():
            q = statistics.quantiles(vs, n=4) if len(vs) >= 2 else [vs[0], vs[0], vs[0]]
            stats.setdefault(lib, {})[k] = {
                "median": statistics.median(vs), "min": min(vs), "max": max(vs),
                "q1": q[0], "q3": q[2], "n": len(vs), "values": vs,
            }
    return {"stats": stats, "errors": errors, "how": how}


# ---- main -------------------------------------------------------------------------


def _hold_cpus_awake() -> int | None:
    """Asks the kernel for zero wake-up latency (PM QoS): idle CPUs then
    poll instead of halting. Returns the descriptor to keep open, or None
    after saying why it failed."""
    try:
        fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
        os.write(fd, struct.pack("i", 0))
    except OSError as exc:
        print(f"--cpu-awake: cannot hold /dev/cpu_dma_latency at 0: {exc} (needs root)",
              file=sys.stderr)
        return None
    return fd


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="1 repetition, fewer calls, no 64 MiB transfers (checks the harness)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 5; 1 with --quick)")
    ap.add_argument("--only", default=",".join(LIBS),
                    help=f"libraries, comma-separated (default {','.join(LIBS)}; also "
                    f"{','.join(OPTIONAL_LIBS)}); the TCP floor always runs")
    ap.add_argument("--workloads", default=",".join(WORKLOADS),
                    help=f"workloads, comma-separated (default {','.join(WORKLOADS)})")
    ap.add_argument("--out", default=str(RESULTS / "latest"),
                    help="result path without extension (default bench/results/latest)")
    ap.add_argument("--img", default=str(IMG), help="chart folder (default docs/img)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per child (default 900)")
    ap.add_argument("--cpu-awake", action="store_true",
                    help="keep the CPUs out of their idle states for the whole run (holds 0 in "
                    "/dev/cpu_dma_latency; needs root): wake-ups are then fast and steady, so "
                    "round trips measure the libraries rather than the machine's idle exits")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--job", help=argparse.SUPPRESS)
    ap.add_argument("--params", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        params = json.loads(args.params)
        fn = child_main if args.job == "main" else child_cold
        res = fn(args.child, params)
        Path(args.out).write_text(json.dumps(res))
        return 0

    libs = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(libs) - set(LIBS) - set(OPTIONAL_LIBS)
    workloads = [x.strip() for x in args.workloads.split(",") if x.strip()]
    unknown |= set(workloads) - set(WORKLOADS)
    if unknown:
        print(f"unknown names: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    reps = args.reps or (1 if args.quick else 5)
    # The kernel keeps the latency request while this descriptor is open.
    awake_fd = _hold_cpus_awake() if args.cpu_awake else None
    if args.cpu_awake and awake_fd is None:
        return 2
    WORK.mkdir(exist_ok=True)
    RESULTS.mkdir(exist_ok=True)

    started = dt.datetime.now(dt.UTC)
    uptime_start = _cmd("uptime")
    print(f"bench: {reps} repetition(s), libraries {libs}, workloads {workloads}")
    print(f"uptime: {uptime_start}", flush=True)
    cpu_n = calibrate_cpu(0.050) if "cpu" in workloads else 0
    bulk_sizes = ([["1KiB", KIB, 50], ["1MiB", MIB, 5]] if args.quick else
                  [["1KiB", KIB, 200], ["1MiB", MIB, 20], ["64MiB", 64 * MIB, 3]])
    params = {
        "workloads": workloads,
        "rtt_warmup": 50 if args.quick else 200,
        "rtt_calls": 300 if args.quick else 2000,
        "bulk_sizes": bulk_sizes,
        "array_mib": 0 if args.quick else 64,
        "array_count": 3,
        "cpu_n": cpu_n,
        "cpu_items": 16,
        "tiny_items": 2000,
        "settle_s": 1.0,
    }
    py_libs = ["tcp"] + [x for x in libs if x != "rust"]
    main_wl = {"rtt", "bulk", "cpu", "tiny"} & set(workloads)
    cold_wl = {"cold", "rss"} & set(workloads)
    runs: list[dict[str, Any]] = []
    rust: dict[str, Any] | None = None
    try:
        for rep in range(reps):
            k = rep % len(py_libs)
            order = py_libs[k:] + py_libs[:k]
            print(f"repetition {rep + 1}/{reps}: {order}", flush=True)
            if main_wl:
                for lib in order:
                    runs.append(run_child(lib, "main", params, rep, args.timeout))
            if cold_wl:
                for lib in order:
                    runs.append(run_child(lib, "cold", params, rep, args.timeout))
            if rep == reps // 2 and "rust" in libs:
                rust = run_rust(args.quick)
                runs.append(rust)
    except KeyboardInterrupt:
        print("interrupted: reporting what was measured", file=sys.stderr)
    uptime_end = _cmd("uptime")
    print(f"uptime: {uptime_end}", flush=True)
    if awake_fd is not None:
        os.close(awake_fd)

    result = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": round((dt.datetime.now(dt.UTC) - started).total_seconds()),
        "command": "bench/.venv/bin/python bench/compare.py " + " ".join(
            a for a in (argv if argv is not None else sys.argv[1:])),
        "quick": args.quick,
        "reps": reps,
        "libs": libs,
        "workloads": workloads,
        "params": params,
        "machine": machine_info(),
        "versions": versions(),
        "uptime": {"start": uptime_start, "end": uptime_end},
        "cpu_awake": args.cpu_awake,
        "loads": [r.get("load") for r in runs],
        "leftovers": [lo for r in runs for lo in r.get("leftovers", [])],
        "runs": runs,
        **aggregate(runs),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    import report

    report.write(result, out.with_suffix(".md"), Path(args.img))
    print(f"wrote {out.with_suffix('.md')}, {out.with_suffix('.json')}, charts in {args.img}")
    if result["leftovers"]:
        print(f"LEFTOVER processes were killed: {result['leftovers']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
