"""Where SRPy's time goes, per workload: the evidence behind the "where SRPy
is not first" notes of ``bench/results/latest.md``.

    bench/.venv/bin/python bench/profile_srpy.py [--seconds 5]
        [--scenarios rtt,push1m,pull1m,push64m,pull64m,tiny]

For each scenario, a private ``srpy.local(engines=2)`` runs the operation in
a loop three times:

1. plain: wall time per operation, and the CPU time per operation of every
   thread of the client, the server and the engines (``/proc/*/task/*/schedstat``,
   nanoseconds on CPU);
2. under ``py-spy record --native`` (the client's Python and Rust frames):
   the hottest frames, by self and by inclusive samples;
3. under ``perf record -g`` (every thread of the client and of engine 0,
   kernel included): the hottest symbols.

Summaries go to ``bench/results/profiles/<scenario>.txt``.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "profiles"
WORK = HERE / ".work" / "profiles"
MIB = 1024 * 1024


def thread_times(pid: int) -> dict[tuple[int, str], int]:
    """(tid, thread name) → nanoseconds on CPU."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as fh:
                name = fh.read().strip()
            with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                ns = int(fh.read().split()[0])
        except OSError:
            continue
        out[(int(tid), name)] = ns
    return out


def cpu_breakdown(pids: dict[str, int], before: dict[str, Any], after: dict[str, Any],
                  ops: int) -> list[str]:
    lines = []
    total = 0.0
    for label in pids:
        b, a = before[label], after[label]
        per_name: dict[str, float] = collections.defaultdict(float)
        for key, ns in a.items():
            per_name[re.sub(r"[-_ ]?\d+$", "", key[1])] += (ns - b.get(key, 0)) / ops / 1e3
        for name, us in sorted(per_name.items(), key=lambda kv: -kv[1]):
            if us >= 0.05:
                lines.append(f"    {label:<10} {name:<22} {us:9.2f} µs CPU / op")
                total += us
    lines.append(f"    {'all':<10} {'':<22} {total:9.2f} µs CPU / op")
    return lines


def summarize_raw(path: Path, top: int = 25) -> list[str]:
    """Top frames of a py-spy raw (collapsed) profile."""
    self_c: collections.Counter[str] = collections.Counter()
    incl_c: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        k = int(n)
        total += k
        frames = [re.sub(r"::h[0-9a-f]{16}", "", f) for f in stack.split(";")]
        frames = [re.sub(r" \(/[^)]*/(site-packages|lib/python3\.\d+)/", " (", f) for f in frames]
        self_c[frames[-1]] += k
        for f in set(frames):
            incl_c[f] += k
    if not total:
        return ["    (no samples)"]
    out = [f"    {total} samples; by self:"]
    out += [f"    {100 * c / total:5.1f}%  {f[:150]}" for f, c in self_c.most_common(top)]
    out.append("    by inclusive:")
    out += [f"    {100 * c / total:5.1f}%  {f[:150]}" for f, c in incl_c.most_common(top)]
    return out


def run_loop(op: Callable[[], Any], seconds: float) -> tuple[int, float]:
    n = 0
    t = time.perf_counter()
    end = t + seconds
    while True:
        for _ in range(10):
            op()
        n += 10
        now = time.perf_counter()
        if now >= end:
            return n, now - t


def scenarios(cluster: Any) -> dict[str, tuple[Callable[[], Any], str]]:
    import benchtasks

    eng = cluster[0]
    one = os.urandom(MIB)
    big = os.urandom(64 * MIB)
    items = list(range(2000))

    def pull1m() -> Any:
        return eng.get("m1")

    def pull64m() -> Any:
        return eng.get("m64")

    eng.set(m1=one, m64=big)
    return {
        "rtt": (lambda: eng.eval("1+1"), 'eng.eval("1+1")'),
        "push1m": (lambda: eng.set(x=one), "eng.set(x=<1 MiB bytes>)"),
        "pull1m": (pull1m, "eng.get(<1 MiB bytes>)"),
        "push64m": (lambda: eng.set(x=big), "eng.set(x=<64 MiB bytes>)"),
        "pull64m": (pull64m, "eng.get(<64 MiB bytes>)"),
        "tiny": (lambda: cluster.map(benchtasks.inc, items), "box.map(inc, range(2000))"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--scenarios", default="rtt,push1m,pull1m,push64m,pull64m,tiny")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    os.environ.setdefault("SRPY_SERVER_BIN", str(HERE.parent / "target/release/srpy-server"))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE),
                                                              os.environ.get("PYTHONPATH")]))
    import srpy

    OUT.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    perf = shutil.which("perf")
    with srpy.local(engines=2, output=None) as cluster:
        pids = {"client": os.getpid(), "server": cluster.pid}
        for i, e in enumerate(cluster):
            pids[f"engine{i}"] = int(e.whoami()["pid"])
        table = scenarios(cluster)
        for name in args.scenarios.split(","):
            op, what = table[name]
            for _ in range(3):
                op()
            lines = [f"# {name}: {what}", "",
                     f"load average at start: {Path('/proc/loadavg').read_text().split()[0]}"]
            before = {k: thread_times(p) for k, p in pids.items()}
            n, wall = run_loop(op, args.seconds)
            after = {k: thread_times(p) for k, p in pids.items()}
            lines += [f"plain: {n} ops in {wall:.2f} s = {wall / n * 1e6:.1f} µs wall / op",
                      "  CPU per op, by process and thread:"]
            lines += cpu_breakdown(pids, before, after, n)

            spies = {}
            for who in ("client", "engine0"):
                raw = WORK / f"{name}.{who}.pyspy.raw"
                raw.unlink(missing_ok=True)
                spies[who] = (raw, subprocess.Popen(
                    [pyspy, "record", "--pid", str(pids[who]), "--native", "--rate", "400",
                     "--format", "raw", "--duration", str(int(args.seconds)), "-o", str(raw)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(0.5)
            n2, wall2 = run_loop(op, args.seconds)
            for who, (raw, spy) in spies.items():
                spy.wait(60)
                lines += ["", (f"py-spy --native on {who} ({wall2 / n2 * 1e6:.1f} µs wall / op "
                               "while sampled, Python threads only):")]
                lines += summarize_raw(raw) if raw.is_file() else ["    py-spy failed"]

            if perf:
                data = WORK / f"{name}.perf.data"
                pr = subprocess.Popen([perf, "record", "-F", "999", "-g", "-o", str(data),
                                       "-p", f"{pids['client']},{pids['engine0']}", "--",
                                       "sleep", str(args.seconds)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.3)
                n3, wall3 = run_loop(op, args.seconds)
                pr.wait(120)
                lines += ["", (f"perf record -g, client + engine 0 ({wall3 / n3 * 1e6:.1f} µs "
                               "wall / op while sampled)")]
                for sort, limit, top in (("pid,comm,dso", "1", 25), ("comm,dso,sym", "0.7", 45)):
                    rep = subprocess.run([perf, "report", "-i", str(data), "--no-children",
                                          "--sort", sort, "--stdio", "--percent-limit", limit,
                                          "-g", "none"],
                                         capture_output=True, text=True, check=False).stdout
                    rows = [ln for ln in rep.splitlines()
                            if ln.strip() and not ln.startswith("#")]
                    lines += [f"  self samples by {sort} (≥ {limit}%):"]
                    lines += ["    " + re.sub(r"::h[0-9a-f]{16}", "", ln.strip())[:170]
                              for ln in rows[:top]]
            text = "\n".join(lines) + "\n"
            (OUT / f"{name}.txt").write_text(text)
            print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
