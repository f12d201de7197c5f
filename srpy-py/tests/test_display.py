"""How engines, boxes, maps and errors show themselves (short ``repr``,
``_repr_html_``), against real engines: busy, idle, restarted and dead."""

from __future__ import annotations

import os
import signal
import time

import pytest
import srpy
from srpy._display import STATUS_TIMEOUT, engine_rows


def _wait(predicate, limit=10.0):
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_states_restarts_rss_and_dead(local_options):
    c = srpy.local(engines=2, output=None, **local_options)
    try:
        first_pid = c[1].whoami()["pid"]
        busy = c[1].exe_async("import time; time.sleep(1.5)")
        _wait(lambda: c[1].is_busy())
        rows = engine_rows(c.engines)
        assert [r["state"] for r in rows] == ["idle", "busy"]
        assert [r["restarts"] for r in rows] == [0, 0]
        assert rows[1]["pid"] == first_pid and all(r["rss"] > 1_000_000 for r in rows)
        assert repr(c).endswith(": 1 idle, 1 busy>")
        assert repr(c[1]) == f"<PythonEngine 1 at {c[1].uri}, pid {first_pid} busy>"
        html = c._repr_html_()
        assert html.count("<tr>") == 3 and ">busy<" in html and "MiB" in html
        busy.result(10)

        # A killed engine is restarted by its server: a new pid, one restart.
        os.kill(first_pid, signal.SIGKILL)
        _wait(lambda: engine_rows([c[1]])[0]["restarts"] == 1)
        (row,) = engine_rows([c[1]])
        assert row["pid"] != first_pid and row["state"] in ("idle", "dead")

        # A dead server: every engine shows dead, quickly, without RSS.
        os.kill(c.pid, signal.SIGKILL)
        _wait(lambda: not c.running)
        start = time.monotonic()
        assert repr(c).endswith(": 2 dead>")
        rows = engine_rows(c.engines)
        assert time.monotonic() - start < 3 * STATUS_TIMEOUT + 1
        assert [(r["state"], r["rss"], r["restarts"]) for r in rows] == [("dead", None, None)] * 2
        assert "<td>dead</td><td>-</td><td>-</td>" in c._repr_html_()
    finally:
        c.close()
    assert repr(c).endswith(": 2 closed>")


def test_a_silent_engine_is_no_answer_not_dead(local_options):
    # A stopped process keeps its connection but answers nothing, not even
    # the network thread's is_busy: it is not dead, and the display says so.
    c = srpy.local(engines=2, output=None, **local_options)
    try:
        pid = c[0].whoami()["pid"]
        os.kill(pid, signal.SIGSTOP)
        try:
            start = time.monotonic()
            rows = engine_rows(c.engines)
            assert STATUS_TIMEOUT <= time.monotonic() - start < 3 * STATUS_TIMEOUT + 1
        finally:
            os.kill(pid, signal.SIGCONT)
        assert [r["state"] for r in rows] == ["no answer", "idle"]
        assert rows[0]["pid"] == pid
        assert c[0].eval("1 + 1") == 2
        assert [r["state"] for r in engine_rows(c.engines)] == ["idle", "idle"]
    finally:
        c.close()


def test_info_is_the_long_form(eng):
    info = eng.info()
    assert isinstance(info, dict) and info["pid"] == eng.whoami()["pid"]
    assert isinstance(info["rss"], int) and info["rss"] > 0
    assert str(info).splitlines()[0] == f"OS System: {info['OS System']}"
    assert "<td>pid</td>" in info._repr_html_()
    assert "\n" not in repr(eng)


def test_map_in_flight_and_map_error(cluster):
    box = srpy.EngBox(cluster.engines)
    run = box.imap("__import__('time').sleep(0.05) or x", range(20), chunksize=1)
    assert isinstance(run, srpy.MapRun)
    assert repr(run) == "<map of 20 item(s) on 2 engine(s): 0 done, running>"
    assert next(run) == 0 and run.done >= 1
    assert "<progress value=" in run._repr_html_()
    run.close()
    assert run.state == "stopped"
    unstarted = box.imap("x", range(5))
    unstarted.close()
    assert unstarted.state == "stopped"
    assert list(box.imap("x + 1", range(3))) == [1, 2, 3]
    with pytest.raises(srpy.MapError) as info:
        box.map("1 / x", range(3))
    err = info.value
    assert repr(err) == (
        "<MapError: map item 0 failed (1 of 3 item(s) failed): ZeroDivisionError: division by zero>"
    )
    assert "<td>0</td><td>ZeroDivisionError</td>" in err._repr_html_()


def test_box_error_renders_remote_tracebacks(cluster):
    box = srpy.EngBox(cluster.engines)
    box.engines[0].set(d=0)
    box.engines[1].set(d=1)
    with pytest.raises(srpy.BoxError) as info:
        box.exe("x = 1\ny = 1 / d")
    lines = info.value._render_traceback_()
    assert lines[0] == "BoxError: exec failed on 1 of 2 engine(s)"
    assert lines[2] == f"[0:ZeroDivisionError] {box.engines[0].uri}"
    assert any("line 2" in line for line in lines) and lines[-1].startswith("ZeroDivisionError")
