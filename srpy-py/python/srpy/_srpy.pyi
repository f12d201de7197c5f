"""Type stub of the compiled part of ``srpy`` (``srpy._srpy``, Rust/pyo3).

Checked against the built module with ``python -m mypy.stubtest srpy``.
"""

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from os import PathLike
from pathlib import Path
from typing import Any, TypeAlias, final

__all__ = [
    "PROTOCOL_VERSION",
    "EngineOutput",
    "RawBox",
    "RawCluster",
    "RawEngine",
    "RawLocalServer",
    "RawMap",
    "RawServer",
    "__version__",
    "_at_exit",
    "_barrier_check",
    "_client_error",
    "_decode",
    "_encode",
    "_roundtrip",
    "engine_main",
    "server_main",
]
__version__: str
PROTOCOL_VERSION: int

_Timeout: TypeAlias = float | None
_Future: TypeAlias = Future[Any] | None
_Token: TypeAlias = str | bytes | None

@final
class RawEngine:
    """A connection to one engine (wraps ``srpy_client::Engine``).

    Every operation goes through :meth:`request`: the operation's wire name
    and a dict of its fields (``docs/PROTOCOL.md`` 10.4), ``timeout``
    (seconds; ``None``: the default :attr:`timeout`; ``inf``: no limit) and
    ``future``: when given, the call returns ``None`` at once and completes
    the future later.
    """

    @staticmethod
    def connect(
        uri: str,
        token: _Token = None,
        connect_timeout: float = 10.0,
        call_timeout: float | None = None,
        allow_pickle: bool = False,
        tls: dict[str, str] | None = None,
    ) -> RawEngine: ...
    @property
    def uri(self) -> str: ...
    @property
    def index(self) -> int | None: ...
    @property
    def allow_pickle(self) -> bool: ...
    @property
    def info(self) -> Any: ...
    @property
    def is_connected(self) -> bool: ...
    @property
    def timeout(self) -> float | None: ...
    @timeout.setter
    def timeout(self, timeout: float | None) -> None: ...
    def set_output(self, output: Callable[[str, str], object] | None) -> None: ...
    def close(self) -> None: ...
    def request(
        self,
        op: str,
        fields: Mapping[str, Any] | None = None,
        timeout: _Timeout = None,
        future: _Future = None,
    ) -> Any: ...

@final
class RawServer:
    """A connection to a server (wraps ``srpy_client::ServerClient``)."""

    @staticmethod
    def connect(
        uri: str,
        token: _Token = None,
        connect_timeout: float = 10.0,
        tls: dict[str, str] | None = None,
    ) -> RawServer: ...
    @property
    def uri(self) -> str: ...
    @property
    def info(self) -> Any: ...
    def ping(self) -> str: ...
    def whoami(self) -> Any: ...
    def engines(self) -> list[dict[str, Any]]: ...
    def restart(self, index: int) -> None: ...
    def close(self) -> None: ...

@final
class RawLocalServer:
    """A private ``srpy-server`` (wraps ``srpy_client::LocalServer``)."""

    @staticmethod
    def start(
        engines: int = 1,
        python: str | PathLike[str] | None = None,
        server_bin: str | PathLike[str] | None = None,
        token: _Token = None,
        extra_args: list[str] | None = None,
        start_timeout: float = 30.0,
        server_bin_args: list[str] | None = None,
    ) -> RawLocalServer: ...
    @property
    def uri(self) -> str: ...
    def engine_uri(self, index: int) -> str: ...
    @property
    def token(self) -> bytes: ...
    @property
    def engine_count(self) -> int: ...
    @property
    def pid(self) -> int: ...
    @property
    def log_path(self) -> Path: ...
    def is_running(self) -> bool: ...
    def stop(self) -> int | None: ...

@final
class RawCluster:
    """Servers started on other hosts (wraps ``srpy_client::Cluster``)."""

    @staticmethod
    def ssh(
        hosts: list[str],
        engines: str = "auto",
        server_command: str | None = None,
        ssh_command: list[str] | None = None,
        listen_host: str | None = None,
        server_args: list[str] | None = None,
        min_hosts: int | None = None,
        start_timeout: float = 60.0,
        token: bytes | None = None,
        tunnel: bool = False,
    ) -> RawCluster: ...
    @staticmethod
    def slurm(
        nodes: int | None = None,
        engines_per_node: str = "auto",
        time: str | None = None,
        partition: str | None = None,
        sbatch_args: list[str] | None = None,
        server_command: str | None = None,
        listen_host: str | None = None,
        server_args: list[str] | None = None,
        start_timeout: float = 60.0,
        queue_timeout: float | None = None,
        progress: bool = True,
    ) -> RawCluster: ...
    def slurm_job(self) -> str | None: ...
    def servers(self) -> list[tuple[str, str, bytes, str, str | None]]: ...
    def failures(self) -> list[tuple[str, str]]: ...
    def lost_hosts(self) -> list[tuple[str, str]]: ...
    def stop(self) -> None: ...

@final
class EngineOutput:
    """``sys.stdout`` / ``sys.stderr`` of an engine process."""

    def write(self, text: str) -> int: ...
    def flush(self) -> None: ...
    def isatty(self) -> bool: ...
    def writable(self) -> bool: ...
    def readable(self) -> bool: ...
    @property
    def encoding(self) -> str: ...
    @property
    def errors(self) -> str: ...

def engine_main() -> None:
    """Entry point of ``python -m srpy.engine`` (started by srpy-server)."""

def server_main(argv: list[str]) -> int:
    """Runs the ``srpy-server`` program with this command line (``argv[0]``
    first) until a signal stops it; returns its exit status."""

def _at_exit() -> None: ...
def _barrier_check(panic: bool) -> str: ...
def _client_error(
    kind: str,
    message: str,
    remote_type: str | None = None,
    traceback: str | None = None,
    engine: str = "srpy://test:1/0",
) -> BaseException: ...
def _roundtrip(obj: object, allow_pickle: bool = False) -> Any: ...
def _encode(obj: object, allow_pickle: bool = False) -> bytes: ...
def _decode(data: bytes, allow_pickle: bool = False) -> Any: ...

@final
class RawBox:
    """A box over the engines of ``PythonEngine`` objects (``srpy._box``)."""

    def __new__(
        cls,
        engines: Iterable[Any],
        outputs: list[Callable[[str, str], Any] | None] | None = None,
        previous: RawBox | None = None,
    ) -> RawBox: ...
    @staticmethod
    def expand_uri(
        uri: str,
        token: bytes | None = None,
        connect_timeout: float = 10.0,
        tls: dict[str, str] | None = None,
    ) -> list[str]: ...
    @staticmethod
    def parse_uri_list(text: str) -> list[tuple[str, str | None]]: ...
    def __len__(self) -> int: ...
    def get_dead(self, ping_timeout: float = 3.0) -> list[int]: ...
    def last_dead(self) -> list[int]: ...
    def set_dead(self, index: int, dead: bool) -> None: ...
    def get_fastest(self, single: bool, basis: str) -> list[int]: ...
    def request_all(
        self, op: str, fields: Mapping[str, Any] | None = None, timeout: float | None = None
    ) -> list[tuple[bool, Any]]: ...
    def set_each(self, name: str, parts: Iterable[Any]) -> None: ...
    def scatter(self, name: str, items: Iterable[Any]) -> None: ...
    def gather_parts(self, name: str) -> list[Any]: ...
    def imap(
        self,
        kind: str,
        payload: str | bytes,
        items: Iterable[Any],
        var: str = "x",
        chunksize: int | None = None,
        ordered: bool = True,
        max_retries: int = 2,
        pipeline: int | None = None,
    ) -> RawMap: ...

@final
class RawMap:
    """A running map (``RawBox.imap``)."""

    @property
    def total(self) -> int: ...
    def next_batch(self) -> list[tuple[int, bool, Any]] | None: ...
    def cancel(self) -> None: ...
    def report(self) -> dict[str, Any]: ...
