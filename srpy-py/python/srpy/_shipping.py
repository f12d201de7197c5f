"""Shipping code to engines: functions for ``apply``, modules for ``install``."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import io
import os
import pickle
import sys
import sysconfig
import textwrap
import threading
import types
import zipfile
from collections.abc import Callable
from typing import Any

from srpy._errors import NotTransferable
from srpy._remote import function_from_source

__all__ = ["dumps_function", "module_payload"]

_pickle_lock = threading.Lock()


# --------------------------------------------------------------------------
# functions
# --------------------------------------------------------------------------


_LIBRARY_DIRS: tuple[str, ...] | None = None


def _library_dirs() -> tuple[str, ...]:
    """The folders of installed libraries, computed once: `realpath` of each
    costs system calls, and a map asks for every function it ships."""
    global _LIBRARY_DIRS
    if _LIBRARY_DIRS is None:
        paths = sysconfig.get_paths()
        dirs = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
        pkg_dir = os.path.dirname(os.path.abspath(__file__))  # srpy itself
        _LIBRARY_DIRS = tuple(os.path.normcase(os.path.realpath(d)) for d in dirs | {pkg_dir} if d)
    return _LIBRARY_DIRS


def _is_user_code(func: types.FunctionType) -> bool:
    """Whether ``func`` comes from the user's own code (not an installed
    library): those are shipped by value, libraries by reference."""
    module = sys.modules.get(func.__module__ or "")
    if module is None or module.__name__ == "__main__":
        return True
    path = getattr(module, "__file__", None)
    if not path:
        return False
    real = os.path.normcase(os.path.realpath(path))
    return not any(real == d or real.startswith(d + os.sep) for d in _library_dirs())


def _function_source(func: types.FunctionType) -> tuple[str, str]:
    """``(source, name)`` of a self-contained function, decorators removed."""
    if func.__closure__:
        free = ", ".join(func.__code__.co_freevars)
        raise NotTransferable(
            f"cannot ship {func.__qualname__!r} by source: it is a closure (it uses {free} "
            "from an enclosing function); install cloudpickle (pip install cloudpickle) "
            "in the client and the engines to ship closures"
        )
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError) as exc:
        raise NotTransferable(
            f"cannot ship {func.__qualname__!r}: its source is not available ({exc}); "
            "install cloudpickle to ship it by value"
        ) from None
    name = func.__name__
    try:
        tree = ast.parse(source)
    except SyntaxError:
        # getsource of a lambda gives its whole line(s), maybe not parseable.
        tree = None
    if tree is not None and name != "<lambda>":
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                node.decorator_list = []
                return ast.unparse(node) + "\n", name
    if tree is not None and name == "<lambda>":
        lambdas = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda)]
        if len(lambdas) == 1:
            return f"__srpy_lambda__ = {ast.unparse(lambdas[0])}\n", "__srpy_lambda__"
    raise NotTransferable(
        f"cannot find the source of {func.__qualname__!r} to ship it; install cloudpickle "
        "to ship it by value"
    )


class _ByValue:
    """A function travelling as source text (plain pickle, no cloudpickle)."""

    def __init__(self, source: str, name: str) -> None:
        self.source = source
        self.name = name

    def __reduce__(self) -> tuple[Any, ...]:
        return (function_from_source, (self.source, self.name))


def dumps_function(func: Callable[..., Any]) -> bytes:
    """Pickle ``func`` for the engine's ``apply``.

    With cloudpickle, the user's own functions (from ``__main__`` or from
    modules outside the installed libraries) are pickled by value, with the
    globals and closures they use; library functions by reference. Without
    cloudpickle, the user's functions travel as source text (so they must be
    self-contained: imports inside the function, no closures) and anything
    else is pickled by reference.
    """
    if not callable(func):
        raise TypeError(f"apply needs a callable, got {type(func).__name__}")
    try:
        import cloudpickle
    except ImportError:
        cloudpickle = None
    user = isinstance(func, types.FunctionType) and _is_user_code(func)
    if cloudpickle is not None:
        module = sys.modules.get(getattr(func, "__module__", "") or "")
        if user and module is not None and module.__name__ != "__main__":
            with _pickle_lock:
                cloudpickle.register_pickle_by_value(module)
                try:
                    return cloudpickle.dumps(func, protocol=5)
                finally:
                    cloudpickle.unregister_pickle_by_value(module)
        return cloudpickle.dumps(func, protocol=5)
    if user:
        assert isinstance(func, types.FunctionType)
        return pickle.dumps(_ByValue(*_function_source(func)), protocol=5)
    try:
        return pickle.dumps(func, protocol=5)
    except Exception as exc:  # noqa: BLE001
        raise NotTransferable(
            f"cannot ship {func!r}: {exc}; install cloudpickle to ship it by value"
        ) from None


# --------------------------------------------------------------------------
# modules
# --------------------------------------------------------------------------


def _zip_package(name: str, directory: str) -> bytes:
    """A zip of a package directory, as ``a/b/...`` for package ``a.b``
    (with empty ``__init__.py`` files for the parents), without bytecode."""
    parts = name.split(".")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(1, len(parts)):
            zf.writestr("/".join(parts[:i]) + "/__init__.py", "")
        prefix = "/".join(parts)
        for root, dirs, files in os.walk(directory):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            rel = os.path.relpath(root, directory)
            for f in sorted(files):
                if f.endswith((".pyc", ".pyo")):
                    continue
                arc = prefix if rel == "." else f"{prefix}/{rel.replace(os.sep, '/')}"
                zf.write(os.path.join(root, f), f"{arc}/{f}")
    return buf.getvalue()


def module_payload(module: str | types.ModuleType) -> tuple[str, str, str | bytes]:
    """How to ship a module found locally: ``(name, "source", text)`` for a
    single-file module, ``(name, "archive", zip bytes)`` for a package."""
    name = module.__name__ if isinstance(module, types.ModuleType) else module
    if not isinstance(name, str) or not all(p.isidentifier() for p in name.split(".")):
        raise ValueError(f"install needs module names, got {module!r}")
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as exc:
        raise ModuleNotFoundError(f"cannot install {name!r}: {exc}", name=name) from None
    if spec is None:
        raise ModuleNotFoundError(
            f"cannot install {name!r}: no such module here (is it on sys.path?)", name=name
        )
    locations = list(spec.submodule_search_locations or [])
    if locations:
        return name, "archive", _zip_package(name, locations[0])
    origin = spec.origin or ""
    if origin.endswith(".py") and os.path.isfile(origin):
        with open(origin, encoding="utf-8") as fh:
            return name, "source", fh.read()
    what = "built in" if origin in ("built-in", "frozen") else f"not Python source ({origin})"
    raise ValueError(
        f"cannot install {name!r}: it is {what}; only modules and packages written in "
        "Python can be shipped (install compiled ones on the engine's host)"
    )
