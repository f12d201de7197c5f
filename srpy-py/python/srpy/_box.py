"""``srpy.EngBox``: many engines — of one server or of several — used together.

The box itself is written once, in Rust (``srpy_client::EngBox``); this
module gives it the original SRPy interface and Python conveniences.

The original interface is all there (``len``, indexing and slicing,
``append``, ``startAndAppend``, ``startAndAppendFromFile``,
``searchForEngine``, ``getFastest``, ``getDead``/``cleanDead``, ``mrs``,
``mrp``, ``mrpwait``) with the original defaults and return shapes (the
API table of docs/PYTHON.md), each name with a snake_case twin, and beyond it
``map``, ``imap_unordered``, ``scatter``/``gather``, ``apply`` and the
broadcasts; docs/PYTHON.md shows each at work. An engine's failure is that
engine's value (the exception object), never a failure of the whole call:

>>> with srpy.local(engines=2, output=None) as cluster:
...     box = srpy.EngBox(list(cluster))
...     box.mrs.eval("2 + 2") == {cluster[0]: 4, cluster[1]: 4}
...     box.map("x * 2", range(5))
...     box[1].set(a=1)
...     [type(r).__name__ for r in box.mrpwait(box.mrp.eval("a")).values()]
True
[0, 2, 4, 6, 8]
['RemoteNameError', 'int']

Maps balance the load dynamically (an engine gets the next chunk when it
finishes one), keep the input order unless ``ordered=False``, pick the chunk
size automatically, survive engines dying (their chunks run elsewhere; the
box reports the deaths in :meth:`EngBox.knownDead`), report a failing item's
index and remote traceback without losing the other results
(:class:`MapError`), show a progress bar for long maps (tqdm when installed)
and stop the engines' work on Ctrl-C.
"""

from __future__ import annotations

import os
import re
import sys
import time

from srpy import _uri
from srpy._client import PythonEngine, dumps_function
from srpy._errors import (
    EngineClosed,
    EngineDiedError,
    SRPyError,
    SRPyServerNotFound,
    SRPyTimeoutError,
)
from srpy._srpy import RawBox

# typing and concurrent.futures are imported where first needed (start-up
# time; see srpy._client).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
    from concurrent.futures import Future
    from typing import Any, Self, overload

__all__ = ["BoxError", "EngBox", "MapError", "MapRun", "MultiRunResult"]

_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

#: Exceptions that say an engine is gone (it is then marked dead).
_DEATHS = (EngineDiedError, SRPyServerNotFound, EngineClosed, ConnectionError)

#: What ``box.mrp.<method>(...)`` shows for an engine that has not
#: answered yet (SRPy 0.2's placeholder: "return values are by default
#: '__null__' until the thread finishes").
PENDING = "__null__"


def _token_bytes(token: str | bytes | None) -> bytes | None:
    if token is None:
        return None
    if isinstance(token, str):
        return token.strip().encode()
    return bytes(token)


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------


class BoxError(SRPyError):
    """A broadcast (``exec_``, ``set``, ``eval``, ``apply``, ``call``) failed
    on some engines.

    ``results`` maps every engine to its result or its exception, ``errors``
    the failed engines to their exceptions.
    """

    def __init__(self, what: str, results: dict[PythonEngine, Any], errors: dict) -> None:
        self.results = results
        self.errors = errors
        first_engine, first = next(iter(errors.items()))
        super().__init__(
            f"{what} failed on {len(errors)} of {len(results)} engine(s); "
            f"first, on {first_engine.uri}: {type(first).__name__}: {first}"
        )
        self.what = what

    def _render_traceback_(self) -> list[str]:
        """What IPython shows instead of the local traceback: each failed
        engine's error with its remote traceback."""
        n, total = len(self.errors), len(self.results)
        lines = [f"{type(self).__name__}: {self.what} failed on {n} of {total} engine(s)"]
        for e, exc in self.errors.items():
            lines.append("")
            lines.append(f"[{e.index}:{getattr(exc, 'remote_type', type(exc).__name__)}] {e.uri}")
            tb = getattr(exc, "remote_traceback", "") or ""
            message = getattr(exc, "remote_message", None)
            if tb:
                lines.extend(tb.rstrip().splitlines())
            else:
                lines.append(f"{type(exc).__name__}: {exc if message is None else message}")
        return lines


class MapError(SRPyError):
    """Items of a map failed.

    ``index`` is the input index of the first failing item, ``remote_type``
    and ``remote_traceback`` describe its remote exception (also the
    ``__cause__``), ``errors`` maps every failed index to its exception,
    ``results`` holds every item's result (the exception object for failed
    items; in completion order for unordered maps; empty for ``imap``, whose
    results were handed out already) and ``report`` says what happened
    (chunks, retries, dead engines).
    """

    def __init__(
        self,
        errors: dict[int, BaseException],
        results: list[Any],
        report: dict[str, Any] | None = None,
        total: int | None = None,
    ) -> None:
        self.errors = errors
        self.results = results
        self.report = report or {}
        self.index = min(errors)
        first = errors[self.index]
        self.error = first
        self.remote_type: str = getattr(first, "remote_type", type(first).__name__)
        self.remote_traceback: str = getattr(first, "remote_traceback", "") or ""
        self.total = len(results) if total is None else total
        text = self._summary()
        if self.remote_traceback:
            text += f"\n\nRemote traceback of item {self.index}:\n{self.remote_traceback.rstrip()}"
        super().__init__(text)

    def _summary(self) -> str:
        message = getattr(self.error, "remote_message", self.error)
        return (
            f"map item {self.index} failed ({len(self.errors)} of {self.total} item(s) "
            f"failed): {self.remote_type}: {message}"
        )

    def __repr__(self) -> str:
        return f"<MapError: {self._summary()}>"

    def _repr_html_(self) -> str:
        import html

        from srpy._display import html_table

        shown = sorted(self.errors.items())[:20]
        rows = (
            (i, getattr(e, "remote_type", type(e).__name__), getattr(e, "remote_message", e))
            for i, e in shown
        )
        more = len(self.errors) - len(shown)
        after = f"<p>… and {more} more</p>" if more > 0 else ""
        after += f"<pre>{html.escape(self.remote_traceback)}</pre>"
        return html_table(f"MapError: {self._summary()}", ("item", "type", "message"), rows, after)


# --------------------------------------------------------------------------
# progress
# --------------------------------------------------------------------------


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class _Progress:
    """Progress of a map: a callable ``f(done, total)``, a tqdm bar, a plain
    one-line counter on stderr, or nothing.

    ``progress``: True (show), False (don't), None (show when stderr is a
    terminal and the map takes more than half a second) or a callable.
    """

    #: Seconds before an automatic display appears.
    AUTO_DELAY = 0.5
    #: Seconds between two redraws of the plain counter.
    PLAIN_EVERY = 0.1

    def __init__(self, progress: Any, total: int, desc: str = "map") -> None:
        self.total = total
        self.done = 0
        self.desc = desc
        self.callback: Callable[[int, int], Any] | None = None
        self.bar: Any = None
        self.plain = False
        self.start = time.monotonic()
        self.delay = 0.0
        self.last_draw = 0.0
        self.drawn = False
        if callable(progress) and not isinstance(progress, bool):
            self.callback = progress
            return
        if progress is False or total == 0:
            return
        if progress is None:
            if not _stderr_is_tty():
                return
            self.delay = self.AUTO_DELAY
        try:
            from tqdm.auto import tqdm  # type: ignore[import-untyped, unused-ignore]
        except ImportError:
            self.plain = True
            return
        self.bar = tqdm(total=total, desc=desc, unit="item", delay=self.delay, file=sys.stderr)

    def update(self, n: int) -> None:
        self.done += n
        if self.callback is not None:
            self.callback(self.done, self.total)
        elif self.bar is not None:
            self.bar.update(n)
        elif self.plain:
            now = time.monotonic()
            if now - self.start < self.delay:
                return
            if now - self.last_draw >= self.PLAIN_EVERY or self.done >= self.total:
                self.last_draw = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        pct = 100.0 * self.done / self.total if self.total else 100.0
        sys.stderr.write(
            f"\r{self.desc}: {self.done}/{self.total} items ({pct:3.0f}%) {now - self.start:.1f}s"
        )
        sys.stderr.flush()
        self.drawn = True

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.plain and self.drawn:
            self._draw(time.monotonic())
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.plain = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------
# a map in flight
# --------------------------------------------------------------------------


class MapRun:
    """A map in flight (``box.imap(...)``): iterate it for the results;
    ``done`` of ``total`` items have arrived; ``state`` is ``running``,
    ``finished`` or ``stopped`` (closed early or failed). ``close()``
    cancels it (the engines are interrupted)."""

    def __init__(
        self,
        box: EngBox,
        raw_map: Any,
        engines: list[PythonEngine],
        progress: Any,
        indexed: bool,
    ) -> None:
        self.total: int = raw_map.total
        self.done = 0
        self.state = "running"
        self.engines = engines
        self._raw_map = raw_map
        self._items = box._iterate(raw_map, engines, progress, indexed, self)

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Any:
        return next(self._items)

    def close(self) -> None:
        """Cancels the map if it is still running."""
        self._items.close()
        if self.state == "running":
            # Never iterated: the generator's own cleanup did not run.
            self.state = "stopped"
            self._raw_map.cancel()

    def _title(self) -> str:
        return (
            f"map of {self.total} item(s) on {len(self.engines)} engine(s): "
            f"{self.done} done, {self.state}"
        )

    def __repr__(self) -> str:
        return f"<{self._title()}>"

    def _repr_html_(self) -> str:
        from srpy._display import engine_rows, engines_html

        bar = f"<progress value='{self.done}' max='{max(self.total, 1)}'></progress>"
        return bar + engines_html(engine_rows(self.engines), self._title())


# --------------------------------------------------------------------------
# mrs / mrp
# --------------------------------------------------------------------------


class MultiRunResult:
    """What ``box.mrp.<method>(...)`` answers at once: a mapping engine →
    result (the exception object for a failed engine, :data:`PENDING`,
    ``'__null__'``, while it runs), filled in as the engines answer.
    :meth:`EngBox.mrpwait` (or :meth:`result`) waits for it."""

    def __init__(self, box: EngBox, futures: dict[PythonEngine, Future]) -> None:
        self._box = box
        #: Engine → ``concurrent.futures.Future``.
        self.futures = futures

    def done(self) -> bool:
        """Whether every engine has finished."""
        return all(f.done() for f in self.futures.values())

    def __getitem__(self, engine: PythonEngine) -> Any:
        f = self.futures[engine]
        if not f.done():
            return PENDING
        exc = f.exception()
        return f.result() if exc is None else exc

    def __iter__(self) -> Iterator[PythonEngine]:
        return iter(self.futures)

    def __len__(self) -> int:
        return len(self.futures)

    def keys(self) -> list[PythonEngine]:
        return list(self.futures)

    def values(self) -> list[Any]:
        return [self[e] for e in self.futures]

    def items(self) -> list[tuple[PythonEngine, Any]]:
        return [(e, self[e]) for e in self.futures]

    def result(self, timeout: float | None = None) -> dict[PythonEngine, Any]:
        """Waits at most ``timeout`` seconds in all (None or -1: as long as
        it takes); answers engine → result, the exception object for failed
        engines and an :class:`srpy.SRPyTimeoutError` for engines still
        running (their calls go on)."""
        if timeout is not None and timeout < 0:
            timeout = None
        deadline = None if timeout is None else time.monotonic() + timeout
        out: dict[PythonEngine, Any] = {}
        try:
            for e, f in self.futures.items():
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    out[e] = f.result(left)
                except TimeoutError:
                    out[e] = SRPyTimeoutError(
                        f"{e.uri} did not finish within {timeout} s (the call goes on)"
                    )
                except Exception as exc:  # noqa: BLE001 - an engine's failure is its value
                    out[e] = exc
        except KeyboardInterrupt:
            self._box.interrupt()
            raise
        self._box._note(out)
        return out

    def __repr__(self) -> str:
        state = "done" if self.done() else "running"
        return f"<MultiRunResult of {len(self.futures)} engine(s), {state}>"


class _MultiRun:
    """``box.mrs`` / ``box.mrp``: ``.<any engine method>(...)`` runs it on
    every engine: ``mrs`` one after the other, answering ``{engine:
    result}``; ``mrp`` all at once, answering a :class:`MultiRunResult`
    without waiting."""

    def __init__(self, box: EngBox, parallel: bool) -> None:
        self._box = box
        self._parallel = parallel

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        engines = list(self._box.engines)
        if engines and not callable(getattr(engines[0], name)):
            # An attribute, not a method: its value on every engine.
            return {e: getattr(e, name) for e in engines}

        def run(*args: Any, **kwargs: Any) -> Any:
            return self._box._multi(engines, name, args, kwargs, self._parallel)

        run.__name__ = name
        run.__qualname__ = f"{'mrp' if self._parallel else 'mrs'}.{name}"
        return run

    def __dir__(self) -> list[str]:
        return sorted(n for n in dir(PythonEngine) if not n.startswith("_"))

    def __repr__(self) -> str:
        kind = "parallel" if self._parallel else "sequential"
        return f"<{kind} multi-run over {len(self._box)} engine(s)>"


# --------------------------------------------------------------------------
# the box
# --------------------------------------------------------------------------


def _output_of(engine: PythonEngine) -> Callable[[str, str], Any] | None:
    """Where the engine's remote output goes (its ``output`` setting), or
    None when it is dropped."""
    router = getattr(engine, "_router", None)
    return router if router is not None and getattr(router, "active", False) else None


def _map_task(func: Any, var: str) -> tuple[str, Any]:
    """``("expr", text)`` for an expression over ``var``, ``("call", name)``
    for a dotted name, ``("pickle", bytes)`` for a callable."""
    if isinstance(func, str):
        text = func.strip()
        if _DOTTED.fullmatch(text) and text.split(".")[0] != var:
            return "call", text
        return "expr", text
    if callable(func):
        return "pickle", dumps_function(func)
    raise TypeError(
        f"map needs a callable, an expression over {var!r} or a dotted function name, "
        f"got {type(func).__name__}"
    )


class EngBox:
    """A box of engines, possibly of several servers.

    ``engines``: :class:`srpy.PythonEngine` objects and/or URIs (a server URI
    ``srpy://host:port`` stands for all its engines); ``engine_options`` are
    passed to the engines made from URIs (``token``, ``timeout``,
    ``output``, …). The engines are in :attr:`engines` (a list).
    """

    engines: list[PythonEngine]

    def __init__(
        self,
        engines: Iterable[PythonEngine | str] | None = None,
        **engine_options: Any,
    ) -> None:
        self.engines = []
        self._engine_options = engine_options
        for e in engines or ():
            self.append(e)

    # -- state --------------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        """Options for engines made from URIs (a subclass may not set them)."""
        return self.__dict__.get("_engine_options") or {}

    def _raw(self) -> RawBox:
        """The Rust box over :attr:`engines` (``srpy_client::EngBox``: the
        engines' dead/alive state lives there). Kept while the engines and
        their output settings stay; remade, keeping that state, when they
        change (the list is the user's to change)."""
        engines = list(self.engines)
        outputs = [_output_of(e) for e in engines]
        kept = self.__dict__.get("_raw_box")
        if kept is not None:
            raw, was_engines, was_outputs = kept
            if (
                len(was_engines) == len(engines)
                and all(a is b for a, b in zip(was_engines, engines, strict=True))
                and all(a is b for a, b in zip(was_outputs, outputs, strict=True))
            ):
                return raw
            raw = RawBox(engines, outputs, raw)
        else:
            raw = RawBox(engines, outputs, self.__dict__.get("_parent_raw"))
        self.__dict__["_raw_box"] = (raw, engines, outputs)
        return raw

    def _note(self, results: Mapping[PythonEngine, Any]) -> None:
        """Tells the Rust box what calls made through the engines' own
        handles (``mrs``/``mrp``) showed."""
        raw = self._raw()
        for i, e in enumerate(self.engines):
            if e not in results:
                continue
            r = results[e]
            if isinstance(r, _DEATHS):
                raw.set_dead(i, True)
            elif not isinstance(r, BaseException):
                raw.set_dead(i, False)

    # -- building -----------------------------------------------------------

    def append(self, engine: PythonEngine | str) -> None:
        """Adds an engine (a :class:`srpy.PythonEngine`, or a URI: see
        :meth:`startAndAppend`)."""
        if isinstance(engine, str):
            self.startAndAppend(engine)
            return
        if not isinstance(engine, PythonEngine):
            raise TypeError(f"a box holds srpy.PythonEngine objects, got {type(engine).__name__}")
        self.engines.append(engine)

    def _expand(self, uri: str, options: dict[str, Any]) -> list[str]:
        token = options.get("token")
        if token is None:
            token = _uri.known_token(uri)
        tls_keywords = ("tls_ca", "tls_pin", "tls_cert", "tls_key")
        tls = _uri.tls_options(*(options.get(k) for k in tls_keywords))
        return RawBox.expand_uri(
            uri, _token_bytes(token), float(options.get("connect_timeout", 10.0)), tls
        )

    def _connect(self, uris: list[tuple[str, dict[str, Any]]]) -> list[PythonEngine]:
        made: list[PythonEngine] = []
        try:
            for u, options in uris:
                made.append(PythonEngine(u, **options))
        except BaseException:
            for e in made:
                e.close()
            raise
        return made

    def startAndAppend(self, uri: str, **engine_options: Any) -> list[PythonEngine]:
        """Connects to the engines of ``uri`` and adds them: one engine for
        ``srpy://host:port/<index>``, every engine of the server for
        ``srpy://host:port``. Answers the new engines."""
        options = {**self._options(), **engine_options}
        made = self._connect([(u, options) for u in self._expand(uri, options)])
        self.engines.extend(made)
        return made

    start_and_append = startAndAppend

    def startAndAppendFromText(self, text: str, **engine_options: Any) -> list[PythonEngine]:
        """:meth:`startAndAppend` for every URI of ``text``, a URI list (one
        per line, each optionally followed by its server's TLS pin,
        ``srpys://host:port tls-pin sha256:FP``; blank lines and ``#``
        comments skipped; docs/CLUSTER.md, "URI files"). Nothing is added
        unless every engine could be connected."""
        options = {**self._options(), **engine_options}
        uris = []
        for uri, pin in RawBox.parse_uri_list(text):
            # The list's pin is that server's own: it wins over tls_pin=.
            entry_options = options if pin is None else {**options, "tls_pin": pin}
            uris += [(u, entry_options) for u in self._expand(uri, entry_options)]
        made = self._connect(uris)
        self.engines.extend(made)
        return made

    start_and_append_from_text = startAndAppendFromText

    def startAndAppendFromFile(
        self, path: str | os.PathLike[str], **engine_options: Any
    ) -> list[PythonEngine]:
        """:meth:`startAndAppendFromText` with the text of a file."""
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        return self.startAndAppendFromText(text, **engine_options)

    start_and_append_from_file = startAndAppendFromFile

    def getEngines(self) -> list[PythonEngine]:
        """The engines, as a new list."""
        return list(self.engines)

    get_engines = getEngines
    toList = getEngines
    to_list = getEngines

    # -- container ----------------------------------------------------------

    def __len__(self) -> int:
        return len(self.engines)

    def __iter__(self) -> Iterator[PythonEngine]:
        return iter(list(self.engines))

    def __contains__(self, engine: object) -> bool:
        return any(e is engine for e in self.engines)

    # (Typed loosely for slices, so that subclasses such as srpy.local's
    # LocalCluster may keep answering lists.)
    if TYPE_CHECKING:

        @overload
        def __getitem__(self, index: int) -> PythonEngine: ...
        @overload
        def __getitem__(self, index: slice) -> Any: ...

    def __getitem__(self, index: Any) -> Any:
        """``box[i]`` an engine; ``box[i:j]`` and ``box[[i, k]]`` a box of
        those engines (sharing their connections and dead/alive state)."""
        if isinstance(index, slice):
            return self._sub(self.engines[index])
        if isinstance(index, int):
            return self.engines[index]
        return self.select(index)

    def select(self, indices: Iterable[int]) -> EngBox:
        """A box of the engines at ``indices`` (``box[[0, 2]]``)."""
        return self._sub([self.engines[i] for i in indices])

    def _sub(self, engines: list[PythonEngine]) -> EngBox:
        sub = EngBox.__new__(EngBox)
        sub.engines = list(engines)
        sub._engine_options = dict(self._options())
        sub.__dict__["_parent_raw"] = self._raw()
        return sub

    def __delitem__(self, index: int | slice | Iterable[int]) -> None:
        if isinstance(index, (int, slice)):
            del self.engines[index]
            return
        drop = {i % len(self.engines) for i in index}
        self.engines[:] = [e for i, e in enumerate(self.engines) if i not in drop]

    def remove(self, engine: PythonEngine) -> None:
        """Removes an engine from the box (its connection stays open)."""
        for i, e in enumerate(self.engines):
            if e is engine:
                del self.engines[i]
                return
        raise ValueError(f"{engine!r} is not in the box")

    def _title(self) -> str:
        return f"EngBox of {len(self.engines)} engine(s)"

    def __repr__(self) -> str:
        from srpy._display import engine_rows, state_counts

        return f"<{self._title()}: {state_counts(engine_rows(self.engines, detail=False))}>"

    def _repr_html_(self) -> str:
        from srpy._display import engine_rows, engines_html, state_counts

        rows = engine_rows(self.engines)
        return engines_html(rows, f"{self._title()}: {state_counts(rows)}")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes every engine's connection."""
        for e in self.engines:
            e.close()

    # -- finding engines ---------------------------------------------------------

    def searchForEngine(
        self,
        name: str | None = None,
        group: str | None = None,
        ip: str | None = None,
        hostname: str | None = None,
    ) -> list[PythonEngine]:
        """The engines matching every given criterion (None: any): ``name``
        and ``group`` (the engine handles' labels: the server's ``--name``
        and ``--group`` unless set otherwise), ``ip`` (the host of the
        engine's URI) and ``hostname`` (the engine machine's host name)."""

        def host(h: str) -> str:
            return h.strip("[]").lower()

        return [
            e
            for e in self.engines
            if (name is None or e.name == name)
            and (group is None or e.group == group)
            and (ip is None or host(e.ip) == host(ip))
            and (hostname is None or e.hostname == hostname)
        ]

    search_for_engine = searchForEngine

    def getFastest(self, single: bool = True, basis: str = "all") -> Any:
        """The fastest engine by benchmark (``basis``: ``'all'`` network and
        processor, ``'net'``, ``'proc'``); with ``single=False``, a box of
        every engine that answered, fastest first. All benchmarks run at
        once. (SRPy 0.2: "if True, returns the fastest PythonEngine; if
        False, returns a new EngBox with PythonEngine(s) sorted by speed".)"""
        engines = list(self.engines)
        ranked = [engines[i] for i in self._raw().get_fastest(single, basis)]
        if single:
            return ranked[0] if ranked else None
        return self._sub(ranked)

    get_fastest = getFastest

    def getDead(self, new: bool = False, ping_timeout: float = 3.0) -> Any:
        """Pings every engine now (all at once, ``ping_timeout`` seconds at
        most) and answers the indexes of those whose ping failed, for any
        reason (no answer, the engine died, its server is gone); with
        ``new``, a box of those engines instead. (SRPy 0.2: "Returns indexes
        of dead PythonEngine(s)"; "if not False, returns a new EngBox".)"""
        engines = list(self.engines)
        dead = self._raw().get_dead(ping_timeout)
        if new:
            return self._sub([engines[i] for i in dead])
        return dead

    get_dead = getDead

    def knownDead(self) -> list[int]:
        """The indexes of the engines last seen dead — by :meth:`getDead`,
        calls through the box and maps (an engine that died during a map) —
        without asking them."""
        return self._raw().last_dead()

    known_dead = knownDead

    def cleanDead(self, ping_timeout: float = 3.0) -> list[PythonEngine]:
        """Checks every engine now, removes the dead ones and answers them."""
        engines = list(self.engines)
        dead = [engines[i] for i in self._raw().get_dead(ping_timeout)]
        self.engines[:] = [e for e in engines if not any(e is d for d in dead)]
        return dead

    clean_dead = cleanDead

    # -- every engine at once -------------------------------------------------------

    @property
    def mrs(self) -> _MultiRun:
        """``box.mrs.<engine method>(...)``: runs it on each engine in turn;
        answers ``{engine: result}`` (an engine's exception is its value)."""
        return _MultiRun(self, parallel=False)

    @property
    def mrp(self) -> _MultiRun:
        """``box.mrp.<engine method>(...)``: starts it on every engine at
        once and answers a :class:`MultiRunResult` without waiting (a
        mapping engine → result, ``'__null__'`` while running);
        :meth:`mrpwait` waits for it: ``box.mrpwait(box.mrp.benchmark())``."""
        return _MultiRun(self, parallel=True)

    def mrpwait(self, result: MultiRunResult, timeout: float | None = None) -> dict:
        """Waits for an ``mrp`` call, at most ``timeout`` seconds (None or
        -1: as long as it takes); answers ``{engine: result}`` with the
        exception object for a failed engine, and an
        :class:`srpy.SRPyTimeoutError` for an engine still running (its call
        goes on: a later ``mrpwait`` may see its result)."""
        return result.result(timeout)

    def _multi(
        self,
        engines: list[PythonEngine],
        name: str,
        args: tuple,
        kwargs: dict,
        parallel: bool,
    ) -> Any:
        if parallel:
            from concurrent.futures import Future

            futures: dict[PythonEngine, Future] = {}
            for e in engines:
                try:
                    futures[e] = e.submit(name, *args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - an engine's failure is its value
                    failed: Future = Future()
                    failed.set_exception(exc)
                    futures[e] = failed
            return MultiRunResult(self, futures)
        out: dict[PythonEngine, Any] = {}
        for e in engines:
            try:
                out[e] = getattr(e, name)(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - an engine's failure is its value
                out[e] = exc
        self._note(out)
        return out

    def _broadcast(self, what: str, run: Callable[[RawBox], list]) -> list[Any]:
        engines = list(self.engines)
        if not engines:
            return []
        results = run(self._raw())
        by_engine = {e: v for e, (_ok, v) in zip(engines, results, strict=True)}
        self._note(by_engine)
        errors = {e: v for e, (ok, v) in zip(engines, results, strict=True) if not ok}
        if errors:
            raise BoxError(what, by_engine, errors)
        return [v for _ok, v in results]

    def exe(self, code: str, /, *, timeout: float | None = None, **vars: Any) -> None:
        """Binds ``vars``, then executes ``code`` on every engine at once.
        Raises :class:`BoxError` (with every engine's result) when it fails
        somewhere."""
        self._broadcast("exec", lambda raw: raw.request_all("exec", {"code": code, "vars": vars}, timeout))

    exec_ = exe

    def eval(self, expr: str, /, *, timeout: float | None = None, **vars: Any) -> list[Any]:
        """Evaluates ``expr`` on every engine at once; the values in box order."""
        return self._broadcast("eval", lambda raw: raw.request_all("eval", {"expr": expr, "vars": vars}, timeout))

    def set(
        self,
        mapping: Mapping[str, Any] | None = None,
        /,
        *,
        timeout: float | None = None,
        **vars: Any,
    ) -> None:
        """Binds variables on every engine at once."""
        values = {**(mapping or {}), **vars}
        self._broadcast("set", lambda raw: raw.request_all("set", {"vars": values}, timeout))

    def call(self, name: str, /, *args: Any, timeout: float | None = None, **kwargs: Any) -> list:
        """Calls a remote function by dotted name on every engine at once."""
        return self._broadcast(
            "call", lambda raw: raw.request_all("call", {"name": name, "args": args, "kwargs": kwargs}, timeout)
        )

    def apply(
        self, func: Callable[..., Any], /, *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> list[Any]:
        """Calls a local function (shipped pickled) on every engine at once;
        the results in box order."""
        blob = dumps_function(func)
        return self._broadcast(
            "apply", lambda raw: raw.request_all(
                "apply", {"function": blob, "args": args, "kwargs": kwargs}, timeout
            )
        )

    def interrupt(self) -> list[Any]:
        """Interrupts what every engine is running; answers whether each was
        running something (or its exception)."""
        engines = list(self.engines)
        if not engines:
            return []
        return [v for _ok, v in self._raw().request_all("interrupt", None, 10.0)]

    # -- data ---------------------------------------------------------------------

    def scatter(self, name: str, sequence: Iterable[Any]) -> None:
        """Splits ``sequence`` into ``len(box)`` contiguous parts (sizes
        differ by at most one, the larger first) and binds part ``i`` to
        ``name`` on engine ``i``: a list, or for a numpy array a sub-array."""
        engines = list(self.engines)
        if not engines:
            raise SRPyError("scatter: the box has no engines")
        raw = self._raw()
        np = sys.modules.get("numpy")
        if np is not None and isinstance(sequence, np.ndarray):
            raw.set_each(name, np.array_split(sequence, len(engines)))
            return
        raw.scatter(name, sequence if isinstance(sequence, (list, tuple)) else list(sequence))

    def gather(self, name: str) -> Any:
        """The parts bound to ``name`` on the engines, concatenated in box
        order (the inverse of :meth:`scatter`): a list, or a numpy array when
        the parts are arrays."""
        engines = list(self.engines)
        parts = self._raw().gather_parts(name) if engines else []
        np = sys.modules.get("numpy")
        if parts and np is not None and all(isinstance(p, np.ndarray) for p in parts):
            return np.concatenate(parts)
        out: list[Any] = []
        for e, p in zip(engines, parts, strict=True):
            if not isinstance(p, (list, tuple)):
                raise TypeError(
                    f"gather: {name!r} on {e.uri} is a {type(p).__name__}, not a list"
                )
            out.extend(p)
        return out

    # -- maps ---------------------------------------------------------------------

    def _start_map(
        self,
        func: Any,
        iterable: Iterable[Any],
        chunksize: int | None,
        ordered: bool,
        var: str,
        max_retries: int,
    ) -> tuple[Any, list[PythonEngine]]:
        engines = list(self.engines)
        if not engines:
            raise SRPyError("map: the box has no engines")
        kind, payload = _map_task(func, var)
        items = iterable if isinstance(iterable, (list, tuple)) else list(iterable)
        raw = self._raw()
        return raw.imap(kind, payload, items, var, chunksize, ordered, max_retries), engines

    def _after_map(self, raw_map: Any, engines: list[PythonEngine]) -> dict[str, Any]:
        # The engines that died are marked in the Rust box by the map itself.
        return raw_map.report()

    def map(
        self,
        func: Callable[[Any], Any] | str,
        iterable: Iterable[Any],
        chunksize: int | None = None,
        ordered: bool = True,
        progress: Any = None,
        *,
        var: str = "x",
        max_retries: int = 2,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """Applies ``func`` to every item on the engines of the box, load
        balanced; answers the results in input order (``ordered=False``: in
        the order they come).

        ``func`` is a callable (shipped pickled: cloudpickle when installed),
        a dotted function name (``"math.sqrt"``, or a function defined in the
        engines with :meth:`exe`) or an expression over ``x`` (``"x * 2"``;
        the variable is ``var``); names in expressions resolve in each
        engine's namespace. ``chunksize``: items per request (None: about
        eight chunks per engine). ``progress``: True, False, None (automatic:
        shown on a terminal for maps longer than half a second) or a callable
        ``f(done, total)``. ``max_retries``: how many engine deaths a chunk
        may cause and still be run again elsewhere.

        When items fail, :class:`MapError` is raised after every item has
        run (with ``.index``, ``.remote_traceback``, ``.results`` holding the
        other items' results); with ``return_exceptions=True`` the failed
        items' exceptions are in the list instead.
        """
        raw_map, engines = self._start_map(func, iterable, chunksize, ordered, var, max_retries)
        total = raw_map.total
        results: list[Any] = [None] * total if ordered else []
        errors: dict[int, BaseException] = {}
        with _Progress(progress, total) as bar:
            while True:
                batch = raw_map.next_batch()
                if batch is None:
                    break
                for i, ok, value in batch:
                    if ordered:
                        results[i] = value
                    else:
                        results.append(value)
                    if not ok:
                        errors[i] = value
                bar.update(len(batch))
        report = self._after_map(raw_map, engines)
        if errors and not return_exceptions:
            raise MapError(errors, results, report, total) from errors[min(errors)]
        return results

    def imap(
        self,
        func: Callable[[Any], Any] | str,
        iterable: Iterable[Any],
        chunksize: int | None = None,
        *,
        ordered: bool = True,
        progress: Any = False,
        var: str = "x",
        max_retries: int = 2,
        indexed: bool = False,
    ) -> MapRun:
        """Like :meth:`map`, but yields the results as they arrive (in input
        order unless ``ordered=False``; ``indexed=True`` yields ``(index,
        result)``). The map starts at once; a failing item raises
        :class:`MapError` when reached; closing the iterator early cancels
        the map (the engines are interrupted). The iterator is a
        :class:`MapRun`, which shows how far the map is."""
        raw_map, engines = self._start_map(func, iterable, chunksize, ordered, var, max_retries)
        return MapRun(self, raw_map, engines, progress, indexed)

    def imap_unordered(
        self,
        func: Callable[[Any], Any] | str,
        iterable: Iterable[Any],
        chunksize: int | None = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """:meth:`imap` yielding results in the order they come."""
        return self.imap(func, iterable, chunksize, ordered=False, **kwargs)

    def _iterate(
        self, raw_map: Any, engines: list[PythonEngine], progress: Any, indexed: bool, run: MapRun
    ) -> Generator[Any, None, None]:
        total = raw_map.total
        finished = False
        try:
            with _Progress(progress, total, "imap") as bar:
                while True:
                    batch = raw_map.next_batch()
                    if batch is None:
                        break
                    run.done += len(batch)
                    bar.update(len(batch))
                    for i, ok, value in batch:
                        if not ok:
                            report = self._after_map(raw_map, engines)
                            raise MapError({i: value}, [], report, total) from value
                        yield (i, value) if indexed else value
            finished = True
            run.state = "finished"
            self._after_map(raw_map, engines)
        finally:
            if not finished:
                run.state = "stopped"
                raw_map.cancel()
                self._after_map(raw_map, engines)

    # -- snake_case twins of the original names are above; aliases: ----------------

    exec = exe
