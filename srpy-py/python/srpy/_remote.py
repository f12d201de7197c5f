"""Helpers that run inside engines (imported there by unpickling).

A function shipped by :meth:`srpy.PythonEngine.apply` without cloudpickle
travels as its source text; unpickling it in the engine calls
:func:`function_from_source`, which executes the source in a fresh module
namespace and returns the function.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

__all__ = ["function_from_source"]


def function_from_source(source: str, name: str) -> Callable[..., Any]:
    """Execute ``source`` in a fresh namespace and return its ``name``.

    >>> f = function_from_source("def twice(x):\\n    return 2 * x\\n", "twice")
    >>> f(21)
    42
    """
    ns: dict[str, Any] = {"__name__": "__srpy_apply__", "__builtins__": builtins}
    exec(compile(source, f"<srpy-apply {name}>", "exec"), ns)  # noqa: S102 - shipped on purpose
    return ns[name]
