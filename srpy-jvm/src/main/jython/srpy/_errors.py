# -*- coding: utf-8 -*-
"""SRPy's exceptions for Jython: the classes of CPython's ``srpy._errors``
under the same names (the Jython names of earlier versions are aliases),
and the mapping from the jar's Java exceptions (``org.srpy.*Exception``).

A remote builtin exception is raised as a class that is both
``RemoteError`` and the builtin (``RemoteKeyError``), so ``except
KeyError:`` works as with local code; a remote ``NameError`` (``get`` of a
missing name) is also a ``KeyError``, as SRPy 0.2's ``get`` raised.
"""

import threading

from java.lang import (IllegalStateException as _JIllegalState,
                       IllegalArgumentException as _JIllegalArgument)

import org.srpy.SRPyException as _JSRPyException
import org.srpy.RemoteException as _JRemoteException
import org.srpy.EngineDiedException as _JEngineDied
import org.srpy.SRPyTimeoutException as _JTimeout
import org.srpy.InterruptedRemoteException as _JInterrupted
import org.srpy.AuthException as _JAuth
import org.srpy.ProtocolException as _JProtocol
import org.srpy.NotTransferableException as _JNotTransferable
import org.srpy.ServerNotFoundException as _JServerNotFound
import org.srpy.UnsupportedOpException as _JUnsupported
import org.srpy.NoSuchEngineException as _JNoSuchEngine
import org.srpy.ClusterException as _JCluster


class _JavaResource(object):
    """``close()`` and ``with`` for a wrapper of a closeable Java object
    (``self._j``): closing twice is not an error."""

    def close(self):
        try:
            self._j.close()
        except _JIllegalState:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class SRPyError(Exception):
    """Base of every SRPy error."""


class RemoteError(SRPyError):
    """Remote Python code raised. ``remote_type``: its type name;
    ``remote_traceback``: the traceback as the engine printed it."""

    remote_type = "Exception"
    remote_message = ""
    remote_traceback = None

    def __str__(self):
        return "%s: %s" % (self.remote_type, self.remote_message)


class EngineDiedError(SRPyError):
    """The engine died (or was restarted) during the call; the next call reconnects."""


class SRPyTimeoutError(SRPyError):
    """A call did not finish in time (the engine was sent an interrupt)."""


class RemoteInterrupted(SRPyError):
    """The remote call was interrupted (``interrupt()``)."""


class AuthError(SRPyError):
    """Wrong or missing token."""


class ProtocolError(SRPyError):
    """The peer broke the protocol, or no common protocol version."""


class NotTransferable(SRPyError, TypeError):
    """A value has no wire form."""


class SRPyServerNotFound(SRPyError):
    """Nothing answered at the address (the original's name)."""


class UnsupportedOperation(SRPyError):
    """The engine does not know the operation."""


class NoSuchEngine(SRPyError, LookupError):
    """The server has no engine with that index."""


class EngineClosed(SRPyError):
    """The engine handle was closed."""


class ClusterError(SRPyError):
    """Too few hosts of a ``srpy.Cluster`` started. ``failures``:
    ``[(host, reason)]``."""

    def __init__(self, message, failures=()):
        SRPyError.__init__(self, message)
        self.failures = list(failures)


class ClusterWarning(UserWarning):
    """A host did not start (``min_hosts`` let the cluster go on), or was
    lost while the cluster ran."""


# The names of earlier versions of this module, and short forms.
TimeoutError = SRPyTimeoutError
InterruptedError = RemoteInterrupted
NotTransferableError = NotTransferable
UnsupportedOpError = UnsupportedOperation
NoSuchEngineError = NoSuchEngine
EngineClosedError = EngineClosed
SRPyServerNotFoundError = SRPyServerNotFound
EngineDied = EngineDiedError

_JAVA_ERRORS = [
    (_JEngineDied, EngineDiedError),
    (_JTimeout, SRPyTimeoutError),
    (_JInterrupted, RemoteInterrupted),
    (_JAuth, AuthError),
    (_JProtocol, ProtocolError),
    (_JNotTransferable, NotTransferable),
    (_JServerNotFound, SRPyServerNotFound),
    (_JUnsupported, UnsupportedOperation),
    (_JNoSuchEngine, NoSuchEngine),
]

_remote_classes = {}
_remote_lock = threading.Lock()


def _builtin_exception(name):
    import exceptions
    cls = getattr(exceptions, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception) and name != "Exception":
        return cls
    if name == "ModuleNotFoundError":       # Python 3 name, Python 2 meaning
        return ImportError
    if name in ("RecursionError",):
        return RuntimeError
    return None


def remote_error_class(type_name):
    """The class raised for a remote exception of type ``type_name``: for a
    builtin (``"KeyError"``) ``RemoteKeyError``, both ``RemoteError`` and the
    builtin; else ``RemoteError``."""
    with _remote_lock:
        cls = _remote_classes.get(type_name)
        if cls is None:
            base = _builtin_exception(type_name) if type_name.isalnum() else None
            if base is None:
                cls = RemoteError
            else:
                bases = (RemoteError, base)
                if base is NameError:
                    bases = (RemoteError, NameError, KeyError)
                try:
                    cls = type(str("Remote" + type_name), bases, {})
                except TypeError:
                    cls = RemoteError
            _remote_classes[type_name] = cls
        return cls


def _convert_error(e):
    """The Python exception for a Java exception thrown by org.srpy."""
    if isinstance(e, _JRemoteException):
        cls = remote_error_class(e.getRemoteType())
        msg = e.getRemoteMessage()
        err = cls(msg)
        err.remote_type = e.getRemoteType()
        err.remote_message = msg
        err.remote_traceback = e.getRemoteTraceback()
        return err
    if isinstance(e, _JCluster):
        return ClusterError(e.getMessage(), [(f.getHost(), f.getReason()) for f in e.getFailures()])
    for jcls, pycls in _JAVA_ERRORS:
        if isinstance(e, jcls):
            return pycls(e.getMessage())
    if isinstance(e, _JIllegalState):
        return EngineClosed(e.getMessage())
    if isinstance(e, _JIllegalArgument):
        return TypeError(e.getMessage())
    if isinstance(e, _JSRPyException):
        return SRPyError(e.getMessage())
    return None


def _jcall(f, *args):
    """Calls a Java method, turning org.srpy exceptions into Python ones."""
    try:
        return f(*args)
    except (_JSRPyException, _JIllegalState, _JIllegalArgument), e:
        err = _convert_error(e)
        if err is None:
            raise
        raise err


# The classes present themselves as ``srpy.X``, the name users import (as
# CPython's do).
for _cls in (SRPyError, RemoteError, EngineDiedError, SRPyTimeoutError, RemoteInterrupted,
             AuthError, ProtocolError, NotTransferable, SRPyServerNotFound,
             UnsupportedOperation, NoSuchEngine, EngineClosed, ClusterError, ClusterWarning):
    _cls.__module__ = "srpy"
del _cls
