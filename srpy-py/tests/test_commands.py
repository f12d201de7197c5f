"""The commands a user runs: ``srpy-server`` (and ``python -m
srpy.server``), ``srpy`` (and ``python -m srpy``), and ``srpy.local()``
with no configuration at all.

They run with no ``SRPY_*`` environment variable and no cargo on ``PATH``.
By default they are this checkout's package (``python -m ...``); with
``SRPY_WHEEL=path/to/srpy-*.whl`` (as ``scripts/test.sh packaging`` runs
them) a fresh virtualenv gets only that wheel and the tests use its
console scripts: what ``pip install srpy`` gives a user.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


@dataclass
class Tools:
    python: str
    srpy: list[str]
    server: list[str]
    env: dict[str, str]

    def run(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            cmd, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )


def _clean_env(bin_dir: str | None) -> dict[str, str]:
    """No SRPY_* variables; PATH without cargo (the interpreter's folder
    first when given, then the system's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRPY_")}
    env["PATH"] = os.pathsep.join(p for p in (bin_dir, "/usr/bin", "/bin") if p)
    return env


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tools]:
    wheel = os.environ.get("SRPY_WHEEL")
    if not wheel:
        yield Tools(
            sys.executable,
            [sys.executable, "-m", "srpy"],
            [sys.executable, "-m", "srpy.server"],
            _clean_env(None),
        )
        return
    home = tmp_path_factory.mktemp("wheel-venv")
    venv.create(home, with_pip=True)
    bin_dir = home / "bin"
    subprocess.run(
        [bin_dir / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "--no-index", wheel],
        check=True,
    )
    yield Tools(
        str(bin_dir / "python"),
        [str(bin_dir / "srpy")],
        [str(bin_dir / "srpy-server")],
        _clean_env(str(bin_dir)),
    )


def test_local_needs_no_configuration(tools: Tools) -> None:
    script = (
        "import sys, srpy\n"
        "with srpy.local(2) as c:\n"
        "    print([e.eval('6 * 7') for e in c])\n"
        "    print(c[1].eval('__import__(\"sys\").executable') == sys.executable)\n"
    )
    r = tools.run(tools.python, "-c", script)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "[42, 42]\nTrue\n"


def test_server_help(tools: Tools) -> None:
    for cmd in (tools.server, [*tools.srpy, "server"]):
        r = tools.run(*cmd, "--help")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("Serve CPython engines")
        assert "Usage: srpy-server [OPTIONS]" in r.stdout


def test_srpy_help_and_bad_usage(tools: Tools) -> None:
    r = tools.run(*tools.srpy, "--help")
    assert r.returncode == 0
    assert r.stdout.startswith("Usage: srpy [-h] [-V] COMMAND ...")
    for name in ("server", "status", "exec", "eval", "ping"):
        assert f"\n    {name} " in r.stdout
    assert "Exit status: 0 success" in r.stdout
    r = tools.run(*tools.srpy, "nosuch")
    assert (r.returncode, r.stdout) == (2, "")
    assert "invalid choice: 'nosuch'" in r.stderr
    r = tools.run(*tools.srpy, "eval")
    assert r.returncode == 2
    assert "the following arguments are required: URI, EXPR" in r.stderr


@pytest.fixture(scope="module")
def served(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server started by the ``srpy-server`` command: its URI."""
    uri_file = tmp_path_factory.mktemp("server") / "uri"
    proc = subprocess.Popen(
        [*tools.server, "--listen", "127.0.0.1:0", "--engines", "2", "--uri-file", str(uri_file)],
        env=tools.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (uri_file.exists() and uri_file.read_text().endswith("\n")):
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the server did not start in 60 s"
        time.sleep(0.02)
    yield uri_file.read_text().splitlines()[0]
    proc.terminate()
    out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, out
    assert "SIGTERM received, stopping 2 engine(s)" in out


def test_ping_eval_exec(tools: Tools, served: str) -> None:
    for uri in (served, f"{served}/1"):
        r = tools.run(*tools.srpy, "ping", uri)
        assert (r.returncode, r.stdout, r.stderr) == (0, "pong\n", "")
    r = tools.run(*tools.srpy, "eval", f"{served}/0", "6 * 7")
    assert (r.returncode, r.stdout) == (0, "42\n")
    r = tools.run(*tools.srpy, "exec", f"{served}/1", "import sys; print('hi'); print('oops', file=sys.stderr)")
    assert (r.returncode, r.stdout, r.stderr) == (0, "hi\n", "oops\n")
    # The engines run the server's own interpreter.
    r = tools.run(*tools.srpy, "eval", f"{served}/0", "__import__('sys').executable")
    assert r.stdout == f"{tools.python!r}\n"


def test_errors_go_to_stderr_with_exit_status_1(tools: Tools, served: str) -> None:
    r = tools.run(*tools.srpy, "eval", f"{served}/0", "1 / 0")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr.startswith("srpy eval: error: ")
    assert "ZeroDivisionError: division by zero" in r.stderr
    r = tools.run(*tools.srpy, "exec", served, "x = 1")
    assert (r.returncode, r.stdout) == (1, "")
    assert f"{served} names a server: name one engine, {served}/INDEX" in r.stderr
    r = tools.run(*tools.srpy, "ping", "srpy://127.0.0.1:1")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr.startswith("srpy ping: error: ")


def test_status_shows_every_engine(tools: Tools, served: str) -> None:
    busy = subprocess.Popen(
        [*tools.srpy, "exec", f"{served}/1", "import time; time.sleep(3)"], env=tools.env
    )
    try:
        deadline = time.monotonic() + 3
        while True:
            r = tools.run(*tools.srpy, "status", served)
            assert r.returncode == 0, r.stderr
            lines = r.stdout.splitlines()
            rows = [line.split() for line in lines[2:]]
            if rows[1][3] == "yes" or time.monotonic() > deadline:
                break
    finally:
        busy.wait(10)
    assert lines[0].endswith(f"({served}), 2 engine(s)")
    assert lines[1].split() == ["INDEX", "PID", "HOST", "BUSY", "RSS", "UPTIME", "RESTARTS"]
    assert [r[0] for r in rows] == ["0", "1"]
    assert [r[3] for r in rows] == ["no", "yes"]
    for row in rows:
        assert int(row[1]) > 0
        assert row[2].startswith("127.0.0.1:")
        assert row[5] == "MiB" and 5 < float(row[4]) < 500  # RSS
        assert row[7] == "s" and float(row[6]) >= 0  # uptime
        assert row[8] == "0"  # restarts
