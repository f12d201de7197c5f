"""Big values travel without copies (docs/PERFORMANCE.md, "Zero-copy bulk"):
`bytes` and numpy arrays are sent from the objects' own memory, and an
engine reads a big `bytes` straight into the object its namespace keeps.
These tests check what a user can see of that: types, contents, reference
counts, arrays changed after an asynchronous send, a busy engine."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest
import srpy

try:
    import numpy as np
except ImportError:  # numpy is optional
    np = None

needs_numpy = pytest.mark.skipif(np is None, reason="numpy is not installed")

MIB = 1 << 20


def _settles(get, expected, eng) -> bool:
    """Whether `get()` reaches `expected` within a second. A buffer the
    writer thread let go of without the GIL is released at the next call."""
    deadline = time.monotonic() + 1
    while get() != expected:
        if time.monotonic() > deadline:
            return False
        eng.ping()
    return True


def _wait_busy(eng, limit: float = 10) -> None:
    deadline = time.monotonic() + limit
    while not eng.isBusy():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.01)


def test_big_bytes_arrive_as_real_bytes(eng):
    data = os.urandom(3 * MIB + 5)
    eng.set(data=data)
    assert eng.eval("type(data) is bytes and len(data)") == len(data)
    # Immutable and hashable like any bytes; equal to a copy of itself.
    assert eng.eval("hash(data) == hash(bytes(bytearray(data)))") is True
    assert eng.eval("data[:7] + data[-7:]") == data[:7] + data[-7:]
    assert eng.get("data") == data
    # Rebinding the name leaves other references to it alone.
    eng.exe("other = data; data = data + b'!'")
    assert eng.eval("len(other), len(data)") == (len(data), len(data) + 1)


def test_big_bytes_nested_and_several(eng):
    a, b = os.urandom(2 * MIB), os.urandom(MIB + 1)
    box = {"k": [a, b, b"small"], "t": (b,)}
    eng.set(box=box)
    assert eng.get("box") == box
    assert eng.eval("all(type(x) is bytes for x in box['k'])") is True
    assert eng.eval("x", x=a) == a


def test_sending_bytes_keeps_no_reference(eng):
    data = os.urandom(4 * MIB)
    before = sys.getrefcount(data)
    for _ in range(3):
        eng.set(data=data)
    assert _settles(lambda: sys.getrefcount(data), before, eng)
    f = eng.set_async(data=data)
    f.result(10)
    assert _settles(lambda: sys.getrefcount(data), before, eng)


@needs_numpy
def test_sending_an_array_keeps_no_reference(eng):
    a = np.arange(MIB, dtype=np.float64)
    before = sys.getrefcount(a)
    eng.set(a=a)
    assert eng.eval("float(a[-1])") == float(MIB - 1)
    assert _settles(lambda: sys.getrefcount(a), before, eng)


@needs_numpy
def test_an_array_changed_after_an_async_send_arrives_unchanged(eng):
    # A future returns before the array is written: it must travel as it
    # was when the call was made, not half-changed.
    a = np.ones(32 * MIB // 8)
    f = eng.set_async(a=a)
    a[:] = 0
    f.result(30)
    assert eng.eval("float(a.min()), float(a.max())") == (1.0, 1.0)


@needs_numpy
def test_an_array_changed_after_a_blocking_send_leaves_the_remote_copy(eng):
    a = np.arange(2 * MIB // 8, dtype=np.int64)
    eng.set(a=a)
    a[:] = -1
    assert eng.eval("int(a.min())") == 0
    eng.exe("a[:] = 5")
    assert int(a.min()) == -1


def test_big_bytes_for_a_busy_engine_wait_their_turn(cluster, eng):
    # The engine's reader needs the interpreter briefly to make the bytes
    # object; while Python code runs, `ping` and `interrupt` are still
    # answered, and the value lands once the running job ends.
    other = srpy.PythonEngine(cluster.engine_uri(0), output=None)
    running = eng.exe_async("while True:\n    pass")
    try:
        _wait_busy(eng)
        data = os.urandom(8 * MIB)
        sent = threading.Thread(target=lambda: other.set(data=data))
        sent.start()
        time.sleep(0.3)
        # Another connection is answered at once meanwhile.
        start = time.monotonic()
        assert eng.ping() == "pong"
        assert time.monotonic() - start < 1
        assert eng.isBusy() is True
        assert eng.interrupt() is True
        with pytest.raises(srpy.RemoteInterrupted):
            running.result(10)
        sent.join(10)
        assert not sent.is_alive()
        assert eng.eval("data == d", d=data) is True
    finally:
        # Never leave the engine spinning for the tests after this one.
        while not running.done():
            eng.interrupt()
            time.sleep(0.1)
        other.close()


def test_big_bytes_results_arrive_as_plain_bytes(eng):
    data = os.urandom(5 * MIB + 3)
    eng.set(data=data)
    for fetch in (
        lambda: eng.get("data"),
        lambda: eng.get_async("data").result(10),
        lambda: eng.eval("data"),
    ):
        got = fetch()
        assert type(got) is bytes and got == data
        # Only `got` and getrefcount's argument: the reader kept nothing.
        assert sys.getrefcount(got) == 2
    both = eng.get(["data", "data"])
    assert both == {"data": data}
    assert eng.eval("[data, data[:3]]") == [data, data[:3]]


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_an_idle_engine_gives_big_blocks_back(private):
    # Freed big blocks stay in the engine for the next push, and go back to
    # the system once the engine has been idle for a second; a block the
    # receive pool kept (a push read while the engine was busy) goes back
    # when the pool frees it, 2 s after its last use: the engine trims then
    # too (it used to trim only when idle, before the pool let go).
    e = private[0]
    pid = e.whoami()["pid"]
    before = _rss_mib(pid)
    data = os.urandom(64 * MIB)
    for _ in range(3):
        e.set(data=data)
    e.delete("data")
    deadline = time.monotonic() + 10
    while _rss_mib(pid) > before + 24:
        assert time.monotonic() < deadline, f"engine RSS stayed at {_rss_mib(pid):.0f} MiB"
        time.sleep(0.2)
