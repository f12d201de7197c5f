"""A tiny test harness for the Jython scenarios: check(name)(fn) runs fn,
report() prints 'N passed, N failed' and exits non-zero on failure."""
import sys
import traceback

_counts = {"passed": 0, "failed": 0}


def check(fn):
    name = fn.__name__
    try:
        fn()
        _counts["passed"] += 1
        print "ok    %s" % name
    except BaseException:
        _counts["failed"] += 1
        print "FAIL  %s" % name
        traceback.print_exc(file=sys.stdout)
    return fn


def raises(exc, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc, e:
        return e
    raise AssertionError("%s not raised" % getattr(exc, "__name__", exc))


def report():
    print "%d passed, %d failed" % (_counts["passed"], _counts["failed"])
    sys.stdout.flush()
    sys.exit(1 if _counts["failed"] else 0)
