"""The examples in the docstrings of the ``srpy`` package, run against a
real engine (the session server's engine 0, as ``eng``, printing its output
with the ``[engine 0]`` prefix).

``pytest --doctest-modules srpy-py/python/srpy`` runs the same examples
through ``srpy-py/python/conftest.py``; this module makes them part of the
plain ``pytest srpy-py/tests`` run.
"""

from __future__ import annotations

import doctest
import importlib

import pytest
import srpy

MODULES = [
    "srpy",
    "srpy._client",
    "srpy._proxy",
    "srpy._local",
    "srpy._errors",
    "srpy._output",
    "srpy._uri",
    "srpy._remote",
    "srpy._magics",
    "srpy._box",
]


def _examples() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder()
    tests = []
    for name in MODULES:
        tests += [t for t in finder.find(importlib.import_module(name)) if t.examples]
    return sorted(tests, key=lambda t: t.name)


EXAMPLES = _examples()


def test_the_package_has_examples():
    names = {t.name for t in EXAMPLES}
    for expected in (
        "srpy._client.PythonEngine",
        "srpy._proxy.Namespace",
        "srpy._local.newSubEngine",
    ):
        assert expected in names
    assert len(EXAMPLES) >= 20


@pytest.mark.parametrize("test", EXAMPLES, ids=lambda t: t.name)
def test_docstring_examples(test, cluster, local_options, monkeypatch):
    monkeypatch.setenv("SRPY_SERVER_BIN", local_options["server_bin"])
    monkeypatch.setenv("SRPY_PYTHON", local_options["python"])
    eng = cluster[0]
    eng.output = "print"
    eng.clear()
    try:
        test.globs.update(eng=eng, srpy=srpy)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        failures = []
        runner.run(test, out=failures.append)
        assert runner.failures == 0, "".join(failures)
    finally:
        eng.output = None
