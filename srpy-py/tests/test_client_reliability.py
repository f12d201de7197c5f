"""Slow, stalled and idle clients, from CPython: a client that does not read
stalls nobody else, one past the output limit is closed, and a connection
closed for idleness reconnects on the next call. Raw-socket clients come
from ``scripts/reliability.py`` (frames built by hand)."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO


def _reliability():
    spec = importlib.util.spec_from_file_location(
        "reliability", REPO / "scripts" / "reliability.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["reliability"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def wire():
    return _reliability().Wire


def _port(cluster) -> int:
    """The server's port, through which engine 0 is reached."""
    return int(cluster.uri.rsplit(":", 1)[1])


def test_a_client_that_does_not_read_stalls_nobody(local_options, wire):
    import srpy

    with srpy.local(1, output=None, **local_options) as c:
        e = c[0]
        stalled = wire(_port(c), engine=0, rcvbuf=4096, token=c.token)
        for _ in range(4):
            stalled.send("eval", expr="b'x' * (8 << 20)")
        e.timeout = 10
        started = time.monotonic()
        assert [e.eval(f"{i} + 1") for i in range(50)] == list(range(1, 51))
        assert time.monotonic() - started < 10
        stalled.sock.close()


def test_past_the_output_limit_the_offender_is_closed(local_options, wire):
    import srpy

    args = ["--max-output-buffer", "1000000"]
    with srpy.local(1, output=None, server_args=args, **local_options) as c:
        stalled = wire(_port(c), engine=0, rcvbuf=4096, token=c.token)
        for _ in range(4):
            stalled.send("eval", expr="b'x' * (4 << 20)")
        deadline = time.monotonic() + 20
        log = Path(c.log_path)
        while "output buffer limit exceeded" not in log.read_text():
            assert time.monotonic() < deadline, "the reason was not logged"
            time.sleep(0.05)
        assert stalled.closed_within(10)
        assert c[0].eval("40 + 2") == 42


def test_an_idle_connection_reconnects_on_the_next_call(local_options):
    import srpy

    args = ["--idle-timeout", "0.5"]
    with srpy.local(1, output=None, server_args=args, **local_options) as c:
        e = c[0]
        e.exe("kept = 7")
        pid = e.whoami()["pid"]
        for _ in range(2):
            time.sleep(1.2)
            assert e.eval("kept + 1") == 8
        assert e.whoami()["pid"] == pid


def _largest_bytes(v):
    """The longest bytes value inside a decoded CBOR item."""
    if isinstance(v, bytes):
        return v
    items = []
    if isinstance(v, dict):
        items = list(v.values())
    elif isinstance(v, (list, tuple)):
        items = list(v)
    elif hasattr(v, "value"):  # a CBOR tag
        items = [v.value]
    return max((_largest_bytes(i) for i in items), key=len, default=b"")


def test_a_queued_array_result_is_not_changed_by_the_next_job(local_options, wire):
    import srpy

    with srpy.local(1, output=None, **local_options) as c:
        c[0].exe("import numpy as np; a = np.zeros(16 << 20, dtype=np.uint8)")
        slow = wire(_port(c), engine=0, rcvbuf=4096, token=c.token)
        slow.send("eval", expr="a")
        slow.send("exec", code="a[:] = 1")  # runs while the result is queued
        assert c[0].eval("int(a[0])") == 1
        slow.sock.settimeout(20)
        reply = slow.recv()
        assert reply["t"] == "ok"
        data = _largest_bytes(reply["value"])
        assert len(data) == 16 << 20
        assert data.count(0) == len(data)


def test_past_the_unanswered_bound_the_engine_stops_reading(local_options, wire):
    import srpy

    args = ["--max-unanswered", "8"]
    with srpy.local(1, output=None, server_args=args, **local_options) as c:
        busy = c[0].exe_async("import time; time.sleep(1.0)")
        time.sleep(0.2)
        flooder = wire(_port(c), engine=0, token=c.token)
        waits = [flooder.send("wait", timeout=None) for _ in range(100)]
        ping = flooder.send("ping")
        first = flooder.recv()
        # The ping stayed unread behind the waits until the engine was idle.
        assert first["id"] != ping and first["value"] is True
        ids = {first["id"]} | {flooder.recv()["id"] for _ in range(100)}
        assert ids == {*waits, ping}
        busy.result(10)


def test_requests_queued_behind_a_long_job_outlast_the_dead_peer_timeout(local_options):
    # Behind a job longer than the client's dead-peer timeout (10 s), the
    # engine stops reading (2 unanswered at most) and its window closes:
    # a live, busy engine, so the queued sets must all arrive.
    import srpy

    blob = b"x" * (8 << 20)
    args = ["--max-unanswered", "2"]
    with srpy.local(1, output=None, server_args=args, **local_options) as c:
        e = c[0]
        job = e.exe_async("import time; time.sleep(13)")
        time.sleep(0.3)
        sets = [e.submit("set", **{f"v{i}": blob}) for i in range(8)]
        job.result(60)
        for f in sets:
            f.result(60)
        assert e.eval("sum(len(globals()[f'v{i}']) for i in range(8))") == 8 * len(blob)


def test_slow_handshakes_from_one_address_keep_nobody_else_out(local_options, wire):
    import socket
    import threading

    import srpy

    args = ["--max-handshakes-per-address", "2", "--handshake-timeout", "3"]
    with srpy.local(1, output=None, server_args=args, **local_options) as c:
        port = _port(c)
        silent = []
        for _ in range(6):  # 2 take 127.0.0.2's slots, 4 wait unread
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            s.connect(("127.0.0.1", port))
            silent.append(s)
        started = time.monotonic()
        assert srpy.connect(c.engine_uri(0), output=None).eval("1 + 1") == 2
        assert time.monotonic() - started < 2
        # A burst from one host waits its turn instead of being refused.
        results = []

        def one() -> None:
            e = srpy.connect(c.engine_uri(0), output=None)
            results.append(e.eval("2 + 2"))
            e.close()

        threads = [threading.Thread(target=one) for _ in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [4] * 30
        for s in silent:
            s.close()
