"""Remote stdout/stderr: printed with a prefix, captured, or given to a
callable."""

from __future__ import annotations

import threading
import time

import pytest
import srpy


def test_print_mode_prefixes_lines(eng, capsys):
    eng.output = "print"
    eng.exe("print('hello'); print('a\\nb', end=''); print('c')")
    eng.exe("import sys; print('oops', file=sys.stderr)")
    out, err = capsys.readouterr()
    assert out == "[engine 0] hello\n[engine 0] a\n[engine 0] bc\n"
    assert err == "[engine 0] oops\n"


def test_engine_index_in_prefix(eng1, capsys):
    eng1.output = "print"
    eng1.exe("print(1)")
    assert capsys.readouterr().out == "[engine 1] 1\n"


def test_capture_mode(eng, capsys):
    eng.output = "capture"
    eng.exe("print('one')")
    assert eng.last_output.stdout == "one\n"
    eng.exe("import sys; print('two'); print('err', file=sys.stderr)")
    assert eng.last_output.stdout == "two\n"
    assert eng.last_output.stderr == "err\n"
    assert str(eng.last_output) == "two\nerr\n"
    assert eng.eval("print('three') or 3") == 3
    assert eng.last_output.text == "three\n"
    assert capsys.readouterr() == ("", "")


def test_capture_context(eng, capsys):
    eng.output = None
    with eng.capture() as out:
        eng.exe("for i in range(3): print(i)")
        eng.call("print", "x", "y", sep="-")
    assert out.stdout == "0\n1\n2\nx-y\n"
    assert out.chunks[0][0] == "stdout"
    eng.exe("print('dropped')")
    assert out.stdout == "0\n1\n2\nx-y\n"
    eng.output = "print"
    with eng.capture() as inner:
        eng.exe("print('in')")
    eng.exe("print('out')")
    assert inner.stdout == "in\n"
    assert capsys.readouterr().out == "[engine 0] out\n"


def test_callable_output(eng):
    got = []
    eng.output = lambda stream, text: got.append((stream, text))
    eng.exe("import sys; print('a'); sys.stderr.write('b\\n')")
    assert got == [("stdout", "a\n"), ("stderr", "b\n")]
    assert eng.output is not None and callable(eng.output)


def test_output_streams_while_the_call_runs(eng):
    stamps = []
    eng.output = lambda stream, text: stamps.append((time.monotonic(), text))
    start = time.monotonic()
    eng.exe("import time\nprint('early', flush=True)\ntime.sleep(0.6)\nprint('late')")
    end = time.monotonic()
    assert [t for _, t in stamps] == ["early\n", "late\n"]
    assert stamps[0][0] - start < 0.4, "delivered before the call ended"
    assert end - stamps[0][0] > 0.3


def test_none_drops_output(eng, capsys):
    eng.output = None
    eng.exe("print('nothing')")
    assert capsys.readouterr() == ("", "")


def test_output_of_futures_and_threads(eng):
    got = []
    lock = threading.Lock()

    def sink(stream, text):
        with lock:
            got.append(text)

    eng.output = sink
    eng.exe_async("print('from a future')").result(5)
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    assert got == ["from a future\n"]


def test_a_failing_output_callable_does_not_break_calls(eng, monkeypatch):
    reported = []
    monkeypatch.setattr("sys.unraisablehook", reported.append)

    def bad(stream, text):
        raise RuntimeError("sink failed")

    eng.output = bad
    assert eng.eval("print('x') or 5") == 5
    assert len(reported) == 1
    assert isinstance(reported[0].exc_value, RuntimeError)


def test_bad_output_spec(eng):
    with pytest.raises(ValueError):
        eng.output = "loud"


def test_output_option_at_connect(cluster, capsys):
    with srpy.PythonEngine(cluster.engine_uri(1), output="capture") as e:
        e.exe("print('kept')")
        assert e.last_output.stdout == "kept\n"
    assert capsys.readouterr() == ("", "")


def test_output_of_a_future_arrives_while_it_runs(eng):
    got: list[tuple[float, str]] = []
    eng.output = lambda stream, text: got.append((time.monotonic(), text))
    try:
        f = eng.exe_async("import time\nprint('first', flush=True)\ntime.sleep(1.5)\nprint('last')")
        deadline = time.monotonic() + 1.0
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [t for _, t in got] == ["first\n"], "the first line came before the call ended"
        assert not f.done()
        f.result(10)
        assert [t for _, t in got] == ["first\n", "last\n"]
    finally:
        eng.output = None
