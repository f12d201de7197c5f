"""Tests of srpy/_executor.py (loaded by file path)."""

from __future__ import annotations

import functools
import importlib.util
import io
import math
import os
import pickle
import sys
import uuid
import zipfile

import pytest

_EXECUTOR_PATH = os.path.normpath(
    os.path.join(
        os.path.dirname(os.path.abspath(__file__)),
        os.pardir,
        "python",
        "srpy",
        "_executor.py",
    )
)


def _load_executor_module():
    spec = importlib.util.spec_from_file_location(
        "srpy_executor_under_test", _EXECUTOR_PATH
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ex_mod = _load_executor_module()
VERSIONS = {"srpy": "0.1.0", "protocol": 1}


@pytest.fixture
def install_dir(tmp_path):
    path = tmp_path / "site"
    path.mkdir()
    return path


@pytest.fixture
def executor(install_dir):
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    ex = ex_mod.Executor(7, str(install_dir), VERSIONS)
    try:
        yield ex
    finally:
        sys.path[:] = saved_path
        for name in set(sys.modules) - saved_modules:
            del sys.modules[name]
        importlib.invalidate_caches()


def unique(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def make_zip(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


# -- construction / dispatch -------------------------------------------------


def test_install_dir_is_first_on_sys_path(executor, install_dir):
    assert sys.path[0] == str(install_dir)


def test_fresh_namespace(executor):
    ns = executor.namespace
    assert ns["__name__"] == "__main__"
    assert ns["__builtins__"] is ex_mod.builtins
    assert executor.op_names() == []


def test_is_user_name():
    assert ex_mod.Executor.is_user_name("x")
    assert ex_mod.Executor.is_user_name("_private")
    assert not ex_mod.Executor.is_user_name("__name__")
    assert not ex_mod.Executor.is_user_name("__builtins__")


# -- namespace ops -----------------------------------------------------------


def test_set_and_get(executor):
    assert executor.op_set(vars={"b": 2, "a": [1, "x"], "__h__": 0}) is None
    assert executor.op_get(name="a") == [1, "x"]
    assert executor.op_get_many(names=["a", "b"]) == {"a": [1, "x"], "b": 2}
    assert executor.op_names() == ["a", "b"]


def test_get_missing_name_is_name_error(executor):
    executor.op_set(vars={"a": 1})
    with pytest.raises(NameError, match="name 'nope' is not defined"):
        executor.op_get(name="nope")
    with pytest.raises(NameError, match="'missing'"):
        executor.op_get_many(names=["a", "missing"])


def test_delete(executor):
    executor.op_set(vars={"a": 1, "b": 2, "c": 3})
    assert executor.op_delete(names=["a", "c"]) is None
    assert executor.op_names() == ["b"]
    with pytest.raises(NameError, match="'zzz'"):
        executor.op_delete(names=["b", "zzz"])
    # nothing is deleted when one of the names is missing
    assert executor.op_names() == ["b"]


def test_clear(executor):
    ns = executor.namespace
    executor.op_exec(code="x = 1\ndef f(): return 2")
    assert executor.op_names() == ["f", "x"]
    assert executor.op_clear() is None
    assert executor.op_names() == []
    assert executor.namespace is ns
    assert set(ns) == {"__name__", "__builtins__"}
    assert executor.op_eval(expr="len('abc')") == 3


# -- eval / exec / vexec -----------------------------------------------------


def test_eval_with_vars_persists(executor):
    assert executor.op_eval(expr="a * b", vars={"a": 6, "b": 7}) == 42
    assert executor.op_get(name="a") == 6
    assert executor.op_eval(expr="a + 1") == 7


def test_eval_code_cache_is_reused(executor, monkeypatch):
    calls = []
    real_compile = compile

    def counting_compile(*args, **kwargs):
        calls.append(args[0])
        return real_compile(*args, **kwargs)

    # shadow the builtin inside the module under test
    monkeypatch.setattr(ex_mod, "compile", counting_compile, raising=False)
    executor._code_cache.clear()
    executor.op_set(vars={"x": 1})
    for i in range(5):
        executor.op_set(vars={"x": i})
        assert executor.op_eval(expr="x + 100") == i + 100
    assert calls == ["x + 100"]
    assert list(executor._code_cache) == [("x + 100", "eval")]
    code = executor._code_cache[("x + 100", "eval")]
    assert code.co_filename == "<srpy-eval>"
    executor.op_exec(code="y = x")
    executor.op_exec(code="y = x")
    assert calls == ["x + 100", "y = x"]
    assert len(executor._code_cache) == 2


def test_code_cache_is_bounded(executor):
    executor._code_cache.clear()
    executor._code_cache_size = 4
    for i in range(10):
        assert executor.op_eval(expr=f"{i} + 1") == i + 1
    assert len(executor._code_cache) == 4
    assert ("9 + 1", "eval") in executor._code_cache
    assert ("0 + 1", "eval") not in executor._code_cache
    assert ex_mod.CODE_CACHE_SIZE <= 1024


def test_exec_defines_names(executor):
    code = "import math\ndef hyp(a, b):\n    return math.hypot(a, b)\nr = hyp(3, k)\n"
    assert executor.op_exec(code=code, vars={"k": 4}) is None
    assert executor.op_get(name="r") == 5.0
    assert executor.op_names() == ["hyp", "k", "math", "r"]


def test_eval_syntax_error_mentions_filename(executor):
    with pytest.raises(SyntaxError) as info:
        executor.op_eval(expr="1 +")
    assert info.value.filename == "<srpy-eval>"


def test_vexec_isolation(executor):
    executor.op_set(vars={"secret": 1})
    result = executor.op_vexec(
        code="z = a + b\nw = z * 2", get=["z", "w"], vars={"a": 1, "b": 2},
    )
    assert result == {"z": 3, "w": 6}
    # nothing leaks into the persistent namespace ...
    assert executor.op_names() == ["secret"]
    # ... and persistent names are not visible inside vexec
    with pytest.raises(NameError, match="secret"):
        executor.op_vexec(code="y = secret")
    # builtins are available
    assert executor.op_vexec(code="n = len('abcd')", get=["n"]) == {"n": 4}
    assert executor.op_vexec(code="q = 1") == {}


def test_vexec_missing_get_name(executor):
    with pytest.raises(NameError, match="'nothere'"):
        executor.op_vexec(code="a = 1", get=["a", "nothere"])


# -- call / describe ---------------------------------------------------------


def test_call_module_functions(executor):
    assert executor.op_call(name="math.sqrt", args=[16]) == 4.0
    expected = os.path.join("a", "b")
    assert (
        executor.op_call(name="os.path.join", args=["a", "b"]) == expected
    )
    # dotted submodule import through a top-level package
    assert executor.op_call(
        name="json.decoder.JSONDecoder"
    ).__class__.__name__ == ("JSONDecoder")


def test_call_function_defined_by_exec(executor):
    executor.op_exec(code="def f(a, b=10, *, c=0):\n    return a + b + c\n")
    assert executor.op_call(name="f", args=[1]) == 11
    assert executor.op_call(name="f", args=[1, 2], kwargs={"c": 3}) == 6
    executor.op_exec(
        code="class K:\n    def m(self, x):\n        return x * 3\nk = K()"
    )
    assert executor.op_call(name="k.m", args=[5]) == 15


def test_call_resolution_errors(executor):
    with pytest.raises(NameError, match="no_such_thing_xyz"):
        executor.op_call(name="no_such_thing_xyz.f")
    with pytest.raises(AttributeError, match="'math.nope'"):
        executor.op_call(name="math.nope")
    executor.op_set(vars={"v": 5})
    with pytest.raises(TypeError, match="'v' is not callable"):
        executor.op_call(name="v")
    with pytest.raises(TypeError, match="'math.pi' is not callable"):
        executor.op_call(name="math.pi")


def test_describe_module(executor):
    d = executor.op_describe(name="math")
    assert d["name"] == "math"
    assert d["kind"] == "module"
    assert d["type"] == "module"
    assert d["signature"] is None
    assert "sqrt" in d["attributes"]
    assert all(not a.startswith("_") for a in d["attributes"])
    assert d["attributes"] == sorted(d["attributes"])
    assert isinstance(d["doc"], str)


def test_describe_function_and_class(executor):
    executor.op_exec(
        code=(
                "def add(a, b=2):\n"
                "    '''Add two numbers.'''\n"
                "    return a + b\n"
                "class Point:\n"
                "    '''A point.'''\n"
                "    def __init__(self, x, y):\n"
                "        self.x = x\n"
                "    def norm(self):\n"
                "        return 0\n"
            ),
    )
    f = executor.op_describe(name="add")
    assert f["kind"] == "function"
    assert f["doc"] == "Add two numbers."
    assert f["signature"] == "(a, b=2)"
    assert f["attributes"] == []
    assert f["type"] == "function"
    c = executor.op_describe(name="Point")
    assert c["kind"] == "class"
    assert c["doc"] == "A point."
    assert c["signature"] == "(x, y)"
    assert c["attributes"] == ["norm"]
    assert c["type"] == "type"
    b = executor.op_describe(name="math.sqrt")
    assert b["kind"] == "function"
    assert b["type"] == "builtin_function_or_method"


def test_describe_value_and_callable(executor):
    executor.op_set(vars={"n": 5})
    v = executor.op_describe(name="n")
    assert v["kind"] == "value"
    assert v["type"] == "int"
    assert v["signature"] is None
    assert v["attributes"] == []
    p = executor.op_describe(name="os.path.sep")
    assert p["kind"] == "value" and p["type"] == "str"
    executor.op_set(vars={"part": functools.partial(max, 1)})
    c = executor.op_describe(name="part")
    assert c["kind"] == "callable"
    assert c["type"] == "functools.partial"


# -- install / import --------------------------------------------------------


def test_install_module_from_source_and_reload(executor, install_dir, monkeypatch):
    # write bytecode so that a stale __pycache__ entry could be picked up
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    name = unique("srpy_tmod")
    assert executor.op_install(name=name, source="VALUE = 1\n") is None
    assert (install_dir / f"{name}.py").read_text() == "VALUE = 1\n"
    executor.op_import(modules=[name])
    assert executor.op_eval(expr=f"{name}.VALUE") == 1
    module = sys.modules[name]
    assert (install_dir / "__pycache__").is_dir()
    # same size, same second: stale bytecode must not be used
    executor.op_install(name=name, source="VALUE = 2\n")
    assert sys.modules[name] is module
    assert module.VALUE == 2
    assert executor.op_eval(expr=f"{name}.VALUE") == 2


def test_install_dotted_module_creates_packages(executor, install_dir):
    pkg = unique("srpy_tpkg")
    executor.op_install(
        name=f"{pkg}.sub.mod", source="def f():\n    return 'hi'\n"
    )
    assert (install_dir / pkg / "__init__.py").is_file()
    assert (install_dir / pkg / "sub" / "__init__.py").is_file()
    assert (install_dir / pkg / "sub" / "mod.py").is_file()
    assert executor.op_call(name=f"{pkg}.sub.mod.f") == "hi"
    executor.op_install(name=pkg, source="X = 3\n", is_package=True)
    assert executor.op_call(name=f"{pkg}.sub.mod.f") == "hi"
    executor.op_import(modules=[pkg])
    assert executor.op_eval(expr=f"{pkg}.X") == 3


def test_install_package_from_zip_and_reload(executor, install_dir, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    pkg = unique("srpy_zpkg")
    archive = make_zip(
        {
            f"{pkg}/__init__.py": "from . import helper\nVERSION = 1\n",
            f"{pkg}/helper.py": "def value():\n    return 'one'\n",
        }
    )
    assert executor.op_install(name=pkg, archive=archive) is None
    assert (install_dir / pkg / "helper.py").is_file()
    executor.op_import(modules=[f"{pkg}.helper"])
    assert executor.op_eval(expr=f"{pkg}.VERSION") == 1
    assert executor.op_call(name=f"{pkg}.helper.value") == "one"
    old_helper = sys.modules[f"{pkg}.helper"]

    archive2 = make_zip(
        {
            f"{pkg}/__init__.py": "from . import helper\nVERSION = 2\n",
            f"{pkg}/helper.py": "def value():\n    return 'two'\n",
        }
    )
    executor.op_install(name=pkg, archive=bytearray(archive2))
    assert executor.op_eval(expr=f"{pkg}.VERSION") == 2
    assert executor.op_call(name=f"{pkg}.helper.value") == "two"
    assert sys.modules[f"{pkg}.helper"] is not old_helper


@pytest.mark.parametrize(
    "evil", ["../evil.py", "/abs/evil.py", "ok/../../evil.py", "C:/x.py"]
)
def test_zip_path_traversal_rejected(executor, install_dir, evil):
    archive = make_zip({"good.py": "X = 1\n", evil: "X = 2\n"})
    with pytest.raises(ValueError, match="unsafe path"):
        executor.op_install(name="good", archive=archive)
    # nothing at all was extracted
    assert list(install_dir.iterdir()) == []
    assert not (install_dir.parent / "evil.py").exists()


def test_install_bad_archive(executor):
    with pytest.raises(ValueError, match="not a valid zip"):
        executor.op_install(name="m", archive=b"not a zip")


def test_import_binds_top_level_name(executor):
    executor.op_import(modules=["os.path", "json"])
    assert executor.namespace["os"] is os
    assert executor.op_eval(expr="json.dumps([1])") == "[1]"
    executor.op_import(modules=["xml.dom as dom"])
    assert executor.namespace["dom"] is sys.modules["xml.dom"]
    with pytest.raises(ModuleNotFoundError):
        executor.op_import(modules=["no_such_module_srpy_xyz"])


# -- exceptions --------------------------------------------------------------


def test_describe_exception_of_exec_error(executor):
    code = "a = 1\nb = 0\nc = a / b\n"
    with pytest.raises(ZeroDivisionError) as info:
        executor.op_exec(code=code)
    type_name, message, text = ex_mod.describe_exception(info.value)
    assert type_name == "ZeroDivisionError"
    assert message == str(info.value)
    assert 'File "<srpy-exec>", line 3, in <module>' in text
    assert text.lstrip().startswith("Traceback (most recent call last):")
    assert "_executor.py" not in text
    assert ex_mod.__file__ not in text
    assert text.rstrip().endswith("ZeroDivisionError: " + message)
    # the first frame of the traceback is the user's code
    first_frame = text.splitlines()[1]
    assert first_frame.strip().startswith('File "<srpy-exec>"')


def test_describe_exception_through_call(executor):
    executor.op_exec(
        code="class MyError(Exception):\n    pass\ndef boom():\n    raise MyError('bad')\n",
    )
    with pytest.raises(Exception) as info:
        executor.op_call(name="boom")
    type_name, message, text = ex_mod.describe_exception(info.value)
    assert type_name == "__main__.MyError"
    assert message == "bad"
    assert "in boom" in text
    assert "_executor.py" not in text


def test_describe_exception_of_executor_error(executor):
    with pytest.raises(NameError) as info:
        executor.op_get(name="nope")
    type_name, message, text = ex_mod.describe_exception(info.value)
    assert type_name == "NameError"
    assert message == "name 'nope' is not defined"
    assert "_executor.py" not in text
    assert text.strip() == "NameError: name 'nope' is not defined"


def test_qualified_type_name():
    import json

    assert ex_mod.qualified_type_name(ValueError) == "ValueError"
    assert (
        ex_mod.qualified_type_name(json.JSONDecodeError)
        == "json.decoder.JSONDecodeError"
    )


# -- misc ops ----------------------------------------------------------------


def test_whoami(executor):
    info = executor.op_whoami()
    for key in (
        "OS System",
        "Hostname",
        "OS Release",
        "OS Version",
        "Machine Architecture",
        "Processor Architecture",
        "Python Version",
        "Python Compiler",
        "PythonEngine ID",
    ):
        assert isinstance(info[key], str), key
    assert info["pid"] == os.getpid()
    assert info["engine index"] == 7
    assert info["srpy version"] == "0.1.0"
    assert info["protocol version"] == 1
    assert info["cpu count"] == os.cpu_count()
    assert info["python executable"] == sys.executable
    assert info["PythonEngine ID"] == f"engine-7@{info['Hostname']}:{os.getpid()}"
    # a copy is returned
    info["pid"] = -1
    assert executor.op_whoami()["pid"] == os.getpid()


def test_benchmark(executor):
    seconds = executor.op_benchmark(cycles=3)
    assert isinstance(seconds, float)
    assert seconds > 0
    assert isinstance(executor.op_benchmark(), float)


def test_apply(executor):
    blob = pickle.dumps(functools.partial(max, 10))
    assert executor.op_apply(function=blob, args=[3, 20]) == 20
    assert executor.op_apply(function=blob, args=[3]) == 10
    blob = pickle.dumps(functools.partial(math.pow))
    assert executor.op_apply(function=blob, args=[2, 3]) == 8.0
    blob = pickle.dumps(functools.partial(sorted))
    assert executor.op_apply(
        function=blob, args=[[3, 1]], kwargs={"reverse": True}
    ) == [
        3,
        1,
    ]
    with pytest.raises(TypeError, match="not callable"):
        executor.op_apply(function=pickle.dumps(5))


def test_call_and_describe_resolve_builtins(executor):
    assert executor.op_call(name="len", args=[[1, 2, 3]]) == 3
    assert executor.op_call(name="divmod", args=[7, 2]) == (3, 1)
    assert executor.op_describe(name="len")["kind"] in ("function", "callable")
    executor.op_set(vars={"len": "shadowed"})
    assert executor.op_get(name="len") == "shadowed"


def test_map_chunk(executor):
    """``map_chunk`` (EngBox.map): expressions, dotted names, pickled callables,
    per-item failures with tracebacks, names resolved in the namespace."""
    executor.namespace["mc"] = ex_mod.map_chunk
    executor.op_exec(code="k = 10\ndef f(v):\n    return 100 // v\n")

    def run(task, items):
        return executor.op_call(name="mc", args=[task, items])

    assert run(["expr", "x + k", "x"], [1, 2, 3]) == [[11, 12, 13], []]
    assert run(["expr", "y * 2  # comment", "y"], [1]) == [[2], []]
    assert "x" not in executor.namespace, "the item is not bound in the namespace"
    assert run(["call", "f"], [1, 2]) == [[100, 50], []]
    assert run(["call", "math.sqrt"], [4.0, 9.0]) == [[2.0, 3.0], []]
    blob = pickle.dumps(functools.partial(pow, 2))
    assert run(["pickle", blob], [3, 4]) == [[8, 16], []]
    assert run(["expr", "x", "x"], []) == [[], []]

    values, errors = run(["call", "f"], [1, 0, 4, 0])
    assert values == [100, None, 25, None]
    assert [e[0] for e in errors] == [1, 3]
    _position, type_name, message, text = errors[0]
    assert type_name == "ZeroDivisionError"
    assert "by zero" in message
    assert text.startswith("Traceback")
    assert "<srpy-exec>" in text and "map_chunk" not in text

    for bad in (["nope"], ["expr", "x"], ["expr", "x", "not an id"], "x", []):
        with pytest.raises(TypeError, match="map_chunk"):
            run(bad, [1])
    with pytest.raises(TypeError, match="not callable"):
        run(["call", "k"], [1])
    with pytest.raises(SyntaxError):
        run(["expr", "x +", "x"], [1])
    # Without an executor (called directly): a fresh namespace, modules importable.
    assert ex_mod.map_chunk(["call", "math.floor"], [1.5]) == [[1], []]
