# An old-style SRPy script: only the original SRPy method names.
# Run: java -cp jython-standalone.jar:srpy.jar org.python.util.jython scenario_original.py srpy://host:port
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, raises, report

import srpy
from srpy import PythonEngine, EngBox

server = sys.argv[1]
eng = PythonEngine(server + "/0")
eng2 = PythonEngine(server + "/1")
eng.clear()


@check
def set_get_clear():
    eng.set(a=5, b=[1, 2, 3])
    assert eng.get('a') == 5
    assert eng.get('b') == [1, 2, 3]
    assert 'a' in eng.get() and 'b' in eng.get()
    assert eng.get(['a', 'b']) == {'a': 5, 'b': [1, 2, 3]}
    eng.clear()
    assert eng.get() == []


@check
def eval_exe_vexe():
    assert eng.eval("a + b", a=2, b=3) == 5
    eng.exe("c = a * 10", a=4)
    assert eng.get('c') == 40
    assert eng.vexe("d = n * 2", get=['d'], n=2) == {'d': 4}
    assert 'n' not in eng.get()


@check
def install_imp_ns():
    eng.imp('math')
    assert eng.ns.math.sqrt(16) == 4.0
    eng.ns.x = 3
    assert eng.ns.x == 3
    assert eng.eval("x") == 3


@check
def associate_function():
    f = eng.associateFunction('max')
    assert f(3, 9) == 9
    assert 'max' in (f.__doc__ or '')


@check
def whoami_ping_busy_wait_benchmark():
    assert eng.ping() == 'pong'
    assert 'pid' in eng.whoami()
    assert eng.isBusy() is False
    assert eng.wait(1) is True
    net, proc, busy = eng.benchmark(3)
    assert net > 0 and proc > 0 and busy is False


@check
def remote_errors_are_builtins():
    try:
        eng.eval("{}['k']")
    except KeyError:
        pass
    else:
        raise AssertionError("no KeyError")
    try:
        eng.eval("1/0")
    except ZeroDivisionError:
        pass


@check
def engbox():
    box = EngBox([eng])
    box.append(eng2)
    assert len(box.getEngines()) == 2
    assert box.mrs.eval("1+1").values() == [2, 2]
    # The 2009 idiom: mrp returns at once, mrpwait waits.
    assert box.mrpwait(box.mrp.eval("2+2")).values() == [4, 4]
    assert box.mrpwait(box.mrp.ping(), timeout=10).values() == ['pong', 'pong']
    assert len(box.mrpwait(box.mrp.benchmark())) == 2
    assert len(box.searchForEngine()) == 2
    assert box.getFastest(single=True) in box.getEngines()
    assert box.getDead() == []
    assert box.cleanDead() == []
    box.startAndAppend(server + "/1")
    assert len(box.getEngines()) == 3


@check
def detect_ncpus():
    assert srpy.detectNCPUs() >= 1


report()
