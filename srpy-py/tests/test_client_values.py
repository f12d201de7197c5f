"""Every value type of the wire table round-trips through a real engine
with its Python type (set → get, eval with vars, and values made remotely)."""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import enum
import fractions
import math

import pytest
import srpy

try:
    import numpy as np
except ImportError:  # numpy is optional
    np = None

needs_numpy = pytest.mark.skipif(np is None, reason="numpy is not installed")


def same(a, b) -> bool:
    """Equal values of the same types (NaN equals NaN; -0.0 differs from 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


VALUES = {
    "none": None,
    "true": True,
    "false": False,
    "zero": 0,
    "int": -12345,
    "u64max": 2**64 - 1,
    "i64min": -(2**63),
    "neg_2_64": -(2**64),
    "big": 7**200,
    "big_negative": -(3**300),
    "float": 1.5,
    "nan": math.nan,
    "inf": math.inf,
    "ninf": -math.inf,
    "negzero": -0.0,
    "tiny": 5e-324,
    "str": "héllo wörld",
    "non_bmp": "𝄞 🎉",
    "nul": "a\x00b",
    "empty_str": "",
    "bytes": b"\x00\xff" * 100,
    "empty_bytes": b"",
    "list": [1, "two", 3.0, None, [4, [5]]],
    "tuple": (1, (2, 3), ()),
    "one_tuple": (1,),
    "dict": {"b": 1, "a": 2, "c": None},
    "int_keys": {1: "one", 2: "two"},
    "tuple_keys": {(1, 2): "a", (3, (4,)): "b"},
    "mixed_keys": {None: 0, True: 1, 2.5: 2, "s": 3, b"b": 4, frozenset({1}): 5},
    "set": {1, 2, 3},
    "empty_set": set(),
    "nested": {"k": [(1, {2, 3}), {"x": {"y": [b"z"]}}]},
    "complex": 1.5 - 2j,
    "datetime": dt.datetime(2024, 1, 2, 3, 4, 5, 678901),
    "aware": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    "utc": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    "date": dt.date(1999, 12, 31),
    "decimal": decimal.Decimal("123.45"),
    "decimal_zeros": decimal.Decimal("1.50"),
    "decimal_big": decimal.Decimal("-1234567890123456789012345678901234567890.5"),
}


@pytest.mark.parametrize("name", list(VALUES))
def test_set_then_get(eng, name):
    value = VALUES[name]
    eng.set(**{name: value})
    back = eng.get(name)
    assert same(back, value), (value, back)


def test_all_at_once_and_by_eval(eng):
    eng.set(**VALUES)
    got = eng.get(list(VALUES))
    for k, v in VALUES.items():
        assert same(got[k], v), k
    # eval with vars, and the same values in a vexe temporary namespace
    for k, v in VALUES.items():
        assert same(eng.eval("v", v=v), v), k
    back = eng.vexe("w = v", get=["w"], v=VALUES["nested"])
    assert same(back["w"], VALUES["nested"])


def test_remote_types_are_kept(eng):
    assert same(eng.eval("(1, [2, (3,)])"), (1, [2, (3,)]))
    assert same(eng.eval("{1, 2}"), {1, 2})
    assert same(eng.eval("frozenset({1})"), {1}), "frozenset arrives as set"
    assert same(eng.eval("{(1, 2): {3}}"), {(1, 2): {3}})
    assert same(eng.eval("{frozenset({1}): 1}"), {frozenset({1}): 1})
    assert same(eng.eval("2 ** 100"), 2**100)
    assert same(eng.eval("float('nan')"), math.nan)
    assert same(eng.eval("-0.0"), -0.0)
    assert same(eng.eval("__import__('decimal').Decimal('1.50')"), decimal.Decimal("1.50"))
    assert same(eng.eval("__import__('datetime').date(2020, 2, 29)"), dt.date(2020, 2, 29))
    assert same(eng.eval("bytearray(b'ab')"), b"ab")


def test_subclasses_travel_as_their_base(eng):
    Point = collections.namedtuple("Point", "x y")

    class Color(enum.IntEnum):
        RED = 1

    od = collections.OrderedDict([("b", 1), ("a", 2)])
    eng.set(p=Point(1, 2), c=Color.RED, od=od, mv=memoryview(b"xyz"), ba=bytearray(b"q"))
    assert same(eng.get("p"), (1, 2))
    assert same(eng.get("c"), 1)
    assert same(eng.get("od"), {"b": 1, "a": 2})
    assert same(eng.get("mv"), b"xyz")
    assert same(eng.get("ba"), b"q")


def test_big_values(eng):
    data = bytes(range(256)) * 40000  # 10 MB
    eng.set(data=data)
    assert eng.eval("len(data)") == len(data)
    assert eng.get("data") == data
    big_list = list(range(100_000))
    assert eng.eval("x", x=big_list) == big_list


# ---- not transferable --------------------------------------------------------------


def test_sending_an_object_without_wire_form(eng):
    with pytest.raises(srpy.NotTransferable) as info:
        eng.set(f=fractions.Fraction(1, 3))
    msg = str(info.value)
    assert "fractions.Fraction" in msg and "allow_pickle=True" in msg
    assert isinstance(info.value, TypeError)
    with pytest.raises(srpy.NotTransferable, match="module"):
        eng.eval("1", m=math)
    assert eng.get() == [], "nothing was sent"


def test_receiving_an_object_without_wire_form(eng):
    eng.exe("import fractions; fr = fractions.Fraction(1, 3)")
    with pytest.raises(srpy.NotTransferable) as info:
        eng.get("fr")
    assert "fractions.Fraction" in str(info.value)
    assert "allow_pickle" in str(info.value)
    with pytest.raises(srpy.NotTransferable, match="module"):
        eng.eval("fractions")
    assert eng.eval("fr.denominator") == 3, "the engine is fine"


def test_allow_pickle_sends_pickled_values(cluster):
    with srpy.PythonEngine(cluster.engine_uri(1), allow_pickle=True, output=None) as e:
        assert e._raw.allow_pickle
        e.set(fr=fractions.Fraction(1, 3))
        assert e.eval("fr.denominator") == 3
        assert e.eval("type(fr).__name__") == "Fraction"
        e.delete("fr")


def test_allow_pickle_receives_pickled_values(cluster):
    with srpy.PythonEngine(cluster.engine_uri(1), allow_pickle=True, output=None) as e:
        assert e.eval("__import__('fractions').Fraction(2, 3)") == fractions.Fraction(2, 3)
    # Without the opt-in the same value is refused, naming the type.
    with (
        srpy.PythonEngine(cluster.engine_uri(1), output=None) as e,
        pytest.raises(srpy.NotTransferable, match="Fraction"),
    ):
        e.eval("__import__('fractions').Fraction(2, 3)")


# ---- numpy -----------------------------------------------------------------------------

DTYPES = [
    "bool", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64",
]  # fmt: skip
SHAPES = [(), (0,), (5,), (2, 3), (2, 3, 4), (1, 0, 3)]


def _array(dtype: str, shape: tuple[int, ...], order: str = "C"):
    n = math.prod(shape)
    if dtype == "bool":
        a = (np.arange(n) % 3 == 0).reshape(shape)
    else:
        info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
        base = np.arange(n) * 7 - n
        if info is not None:
            base = np.clip(base, info.min, info.max)
        a = base.astype(dtype).reshape(shape)
        if info is not None and n:
            a.flat[0] = info.max
    return np.asarray(a, order=order)


def _same_array(a, b) -> bool:
    return (
        isinstance(b, np.ndarray)
        and a.dtype == b.dtype
        and a.shape == b.shape
        and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    )


@needs_numpy
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_numpy_round_trip(eng, dtype, shape):
    a = _array(dtype, shape)
    eng.set(a=a)
    assert eng.eval("type(a).__module__") == "numpy"
    assert eng.eval("str(a.dtype)") == dtype
    assert eng.eval("a.shape") == shape
    b = eng.get("a")
    assert _same_array(a, b)
    assert b.flags.writeable and b.flags.owndata


@needs_numpy
@pytest.mark.parametrize("dtype", ["int32", "float64", "bool", "uint16"])
def test_numpy_fortran_order_is_kept(eng, dtype):
    a = _array(dtype, (3, 4, 2), order="F")
    assert a.flags.f_contiguous and not a.flags.c_contiguous
    eng.set(a=a)
    assert eng.eval("a.flags.f_contiguous and not a.flags.c_contiguous") is True
    b = eng.get("a")
    assert _same_array(a, b)
    assert b.flags.f_contiguous and not b.flags.c_contiguous
    c = eng.eval("a.copy(order='C')")
    assert c.flags.c_contiguous and _same_array(a, c)


@needs_numpy
def test_numpy_views_scalars_and_byte_order(eng):
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    view = base[::2, 1::2]  # neither C nor F contiguous
    assert _same_array(view, eng.eval("v", v=view))
    big_endian = np.arange(5, dtype=">i4")
    back = eng.eval("v", v=big_endian)
    assert back.dtype == np.dtype("int32") and list(back) == [0, 1, 2, 3, 4]
    assert same(eng.eval("v", v=np.float32(1.5)), 1.5)
    assert same(eng.eval("v", v=np.int64(-3)), -3)
    assert same(eng.eval("v", v=np.bool_(True)), True)
    nan = np.array([np.nan, -0.0, np.inf])
    back = eng.eval("v", v=nan)
    assert np.isnan(back[0]) and math.copysign(1, back[1]) == -1 and back[2] == np.inf


@needs_numpy
def test_numpy_made_remotely(eng):
    eng.imp("numpy as np")
    a = eng.eval("np.arange(12, dtype=np.int16).reshape(3, 4)")
    assert _same_array(np.arange(12, dtype=np.int16).reshape(3, 4), a)
    f = eng.eval("np.asfortranarray(np.ones((2, 5), dtype=np.float32))")
    assert f.flags.f_contiguous and f.dtype == np.float32
    with pytest.raises(srpy.NotTransferable, match="complex"):
        eng.eval("np.zeros(3, dtype=np.complex128)")


@needs_numpy
def test_numpy_big_array(eng):
    a = np.random.default_rng(1).random((1024, 1024))  # 8 MiB
    eng.set(a=a)
    assert eng.eval("float(a.sum())") == pytest.approx(float(a.sum()))
    assert _same_array(a, eng.get("a"))


@needs_numpy
def test_numpy_unsupported_dtype_is_not_transferable(eng):
    with pytest.raises(srpy.NotTransferable, match="complex128"):
        eng.set(z=np.zeros(2, dtype=np.complex128))


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", ["float64", "int32", "bool", "uint8"])
def test_big_numpy_arrays_arrive_without_a_copy_and_writable(eng, dtype, order):
    # Arrays of 1 MiB and more are numpy views over the received buffer.
    n = (1 << 20) // np.dtype(dtype).itemsize + 7
    a = np.asarray((np.arange(2 * n) % 5).astype(dtype).reshape((2, n)), order=order)
    eng.set(big=a)
    assert eng.eval(f"big.flags.writeable and big.flags['{order}_CONTIGUOUS']")
    assert eng.eval("int(big.astype('int64').sum())") == int(a.astype("int64").sum())
    b = eng.get("big")
    assert _same_array(a, b)
    assert b.flags.writeable and not b.flags.owndata
    assert b.flags["F_CONTIGUOUS" if order == "F" else "C_CONTIGUOUS"]
    assert type(b.base).__name__ in ("ReceivedBuffer", "memoryview", "ndarray")
    b[0, 0] = b[1, 1]  # writable for real
    del a
    eng.delete("big")
