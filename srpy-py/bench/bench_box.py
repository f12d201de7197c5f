"""Benchmark of ``srpy.EngBox.map`` with same-run baselines.

Workloads (as in the EngBox issue):

- **CPU-bound**: the sum of the primes below 30,000 by trial division, 16
  items, on 1 and on 2 engines (the speedup; target >= 1.85x on 2 cores),
  next to ``multiprocessing.Pool`` with 1 and 2 processes and to the same
  work done locally in one process;
- **tiny tasks**: ``x + 1`` over 10,000 items, the time per item with the
  automatic chunk size and unchunked (``chunksize=1``); target <= 20 us per
  item with automatic chunking;
- the same two workloads with ``multiprocessing.Pool(2)`` and, when it is
  installed and runs on loopback, ipyparallel with 2 engines.

Every number is the best of ``--repeat`` runs after a warm-up run (other
load on the machine only ever adds time); the CPU maps run ``3 * --repeat``
interleaved rounds, one run of each contender per round. Prints a Markdown
table.

    SRPY_PYTHON=.venv/bin/python .venv/bin/python srpy-py/bench/bench_box.py
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import srpy

PRIMES_BELOW = 30_000
CPU_ITEMS = 16
TINY_ITEMS = 10_000
#: ipyparallel's unchunked map is slow: fewer items, reported per item.
IPP_UNCHUNKED_ITEMS = 1_000


def sum_primes(n: int) -> int:
    """The sum of the primes below ``n``, by trial division."""
    total = 0
    for k in range(2, n):
        d = 2
        prime = True
        while d * d <= k:
            if k % d == 0:
                prime = False
                break
            d += 1
        if prime:
            total += k
    return total


def add1(x: int) -> int:
    return x + 1


def timed(fn: Callable[[], Any], repeat: int) -> float:
    """Best (least) seconds of ``repeat`` runs, after one warm-up run: other
    load on the machine only ever adds time."""
    fn()
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return min(runs)


def best_interleaved(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Best seconds of ``repeat`` rounds in which every function runs once,
    in turn (after a warm-up round), so that a burst of other load on the
    machine hits every contender alike."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for key, fn in fns.items():
            t = time.perf_counter()
            fn()
            best[key] = min(best[key], time.perf_counter() - t)
    return best


def check(got: list, want: list, what: str) -> None:
    if got != want:
        raise SystemExit(f"{what}: wrong results")


def start_ipyparallel(stack: contextlib.ExitStack, notes: list[str]) -> Any:
    """A client of a 2-engine ipyparallel cluster on loopback, or None."""
    try:
        import ipyparallel as ipp
    except ImportError:
        notes.append("ipyparallel: not installed (`pip install ipyparallel` to include it)")
        return None
    try:
        cluster = ipp.Cluster(n=2, log_level=40)
        stack.callback(_stop_quietly, cluster)
        rc = cluster.start_and_connect_sync(activate=False)
        rc.wait_for_engines(2, timeout=60)
    except Exception as exc:  # noqa: BLE001 - an optional baseline
        notes.append(f"ipyparallel: skipped ({type(exc).__name__}: {exc})")
        return None
    notes.append(
        f"ipyparallel {ipp.__version__}: CPU map with a LoadBalancedView; tiny map chunked "
        f"with a DirectView (one chunk per engine), unchunked with a LoadBalancedView "
        f"(one task per item) over {IPP_UNCHUNKED_ITEMS} items"
    )
    return rc


def _stop_quietly(cluster: Any) -> None:
    with contextlib.suppress(Exception):
        cluster.stop_cluster_sync()


def run(args: argparse.Namespace, res: dict[str, float], notes: list[str]) -> None:
    cpu_items = [PRIMES_BELOW] * CPU_ITEMS
    cpu_want = [sum_primes(PRIMES_BELOW)] * CPU_ITEMS
    tiny = list(range(TINY_ITEMS))
    tiny_want = [x + 1 for x in tiny]
    with contextlib.ExitStack() as stack:
        cluster = stack.enter_context(srpy.local(engines=2, output=None))
        two = srpy.EngBox(cluster.engines)
        one = srpy.EngBox(cluster.engines[:1])
        p1 = stack.enter_context(multiprocessing.Pool(1))
        p2 = stack.enter_context(multiprocessing.Pool(2))
        rc = None if args.no_ipyparallel else start_ipyparallel(stack, notes)

        check(two.map(sum_primes, cpu_items), cpu_want, "srpy cpu")
        check(two.map("x + 1", tiny), tiny_want, "srpy tiny")
        cpu: dict[str, Callable[[], Any]] = {
            "srpy1_cpu": lambda: one.map(sum_primes, cpu_items),
            "srpy2_cpu": lambda: two.map(sum_primes, cpu_items),
            "pool1_cpu": lambda: p1.map(sum_primes, cpu_items),
            "pool2_cpu": lambda: p2.map(sum_primes, cpu_items),
        }
        if rc is not None:
            lview = rc.load_balanced_view()
            cpu["ipp2_cpu"] = lambda: lview.map_sync(sum_primes, cpu_items)
        res.update(best_interleaved(cpu, args.repeat * 3))

        res["srpy2_tiny_auto"] = timed(lambda: two.map("x + 1", tiny), args.repeat * 3)
        res["srpy2_tiny_auto_callable"] = timed(lambda: two.map(add1, tiny), args.repeat * 3)
        res["srpy1_tiny_auto"] = timed(lambda: one.map("x + 1", tiny), args.repeat * 3)
        res["srpy2_tiny_1"] = timed(lambda: two.map("x + 1", tiny, chunksize=1), args.repeat)
        res["pool2_tiny_auto"] = timed(lambda: p2.map(add1, tiny), args.repeat * 3)
        res["pool2_tiny_1"] = timed(lambda: p2.map(add1, tiny, chunksize=1), args.repeat)
        if rc is not None:
            dview = rc[:]
            lview = rc.load_balanced_view()
            few = list(range(IPP_UNCHUNKED_ITEMS))
            res["ipp2_tiny_auto"] = timed(lambda: dview.map_sync(add1, tiny), args.repeat)
            t = timed(lambda: lview.map_sync(add1, few), 1)
            res["ipp2_tiny_1"] = t * TINY_ITEMS / IPP_UNCHUNKED_ITEMS


def fmt_s(res: dict[str, float], key: str) -> str:
    return f"{res[key]:.3f} s" if key in res else "–"


def fmt_us(res: dict[str, float], key: str, n: int = TINY_ITEMS) -> str:
    return f"{res[key] / n * 1e6:.2f} µs" if key in res else "–"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per measurement")
    ap.add_argument("--no-ipyparallel", action="store_true")
    args = ap.parse_args()

    res: dict[str, float] = {}
    notes: list[str] = []
    res["local_cpu"] = timed(lambda: [sum_primes(n) for n in [PRIMES_BELOW] * CPU_ITEMS], 1)
    run(args, res, notes)

    speed = res["srpy1_cpu"] / res["srpy2_cpu"]
    pool_speed = res["pool1_cpu"] / res["pool2_cpu"]
    print(
        f"# EngBox.map benchmark ({platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, best of {args.repeat} runs, "
        f"CPU maps best of {3 * args.repeat} interleaved rounds)\n"
    )
    print("| workload | SRPy EngBox (2 engines) | SRPy (1 engine) | Pool(2) | Pool(1) | ipyparallel (2) |")
    print("|---|---|---|---|---|---|")
    print(
        f"| CPU: sum of primes < {PRIMES_BELOW:,}, {CPU_ITEMS} items "
        f"(in-process: {res['local_cpu']:.3f} s) | {fmt_s(res, 'srpy2_cpu')} | "
        f"{fmt_s(res, 'srpy1_cpu')} | {fmt_s(res, 'pool2_cpu')} | {fmt_s(res, 'pool1_cpu')} | "
        f"{fmt_s(res, 'ipp2_cpu')} |"
    )
    print(
        f"| CPU speedup, 2 vs 1 | **{speed:.2f}×** | | {pool_speed:.2f}× | | "
        f"{res['srpy1_cpu'] / res['ipp2_cpu']:.2f}× vs SRPy 1 |"
        if "ipp2_cpu" in res
        else f"| CPU speedup, 2 vs 1 | **{speed:.2f}×** | | {pool_speed:.2f}× | | – |"
    )
    print(
        f"| tiny `x + 1`, {TINY_ITEMS:,} items, automatic chunks, per item | "
        f"**{fmt_us(res, 'srpy2_tiny_auto')}** (callable: {fmt_us(res, 'srpy2_tiny_auto_callable')}) | "
        f"{fmt_us(res, 'srpy1_tiny_auto')} | {fmt_us(res, 'pool2_tiny_auto')} | – | "
        f"{fmt_us(res, 'ipp2_tiny_auto')} |"
    )
    print(
        f"| tiny `x + 1`, unchunked (chunksize=1), per item | {fmt_us(res, 'srpy2_tiny_1')} | – | "
        f"{fmt_us(res, 'pool2_tiny_1')} | – | {fmt_us(res, 'ipp2_tiny_1')} |"
    )
    print()
    print(
        f"Targets: CPU speedup >= 1.85× ({'met' if speed >= 1.85 else 'NOT met'}); "
        f"tiny map <= 20 µs per item with automatic chunking "
        f"({'met' if res['srpy2_tiny_auto'] / TINY_ITEMS <= 20e-6 else 'NOT met'})."
    )
    for n in notes:
        print(f"- {n}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
