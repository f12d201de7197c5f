"""Where the remote ``print`` output of an engine goes."""

from __future__ import annotations

import sys
from collections.abc import Callable

TYPE_CHECKING = False  # not typing's: its import costs start-up time
if TYPE_CHECKING:
    from typing import Literal, TypeAlias

__all__ = ["Captured", "OutputRouter", "OutputSpec", "Printer", "Sink"]

#: ``"print"``, ``"capture"``, ``None`` or a callable ``f(stream, text)``.
if TYPE_CHECKING:
    # Where remote output goes: "print", "capture", a callable, or None.
    OutputSpec: TypeAlias = Literal["print", "capture"] | Callable[[str, str], object] | None


def __getattr__(name: str) -> object:
    # OutputSpec at run time, built on first use (it needs typing).
    if name == "OutputSpec":
        from typing import Literal

        return Literal["print", "capture"] | Callable[[str, str], object] | None
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Sink:
    """What a ``capture()`` block hands its output to: ``write(stream, text)``."""

    __slots__ = ()

    def write(self, stream: str, text: str) -> None:
        raise NotImplementedError


class Captured(Sink):
    """Remote output collected by :meth:`PythonEngine.capture` (or by the
    ``output="capture"`` mode): ``stdout``, ``stderr``, and ``text`` (both,
    in the order written).

    >>> c = Captured()
    >>> c.write("stdout", "a\\n"); c.write("stderr", "oops\\n")
    >>> c.stdout, c.stderr, str(c)
    ('a\\n', 'oops\\n', 'a\\noops\\n')
    """

    __slots__ = ("chunks",)

    def __init__(self) -> None:
        #: ``(stream, text)`` pieces in arrival order.
        self.chunks: list[tuple[str, str]] = []

    def write(self, stream: str, text: str) -> None:
        self.chunks.append((stream, text))

    @property
    def stdout(self) -> str:
        return "".join(t for s, t in self.chunks if s == "stdout")

    @property
    def stderr(self) -> str:
        return "".join(t for s, t in self.chunks if s == "stderr")

    @property
    def text(self) -> str:
        return "".join(t for _, t in self.chunks)

    def clear(self) -> None:
        self.chunks.clear()

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Captured(stdout={self.stdout!r}, stderr={self.stderr!r})"


class Printer:
    """Writes remote output to the local ``sys.stdout``/``sys.stderr``, each
    line prefixed: ``prefix`` with ``{stream}`` replaced by the stream's
    name (``"[engine 0] "``, ``"[{stream}:0] "``)."""

    def __init__(self, prefix: str) -> None:
        self.prefixes = {s: prefix.replace("{stream}", s) for s in ("stdout", "stderr")}
        self._line_start = {"stdout": True, "stderr": True}

    def __call__(self, stream: str, text: str) -> None:
        out = sys.stderr if stream == "stderr" else sys.stdout
        prefix = self.prefixes.get(stream, self.prefixes["stdout"])
        pieces = []
        at_start = self._line_start.get(stream, True)
        for line in text.splitlines(keepends=True):
            if at_start:
                pieces.append(prefix)
            pieces.append(line)
            at_start = line.endswith(("\n", "\r"))
        self._line_start[stream] = at_start
        out.write("".join(pieces))
        out.flush()


class OutputRouter:
    """The callable given to the Rust side: sends each piece to the active
    ``capture()`` block if any, else to the engine's output mode."""

    def __init__(self, spec: OutputSpec, prefix: str) -> None:
        self.prefix = prefix
        self.last = Captured()
        #: The active ``capture()`` blocks (and other diversions), innermost last.
        self.captures: list[Sink] = []
        self.spec: OutputSpec = None
        self._target: Callable[[str, str], object] | None = None
        self.set(spec)

    def set(self, spec: OutputSpec) -> None:
        if spec == "print":
            self._target = Printer(self.prefix)
        elif spec == "capture":
            self._target = self.last.write
        elif spec is None:
            self._target = None
        elif callable(spec):
            self._target = spec
        else:
            raise ValueError(f"output must be 'print', 'capture', None or a callable, got {spec!r}")
        self.spec = spec

    @property
    def active(self) -> bool:
        """Whether any output is wanted at all."""
        return self._target is not None or bool(self.captures)

    def __call__(self, stream: str, text: str) -> None:
        if self.captures:
            self.captures[-1].write(stream, text)
        elif self._target is not None:
            self._target(stream, text)
