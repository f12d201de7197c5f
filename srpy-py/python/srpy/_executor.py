"""Request executor of an SRPy engine.

The Rust side of an engine decodes and checks every request (the protocol
decoder, ``srpy_proto``), then calls, on the interpreter's main thread, the
typed method of its operation: ``Executor.op_<name>(fields...)``, one per
queued operation of ``docs/PROTOCOL.md`` 10.4, its parameters named and
typed as the request's fields.  A method returns a plain Python value
(encoded by the Rust side) or raises; exceptions are turned into remote
exceptions with :func:`describe_exception`.

This module is pure Python and only depends on the standard library.
"""

from __future__ import annotations

import builtins
import importlib
import io
import os
import sys
import time
import types

# pickle, traceback and importlib.util are imported where first needed
# (start-up time of every engine; see docs/PERFORMANCE.md).
TYPE_CHECKING = False  # typing is not imported at run time: engine start-up
if TYPE_CHECKING:
    import traceback
    from collections.abc import Sequence
    from typing import Any

__all__ = ["Executor", "describe_exception", "process_rss", "qualified_type_name"]

#: Maximum number of compiled code objects kept in the compile cache.
CODE_CACHE_SIZE = 1024

EVAL_FILENAME = "<srpy-eval>"
EXEC_FILENAME = "<srpy-exec>"

_THIS_FILE = os.path.normcase(os.path.abspath(__file__))
_IMPORTLIB_FILE = os.path.normcase(os.path.abspath(importlib.__file__ or ""))


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def qualified_type_name(tp: type) -> str:
    """``"ZeroDivisionError"`` for builtins, ``"module.QualName"`` otherwise."""
    module = getattr(tp, "__module__", None)
    name = str(getattr(tp, "__qualname__", None) or getattr(tp, "__name__", repr(tp)))
    if not module or module == "builtins":
        return name
    return f"{module}.{name}"


#: The engine's executor, for helpers reached through the ``call`` op.
_CURRENT_EXECUTOR: Executor | None = None


def _fresh_namespace() -> dict[str, Any]:
    return {"__name__": "__main__", "__builtins__": builtins}


def process_rss(pid: int | str = "self") -> int | None:
    """Resident memory in bytes of process ``pid`` of this machine (Linux:
    /proc), else None."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _is_own_frame(filename: str) -> bool:
    try:
        return os.path.normcase(os.path.abspath(filename)) == _THIS_FILE
    except (TypeError, ValueError):
        return False


def _is_internal_frame(filename: str) -> bool:
    if filename.startswith("<frozen importlib"):
        return True
    try:
        norm = os.path.normcase(os.path.abspath(filename))
    except (TypeError, ValueError):
        return False
    return norm == _THIS_FILE or norm == _IMPORTLIB_FILE


def _strip_executor_frames(te: traceback.TracebackException) -> None:
    """Drop the frames up to and including the executor's own frames.

    Frames before the first executor frame belong to whoever called an
    ``Executor.op_<name>`` method (normally none: the Rust side calls it
    directly); the executor's frames, and importlib frames it goes through,
    follow.  The remaining stack starts at the user's code.
    """
    stack = te.stack
    start = None
    for i, frame in enumerate(stack):
        if _is_own_frame(frame.filename):
            start = i
            break
    if start is None:
        return
    end = start
    while end < len(stack) and _is_internal_frame(stack[end].filename):
        end += 1
    del stack[:end]


def describe_exception(exc: BaseException) -> tuple[str, str, str]:
    """Describe ``exc`` as ``(type name, message, traceback text)``.

    Leading frames of the executor itself (and of importlib machinery it
    calls) are removed, so the traceback starts at the user's code, e.g.
    ``File "<srpy-exec>", line 3, in <module>``.
    """
    type_name = qualified_type_name(type(exc))
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break reporting
        message = f"<unprintable {type_name} object>"
    if not message and isinstance(exc, MemoryError):
        # Python raises it without a message (bytearray(1 << 60)).
        message = "the engine ran out of memory"
    import traceback

    try:
        te = traceback.TracebackException(
            type(exc), exc, exc.__traceback__, lookup_lines=True
        )
        # Walk the whole chain (causes, contexts, exception groups).
        seen = set()
        todo = [te]
        while todo:
            cur = todo.pop()
            if id(cur) in seen:
                continue
            seen.add(id(cur))
            _strip_executor_frames(cur)
            for nxt in (cur.__cause__, cur.__context__):
                if nxt is not None:
                    todo.append(nxt)
            todo.extend(getattr(cur, "exceptions", None) or ())
        text = "".join(te.format())
    except Exception:  # noqa: BLE001 - fall back to the plain formatter
        import traceback

        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return type_name, message, text


def _check_dotted(op: str, name: str, key: str = "name") -> list[str]:
    parts = name.split(".")
    if not all(part.isidentifier() for part in parts):
        raise ValueError(f"{op}: {key!r} must be a dotted name, got {name!r}")
    return parts


def _is_missing_module(exc: ModuleNotFoundError, modname: str) -> bool:
    """True if ``exc`` says ``modname`` (or one of its parents) does not exist."""
    missing = exc.name
    return missing is not None and (
        modname == missing or modname.startswith(missing + ".")
    )


def _drop_bytecode_cache(path: str) -> None:
    """Remove a stale ``__pycache__`` entry for the source file ``path``.

    Bytecode is validated with the source mtime (seconds) and size, so a
    re-install within the same second could otherwise pick up old bytecode.
    """
    import importlib.util

    try:
        cached = importlib.util.cache_from_source(path)
    except (NotImplementedError, ValueError):
        return
    try:
        os.remove(cached)
    except OSError:
        pass


# Shipped modules are the client's code: readable by the engine's user only
# (the install folder is 0700 as well; see srpy_server::install_dir).
_FILE_MODE = 0o600
_DIR_MODE = 0o700


def _write_file(path: str, data: bytes) -> None:
    tmp = f"{path}.srpy-tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, _FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _make_dirs(path: str) -> None:
    os.makedirs(path, mode=_DIR_MODE, exist_ok=True)


def _benchmark_cycle() -> int:
    total = 0
    for i in range(20000):
        total += i * i
    return total


# --------------------------------------------------------------------------
# executor
# --------------------------------------------------------------------------


class Executor:
    """Executes the requests of one engine in a persistent namespace."""

    def __init__(self, index: int, install_dir: str, versions: dict) -> None:
        self.index = index
        self.install_dir = os.path.abspath(install_dir)
        self.versions = dict(versions or {})
        self.namespace: dict[str, Any] = _fresh_namespace()
        # map_chunk (reached through the `call` op) runs in this namespace.
        global _CURRENT_EXECUTOR
        _CURRENT_EXECUTOR = self
        #: compiled code objects keyed by ``(source, mode)``
        self._code_cache: dict[tuple[str, str], types.CodeType] = {}
        self._code_cache_size = CODE_CACHE_SIZE

        if self.install_dir in sys.path:
            sys.path.remove(self.install_dir)
        sys.path.insert(0, self.install_dir)

        #: whoami's answer, computed on first use: ``platform`` and
        #: ``socket`` cost engine start-up time and memory otherwise.
        self._whoami: dict[str, Any] | None = None

    @staticmethod
    def is_user_name(name: Any) -> bool:
        """Names like ``__name__`` (and ``__builtins__``) are hidden."""
        return isinstance(name, str) and not (
            name.startswith("__") and name.endswith("__")
        )

    def user_names(self) -> list[str]:
        return sorted(n for n in self.namespace if self.is_user_name(n))

    # -- compile cache -----------------------------------------------------

    def _compile(self, source: str, mode: str) -> types.CodeType:
        key = (source, mode)
        code = self._code_cache.get(key)
        if code is None:
            filename = EVAL_FILENAME if mode == "eval" else EXEC_FILENAME
            code = compile(source, filename, mode, dont_inherit=True)
            cache = self._code_cache
            while len(cache) >= self._code_cache_size:
                # dicts keep insertion order: evict the oldest entry
                del cache[next(iter(cache))]
            cache[key] = code
        return code

    # -- namespace ops -----------------------------------------------------

    # The operations, one method each, named ``op_`` + the wire name; their
    # arguments were checked by the protocol decoder.

    def op_set(self, vars: dict[str, Any]) -> None:
        self.namespace.update(vars)

    def _lookup(self, name: str) -> Any:
        try:
            return self.namespace[name]
        except KeyError:
            raise NameError(f"name {name!r} is not defined") from None

    def op_get(self, name: str) -> Any:
        return self._lookup(name)

    def op_get_many(self, names: Sequence[str]) -> dict[str, Any]:
        return {n: self._lookup(n) for n in names}

    def op_names(self) -> list[str]:
        return self.user_names()

    def op_delete(self, names: Sequence[str]) -> None:
        ns = self.namespace
        for name in names:
            if name not in ns:
                raise NameError(f"name {name!r} is not defined")
        for name in names:
            ns.pop(name, None)

    def op_clear(self) -> None:
        # Cleared in place so that the namespace keeps its identity.
        self.namespace.clear()
        self.namespace.update(_fresh_namespace())

    # -- code ops ----------------------------------------------------------

    def op_eval(self, expr: str, vars: dict[str, Any] | None = None) -> Any:
        if vars:
            self.namespace.update(vars)
        code = self._code_cache.get((expr, "eval"))
        if code is None:
            code = self._compile(expr, "eval")
        return eval(code, self.namespace)

    def op_exec(self, code: str, vars: dict[str, Any] | None = None) -> None:
        if vars:
            self.namespace.update(vars)
        exec(self._compile(code, "exec"), self.namespace)  # noqa: S102 - executing remote code is the point

    def op_vexec(
        self, code: str, get: Sequence[str] = (), vars: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        ns = _fresh_namespace()
        if vars:
            ns.update(vars)
        exec(self._compile(code, "exec"), ns)  # noqa: S102 - executing remote code is the point
        result = {}
        for name in get:
            try:
                result[name] = ns[name]
            except KeyError:
                raise NameError(f"name {name!r} is not defined") from None
        return result

    # -- name resolution ---------------------------------------------------

    def resolve(self, dotted: str, op: str = "resolve") -> Any:
        """Resolve a dotted name: namespace first, then importable modules."""
        parts = _check_dotted(op, dotted)
        first = parts[0]
        ns = self.namespace
        if first in ns:
            obj = ns[first]
        elif hasattr(builtins, first):
            # Builtins resolve as in code run in the namespace: call("len").
            obj = getattr(builtins, first)
        else:
            try:
                obj = importlib.import_module(first)
            except ModuleNotFoundError as exc:
                if not _is_missing_module(exc, first):
                    raise
                raise NameError(
                    f"cannot resolve {dotted!r}: name {first!r} is not defined "
                    f"and there is no module named {first!r}"
                ) from None
        for i in range(1, len(parts)):
            part = parts[i]
            try:
                obj = getattr(obj, part)
                continue
            except AttributeError:
                pass
            if isinstance(obj, types.ModuleType):
                modname = f"{obj.__name__}.{part}"
                try:
                    obj = importlib.import_module(modname)
                    continue
                except ModuleNotFoundError as exc:
                    if not _is_missing_module(exc, modname):
                        raise
            raise AttributeError(
                f"cannot resolve {dotted!r}: {'.'.join(parts[:i])!r} "
                f"has no attribute {part!r}"
            )
        return obj

    def op_call(
        self, name: str, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        func = self.resolve(name, "call")
        if not callable(func):
            raise TypeError(
                f"call: {name!r} is not callable (it is a {qualified_type_name(type(func))})"
            )
        return func(*args, **(kwargs or {}))

    def op_describe(self, name: str) -> dict[str, Any]:
        import inspect  # only describe needs it; engines start faster without

        obj = self.resolve(name, "describe")
        if inspect.ismodule(obj):
            kind = "module"
        elif inspect.isclass(obj):
            kind = "class"
        elif inspect.isroutine(obj):
            kind = "function"
        elif callable(obj):
            kind = "callable"
        else:
            kind = "value"
        try:
            doc = inspect.getdoc(obj)
        except Exception:  # noqa: BLE001
            doc = None
        signature = None
        if kind in ("class", "function", "callable"):
            try:
                signature = str(inspect.signature(obj))
            except (TypeError, ValueError):
                signature = None
        attributes: list[str] = []
        if kind in ("module", "class"):
            try:
                attributes = sorted(a for a in dir(obj) if not a.startswith("_"))
            except Exception:  # noqa: BLE001
                attributes = []
        return {
            "name": name,
            "kind": kind,
            "type": qualified_type_name(type(obj)),
            "doc": doc,
            "signature": signature,
            "attributes": attributes,
        }

    # -- modules -----------------------------------------------------------

    def op_install(
        self,
        name: str,
        source: str | None = None,
        archive: bytes | None = None,
        is_package: bool = False,
    ) -> None:
        # The decoder passes exactly one of `source` and `archive`.
        parts = _check_dotted("install", name)
        roots = {name}
        if source is not None:
            self._install_source(parts, source, is_package)
        elif archive is not None:
            roots.update(self._install_archive(bytes(archive)))
        importlib.invalidate_caches()
        for root in sorted(roots, key=lambda n: (n.count("."), n)):
            self._refresh_module(root)

    def _install_source(self, parts: list[str], source: str, is_package: bool) -> None:
        base = self.install_dir
        # intermediate packages
        folder = base
        for part in parts[:-1]:
            folder = os.path.join(folder, part)
            _make_dirs(folder)
            init = os.path.join(folder, "__init__.py")
            if not os.path.exists(init):
                _write_file(init, b"")
        stem = os.path.join(folder, parts[-1])
        if is_package:
            if os.path.isfile(stem + ".py"):
                # a plain module of the same name would be shadowed anyway
                os.remove(stem + ".py")
                _drop_bytecode_cache(stem + ".py")
            _make_dirs(stem)
            target = os.path.join(stem, "__init__.py")
        else:
            if os.path.isdir(stem) and os.path.isfile(
                os.path.join(stem, "__init__.py")
            ):
                # a package directory would shadow the new module
                os.remove(os.path.join(stem, "__init__.py"))
                _drop_bytecode_cache(os.path.join(stem, "__init__.py"))
            target = stem + ".py"
        _write_file(target, source.encode("utf-8"))
        _drop_bytecode_cache(target)

    def _install_archive(self, data: bytes) -> list[str]:
        """Extract a zip archive into install_dir; return its module names."""
        try:
            import zipfile  # only installs of packages need it

            zf = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile as exc:
            raise ValueError(
                f"install: archive is not a valid zip file: {exc}"
            ) from None
        base = self.install_dir
        base_real = os.path.realpath(base)
        plan = []
        with zf:
            for info in zf.infolist():
                entry = info.filename
                norm = entry.replace("\\", "/")
                comps = [c for c in norm.split("/") if c not in ("", ".")]
                if (
                    norm.startswith("/")
                    or (len(norm) >= 2 and norm[1] == ":")
                    or os.path.isabs(entry)
                    or ".." in comps
                ):
                    raise ValueError(f"install: unsafe path in archive: {entry!r}")
                if not comps:
                    continue
                target = os.path.join(base, *comps)
                real = os.path.realpath(target)
                if real != base_real and not real.startswith(base_real + os.sep):
                    raise ValueError(f"install: unsafe path in archive: {entry!r}")
                plan.append((info, comps, target, norm.endswith("/")))
            modules = []
            for info, comps, target, is_dir in plan:
                if is_dir:
                    _make_dirs(target)
                    continue
                _make_dirs(os.path.dirname(target))
                _write_file(target, zf.read(info))
                if comps[-1].endswith(".py"):
                    _drop_bytecode_cache(target)
                    mod = comps[:-1]
                    if comps[-1] != "__init__.py":
                        mod = mod + [comps[-1][:-3]]
                    if mod and all(c.isidentifier() for c in mod):
                        modules.append(".".join(mod))
        # refresh top-level modules of the archive (their submodules follow)
        return sorted({m.split(".")[0] for m in modules})

    @staticmethod
    def _refresh_module(name: str) -> None:
        prefix = name + "."
        stale = [m for m in sys.modules if m.startswith(prefix)]
        for modname in stale:
            # Unbind the submodule from its parent package too: otherwise
            # ``from . import sub`` in the reloaded package finds the old
            # attribute and does not import ``sub`` again.
            parent_name, _, child = modname.rpartition(".")
            parent = sys.modules.get(parent_name)
            if (
                parent is not None
                and getattr(parent, child, None) is sys.modules[modname]
            ):
                try:
                    delattr(parent, child)
                except (AttributeError, TypeError):
                    pass
        for modname in stale:
            del sys.modules[modname]
        module = sys.modules.get(name)
        if module is not None:
            importlib.reload(module)

    def op_import(self, modules: Sequence[str]) -> None:
        for spec in modules:
            modname, sep, alias = spec.partition(" as ")
            modname = modname.strip()
            alias = alias.strip()
            _check_dotted("import", modname, "modules")
            if sep and not alias.isidentifier():
                raise ValueError(f"import: invalid alias in {spec!r}")
            module = importlib.import_module(modname)
            if sep:
                self.namespace[alias] = module
            else:
                top = modname.split(".")[0]
                self.namespace[top] = sys.modules[top]

    # -- misc ops ----------------------------------------------------------

    def op_whoami(self) -> dict[str, Any]:
        if self._whoami is None:
            import platform
            import socket

            hostname = socket.gethostname()
            pid = os.getpid()
            self._whoami = {
                "OS System": platform.system(),
                "Hostname": hostname,
                "OS Release": platform.release(),
                "OS Version": platform.version(),
                "Machine Architecture": platform.machine(),
                "Processor Architecture": platform.architecture()[0],
                "Python Version": platform.python_version(),
                "Python Compiler": platform.python_compiler(),
                "PythonEngine ID": f"engine-{self.index}@{hostname}:{pid}",
                "pid": pid,
                "engine index": self.index,
                "srpy version": self.versions.get("srpy"),
                "protocol version": self.versions.get("protocol"),
                "cpu count": os.cpu_count(),
                "python executable": sys.executable,
            }
        return {**self._whoami, "rss": process_rss()}

    def op_benchmark(self, cycles: int = 10) -> float:
        # The decoder keeps `cycles` in srpy_proto::request::BENCHMARK_CYCLES.
        work = _benchmark_cycle
        start = time.perf_counter()
        for _ in range(cycles):
            work()
        return time.perf_counter() - start

    def op_apply(
        self, function: bytes, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        import pickle

        func = pickle.loads(bytes(function))
        if not callable(func):
            raise TypeError(
                f"apply: unpickled object is not callable "
                f"(it is a {qualified_type_name(type(func))})"
            )
        return func(*args, **(kwargs or {}))


# --------------------------------------------------------------------------
# chunked maps (EngBox.map)
# --------------------------------------------------------------------------


def map_chunk(task: Any, items: Any, _cache: dict = {}) -> list:  # noqa: B006 - deliberate cache
    """Run one chunk of an ``EngBox.map``: apply a task to every item.

    Called through the ``call`` op as ``srpy._executor.map_chunk``.  ``task``
    is ``["expr", expression, variable]`` (the expression evaluated with the
    item bound to the variable, names resolved in the engine namespace),
    ``["call", dotted name]`` (resolved like the ``call`` op: namespace
    first, then importable modules) or ``["pickle", bytes]`` (a pickled
    callable).  Answers ``[values, errors]``: ``values`` has one entry per
    item (``None`` where the item failed) and ``errors`` holds
    ``[position in chunk, type name, message, traceback]`` for every item
    that raised an ``Exception`` (a ``KeyboardInterrupt`` stops the chunk).
    """
    # The engine's executor (one per engine process): its namespace.
    executor = _CURRENT_EXECUTOR
    namespace = executor.namespace if executor is not None else _fresh_namespace()

    if not isinstance(task, (list, tuple)) or not task or not isinstance(task[0], str):
        raise TypeError(f"map_chunk: bad task {task!r}")
    kind = task[0]
    if kind == "expr" and len(task) == 3:
        expr, var = task[1], task[2]
        if not isinstance(expr, str) or not isinstance(var, str) or not var.isidentifier():
            raise TypeError("map_chunk: an expression task is ['expr', str, identifier]")
        key = (expr, var, id(namespace))
        hit = _cache.get(key)
        if hit is not None and hit[0] is namespace:
            func = hit[1]
        else:
            # A lambda whose globals are the engine namespace: names resolve
            # there, the item is a local.
            code = compile(f"lambda {var}: ({expr}\n)", "<srpy-map>", "eval", dont_inherit=True)
            func = eval(code, namespace)
            if len(_cache) >= 64:
                _cache.clear()
            _cache[key] = (namespace, func)
    elif kind == "call" and len(task) == 2 and isinstance(task[1], str):
        if executor is not None:
            func = executor.resolve(task[1], "map")
        else:
            module, _, attr = task[1].rpartition(".")
            func = getattr(importlib.import_module(module), attr) if module else namespace[attr]
    elif kind == "pickle" and len(task) == 2:
        blob = bytes(task[1])
        hit = _cache.get(blob)
        if hit is not None:
            func = hit
        else:
            import pickle

            func = pickle.loads(blob)
            if len(_cache) >= 64:
                _cache.clear()
            _cache[blob] = func
    else:
        raise TypeError(f"map_chunk: bad task {task!r}")
    if not callable(func):
        raise TypeError(f"map_chunk: the task is not callable ({qualified_type_name(type(func))})")

    values: list = []
    append = values.append
    errors: list = []
    it = iter(items)
    while True:
        try:
            for item in it:
                append(func(item))
            break
        except Exception as exc:  # noqa: BLE001 - per-item errors are results
            # The iterator resumes after the failing item.
            type_name, message, text = describe_exception(exc)
            errors.append([len(values), type_name, message, text])
            append(None)
    return [values, errors]
