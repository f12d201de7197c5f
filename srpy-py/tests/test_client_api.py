"""Every method of ``srpy.PythonEngine``, under its original name and its
snake_case twin, against real engines."""

from __future__ import annotations

import math
import threading
import time

import pytest
import srpy


def test_connect_and_describe_the_engine(cluster, eng):
    assert isinstance(eng, srpy.PythonEngine)
    assert eng.uri == cluster.engine_uri(0)
    assert eng.getURI() == eng.get_uri() == eng.uri
    assert eng.index == 0
    assert eng.ip == "127.0.0.1"
    assert eng.port == int(cluster.uri.rsplit(":", 1)[1])
    info = eng.whoami()
    for key in ("OS System", "Hostname", "Python Version", "PythonEngine ID", "pid"):
        assert key in info
    assert eng.getHostname() == eng.get_hostname() == info["Hostname"]
    assert eng.getSystem() == eng.get_system() == info["OS System"]
    assert eng.info()["PythonEngine ID"] == info["PythonEngine ID"]
    # The repr is one short line; the long form is info().
    assert repr(eng) == str(eng) == f"<PythonEngine 0 at {eng.uri}, pid {info['pid']} idle>"
    long = str(eng.info())
    assert f"Hostname: {info['Hostname']}\n" in long and len(long.splitlines()) == len(info)
    text = eng.getInfoString()
    assert text.startswith(f"PythonEngine {info['PythonEngine ID']} at {eng.uri}\n")
    assert f"Hostname: {info['Hostname']}" in text
    assert eng.get_info_string() == text


def test_name_and_group(cluster, eng):
    # Defaults: the server's --name (its host name) and --group.
    assert eng.name == eng.info()["Hostname"] or eng.name
    assert eng.group == "default"
    assert eng.getGroup() == eng.get_group() == "default"
    eng.setGroup("workers")
    try:
        assert eng.group == eng.getGroup() == "workers"
        eng.set_group("other")
        assert eng.get_group() == "other"
    finally:
        eng.setGroup("default")
    with srpy.PythonEngine(cluster.engine_uri(1), name="n1", group="g1", output=None) as e:
        assert (e.name, e.group) == ("n1", "g1")


def test_connect_function_and_context_manager(cluster):
    with srpy.connect(cluster.engine_uri(1), output=None) as e:
        assert e.ping() == "pong"
        assert not e.closed
    assert e.closed
    with pytest.raises(srpy.EngineClosed):
        e.ping()


def test_uri_forms(cluster):
    host_port = cluster.uri.removeprefix("srpy://")
    for uri in (f"{host_port}/1", f"SRPY://{host_port}/1", f"srpy://{host_port}/1/"):
        with srpy.PythonEngine(uri, output=None) as e:
            assert e.eval("1") == 1
            assert e.index == 1


def test_set_get_clear(eng):
    assert eng.get() == []
    assert eng.set(a=5, b=3) is None
    c = 1
    eng.set(c=c)
    assert eng.get() == ["a", "b", "c"]
    assert eng.get("a") == 5
    assert eng.get(["a", "b"]) == {"a": 5, "b": 3}
    assert eng.get(("c", "a")) == {"c": 1, "a": 5}
    eng.set({"timeout": 7, "a": 6})
    assert eng.get(["timeout", "a"]) == {"timeout": 7, "a": 6}
    assert eng.clear() is None
    assert eng.get() == []


def test_delete(eng):
    eng.set(a=1, b=2, c=3)
    eng.delete("a", "b")
    assert eng.get() == ["c"]
    with pytest.raises(NameError):
        eng.delete("c", "nope")
    assert eng.get() == ["c"], "all or nothing"


def test_eval_and_exe(eng):
    assert eng.eval("a+b", a=2, b=3) == 5
    assert eng.get(["a", "b"]) == {"a": 2, "b": 3}, "eval binds vars persistently"
    assert eng.exe("import math; n = math.sqrt(n)", n=2) is None
    assert eng.get("n") == math.sqrt(2)
    eng.exec_("m = n * 2")
    assert eng.eval("m") == 2 * math.sqrt(2)
    eng.exe("def f(x):\n    return x + 1\n")
    assert eng.eval("f(41)") == 42


def test_vexe_leaves_the_namespace_alone(eng):
    eng.set(keep=1)
    got = eng.vexe("import math; a=math.sqrt(n); b=a**2", get=["a", "b"], n=2)
    assert got == {"a": math.sqrt(2), "b": math.sqrt(2) ** 2}
    assert eng.vexec("x = 3", ["x"]) == {"x": 3}
    assert eng.vexe("y = 4", get="y") == {"y": 4}
    assert eng.vexe("z = 1") == {}
    assert eng.get() == ["keep"], "nothing leaks"
    with pytest.raises(NameError):
        eng.vexe("pass", get=["keep"]), "only vars are visible"


def test_call_and_describe(eng):
    assert eng.call("math.hypot", 3, 4) == 5.0
    assert eng.call("divmod", 7, 2) == (3, 1)
    eng.exe("def kw(a, *, b=0, timeout=None):\n    return (a, b, timeout)")
    assert eng.call("kw", 1, b=2) == (1, 2, None)
    d = eng.describe("math.sqrt")
    assert d["kind"] == "function"
    assert d["name"] == "math.sqrt"
    assert "square root" in d["doc"]
    assert eng.describe("math")["kind"] == "module"
    assert "sqrt" in eng.describe("math")["attributes"]
    eng.set(v=3)
    assert eng.describe("v")["kind"] == "value"


def test_imp(eng):
    eng.imp("math", "json")
    assert eng.get() == ["json", "math"]
    eng.import_("os.path as osp, collections")
    assert set(eng.get()) == {"json", "math", "osp", "collections"}
    assert eng.eval("osp.join('a', 'b')") == "a/b"
    with pytest.raises(ModuleNotFoundError):
        eng.imp("no_such_module_here")


def test_ping_busy_wait(eng, eng1):
    assert eng.ping() == "pong"
    assert eng.isBusy() is False
    assert eng.is_busy() is False
    assert eng.wait() is True
    assert eng.wait(0.5) is True
    f = eng.exe_async("import time; time.sleep(0.6)")
    try:
        # answered at once although the engine is busy
        assert eng1.ping() == "pong"
        assert eng.ping(timeout=0.3) == "pong"
        assert eng.isBusy() is True
        assert eng.wait(0.05) is False
        assert eng.wait(5) is True
        assert eng.is_busy() is False
    finally:
        f.result(10)


def test_benchmark(eng):
    net, proc, busy = eng.benchmark()
    assert 0 < net < 0.1
    assert 0 < proc < 10
    assert busy is False
    _net2, proc2, _ = eng.benchmark(cycles=2)
    assert proc2 < proc * 5


def test_interrupt_when_idle(eng):
    assert eng.interrupt() is False
    assert eng.eval("1") == 1


def test_restart_gives_a_fresh_engine(private):
    e = private[0]
    e.set(x=1)
    pid = e.whoami()["pid"]
    e.restart()
    assert e.get() == []
    assert e.whoami()["pid"] != pid


def test_ns_and_function_attributes(eng):
    assert isinstance(eng.ns, srpy.Namespace)
    f = eng.associateFunction("math.sqrt")
    assert isinstance(f, srpy.RemoteFunction)
    assert f(9) == 3.0
    assert eng.associate_function("math.floor")(2.5) == 2
    assert f.__name__ == "sqrt"
    assert "square root" in f.__doc__


def test_timeout_values(eng):
    assert eng.timeout is None
    assert eng.eval("1", timeout=5) == 1
    assert eng.eval("1", timeout=math.inf) == 1
    with pytest.raises(ValueError):
        eng.eval("1", timeout=-1)


def test_connecting_does_not_wait_for_a_busy_engine(cluster, eng):
    f = eng.exe_async("import time; time.sleep(1)")
    try:
        start = time.monotonic()
        other = srpy.PythonEngine(cluster.engine_uri(0), output=None)
        # The repr asks only what a busy engine answers at once.
        assert repr(other).startswith("<PythonEngine 0 at ") and repr(other).endswith(" busy>")
        assert other.ping() == "pong"
        assert other.isBusy() is True
        assert time.monotonic() - start < 0.5
        other.close()
    finally:
        f.result(10)


def test_short_and_long_jobs_with_pings_from_another_connection(cluster, eng):
    # The engine's interpreter thread reads requests while idle and hands
    # the I/O to another thread only for jobs that run a while: back-to-back
    # short jobs, jobs around the hand-over time, and pings from a second
    # connection all meanwhile, none may stall.
    other = srpy.PythonEngine(cluster.engine_uri(0), output=None)
    stop = threading.Event()
    errors: list[BaseException] = []
    pings = [0]

    def pinger() -> None:
        try:
            while not stop.is_set():
                assert other.ping(timeout=5) == "pong"
                pings[0] += 1
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    t = threading.Thread(target=pinger)
    t.start()
    try:
        for i in range(1000):
            assert eng.eval("x + 1", x=i, timeout=5) == i + 1
        for seconds in (0.0002, 0.0009, 0.0011, 0.003, 0.02, 0.2):
            eng.exe(f"import time; time.sleep({seconds})", timeout=5)
            assert eng.eval("'still here'", timeout=5) == "still here"
    finally:
        stop.set()
        t.join(10)
        other.close()
    assert not errors, errors
    assert pings[0] > 10
