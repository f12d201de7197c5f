# -*- coding: utf-8 -*-
"""SRPy for Jython 2.7: control remote CPython engines.

The same API as CPython's ``srpy`` package, over the Java classes of the
jar that carries this module (``org.srpy``, which wrap the Rust client
through JNI)::

    import srpy
    eng = srpy.PythonEngine("srpy://127.0.0.1:7000/0")
    eng.set(a=5)
    print eng.eval("a + b", b=3)           # 8
    print eng.ns.math.sqrt(16)             # 4.0
    eng.close()

Values: None, bool, int/long, float, str/unicode (text), bytearray (bytes),
list, tuple, dict, set/frozenset, complex, datetime/date, Decimal travel as
themselves; remote ``bytes`` arrive as ``str`` (Python 2's bytes), remote
text as ``unicode``; numpy arrays arrive as ``org.srpy.NDArray``. To send
bytes, pass a ``bytearray``, ``srpy.Bytes(s)`` or a Java ``byte[]``.

Modules, as in CPython's package: ``srpy._errors`` (the exceptions, under
CPython's names), ``srpy._box`` (``EngBox``, ``MultiRunResult``),
``srpy._cluster`` (``Cluster``: ssh and Slurm launchers); values,
engines and local servers here. ``_java_op`` (below) turns an engine
method call into a Java box operation; only ``srpy._box`` uses it.
"""

import sys
import os
import threading
import datetime as _dt
import decimal as _decimal

from java.lang import (Boolean as _JBoolean, Long as _JLong, Integer as _JInteger,
                       Double as _JDouble, IllegalStateException as _JIllegalState,
                       IllegalArgumentException as _JIllegalArgument,
                       Runtime as _JRuntime)
from java.math import BigInteger as _JBigInteger, BigDecimal as _JBigDecimal
from java.util import (ArrayList as _JArrayList, LinkedHashMap as _JLinkedHashMap,
                       LinkedHashSet as _JLinkedHashSet, List as _JList, Map as _JMap,
                       Set as _JSet, Collection as _JCollection)
from java.util.function import BiConsumer as _JBiConsumer
from java.time import (LocalDateTime as _JLocalDateTime, OffsetDateTime as _JOffsetDateTime,
                       LocalDate as _JLocalDate, ZonedDateTime as _JZonedDateTime, Duration as _JDuration)
from org.python.core.util import StringUtil as _StringUtil

import org.srpy.PythonEngine as _JEngine
import org.srpy.ConnectOptions as _JConnectOptions
import org.srpy.LocalServer as _JLocalServer
import org.srpy.Tuple as _JTuple
import org.srpy.Complex as _JComplex
import org.srpy.NDArray as NDArray

__version__ = "0.1.0"

__all__ = [
    "PythonEngine", "connect", "EngBox", "MultiRunResult", "LocalCluster",
    "local", "newSubEngine", "new_sub_engine", "detectNCPUs", "detect_ncpus",
    "SRPyError", "RemoteError", "RemoteInterrupted", "SRPyServerNotFound", "EngineDiedError",
    "EngineClosed", "SRPyTimeoutError", "AuthError", "ProtocolError", "NotTransferable",
    "UnsupportedOperation", "NoSuchEngine", "remote_error_class",
    "Cluster", "ClusterError", "ClusterWarning",
    # the names of earlier versions of this module
    "TimeoutError", "InterruptedError", "NotTransferableError", "UnsupportedOpError",
    "NoSuchEngineError", "EngineClosedError",
    # Jython only
    "Bytes", "NDArray", "tojava", "topy",
]


# --------------------------------------------------------------------- errors

from srpy._errors import (  # noqa: E402 (re-exported)
    SRPyError, RemoteError, RemoteInterrupted, SRPyServerNotFound, EngineDiedError,
    EngineClosed, SRPyTimeoutError, AuthError, ProtocolError, NotTransferable,
    UnsupportedOperation, NoSuchEngine, remote_error_class,
    TimeoutError, InterruptedError, NotTransferableError, UnsupportedOpError,
    NoSuchEngineError, EngineClosedError, SRPyServerNotFoundError, EngineDied,
    _convert_error, _jcall, _JavaResource,
)


# --------------------------------------------------------------------- values

class Bytes(str):
    """A ``str`` that travels as Python ``bytes`` (plain ``str`` travels as text)."""


class _FixedOffset(_dt.tzinfo):
    """A fixed UTC offset (Python 2 has no datetime.timezone)."""

    def __init__(self, seconds):
        self._offset = _dt.timedelta(seconds=seconds)
        self._seconds = seconds

    def utcoffset(self, d):
        return self._offset

    def dst(self, d):
        return _dt.timedelta(0)

    def tzname(self, d):
        s = self._seconds
        sign = "-" if s < 0 else "+"
        s = abs(s)
        return "UTC%s%02d:%02d" % (sign, s // 3600, (s // 60) % 60)

    def __repr__(self):
        return "_FixedOffset(%d)" % self._seconds


def _bytes_to_java(s):
    return _StringUtil.toBytes(str(s))


def tojava(v):
    """A Python value as the Java object ``org.srpy`` sends."""
    t = type(v)
    if v is None or t is bool or t is int or t is float:
        return v
    if t is long:
        if -9223372036854775808 <= v <= 9223372036854775807:
            return _JLong(v)
        return _JBigInteger(str(v))
    if t is unicode:
        return v
    if t is Bytes or t is bytearray:
        return _bytes_to_java(v)
    if t is str or isinstance(v, basestring):
        if isinstance(v, Bytes):
            return _bytes_to_java(v)
        return v.decode("utf-8") if t is str and not _is_ascii(v) else v
    if t is list:
        out = _JArrayList(len(v))
        for x in v:
            out.add(tojava(x))
        return out
    if t is tuple:
        items = _JArrayList(len(v))
        for x in v:
            items.add(tojava(x))
        return _JTuple.copyOf(items)
    if t is dict or isinstance(v, dict):
        out = _JLinkedHashMap()
        for k, x in v.iteritems():
            out.put(tojava(k), tojava(x))
        return out
    if t is set or t is frozenset:
        out = _JLinkedHashSet()
        for x in v:
            out.add(tojava(x))
        return out
    if t is complex:
        return _JComplex(v.real, v.imag)
    if isinstance(v, _dt.datetime):
        text = v.isoformat()
        return _JOffsetDateTime.parse(text) if v.utcoffset() is not None else _JLocalDateTime.parse(text)
    if isinstance(v, _dt.date):
        return _JLocalDate.parse(v.isoformat())
    if isinstance(v, _decimal.Decimal):
        if not v.is_finite():
            raise NotTransferable("a non-finite Decimal (%s) has no wire form" % v)
        return _JBigDecimal(str(v))
    if isinstance(v, (list, tuple, set, frozenset)):
        return tojava(t.__base__(v) if t.__base__ in (list, tuple, set, frozenset) else list(v))
    if isinstance(v, (int, long, float)):
        return tojava(t.__base__(v))
    return v   # Java objects (byte[], NDArray, …) go as they are


def _is_ascii(s):
    try:
        s.decode("ascii")
        return True
    except UnicodeDecodeError:
        return False


def _key(v):
    """A value usable as a dict key / set element."""
    if isinstance(v, list):
        return tuple(_key(x) for x in v)
    if isinstance(v, set):
        return frozenset(v)
    if isinstance(v, dict):
        return tuple(v.items())
    return v


def _collision(container, new, what, python_type):
    earlier = [k for k in container if k == new][0]
    raise NotTransferable(
        "received %s that collide in Python: %r and %r are distinct on the wire but equal "
        "in Python, and a %s cannot hold both" % (what, earlier, new, python_type))


def topy(o):
    """A Java object from ``org.srpy`` as the natural Jython value."""
    if o is None:
        return None
    t = type(o)
    if t is long:
        return int(o)
    if t is unicode or t is int or t is float or t is bool:
        return o
    if isinstance(o, _JTuple):
        return tuple(topy(x) for x in o)
    if isinstance(o, _JList):
        return [topy(x) for x in o]
    # PROTOCOL.md 7.2: "A Python receiver MUST reject a map whose keys, or a
    # set whose elements, collide in Python, with `not_transferable` naming
    # the colliding keys; it MUST NOT drop entries."
    if isinstance(o, _JMap):
        d = {}
        it = o.entrySet().iterator()
        while it.hasNext():
            e = it.next()
            k = _key(topy(e.getKey()))
            if k in d:
                _collision(d, k, "map keys", "dict")
            d[k] = topy(e.getValue())
        return d
    if isinstance(o, _JSet):
        out = set()
        for x in o:
            k = _key(topy(x))
            if k in out:
                _collision(out, k, "set elements", "set")
            out.add(k)
        return out
    if isinstance(o, _JBigInteger):
        return long(o.toString())
    if isinstance(o, _JComplex):
        return complex(o.getReal(), o.getImag())
    if isinstance(o, _JBigDecimal):
        return _decimal.Decimal(o.toString())
    if isinstance(o, _JLocalDateTime):
        return _dt.datetime(o.getYear(), o.getMonthValue(), o.getDayOfMonth(), o.getHour(),
                            o.getMinute(), o.getSecond(), o.getNano() // 1000)
    if isinstance(o, _JOffsetDateTime):
        return _dt.datetime(o.getYear(), o.getMonthValue(), o.getDayOfMonth(), o.getHour(),
                            o.getMinute(), o.getSecond(), o.getNano() // 1000,
                            _FixedOffset(o.getOffset().getTotalSeconds()))
    if isinstance(o, _JLocalDate):
        return _dt.date(o.getYear(), o.getMonthValue(), o.getDayOfMonth())
    if hasattr(o, "tostring") and getattr(o, "typecode", None) == "b":
        return o.tostring()   # Java byte[] → str (Python 2 bytes)
    return o


def _strings(names):
    import jarray
    from java.lang import String
    return jarray.array([unicode(n) for n in names], String)


def _java_list(items):
    """A ``java.util.ArrayList`` of the items' wire values."""
    lst = _JArrayList()
    for x in items:
        lst.add(tojava(x))
    return lst


def _vars(kw):
    m = _JLinkedHashMap()
    for k, v in kw.iteritems():
        m.put(unicode(k), tojava(v))
    return m


# --------------------------------------------------------------------- output

class _Output(_JBiConsumer):
    """Remote stdout/stderr to this interpreter's sys.stdout / sys.stderr."""

    def accept(self, stream, text):
        f = sys.stderr if stream == "stderr" else sys.stdout
        try:
            f.write(text)
            f.flush()
        except Exception:
            pass


class _Callback(_JBiConsumer):
    def __init__(self, fn):
        self.fn = fn

    def accept(self, stream, text):
        self.fn(stream, text)


_OUTPUT = _Output()


# --------------------------------------------------------------------- engines

class _Proxy(object):
    """``eng.ns``: attribute access to the remote namespace."""

    def __init__(self, engine, prefix):
        object.__setattr__(self, "_engine", engine)
        object.__setattr__(self, "_prefix", prefix)

    def _name(self, attr):
        p = object.__getattribute__(self, "_prefix")
        return p + "." + attr if p else attr

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        eng = object.__getattribute__(self, "_engine")
        name = self._name(attr)
        try:
            d = eng.describe(name)
        except RemoteError, e:
            raise AttributeError("remote name '%s': %s" % (name, e))
        if d.get("kind") in ("module", "class", "function", "callable"):
            return _Proxy(eng, name)
        try:
            return eng.eval(name)
        except NotTransferable:
            return _Proxy(eng, name)

    def __setattr__(self, attr, value):
        eng = object.__getattribute__(self, "_engine")
        prefix = object.__getattribute__(self, "_prefix")
        if not prefix:
            eng.set(**{attr: value})
        else:
            eng.exe("setattr(%s, %r, __srpy_v)\ndel __srpy_v" % (prefix, attr), __srpy_v=value)

    def __delattr__(self, attr):
        eng = object.__getattribute__(self, "_engine")
        prefix = object.__getattribute__(self, "_prefix")
        if not prefix:
            eng.delete(attr)
        else:
            eng.exe("delattr(%s, %r)" % (prefix, attr))

    def __call__(self, *args, **kwargs):
        eng = object.__getattribute__(self, "_engine")
        return eng.call(object.__getattribute__(self, "_prefix"), *args, **kwargs)

    def __dir__(self):
        eng = object.__getattribute__(self, "_engine")
        prefix = object.__getattribute__(self, "_prefix")
        if not prefix:
            return list(eng.get())
        return list(eng.describe(prefix).get("attributes") or [])

    def __repr__(self):
        p = object.__getattribute__(self, "_prefix")
        return "<remote %s on %r>" % (p or "namespace", object.__getattribute__(self, "_engine"))


class RemoteFunction(object):
    """A callable proxy on a remote function, with the remote ``__doc__``."""

    def __init__(self, engine, name):
        self.engine = engine
        self.name = name
        self.__name__ = str(name.rsplit(".", 1)[-1])
        try:
            self.__doc__ = engine.describe(name).get("doc")
        except SRPyError:
            self.__doc__ = None

    def __call__(self, *args, **kwargs):
        return self.engine.call(self.name, *args, **kwargs)

    def __repr__(self):
        return "<RemoteFunction %s on %r>" % (self.name, self.engine)


def _connect_options(token=None, connect_timeout=None, tls_ca=None, tls_pin=None,
                     tls_cert=None, tls_key=None):
    """The ``org.srpy.ConnectOptions`` of the keywords CPython's client
    takes (``tls_*`` as there: CA file, pinned fingerprint, client
    certificate and its key)."""
    from java.nio.file import Paths

    def path(p):
        return None if p is None else Paths.get(unicode(p))
    o = _JConnectOptions().token(token).tlsCa(path(tls_ca)).tlsClientCert(path(tls_cert), path(tls_key))
    if tls_pin is not None:
        o = o.tlsPin(unicode(tls_pin))
    if connect_timeout is not None:
        o = _jcall(o.connectTimeout, _JDuration.ofNanos(long(connect_timeout * 1e9)))
    return o


class PythonEngine(_JavaResource):
    """A remote Python interpreter.

    ``PythonEngine(uri, name=None, group=None, token=None, timeout=None,
    connect_timeout=None, tls_ca=None, tls_pin=None, tls_cert=None,
    tls_key=None)``: ``uri`` is ``srpy://host:port/<index>`` (``srpys://``:
    TLS); ``token`` the server's token (default: environment variable
    ``SRPY_TOKEN``); ``timeout`` a default per-call timeout in seconds. Over
    TLS (``srpys://``, or any ``tls_*`` keyword), ``tls_ca`` (a CA
    certificate file) or ``tls_pin`` (the SHA-256 fingerprint the server
    printed) verifies the server, and ``tls_cert``/``tls_key`` are the
    client certificate for a server that asks for one. Every call also
    takes ``timeout=``.
    """

    def __init__(self, uri, name=None, group=None, token=None, timeout=None, _java=None,
                 **connect_options):
        if _java is None:
            _java = _jcall(_JEngine, unicode(uri), _connect_options(token, **connect_options))
        self._j = _java
        _java.setOutputHandler(_OUTPUT)
        self._timeout = timeout
        self.uri = unicode(uri)
        self.name = name
        self.group = group
        self.ns = _Proxy(self, "")

    # -- plumbing
    def _eng(self, timeout=None):
        t = timeout if timeout is not None else self._timeout
        if t is None:
            return self._j
        return self._j.withTimeout(_JDuration.ofNanos(long(t * 1e9)))

    def java(self):
        """The ``org.srpy.PythonEngine`` behind this handle."""
        return self._j

    def set_output_handler(self, fn):
        """``fn(stream, text)`` receives remote output (``None``: drop it)."""
        self._j.setOutputHandler(None if fn is None else _Callback(fn))

    # -- variables
    def set(self, *args, **kwargs):
        """``set(a=1, b=2)``; also ``set('a', 1)`` and ``set({'a': 1})``."""
        timeout = kwargs.pop("timeout", None)
        if len(args) == 2:
            kwargs[args[0]] = args[1]
        elif len(args) == 1 and isinstance(args[0], dict):
            kwargs.update(args[0])
        elif args:
            raise TypeError("set() takes keyword arguments, a dict, or a name and a value")
        _jcall(self._eng(timeout).set, _vars(kwargs))

    def get(self, names=None, timeout=None):
        """``get()`` → list of names; ``get('a')`` → value; ``get(['a','b'])`` → dict."""
        e = self._eng(timeout)
        if names is None:
            return [unicode(n) for n in _jcall(e.names)]
        if isinstance(names, basestring):
            return topy(_jcall(e.get, unicode(names)))
        lst = _JArrayList()
        for n in names:
            lst.add(unicode(n))
        return topy(_jcall(e.get, lst))

    def names(self, timeout=None):
        return self.get(None, timeout)

    def delete(self, *names, **kw):
        _jcall(self._eng(kw.get("timeout")).delete, _strings(names))

    def clear(self, timeout=None):
        _jcall(self._eng(timeout).clear)

    # -- code
    def eval(self, expr, **kwargs):
        timeout = kwargs.pop("timeout", None)
        e = self._eng(timeout)
        if kwargs:
            return topy(_jcall(e.eval, unicode(expr), _vars(kwargs)))
        return topy(_jcall(e.eval, unicode(expr)))

    def exe(self, code, **kwargs):
        timeout = kwargs.pop("timeout", None)
        e = self._eng(timeout)
        if kwargs:
            _jcall(e.exec, unicode(code), _vars(kwargs))
        else:
            _jcall(e.exec, unicode(code))

    exec_ = exe
    execute = exe

    def vexe(self, code, get=None, **kwargs):
        """Runs ``code`` in a fresh temporary namespace holding ``kwargs``;
        answers a dict of the names in ``get`` (one name: its value)."""
        timeout = kwargs.pop("timeout", None)
        single = isinstance(get, basestring)
        names = [get] if single else list(get or [])
        lst = _JArrayList()
        for n in names:
            lst.add(unicode(n))
        r = topy(_jcall(self._eng(timeout).vexec, unicode(code), lst, _vars(kwargs)))
        return r[names[0]] if single else r

    vexec = vexe

    def call(self, name, *args, **kwargs):
        timeout = kwargs.pop("timeout", None)
        a = _JArrayList()
        for x in args:
            a.add(tojava(x))
        return topy(_jcall(self._eng(timeout).callKw, unicode(name), a, _vars(kwargs)))

    def describe(self, name, timeout=None):
        return topy(_jcall(self._eng(timeout).describe, unicode(name)))

    def associateFunction(self, name):
        """A callable proxy on the remote function ``name`` (dotted)."""
        return RemoteFunction(self, name)

    function = associateFunction
    associate_function = associateFunction

    # -- modules
    def install(self, *modules, **kw):
        """Ships modules (names found on sys.path, or module objects) to the
        engine; ``install(name, source=text)`` ships given source."""
        timeout = kw.pop("timeout", None)
        e = self._eng(timeout)
        if "source" in kw:
            if len(modules) != 1:
                raise TypeError("install(name, source=...) takes one name")
            _jcall(e.install, unicode(modules[0]), unicode(kw["source"]))
            return
        for m in modules:
            name, path = _locate(m)
            if os.path.isdir(path):
                _jcall(e.installPackage, unicode(name), _zip_package(name, path))
            else:
                f = open(path, "rb")
                try:
                    src = f.read()
                finally:
                    f.close()
                _jcall(e.install, unicode(name), src.decode("utf-8"))

    def imp(self, *modules, **kw):
        _jcall(self._eng(kw.get("timeout")).imp, _strings(modules))

    # -- state
    def whoami(self, timeout=None):
        return topy(_jcall(self._eng(timeout).whoami))

    def ping(self, timeout=None):
        return str(_jcall(self._eng(timeout).ping))

    def isBusy(self):
        return bool(_jcall(self._j.isBusy))

    is_busy = isBusy

    def wait(self, timeout=None):
        """Waits until the engine is idle (at most ``timeout`` s); True when idle."""
        if timeout is None:
            return bool(_jcall(self._j.waitIdle))
        return bool(_jcall(self._j.await, float(timeout)))

    def interrupt(self):
        return bool(_jcall(self._j.interrupt))

    def benchmark(self, cycles=10):
        """``(net_s, proc_s, busy)``."""
        b = _jcall(self._j.benchmark, int(cycles))
        return (b.getNetSeconds(), b.getProcSeconds(), bool(b.isBusy()))

    # -- futures
    def submit(self, method, *args, **kwargs):
        """Runs ``getattr(self, method)(*args, **kwargs)`` on another thread; a Future."""
        f = getattr(self, method)
        return _ThreadFuture(lambda: f(*args, **kwargs))

    def eval_async(self, expr, **kwargs):
        return self.submit("eval", expr, **kwargs)

    def exe_async(self, code, **kwargs):
        return self.submit("exe", code, **kwargs)

    exec_async = exe_async

    def call_async(self, name, *args, **kwargs):
        return self.submit("call", name, *args, **kwargs)

    # -- original accessors
    def getURI(self):
        return self.uri

    def getInfoString(self):
        w = self.whoami()
        return ", ".join("%s: %s" % (k, w[k]) for k in sorted(w))

    def getHostname(self):
        return self.whoami().get("Hostname")

    def getSystem(self):
        return self.whoami().get("OS System")

    def getGroup(self):
        return self.group

    def setGroup(self, group):
        self.group = group

    get_uri = getURI
    get_hostname = getHostname
    get_group = getGroup
    set_group = setGroup

    def __repr__(self):
        extra = ""
        if self.name:
            extra += ", name=%r" % self.name
        if self.group:
            extra += ", group=%r" % self.group
        return "PythonEngine(%r%s)" % (str(self.uri), extra)

    __str__ = __repr__


class _ThreadFuture(object):
    """A Future run on a daemon thread (Jython threads are Java threads)."""

    def __init__(self, fn):
        self._done = threading.Event()
        self._value = None
        self._error = None

        def run():
            try:
                self._value = fn()
            except BaseException, e:
                self._error = e
            self._done.set()
        t = threading.Thread(target=run, name="srpy-future")
        t.setDaemon(True)
        t.start()

    def done(self):
        return self._done.is_set()

    def result(self, timeout=None):
        if not self._done.wait(timeout):
            raise TimeoutError("the result was not ready within %s s" % timeout)
        if self._error is not None:
            raise self._error
        return self._value

    def exception(self, timeout=None):
        if not self._done.wait(timeout):
            raise TimeoutError("the result was not ready within %s s" % timeout)
        return self._error


def _locate(m):
    """(name, path) of a module: a file, or a package's folder."""
    if hasattr(m, "__name__") and hasattr(m, "__file__"):
        name, path = m.__name__, m.__file__
        if os.path.basename(path).startswith("__init__."):
            path = os.path.dirname(path)
        elif path.endswith("$py.class") or path.endswith(".pyc"):
            path = path.replace("$py.class", ".py").replace(".pyc", ".py")
        return name, path
    name = str(m)
    rel = name.replace(".", os.sep)
    for d in sys.path:
        if not isinstance(d, basestring) or not os.path.isdir(d or "."):
            continue
        base = os.path.join(d or ".", rel)
        if os.path.isfile(os.path.join(base, "__init__.py")):
            return name, base
        if os.path.isfile(base + ".py"):
            return name, base + ".py"
    raise ImportError("cannot find the source of module %s on sys.path" % name)


def _zip_package(name, path):
    import zipfile
    from java.io import ByteArrayOutputStream
    import StringIO
    buf = StringIO.StringIO()
    z = zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED)
    top = name.split(".")[-1]
    for root, dirs, files in os.walk(path):
        for f in files:
            if f.endswith(".py"):
                full = os.path.join(root, f)
                arc = os.path.join(top, os.path.relpath(full, path))
                z.write(full, arc)
    z.close()
    return _bytes_to_java(buf.getvalue())


def connect(uri, token=None, **kw):
    """``PythonEngine(uri, token=token)``."""
    return PythonEngine(uri, token=token, **kw)


# --------------------------------------------------------------------- boxes

def _java_op(method, args, kwargs):
    """(java method name, java args) for a box operation, or None."""
    kw = dict(kwargs)
    timeout = kw.pop("timeout", None)
    if timeout is not None:
        return None
    m = method
    if m in ("ping", "whoami", "clear", "interrupt") and not args and not kw:
        return m, []
    if m in ("isBusy", "is_busy") and not args and not kw:
        return "isBusy", []
    if m == "set":
        if len(args) == 2:
            kw[args[0]] = args[1]
        elif len(args) == 1 and isinstance(args[0], dict):
            kw.update(args[0])
        elif args:
            return None
        return "set", [_vars(kw)]
    if m == "get" and len(args) == 1 and not kw and isinstance(args[0], basestring):
        return "get", [unicode(args[0])]
    if m == "eval" and len(args) == 1:
        return "eval", [unicode(args[0]), _vars(kw)]
    if m in ("exe", "exec_", "execute") and len(args) == 1:
        return "exec", [unicode(args[0]), _vars(kw)]
    if m == "imp" and args and not kw:
        return "imp", [_strings(args)]
    if m == "call" and args and not kw:
        a = _JArrayList()
        for x in args[1:]:
            a.add(tojava(x))
        return "callKw", [unicode(args[0]), a, _JLinkedHashMap()]
    if m == "call" and args:
        a = _JArrayList()
        for x in args[1:]:
            a.add(tojava(x))
        return "callKw", [unicode(args[0]), a, _vars(kw)]
    return None



# --------------------------------------------------------------------- boxes

from srpy._box import EngBox, MultiRunResult, PENDING  # noqa: E402 (re-exported)
from srpy._cluster import Cluster, ClusterError, ClusterWarning  # noqa: E402 (re-exported)


# --------------------------------------------------------------------- local servers

class LocalCluster(EngBox):
    """A private server on this machine and its engines (``srpy.local(n)``):
    an :class:`EngBox` (``len``, indexing, ``mrs``/``mrp``, maps...);
    ``close()`` (or the end of a ``with`` block) closes the engines and
    stops the server."""

    def __init__(self, server, engines):
        EngBox.__init__(self, engines)
        self.server = server
        self.uri = server.getUri()
        self.token = server.getToken()

    def box(self):
        """The box itself (earlier versions answered a list here)."""
        return self

    def close(self):
        for e in self:
            e.close()
        EngBox.close(self)
        try:
            self.server.close()
        except _JIllegalState:
            pass


Local = LocalCluster


def local(engines=1, python=None, server_bin=None, server_args=(), start_timeout=30.0,
          **connect_options):
    """Starts a private server with ``engines`` engines on loopback and
    returns them connected, as a :class:`LocalCluster` (an :class:`EngBox`
    that stops the server on ``close()``, usable with ``with``).
    ``server_args``: more ``srpy-server`` arguments (``["--tls", "auto"]``:
    TLS, the connections pinning the certificate the server reported);
    ``connect_options``: ``connect_timeout`` and the ``tls_*`` keywords of
    :class:`PythonEngine` (without ``tls_ca`` or ``tls_pin``, a TLS server's
    own pin)."""
    srv = _jcall(_JLocalServer, int(engines), python, server_bin,
                 _JDuration.ofNanos(long(start_timeout * 1e9)), _JArrayList(map(unicode, server_args)))
    js = []
    try:
        if not connect_options:
            js = _jcall(srv.connectAll)
        else:
            opts = dict(connect_options)
            if opts.get("tls_ca") is None and opts.get("tls_pin") is None:
                opts["tls_pin"] = srv.getTlsPin()
            options = _connect_options(srv.getToken(), **opts)
            for i in range(int(engines)):
                js.append(_jcall(_JEngine, srv.engineUri(i), options))
    except Exception:
        for j in js:
            j.close()
        srv.close()
        raise
    return LocalCluster(srv, [PythonEngine(srv.engineUri(i), token=srv.getToken(), _java=j)
                              for i, j in enumerate(js)])


def newSubEngine(python=None, server_bin=None):
    """Starts a private one-engine server: ``(uri, server)``; the engine
    needs the server's token (``server.getToken()``)."""
    srv = _jcall(_JLocalServer, 1, python, server_bin)
    return srv.engineUri(0), srv


def detectNCPUs():
    return _JRuntime.getRuntime().availableProcessors()


new_sub_engine = newSubEngine
detect_ncpus = detectNCPUs
