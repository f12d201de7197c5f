"""Doctest setup for ``pytest --doctest-modules srpy-py/python/srpy``: the
examples run against a real private server (one engine), available to them
as ``eng`` (output printed, ``[engine 0]`` prefix) with a fresh namespace,
and ``srpy``. Not part of the installed package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def _doctest_cluster() -> Iterator[Any]:
    import srpy

    # The package's own server (python -m srpy.server), engines on this
    # interpreter, unless SRPY_SERVER_BIN / SRPY_PYTHON say otherwise.
    with srpy.local(engines=1) as cluster:
        yield cluster


@pytest.fixture(autouse=True)
def _doctest_engine(request: pytest.FixtureRequest, doctest_namespace: dict[str, Any]) -> None:
    if not isinstance(request.node, pytest.DoctestItem):
        return
    import srpy

    doctest_namespace["srpy"] = srpy
    eng = request.getfixturevalue("_doctest_cluster")[0]
    eng.output = "print"
    eng.clear()
    doctest_namespace["eng"] = eng
