"""Attribute proxies on an engine's namespace (``eng.ns``) and callable
proxies on remote functions (``eng.function(name)``).

Reading an attribute asks the engine what the dotted name is (the
``describe`` operation): a value is fetched and returned; a module, class or
other callable comes back as a proxy, so that ``eng.ns.math.sqrt(2)`` calls
``math.sqrt`` in the engine; so does a value that cannot travel (an instance
of a class defined in the engine: ``eng.ns.obj.method()`` works). Names that start and end with ``__`` are never
looked up remotely (they belong to the proxy object).
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: its import costs start-up time

from srpy._errors import NotTransferable, RemoteError

if TYPE_CHECKING:
    from concurrent.futures import Future
    from typing import Any

    from srpy._client import PythonEngine

__all__ = ["Namespace", "RemoteFunction", "RemoteModule", "RemoteObject"]

# Fetches a dotted value whose first part is not a variable of the engine
# (an importable module's attribute), in a temporary namespace.
_FETCH_IMPORTED = """\
import importlib as _il
_r = _il.import_module(_root)
for _p in _parts:
    try:
        _r = getattr(_r, _p)
    except AttributeError:
        _r = _il.import_module(_r.__name__ + '.' + _p)
"""


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _fetch(engine: PythonEngine, path: str) -> Any:
    """The value at a dotted ``path`` of the engine."""
    if "." not in path:
        return engine.get(path)
    try:
        return engine.eval(path)
    except NameError as exc:
        if not isinstance(exc, RemoteError):
            raise
        root, *parts = path.split(".")
        got = engine.vexe(_FETCH_IMPORTED, get=["_r"], _root=root, _parts=parts)
        return got["_r"]


def _resolve(engine: PythonEngine, path: str) -> Any:
    """A value, or a proxy for a module, class or callable (or for a value
    that cannot travel, such as an instance of a class of the engine)."""
    info = engine.describe(path)
    kind = info.get("kind")
    if kind == "value":
        try:
            return _fetch(engine, path)
        except NotTransferable:
            return RemoteObject(engine, path, info)
    if kind == "module":
        return RemoteModule(engine, path, info)
    return RemoteFunction(engine, path, info=info)


class RemoteObject:
    """A remote object named by a dotted path in an engine: attribute access
    goes to the engine (see the module doc)."""

    _srpy_engine: PythonEngine
    _srpy_path: str
    _srpy_info: dict[str, Any]

    def __init__(self, engine: PythonEngine, path: str, info: dict[str, Any] | None = None) -> None:
        if info is None:
            info = engine.describe(path)
        object.__setattr__(self, "_srpy_engine", engine)
        object.__setattr__(self, "_srpy_path", path)
        object.__setattr__(self, "_srpy_info", info)
        object.__setattr__(self, "__doc__", info.get("doc"))
        object.__setattr__(self, "__name__", path.rsplit(".", 1)[-1])
        object.__setattr__(self, "__qualname__", path)

    def __getattr__(self, name: str) -> Any:
        if _is_dunder(name) or name.startswith("_srpy_"):
            raise AttributeError(name)
        return _resolve(self._srpy_engine, f"{self._srpy_path}.{name}")

    def __setattr__(self, name: str, value: Any) -> None:
        if _is_dunder(name):
            object.__setattr__(self, name, value)
            return
        self._srpy_engine.exe(
            f"{self._srpy_path}.{name} = __srpy_value__\ndel __srpy_value__",
            __srpy_value__=value,
        )

    def __delattr__(self, name: str) -> None:
        self._srpy_engine.exe(f"del {self._srpy_path}.{name}")

    def __dir__(self) -> list[str]:
        return list(self._srpy_info.get("attributes") or [])

    @property
    def kind(self) -> str:
        """``module``, ``class``, ``function``, ``callable`` or ``value``."""
        return str(self._srpy_info.get("kind"))

    @property
    def signature(self) -> str | None:
        """The remote signature as text (``'(x, /)'``), when known."""
        sig = self._srpy_info.get("signature")
        return None if sig is None else str(sig)

    def __repr__(self) -> str:
        return f"<Remote {self.kind} {self._srpy_path} on {self._srpy_engine.uri}>"


class RemoteModule(RemoteObject):
    """A module of the engine (``eng.ns.math``)."""


class RemoteFunction(RemoteObject):
    """A remote callable: calling it calls the engine's function with the
    same arguments (all keywords are forwarded; ``timeout`` given when the
    proxy was made is the client's limit per call) and returns the result.
    ``__doc__`` and ``__name__`` are the remote ones.

    >>> hyp = eng.function("math.hypot")
    >>> hyp(3, 4)
    5.0
    >>> hyp.submit(6, 8).result()
    10.0
    """

    _srpy_timeout: float | None

    def __init__(
        self,
        engine: PythonEngine,
        path: str,
        info: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> None:
        super().__init__(engine, path, info)
        object.__setattr__(self, "_srpy_timeout", timeout)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        engine = self._srpy_engine
        return engine._raw.request(
            "call", {"name": self._srpy_path, "args": args, "kwargs": kwargs}, self._srpy_timeout
        )

    def submit(self, *args: Any, **kwargs: Any) -> Future[Any]:
        """Calls without waiting; a ``concurrent.futures.Future`` of the result."""
        from concurrent.futures import Future

        f: Future[Any] = Future()
        f.set_running_or_notify_cancel()
        engine = self._srpy_engine
        engine._raw.request(
            "call", {"name": self._srpy_path, "args": args, "kwargs": kwargs}, self._srpy_timeout, f
        )
        return f

    call_async = submit

    def __repr__(self) -> str:
        return f"<RemoteFunction {self._srpy_path} on {self._srpy_engine.uri}>"


class Namespace:
    """``eng.ns``: the engine's namespace as attributes.

    >>> eng.ns.a = 3
    >>> eng.ns.a
    3
    >>> "a" in dir(eng.ns)
    True
    >>> del eng.ns.a
    >>> eng.imp("math")
    >>> eng.ns.math.sqrt(9)
    3.0
    >>> eng.ns.math.pi
    3.141592653589793
    """

    __slots__ = ("_srpy_engine",)

    def __init__(self, engine: PythonEngine) -> None:
        object.__setattr__(self, "_srpy_engine", engine)

    def __getattr__(self, name: str) -> Any:
        if _is_dunder(name) or name.startswith("_srpy_"):
            raise AttributeError(name)
        return _resolve(self._srpy_engine, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._srpy_engine.set({name: value})

    def __delattr__(self, name: str) -> None:
        self._srpy_engine.delete(name)

    def __dir__(self) -> list[str]:
        return list(self._srpy_engine.get())

    def __contains__(self, name: str) -> bool:
        return name in self._srpy_engine.get()

    def dir(self) -> list[str]:
        """The names bound in the engine (the original ``ns.dir()``)."""
        return list(self._srpy_engine.get())

    def __repr__(self) -> str:
        return f"<namespace of {self._srpy_engine.uri}>"
