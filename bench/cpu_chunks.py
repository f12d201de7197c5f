"""CPU-bound map on 2 engines, automatic chunks against one item per chunk.

    bench/.venv/bin/python bench/cpu_chunks.py [--rounds 12]

The comparison's CPU row (16 items of ~50 ms pure Python, speedup over the
serial loop) varies by more than the gap between the leaders; this loop
interleaves the two chunkings of ``box.map`` over many rounds to see whether
the chunk size matters beyond that noise. Needs ``SRPY_SERVER_BIN`` (or a
built ``target/release/srpy-server``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import srpy
from benchtasks import cpu_task
from compare import calibrate_cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=12)
    args = ap.parse_args()
    items = [calibrate_cpu(0.050)] * 16
    speedups: dict[str, list[float]] = {"automatic chunks": [], "chunksize=1": []}
    kinds = [("automatic chunks", {}), ("chunksize=1", {"chunksize": 1})]
    with srpy.local(engines=2, output=None) as box:
        box.map(cpu_task, [1000] * 4)  # ship the function, import on the engines
        for r in range(args.rounds):
            t = time.perf_counter()
            expect = [cpu_task(x) for x in items]
            serial = time.perf_counter() - t
            for label, kw in kinds if r % 2 else kinds[::-1]:
                t = time.perf_counter()
                got = list(box.map(cpu_task, items, **kw))
                speedups[label].append(serial / (time.perf_counter() - t))
                assert got == expect
    for label, v in speedups.items():
        print(f"{label}: median {statistics.median(v):.3f}, range {min(v):.3f}–{max(v):.3f} "
              f"over {len(v)} rounds")


if __name__ == "__main__":
    main()
