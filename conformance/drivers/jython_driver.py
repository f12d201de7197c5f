# -*- coding: utf-8 -*-
"""Conformance driver of the Jython 2.7 client (``import srpy`` from the jar).

    java -cp jython-standalone.jar:srpy.jar org.python.util.jython jython_driver.py \
        --uri srpy://127.0.0.1:PORT --token TOKEN --cases conformance/cases [--case PATTERN]

Prints one JSON line per case: ``{"case", "status", "detail"}``. Step
semantics: conformance/README.md. Values use the notation of
conformance/vectors/README.md, mapped to Jython as the ``srpy`` module maps
them: text is ``unicode``, bytes go as ``srpy.Bytes`` and come back as
``str``, ints are ``int``/``long``, ndarrays are ``org.srpy.NDArray``.
Written in the Python 2.7 subset that Python 3 also parses (for ruff).
"""
from __future__ import print_function

import binascii
import datetime
import decimal
import fnmatch
import io
import json
import os
import shutil
import struct
import sys
import tempfile
import threading
import time

from connect_target import connect_target

CLIENT = "jython"
# The cases' method names as this client spells them (``exec`` is a keyword).
METHOD_NAMES = {"exec": "exe", "vexec": "vexe", "import": "imp"}
SUPPORT = "srpy_conformance"

try:  # Python 2 (Jython)
    text_type = unicode  # noqa: F821
    int_types = (int, long)  # noqa: F821
except NameError:  # Python 3 (only for linting)
    text_type = str
    int_types = (int,)


class Fail(Exception):
    pass


class NotApplicable(Exception):
    pass


# ---- notation -> Jython values --------------------------------------------------------

def parse_float(t):
    return float(t)  # "nan", "inf" and "-inf" included


def has_offset(t):
    if t[-1:] in "Zz":
        return True
    rest = t[t.find("T"):] if "T" in t else t
    return "+" in rest or "-" in rest


def parse_datetime(srpy, t):
    base, micro, off = t, 0, None
    if has_offset(t):
        if t[-1:] in "Zz":
            base, off = t[:-1], 0
        else:
            cut = max(t.rfind("+"), t.rfind("-"))
            base, sign, hm = t[:cut], t[cut], t[cut + 1:]
            h, m = hm.split(":")[:2]
            off = (int(h) * 3600 + int(m) * 60) * (-1 if sign == "-" else 1)
    if "." in base:
        base, frac = base.split(".")
        micro = int((frac + "000000")[:6])
    d = datetime.datetime.strptime(str(base), "%Y-%m-%dT%H:%M:%S").replace(microsecond=micro)
    if off is not None:
        d = d.replace(tzinfo=srpy._FixedOffset(off))
    return d


def freeze(x):
    if isinstance(x, list):
        return tuple(freeze(i) for i in x)
    if isinstance(x, set):
        return frozenset(x)
    return x


SIZES = {"bool": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "float16": 2,
         "int32": 4, "uint32": 4, "float32": 4, "int64": 8, "uint64": 8, "float64": 8}


def ndarray(srpy, v):
    import jarray
    from java.nio import ByteBuffer, ByteOrder
    dtype = str(v["dtype"])
    n = 1
    for d in v["shape"]:
        n *= d
    if "data_repeat" in v:
        unit = binascii.unhexlify(v["data_repeat"])
        data = (unit * (n * SIZES[dtype] // len(unit) + 1))[:n * SIZES[dtype]]
    else:
        data = binascii.unhexlify(v["data"])
    raw = jarray.array([struct.unpack("b", c)[0] for c in data], "b")
    buf = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN)
    if dtype == "bool":
        arr = jarray.array([c != "\x00" for c in data], "z")
    elif dtype in ("int8", "uint8"):
        arr = raw
    else:
        code, view = {2: ("h", buf.asShortBuffer), 4: ("i", buf.asIntBuffer),
                      8: ("l", buf.asLongBuffer)}[SIZES[dtype]]
        if dtype == "float32":
            code, view = "f", buf.asFloatBuffer
        elif dtype == "float64":
            code, view = "d", buf.asDoubleBuffer
        arr = jarray.zeros(n, code)
        view().get(arr)
    shape = jarray.array([int(d) for d in v["shape"]], "l")
    return srpy.NDArray(dtype, shape, v["order"] == "F", arr)


def from_notation(srpy, j):
    if j is None or isinstance(j, bool):
        return j
    if isinstance(j, int_types):
        return j
    if isinstance(j, (text_type, str)):
        return text_type(j)
    ((k, v),) = j.items()
    if k == "int":
        return int(v)
    if k == "float":
        return parse_float(v)
    if k == "bytes":
        return srpy.Bytes(binascii.unhexlify(v))
    if k == "bytes_repeat":
        return srpy.Bytes(binascii.unhexlify(v["hex"]) * v["times"])
    if k == "str_repeat":
        return v["text"] * v["times"]
    if k == "int_range":
        return list(range(v["start"], v["stop"]))
    if k == "list":
        return [from_notation(srpy, i) for i in v]
    if k == "tuple":
        return tuple(from_notation(srpy, i) for i in v)
    if k == "set":
        return set(freeze(from_notation(srpy, i)) for i in v)
    if k == "map":
        return OrderedPairs([(freeze(from_notation(srpy, a)), from_notation(srpy, b)) for a, b in v])
    if k == "complex":
        return complex(parse_float(v[0]["float"]), parse_float(v[1]["float"]))
    if k == "datetime":
        return parse_datetime(srpy, v)
    if k == "date":
        return datetime.date(*[int(x) for x in v.split("-")])
    if k == "decimal":
        m = int(v["mantissa"])
        return decimal.Decimal((1 if m < 0 else 0, tuple(int(c) for c in str(abs(m))), v["exponent"]))
    if k == "ndarray":
        return ndarray(srpy, v)
    if k == "nested_lists":
        out = from_notation(srpy, v["value"])
        for _ in range(v["depth"]):
            out = [out]
        return out
    if k == "nested_maps":
        out = from_notation(srpy, v["value"])
        for _ in range(v["depth"]):
            out = OrderedPairs([(v["key"], out)])
        return out
    raise NotApplicable("notation %r not expressible in Jython" % k)


class OrderedPairs(dict):
    """A dict that remembers its entries' order (Jython 2.7's dict does not
    keep insertion order; the srpy module iterates ``iteritems``)."""

    def __init__(self, pairs):
        dict.__init__(self, pairs)
        self.pairs = list(pairs)

    def iteritems(self):
        return iter(self.pairs)

    def items(self):
        return list(self.pairs)


# ---- equality ---------------------------------------------------------------------------

def fbits(x):
    return struct.pack("<d", x)


def short(x):
    r = repr(x)
    return r if len(r) <= 120 else r[:117] + "..."


def same(srpy, got, want, path="v"):
    mismatch = "%s: got %s %s, want %s %s" % (path, type(got).__name__, short(got), type(want).__name__, short(want))
    if want is None or isinstance(want, bool):
        return None if got is want else mismatch
    if isinstance(want, int_types):
        return None if isinstance(got, int_types) and not isinstance(got, bool) and got == want else mismatch
    if isinstance(want, float):
        return None if isinstance(got, float) and fbits(got) == fbits(want) else mismatch
    if isinstance(want, srpy.Bytes):
        return None if type(got) is str and str(got) == str(want) else mismatch
    if isinstance(want, text_type):
        return None if isinstance(got, text_type) and got == want else mismatch
    if isinstance(want, complex):
        ok = isinstance(got, complex) and fbits(got.real) == fbits(want.real) and fbits(got.imag) == fbits(want.imag)
        return None if ok else mismatch
    if isinstance(want, (list, tuple)):
        if type(got) is not type(want):
            return mismatch
        if len(got) != len(want):
            return "%s: got %d items, want %d" % (path, len(got), len(want))
        for i, (a, b) in enumerate(zip(got, want)):
            why = same(srpy, a, b, "%s[%d]" % (path, i))
            if why:
                return why
        return None
    if isinstance(want, dict):
        if not isinstance(got, dict) or len(got) != len(want):
            return mismatch
        pairs = want.pairs if isinstance(want, OrderedPairs) else list(want.items())
        for k, b in pairs:
            hit = [gk for gk in got if same(srpy, gk, k) is None]
            if not hit:
                return "%s: key %s missing" % (path, short(k))
            why = same(srpy, got[hit[0]], b, "%s[%s]" % (path, short(k)))
            if why:
                return why
        return None
    if isinstance(want, (set, frozenset)):
        if not isinstance(got, (set, frozenset)) or len(got) != len(want):
            return mismatch
        rest = list(got)
        for b in want:
            hit = [i for i, a in enumerate(rest) if same(srpy, a, b) is None]
            if not hit:
                return "%s: element %s missing" % (path, short(b))
            rest.pop(hit[0])
        return None
    if isinstance(want, datetime.datetime):
        ok = isinstance(got, datetime.datetime) and got.replace(tzinfo=None) == want.replace(tzinfo=None) \
            and got.utcoffset() == want.utcoffset()
        return None if ok else mismatch
    if isinstance(want, decimal.Decimal):
        return None if isinstance(got, decimal.Decimal) and got.as_tuple() == want.as_tuple() else mismatch
    return None if type(got) is type(want) and got == want else mismatch


# ---- errors -----------------------------------------------------------------------------

KINDS = [("RemoteError", "remote"), ("EngineDied", "engine_died"), ("TimeoutError", "timeout"),
         ("Interrupted", "interrupted"), ("AuthError", "auth"), ("ProtocolError", "protocol"),
         ("NotTransferable", "not_transferable"), ("NoSuchEngine", "no_such_engine"),
         ("UnsupportedOp", "unsupported_op"), ("ServerNotFound", "server_not_found")]


def error_kind(srpy, exc):
    if isinstance(exc, srpy.RemoteError):
        return "remote"
    for cls in type(exc).__mro__:
        for word, kind in KINDS:
            if word in cls.__name__ and getattr(cls, "__module__", "") == "srpy":
                return kind
    return "(%s)" % type(exc).__name__


def describe(srpy, exc):
    return "%s [%s]: %s" % (type(exc).__name__, error_kind(srpy, exc), exc)


def match_error(srpy, exc, want):
    kind = error_kind(srpy, exc)
    if want.get("kind") and kind != want["kind"]:
        raise Fail("error kind %s (%s), want %s" % (kind, describe(srpy, exc), want["kind"]))
    rtype = getattr(exc, "remote_type", None)
    if want.get("type") and rtype != want["type"]:
        raise Fail("remote type %r (%s), want %r" % (rtype, describe(srpy, exc), want["type"]))
    if want.get("message_contains") and want["message_contains"] not in text_type(exc):
        raise Fail("error message %r lacks %r" % (text_type(exc), want["message_contains"]))


# ---- the driver -------------------------------------------------------------------------

class Driver(object):
    def __init__(self, srpy, uri, token, cases_dir, tls=None):
        self.srpy = srpy
        self.uri = uri.rstrip("/")
        self.token = token
        self.tls = tls
        self.engines = {}
        self.box = None
        f = io.open(os.path.join(cases_dir, "support", SUPPORT + ".py"), encoding="utf-8")
        try:
            self.support = f.read()
        finally:
            f.close()
        self.tmp = tempfile.mkdtemp(prefix="srpy-conformance-")
        self.installs = 0

    def engine(self, i):
        if i not in self.engines:
            eng = self.srpy.PythonEngine("%s/%d" % (self.uri, i), token=self.token)
            eng.set_output_handler(None)
            self.engines[i] = eng
        return self.engines[i]

    def value(self, j):
        return from_notation(self.srpy, j)

    def vars(self, s):
        if "name" in s and "value" in s:
            return {str(s["name"]): self.value(s["value"])}
        return dict((str(k), self.value(v)) for k, v in s.get("vars") or [])

    def outcome(self, s, fn):
        want_err = s.get("expect_error")
        try:
            got = fn()
        except (Fail, NotApplicable):
            raise
        except Exception as exc:  # noqa: BLE001
            if want_err is None:
                raise Fail("unexpected error %s" % describe(self.srpy, exc))
            match_error(self.srpy, exc, want_err)
            return
        if want_err is not None:
            raise Fail("expected error %s, got the value %s" % (json.dumps(want_err), short(got)))
        if "expect" in s:
            why = same(self.srpy, got, self.value(s["expect"]))
            if why:
                raise Fail(why)

    def install(self, eng, module, source, is_package=False):
        if not is_package:
            return eng.install(module, source=source)
        self.installs += 1
        base = os.path.join(self.tmp, "i%d" % self.installs)
        os.makedirs(os.path.join(base, module))
        f = open(os.path.join(base, module, "__init__.py"), "w")
        try:
            f.write(source)
        finally:
            f.close()
        sys.path.insert(0, base)
        try:
            eng.install(str(module))
        finally:
            sys.path.remove(base)

    def run_case(self, case):
        if case.get("clients") and CLIENT not in case["clients"]:
            return "n/a", "case not meant for this client"
        self.box = None
        try:
            e0 = self.engine(0)
            for eng in self.engines.values():
                eng.clear()
            e0.install(SUPPORT, source=self.support)
        except Exception as exc:  # noqa: BLE001
            return "fail", "preparing the case: %s" % describe(self.srpy, exc)
        for i, s in enumerate(case["steps"]):
            try:
                self.step(s)
            except Fail as exc:
                return "fail", "step %d (%s): %s" % (i, s["op"], exc)
            except NotApplicable as exc:
                return "n/a", "step %d (%s): %s" % (i, s["op"], exc)
            except Exception as exc:  # noqa: BLE001
                return "fail", "step %d (%s): %s" % (i, s["op"], describe(self.srpy, exc))
        return "pass", ""

    def step(self, s):
        op = s["op"]
        index = s.get("engine", 0)
        if op in ("box", "mrs", "mrp", "map", "fastest", "dead"):
            return self.box_step(op, s)
        if op == "connect":
            try:
                uri, kw = connect_target(self.uri, self.token, self.tls, index, s)
            except ValueError as e:
                raise Fail("malformed step: %s" % e)

            def connect():
                eng = self.srpy.PythonEngine(uri, **kw)
                eng.ping()
                eng.close()
            return self.outcome(s, connect)
        eng = self.engine(index)
        kw = {}
        if s.get("timeout") is not None and op in ("eval", "exec"):
            kw["timeout"] = s["timeout"]
        if op in ("eval", "exec", "vexec"):
            kw.update(self.vars(s))
        if op == "ping":
            # ping() answers the native str 'pong' (not a transferred value)
            return self.outcome(s, lambda: text_type(eng.ping()))
        if op == "whoami":
            who = eng.whoami()
            missing = [k for k in s.get("expect_keys", []) if k not in who]
            if missing:
                raise Fail("whoami lacks %r" % missing)
            return None
        if op == "set":
            return self.outcome(s, lambda: eng.set(self.vars(s)))
        if op == "get":
            return self.outcome(s, lambda: eng.get(s["name"]))
        if op == "get_many":
            return self.outcome(s, lambda: eng.get(list(s["names"])))
        if op == "names":
            names = [text_type(n) for n in eng.get()]
            if "expect" in s and names != s["expect"]:
                raise Fail("names %r, want %r" % (names, s["expect"]))
            for n in s.get("expect_contains", []):
                if n not in names:
                    raise Fail("names %r lack %r" % (names, n))
            return None
        if op == "delete":
            return self.outcome(s, lambda: eng.delete(*s["names"]))
        if op == "clear":
            return self.outcome(s, eng.clear)
        if op == "eval":
            return self.outcome(s, lambda: eng.eval(s["expr"], **kw))
        if op == "exec":
            return self.outcome(s, lambda: eng.exe(s["code"], **kw))
        if op == "vexec":
            return self.outcome(s, lambda: eng.vexe(s["code"], get=list(s.get("get") or []), **kw))
        if op == "call":
            args = [self.value(a) for a in s.get("args") or []]
            kwargs = dict((str(k), self.value(v)) for k, v in s.get("kwargs") or [])
            return self.outcome(s, lambda: eng.associateFunction(s["name"])(*args, **kwargs))
        if op == "install":
            return self.outcome(s, lambda: self.install(eng, s["module"], s["source"], s.get("is_package", False)))
        if op == "import":
            return self.outcome(s, lambda: eng.imp(*s["modules"]))
        if op == "is_busy":
            return self.outcome(s, eng.isBusy)
        if op == "wait":
            return self.outcome(s, lambda: eng.wait(s.get("timeout")))
        if op == "interrupt":
            return self.outcome(s, eng.interrupt)
        if op == "benchmark":
            net, proc, _busy = eng.benchmark(s.get("cycles", 1))
            if not (net >= 0 and proc >= 0):
                raise Fail("implausible benchmark")
            return None
        if op == "interrupt_loop":
            return self.interrupt_loop(eng)
        if op == "roundtrip":
            return self.roundtrip(eng, s)
        raise NotApplicable("unknown op %r" % op)

    def interrupt_loop(self, eng):
        res = {}

        def run():
            try:
                eng.exe("import time\n_t0 = time.time()\nwhile time.time() - _t0 < 10:\n    pass\n")
                res["ok"] = True
            except Exception as exc:  # noqa: BLE001
                res["exc"] = exc

        t = threading.Thread(target=run)
        t.setDaemon(True)
        t.start()
        deadline = time.time() + 10
        while not eng.isBusy():
            if time.time() > deadline:
                raise Fail("the loop never showed as busy")
            time.sleep(0.01)
        time.sleep(0.1)
        hit = eng.interrupt()
        t.join(30)
        if not hit:
            raise Fail("interrupt answered %r while the loop ran" % (hit,))
        if "exc" not in res:
            raise Fail("the loop finished normally: it was not interrupted")
        if error_kind(self.srpy, res["exc"]) != "interrupted":
            raise Fail("the loop failed with %s, want interrupted" % describe(self.srpy, res["exc"]))

    def roundtrip(self, eng, s):
        want = self.value(s["value"])
        back = self.value(s["expect_back"]) if "expect_back" in s else want
        eng.set(v=want)
        verdict = eng.eval("__import__('%s').check(v, _spec)" % SUPPORT, _spec=text_type(json.dumps(s["value"])))
        if verdict is not True:
            raise Fail("the engine received another value: %s" % (verdict,))
        if s.get("check"):
            r = eng.eval(s["check"])
            if r is not True:
                raise Fail("check %r answered %r" % (s["check"], r))
        why = same(self.srpy, eng.get("v"), back)
        if why:
            raise Fail("the value came back different: %s" % why)

    def box_step(self, op, s):
        box_cls = getattr(self.srpy, "EngBox", None)
        if box_cls is None:
            raise NotApplicable("srpy has no EngBox")
        if op == "box":
            self.box = box_cls([self.engine(i) for i in s["engines"]])
            return None
        if self.box is None:
            raise Fail("no box step before %s" % op)
        if op in ("mrs", "mrp"):
            method = METHOD_NAMES.get(s["method"], s["method"])
            result = getattr(getattr(self.box, op), method)(*[self.value(a) for a in s.get("args") or []])
            if op == "mrp":
                # SRPy 0.2: mrp answers at once, mrpwait waits.
                result = self.box.mrpwait(result, s.get("wait"))
            if hasattr(result, "values"):
                result = list(result.values())
            want = s["expect_each"]
            if len(result) != len(want):
                raise Fail("%d results, want %d" % (len(result), len(want)))
            for i, (got, w) in enumerate(zip(result, want)):
                if "error" in w:
                    if not isinstance(got, BaseException):
                        raise Fail("engine #%d: got %s, want an error" % (i, short(got)))
                    match_error(self.srpy, got, w["error"])
                else:
                    if isinstance(got, BaseException):
                        raise Fail("engine #%d: got the error %s" % (i, describe(self.srpy, got)))
                    why = same(self.srpy, got, self.value(w["value"]), "engine#%d" % i)
                    if why:
                        raise Fail(why)
            return None
        if op == "fastest":
            got = self.box.getEngines().index(self.box.getFastest())
            if got not in s["expect_one_of"]:
                raise Fail("fastest engine #%d, want one of %r" % (got, s["expect_one_of"]))
            return None
        if op == "dead":
            got = self.box.getDead()
            if got != s["expect"]:
                raise Fail("getDead() answered %r, want %r" % (got, s["expect"]))
            return None
        if op == "map":
            items = [self.value(x) for x in s["items"]]
            want_err = s.get("expect_error")
            try:
                got = list(self.box.map(s["func"], items))
            except Exception as exc:  # noqa: BLE001
                if want_err is None:
                    raise Fail("unexpected error %s" % describe(self.srpy, exc))
                # A map error may wrap the failing item's own error.
                item = getattr(exc, "error", None)
                match_error(self.srpy, item if isinstance(item, BaseException) else exc, want_err)
                index = getattr(exc, "index", None)
                if "index" in want_err and index is not None and index != want_err["index"]:
                    raise Fail("failing item index %r, want %r" % (index, want_err["index"]))
                return None
            if want_err is not None:
                raise Fail("expected error %s, got %s" % (json.dumps(want_err), short(got)))
            why = same(self.srpy, got, [self.value(x) for x in s["expect"]])
            if why:
                raise Fail(why)
            return None
        raise NotApplicable("unknown box op %r" % op)

    def close(self):
        for eng in self.engines.values():
            try:
                eng.close()
            except Exception:  # noqa: BLE001, S110
                pass
        shutil.rmtree(self.tmp, True)


def selected(name, pattern):
    if not pattern:
        return True
    return any(fnmatch.fnmatchcase(name, p.strip()) for p in pattern.split(",") if p.strip())


def main(argv):
    args = dict(zip(argv[0::2], argv[1::2]))
    for need in ("--uri", "--token", "--cases"):
        if need not in args:
            sys.stderr.write("usage: jython_driver.py --uri URI --token TOKEN --cases DIR [--case PATTERN]"
                         " [--tls-uri URI --tls-dir DIR --tls-pin PIN]\n")
            sys.exit(2)
    import srpy

    tls = None
    if "--tls-uri" in args:
        tls = {"uri": args["--tls-uri"], "dir": args["--tls-dir"], "pin": args["--tls-pin"]}
    d = Driver(srpy, args["--uri"], args["--token"], args["--cases"], tls)
    try:
        for name in sorted(os.listdir(args["--cases"])):
            if not name.endswith(".json"):
                continue
            f = open(os.path.join(args["--cases"], name))
            try:
                doc = json.load(f)
            finally:
                f.close()
            for case in doc["cases"]:
                if not selected(case["name"], args.get("--case")):
                    continue
                status, detail = d.run_case(case)
                print(json.dumps({"case": case["name"], "status": status, "detail": detail}))
                sys.stdout.flush()
    finally:
        d.close()


if __name__ == "__main__":
    main(sys.argv[1:])
