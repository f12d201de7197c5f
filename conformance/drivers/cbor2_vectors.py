"""The golden wire vectors, decoded by an independent CBOR implementation.

Decodes the ``hex`` of every valid vector in ``conformance/vectors/*.json``
with ``cbor2`` (PyPI), which knows nothing of SRPy, and compares the result
with the vector's ``decoded`` notation. Tags are read as docs/PROTOCOL.md
documents them: cbor2 handles bignums (2/3), date/time (0), dates (1004),
decimal fractions (4) and sets (258) natively; SRPy's own tags (tuple 42000,
complex 42001, pickled 42002, naive datetime 42003, bool array 42004) and
the RFC 8746 array tags (40, 1040, typed arrays) arrive as ``CBORTag``.

Prints one JSON line per vector file, as the conformance drivers do:
``{"case": "vectors/cbor2/<file>", "status": "pass"|"fail", "detail": ...}``.

    python cbor2_vectors.py --vectors conformance/vectors
"""

import argparse
import datetime
import decimal
import json
import math
import os
import struct
import sys

import cbor2

# typed-array tag -> (dtype, element size, big-endian)
TYPED = {
    64: ("uint8", 1, False), 68: ("uint8", 1, False), 72: ("int8", 1, False),
    65: ("uint16", 2, True), 66: ("uint32", 4, True), 67: ("uint64", 8, True),
    69: ("uint16", 2, False), 70: ("uint32", 4, False), 71: ("uint64", 8, False),
    73: ("int16", 2, True), 74: ("int32", 4, True), 75: ("int64", 8, True),
    77: ("int16", 2, False), 78: ("int32", 4, False), 79: ("int64", 8, False),
    80: ("float16", 2, True), 81: ("float32", 4, True), 82: ("float64", 8, True),
    84: ("float16", 2, False), 85: ("float32", 4, False), 86: ("float64", 8, False),
    42004: ("bool", 1, False),
}


def _float(x):
    if math.isnan(x):
        return ("float", "nan")
    return ("float", struct.pack(">d", x).hex())


def _le(data, size, big):
    data = bytes(data)
    if not big or size == 1:
        return data
    return b"".join(data[i:i + size][::-1] for i in range(0, len(data), size))


def _typed(tag):
    if not isinstance(tag, cbor2.CBORTag) or tag.tag not in TYPED:
        raise ValueError("not a typed array: %r" % (tag,))
    dtype, size, big = TYPED[tag.tag]
    return dtype, _le(tag.value, size, big)


def _iso(text):
    """A datetime text as Python writes it back (tz-aware texts only)."""
    return datetime.datetime.fromisoformat(text).isoformat()


def _has_offset(text):
    rest = text[min([i for i in (text.find("T"), text.find("t"), text.find(" ")) if i >= 0] or [0]):]
    return text[-1:] in "Zz" or "+" in rest or "-" in rest


def from_cbor2(x):
    """What cbor2 produced, in a form comparable with ``from_notation``."""
    if x is None:
        return ("null",)
    if isinstance(x, bool):
        return ("bool", x)
    if isinstance(x, int):
        return ("int", x)
    if isinstance(x, float):
        return _float(x)
    if isinstance(x, str):
        return ("str", x)
    if isinstance(x, (bytes, bytearray)):
        return ("bytes", bytes(x))
    if isinstance(x, (list, tuple)):  # cbor2 gives tuples for arrays used as keys
        return ("list", [from_cbor2(i) for i in x])
    if isinstance(x, dict):
        return ("map", [(from_cbor2(k), from_cbor2(v)) for k, v in x.items()])
    if isinstance(x, (set, frozenset)):
        return ("set", sorted((from_cbor2(i) for i in x), key=repr))
    if isinstance(x, datetime.datetime):
        return ("datetime", x.isoformat())
    if isinstance(x, datetime.date):
        return ("date", x.isoformat())
    if isinstance(x, decimal.Decimal):
        return ("decimal", x.as_tuple())
    if isinstance(x, cbor2.CBORTag):
        t, v = x.tag, x.value
        if t == 42000:
            return ("tuple", [from_cbor2(i) for i in v])
        if t == 42001:
            return ("complex", _float(v[0]), _float(v[1]))
        if t == 42002:
            return ("pickled", bytes(v))
        if t == 42003:
            return ("datetime", v)
        if t == 1004:
            return ("date", v)
        if t in (40, 1040):
            shape, data = v
            dtype, le = _typed(data)
            return ("ndarray", dtype, [int(d) for d in shape], "C" if t == 40 else "F", le)
        if t in TYPED:
            dtype, le = _typed(x)
            return ("ndarray", dtype, [len(le) // TYPED[t][1]], "C", le)
    raise ValueError("cbor2 produced something the notation has no form for: %r" % (x,))


def from_notation(j):
    """The vector's ``decoded`` notation, in the same comparable form."""
    if j is None:
        return ("null",)
    if isinstance(j, bool):
        return ("bool", j)
    if isinstance(j, int):
        return ("int", j)
    if isinstance(j, str):
        return ("str", j)
    ((k, v),) = j.items()
    if k == "int":
        return ("int", int(v))
    if k == "float":
        x = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(v)
        return _float(float(v) if x is None else x)
    if k == "bytes":
        return ("bytes", bytes.fromhex(v))
    if k == "list":
        return ("list", [from_notation(i) for i in v])
    if k == "tuple":
        return ("tuple", [from_notation(i) for i in v])
    if k == "map":
        return ("map", [(from_notation(a), from_notation(b)) for a, b in v])
    if k == "set":
        return ("set", sorted((from_notation(i) for i in v), key=repr))
    if k == "complex":
        return ("complex", from_notation(v[0]), from_notation(v[1]))
    if k == "datetime":
        return ("datetime", _iso(v) if _has_offset(v) else v)
    if k == "date":
        return ("date", v)
    if k == "decimal":
        m = int(v["mantissa"])
        digits = tuple(int(c) for c in str(abs(m)))
        return ("decimal", decimal.Decimal((1 if m < 0 else 0, digits, v["exponent"])).as_tuple())
    if k == "ndarray":
        return ("ndarray", v["dtype"], list(v["shape"]), v["order"], bytes.fromhex(v["data"]))
    if k == "pickled":
        return ("pickled", bytes.fromhex(v))
    if k == "nested_lists":
        out = from_notation(v["value"])
        for _ in range(v["depth"]):
            out = ("list", [out])
        return out
    raise ValueError("unknown notation %r" % (k,))


# Valid on the wire, but their keys (elements) are equal in Python, so a
# Python decoder holds fewer entries than the wire has: PROTOCOL.md 7.2 makes
# a Python receiver reject them. Checked to collapse under cbor2, which shows
# why the rule is needed.
COLLIDE_IN_PYTHON = {
    "map_keys_collide_in_python",
    "set_elements_collide_in_python",
    "map_decimal_keys_differ",
}


def _short(x):
    r = repr(x)
    return r if len(r) < 200 else r[:197] + "..."


def check_file(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    framed = os.path.basename(path) == "frames.json"
    problems, n = [], 0
    for vec in doc["vectors"]:
        data = bytes.fromhex(vec["hex"])
        if framed:
            length = int.from_bytes(data[:4], "big")
            if length != len(data) - 4:
                problems.append("%s: length prefix %d, payload %d bytes" % (vec["name"], length, len(data) - 4))
                continue
            data = data[4:]
        try:
            got = from_cbor2(cbor2.loads(data))
        except Exception as exc:  # noqa: BLE001 - every failure is reported
            problems.append("%s: cbor2 could not decode it: %s: %s" % (vec["name"], type(exc).__name__, exc))
            continue
        want = from_notation(vec["decoded"])
        n += 1
        if vec["name"] in COLLIDE_IN_PYTHON:
            if len(got[1]) >= len(want[1]):
                problems.append("%s: the keys did not collide under cbor2: %s" % (vec["name"], _short(got)))
            continue
        if got != want:
            problems.append("%s: cbor2 decoded %s, the notation says %s" % (vec["name"], _short(got), _short(want)))
    return n, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vectors", required=True)
    args = ap.parse_args()
    sys.setrecursionlimit(10000)
    for name in sorted(os.listdir(args.vectors)):
        # routing.json holds fixed byte layouts, not CBOR (PROTOCOL.md 3.1).
        if not name.endswith(".json") or name == "routing.json":
            continue
        case = "vectors/cbor2/" + name[: -len(".json")]
        try:
            n, problems = check_file(os.path.join(args.vectors, name))
        except Exception as exc:  # noqa: BLE001
            n, problems = 0, ["%s: %s" % (type(exc).__name__, exc)]
        status = "fail" if problems else "pass"
        detail = "; ".join(problems) if problems else "%d vectors decoded by cbor2 as noted" % n
        print(json.dumps({"case": case, "status": status, "detail": detail}), flush=True)


if __name__ == "__main__":
    main()
