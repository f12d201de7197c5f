"""Engine-side helper of the SRPy conformance suite.

Every driver installs this file on the engine as the module
``srpy_conformance`` before each case. A ``roundtrip`` step then evaluates
``__import__('srpy_conformance').check(v, spec)`` on the engine, where ``v``
is the value the client just set and ``spec`` the value's notation as JSON
text (conformance/README.md): the engine builds the value it *should* have
received from the notation and compares it strictly with what it got.

The answer is ``True``, or a text saying where and how the two differ.
"""

import datetime
import decimal
import json
import math
import struct

_DTYPE_SIZES = {
    "bool": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "float16": 2,
    "int32": 4, "uint32": 4, "float32": 4, "int64": 8, "uint64": 8, "float64": 8,
}


def _float(text):
    return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(text) or float(text)


def _parse_float(text):
    if text in ("nan", "inf", "-inf"):
        return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[text]
    return float(text)


def _freeze(x):
    """A value usable as a dict key or set element."""
    if isinstance(x, list):
        return tuple(_freeze(i) for i in x)
    if isinstance(x, set):
        return frozenset(x)
    return x


def _nd_bytes(spec):
    size = _DTYPE_SIZES[spec["dtype"]]
    n = size
    for d in spec["shape"]:
        n *= d
    if "data_repeat" in spec:
        unit = bytes.fromhex(spec["data_repeat"])
        reps = n // len(unit) + 1
        return (unit * reps)[:n]
    return bytes.fromhex(spec["data"])


def from_notation(j):
    """The Python value a notation stands for."""
    if j is None or isinstance(j, (bool, str)):
        return j
    if isinstance(j, int):
        return j
    if isinstance(j, list):
        raise ValueError("a plain JSON array is not a value: %r" % (j,))
    if not isinstance(j, dict) or len(j) != 1:
        raise ValueError("not a notation: %r" % (j,))
    ((k, v),) = j.items()
    if k == "int":
        return int(v)
    if k == "float":
        return _parse_float(v)
    if k == "bytes":
        return bytes.fromhex(v)
    if k == "bytes_repeat":
        return bytes.fromhex(v["hex"]) * v["times"]
    if k == "str_repeat":
        return v["text"] * v["times"]
    if k == "int_range":
        return list(range(v["start"], v["stop"]))
    if k == "list":
        return [from_notation(i) for i in v]
    if k == "tuple":
        return tuple(from_notation(i) for i in v)
    if k == "set":
        return set(_freeze(from_notation(i)) for i in v)
    if k == "map":
        return {_freeze(from_notation(a)): from_notation(b) for a, b in v}
    if k == "complex":
        return complex(_parse_float(v[0]["float"]), _parse_float(v[1]["float"]))
    if k == "datetime":
        return datetime.datetime.fromisoformat(v)
    if k == "date":
        return datetime.date.fromisoformat(v)
    if k == "decimal":
        m = int(v["mantissa"])
        sign = 1 if m < 0 else 0
        digits = tuple(int(c) for c in str(abs(m)))
        return decimal.Decimal((sign, digits, v["exponent"]))
    if k == "ndarray":
        import numpy

        data = _nd_bytes(v)
        dt = numpy.dtype(v["dtype"]).newbyteorder("<")
        flat = numpy.frombuffer(data, dtype=dt).astype(numpy.dtype(v["dtype"]))
        return flat.reshape(tuple(v["shape"]), order=v["order"]).copy(order=v["order"])
    if k == "nested_lists":
        out = from_notation(v["value"])
        for _ in range(v["depth"]):
            out = [out]
        return out
    if k == "nested_maps":
        out = from_notation(v["value"])
        for _ in range(v["depth"]):
            out = {v["key"]: out}
        return out
    if k == "pickled":
        raise ValueError("pickled values are not part of the conformance cases")
    raise ValueError("unknown notation %r" % (k,))


def _fbits(x):
    return struct.pack("<d", x)


def _tname(x):
    return type(x).__name__


def same(got, want, path="v"):
    """None when ``got`` is ``want`` by the suite's equality, else why not.

    Types must match exactly (a tuple is not a list, an int not a float, a
    bool not an int; set and frozenset count as one type), floats compare by
    their bits, dicts in order, sets without regard to order, datetimes with
    their UTC offset, Decimals digit by digit, ndarrays by dtype, shape,
    memory order and bytes.
    """
    tg, tw = type(got), type(want)
    setlike = (set, frozenset)
    if not (tg is tw or (tg in setlike and tw in setlike)):
        return "%s: got %s %s, want %s %s" % (path, _tname(got), _short(got), _tname(want), _short(want))
    if want is None or tw is bool or tw is int or tw is str or tw is bytes:
        return None if got == want else "%s: got %s, want %s" % (path, _short(got), _short(want))
    if tw is float:
        return None if _fbits(got) == _fbits(want) else "%s: got float %r, want %r" % (path, got, want)
    if tw is complex:
        ok = _fbits(got.real) == _fbits(want.real) and _fbits(got.imag) == _fbits(want.imag)
        return None if ok else "%s: got %r, want %r" % (path, got, want)
    if tw in (list, tuple):
        if len(got) != len(want):
            return "%s: got %d items, want %d" % (path, len(got), len(want))
        for i, (a, b) in enumerate(zip(got, want)):
            why = same(a, b, "%s[%d]" % (path, i))
            if why:
                return why
        return None
    if tw is dict:
        if len(got) != len(want):
            return "%s: got %d entries, want %d" % (path, len(got), len(want))
        for i, ((ka, va), (kb, vb)) in enumerate(zip(got.items(), want.items())):
            why = same(ka, kb, "%s.key#%d" % (path, i)) or same(va, vb, "%s[%r]" % (path, kb))
            if why:
                return why
        return None
    if tw in setlike:
        if len(got) != len(want):
            return "%s: got %d elements, want %d" % (path, len(got), len(want))
        rest = list(got)
        for b in want:
            hit = next((i for i, a in enumerate(rest) if same(a, b) is None), None)
            if hit is None:
                return "%s: element %s missing" % (path, _short(b))
            rest.pop(hit)
        return None
    if tw is datetime.datetime:
        ok = got == want and got.utcoffset() == want.utcoffset() and (got.tzinfo is None) == (want.tzinfo is None)
        return None if ok else "%s: got %s, want %s" % (path, got.isoformat(), want.isoformat())
    if tw is datetime.date:
        return None if got == want else "%s: got %s, want %s" % (path, got, want)
    if tw is decimal.Decimal:
        return None if got.as_tuple() == want.as_tuple() else "%s: got Decimal(%s), want Decimal(%s)" % (path, got, want)
    if tw.__name__ == "ndarray":
        if got.dtype != want.dtype or got.shape != want.shape:
            return "%s: got ndarray %s %s, want %s %s" % (path, got.dtype, got.shape, want.dtype, want.shape)
        want_f = want.flags.f_contiguous and not want.flags.c_contiguous
        got_f = got.flags.f_contiguous and not got.flags.c_contiguous
        if want_f != got_f:
            return "%s: got memory order %s, want %s" % (path, "F" if got_f else "C", "F" if want_f else "C")
        order = "F" if want_f else "C"
        if got.tobytes(order=order) != want.tobytes(order=order):
            return "%s: ndarray data differ" % (path,)
        return None
    return None if got == want else "%s: got %s, want %s" % (path, _short(got), _short(want))


def _short(x):
    r = repr(x)
    return r if len(r) <= 80 else r[:77] + "..."


def check(v, spec):
    """``True`` when ``v`` is the value the notation ``spec`` (JSON text) stands for."""
    return same(v, from_notation(json.loads(spec))) or True
