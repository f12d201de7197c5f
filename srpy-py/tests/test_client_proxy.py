"""The ``ns`` attribute proxy and function proxies."""

from __future__ import annotations

import pytest
import srpy


def test_ns_variables(eng):
    eng.ns.a = 3
    assert eng.get("a") == 3
    assert eng.ns.a == 3
    eng.ns.b = [1, (2, 3)]
    assert eng.ns.b == [1, (2, 3)]
    assert dir(eng.ns) == ["a", "b"]
    assert eng.ns.dir() == ["a", "b"]
    assert "a" in eng.ns and "zz" not in eng.ns
    del eng.ns.a
    assert eng.get() == ["b"]
    with pytest.raises(NameError):
        eng.ns.a  # noqa: B018
    with pytest.raises(NameError):
        del eng.ns.a
    assert repr(eng.ns) == f"<namespace of {eng.uri}>"


def test_ns_modules_and_functions(eng):
    eng.imp("math")
    assert eng.ns.math.sqrt(3) == pytest.approx(1.7320508075688772)
    assert eng.ns.math.pi == pytest.approx(3.141592653589793)
    assert isinstance(eng.ns.math, srpy.RemoteModule)
    assert "sqrt" in dir(eng.ns.math)
    assert eng.ns.math.kind == "module"
    # modules not imported in the namespace resolve too, nested ones as well
    assert eng.ns.os.path.join("a", "b") == "a/b"
    assert eng.ns.os.path.sep == "/"
    assert eng.ns.json.dumps([1]) == "[1]"
    assert isinstance(eng.ns.xml.dom.minidom, srpy.RemoteModule)
    assert eng.ns.collections.abc.Mapping.__name__ == "Mapping"


def test_ns_remote_functions_and_objects(eng):
    eng.exe(
        "class Box:\n"
        "    '''A box.'''\n"
        "    def __init__(self):\n"
        "        self.v = 1\n"
        "    def get(self, k=0):\n"
        "        '''Get it.'''\n"
        "        return self.v + k\n"
        "box = Box()\n"
        "def f(x, *, timeout=None):\n"
        "    '''Doubles.'''\n"
        "    return 2 * x, timeout\n"
    )
    assert eng.ns.f(21) == (42, None)
    assert eng.ns.f(1, timeout=5) == (2, 5), "keywords are forwarded"
    assert eng.ns.f.__doc__ == "Doubles."
    assert eng.ns.f.__name__ == "f"
    assert eng.ns.f.signature == "(x, *, timeout=None)"
    assert isinstance(eng.ns.box, srpy.RemoteObject), "an instance cannot travel: a proxy"
    assert eng.ns.box.kind == "value"
    assert eng.ns.box.get(k=2) == 3
    assert eng.ns.box.v == 1
    eng.ns.box.v = 10
    assert eng.eval("box.v") == 10
    del eng.ns.box.v
    assert eng.eval("hasattr(box, 'v')") is False
    assert eng.ns.Box.__doc__ == "A box."
    assert isinstance(eng.ns.Box, srpy.RemoteFunction)


def test_ns_dunders_stay_local(eng):
    ns = eng.ns
    assert not hasattr(ns, "__array__")
    assert not hasattr(ns, "__deepcopy__")
    with pytest.raises(AttributeError):
        ns.__wrapped__  # noqa: B018


def test_function_proxy(eng):
    sqrt = eng.function("math.sqrt")
    assert sqrt(16) == 4.0
    assert sqrt.__doc__.startswith("Return the square root of x.")
    assert sqrt.__name__ == "sqrt"
    assert sqrt.__qualname__ == "math.sqrt"
    assert repr(sqrt) == f"<RemoteFunction math.sqrt on {eng.uri}>"
    assert sqrt.submit(25).result() == 5.0
    with pytest.raises(ValueError):
        sqrt(-1)
    eng.exe("from math import sqrt")
    f = eng.associateFunction("sqrt")
    assert f(3) == pytest.approx(1.7320508075688772)


def test_function_proxy_timeout(eng):
    sleepy = eng.function("time.sleep", timeout=0.2)
    with pytest.raises(srpy.SRPyTimeoutError):
        sleepy(5)
    assert eng.eval("1") == 1


def test_missing_function(eng):
    with pytest.raises(NameError):
        eng.function("nope_not_here")
    with pytest.raises(AttributeError):
        eng.function("math.nope")
