"""``PythonEngine``: one remote Python engine.

The methods keep the original SRPy names (``exe``, ``vexe``, ``imp``,
``isBusy``, ``associateFunction``, ``getURI``, …), each with a snake_case
twin, and add futures, per-call timeouts, interrupts and remote output.

Every method that talks to the engine takes a keyword-only ``timeout``: the
client's limit for that call in seconds (``None``: the handle's default,
``PythonEngine(timeout=...)``, which itself defaults to no limit;
``math.inf``: no limit). A call that runs out of time raises
:class:`srpy.SRPyTimeoutError` and is interrupted in the engine, which stays
usable. Because ``timeout`` is taken by the client, a remote variable named
``timeout`` is set with ``eng.set({"timeout": 5})``, and a remote function's
keyword argument ``timeout`` is passed through a function proxy
(``eng.function("f")(timeout=5)``), which forwards every keyword.
"""

from __future__ import annotations

import atexit
import os
import threading
import types
from contextlib import contextmanager

from srpy import _uri
from srpy._errors import SRPyServerNotFound
from srpy._output import Captured, OutputRouter, Sink
from srpy._proxy import Namespace, RemoteFunction
from srpy._srpy import RawEngine, RawServer, _at_exit

# Start-up time matters (a script's first result waits for its imports):
# typing, concurrent.futures and the code-shipping module (ast, inspect,
# zipfile) are imported where first needed, not here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from concurrent.futures import Future, ThreadPoolExecutor
    from typing import Any, Self

    from srpy._display import EngineInfo
    from srpy._output import OutputSpec

__all__ = ["PythonEngine", "connect"]

# Futures still pending at exit stay pending: the thread completing them must
# not take the GIL while the interpreter shuts down.
atexit.register(_at_exit)

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _thread_pool() -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor

    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="srpy-submit")
        return _pool


def _future() -> Future[Any]:
    from concurrent.futures import Future

    f: Future[Any] = Future()
    f.set_running_or_notify_cancel()
    return f


def dumps_function(func: Callable[..., Any]) -> bytes:
    from srpy._shipping import dumps_function as dumps

    return dumps(func)


def module_payload(module: str | types.ModuleType) -> tuple[str, str, str | bytes]:
    from srpy._shipping import module_payload as payload

    return payload(module)


def _split_modules(modules: Iterable[str]) -> list[str]:
    out: list[str] = []
    for m in modules:
        out.extend(p.strip() for p in m.split(",") if p.strip())
    return out


#: Original and alias names accepted by :meth:`PythonEngine.submit`.
_SUBMIT_NAMES = {
    "exec": "exe",
    "exec_": "exe",
    "vexec": "vexe",
    "import_": "imp",
    "isBusy": "is_busy",
}


class PythonEngine:
    """A connection to one remote Python engine.

    ``uri`` names the engine (``srpy://host:port/<index>``). ``name`` and
    ``group`` label it (default: the server's ``--name`` and ``--group``);
    ``token`` is the server's secret (default: ``SRPY_TOKEN``, or the token of
    a server this process started); ``timeout`` the default per-call timeout
    in seconds; ``allow_pickle`` lets values without a wire form travel
    pickled (between Python peers you trust only: unpickling runs code);
    ``output`` says where the remote ``print`` output goes: ``"print"`` (the
    local stdout/stderr, each line prefixed ``[engine N]``), ``"capture"``
    (kept in :attr:`last_output`), ``None`` (dropped) or a callable
    ``f(stream, text)``. Over TLS (a ``srpys://`` address, or any ``tls_*``
    keyword), ``tls_ca`` (a CA certificate file) or ``tls_pin`` (the SHA-256
    fingerprint the server printed) verifies the server, and ``tls_cert`` /
    ``tls_key`` are the client certificate for a server that asks for one.

    >>> eng.set(a=5, b=3)
    >>> eng.eval("a * b")
    15
    >>> eng.exe("import math; n = math.sqrt(n)", n=16)
    >>> eng.get("n")
    4.0
    >>> eng.vexe("c = a + b", get=["c"], a=1, b=2)
    {'c': 3}
    >>> eng.exe("print('hello from the engine')")
    [engine 0] hello from the engine
    >>> eng.ping()
    'pong'
    """

    def __init__(
        self,
        uri: str,
        name: str | None = None,
        group: str | None = None,
        token: str | bytes | None = None,
        timeout: float | None = None,
        allow_pickle: bool = False,
        output: OutputSpec = "print",
        connect_timeout: float = 10.0,
        tls_ca: str | os.PathLike[str] | None = None,
        tls_pin: str | None = None,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
    ) -> None:
        if token is None:
            token = _uri.known_token(uri)
        tls = _uri.tls_options(tls_ca, tls_pin, tls_cert, tls_key)
        try:
            raw = RawEngine.connect(uri, token, connect_timeout, timeout, allow_pickle, tls)
        except SRPyServerNotFound as exc:
            err = SRPyServerNotFound(f"{exc} (connecting to {uri})")
            err.uri = uri
            raise err from None
        self._raw = raw
        self._token = token
        self._tls = tls
        #: The engine's address, ``srpy://host:port/<index>``.
        self.uri: str = raw.uri
        host, port, index = _uri.split_uri(self.uri)
        #: Host and port of the server (as in the original: ``ip``, ``port``).
        self.ip: str = host.strip("[]")
        self.port: int = port
        #: The engine's index on its server.
        self.index: int | None = raw.index if raw.index is not None else index
        welcome = raw.info if isinstance(raw.info, dict) else {}
        self.name: str = name if name is not None else str(welcome.get("name", ""))
        self.group: str = group if group is not None else str(welcome.get("group", ""))
        #: Host name of the engine's machine.
        self.hostname: str = str(welcome.get("hostname", ""))
        #: ``PythonEngine ID`` (as in ``whoami()``) of the engine connected to.
        self.id: str = f"engine-{self.index}@{self.hostname}:{welcome.get('pid', '?')}"
        self._info: dict[str, Any] | None = None
        self._router = OutputRouter(output, f"[engine {self.index}] ")
        self._capturing = output == "capture"
        raw.set_output(self._router if self._router.active else None)

    @property
    def ns(self) -> Namespace:
        """The remote namespace as attributes: ``eng.ns.a = 3``, ``eng.ns.a``,
        ``del eng.ns.a``, ``dir(eng.ns)``, ``eng.ns.math.sqrt(2)``."""
        return Namespace(self)

    def info(self, *, timeout: float | None = None) -> EngineInfo:
        """The engine's facts (``whoami()``, asked now): a dict that shows
        one fact per line (``print(eng.info())``)."""
        from srpy._display import EngineInfo

        return EngineInfo(self._raw.request("whoami", None, timeout))

    def _facts(self) -> dict[str, Any]:
        """``whoami()`` of the engine, asked on first use and kept."""
        if self._info is None:
            self._info = self._raw.request("whoami")
        return self._info

    # -- variables ---------------------------------------------------------

    def set(
        self,
        mapping: Mapping[str, Any] | None = None,
        /,
        *,
        timeout: float | None = None,
        **vars: Any,
    ) -> None:
        """Binds variables in the engine: ``set(a=1, b=2)`` or
        ``set({"a": 1})`` (for names such as ``timeout``).

        >>> eng.set(a=1, b=[1, 2])
        >>> eng.get(["a", "b"])
        {'a': 1, 'b': [1, 2]}
        """
        if mapping:
            vars = {**mapping, **vars}
        self._raw.request("set", {"vars": vars}, timeout)

    def get(self, vars: str | Iterable[str] | None = None, *, timeout: float | None = None) -> Any:
        """``get()``: the names bound in the engine; ``get('a')``: the value
        of ``a``; ``get(['a', 'b'])``: a dict of values.

        >>> eng.clear(); eng.set(x=1, y=2)
        >>> eng.get()
        ['x', 'y']
        >>> eng.get("x")
        1
        >>> eng.get(["x", "y"])
        {'x': 1, 'y': 2}
        """
        if vars is None:
            return self._raw.request("names", None, timeout)
        if isinstance(vars, str):
            return self._raw.request("get", {"name": vars}, timeout)
        return self._raw.request("get_many", {"names": vars}, timeout)

    def delete(self, *names: str, timeout: float | None = None) -> None:
        """Unbinds variables (all or none: an unbound name is a remote
        ``NameError``)."""
        self._raw.request("delete", {"names": names}, timeout)

    def clear(self, *, timeout: float | None = None) -> None:
        """Resets the engine's namespace."""
        self._raw.request("clear", None, timeout)

    # -- code --------------------------------------------------------------

    def eval(self, expr: str, /, *, timeout: float | None = None, **vars: Any) -> Any:
        """Binds ``vars``, then evaluates the expression ``expr`` and
        returns its value.

        >>> eng.eval("a + b", a=2, b=3)
        5
        """
        if self._capturing:
            self._router.last.clear()
        return self._raw.request("eval", {"expr": expr, "vars": vars}, timeout)

    def exe(self, code: str, /, *, timeout: float | None = None, **vars: Any) -> None:
        """Binds ``vars``, then executes the statements ``code``.

        >>> eng.exe("def sq(x):\\n    return x * x")
        >>> eng.eval("sq(7)")
        49
        """
        if self._capturing:
            self._router.last.clear()
        self._raw.request("exec", {"code": code, "vars": vars}, timeout)

    exec_ = exe

    def vexe(
        self,
        code: str,
        /,
        get: Iterable[str] | str = (),
        *,
        timeout: float | None = None,
        **vars: Any,
    ) -> dict[str, Any]:
        """Executes ``code`` in a fresh temporary namespace holding only
        ``vars``, returns the variables named in ``get``; the engine's
        namespace is untouched.

        >>> eng.vexe("import math; r = math.sqrt(n)", get=["r"], n=2.25)
        {'r': 1.5}
        """
        if self._capturing:
            self._router.last.clear()
        names = [get] if isinstance(get, str) else list(get)
        return self._raw.request("vexec", {"code": code, "get": names, "vars": vars}, timeout)

    vexec = vexe

    def call(self, name: str, /, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """Calls the remote callable at the dotted ``name``.

        >>> eng.call("math.hypot", 3, 4)
        5.0
        """
        if self._capturing:
            self._router.last.clear()
        return self._raw.request("call", {"name": name, "args": args, "kwargs": kwargs}, timeout)

    def describe(self, name: str, *, timeout: float | None = None) -> dict[str, Any]:
        """What the dotted ``name`` is in the engine: ``{name, kind, type,
        doc, signature, attributes}`` (``kind``: ``module``, ``class``,
        ``function``, ``callable`` or ``value``).

        >>> eng.describe("math.sqrt")["kind"]
        'function'
        """
        return self._raw.request("describe", {"name": name}, timeout)

    def apply(
        self, func: Callable[..., Any], /, *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> Any:
        """Runs the local function ``func(*args, **kwargs)`` in the engine
        and returns its result.

        The function is shipped with cloudpickle when installed (closures and
        the globals it uses travel too; the engines need cloudpickle as
        well), else as its source text (it must then be self-contained).

        >>> def collatz(n):
        ...     steps = 0
        ...     while n != 1:
        ...         n = n // 2 if n % 2 == 0 else 3 * n + 1
        ...         steps += 1
        ...     return steps
        >>> eng.apply(collatz, 27)
        111
        """
        if self._capturing:
            self._router.last.clear()
        return self._raw.request(
            "apply", {"function": dumps_function(func), "args": args, "kwargs": kwargs}, timeout
        )

    # -- modules -------------------------------------------------------------

    def install(self, *modules: str | types.ModuleType, timeout: float | None = None) -> None:
        """Ships local modules or packages to the engine (found with the
        local import system: a module's source, a package as a zip of its
        folder without ``__pycache__``); the engine can import them after.
        An installed module that was imported before is reloaded."""
        if self._capturing:
            self._router.last.clear()
        for module in modules:
            name, kind, payload = module_payload(module)
            if kind == "source":
                assert isinstance(payload, str)
                self._raw.request("install", {"name": name, "source": payload}, timeout)
            else:
                assert isinstance(payload, bytes)
                self._raw.request(
                    "install", {"name": name, "archive": payload, "is_package": True}, timeout
                )

    def imp(self, *modules: str, timeout: float | None = None) -> None:
        """Imports modules in the engine: ``imp('math', 'numpy as np')``.

        >>> eng.imp("math")
        >>> eng.eval("math.floor(2.5)")
        2
        """
        if self._capturing:
            self._router.last.clear()
        self._raw.request("import", {"modules": _split_modules(modules)}, timeout)

    import_ = imp

    # -- proxies ---------------------------------------------------------------

    def function(self, name: str, *, timeout: float | None = None) -> RemoteFunction:
        """A local callable calling the remote function ``name``; it carries
        the remote ``__doc__`` and forwards every argument (``timeout`` here
        is the client's limit for each call).

        >>> sqrt = eng.function("math.sqrt")
        >>> sqrt(16)
        4.0
        >>> sqrt.__doc__.splitlines()[0]
        'Return the square root of x.'
        """
        return RemoteFunction(self, name, timeout=timeout)

    def associateFunction(self, func_name: str) -> RemoteFunction:
        """Original name of :meth:`function`."""
        return self.function(func_name)

    associate_function = associateFunction

    # -- engine state -------------------------------------------------------------

    def whoami(self, *, timeout: float | None = None) -> dict[str, Any]:
        """Facts about the engine: ``Hostname``, ``OS System``, ``Python
        Version``, ``PythonEngine ID``, ``pid``, …"""
        return self._raw.request("whoami", None, timeout)

    def ping(self, *, timeout: float | None = None) -> str:
        """``'pong'`` (answered even while the engine is busy)."""
        return self._raw.request("ping", None, timeout)

    def isBusy(self, *, timeout: float | None = None) -> bool:
        """Whether the engine is running (or has queued) a request."""
        return self._raw.request("is_busy", None, timeout)

    is_busy = isBusy

    def wait(self, timeout: float | None = None) -> bool:
        """Waits until the engine is idle, at most ``timeout`` seconds
        (``None``: as long as it takes); true when it is idle."""
        return self._raw.request("wait", {"timeout": timeout})

    def interrupt(self, *, timeout: float | None = None) -> bool:
        """Raises ``KeyboardInterrupt`` in the engine's running request (the
        caller of that request gets :class:`srpy.RemoteInterrupted`); true
        when something was running. The engine stays usable."""
        return self._raw.request("interrupt", None, timeout)

    def benchmark(
        self, cycles: int = 10, *, timeout: float | None = None
    ) -> tuple[float, float, bool]:
        """``(net_s, proc_s, busy)``: the mean network round trip, the
        engine's time for ``cycles`` processor benchmark cycles, and whether
        the engine was busy."""
        return self._raw.request("benchmark", {"cycles": cycles}, timeout)

    def restart(self) -> None:
        """Asks the engine's server to restart this engine (a fresh process
        and namespace); the next call connects to the new one."""
        host, port, _ = _uri.split_uri(self.uri)
        server = RawServer.connect(f"srpy://{host}:{port}", self._token, tls=self._tls)
        try:
            if self.index is None:
                raise ValueError(f"{self.uri} does not name an engine of a server")
            server.restart(self.index)
        finally:
            server.close()

    # -- settings -------------------------------------------------------------------

    @property
    def timeout(self) -> float | None:
        """The default per-call timeout in seconds (``None``: no limit);
        may be changed. ``wait()`` is bounded by its own argument only."""
        return self._raw.timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._raw.timeout = value

    # -- output ---------------------------------------------------------------------

    @property
    def output(self) -> OutputSpec:
        """Where remote output goes: ``"print"``, ``"capture"``, ``None``
        or a callable ``f(stream, text)``; may be changed."""
        return self._router.spec

    @output.setter
    def output(self, spec: OutputSpec) -> None:
        self._router.set(spec)
        self._capturing = spec == "capture"
        self._raw.set_output(self._router if self._router.active else None)

    @property
    def last_output(self) -> Captured:
        """With ``output="capture"``: the output of the latest call that ran
        code (``str()`` it, or read ``.stdout`` / ``.stderr``)."""
        return self._router.last

    @contextmanager
    def capture(self) -> Iterator[Captured]:
        """Collects the remote output of the calls in a ``with`` block.

        >>> with eng.capture() as out:
        ...     eng.exe("print('captured')")
        >>> out.stdout
        'captured\\n'
        """
        cap = Captured()
        restore = self._divert_output(cap)
        try:
            yield cap
        finally:
            restore()

    def _divert_output(self, sink: Sink) -> Callable[[], None]:
        """Sends the remote output to ``sink`` (ahead of the ``output``
        setting) until the function answered is called."""
        self._router.captures.append(sink)
        self._raw.set_output(self._router)

        def restore() -> None:
            self._router.captures.remove(sink)
            self._raw.set_output(self._router if self._router.active else None)

        return restore

    # -- futures ----------------------------------------------------------------------

    def submit(self, method: str | Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Runs ``getattr(self, method)(*args, **kwargs)`` without waiting
        and returns a ``concurrent.futures.Future`` of its result.

        >>> f = eng.submit("eval", "6 * 7")
        >>> f.result()
        42
        """
        name = method if isinstance(method, str) else method.__name__
        name = _SUBMIT_NAMES.get(name, name)
        fast = getattr(self, f"{name}_async", None)
        if fast is not None:
            return fast(*args, **kwargs)
        return _thread_pool().submit(getattr(self, name), *args, **kwargs)

    def eval_async(self, expr: str, /, *, timeout: float | None = None, **vars: Any) -> Future[Any]:
        """:meth:`eval` returning a future."""
        f = _future()
        self._raw.request("eval", {"expr": expr, "vars": vars}, timeout, f)
        return f

    def exe_async(self, code: str, /, *, timeout: float | None = None, **vars: Any) -> Future[None]:
        """:meth:`exe` returning a future."""
        f = _future()
        self._raw.request("exec", {"code": code, "vars": vars}, timeout, f)
        return f

    exec_async = exe_async

    def vexe_async(
        self,
        code: str,
        /,
        get: Iterable[str] | str = (),
        *,
        timeout: float | None = None,
        **vars: Any,
    ) -> Future[dict[str, Any]]:
        """:meth:`vexe` returning a future."""
        f = _future()
        names = [get] if isinstance(get, str) else list(get)
        self._raw.request("vexec", {"code": code, "get": names, "vars": vars}, timeout, f)
        return f

    vexec_async = vexe_async

    def call_async(
        self, name: str, /, *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> Future[Any]:
        """:meth:`call` returning a future."""
        f = _future()
        self._raw.request("call", {"name": name, "args": args, "kwargs": kwargs}, timeout, f)
        return f

    def apply_async(
        self, func: Callable[..., Any], /, *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> Future[Any]:
        """:meth:`apply` returning a future."""
        f = _future()
        self._raw.request(
            "apply", {"function": dumps_function(func), "args": args, "kwargs": kwargs}, timeout, f
        )
        return f

    def set_async(
        self,
        mapping: Mapping[str, Any] | None = None,
        /,
        *,
        timeout: float | None = None,
        **vars: Any,
    ) -> Future[None]:
        """:meth:`set` returning a future."""
        if mapping:
            vars = {**mapping, **vars}
        f = _future()
        self._raw.request("set", {"vars": vars}, timeout, f)
        return f

    def get_async(
        self, vars: str | Iterable[str] | None = None, *, timeout: float | None = None
    ) -> Future[Any]:
        """:meth:`get` returning a future."""
        f = _future()
        if vars is None:
            self._raw.request("names", None, timeout, f)
        elif isinstance(vars, str):
            self._raw.request("get", {"name": vars}, timeout, f)
        else:
            self._raw.request("get_many", {"names": vars}, timeout, f)
        return f

    def clear_async(self, *, timeout: float | None = None) -> Future[None]:
        """:meth:`clear` returning a future."""
        f = _future()
        self._raw.request("clear", None, timeout, f)
        return f

    def imp_async(self, *modules: str, timeout: float | None = None) -> Future[None]:
        """:meth:`imp` returning a future."""
        f = _future()
        self._raw.request("import", {"modules": _split_modules(modules)}, timeout, f)
        return f

    import_async = imp_async

    def whoami_async(self, *, timeout: float | None = None) -> Future[dict[str, Any]]:
        """:meth:`whoami` returning a future."""
        f = _future()
        self._raw.request("whoami", None, timeout, f)
        return f

    def ping_async(self, *, timeout: float | None = None) -> Future[str]:
        """:meth:`ping` returning a future."""
        f = _future()
        self._raw.request("ping", None, timeout, f)
        return f

    def is_busy_async(self, *, timeout: float | None = None) -> Future[bool]:
        """:meth:`isBusy` returning a future."""
        f = _future()
        self._raw.request("is_busy", None, timeout, f)
        return f

    def wait_async(self, timeout: float | None = None) -> Future[bool]:
        """:meth:`wait` returning a future."""
        f = _future()
        self._raw.request("wait", {"timeout": timeout}, None, f)
        return f

    def benchmark_async(
        self, cycles: int = 10, *, timeout: float | None = None
    ) -> Future[tuple[float, float, bool]]:
        """:meth:`benchmark` returning a future."""
        f = _future()
        self._raw.request("benchmark", {"cycles": cycles}, timeout, f)
        return f

    # -- original accessors ---------------------------------------------------------------

    def getURI(self) -> str:
        """The engine's URI."""
        return self.uri

    get_uri = getURI

    def getInfoString(self) -> str:
        """The engine's facts, one per line (``str(eng.info())``)."""
        return f"PythonEngine {self.id} at {self.uri}\n{self.info()}\n"

    get_info_string = getInfoString

    def getHostname(self) -> str:
        """The engine machine's host name."""
        return self.hostname

    get_hostname = getHostname

    def getSystem(self) -> str:
        """The engine's OS (``Linux``, ``Darwin``, ``Windows``)."""
        return str(self._facts().get("OS System", ""))

    get_system = getSystem

    def getGroup(self) -> str:
        """The group label of this handle."""
        return self.group

    get_group = getGroup

    def setGroup(self, name: str) -> None:
        """Sets the group label of this handle (used to search boxes of
        engines)."""
        self.group = name

    set_group = setGroup

    # -- lifetime -----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    _closed = False

    def close(self) -> None:
        """Closes the connection; later calls raise :class:`srpy.EngineClosed`."""
        self._closed = True
        self._raw.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        from srpy._display import engine_rows, short_state

        (row,) = engine_rows([self], detail=False)
        return f"<PythonEngine {self.index} at {self.uri}, {short_state(row)}>"

    def _repr_html_(self) -> str:
        from srpy._display import engine_rows, engines_html

        return engines_html(engine_rows([self]), f"PythonEngine {self.index} at {self.uri}")


def connect(uri: str, **kwargs: Any) -> PythonEngine:
    """``PythonEngine(uri, **kwargs)``: connects to the engine at ``uri``."""
    return PythonEngine(uri, **kwargs)
