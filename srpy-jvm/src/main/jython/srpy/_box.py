# -*- coding: utf-8 -*-
"""``srpy.EngBox`` for Jython: many engines used together, over
``org.srpy.EngBox`` (the Rust client's box: dead-engine state, search,
benchmarks, the parallel runs and maps live there).

The same API, defaults and return shapes as CPython's ``srpy._box`` and
SRPy 0.2 (2009); docs/PYTHON.md has the table:

- ``box.mrs.<method>(...)``: ``{engine: result or exception}``, in box
  order (an ``OrderedDict``), the engines one after the other.
- ``box.mrp.<method>(...)``: at once, a :class:`MultiRunResult` (engine →
  result, exception, or ``'__null__'`` while running);
  ``box.mrpwait(handle, timeout=None)`` waits and answers the dict; an
  engine still running after ``timeout`` is an ``SRPyTimeoutError``.
- ``getFastest(single=True, basis="all")``: the fastest engine, or a box of
  the engines fastest first; ``getDead(new=False)``: pings every engine
  now, the indexes of those that did not answer (``new``: a box of them).
"""

import threading
from collections import OrderedDict

import srpy
from srpy._errors import (SRPyError, SRPyTimeoutError, _convert_error, _jcall,
                          _JavaResource)

#: What ``box.mrp.<method>(...)`` shows for an engine that has not answered
#: yet (SRPy 0.2's placeholder).
PENDING = "__null__"


def _box_result(v):
    """A box entry: the value, or the Python exception for a Java one."""
    from java.lang import Throwable
    if isinstance(v, Throwable):
        err = _convert_error(v)
        return err if err is not None else SRPyError(str(v))
    return srpy.topy(v)


class _Outcome(object):
    """One engine's part of an ``mrp``: a future of the engine, or entry
    ``index`` of the box's one future (the Rust box runs the operation)."""

    def __init__(self, future, index=None):
        self.future = future
        self.index = index

    def done(self):
        return self.future.done()

    def get(self, timeout):
        """The result or the exception object; raises SRPyTimeoutError when
        not done within ``timeout``."""
        try:
            value = self.future.result(timeout)
        except SRPyTimeoutError:
            raise
        except Exception, err:
            return err
        return value if self.index is None else value[self.index]


class MultiRunResult(object):
    """What ``box.mrp.<method>(...)`` answers at once: engine → result (the
    exception for a failed engine, ``'__null__'`` while it runs);
    ``box.mrpwait(handle)`` (or :meth:`result`) waits for it."""

    def __init__(self, engines, outcomes):
        self._engines = list(engines)
        self._outcomes = list(outcomes)

    def done(self):
        return all(o.done() for o in self._outcomes)

    def __getitem__(self, engine):
        for e, o in zip(self._engines, self._outcomes):
            if e is engine:
                return o.get(0) if o.done() else PENDING
        raise KeyError(engine)

    def __iter__(self):
        return iter(self._engines)

    def __len__(self):
        return len(self._engines)

    def keys(self):
        return list(self._engines)

    def values(self):
        return [self[e] for e in self._engines]

    def items(self):
        return [(e, self[e]) for e in self._engines]

    def result(self, timeout=None):
        """Waits at most ``timeout`` s in all (None or -1: as long as it
        takes): ``{engine: result or exception}`` in box order, an
        ``SRPyTimeoutError`` for an engine still running."""
        import time
        if timeout is not None and timeout < 0:
            timeout = None
        deadline = None if timeout is None else time.time() + timeout
        out = OrderedDict()
        for e, o in zip(self._engines, self._outcomes):
            left = None if deadline is None else max(0.0, deadline - time.time())
            try:
                out[e] = o.get(left)
            except SRPyTimeoutError:
                out[e] = SRPyTimeoutError("%s did not finish within %s s (the call goes on)"
                                          % (e.uri, timeout))
        return out

    def __repr__(self):
        return "<MultiRunResult of %d engine(s), %s>" % (
            len(self._engines), "done" if self.done() else "running")


class _MultiRun(object):
    """``box.mrs.<method>(...)`` / ``box.mrp.<method>(...)``."""

    def __init__(self, box, parallel):
        self._box = box
        self._parallel = parallel

    def __getattr__(self, method):
        if method.startswith("__"):
            raise AttributeError(method)
        box, parallel = self._box, self._parallel

        def run(*args, **kwargs):
            return box._run(parallel, method, args, kwargs)
        run.__name__ = str(method)
        return run


class EngBox(_JavaResource):
    """A box of engines (over ``org.srpy.EngBox``, the Rust client's box).

    ``engines``: :class:`srpy.PythonEngine` objects and/or URIs (a server
    URI ``srpy://host:port`` stands for all its engines); ``connect_options``
    (``token``, ``connect_timeout``, the ``tls_*`` keywords) are used for
    the URIs, as :meth:`startAndAppend` uses them."""

    def __init__(self, engines=None, _java=None, **connect_options):
        from org.srpy import EngBox as _JEngBox
        self._j = _JEngBox() if _java is None else _java
        self._connect_options = connect_options
        self._j.setOutputHandler(srpy._OUTPUT)
        self._wrappers = {}
        self._lock = threading.Lock()
        for e in engines or []:
            self.append(e)
        self.mrs = _MultiRun(self, False)
        self.mrp = _MultiRun(self, True)

    def java(self):
        """The ``org.srpy.EngBox`` behind this box."""
        return self._j

    def _wrap(self, j):
        with self._lock:
            w = self._wrappers.get(j)
            if w is None:
                w = srpy.PythonEngine(j.getUri(), _java=j)
                self._wrappers[j] = w
            return w

    def _sub(self, engines):
        return EngBox(engines, **self._connect_options)

    def append(self, engine):
        """Adds an engine, or the engines of a URI (see :meth:`startAndAppend`;
        then answers the list of them)."""
        if isinstance(engine, basestring):
            return self.startAndAppend(engine, **self._connect_options)
        with self._lock:
            self._wrappers[engine._j] = engine
        _jcall(self._j.append, engine._j)
        return engine

    def startAndAppend(self, uri, token=None, **connect_options):
        """Connects and adds an engine (``srpy://h:p/<i>``) or every engine of
        a server (``srpy://h:p``); answers the new engines (a list).
        ``connect_options``: ``connect_timeout`` and the ``tls_*`` keywords
        of :class:`srpy.PythonEngine`."""
        o = srpy._connect_options(token, **connect_options)
        return [self._wrap(j) for j in _jcall(self._j.startAndAppend, unicode(uri), o)]

    def startAndAppendFromText(self, text, token=None, **connect_options):
        o = srpy._connect_options(token, **connect_options)
        return [self._wrap(j) for j in _jcall(self._j.startAndAppendFromText, unicode(text), o)]

    def startAndAppendFromFile(self, path, token=None, **connect_options):
        from java.nio.file import Paths
        o = srpy._connect_options(token, **connect_options)
        return [self._wrap(j) for j in _jcall(self._j.startAndAppendFromFile, Paths.get(path), o)]

    def getEngines(self):
        return [self._wrap(j) for j in self._j.getEngines()]

    toList = getEngines
    get_engines = getEngines
    start_and_append = startAndAppend
    start_and_append_from_text = startAndAppendFromText
    start_and_append_from_file = startAndAppendFromFile

    def __len__(self):
        return self._j.size()

    def __iter__(self):
        return iter(self.getEngines())

    def __contains__(self, engine):
        return any(e is engine for e in self.getEngines())

    def __getitem__(self, i):
        """``box[i]`` an engine; ``box[i:j]`` and ``box[[i, k]]`` a box."""
        engines = self.getEngines()
        if isinstance(i, slice):
            return self._sub(engines[i])
        if isinstance(i, (int, long)):
            return engines[i]
        return self._sub([engines[k] for k in i])

    def remove(self, engine):
        return bool(_jcall(self._j.remove, engine._j))

    # -- every engine

    def _run(self, parallel, method, args, kwargs):
        engines = self.getEngines()
        op = srpy._java_op(method, args, kwargs)
        if op is not None:
            name, jargs = op
            if not parallel:
                m = _jcall(self._j.runSequential, name, jargs)
                return OrderedDict(zip(engines, [_box_result(v) for v in m.values()]))
            # One future for the whole box: the Rust box sends the operation
            # to every engine at once.
            run = self._j.runParallel
            whole = srpy._ThreadFuture(
                lambda: [_box_result(v) for v in _jcall(run, name, jargs).values()])
            return MultiRunResult(engines, [_Outcome(whole, i) for i in range(len(engines))])
        if not parallel:
            out = OrderedDict()
            for e in engines:
                try:
                    out[e] = getattr(e, method)(*args, **kwargs)
                except Exception, err:
                    out[e] = err
            return out
        return MultiRunResult(engines, [_Outcome(e.submit(method, *args, **kwargs))
                                        for e in engines])

    def mrpwait(self, handle, timeout=None):
        """Waits for an ``mrp`` call, at most ``timeout`` s (None or -1: as
        long as it takes): ``{engine: result or exception}``."""
        return handle.result(timeout)

    def searchForEngine(self, name=None, group=None, ip=None, hostname=None):
        """Engines matching every given criterion: ``name``/``group`` (the
        handle's own, else the engine server's ``--name``/``--group``),
        ``ip`` (host of the engine's URI), ``hostname`` (the engine machine's)."""
        found = [self._wrap(j) for j in _jcall(self._j.searchForEngine, None, None, ip, hostname)]

        def matches(e, attr, want):
            if want is None:
                return True
            if getattr(e, attr) is not None:
                return getattr(e, attr) == want
            return e._j.info().get(attr) == want
        return [e for e in found if matches(e, "name", name) and matches(e, "group", group)]

    search_for_engine = searchForEngine

    def getFastest(self, single=True, basis="all"):
        """The fastest engine by benchmark (``basis``: 'all', 'net' or
        'proc'); with ``single=False`` a box of the engines, fastest first."""
        ranked = [self._wrap(j) for j in _jcall(self._j.getFastest, bool(single), basis)]
        if single:
            return ranked[0] if ranked else None
        return self._sub(ranked)

    get_fastest = getFastest

    def getDead(self, new=False):
        """Pings every engine now: the indexes of those that do not answer
        (for any reason); with ``new``, a box of them."""
        engines = self.getEngines()
        dead = [self._wrap(j) for j in _jcall(self._j.getDead)]
        if new:
            return self._sub(dead)
        return [i for i, e in enumerate(engines) if any(e is d for d in dead)]

    get_dead = getDead

    def cleanDead(self):
        """Pings every engine, removes the dead ones and answers them."""
        return [self._wrap(j) for j in _jcall(self._j.cleanDead)]

    clean_dead = cleanDead

    # -- beyond the original

    def map(self, function, items, *extra):
        """``[function(item, *extra) for item in items]`` on the engines,
        load-balanced (``function``: a remote dotted name); in order. The
        first failing item raises."""
        return srpy.topy(_jcall(self._j.map, unicode(function), srpy._java_list(items),
                                [srpy.tojava(x) for x in extra]))

    def map_expr(self, expr, items):
        """``[eval(expr) with x = item for item in items]`` on the engines."""
        return srpy.topy(_jcall(self._j.mapExpr, unicode(expr), srpy._java_list(items)))

    def scatter(self, name, items):
        _jcall(self._j.scatter, unicode(name), srpy._java_list(items))

    def gather(self, name):
        return srpy.topy(_jcall(self._j.gather, unicode(name)))

    def __repr__(self):
        return "EngBox(%r)" % self.getEngines()
