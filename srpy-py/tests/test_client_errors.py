"""Every error class, and remote builtin exceptions caught with ``except
<builtin>`` as with local code."""

from __future__ import annotations

import pathlib
import pickle
import re
import socket

import pytest
import srpy
from srpy import _srpy

REMOTE_BUILTINS = [
    ("{}['missing']", KeyError),
    ("1 / 0", ZeroDivisionError),
    ("undefined_name", NameError),
    ("int('x')", ValueError),
    ("len(5)", TypeError),
    ("(1).nope", AttributeError),
    ("__import__('no_such_module_xyz')", ModuleNotFoundError),
    ("[][1]", IndexError),
    ("open('/nonexistent/file')", FileNotFoundError),
    ("next(iter([]))", StopIteration),
    ("b'\\xff'.decode('utf-8')", UnicodeDecodeError),
    ("__import__('math').sqrt(-1)", ValueError),
    ("2.0 ** 10000", OverflowError),
]


@pytest.mark.parametrize(("expr", "builtin"), REMOTE_BUILTINS, ids=lambda x: str(x))
def test_remote_builtin_exceptions(eng, expr, builtin):
    with pytest.raises(builtin) as info:
        eng.eval(expr)
    err = info.value
    assert isinstance(err, srpy.RemoteError)
    assert isinstance(err, srpy.SRPyError)
    assert type(err).__name__ == f"Remote{err.remote_type}"
    assert issubclass(getattr(__import__("builtins"), err.remote_type), builtin)
    assert err.engine == eng.uri
    assert "Traceback (most recent call last)" in err.remote_traceback
    assert '"<srpy-eval>", line 1' in err.remote_traceback
    assert err.remote_traceback in str(err) or err.remote_traceback.rstrip() in str(err)
    assert eng.eval("1 + 1") == 2, "the engine is fine afterwards"


def test_except_clauses_work_like_local_code(eng):
    try:
        eng.eval("{}['k']")
    except KeyError as e:
        assert e.remote_type == "KeyError"
        assert e.remote_message == "'k'"
    try:
        eng.exe("x = 1 / 0")
    except ZeroDivisionError:
        pass
    try:
        eng.get("never_set")
    except NameError as e:
        assert "never_set" in str(e)
    try:
        eng.exe("def broken(:\n  pass")
    except SyntaxError as e:
        assert isinstance(e, srpy.RemoteError)
        assert e.remote_type == "SyntaxError"
    try:
        eng.exe("assert 1 == 2, 'nope'")
    except AssertionError as e:
        assert "nope" in str(e)
    try:
        eng.exe("raise RuntimeError('boom')")
    except RuntimeError as e:
        assert str(e).startswith("boom\n\nRemote traceback")
    try:
        eng.exe("import os; os.stat('/no/such/path')")
    except OSError as e:
        assert isinstance(e, FileNotFoundError)


def test_str_shows_the_remote_traceback(eng):
    eng.exe("def inner():\n    return 1 / 0\ndef outer():\n    return inner()\n")
    with pytest.raises(ZeroDivisionError) as info:
        eng.eval("outer()")
    text = str(info.value)
    assert text.startswith("division by zero\n\nRemote traceback (srpy://")
    assert "in outer" in text and "in inner" in text
    assert text.rstrip().endswith("ZeroDivisionError: division by zero")


def test_non_builtin_exceptions_are_remote_errors(eng):
    eng.exe("class FitError(Exception):\n    pass\n")
    with pytest.raises(srpy.RemoteError) as info:
        eng.exe("raise FitError('no fit')")
    assert type(info.value) is srpy.RemoteError
    assert info.value.remote_type == "__main__.FitError"
    assert info.value.remote_message == "no fit"
    # an exception subclassing a builtin but defined remotely is not the builtin
    eng.exe("class MyKey(KeyError):\n    pass\n")
    with pytest.raises(srpy.RemoteError) as info:
        eng.exe("raise MyKey('k')")
    assert not isinstance(info.value, KeyError)


def test_remote_system_exit_does_not_exit_the_client(eng):
    with pytest.raises(srpy.RemoteError) as info:
        eng.exe("raise SystemExit(3)")
    assert not isinstance(info.value, SystemExit)
    assert info.value.remote_type == "SystemExit"
    assert eng.eval("1") == 1


def test_remote_errors_pickle(eng):
    with pytest.raises(KeyError) as info:
        eng.eval("{}['k']")
    back = pickle.loads(pickle.dumps(info.value))
    assert type(back) is type(info.value)
    assert back.remote_traceback == info.value.remote_traceback
    assert back.engine == info.value.engine


def test_remote_error_class_is_cached():
    assert srpy.remote_error_class("KeyError") is srpy.remote_error_class("KeyError")
    assert srpy.remote_error_class("KeyboardInterrupt") is srpy.RemoteError
    assert srpy.remote_error_class("not an identifier") is srpy.RemoteError
    assert srpy.remote_error_class("Warning").__name__ == "RemoteWarning"


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_server_not_found_names_the_uri():
    port = _closed_port()
    uri = f"srpy://127.0.0.1:{port}/0"
    with pytest.raises(srpy.SRPyServerNotFound) as info:
        srpy.PythonEngine(uri)
    assert uri in str(info.value)
    assert info.value.uri == uri
    assert isinstance(info.value, ConnectionError)
    assert isinstance(info.value, srpy.SRPyError)


def test_invalid_uri():
    with pytest.raises(srpy.InvalidURI):
        srpy.PythonEngine("http://example.com")
    with pytest.raises(ValueError):
        srpy.PythonEngine("no-port-here")


def test_no_such_engine(cluster):
    with pytest.raises(srpy.NoSuchEngine) as info:
        srpy.PythonEngine(cluster.uri + "/99")
    assert isinstance(info.value, LookupError)
    assert "99" in str(info.value)


def test_wrong_token(cluster):
    with pytest.raises(srpy.AuthError):
        srpy.PythonEngine(cluster.engine_uri(0), token="not the token")


def test_missing_token(cluster, monkeypatch):
    monkeypatch.delenv("SRPY_TOKEN", raising=False)
    srpy._uri.forget_token(cluster.uri)
    try:
        with pytest.raises(srpy.AuthError, match="token"):
            srpy.PythonEngine(cluster.engine_uri(0))
    finally:
        srpy._uri.remember_token(cluster.uri, cluster.token)


def test_server_uri_is_not_an_engine(cluster):
    with pytest.raises(srpy.InvalidURI, match="server"):
        srpy.PythonEngine(cluster.uri)


def test_closed_handle(cluster):
    e = srpy.PythonEngine(cluster.engine_uri(0), output=None)
    e.close()
    with pytest.raises(srpy.EngineClosed):
        e.eval("1")
    e.close()  # idempotent


@pytest.mark.parametrize(
    ("kind", "cls", "also"),
    [
        ("timeout", "SRPyTimeoutError", TimeoutError),
        ("engine_died", "EngineDiedError", None),
        ("interrupted", "RemoteInterrupted", None),
        ("auth", "AuthError", None),
        ("protocol", "ProtocolError", None),
        ("version", "VersionMismatch", None),
        ("not_transferable", "NotTransferable", TypeError),
        ("unsupported_op", "UnsupportedOperation", None),
        ("limit", "LimitExceeded", None),
        ("no_such_engine", "NoSuchEngine", LookupError),
        ("server_not_found", "SRPyServerNotFound", ConnectionError),
        ("closed", "EngineClosed", None),
        ("invalid_uri", "InvalidURI", ValueError),
        ("io", "SRPyError", None),
        ("a_future_kind", "SRPyError", None),
    ],
)
def test_every_client_error_kind_maps_to_its_class(kind, cls, also):
    err = _srpy._client_error(kind, "the message")
    assert type(err) is getattr(srpy, cls)
    assert isinstance(err, srpy.SRPyError)
    if also is not None:
        assert isinstance(err, also)
    if kind != "closed":
        assert "the message" in str(err)
    if kind == "version":
        assert isinstance(err, srpy.ProtocolError)


def test_remote_kind_through_the_boundary():
    err = _srpy._client_error("remote", "boom", "ValueError", "Traceback ...\nValueError: boom\n")
    assert isinstance(err, ValueError) and isinstance(err, srpy.RemoteError)
    assert err.engine == "srpy://test:1/0"
    err = _srpy._client_error("remote", "dropped")
    assert type(err) is srpy.RemoteError and err.remote_type == "Exception"


def test_a_panic_at_an_entry_point_is_an_srpy_error():
    # The barrier every #[pymethods] entry of the extension runs under.
    assert _srpy._barrier_check(False) == "no panic"
    with pytest.raises(srpy.SRPyError, match="internal error in srpy: the barrier check panicked"):
        _srpy._barrier_check(True)


# Entries that only return a field the object holds (or a constant): nothing
# in them can panic, so they have no barrier.
FIELD_ACCESSORS = {
    "get_timeout", "uri", "index", "allow_pickle", "__repr__", "token", "engine_count",
    "pid", "log_path", "__len__", "total", "isatty", "writable", "readable", "encoding",
    "errors",
}  # fmt: skip


def _pymethods(source: str):
    """(class, method, body) of every method of every #[pymethods] block."""

    def block_end(text: str, start: int) -> int:
        depth = 0
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                return i
        raise AssertionError("unbalanced braces")

    for impl in re.finditer(r"#\[pymethods\]\s*impl (\w+)\s*\{", source):
        start = impl.end() - 1
        block = source[start : block_end(source, start)]
        for fn in re.finditer(r"\n    (?:pub )?fn (\w+)", block):
            body_start = block.index("{", fn.end())
            yield impl.group(1), fn.group(1), block[body_start : block_end(block, body_start)]


def test_every_extension_entry_point_runs_under_the_panic_barrier():
    # The barrier is what turns a panic into SRPyError; an entry point added
    # without it would let pyo3's PanicException (not an Exception) through.
    src = pathlib.Path(__file__).resolve().parents[1] / "src"
    seen, unguarded = 0, []
    for path in sorted(src.glob("*.rs")):
        for cls, name, body in _pymethods(path.read_text()):
            seen += 1
            if "barrier(" not in body and name not in FIELD_ACCESSORS:
                unguarded.append(f"{path.name}: {cls}.{name}")
    assert seen > 50, f"found only {seen} entry points: the parser is wrong"
    assert not unguarded, f"entry points without errors::barrier: {unguarded}"


def test_request_names_the_unknown_op_and_the_bad_field(eng):
    raw = eng._raw
    with pytest.raises(
        ValueError, match='unknown operation "teleport"; the operations are ping, whoami'
    ):
        raw.request("teleport")
    with pytest.raises(TypeError, match=r"eval: no field code; its fields are \[expr, vars\]"):
        raw.request("eval", {"code": "1"})
    with pytest.raises(TypeError, match="eval: invalid request: missing field 'expr'"):
        raw.request("eval", {})
    with pytest.raises(TypeError, match="names must be a list of str, not a str"):
        raw.request("get_many", {"names": "ab"})
    with pytest.raises(TypeError, match="field 'cycles' must be in 1..100000"):
        raw.request("benchmark", {"cycles": 0})
    assert raw.request("eval", {"expr": "6 * 7"}) == 42
