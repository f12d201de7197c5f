"""SRPy: Simple Remote Python.

Control CPython interpreters ("engines") on this and other machines: push
and pull variables, evaluate and execute code, ship modules and functions,
call remote functions through a namespace proxy, run work in parallel.

>>> import srpy
>>> with srpy.local(engines=1) as cluster:
...     eng = cluster[0]
...     eng.set(x=21)
...     eng.eval("x * 2")
42

In IPython / Jupyter, ``%load_ext srpy`` adds the ``%srpy`` and ``%%srpy``
magics (``srpy._magics``).

Old SRPy scripts run unchanged: ``PythonEngine(uri)``, ``exe``, ``vexe``,
``imp``, ``isBusy``, ``associateFunction``, ``newSubEngine()``, … are all
here, each with a snake_case twin.
"""

from __future__ import annotations

# Not `from typing import TYPE_CHECKING`: importing typing costs an engine
# ~15 ms of start-up (engines import this package); mypy treats a name
# TYPE_CHECKING as true all the same.
TYPE_CHECKING = False

from srpy._srpy import PROTOCOL_VERSION, __version__

# The client modules are imported on first use: engines import this package
# too (``python -m srpy.engine``) and must start fast.
_LAZY = {
    "PythonEngine": "srpy._client",
    "connect": "srpy._client",
    "LocalCluster": "srpy._local",
    "local": "srpy._local",
    "newSubEngine": "srpy._local",
    "new_sub_engine": "srpy._local",
    "detectNCPUs": "srpy._local",
    "detect_ncpus": "srpy._local",
    "find_server_bin": "srpy._local",
    "Namespace": "srpy._proxy",
    "RemoteObject": "srpy._proxy",
    "RemoteModule": "srpy._proxy",
    "RemoteFunction": "srpy._proxy",
    "Captured": "srpy._output",
    "SRPyError": "srpy._errors",
    "RemoteError": "srpy._errors",
    "RemoteInterrupted": "srpy._errors",
    "SRPyServerNotFound": "srpy._errors",
    "EngineDiedError": "srpy._errors",
    "EngineClosed": "srpy._errors",
    "SRPyTimeoutError": "srpy._errors",
    "AuthError": "srpy._errors",
    "ProtocolError": "srpy._errors",
    "VersionMismatch": "srpy._errors",
    "NotTransferable": "srpy._errors",
    "UnsupportedOperation": "srpy._errors",
    "LimitExceeded": "srpy._errors",
    "NoSuchEngine": "srpy._errors",
    "InvalidURI": "srpy._errors",
    "remote_error_class": "srpy._errors",
    "EngBox": "srpy._box",
    "Cluster": "srpy._cluster",
    "ClusterError": "srpy._cluster",
    "ClusterWarning": "srpy._cluster",
    "MultiRunResult": "srpy._box",
    "BoxError": "srpy._box",
    "MapError": "srpy._box",
    "MapRun": "srpy._box",
}

__all__ = [
    "PROTOCOL_VERSION",
    "AuthError",
    "BoxError",
    "Captured",
    "Cluster",
    "ClusterError",
    "ClusterWarning",
    "EngBox",
    "EngineClosed",
    "EngineDiedError",
    "InvalidURI",
    "LimitExceeded",
    "LocalCluster",
    "MapError",
    "MapRun",
    "MultiRunResult",
    "Namespace",
    "NoSuchEngine",
    "NotTransferable",
    "ProtocolError",
    "PythonEngine",
    "RemoteError",
    "RemoteFunction",
    "RemoteInterrupted",
    "RemoteModule",
    "RemoteObject",
    "SRPyError",
    "SRPyServerNotFound",
    "SRPyTimeoutError",
    "UnsupportedOperation",
    "VersionMismatch",
    "__version__",
    "connect",
    "detectNCPUs",
    "detect_ncpus",
    "find_server_bin",
    "local",
    "newSubEngine",
    "new_sub_engine",
    "remote_error_class",
]
assert set(__all__) == {"__version__", "PROTOCOL_VERSION", *_LAZY}

if TYPE_CHECKING:
    from typing import Any

    from srpy._box import BoxError, EngBox, MapError, MapRun, MultiRunResult
    from srpy._client import PythonEngine, connect
    from srpy._cluster import Cluster, ClusterError, ClusterWarning
    from srpy._errors import (
        AuthError,
        EngineClosed,
        EngineDiedError,
        InvalidURI,
        LimitExceeded,
        NoSuchEngine,
        NotTransferable,
        ProtocolError,
        RemoteError,
        RemoteInterrupted,
        SRPyError,
        SRPyServerNotFound,
        SRPyTimeoutError,
        UnsupportedOperation,
        VersionMismatch,
        remote_error_class,
    )
    from srpy._local import (
        LocalCluster,
        detect_ncpus,
        detectNCPUs,
        find_server_bin,
        local,
        new_sub_engine,
        newSubEngine,
    )
    from srpy._output import Captured
    from srpy._proxy import Namespace, RemoteFunction, RemoteModule, RemoteObject


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext srpy``: the ``%srpy`` and ``%%srpy`` magics (``srpy._magics``)."""
    from srpy._magics import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'srpy' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
