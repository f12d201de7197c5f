"""The IPython extension (``%load_ext srpy``): ``%srpy`` chooses the
engines, ``%%srpy`` runs a cell on them in parallel.

Line magic::

    %srpy connect URI…   the engines of these URIs (a server URI: all of them)
    %srpy local N        a private server with N engines on this machine
                         (stopped with the kernel, or by its close())
    %srpy use BOX        an EngBox, a PythonEngine or a list of engines
    %srpy result         the last cell's results per engine (waits for it)
    %srpy                the engines in use

Cell magic::

    %%srpy [--targets 0,2-3] [--timeout S] [--noblock] [--stream]

runs the cell on the chosen engines (``--targets``: their positions in the
box) at once. Each engine's output is shown prefixed ``[stdout:i]`` /
``[stderr:i]``: after the cell, engine by engine, or with ``--stream`` as it
is printed. The value of a last expression is shown as ``Out[i]: …`` per
engine. When engines fail, the others' output and values are shown first,
then a :class:`srpy.BoxError` with every failed engine's remote traceback.
``--timeout`` bounds each engine's run (it is then interrupted);
``--noblock`` returns at once (``%srpy result`` waits and shows). The
notebook's interrupt (SIGINT, ``KeyboardInterrupt`` in the kernel)
interrupts the engines; they stay usable.

The cell's last expression is found locally (``ast``) and evaluated by a
second request queued behind the cell, so a cell is one ``exec`` as written
(line numbers in remote tracebacks are the cell's).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import queue
import shlex

from srpy._box import BoxError, EngBox
from srpy._client import PythonEngine
from srpy._errors import SRPyError
from srpy._output import Captured, Printer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from concurrent.futures import Future
    from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

__all__ = ["CellRun", "SRPyMagics", "load_ipython_extension", "parse_targets"]

#: The variable a cell's last expression is bound to in the engine, taken
#: out again by the request that answers it.
_LAST = "__srpy_out__"
#: Seconds to wait for interrupted engines to answer.
_INTERRUPT_WAIT = 10.0


def parse_targets(spec: str, count: int) -> list[int]:
    """``"0,2-3"`` → ``[0, 2, 3]``; ``"all"`` → every position; positions
    out of ``range(count)`` are an error.

    >>> parse_targets("0,2-3", 4), parse_targets("all", 2), parse_targets("-1", 3)
    ([0, 2, 3], [0, 1], [2])
    """
    if spec.strip() in ("all", "*", ""):
        return list(range(count))
    out: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-") if not part.startswith("-") else (part, "", "")
        try:
            picked = range(int(lo), int(hi) + 1) if sep else [int(lo)]
        except ValueError:
            raise SRPyError(
                f"--targets: {part!r} is not an engine position or a range a-b"
            ) from None
        for i in picked:
            j = i + count if i < 0 else i
            if not 0 <= j < count:
                raise SRPyError(f"--targets: no engine at position {i} (the box has {count})")
            if j not in out:
                out.append(j)
    return out


def split_last_expression(code: str) -> tuple[str, bool]:
    """The cell with its last expression bound to ``__srpy_out__`` (in
    place: same lines), and whether it had one. A cell ending in ``;`` has
    none (as in IPython); code that does not parse is left to the engine."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code, False
    if not tree.body or not isinstance(tree.body[-1], ast.Expr) or code.rstrip().endswith(";"):
        return code, False
    last = tree.body[-1]
    lines = code.splitlines(keepends=True)
    # Offsets are of UTF-8 bytes within a line: go through bytes.
    head = "".join(lines[: last.lineno - 1]).encode()
    start = len(head) + last.col_offset
    assert last.end_lineno is not None and last.end_col_offset is not None
    end = len("".join(lines[: last.end_lineno - 1]).encode()) + last.end_col_offset
    raw = code.encode()
    text = raw[:start] + f"{_LAST} = (".encode() + raw[start:end] + b")" + raw[end:]
    return text.decode(), True


class _EngineOutput(Captured):
    """One engine's output of a cell: kept, and passed to the waiting
    notebook thread when the cell streams."""

    __slots__ = ("position", "queue")

    def __init__(
        self, position: int, events: queue.Queue[tuple[int, str | None, str]] | None
    ) -> None:
        super().__init__()
        self.position = position
        self.queue = events

    def write(self, stream: str, text: str) -> None:
        if self.queue is not None:
            self.queue.put((self.position, stream, text))
        else:
            super().write(stream, text)


class CellRun:
    """One ``%%srpy`` cell running on some engines: per engine its output
    (:attr:`outputs`, unless streamed), then its value or exception
    (:meth:`results`)."""

    def __init__(
        self,
        engines: list[tuple[int, PythonEngine]],
        code: str,
        timeout: float | None,
        stream: bool,
    ) -> None:
        self.engines = engines
        #: Streamed output and the engines' ends, for the waiting thread.
        self.events: queue.Queue[tuple[int, str | None, str]] = queue.Queue()
        self.outputs = {i: _EngineOutput(i, self.events if stream else None) for i, _ in engines}
        self.shown = stream
        self._printers = {i: Printer(f"[{{stream}}:{i}] ") for i, _ in engines}
        self._runs: dict[int, tuple[Future[Any], Future[Any] | None]] = {}
        self._left = {i for i, _ in engines}
        code, has_value = split_last_expression(code)
        for i, eng in engines:
            restore = eng._divert_output(self.outputs[i])
            try:
                ran = eng.exe_async(code, timeout=timeout)
                value = eng.eval_async(f"globals().pop({_LAST!r}, None)") if has_value else None
            except BaseException:
                restore()
                raise
            self._runs[i] = (ran, value)
            last = value if value is not None else ran
            last.add_done_callback(functools.partial(self._finished, i, restore))

    def _finished(self, position: int, restore: Any, _answer: object) -> None:
        # Every `out` of a request comes before its answer: the output is
        # complete once the last request of the cell is answered.
        restore()
        self.events.put((position, None, ""))

    def _answer(self, position: int) -> Future[Any]:
        """The future of the engine's last request of the cell."""
        ran, value = self._runs[position]
        return value if value is not None else ran

    def done(self) -> bool:
        return all(self._answer(i).done() for i in self._runs)

    def wait(self) -> None:
        """Waits for every engine, printing streamed output as it comes;
        Ctrl-C (the notebook's interrupt) interrupts the engines, waits for
        them to stop and raises ``KeyboardInterrupt``."""
        try:
            self._take_events(block=True)
        except KeyboardInterrupt as exc:
            stopped = self._interrupt() or "none"
            self._take_events(block=False)
            self._show_output()
            # IPython shows this instead of the magic's local frames.
            note = f"KeyboardInterrupt: interrupted engine(s) {stopped}; they keep their variables"
            exc._render_traceback_ = lambda: [note]  # type: ignore[attr-defined]
            raise
        self._show_output()

    def _take_events(self, block: bool) -> None:
        """Prints streamed output and notes the engines that ended: until
        every engine ended (``block``) or the queue is empty."""
        while self._left:
            try:
                i, kind, text = self.events.get(block)
            except queue.Empty:
                return
            if kind is None:
                self._left.discard(i)
            else:
                self._printers[i](kind, text)

    def _interrupt(self) -> str:
        """Interrupts the engines still running the cell and waits for them;
        answers their positions."""
        running = [(i, e) for i, e in self.engines if not self._answer(i).done()]
        for _i, e in running:
            # A dead engine has nothing to stop.
            with contextlib.suppress(Exception):
                e.interrupt(timeout=_INTERRUPT_WAIT)
        for i, _e in running:
            # One still running is left out of the results.
            with contextlib.suppress(Exception):
                self._answer(i).exception(_INTERRUPT_WAIT)
        return ", ".join(str(i) for i, _ in running)

    def results(self) -> dict[int, Any]:
        """Position → the cell's value (None without a last expression) or
        its exception; engines still running are left out."""
        out: dict[int, Any] = {}
        for i, (ran, value) in self._runs.items():
            if not self._answer(i).done():
                continue
            exc = ran.exception()
            if exc is not None:
                out[i] = exc
            elif value is not None:
                out[i] = value.exception() or value.result()
            else:
                out[i] = None
        return out

    def _show_output(self) -> None:
        """Prints each engine's output, engine by engine, unless shown."""
        if self.shown:
            return
        self.shown = True
        for i, captured in self.outputs.items():
            for kind, text in list(captured.chunks):
                self._printers[i](kind, text)

    def show(self) -> None:
        """Prints the output not yet shown and every value, then raises a
        :class:`srpy.BoxError` when engines failed."""
        self._show_output()
        from IPython.lib.pretty import pretty

        results = self.results()
        engines = dict(self.engines)
        for i, value in results.items():
            if value is not None and not isinstance(value, BaseException):
                print(f"Out[{i}]: {pretty(value)}")
        errors = {engines[i]: v for i, v in results.items() if isinstance(v, BaseException)}
        if errors:
            raise BoxError("the cell", {engines[i]: v for i, v in results.items()}, errors)

    def __repr__(self) -> str:
        state = "done" if self.done() else "running"
        return f"<%%srpy cell on engine(s) {', '.join(str(i) for i, _ in self.engines)}: {state}>"


@magics_class
class SRPyMagics(Magics):
    """``%srpy`` and ``%%srpy``."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        #: The engines the magics use.
        self.box: EngBox | None = None
        #: The last ``%%srpy`` cell.
        self.last: CellRun | None = None

    @line_magic
    def srpy(self, line: str) -> Any:
        """``%srpy connect URI…`` | ``local N`` | ``use BOX`` | ``result``."""
        words = shlex.split(line)
        command, args = (words[0], words[1:]) if words else ("", [])
        if command == "connect" and args:
            self.box = EngBox(args)
        elif command == "local" and len(args) == 1:
            import srpy

            self.box = srpy.local(engines=args[0])
        elif command == "use" and args:
            assert self.shell is not None
            self.box = self._box_of(self.shell.ev(line.strip()[len("use") :]))
        elif command == "result" and not args:
            if self.last is None:
                raise SRPyError("%srpy result: no %%srpy cell has run yet")
            self.last.wait()
            self.last.show()
            return None
        elif command == "":
            return self._engines()
        else:
            raise SRPyError(
                f"%srpy: unknown command {line!r}; use connect URI…, local N, use BOX or result"
            )
        return self.box

    @staticmethod
    def _box_of(value: Any) -> EngBox:
        if isinstance(value, EngBox):
            return value
        if isinstance(value, PythonEngine):
            return EngBox([value])
        if isinstance(value, (list, tuple)) and all(isinstance(e, PythonEngine) for e in value):
            return EngBox(value)
        raise SRPyError(
            f"%srpy use: an EngBox, a PythonEngine or a list of them, got {type(value).__name__}"
        )

    def _engines(self) -> EngBox:
        if self.box is None:
            raise SRPyError("no engines chosen: %srpy local N, %srpy connect URI… or %srpy use BOX")
        return self.box

    @magic_arguments()
    @argument("--targets", "-t", default="all", help="engine positions: 0,2-3 (default: all)")
    @argument("--timeout", type=float, default=None, help="seconds each engine may take")
    @argument("--noblock", action="store_true", help="return at once (%%srpy result waits)")
    @argument("--stream", action="store_true", help="show the output as it is printed")
    # (IPython types a named magic decorator as taking nothing.)
    @cell_magic("srpy")  # type: ignore[arg-type]
    def srpy_cell(self, line: str, cell: str) -> Any:
        """Runs the cell on the chosen engines in parallel."""
        args = parse_argstring(self.srpy_cell, line)
        box = self._engines()
        engines = list(box.engines)
        targets = parse_targets(args.targets, len(engines))
        # A --noblock cell keeps its output for `%srpy result`.
        stream = args.stream and not args.noblock
        run = CellRun([(i, engines[i]) for i in targets], cell, args.timeout, stream)
        self.last = run
        if args.noblock:
            return run
        run.wait()
        run.show()
        return None


def load_ipython_extension(ipython: Any) -> None:
    """Registers the magics with IPython (``%load_ext srpy``)."""
    ipython.register_magics(SRPyMagics)
