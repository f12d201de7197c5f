"""Fixtures of the client tests: a private srpy-server with 2 engines for
the whole session (real engines, real sockets).

The server binary is ``$SRPY_SERVER_BIN`` (default
``<repo>/target/release/srpy-server``); the engines run ``$SRPY_PYTHON``
(default: this interpreter). Without a server binary the client tests are
skipped, unless ``SRPY_REQUIRE_ENGINES`` is set (then they fail).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# A background job of a shell starts with SIGINT ignored; the Ctrl-C tests
# send SIGINT to this process and expect Python's usual handler.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def server_bin() -> str:
    return os.environ.get("SRPY_SERVER_BIN") or str(REPO / "target" / "release" / "srpy-server")


def engine_python() -> str:
    return os.environ.get("SRPY_PYTHON") or sys.executable


def _require_server() -> None:
    if not os.path.isfile(server_bin()):
        msg = (
            f"no srpy-server binary at {server_bin()} (build it with "
            "`cargo build --release -p srpy-server` or set SRPY_SERVER_BIN)"
        )
        if os.environ.get("SRPY_REQUIRE_ENGINES"):
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def local_options() -> dict[str, str]:
    """Keywords for ``srpy.local`` that point at the server and Python."""
    _require_server()
    return {"server_bin": server_bin(), "python": engine_python()}


@pytest.fixture(scope="session")
def cluster(local_options: dict[str, str]) -> Iterator[object]:
    import srpy

    c = srpy.local(engines=2, output=None, **local_options)
    yield c
    c.close()


def _fresh(e):
    e.output = None
    e.timeout = None
    e.clear()
    return e


@pytest.fixture
def eng(cluster):
    """Engine 0 of the session server, with an empty namespace."""
    return _fresh(cluster[0])


@pytest.fixture
def eng1(cluster):
    """Engine 1 of the session server, with an empty namespace."""
    return _fresh(cluster[1])


@pytest.fixture
def private(local_options):
    """A private one-engine server for tests that kill or restart engines."""
    import srpy

    c = srpy.local(engines=1, output=None, **local_options)
    yield c
    c.close()
