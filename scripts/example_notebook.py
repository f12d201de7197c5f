"""Executes ``docs/examples/notebook.ipynb`` in a real Jupyter kernel
(nbclient + ipykernel) against real engines, and writes it back with its
outputs, so the example shows a real run:

    .venv/bin/python scripts/example_notebook.py [PATH]

The kernel inherits the environment (``SRPY_SERVER_BIN``, ``SRPY_PYTHON``:
see scripts/setup.sh). A cell tagged ``interrupt`` is interrupted the way a
notebook's stop button does it (``interrupt_kernel()``: SIGINT to the
kernel) once every engine has printed its first line; cells tagged
``raises-exception`` are expected to fail. ``srpy-py/tests/test_notebook.py``
runs the same function and checks the outputs.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "notebook.ipynb"

#: Seconds a cell may take (the interrupted one waits far longer).
CELL_TIMEOUT = 60


class _Client(NotebookClient):
    """Notes when each output arrives and interrupts the kernel during a
    cell tagged ``interrupt`` once every engine it runs on has printed."""

    def __init__(self, nb: Any, **kwargs: Any) -> None:
        super().__init__(nb, **kwargs)
        #: cell index → [(seconds since the cell started, output text)]
        self.arrivals: dict[int, list[tuple[float, str]]] = {}
        self.started: dict[int, float] = {}
        self._interrupted: set[int] = set()
        self.on_cell_execute = self._cell_starts

    def _cell_starts(self, cell: Any, cell_index: int) -> None:
        self.started[cell_index] = time.monotonic()

    def output(self, outs: list, msg: dict, display_id: Any, cell_index: int) -> Any:
        out = super().output(outs, msg, display_id, cell_index)
        text = msg["content"].get("text", "")
        if text:
            t = time.monotonic() - self.started.get(cell_index, time.monotonic())
            self.arrivals.setdefault(cell_index, []).append((t, text))
        cell = self.nb.cells[cell_index]
        if (
            "interrupt" in cell.metadata.get("tags", ())
            and cell_index not in self._interrupted
        ):
            seen = "".join(t for _, t in self.arrivals.get(cell_index, ()))
            if all(f"[stdout:{i}]" in seen for i in (0, 1)):
                self._interrupted.add(cell_index)
                asyncio.ensure_future(self.km.interrupt_kernel())
        return out


def execute(path: Path = EXAMPLE) -> tuple[Any, _Client]:
    """Runs the notebook at ``path``; answers it with its outputs and the
    client (whose ``arrivals`` say when each output came)."""
    nb = nbformat.read(path, as_version=4)
    client = _Client(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return nb, client


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else EXAMPLE
    nb, _ = execute(path)
    nbformat.write(nb, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
