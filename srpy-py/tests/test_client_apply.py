"""``apply``: shipping local functions (cloudpickle, or by source)."""

from __future__ import annotations

import functools
import math
import sys

import pytest
import srpy

FACTOR = 3


def module_level(x, y=0):
    return x * FACTOR + y


def self_contained(n):
    import math as m

    return m.factorial(n)


def test_apply_closure(eng):
    pytest.importorskip("cloudpickle")
    k = 10

    def add_k(x):
        return x + k

    assert eng.apply(add_k, 5) == 15
    assert eng.apply(lambda x, y=1: x * y + k, 2, y=3) == 16


def test_apply_module_level_function_with_globals(eng):
    pytest.importorskip("cloudpickle")
    assert eng.apply(module_level, 2, y=1) == 7


def test_apply_library_functions(eng):
    assert eng.apply(math.factorial, 5) == 120
    assert eng.apply(sorted, [3, 9, 2], reverse=True) == [9, 3, 2]


def test_apply_returns_remote_state(eng):
    eng.set(x=1)

    def pid():
        import os

        return os.getpid()

    assert eng.apply(pid) == eng.whoami()["pid"]


def test_apply_errors_are_remote(eng):
    def bad():
        return 1 / 0

    with pytest.raises(ZeroDivisionError) as info:
        eng.apply(bad)
    assert "in bad" in info.value.remote_traceback


def test_apply_async(eng, eng1):
    futures = [e.apply_async(self_contained, n) for e, n in ((eng, 5), (eng1, 6))]
    assert [f.result(10) for f in futures] == [120, 720]
    assert eng.submit("apply", self_contained, 3).result(10) == 6


def test_apply_timeout(eng):
    def slow():
        import time

        time.sleep(5)

    with pytest.raises(srpy.SRPyTimeoutError):
        eng.apply(slow, timeout=0.2)
    assert eng.eval("1") == 1


@pytest.fixture
def no_cloudpickle(monkeypatch):
    monkeypatch.setitem(sys.modules, "cloudpickle", None)


def test_apply_by_source_without_cloudpickle(eng, no_cloudpickle):
    assert eng.apply(self_contained, 4) == 24

    def decorated_helper(x):
        return x - 1

    @functools.lru_cache
    def cached(x):
        return x + 1

    assert eng.apply(decorated_helper, 1) == 0
    assert eng.apply(lambda v: v * 2, 21) == 42
    assert eng.apply(math.sqrt, 4) == 2.0, "library functions go by reference"


def test_apply_closure_needs_cloudpickle(eng, no_cloudpickle):
    k = 1

    def closure(x):
        return x + k

    with pytest.raises(srpy.NotTransferable, match="cloudpickle"):
        eng.apply(closure, 1)


def test_apply_needs_a_callable(eng):
    with pytest.raises(TypeError):
        eng.apply(3)
