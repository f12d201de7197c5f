"""Futures: ``submit`` and the ``*_async`` methods."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Future, wait

import pytest
import srpy


def test_async_methods_return_futures(eng):
    f = eng.eval_async("a * 2", a=21)
    assert isinstance(f, Future)
    assert f.result(5) == 42
    assert eng.exe_async("b = 1").result(5) is None
    assert eng.exec_async("c = 2").result(5) is None
    assert eng.set_async(d=4).result(5) is None
    assert eng.get_async().result(5) == ["a", "b", "c", "d"]
    assert eng.get_async("d").result(5) == 4
    assert eng.get_async(["a", "d"]).result(5) == {"a": 21, "d": 4}
    assert eng.vexe_async("e = x", get=["e"], x=1).result(5) == {"e": 1}
    assert eng.vexec_async("e = 2", ["e"]).result(5) == {"e": 2}
    assert eng.call_async("math.hypot", 3, 4).result(5) == 5.0
    assert eng.imp_async("json").result(5) is None
    assert eng.import_async("os").result(5) is None
    assert eng.whoami_async().result(5)["pid"] == eng.info()["pid"]
    assert eng.ping_async().result(5) == "pong"
    assert eng.is_busy_async().result(5) in (True, False)
    assert eng.wait_async(1).result(5) is True
    assert len(eng.benchmark_async(2).result(5)) == 3
    assert eng.clear_async().result(5) is None
    assert eng.get() == []


def test_submit_by_name(eng):
    assert eng.submit("eval", "1 + 1").result(5) == 2
    assert eng.submit("exe", "x = 5").result(5) is None
    assert eng.submit("exec_", "y = 6").result(5) is None
    assert eng.submit("vexe", "z = 7", ["z"]).result(5) == {"z": 7}
    assert eng.submit("get", ["x", "y"]).result(5) == {"x": 5, "y": 6}
    assert eng.submit("isBusy").result(5) is False
    assert eng.submit(eng.eval, "x").result(5) == 5
    # methods without an async twin run in a thread
    assert eng.submit("describe", "math").result(5)["kind"] == "module"
    assert eng.submit("getURI").result(5) == eng.uri


def test_futures_run_in_parallel_on_two_engines(eng, eng1):
    start = time.monotonic()
    fs = [e.exe_async("import time; time.sleep(0.5)") for e in (eng, eng1)]
    done, _ = wait(fs, timeout=10)
    assert len(done) == 2
    assert time.monotonic() - start < 0.95


def test_futures_pipeline_on_one_engine(eng):
    fs = [eng.eval_async("i * i", i=i) for i in range(200)]
    assert [f.result(10) for f in fs] == [i * i for i in range(200)]


def test_calls_reach_the_engine_in_program_order(eng):
    # A call that returns a future is on the wire when it returns: a later
    # blocking call (or future) on the same engine runs after it.
    eng.exe("log = []")
    futures = [eng.exe_async(f"log.append({i})") for i in range(50)]
    assert eng.eval("log") == list(range(50))
    eng.exe_async("import time; time.sleep(0.2); log.append('slow')")
    eng.exe_async("log.append('after')")
    assert eng.eval("log[-2:]") == ["slow", "after"]
    wait(futures, 5)
    assert all(f.result() is None for f in futures)


def test_future_exceptions(eng):
    f = eng.eval_async("1 / 0")
    with pytest.raises(ZeroDivisionError) as info:
        f.result(5)
    assert isinstance(info.value, srpy.RemoteError)
    assert isinstance(f.exception(), ZeroDivisionError)
    with pytest.raises(srpy.SRPyTimeoutError):
        eng.exe_async("import time; time.sleep(5)", timeout=0.2).result(5)
    with pytest.raises(srpy.NotTransferable):
        eng.eval_async("__import__('math')").result(5)
    assert eng.eval("1") == 1


def test_done_callbacks_and_asyncio(eng):
    seen = []
    f = eng.eval_async("'cb'")
    f.add_done_callback(lambda fut: seen.append(fut.result()))
    f.result(5)
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == ["cb"]

    async def main():
        a, b = await asyncio.gather(
            asyncio.wrap_future(eng.eval_async("1")),
            asyncio.wrap_future(eng.eval_async("2")),
        )
        return a + b

    assert asyncio.run(main()) == 3


def test_futures_are_not_cancellable_once_sent(eng):
    f = eng.exe_async("import time; time.sleep(0.2)")
    assert f.cancel() is False
    assert f.result(5) is None
