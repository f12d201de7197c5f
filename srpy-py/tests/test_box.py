"""``srpy.EngBox`` against real servers with several engines."""

from __future__ import annotations

import itertools
import math
import os
import signal
import sys
import threading
import time

import pytest
import srpy
from srpy._box import _map_task, _Progress

np = pytest.importorskip("numpy")


@pytest.fixture(scope="module")
def three(local_options):
    """A server with 3 engines, shared by the tests that do not kill any."""
    c = srpy.local(engines=3, output=None, **local_options)
    yield c
    c.close()


@pytest.fixture
def box(three):
    b = srpy.EngBox(three.engines)
    for e in b:
        e.clear()
    return b


def wait_idle(b, limit=10.0):
    deadline = time.monotonic() + limit
    for e in b:
        assert e.wait(max(0.1, deadline - time.monotonic())), f"{e.uri} stays busy"


# -- building a box ---------------------------------------------------------------


def test_building_and_container(three, tmp_path):
    b = srpy.EngBox(three.engines)
    assert len(b) == 3 and b.getEngines() == three.engines == b.toList()
    assert b.get_engines() is not b.engines
    assert [e.index for e in b] == [0, 1, 2]
    assert b[1] is three.engines[1]
    assert isinstance(b[1:], srpy.EngBox) and [e.index for e in b[1:]] == [1, 2]
    assert [e.index for e in b[[2, 0]]] == [2, 0]
    assert [e.index for e in b.select([1])] == [1]
    assert three.engines[0] in b
    assert "EngBox of 3" in repr(b)

    # A server URI expands to all its engines; an engine URI is one engine.
    b2 = srpy.EngBox([three.uri], output=None)
    try:
        assert [e.index for e in b2] == [0, 1, 2]
        added = b2.startAndAppend(three.engine_uri(1))
        assert [e.index for e in added] == [1] and len(b2) == 4
        text = f"# engines\n\n{three.engine_uri(0)}  # first\n{three.uri}\n"
        added = b2.startAndAppendFromText(text)
        assert [e.index for e in added] == [0, 0, 1, 2] and len(b2) == 8
        f = tmp_path / "engines.txt"
        f.write_text(f"{three.engine_uri(2)}\n")
        assert [e.index for e in b2.start_and_append_from_file(f)] == [2]
        b2.append(three.engine_uri(0))
        assert len(b2) == 10
        with pytest.raises(srpy.InvalidURI):
            b2.startAndAppendFromText(f"{three.uri}\nnot a uri\n")
        with pytest.raises(srpy.SRPyError):
            b2.startAndAppend("srpy://127.0.0.1:1")
        assert len(b2) == 10, "nothing added on failure"
        with pytest.raises(TypeError):
            b2.append(42)

        del b2[0]
        assert len(b2) == 9 and b2[0].index == 1
        del b2[1:3]
        assert len(b2) == 7
        del b2[[0, -1]]
        assert len(b2) == 5
        e = b2[0]
        b2.remove(e)
        assert e not in b2 and e.ping() == "pong"
    finally:
        b2.close()

    with pytest.raises(srpy.SRPyError, match="no engines"):
        srpy.EngBox().map("x", [1])


def test_local_returns_a_ready_box(three):
    assert isinstance(three, srpy.EngBox)
    assert three.map("x * 2", range(5)) == [0, 2, 4, 6, 8]
    # Indexed as every box is.
    assert three[0] is three.engines[0]
    assert isinstance(three[:1], srpy.EngBox) and three[:1].engines == three.engines[:1]
    assert [e.index for e in three[[2, 0]]] == [2, 0]
    assert len(three) == 3 and list(three) == three.engines


# -- mrs / mrp --------------------------------------------------------------------


def test_mrs_and_mrp_with_one_engine_raising(box):
    for i, e in enumerate(box):
        e.set(me=i)
    for got in (box.mrs.eval("10 // (me - 1)"), box.mrpwait(box.mrp.eval("10 // (me - 1)"))):
        assert list(got) == box.engines
        assert got[box[0]] == -10 and got[box[2]] == 10
        err = got[box[1]]
        assert isinstance(err, ZeroDivisionError) and isinstance(err, srpy.RemoteError)
        assert "<srpy-eval>" in err.remote_traceback
    # Any engine method, original names too.
    def mrp(handle):
        return box.mrpwait(handle, timeout=10)

    assert set(mrp(box.mrp.ping()).values()) == {"pong"}
    assert all(isinstance(v, bool) for v in box.mrs.isBusy().values())
    assert [v["engine index"] for v in mrp(box.mrp.whoami()).values()] == [0, 1, 2]
    assert set(box.mrp.uri.values()) == {e.uri for e in box}
    assert mrp(box.mrp.exe("y = me * 2")) == dict.fromkeys(box.engines)
    assert list(mrp(box.mrp.get("y")).values()) == [0, 2, 4]
    assert list(mrp(box.mrp.call("divmod", 7, 2)).values()) == [(3, 1)] * 3
    assert list(mrp(box.mrp.apply(lambda a: a + 1, 1)).values()) == [2] * 3
    assert next(iter(mrp(box.mrp.function("divmod")).values()))(9, 4) == (2, 1)
    assert "eval" in dir(box.mrp) and "mrs" not in repr(box.mrp)


def test_mrp_runs_at_once_and_mrpwait(box):
    # SRPy 0.2: "return values are by default '__null__' until the thread
    # finishes. See method 'mrpwait' for ways to wait for threads to finish."
    for i, e in enumerate(box):
        e.set(me=i)
    t = time.monotonic()
    handle = box.mrp.exe("import time; time.sleep(0.6 if me == 2 else 0)")
    assert time.monotonic() - t < 0.4, "mrp waited"
    assert isinstance(handle, srpy.MultiRunResult)
    assert handle[box[2]] == "__null__" and list(handle) == box.engines
    got = box.mrpwait(handle, timeout=0.3)
    assert got[box[0]] is None and got[box[1]] is None
    assert isinstance(got[box[2]], srpy.SRPyTimeoutError)
    assert box.mrpwait(handle)[box[2]] is None
    assert handle.done() and "done" in repr(handle)
    assert list(handle.values()) == [None, None, None]
    # The 2009 idiom: box.mrpwait(box.mrp.benchmark()); timeout=-1 waits.
    bench = box.mrpwait(box.mrp.benchmark(2), timeout=-1)
    assert list(bench) == box.engines
    assert all(isinstance(b, tuple) and len(b) == 3 for b in bench.values())
    # A method that is no protocol operation runs too.
    got = box.mrpwait(box.mrp.getHostname(), 10)
    assert len(set(got.values())) == 1


def test_2009_docstrings(box):
    """The examples of SRPy 0.2's EngBox docstrings, as they ran."""
    # engbox.mrs.set(a=3); engbox.mrs.get('a').values() -> [3, 3]
    box.mrs.set(a=3)
    assert list(box.mrs.get("a").values()) == [3, 3, 3]
    # engbox.mrs.get('lets cause an error') -> [KeyError(...), KeyError(...)]
    errors = list(box.mrs.get("lets_cause_an_error").values())
    assert all(isinstance(e, KeyError) and isinstance(e, NameError) for e in errors)
    # pyeng.get of a missing name raised KeyError (and NameError today).
    with pytest.raises(KeyError):
        box[0].get("lets_cause_an_error")
    with pytest.raises(NameError):
        box[0].get("lets_cause_an_error")
    # getFastest(single=True, basis='all'): the fastest PythonEngine; with
    # single=False "a new EngBox with PythonEngine(s) sorted by speed".
    assert isinstance(box.getFastest(), srpy.PythonEngine)
    ranked = box.getFastest(single=False)
    assert isinstance(ranked, srpy.EngBox) and sorted(ranked, key=box.engines.index) == box.engines
    with pytest.raises(ValueError, match="'all', 'net' or 'proc'"):
        box.getFastest(basis="both")
    # getDead(): "Returns indexes of dead PythonEngine(s)"; new: an EngBox.
    assert box.getDead() == []
    dead = box.getDead(new=True)
    assert isinstance(dead, srpy.EngBox) and len(dead) == 0


# -- broadcasts and data ----------------------------------------------------------------


def test_broadcasts(box):
    assert box.exe("def sq(v):\n    return v * v\nk = 3") is None
    box.set({"a": 1}, b=2)
    assert box.eval("sq(k) + a + b") == [12, 12, 12]
    assert box.eval("a * z", z=5) == [5, 5, 5]
    assert box.call("sq", 4) == [16, 16, 16]
    assert box.apply(lambda v, w=0: v * 2 + w, 5, w=1) == [11, 11, 11]
    box.exec_("import os")
    pids = box.apply(os.getpid)
    assert len(set(pids)) == 3 and os.getpid() not in pids
    for i, e in enumerate(box):
        e.set(me=i)
    with pytest.raises(srpy.BoxError) as info:
        box.exe("if me == 1: raise KeyError('boom')")
    err = info.value
    assert list(err.errors) == [box[1]]
    assert isinstance(err.errors[box[1]], KeyError)
    assert err.results[box[0]] is None
    assert "1 of 3" in str(err)
    assert box.interrupt() == [False, False, False]


def test_scatter_and_gather(box):
    box.scatter("part", range(10))
    assert box.eval("len(part)") == [4, 3, 3]
    assert box.gather("part") == list(range(10))
    box.scatter("few", ["a"])
    assert box.gather("few") == ["a"]
    arr = np.arange(11.0)
    box.scatter("arr", arr)
    assert box.eval("arr.shape[0]") == [4, 4, 3]
    got = box.gather("arr")
    assert isinstance(got, np.ndarray) and np.array_equal(got, arr)
    box.exe("arr = arr * 2")
    assert np.array_equal(box.gather("arr"), arr * 2)
    box.set(notalist=1)
    with pytest.raises(TypeError, match="not a list"):
        box.gather("notalist")
    box[0].set(only0=[])
    with pytest.raises(NameError):
        box.gather("only0")


# -- maps ---------------------------------------------------------------------------------


def triple(v):
    return v * 3


def test_map_task_kinds():
    assert _map_task("x + 1", "x") == ("expr", "x + 1")
    assert _map_task(" math.sqrt ", "x") == ("call", "math.sqrt")
    assert _map_task("x", "x") == ("expr", "x")
    assert _map_task("x.real", "x") == ("expr", "x.real")
    assert _map_task("f", "x") == ("call", "f")
    assert _map_task("y", "y") == ("expr", "y")
    assert _map_task(triple, "x")[0] == "pickle"
    with pytest.raises(TypeError):
        _map_task(3, "x")


def test_map_orders_and_chunks(box):
    items = list(range(1000))
    want = [i + 1 for i in items]
    for chunksize in (None, 1, 7, 5000):
        assert box.map("x + 1", items, chunksize=chunksize) == want
    assert box.map("y * 2", range(5), var="y") == [0, 2, 4, 6, 8]
    assert box.map("math.sqrt", [4.0, 9.0]) == [2.0, 3.0]
    assert box.map(triple, range(4)) == [0, 3, 6, 9]
    assert box.map(lambda v: -v, (1, 2)) == [-1, -2]
    assert box.map(math.factorial, range(6)) == [1, 1, 2, 6, 24, 120]
    assert box.map(str, [1, 2]) == ["1", "2"]
    assert box.map("x", iter(range(3))) == [0, 1, 2]
    box.exe("def sq(v):\n    return v * v\nK = 3")
    assert box.map("sq(x) + K", range(4)) == [3, 4, 7, 12]
    assert box.map("sq", range(4)) == [0, 1, 4, 9]
    assert "x" not in box[0].get()
    assert box.map("x", []) == []
    with pytest.raises(ValueError):
        box.map("x", [1], chunksize=0)

    # Unordered: completion order; a slow first item comes last.
    slow = "(__import__('time').sleep(0.5), x)[1] if x == 0 else x"
    got = box.map(slow, range(20), chunksize=1, ordered=False)
    assert sorted(got) == list(range(20))
    assert got.index(0) >= 17, got
    assert box.map(slow, range(20), chunksize=1) == list(range(20))


def test_failing_items_keep_the_other_results(box):
    box.exe("def f(v):\n    return 100 // (v % 7)\n")
    with pytest.raises(srpy.MapError) as info:
        box.map("f", range(50), chunksize=4)
    err = info.value
    assert err.index == 0
    assert sorted(err.errors) == list(range(0, 50, 7))
    assert err.remote_type == "ZeroDivisionError"
    assert "line 2, in f" in err.remote_traceback
    assert "map_chunk" not in err.remote_traceback
    assert isinstance(err.__cause__, ZeroDivisionError)
    assert "item 0 failed (8 of 50" in str(err)
    assert err.report["failed"] == 8 and err.report["chunksize"] == 4
    for i, r in enumerate(err.results):
        if i % 7:
            assert r == 100 // (i % 7)
        else:
            assert isinstance(r, ZeroDivisionError)
    got = box.map("f", range(8), return_exceptions=True)
    assert isinstance(got[0], ZeroDivisionError) and got[1:7] == [100, 50, 33, 25, 20, 16]
    # A local function raising: the remote traceback shows it.
    with pytest.raises(srpy.MapError) as info:
        box.map(lambda v: 1 / v, [1, 0])
    assert info.value.index == 1 and "<lambda>" in info.value.remote_traceback
    # A result without a wire form fails its chunk's items, not the map.
    got = box.map("object() if x == 1 else x", range(4), chunksize=1, return_exceptions=True)
    assert got[0] == 0 and got[2:] == [2, 3]
    assert isinstance(got[1], srpy.NotTransferable)


def test_imap(box):
    it = box.imap("x * 2", range(10), chunksize=3)
    assert list(it) == [i * 2 for i in range(10)]
    got = list(box.imap_unordered("x", range(10), indexed=True))
    assert sorted(got) == [(i, i) for i in range(10)]
    it = box.imap("10 // (x - 3)", range(6), chunksize=1)
    assert [next(it) for _ in range(3)] == [-4, -5, -10]
    with pytest.raises(srpy.MapError) as info:
        next(it)
    assert info.value.index == 3
    # Closing early cancels the map and frees the engines.
    it = box.imap("__import__('time').sleep(0.5) or x", range(30), chunksize=1)
    assert next(it) == 0
    it.close()
    t = time.monotonic()
    wait_idle(box, 5)
    assert time.monotonic() - t < 4


def test_progress(box):
    seen = []
    box.map("x", range(100), chunksize=10, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (100, 100) and 1 <= len(seen) <= 10
    assert all(a[0] < b[0] for a, b in itertools.pairwise(seen))
    # Automatic: off when stderr is not a terminal.
    assert not _Progress(None, 10).plain and _Progress(None, 10).bar is None
    assert _Progress(False, 10).bar is None


def test_progress_true_uses_tqdm_auto(box, capsys):
    tqdm_auto = pytest.importorskip("tqdm.auto")
    p = _Progress(True, 10)
    assert isinstance(p.bar, tqdm_auto.tqdm)
    p.close()
    assert box.map("x", range(40), chunksize=5, progress=True) == list(range(40))
    err = capsys.readouterr().err
    assert "map: 100%" in err and "40/40" in err, err


def test_progress_true_without_tqdm_is_plain(box, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import tqdm.auto: ImportError
    p = _Progress(True, 10)
    assert p.bar is None and p.plain
    p.PLAIN_EVERY = 0
    p.update(5)
    p.update(5)
    p.close()
    err = capsys.readouterr().err
    assert "\rmap: 5/10 items" in err and err.endswith("\n"), err
    assert box.map("x", range(40), chunksize=5, progress=True) == list(range(40))
    assert "map: 40/40 items (100%)" in capsys.readouterr().err


def test_remote_output_follows_each_engines_setting(box):
    got = {e.index: [] for e in box}
    for e in box:
        e.output = lambda stream, text, i=e.index: got[i].append((stream, text))
    try:
        box.exe("print('hi')")
        assert all(v == [("stdout", "hi\n")] for v in got.values()), got
        for v in got.values():
            v.clear()
        assert box.map("print(x) or x", range(6), chunksize=1) == list(range(6))
        lines = sorted(int(t) for v in got.values() for _, t in v if t.strip())
        assert lines == list(range(6))
        box[0].output = None
        for v in got.values():
            v.clear()
        box.exe("import sys; print('err', file=sys.stderr)")
        assert got[0] == [] and got[1] == [("stderr", "err\n")]
    finally:
        for e in box:
            e.output = None


def test_ctrl_c_interrupts_a_map(box):
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        box.map("__import__('time').sleep(2) or x", range(12), chunksize=1)
    assert time.monotonic() - t < 4
    wait_idle(box, 5)
    assert box.eval("1 + 1") == [2, 2, 2]


# -- engines that die --------------------------------------------------------------------


def test_kill_9_during_a_map(local_options):
    with srpy.local(engines=3, output=None, **local_options) as c:
        b = srpy.EngBox(c.engines)
        victim = b[1].whoami()["pid"]
        timer = threading.Timer(0.4, os.kill, (victim, signal.SIGKILL))
        timer.start()
        got = b.map("__import__('time').sleep(0.02) or x * 2", range(120), chunksize=2)
        timer.join()
        assert got == [i * 2 for i in range(120)]
        assert b.knownDead() == [1]
        # The server restarts it: a fresh check finds it alive.
        deadline = time.monotonic() + 20
        while b.getDead():
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert b[1].whoami()["pid"] != victim


def test_a_chunk_that_kills_every_engine_is_reported(local_options):
    # 4 engines: the chunk kills 2 of them (charged twice > max_retries), or 3
    # when a reset connection loses the answer of the chunk run before it.
    with srpy.local(engines=4, output=None, **local_options) as c:
        b = srpy.EngBox(c.engines)
        with pytest.raises(srpy.MapError) as info:
            b.map(
                "__import__('os')._exit(3) if x == 5 else x",
                range(30),
                chunksize=1,
                max_retries=1,
            )
        err = info.value
        assert list(err.errors) == [5]
        assert isinstance(err.errors[5], srpy.EngineDiedError)
        assert "not retried" in str(err.errors[5])
        assert [r for i, r in enumerate(err.results) if i != 5] == [
            i for i in range(30) if i != 5
        ]
        assert len(err.report["dead_engines"]) in (2, 3)
        assert b.known_dead() == sorted(err.report["dead_engines"])


def test_dead_state_lives_in_the_rust_box(three, local_options):
    z = srpy.local(1, output=None, **local_options)
    try:
        b = srpy.EngBox([*three.engines, *z.engines])
        sub = b[[3, 0]]
        z._server.stop()
        assert b.getDead() == [3]
        # Sub-boxes share the state; a changed engine list keeps it.
        assert sub.knownDead() == [0]
        b.append(three.engines[1])
        assert b.knownDead() == [3]
        del b[0]
        assert b.knownDead() == [2]
        b.engines.reverse()
        assert b.knownDead() == [1]
    finally:
        z.close()


def test_two_servers_search_and_a_stopped_server(local_options):
    a = srpy.local(2, output=None, server_args=["--name", "alpha", "--group", "red"], **local_options)
    z = srpy.local(1, output=None, server_args=["--name", "beta", "--group", "blue"], **local_options)
    try:
        b = srpy.EngBox([*a.engines, *z.engines])
        assert b.map("x * 3", range(300), chunksize=5)[299] == 897
        assert b.searchForEngine(name="alpha") == a.engines
        assert b.search_for_engine(group="blue") == z.engines
        assert b.searchForEngine(name="alpha", group="blue") == []
        assert b.searchForEngine(ip="127.0.0.1") == b.engines
        assert b.searchForEngine(ip="10.9.9.9") == []
        host = b[0].hostname
        assert b.searchForEngine(group="red", hostname=host) == a.engines
        assert b.searchForEngine(hostname="no-such-host") == []
        z.engines[0].setGroup("green")
        assert b.searchForEngine(group="green") == z.engines

        assert b.getFastest() in b.engines
        for basis in ("all", "net", "proc"):
            ranked = b.getFastest(single=False, basis=basis)
            assert sorted(ranked, key=b.engines.index) == b.engines
        with pytest.raises(ValueError):
            b.getFastest(basis="cpu")

        assert b.getDead() == []
        z._server.stop()  # the whole second server goes away
        assert b.knownDead() == [], "last known state"
        # A ping refused (the server is gone) counts.
        t = time.monotonic()
        assert b.getDead() == [2]
        assert time.monotonic() - t < 5
        assert b.get_dead(new=True).engines == z.engines
        assert b.knownDead() == [2]
        got = b.mrpwait(b.mrp.ping())
        assert got[a.engines[0]] == "pong"
        assert isinstance(got[z.engines[0]], srpy.SRPyError)
        # A map still completes on the live engines.
        assert b.map("x", range(50), chunksize=3) == list(range(50))
        removed = b.cleanDead()
        assert removed == z.engines and b.engines == a.engines
        assert b.getDead() == []
    finally:
        a.close()
        z.close()
