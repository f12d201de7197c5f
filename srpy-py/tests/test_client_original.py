"""A script in the original SRPy style runs unchanged against our server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("original_style_script.py")

EXPECTED = [
    "{'a': 5, 'b': 3, 'c': 1}",
    "['a', 'b', 'c']",
    "5",
    "[]",
    "5",
    "1.4142135623730951",
    "{'a': 1.4142135623730951, 'b': 2.0000000000000004}",
    "installed",
    "3",
    "1.7320508075688772",
    "1.7320508075688772",
    "True",
]


def _run(args: list[str], env: dict[str, str]) -> list[str]:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.splitlines()


def _check(lines: list[str]) -> None:
    assert lines[: len(EXPECTED)] == EXPECTED
    rest = "\n".join(lines)
    for needle in (
        "mygroup",
        "pong",
        "True True False",
        "ZeroDivisionError caught",
        "error caught: RemoteNameError",
        "SRPyServerNotFound caught",
    ):
        assert needle in rest, needle
    assert lines[-1] == "done"


def test_original_script_against_a_running_server(cluster, eng1):
    env = dict(os.environ, SRPY_TOKEN=cluster.token.decode())
    _check(_run([cluster.engine_uri(1)], env))


def test_original_script_with_new_sub_engine(local_options):
    env = dict(
        os.environ,
        SRPY_SERVER_BIN=local_options["server_bin"],
        SRPY_PYTHON=local_options["python"],
    )
    env.pop("SRPY_TOKEN", None)
    _check(_run([], env))
