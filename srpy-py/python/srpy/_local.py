"""Engines on this machine: ``srpy.local(n)``, ``srpy.newSubEngine()``,
``srpy.detectNCPUs()``."""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref

from srpy import _uri
from srpy._box import EngBox
from srpy._client import PythonEngine
from srpy._errors import SRPyError, SRPyTimeoutError
from srpy._srpy import RawLocalServer, RawServer

# typing, subprocess, shutil and tempfile are imported where first needed
# (start-up time; see srpy._client).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Sequence
    from typing import Any, Self

__all__ = [
    "LocalCluster",
    "detectNCPUs",
    "detect_ncpus",
    "find_server_bin",
    "local",
    "newSubEngine",
    "new_sub_engine",
]

def find_server_bin(explicit: str | os.PathLike[str] | None = None) -> list[str]:
    """The command that runs ``srpy-server``: ``explicit``, else
    ``$SRPY_SERVER_BIN``, else this package's own server (``python -m
    srpy.server`` with this interpreter: the wheel carries the server, so
    nothing else needs installing)."""
    if explicit is not None:
        return [os.fspath(explicit)]
    env = os.environ.get("SRPY_SERVER_BIN")
    if env:
        return [env]
    return [sys.executable, "-m", "srpy.server"]


def _engine_python(explicit: str | os.PathLike[str] | None) -> str:
    """The engines' interpreter: ``python``, else ``$SRPY_PYTHON``, else this
    interpreter (so the engines see the same packages)."""
    if explicit is not None:
        return os.fspath(explicit)
    return os.environ.get("SRPY_PYTHON") or sys.executable


def detectNCPUs() -> int:
    """The number of CPUs this process may use.

    >>> detectNCPUs() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


detect_ncpus = detectNCPUs


_clusters: weakref.WeakSet[LocalCluster] = weakref.WeakSet()


@atexit.register
def _close_clusters() -> None:
    """Stops the servers of clusters still open at exit."""
    for cluster in list(_clusters):
        try:
            cluster.close()
        except Exception:  # noqa: BLE001, S110 - best effort at exit
            pass


class LocalCluster(EngBox):
    """A private ``srpy-server`` on this machine and a connected
    :class:`PythonEngine` for each of its engines.

    It is an :class:`srpy.EngBox` (indexing, slicing, ``box[[0, 2]]``,
    ``mrs``/``mrp``, maps...); close it (or leave its ``with`` block) to
    stop everything.

    >>> with srpy.local(engines=2) as cluster:
    ...     [e.eval("2 ** 10") for e in cluster]
    [1024, 1024]
    """

    def __init__(
        self,
        engines: int | str = 1,
        *,
        python: str | os.PathLike[str] | None = None,
        server_bin: str | os.PathLike[str] | None = None,
        token: str | bytes | None = None,
        server_args: Sequence[str] = (),
        start_timeout: float = 30.0,
        **engine_options: Any,
    ) -> None:
        n = detectNCPUs() if engines == "auto" else int(engines)
        if n < 1:
            raise ValueError(f"engines must be at least 1, got {engines!r}")
        server_command = find_server_bin(server_bin)
        self._server = RawLocalServer.start(
            n,
            _engine_python(python),
            server_command[0],
            token,
            list(server_args),
            start_timeout,
            server_command[1:],
        )
        #: The server's URI (``srpy://127.0.0.1:PORT``).
        self.uri: str = self._server.uri
        #: The server's token (random unless given).
        self.token: bytes = self._server.token
        _uri.remember_token(self.uri, self.token)
        _clusters.add(self)
        self.engines: list[PythonEngine] = []
        try:
            for i in range(n):
                self.engines.append(
                    PythonEngine(self._server.engine_uri(i), token=self.token, **engine_options)
                )
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self._server.pid

    @property
    def log_path(self) -> str:
        """The server's log file (its stdout and stderr)."""
        return str(self._server.log_path)

    @property
    def running(self) -> bool:
        return self._server.is_running()

    def engine_uri(self, index: int) -> str:
        return self._server.engine_uri(index)

    def restart(self, index: int) -> None:
        """Restarts engine ``index`` (fresh process and namespace)."""
        server = RawServer.connect(self.uri, self.token)
        try:
            server.restart(index)
        finally:
            server.close()

    def close(self) -> None:
        """Closes the engines and stops the server. Idempotent."""
        for e in self.engines:
            e.close()
        self._server.stop()
        _uri.forget_token(self.uri)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _title(self) -> str:
        return f"LocalCluster {self.uri} (server pid {self.pid}) of {len(self.engines)} engine(s)"


def local(engines: int | str = 1, **kwargs: Any) -> LocalCluster:
    """Starts a private server with ``engines`` engines (``"auto"``: one per
    CPU) and connects to them; use it in a ``with`` block to stop everything
    at the end. Keywords: ``python`` (the engines' interpreter, default this
    one), ``server_bin``, ``token``, ``server_args``, ``start_timeout``, and
    the :class:`PythonEngine` options (``output``, ``timeout``,
    ``allow_pickle``, …)."""
    return LocalCluster(engines, **kwargs)


# --------------------------------------------------------------------------
# newSubEngine
# --------------------------------------------------------------------------

_subs: list[tuple[subprocess.Popen[bytes], str]] = []
_subs_lock = threading.Lock()


def _stop_subs() -> None:
    with _subs_lock:
        subs = list(_subs)
        _subs.clear()
    if not subs:
        return
    import shutil
    import subprocess

    for proc, folder in subs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


atexit.register(_stop_subs)


def newSubEngine(
    python: str | os.PathLike[str] | None = None,
    *,
    server_bin: str | os.PathLike[str] | None = None,
    timeout: float = 30.0,
) -> tuple[str, subprocess.Popen[bytes]]:
    """Starts a private one-engine server and returns ``(uri, process)``:
    the engine's URI (``PythonEngine(uri)`` connects to it) and the server
    process (``process.terminate()`` stops it; it is stopped at exit too).

    >>> uri, proc = srpy.newSubEngine()
    >>> with srpy.PythonEngine(uri) as e:
    ...     e.eval("40 + 2")
    42
    >>> proc.terminate(); proc.wait()
    0
    """
    import subprocess
    import tempfile

    command = find_server_bin(server_bin)
    folder = tempfile.mkdtemp(prefix="srpy-sub-")
    token = os.urandom(32).hex().encode()
    token_file = os.path.join(folder, "token")
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(token)
    uri_file = os.path.join(folder, "uri")
    log_path = os.path.join(folder, "server.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                *command,
                "--listen",
                "127.0.0.1:0",
                "--engines",
                "1",
                "--uri-file",
                uri_file,
                "--token-file",
                token_file,
                "--python",
                _engine_python(python),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    with _subs_lock:
        _subs.append((proc, folder))
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(uri_file, encoding="utf-8") as fh:
                first = fh.readline().strip()
        except FileNotFoundError:
            first = ""
        if first:
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            with open(log_path, encoding="utf-8", errors="replace") as fh:
                tail = fh.read()[-4000:].strip() or "(no output)"
            err = SRPyTimeoutError if proc.returncode is None or proc.returncode < 0 else SRPyError
            raise err(
                f"{' '.join(command)} did not start (exit status {proc.returncode}); its output:\n{tail}"
            )
        time.sleep(0.01)
    _uri.remember_token(first, token)
    host, port, _ = _uri.split_uri(first)
    return f"srpy://{host}:{port}/0", proc


new_sub_engine = newSubEngine
