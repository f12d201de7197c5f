"""Functions every library runs remotely in the benchmark.

Importable on both sides (``bench/`` is on ``PYTHONPATH`` of every process
the benchmark starts), so each library ships them by reference, the same way.
"""

from __future__ import annotations


def add(a: int, b: int) -> int:
    """The remote ``1 + 1`` for libraries that call functions, not strings."""
    return a + b


def inc(x: int) -> int:
    """The tiny task: ``x + 1``."""
    return x + 1


def cpu_task(n: int) -> int:
    """Pure-Python CPU work: the sum of the primes below ``n`` by trial
    division (``n`` is calibrated so that one call takes ~50 ms)."""
    total = 0
    for k in range(2, n):
        d = 2
        while d * d <= k:
            if k % d == 0:
                break
            d += 1
        else:
            total += k
    return total


def array_from_bytes(buf: bytes, dtype: str, shape: list[int]):
    """Rebuilds an ndarray from raw bytes (for libraries without a numpy
    wire form): no copy."""
    import numpy as np

    return np.frombuffer(buf, dtype=dtype).reshape(shape)
