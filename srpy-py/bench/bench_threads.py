"""Blocking calls from several Python threads at once: calls per second.

    .venv/bin/python srpy-py/bench/bench_threads.py [--threads 1,4] [--calls 3000]

Each thread has its own connection (2 engines, threads spread over them)
and makes ``eng.eval("1+1")`` calls back to back. The blocking client's
runtime is driven by whichever thread waits, one at a time; this bench
checks that sharing it does not cost the throughput of many callers.
Needs ``SRPY_SERVER_BIN`` (or a built ``target/release/srpy-server``).
"""

from __future__ import annotations

import argparse
import threading
import time

import srpy


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,4")
    ap.add_argument("--calls", type=int, default=3000)
    args = ap.parse_args()
    with srpy.local(engines=2, output=None) as cluster:
        for n in (int(x) for x in args.threads.split(",")):
            engines = [
                srpy.PythonEngine(cluster.engine_uri(i % 2), token=cluster.token)
                for i in range(n)
            ]
            for e in engines:
                e.eval("1+1")

            def work(e: srpy.PythonEngine) -> None:
                for _ in range(args.calls):
                    e.eval("1+1")

            threads = [threading.Thread(target=work, args=(e,)) for e in engines]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            took = time.perf_counter() - t0
            print(f"{n} thread(s): {n * args.calls / took:,.0f} calls/s")
            for e in engines:
                e.close()


if __name__ == "__main__":
    main()
