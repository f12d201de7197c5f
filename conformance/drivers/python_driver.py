"""Conformance driver of the CPython client (`import srpy`).

    python python_driver.py --uri srpy://127.0.0.1:PORT --token TOKEN \
        --cases conformance/cases [--case PATTERN]

Runs the cases of ``--cases`` (``--case``: comma-separated globs over case
names) through ``srpy.PythonEngine`` and prints one JSON line per case:
``{"case": ..., "status": "pass"|"fail"|"n/a", "detail": ...}``.
The step semantics are those of conformance/README.md; values use the
notation of conformance/vectors/README.md, loaded by the same helper the
engines use (``cases/support/srpy_conformance.py``).
"""

import argparse
import fnmatch
import importlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback

from connect_target import connect_target

CLIENT = "python"
# The cases' method names as this client spells them (the original SRPy names).
METHOD_NAMES = {"exec": "exe", "vexec": "vexe", "import": "imp"}
SUPPORT = "srpy_conformance"


class Fail(Exception):
    """The step did not do what the case says."""


class NotApplicable(Exception):
    """The client cannot express the case (or lacks the feature)."""


# ---- errors -------------------------------------------------------------------

_KIND_WORDS = [
    ("NotTransferable", "not_transferable"),
    ("EngineDied", "engine_died"),
    ("NoSuchEngine", "no_such_engine"),
    ("UnsupportedOp", "unsupported_op"),
    ("ServerNotFound", "server_not_found"),
    ("Timeout", "timeout"),
    ("Interrupt", "interrupted"),
    ("Auth", "auth"),
    ("Protocol", "protocol"),
    ("Version", "version"),
    ("Limit", "limit"),
]


def error_kind(srpy, exc):
    """The wire kind of an exception raised by the client."""
    kind = getattr(exc, "kind", None)
    if isinstance(kind, str) and kind:
        return kind
    remote = getattr(srpy, "RemoteError", None)
    if remote is not None and isinstance(exc, remote):
        return "remote"
    for cls in type(exc).__mro__:
        for word, k in _KIND_WORDS:
            if word in cls.__name__ and cls.__module__.startswith("srpy"):
                return k
    return "(not an srpy error: %s)" % type(exc).__name__


def remote_type(exc):
    for attr in ("remote_type", "type_name"):
        t = getattr(exc, attr, None)
        if isinstance(t, str):
            return t
    return None


def describe(srpy, exc):
    return "%s [%s]: %s" % (type(exc).__name__, error_kind(srpy, exc), exc)


# ---- the driver -----------------------------------------------------------------


class Driver:
    def __init__(self, srpy, conf, uri, token, cases_dir, tls=None):
        self.srpy = srpy
        self.conf = conf
        self.uri = uri.rstrip("/")
        self.token = token
        self.tls = tls
        self.engines = {}
        self.box = None
        with open(os.path.join(cases_dir, "support", SUPPORT + ".py"), encoding="utf-8") as f:
            self.support_source = f.read()
        self.tmp = tempfile.mkdtemp(prefix="srpy-conformance-")
        self.installs = 0

    # -- engines

    def connect(self, index, token=None):
        eng = self.srpy.PythonEngine("%s/%d" % (self.uri, index), token=token or self.token)
        return eng

    def engine(self, index):
        if index not in self.engines:
            self.engines[index] = self.connect(index)
        return self.engines[index]

    def install_source(self, eng, module, source, is_package=False):
        """Ships a module given as source: written to a fresh local folder
        first, since ``install`` finds modules locally, as the original did."""
        self.installs += 1
        base = os.path.join(self.tmp, "i%d" % self.installs)
        if is_package:
            os.makedirs(os.path.join(base, module))
            path = os.path.join(base, module, "__init__.py")
        else:
            os.makedirs(base)
            path = os.path.join(base, module + ".py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(source)
        sys.path.insert(0, base)
        try:
            sys.modules.pop(module, None)
            importlib.invalidate_caches()
            mod = importlib.import_module(module)
            try:
                eng.install(module)
            except TypeError:
                eng.install(mod)
        finally:
            sys.path.remove(base)
            sys.modules.pop(module, None)

    # -- cases

    def run_case(self, case):
        if case.get("clients") and CLIENT not in case["clients"]:
            return "n/a", "case not meant for this client"
        self.box = None
        try:
            self.prepare()
        except Exception as exc:  # noqa: BLE001 - reported as the case's failure
            return "fail", "preparing the case: %s" % describe(self.srpy, exc)
        for i, step in enumerate(case["steps"]):
            op = step["op"]
            try:
                self.step(step)
            except Fail as exc:
                return "fail", "step %d (%s): %s" % (i, op, exc)
            except NotApplicable as exc:
                return "n/a", "step %d (%s): %s" % (i, op, exc)
            except Exception as exc:  # noqa: BLE001
                where = traceback.extract_tb(exc.__traceback__)[-1]
                return "fail", "step %d (%s): %s (at %s:%d)" % (
                    i, op, describe(self.srpy, exc), os.path.basename(where.filename), where.lineno)
        return "pass", ""

    def prepare(self):
        e0 = self.engine(0)
        for eng in self.engines.values():
            eng.clear()
        self.install_source(e0, SUPPORT, self.support_source)

    def value(self, j):
        try:
            return self.conf.from_notation(j)
        except ImportError as exc:
            raise NotApplicable("value not expressible here: %s" % exc)

    def vars(self, step):
        if "name" in step and "value" in step:
            return {step["name"]: self.value(step["value"])}
        return {k: self.value(v) for k, v in step.get("vars") or []}

    def outcome(self, step, fn):
        want_err = step.get("expect_error")
        try:
            got = fn()
        except (Fail, NotApplicable):
            raise
        except Exception as exc:  # noqa: BLE001 - compared with the case
            if want_err is None:
                raise Fail("unexpected error %s" % describe(self.srpy, exc))
            self.match_error(exc, want_err)
            return
        if want_err is not None:
            raise Fail("expected error %s, got the value %r" % (json.dumps(want_err), _short(got)))
        if "expect" in step:
            self.compare(got, self.value(step["expect"]))

    def match_error(self, exc, want):
        kind = error_kind(self.srpy, exc)
        if want.get("kind") and kind != want["kind"]:
            raise Fail("error kind %s (%s), want %s" % (kind, describe(self.srpy, exc), want["kind"]))
        if want.get("type") and remote_type(exc) != want["type"]:
            raise Fail("remote type %r (%s), want %r" % (remote_type(exc), describe(self.srpy, exc), want["type"]))
        if want.get("message_contains") and want["message_contains"] not in str(exc):
            raise Fail("error message %r lacks %r" % (str(exc), want["message_contains"]))

    def compare(self, got, want):
        why = self.conf.same(got, want)
        if why:
            raise Fail(why)

    def step(self, s):
        op = s["op"]
        index = s.get("engine", 0)
        if op in ("box", "mrs", "mrp", "map", "fastest", "dead"):
            return self.box_step(op, s)
        if op == "connect":
            try:
                uri, kw = connect_target(self.uri, self.token, self.tls, index, s)
            except ValueError as e:
                raise Fail("malformed step: %s" % e) from None

            def connect():
                eng = self.srpy.PythonEngine(uri, **kw)
                eng.ping()
                eng.close()
            return self.outcome(s, connect)
        eng = self.engine(index)
        timeout = s.get("timeout")
        extra = {"timeout": timeout} if timeout is not None and op in ("eval", "exec") else {}
        if op == "ping":
            return self.outcome(s, eng.ping)
        if op == "whoami":
            who = eng.whoami()
            missing = [k for k in s.get("expect_keys", []) if k not in who]
            if missing:
                raise Fail("whoami lacks %r: %r" % (missing, _short(who)))
            return None
        if op == "set":
            return self.outcome(s, lambda: eng.set(**self.vars(s)))
        if op == "get":
            return self.outcome(s, lambda: eng.get(s["name"]))
        if op == "get_many":
            return self.outcome(s, lambda: eng.get(list(s["names"])))
        if op == "names":
            names = list(eng.get())
            if "expect" in s and names != s["expect"]:
                raise Fail("names %r, want %r" % (names, s["expect"]))
            for n in s.get("expect_contains", []):
                if n not in names:
                    raise Fail("names %r lack %r" % (names, n))
            for n in s.get("expect_absent", []):
                if n in names:
                    raise Fail("names %r hold %r" % (names, n))
            return None
        if op == "delete":
            def delete():
                if hasattr(eng, "delete"):
                    return eng.delete(*s["names"])
                for n in s["names"]:  # no delete(): the ns proxy, one name at a time
                    delattr(eng.ns, n)
                return None
            return self.outcome(s, delete)
        if op == "clear":
            return self.outcome(s, eng.clear)
        if op == "eval":
            return self.outcome(s, lambda: eng.eval(s["expr"], **extra, **self.vars(s)))
        if op == "exec":
            return self.outcome(s, lambda: eng.exe(s["code"], **extra, **self.vars(s)))
        if op == "vexec":
            def vexec():
                r = eng.vexe(s["code"], get=list(s.get("get", [])), **self.vars(s))
                if isinstance(r, (list, tuple)):
                    r = dict(zip(s.get("get", []), r))
                return r
            return self.outcome(s, vexec)
        if op == "call":
            def call():
                f = eng.function(s["name"]) if hasattr(eng, "function") else eng.associateFunction(s["name"])
                args = [self.value(a) for a in s.get("args") or []]
                kwargs = {k: self.value(v) for k, v in s.get("kwargs") or []}
                return f(*args, **kwargs)
            return self.outcome(s, call)
        if op == "install":
            return self.outcome(
                s, lambda: self.install_source(eng, s["module"], s["source"], s.get("is_package", False))
            )
        if op == "import":
            return self.outcome(s, lambda: eng.imp(*s["modules"]))
        if op == "is_busy":
            return self.outcome(s, eng.isBusy)
        if op == "wait":
            return self.outcome(s, lambda: eng.wait(s.get("timeout")))
        if op == "interrupt":
            return self.outcome(s, eng.interrupt)
        if op == "benchmark":
            r = eng.benchmark(s.get("cycles", 1))
            net, proc = r[0], r[1]
            if not (net >= 0 and proc >= 0):
                raise Fail("implausible benchmark %r" % (r,))
            return None
        if op == "interrupt_loop":
            return self.interrupt_loop(eng)
        if op == "roundtrip":
            return self.roundtrip(eng, s)
        raise NotApplicable("unknown op %r" % op)

    def interrupt_loop(self, eng):
        box = {}

        def run():
            try:
                eng.exe("import time\n_t0 = time.time()\nwhile time.time() - _t0 < 10:\n    pass\n")
                box["ok"] = True
            except Exception as exc:  # noqa: BLE001
                box["exc"] = exc

        t = threading.Thread(target=run, daemon=True)
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
        if "exc" not in box:
            raise Fail("the loop finished normally: it was not interrupted")
        kind = error_kind(self.srpy, box["exc"])
        if kind != "interrupted":
            raise Fail("the loop failed with %s, want interrupted" % describe(self.srpy, box["exc"]))

    def roundtrip(self, eng, s):
        want = self.value(s["value"])
        back = self.value(s["expect_back"]) if "expect_back" in s else want
        eng.set(v=want)
        verdict = eng.eval("__import__('%s').check(v, _spec)" % SUPPORT, _spec=json.dumps(s["value"]))
        if verdict is not True:
            raise Fail("the engine received another value: %s" % (verdict,))
        if s.get("check"):
            r = eng.eval(s["check"])
            if r is not True:
                raise Fail("check %r answered %r" % (s["check"], r))
        got = eng.get("v")
        why = self.conf.same(got, back)
        if why:
            raise Fail("the value came back different: %s" % why)

    # -- the box

    def box_step(self, op, s):
        box_cls = getattr(self.srpy, "EngBox", None)
        if box_cls is None:
            raise NotApplicable("srpy has no EngBox yet (issue 4)")
        if op == "box":
            self.box = box_cls([self.engine(i) for i in s["engines"]])
            return None
        if self.box is None:
            raise Fail("no box step before %s" % op)
        if op in ("mrs", "mrp"):
            runner = getattr(self.box, op)
            method = getattr(runner, METHOD_NAMES.get(s["method"], s["method"]))
            result = method(*[self.value(a) for a in s.get("args") or []])
            if op == "mrp":
                # SRPy 0.2: mrp answers at once, mrpwait waits.
                result = self.box.mrpwait(result, s.get("wait"))
            if isinstance(result, dict):
                result = list(result.values())
            result = list(result)
            want = s["expect_each"]
            if len(result) != len(want):
                raise Fail("%d results, want %d: %r" % (len(result), len(want), _short(result)))
            for i, (got, w) in enumerate(zip(result, want)):
                if "error" in w:
                    if not isinstance(got, BaseException):
                        raise Fail("engine #%d: got %r, want an error" % (i, _short(got)))
                    try:
                        self.match_error(got, w["error"])
                    except Fail as exc:
                        raise Fail("engine #%d: %s" % (i, exc))
                else:
                    if isinstance(got, BaseException):
                        raise Fail("engine #%d: got the error %s" % (i, describe(self.srpy, got)))
                    why = self.conf.same(got, self.value(w["value"]))
                    if why:
                        raise Fail("engine #%d: %s" % (i, why))
            return None
        if op == "fastest":
            # getFastest() with the original defaults: the fastest engine.
            got = self.box.engines.index(self.box.getFastest())
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
            func = s["func"]
            want_err = s.get("expect_error")
            try:
                got = list(self.box.map(func, items))
            except Exception as exc:  # noqa: BLE001
                if want_err is None:
                    raise Fail("unexpected error %s" % describe(self.srpy, exc))
                # A map error may wrap the failing item's own error.
                item = getattr(exc, "error", None)
                self.match_error(item if isinstance(item, BaseException) else exc, want_err)
                index = getattr(exc, "index", None)
                if "index" in want_err and index is not None and index != want_err["index"]:
                    raise Fail("failing item index %r, want %r" % (index, want_err["index"]))
                return None
            if want_err is not None:
                raise Fail("expected error %s, got %r" % (json.dumps(want_err), _short(got)))
            self.compare(got, [self.value(x) for x in s["expect"]])
            return None
        raise NotApplicable("unknown box op %r" % op)

    def close(self):
        for eng in self.engines.values():
            try:
                eng.close()
            except Exception:  # noqa: BLE001, S110 - closing is best effort
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def _short(x):
    r = repr(x)
    return r if len(r) <= 160 else r[:157] + "..."


def load_cases(directory):
    out = []
    for name in sorted(os.listdir(directory)):
        if name.endswith(".json"):
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                out.extend(json.load(f)["cases"])
    return out


def selected(name, pattern):
    if not pattern:
        return True
    return any(fnmatch.fnmatchcase(name, p.strip()) for p in pattern.split(",") if p.strip())


def main():
    ap = argparse.ArgumentParser(description="SRPy conformance driver (CPython client)")
    ap.add_argument("--uri", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--cases", required=True)
    ap.add_argument("--case")
    ap.add_argument("--tls-uri", help="the TLS server of the cases that need one")
    ap.add_argument("--tls-dir")
    ap.add_argument("--tls-pin")
    args = ap.parse_args()
    tls = None
    if args.tls_uri:
        tls = {"uri": args.tls_uri, "dir": args.tls_dir, "pin": args.tls_pin}
    sys.path.insert(0, os.path.join(args.cases, "support"))
    sys.setrecursionlimit(10000)
    conf = importlib.import_module(SUPPORT)
    import srpy

    driver = Driver(srpy, conf, args.uri, args.token, args.cases, tls)
    try:
        for case in load_cases(args.cases):
            if not selected(case["name"], args.case):
                continue
            status, detail = driver.run_case(case)
            print(json.dumps({"case": case["name"], "status": status, "detail": detail}), flush=True)
    finally:
        driver.close()


if __name__ == "__main__":
    main()
