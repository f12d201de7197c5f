"""The SRPy server: ``python -m srpy.server`` and the ``srpy-server``
script.

The same program as the Rust ``srpy-server`` binary (the extension links
it; see docs/DECISIONS.md), so installing the wheel is all it takes to
serve engines. The engines run this interpreter unless ``--python`` (or
``SRPY_PYTHON``) names another. ``python -m srpy.server --help`` lists the
options.
"""

from __future__ import annotations

import os
import sys

__all__ = ["main", "run"]


def run(args: list[str]) -> int:
    """Runs the server with these command-line arguments until a signal
    stops it; returns its exit status. It takes over SIGINT, SIGTERM and
    SIGHUP: call it only in a process that exists to be the server."""
    from srpy._srpy import server_main

    # The lowest precedence (below --python and --config): SRPY_PYTHON,
    # which the server reads when neither names an interpreter.
    os.environ.setdefault("SRPY_PYTHON", sys.executable)
    return server_main(["srpy-server", *args])


def main() -> int:
    """Entry point of the ``srpy-server`` script."""
    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
