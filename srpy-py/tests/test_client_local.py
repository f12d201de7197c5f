"""Engine death and restart; ``local``, ``newSubEngine``, ``detectNCPUs``."""

from __future__ import annotations

import os
import sys
import time

import pytest
import srpy


def test_engine_death_then_reconnect(private):
    e = private[0]
    e.set(x=1)
    pid = e.whoami()["pid"]
    with pytest.raises(srpy.EngineDiedError) as info:
        e.exe("import os; os._exit(3)")
    assert e.uri in str(info.value) or "engine 0" in str(info.value)
    # the server restarts the engine; the next call reconnects to it
    assert e.eval("1 + 1", timeout=30) == 2
    assert e.whoami()["pid"] != pid
    with pytest.raises(NameError):
        e.get("x")


def test_restart_while_a_call_is_in_flight(private):
    e = private[0]
    f = e.exe_async("import time; time.sleep(30)")
    time.sleep(0.3)
    private.restart(0)
    with pytest.raises(srpy.EngineDiedError):
        f.result(10)
    assert e.ping() == "pong"
    assert e.get() == []


def test_local_cluster(local_options):
    with srpy.local(engines=2, output=None, **local_options) as c:
        assert isinstance(c, srpy.LocalCluster)
        assert len(c) == 2
        assert [e.index for e in c] == [0, 1]
        assert c[1] is c.engines[1]
        # A box like any other (SRPy 0.2's EngBox indexing).
        assert isinstance(c[:1], srpy.EngBox) and c[:1].engines == [c.engines[0]]
        assert [e.index for e in c[[1, 0]]] == [1, 0]
        assert c.running
        assert c.uri.startswith("srpy://127.0.0.1:")
        assert os.path.exists(c.log_path)
        pids = {e.whoami()["pid"] for e in c}
        assert len(pids) == 2 and c.pid not in pids
        assert "LocalCluster" in repr(c)
        # The server has a process group of its own: a SIGINT to this
        # process's group (Ctrl-C, a Jupyter kernel's interrupt) spares it.
        assert os.getpgid(c.pid) == c.pid != os.getpgid(0)
        # engines of a cluster can be reached by URI alone (token remembered)
        with srpy.PythonEngine(c.engine_uri(1), output=None) as again:
            assert again.ping() == "pong"
        engines = list(c)
    assert not c.running
    with pytest.raises(srpy.EngineClosed):
        engines[0].ping()
    c.close()  # idempotent


def test_local_with_engine_options(local_options):
    with srpy.local(1, output="capture", timeout=0.3, **local_options) as c:
        e = c[0]
        e.exe("print('x')")
        assert e.last_output.stdout == "x\n"
        with pytest.raises(srpy.SRPyTimeoutError):
            e.exe("import time; time.sleep(5)")


def test_local_errors(local_options):
    with pytest.raises(ValueError):
        srpy.local(0, **local_options)
    with pytest.raises(srpy.SRPyError):
        srpy.local(1, server_bin="/nonexistent/srpy-server", python=local_options["python"])
    with pytest.raises(srpy.SRPyError, match="import srpy|python"):
        srpy.local(1, server_bin=local_options["server_bin"], python="/nonexistent/python3")


def test_new_sub_engine(local_options, monkeypatch):
    monkeypatch.setenv("SRPY_SERVER_BIN", local_options["server_bin"])
    uri, proc = srpy.newSubEngine(local_options["python"])
    try:
        assert uri.startswith("srpy://127.0.0.1:") and uri.endswith("/0")
        assert proc.poll() is None
        eng = srpy.PythonEngine(uri, output=None)
        assert eng.eval("40 + 2") == 42
        eng.close()
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
    uri2, proc2 = srpy.new_sub_engine(local_options["python"])
    proc2.kill()
    proc2.wait()
    assert uri2 != uri


def test_detect_ncpus():
    n = srpy.detectNCPUs()
    assert isinstance(n, int) and n >= 1
    assert srpy.detect_ncpus() == n
    assert n <= (os.cpu_count() or n)


def test_find_server_bin(monkeypatch):
    # An explicit binary, else SRPY_SERVER_BIN, else the package's own server.
    monkeypatch.setenv("SRPY_SERVER_BIN", "/some/where/srpy-server")
    assert srpy.find_server_bin() == ["/some/where/srpy-server"]
    assert srpy.find_server_bin("/mine/srpy-server") == ["/mine/srpy-server"]
    monkeypatch.delenv("SRPY_SERVER_BIN")
    assert srpy.find_server_bin() == [sys.executable, "-m", "srpy.server"]
