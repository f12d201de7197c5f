"""Several threads sharing one engine handle."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor


def test_eight_threads_share_one_handle(eng):
    eng.exe("def ident(t, i):\n    return (t, i)")

    def work(t: int) -> list:
        return [eng.eval("ident(t, i)", t=t, i=i) for i in range(200)]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(8)))
    for t, got in enumerate(results):
        assert len(got) == 200
        # eval binds t and i in the shared namespace, so another thread may
        # rebind them before the expression runs: the pair is consistent
        # per request, since requests run one at a time.
        assert all(isinstance(x, tuple) and len(x) == 2 for x in got)


def test_threads_get_their_own_answers(eng):
    def work(t: int) -> bool:
        return all(eng.call("divmod", t * 1000 + i, 1000) == (t, i) for i in range(200))

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(8)))


def test_gil_is_released_while_waiting(eng):
    counter = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal counter
        while not stop.is_set():
            counter += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        before = counter
        eng.exe("import time; time.sleep(0.5)")
        progressed = counter - before
    finally:
        stop.set()
        t.join()
    assert progressed > 10_000, "the spinning thread ran while the main thread waited"


def test_threads_and_futures_mixed(eng, eng1):
    start = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        futs = [pool.submit(e.eval, "sum(range(10000))") for e in (eng, eng1) * 20]
        asyncs = [e.eval_async("1") for e in (eng, eng1) * 20]
        assert all(f.result(10) == 49995000 for f in futs)
        assert all(f.result(10) == 1 for f in asyncs)
    assert time.monotonic() - start < 10
