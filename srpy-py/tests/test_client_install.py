"""Shipping local modules and packages with ``install``."""

from __future__ import annotations

import sys
import textwrap

import pytest


@pytest.fixture
def on_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in list(sys.modules):
        if name.startswith("srpytest_"):
            del sys.modules[name]


def test_install_a_module(eng, on_path):
    (on_path / "srpytest_mod.py").write_text("VALUE = 41\ndef answer():\n    return VALUE + 1\n")
    eng.install("srpytest_mod")
    eng.imp("srpytest_mod")
    assert eng.eval("srpytest_mod.answer()") == 42
    # a new version is reloaded
    (on_path / "srpytest_mod.py").write_text("VALUE = 1\ndef answer():\n    return VALUE + 1\n")
    eng.install("srpytest_mod")
    assert eng.eval("srpytest_mod.answer()") == 2


def test_install_a_module_object(eng, on_path):
    (on_path / "srpytest_obj.py").write_text("X = 'obj'\n")
    import srpytest_obj  # type: ignore[import-not-found]

    eng.install(srpytest_obj)
    assert eng.eval("__import__('srpytest_obj').X") == "obj"


def test_install_a_package(eng, on_path):
    pkg = on_path / "srpytest_pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .core import twice\n")
    (pkg / "core.py").write_text("def twice(x):\n    return 2 * x\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "deep.py").write_text("NAME = 'deep'\n")
    (pkg / "data.txt").write_text("payload")
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "junk.pyc").write_bytes(b"junk")
    eng.install("srpytest_pkg")
    eng.imp("srpytest_pkg", "srpytest_pkg.sub.deep")
    assert eng.eval("srpytest_pkg.twice(21)") == 42
    assert eng.eval("srpytest_pkg.sub.deep.NAME") == "deep"
    assert eng.ns.srpytest_pkg.twice(4) == 8
    code = textwrap.dedent(
        """
        import os, srpytest_pkg
        folder = os.path.dirname(srpytest_pkg.__file__)
        data = open(os.path.join(folder, 'data.txt')).read()
        cache = os.path.exists(os.path.join(folder, '__pycache__', 'junk.pyc'))
        """
    )
    assert eng.vexe(code, get=["data", "cache"]) == {"data": "payload", "cache": False}


def test_install_several_and_a_dotted_module(eng, on_path):
    (on_path / "srpytest_a.py").write_text("A = 1\n")
    pkg = on_path / "srpytest_ns"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "leaf.py").write_text("LEAF = 2\n")
    eng.install("srpytest_a", "srpytest_ns.leaf")
    assert eng.eval("__import__('srpytest_a').A") == 1
    eng.imp("srpytest_ns.leaf")
    assert eng.eval("srpytest_ns.leaf.LEAF") == 2


def test_install_errors(eng):
    with pytest.raises(ModuleNotFoundError):
        eng.install("srpytest_not_there_at_all")
    with pytest.raises(ValueError, match="built in"):
        eng.install("sys")
    with pytest.raises(ValueError):
        eng.install("not a name")
