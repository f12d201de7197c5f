"""The Jython package (``srpy-jvm/src/main/jython/srpy``) mirrors the CPython
package: the same public names, exception names and module split, so that
the two cannot drift apart. (The Jython scenarios check that every name of
its ``__all__`` exists; this test compares the two lists.)"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import srpy

JYTHON = Path(__file__).resolve().parents[2] / "srpy-jvm" / "src" / "main" / "jython" / "srpy"

#: CPython names Jython does not have, and why.
CPYTHON_ONLY = {
    "PROTOCOL_VERSION": "the protocol version lives in the jar (org.srpy.Native)",
    "__version__": "Jython has it too, outside __all__",
    "Captured": "remote output capture is CPython-only",
    "Namespace": "the Jython namespace proxy is private",
    "RemoteFunction": "associateFunction answers a private proxy in Jython",
    "RemoteModule": "CPython proxy class",
    "RemoteObject": "CPython proxy class",
    "MapError": "Jython maps raise the failing item's own error",
    "MapRun": "Jython has no streaming maps",
    "BoxError": "Jython has no box broadcasts (exe/eval/set on the box)",
    "VersionMismatch": "the jar reports it as ProtocolError",
    "LimitExceeded": "the jar reports it as SRPyError",
    "InvalidURI": "the jar reports it as TypeError (IllegalArgumentException)",
    "find_server_bin": "the jar finds its own server",
}

#: Jython names CPython does not have: the old names (aliases) and Java glue.
JYTHON_ONLY = {
    "TimeoutError": "SRPyTimeoutError",
    "InterruptedError": "RemoteInterrupted",
    "NotTransferableError": "NotTransferable",
    "UnsupportedOpError": "UnsupportedOperation",
    "NoSuchEngineError": "NoSuchEngine",
    "EngineClosedError": "EngineClosed",
    "Bytes": None,
    "NDArray": None,
    "tojava": None,
    "topy": None,
}


def jython_all() -> list[str]:
    text = (JYTHON / "__init__.py").read_text(encoding="utf-8")
    m = re.search(r"^__all__ = (\[.*?\])$", text, re.DOTALL | re.MULTILINE)
    assert m, "no __all__ list in the Jython __init__.py"
    return ast.literal_eval(m.group(1))


def test_public_names_agree():
    cpython, jython = set(srpy.__all__), set(jython_all())
    assert cpython - jython == set(CPYTHON_ONLY) & cpython, (
        f"only in CPython: {sorted(cpython - jython)}"
    )
    assert jython - cpython == set(JYTHON_ONLY), f"only in Jython: {sorted(jython - cpython)}"
    # The aliases name CPython's classes.
    for alias, target in JYTHON_ONLY.items():
        if target is not None:
            assert target in cpython and target in jython, alias


def test_exception_names_agree():
    errors = (JYTHON / "_errors.py").read_text(encoding="utf-8")
    # Public classes only (a private helper such as _JavaResource is glue).
    jython_classes = set(re.findall(r"^class ([A-Za-z]\w*)\(", errors, re.MULTILINE))
    cpython_classes = {
        n for n in srpy.__all__ if isinstance(getattr(srpy, n), type) and issubclass(getattr(srpy, n), Exception)
    }
    assert jython_classes == cpython_classes - set(CPYTHON_ONLY)


def test_module_split_agrees():
    cpython_modules = {p.name for p in Path(srpy.__file__).parent.glob("*.py")}
    for p in JYTHON.glob("*.py"):
        assert p.name in cpython_modules, f"Jython module {p.name} has no CPython twin"
