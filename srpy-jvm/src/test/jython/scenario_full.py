# The whole Jython API of the `srpy` module from the jar, against a real server.
# Run: java -cp jython-standalone.jar:srpy.jar org.python.util.jython scenario_full.py srpy://host:port
import datetime
import decimal
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, raises, report

import srpy

server = sys.argv[1]
eng = srpy.connect(server + "/0")
eng.clear()


@check
def values_round_trip():
    vals = [
        None, True, False, 0, -5, 2 ** 63 - 1, -2 ** 63, 2 ** 100, -(3 ** 90), 1.5, float("inf"), -0.0,
        u"h\u00e9llo", u"\U0001F600", "plain", [1, [2]], (1, (2,)), (), {1: "a", (1, 2): "t", None: 0},
        set([1, 2]), frozenset([3]), 1 - 2j, datetime.datetime(2024, 1, 2, 3, 4, 5, 123456),
        datetime.date(1999, 12, 31), decimal.Decimal("1.50"), decimal.Decimal("-1E+3"),
    ]
    for v in vals:
        eng.set(v=v)
        back = eng.get("v")
        if isinstance(v, frozenset):
            v = set(v)
        assert back == v, (v, back)
        assert type(back) in (type(v), int, long, unicode, str), (type(v), type(back))
    assert eng.eval("type(v).__name__") == "Decimal"
    nan = eng.eval("float('nan')")
    assert nan != nan
    neg = eng.eval("-0.0")
    assert str(neg) == "-0.0"
    assert eng.eval("(1, [2])") == (1, [2]) and isinstance(eng.eval("(1,)"), tuple)
    assert isinstance(eng.eval("{1, 2}"), set)
    assert eng.eval("'text'") == u"text" and isinstance(eng.eval("'text'"), unicode)
    assert isinstance(eng.eval("7"), int) and isinstance(eng.eval("2**80"), long)


@check
def bytes_and_bytearrays():
    eng.set(b=bytearray("\x00\x01\xff"))
    assert eng.eval("type(b).__name__") == "bytes"
    back = eng.get("b")
    assert back == "\x00\x01\xff" and isinstance(back, str)
    eng.set(b2=srpy.Bytes("ab"))
    assert eng.eval("b2 == b'ab'")
    eng.set(t="ab")
    assert eng.eval("t == 'ab'")
    big = "x" * (8 * 1024 * 1024)
    eng.set(big=bytearray(big))
    assert eng.eval("len(big)") == len(big)
    assert eng.get("big") == big


@check
def keys_colliding_in_python_are_refused():
    # PROTOCOL.md 7.2: Long 1 and Double 1.0 are distinct in Java (and on the
    # wire) but equal in Python: refused, naming both, never dropped.
    from java.lang import Double, Long
    from java.util import LinkedHashMap, LinkedHashSet
    m = LinkedHashMap()
    m.put(Long(1), "a")
    m.put(Double(1.0), "b")
    e = raises(srpy.NotTransferableError, srpy.topy, m)
    assert "1 and 1.0" in str(e), str(e)
    s = LinkedHashSet()
    s.add(Long(1))
    s.add(Double(1.0))
    e = raises(srpy.NotTransferableError, srpy.topy, s)
    assert "1 and 1.0" in str(e), str(e)


@check
def aware_datetimes():
    v = eng.eval("__import__('datetime').datetime(2020, 1, 1, 12, tzinfo=__import__('datetime').timezone(__import__('datetime').timedelta(hours=2)))")
    assert v.utcoffset() == datetime.timedelta(hours=2), v
    eng.set(aw=v)
    assert eng.eval("aw.isoformat()") == "2020-01-01T12:00:00+02:00"


@check
def ndarrays_arrive_as_ndarray():
    if not eng.eval("__import__('importlib.util').util.find_spec('numpy') is not None"):
        print "      (numpy missing: skipped)"
        return
    a = eng.eval("__import__('numpy').arange(6.0).reshape(2, 3)")
    assert isinstance(a, srpy.NDArray)
    assert list(a.getShape()) == [2, 3] and list(a.doubles()) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    eng.set(a=a)
    assert eng.eval("a.sum()") == 15.0


@check
def set_forms_and_get_forms():
    eng.clear()
    eng.set(a=1)
    eng.set("b", 2)
    eng.set({"c": 3})
    assert eng.get() == [u"a", u"b", u"c"]
    assert eng.names() == [u"a", u"b", u"c"]
    assert eng.get("b") == 2
    assert eng.get(["c", "a"]) == {"c": 3, "a": 1}
    eng.delete("b")
    assert eng.get() == [u"a", u"c"]


@check
def eval_exec_vexec_call():
    assert eng.eval("a + b", a=2, b=3) == 5
    eng.exe("r = a * b", a=6, b=7)
    assert eng.get("r") == 42
    eng.exec_("r2 = r + 1")
    assert eng.get("r2") == 43
    assert eng.vexe("c = n * 2\nd = c + 1", get=["c", "d"], n=2) == {"c": 4, "d": 5}
    assert eng.vexec("e = 1", get="e") == 1
    assert "n" not in eng.get()
    eng.exe("def f(x, y=10, *, z=0):\n    'adds'\n    return x + y + z")
    assert eng.call("f", 1) == 11
    assert eng.call("f", 1, 2, z=100) == 103
    assert eng.describe("f")["kind"] == "function"


@check
def ns_proxy():
    eng.ns.q = [1, 2]
    assert eng.ns.q == [1, 2]
    assert "q" in dir(eng.ns)
    del eng.ns.q
    assert "q" not in eng.get()
    assert eng.ns.math.sqrt(9) == 3.0
    assert eng.ns.os.path.basename("/a/b") == "b"
    eng.exe("class K:\n    pass\nk = K()")
    eng.ns.k.attr = 5
    assert eng.eval("k.attr") == 5
    assert eng.ns.k.attr == 5
    raises(AttributeError, lambda: eng.ns.no_such_name)


@check
def functions():
    f = eng.function("f")
    assert f(1, y=1) == 2
    assert f.__doc__ == "adds"
    g = eng.associate_function("math.hypot")
    assert g(3, 4) == 5.0


@check
def install_modules_and_packages():
    d = tempfile.mkdtemp()
    try:
        m = open(os.path.join(d, "jy_mod.py"), "w")
        m.write("def twice(x):\n    return 2 * x\n")
        m.close()
        os.mkdir(os.path.join(d, "jy_pkg"))
        p = open(os.path.join(d, "jy_pkg", "__init__.py"), "w")
        p.write("from .sub import V\n")
        p.close()
        s = open(os.path.join(d, "jy_pkg", "sub.py"), "w")
        s.write("V = 99\n")
        s.close()
        sys.path.insert(0, d)
        eng.install("jy_mod", "jy_pkg")
        eng.imp("jy_mod", "jy_pkg")
        assert eng.eval("jy_mod.twice(4)") == 8
        assert eng.eval("jy_pkg.V") == 99
        eng.install("jy_src", source="X = 'from source'\n")
        eng.imp("jy_src")
        assert eng.eval("jy_src.X") == "from source"
    finally:
        sys.path.remove(d) if d in sys.path else None
        shutil.rmtree(d)


@check
def exceptions():
    e = raises(KeyError, eng.eval, "{}['k']")
    assert isinstance(e, srpy.RemoteError) and e.remote_type == "KeyError"
    assert "Traceback" in e.remote_traceback
    raises(ZeroDivisionError, eng.eval, "1/0")
    e = raises(MemoryError, eng.eval, "bytearray(1 << 60)")
    assert isinstance(e, srpy.RemoteError) and e.remote_type == "MemoryError"
    assert e.remote_message == "the engine ran out of memory", e.remote_message
    raises(NameError, eng.get, "no_such_var")
    raises(SyntaxError, eng.exe, "def (")
    raises(ValueError, eng.eval, "int('x')")
    eng.exe("class MyErr(Exception):\n    pass")
    e = raises(srpy.RemoteError, eng.exe, "raise MyErr('custom')")
    assert e.remote_type.endswith("MyErr") and "custom" in str(e)
    raises(srpy.NotTransferableError, eng.eval, "__import__('os')")
    raises(TypeError, eng.set, x=object())
    raises(srpy.TimeoutError, eng.eval, "__import__('time').sleep(10)", timeout=0.2)
    assert eng.wait(10)
    raises(srpy.AuthError, srpy.PythonEngine, server + "/0", token="wrong")
    raises(srpy.SRPyServerNotFound, srpy.PythonEngine, "srpy://127.0.0.1:1/0")
    assert issubclass(srpy.SRPyServerNotFound, srpy.SRPyError)


@check
def interrupt_from_another_thread():
    f = eng.eval_async("__import__('time').sleep(20)")
    time.sleep(0.3)
    assert eng.isBusy() and eng.is_busy()
    assert eng.interrupt()
    raises(srpy.InterruptedError, f.result, 10)
    assert eng.ping() == "pong"


@check
def futures():
    fs = [eng.eval_async("%d * 2" % i) for i in range(20)]
    assert [f.result(10) for f in fs] == [i * 2 for i in range(20)]
    assert eng.call_async("max", 1, 5).result() == 5
    eng.exe_async("fut = 1").result()
    assert eng.submit("get", "fut").result() == 1
    assert eng.eval_async("1/0").exception(10) is not None


@check
def output_handler():
    seen = []
    eng.set_output_handler(lambda stream, text: seen.append((stream, text)))
    eng.exe("import sys\nprint('hi')\nprint('err', file=sys.stderr)")
    assert ("stdout", "hi\n") in seen and ("stderr", "err\n") in seen, seen
    eng.set_output_handler(None)
    eng.exe("print('dropped')")
    eng._j.setOutputHandler(srpy._OUTPUT)


@check
def threads_share_an_engine():
    errors = []

    def work(i):
        try:
            for k in range(30):
                assert eng.eval("%d + %d" % (i, k)) == i + k
        except Exception, e:
            errors.append(e)
    ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors


@check
def state_accessors():
    e = srpy.PythonEngine(server + "/1", name="worker", group="g1")
    assert e.getURI() == server + "/1" and e.get_uri() == e.getURI()
    assert e.name == "worker" and e.getGroup() == "g1"
    e.setGroup("g2")
    assert e.group == "g2"
    assert e.getHostname() == e.whoami()["Hostname"]
    assert e.getSystem()
    assert "pid" in e.getInfoString()
    assert "worker" in repr(e)
    b = e.benchmark()
    assert len(b) == 3
    e.close()
    raises(srpy.EngineClosedError, e.ping)
    with srpy.PythonEngine(server + "/1") as e2:
        assert e2.ping() == "pong"


@check
def engbox_and_local_servers():
    with srpy.local(2) as engines:
        assert len(engines) == 2
        assert isinstance(engines, srpy.EngBox), "srpy.local() answers a box"
        assert engines[0] is engines.getEngines()[0]
        assert len(engines[[1]]) == 1 and isinstance(engines[0:1], srpy.EngBox)
        box = srpy.EngBox(engines)
        assert box.mrs.eval("1+1").values() == [2, 2]
        assert box.mrs.eval("1+1").keys() == box.getEngines()
        assert box.mrpwait(box.mrp.ping()).values() == ["pong", "pong"]
        r = box.mrpwait(box.mrp.eval("1/0")).values()
        assert all(isinstance(x, ZeroDivisionError) for x in r), r
        assert box.map("abs", [-1, -2, -3, -4]) == [1, 2, 3, 4]
        assert box.map("pow", [2, 3], 3) == [8, 27]
        assert box.map_expr("x * x", range(100)) == [i * i for i in range(100)]
        box.scatter("part", range(10))
        assert box.mrpwait(box.mrp.eval("len(part)")).values() == [5, 5]
        assert box.gather("part") == range(10)
        box.mrpwait(box.mrp.set(kw=3))
        assert box.mrs.eval("kw + k", k=1).values() == [4, 4]
        assert box.mrpwait(box.mrp.call("max", 1, 8)).values() == [8, 8]
        assert box.mrpwait(box.mrp.imp("math")).values() == [None, None]
        # SRPy 0.2: mrp returns at once ('__null__' until done); mrpwait waits.
        slow = box.mrp.exe("import time; time.sleep(1)")
        assert slow.values() == ["__null__", "__null__"], slow.values()
        late = box.mrpwait(slow, timeout=0.2).values()
        assert all(isinstance(x, srpy.SRPyTimeoutError) for x in late), late
        assert box.mrpwait(slow).values() == [None, None]
        bench = box.mrpwait(box.mrp.benchmark(2), timeout=-1).values()
        assert bench[0][2] is False
        assert box.mrpwait(box.mrp.getHostname()).values()[0] == engines[0].getHostname()
        raises(ValueError, box.map, "math.sqrt", [1, -1])
        assert box.getFastest() in box.getEngines()
        fastest = box.getFastest(single=False, basis="net")
        assert isinstance(fastest, srpy.EngBox) and len(fastest) == 2
        raises(TypeError, box.getFastest, True, "both")
        assert box.searchForEngine(hostname=engines[0].getHostname()) == box.getEngines()
        assert box.searchForEngine(ip="127.0.0.1") == box.getEngines()
        extra = box.startAndAppend(engines.uri + "/1", token=engines.token)[0]
        extra.close()
        assert box.getDead() == [2]
        # (A closed handle cannot join a box: getDead(new=True) is checked
        # below with engines whose server is gone.)
        assert box.cleanDead() == [extra] and len(box) == 2
        # get of a missing name: KeyError (SRPy 0.2) and NameError.
        raises(KeyError, engines[0].get, "no_such_var")
        raises(NameError, engines[0].get, "no_such_var")
        errs = box.mrs.get("lets_cause_an_error").values()
        assert all(isinstance(x, KeyError) for x in errs), errs


@check
def public_names_are_there():
    for name in srpy.__all__:
        assert hasattr(srpy, name), name
    assert srpy.TimeoutError is srpy.SRPyTimeoutError
    assert srpy.InterruptedError is srpy.RemoteInterrupted
    assert srpy.NotTransferableError is srpy.NotTransferable
    assert srpy.SRPyTimeoutError.__module__ == "srpy"


@check
def a_server_that_is_gone_is_dead():
    gone = srpy.local(1)
    box = srpy.EngBox(gone.getEngines())
    assert box.getDead() == []
    gone.server.close()
    assert box.getDead() == [0]
    dead = box.getDead(new=True)
    assert isinstance(dead, srpy.EngBox) and dead.getEngines() == box.getEngines()
    gone.close()


@check
def new_sub_engine():
    uri, srv = srpy.newSubEngine()
    try:
        e = srpy.PythonEngine(uri, token=srv.getToken())
        assert e.ping() == "pong"
        e.close()
    finally:
        srv.close()


report()
