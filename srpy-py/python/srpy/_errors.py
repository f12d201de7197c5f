"""The exceptions of SRPy.

Every error the client raises is an :class:`SRPyError`. Errors that also have
a natural builtin meaning subclass that builtin too, so ordinary ``except``
clauses work:

========================  =============================================
class                     also a
========================  =============================================
``SRPyTimeoutError``      ``TimeoutError``
``SRPyServerNotFound``    ``ConnectionError``
``NotTransferable``       ``TypeError``
``InvalidURI``            ``ValueError``
``NoSuchEngine``          ``LookupError``
remote ``KeyError`` …     ``RemoteError`` and ``KeyError`` (see below)
========================  =============================================

A remote exception is raised as :class:`RemoteError`. When its type is a
builtin exception (``KeyError``, ``ZeroDivisionError``, ``NameError``, …) the
class raised is ``RemoteKeyError(RemoteError, KeyError)`` (made on first use,
then cached), so ``except KeyError:`` catches a remote ``KeyError`` just like
a local one, and ``except srpy.RemoteError:`` catches every remote error.
"""

from __future__ import annotations

import builtins
import threading

TYPE_CHECKING = False  # not typing's: its import costs start-up time
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "AuthError",
    "EngineClosed",
    "EngineDiedError",
    "InvalidURI",
    "LimitExceeded",
    "NoSuchEngine",
    "NotTransferable",
    "ProtocolError",
    "RemoteError",
    "RemoteInterrupted",
    "SRPyError",
    "SRPyServerNotFound",
    "SRPyTimeoutError",
    "UnsupportedOperation",
    "VersionMismatch",
    "remote_error_class",
]


class SRPyError(Exception):
    """Base class of every SRPy error."""


class RemoteError(SRPyError):
    """An exception raised by code running in an engine.

    ``remote_type`` is the remote exception's type name (unqualified for
    builtins, ``"module.QualName"`` otherwise), ``remote_message`` its
    message, ``remote_traceback`` the formatted remote traceback and
    ``engine`` the URI of the engine. ``str(e)`` shows the message followed
    by the remote traceback.
    """

    remote_type: str
    remote_message: str
    remote_traceback: str
    engine: str | None

    def __init__(
        self,
        message: str = "",
        remote_type: str = "Exception",
        remote_traceback: str = "",
        engine: str | None = None,
    ) -> None:
        # BaseException.__init__ directly: the second base of a remote
        # builtin (UnicodeDecodeError, OSError, ...) may want other arguments.
        BaseException.__init__(self, message)
        self.remote_message = message
        self.remote_type = remote_type
        self.remote_traceback = remote_traceback
        self.engine = engine

    def __str__(self) -> str:
        text = self.remote_message
        tb = self.remote_traceback.rstrip()
        if tb:
            where = f" ({self.engine})" if self.engine else ""
            text = f"{text}\n\nRemote traceback{where}:\n{tb}"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _make_remote_error,
            (self.remote_type, self.remote_message, self.remote_traceback),
            {"engine": self.engine},
        )

    def __setstate__(self, state: dict[str, Any] | None) -> None:
        if state:
            self.__dict__.update(state)


class RemoteInterrupted(SRPyError):
    """The remote call was interrupted (``interrupt()``, a timeout, Ctrl-C)."""

    engine: str | None = None


class SRPyServerNotFound(SRPyError, ConnectionError):
    """Nothing answered at the address; ``uri`` names it."""

    uri: str | None = None


class EngineDiedError(SRPyError):
    """The engine died (or was restarted) while the call was in flight.

    The next call on the same handle reconnects (to the restarted engine,
    which has a fresh namespace).
    """

    engine: str | None = None


class EngineClosed(SRPyError):
    """The engine handle was closed with ``close()``."""


class SRPyTimeoutError(SRPyError, TimeoutError):
    """A call (or connecting) did not finish in time.

    A timed-out call is interrupted in the engine; the engine stays usable.
    """


class AuthError(SRPyError):
    """Authentication failed: wrong or missing token."""


class ProtocolError(SRPyError):
    """The peer broke the protocol, or answered something unexpected."""


class VersionMismatch(ProtocolError):
    """Client and server share no protocol version."""


class NotTransferable(SRPyError, TypeError):
    """A value has no wire form (and pickling was not allowed).

    The message names the type and says how to opt in to pickling.
    """


class UnsupportedOperation(SRPyError):
    """The server or engine does not know the operation."""


class LimitExceeded(SRPyError):
    """A limit was hit: frame size, number of connections."""


class NoSuchEngine(SRPyError, LookupError):
    """The server has no engine with that index."""


class InvalidURI(SRPyError, ValueError):
    """The address is not a valid ``srpy://host:port[/index]`` URI."""


# --------------------------------------------------------------------------
# remote exceptions
# --------------------------------------------------------------------------

_classes: dict[str, type[RemoteError]] = {}
_lock = threading.Lock()


def remote_error_class(type_name: str) -> type[RemoteError]:
    """The class raised for a remote exception of type ``type_name``.

    For a builtin exception type (``"KeyError"``) it is a subclass of both
    :class:`RemoteError` and the builtin, named ``RemoteKeyError``; for any
    other type it is :class:`RemoteError` itself.

    >>> cls = remote_error_class("KeyError")
    >>> cls.__name__, issubclass(cls, KeyError), issubclass(cls, RemoteError)
    ('RemoteKeyError', True, True)
    >>> remote_error_class("mymodule.FitError") is RemoteError
    True

    A remote ``NameError`` (``get`` of a missing name) is also a
    ``KeyError``, as SRPy 0.2's ``get`` raised:

    >>> issubclass(remote_error_class("NameError"), (KeyError, NameError))
    True
    """
    cls = _classes.get(type_name)
    if cls is not None:
        return cls
    base = getattr(builtins, type_name, None) if type_name.isidentifier() else None
    # Only Exception subclasses: a remote SystemExit or KeyboardInterrupt
    # must not end (or look like an interrupt of) the client.
    if not (isinstance(base, type) and issubclass(base, Exception)) or base is Exception:
        return RemoteError
    # SRPy 0.2's ``get`` of a missing name raised KeyError; the engine
    # raises NameError: the class is both, so old and new scripts catch it.
    bases = (RemoteError, base, KeyError) if base is NameError else (RemoteError, base)
    with _lock:
        cls = _classes.get(type_name)
        if cls is None:
            try:
                cls = type(
                    f"Remote{type_name}",
                    bases,
                    {
                        "__module__": "srpy",
                        "__doc__": f"A remote {type_name}: both RemoteError and {type_name}.",
                        "__str__": RemoteError.__str__,
                        "__reduce__": RemoteError.__reduce__,
                    },
                )
            except TypeError:  # an instance layout that cannot be combined
                cls = RemoteError
            _classes[type_name] = cls
    return cls


def _make_remote_error(
    remote_type: str,
    message: str,
    traceback: str = "",
    engine: str | None = None,
) -> RemoteError:
    """The exception to raise for a remote error (used by the Rust side)."""
    cls = remote_error_class(remote_type)
    try:
        try:
            err = cls.__new__(cls, message)
        except TypeError:
            # MemoryError's own __new__ refuses classes made by type() whose
            # layout is BaseException's ("not safe"): BaseException's is.
            err = BaseException.__new__(cls, message)
        RemoteError.__init__(err, message, remote_type, traceback, engine)
    except Exception:  # noqa: BLE001 - never fail while reporting an error
        err = RemoteError(message, remote_type, traceback, engine)
    if isinstance(err, SyntaxError):
        # The traceback module prints SyntaxErrors from their fields.
        err.msg = str(err)
    return err


# The classes present themselves as ``srpy.X``, the name users import.
for _cls in (
    SRPyError,
    RemoteError,
    RemoteInterrupted,
    SRPyServerNotFound,
    EngineDiedError,
    EngineClosed,
    SRPyTimeoutError,
    AuthError,
    ProtocolError,
    VersionMismatch,
    NotTransferable,
    UnsupportedOperation,
    LimitExceeded,
    NoSuchEngine,
    InvalidURI,
):
    _cls.__module__ = "srpy"
del _cls
