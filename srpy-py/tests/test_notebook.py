"""The Jupyter side, in a real kernel: ``docs/examples/notebook.ipynb`` is
executed with nbclient and ipykernel against real engines (``%srpy local
2``), and its outputs are checked: the magics, streamed output, an error on
one engine, an interrupt sent to the kernel mid-cell, rich displays."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
import srpy

REPO = Path(__file__).resolve().parents[2]

pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")


@pytest.fixture(scope="module")
def run(tmp_path_factory, local_options):
    # (local_options: fails or skips without a server binary.)
    spec = importlib.util.spec_from_file_location(
        "example_notebook", REPO / "scripts" / "example_notebook.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path_factory.mktemp("nb") / "notebook.ipynb"
    shutil.copy(REPO / "docs" / "examples" / "notebook.ipynb", path)
    nb, client = module.execute(path)
    return nb, client


def _cell(run, source_start):
    nb, _ = run
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.source.startswith(source_start):
            return i, cell
    raise AssertionError(f"no cell starts with {source_start!r}")


def _text(cell, name=None):
    """The cell's stream text (of ``name``: stdout or stderr)."""
    return "".join(
        o.text for o in cell.outputs if o.output_type == "stream" and name in (None, o.name)
    )


def _result(cell, mime):
    (out,) = [o for o in cell.outputs if o.output_type == "execute_result"]
    return out.data[mime]


def _error(cell):
    (out,) = [o for o in cell.outputs if o.output_type == "error"]
    return out


def test_box_and_engine_show_rich_tables(run):
    _, cell = _cell(run, "cluster = %srpy local 2")
    assert _result(cell, "text/plain").startswith("<LocalCluster srpy://127.0.0.1:")
    assert _result(cell, "text/plain").endswith(": 2 idle>")
    html = _result(cell, "text/html")
    assert html.count("<tr>") == 3 and html.count(">idle<") == 2 and "MiB" in html
    _, cell = _cell(run, "for i, eng in enumerate(cluster)")
    assert _result(cell, "text/plain").startswith("<PythonEngine 0 at srpy://127.0.0.1:")
    html = _result(cell, "text/html")
    assert "<th>restarts</th>" in html and "<td>0</td>" in html and "MiB" in html


def test_cell_runs_on_every_engine(run):
    _, cell = _cell(run, "%%srpy\nimport os")
    out = _text(cell, "stdout")
    assert "[stdout:0] rank 0\n[stdout:1] rank 1\n" in out
    assert "Out[0]: 0\nOut[1]: 10\n" in out


def test_streamed_output_appears_as_printed(run):
    i, cell = _cell(run, "%%srpy --stream")
    out = _text(cell, "stdout")
    for step in range(3):
        assert f"[stdout:0] step {step}\n" in out and f"[stdout:1] step {step}\n" in out
    arrivals = run[1].arrivals[i]
    first = min(t for t, text in arrivals if "step 0" in text)
    last = max(t for t, text in arrivals if "step 2" in text)
    # The engines sleep 0.3 s between steps; output kept to the end would
    # arrive all at once.
    assert last - first > 0.25, arrivals


def test_an_engines_error_shows_its_remote_traceback_and_the_others_result(run):
    _, cell = _cell(run, "%%srpy\nprint('dividing by', rank)")
    out = _text(cell, "stdout")
    assert "[stdout:0] dividing by 0\n" in out and "[stdout:1] dividing by 1\n" in out
    assert "Out[1]: 10.0" in out and "Out[0]" not in out
    err = _error(cell)
    assert err.ename == "BoxError"
    tb = "\n".join(err.traceback)
    assert "[0:ZeroDivisionError]" in tb and "division by zero" in tb and "line 2" in tb
    assert "[1:" not in tb


def test_interrupt_stops_the_engines_and_leaves_them_usable(run):
    i, cell = _cell(run, "%%srpy --stream\nimport time\nprint('working'")
    err = _error(cell)
    assert err.ename == "KeyboardInterrupt"
    assert err.traceback == [
        "KeyboardInterrupt: interrupted engine(s) 0, 1; they keep their variables"
    ]
    assert "[stdout:0] working" in _text(cell) and "[stdout:1] working" in _text(cell)
    # The engines sleep 60 s unless interrupted.
    assert max(t for t, _ in run[1].arrivals[i]) < 20
    _, after = _cell(run, "%%srpy\nrank * 100")
    assert "Out[0]: 0\nOut[1]: 100\n" in _text(after, "stdout")


def test_noblock_and_result(run):
    _, cell = _cell(run, "%%srpy --noblock")
    assert _result(cell, "text/plain").startswith("<%%srpy cell on engine(s) 0, 1:")
    _, cell = _cell(run, "%srpy result")
    out = _text(cell, "stdout")
    assert "[stdout:0] done late\n[stdout:1] done late\n" in out
    assert "Out[0]: 0.5\nOut[1]: 1.5\n" in out


def test_map_in_flight_map_error_and_progress(run):
    _, cell = _cell(run, "run = cluster.imap")
    assert "<progress value=" in _result(cell, "text/html")
    assert _result(cell, "text/plain").startswith("<map of 8 item(s) on 2 engine(s): ")
    _, cell = _cell(run, "list(run)[-1], run")
    assert (
        _result(cell, "text/plain") == "(14, <map of 8 item(s) on 2 engine(s): 8 done, finished>)"
    )
    _, cell = _cell(run, "try:\n    cluster.map('1 / x'")
    assert _result(cell, "text/plain").startswith(
        "<MapError: map item 0 failed (1 of 4 item(s) failed): ZeroDivisionError"
    )
    assert "<td>ZeroDivisionError</td>" in _result(cell, "text/html")
    _, cell = _cell(run, "len(cluster.map('x ** 2'")
    assert _result(cell, "text/plain") == "1000"
    # tqdm.auto in a kernel: a widget (ipywidgets installed) or text.
    assert any(
        "application/vnd.jupyter.widget-view+json" in o.get("data", {})
        or "100%" in o.get("text", "")
        for o in cell.outputs
    ), cell.outputs


def test_use_picks_other_engines(run):
    _, cell = _cell(run, "%%srpy\nrank  # engine 1")
    assert _text(cell, "stdout") == "Out[0]: 1\n"


# -- the pieces of %%srpy that need no kernel --------------------------------------


def test_targets():
    from srpy._magics import parse_targets

    assert parse_targets("0,2-3", 4) == [0, 2, 3]
    assert parse_targets("all", 3) == [0, 1, 2] == parse_targets("", 3)
    assert parse_targets("-1, 0, 0", 3) == [2, 0]
    for bad in ("4", "x", "1-x", "-5", "2-9"):
        with pytest.raises(srpy.SRPyError, match="--targets"):
            parse_targets(bad, 4)


def test_last_expression_is_bound_in_place():
    from srpy._magics import split_last_expression as split

    assert split("a = 1\na + 1") == ("a = 1\n__srpy_out__ = (a + 1)", True)
    # Same lines (remote tracebacks name the cell's lines), non-ASCII before it.
    assert split("s = 'é'; (s +\n  'x')  # c\n") == (
        "s = 'é'; __srpy_out__ = ((s +\n  'x'))  # c\n",
        True,
    )
    assert split("f(1);") == ("f(1);", False)
    assert split("x = 1") == ("x = 1", False)
    assert split("for i in r:\n    i") == ("for i in r:\n    i", False)
    assert split("1 +") == ("1 +", False)  # the engine reports the SyntaxError
