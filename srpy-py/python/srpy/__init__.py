"""SRPy: Simple Remote Python.

Control CPython interpreters ("engines") on this and other machines.
"""

from srpy._srpy import PROTOCOL_VERSION, __version__

__all__ = ["__version__", "PROTOCOL_VERSION"]
