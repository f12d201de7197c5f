"""Round-trip tests of the Python <-> wire value conversion (src/convert.rs).

They run against `srpy._srpy` (its `_roundtrip`, `_encode` and `_decode` test
hooks) when it is importable, else against the module named by the
environment variable SRPY_CONVERT_MODULE (a scratch build exposing the same
three functions); without either they are skipped.
"""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import enum
import importlib
import math
import os
import subprocess
import sys
import textwrap

import pytest


def _load_module():
    try:
        from srpy import _srpy as m
    except ImportError:
        m = None
    if m is not None and hasattr(m, "_roundtrip"):
        return m
    name = os.environ.get("SRPY_CONVERT_MODULE")
    if name:
        try:
            return importlib.import_module(name)
        except ImportError:
            pass
    return None


mod = _load_module()
pytestmark = pytest.mark.skipif(
    mod is None, reason="neither srpy._srpy nor $SRPY_CONVERT_MODULE is importable"
)

try:
    import numpy as np
except ImportError:  # numpy is optional
    np = None

needs_numpy = pytest.mark.skipif(np is None, reason="numpy is not installed")


def rt(obj, allow_pickle=False):
    return mod._roundtrip(obj, allow_pickle)


def same(a, b):
    """Structural identity: equal values of the same types (NaN == NaN,
    0.0 != -0.0), recursively."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b) or (
            math.isnan(a) and math.isnan(b)
        )
    if isinstance(a, complex):
        return same(a.real, b.real) and same(a.imag, b.imag)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a.keys()) == list(b.keys()) and all(same(a[k], b[k]) for k in a)
    return a == b


def assert_rt(obj, expected=None, allow_pickle=False):
    got = rt(obj, allow_pickle)
    want = obj if expected is None else expected
    assert same(got, want), f"{obj!r} came back as {got!r}"
    return got


def is_not_transferable(exc):
    names = {c.__name__ for c in type(exc).__mro__}
    return bool(names & {"NotTransferable", "NotTransferableError"}) or isinstance(
        exc, TypeError
    )


def assert_not_transferable(obj, *fragments, allow_pickle=False):
    with pytest.raises(Exception) as ei:
        rt(obj, allow_pickle)
    assert is_not_transferable(ei.value), repr(ei.value)
    msg = str(ei.value)
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    return msg


# ---- scalars -----------------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [None, True, False, 0, 1, -1, 255, 2**31, -(2**31), 2**63 - 1, -(2**63)],
)
def test_none_bool_small_int(obj):
    assert_rt(obj)


@pytest.mark.parametrize(
    "obj", [2**63, -(2**63) - 1, 2**64, 2**64 - 1, 2**200, -(2**200), 10**400, -(10**400) + 1]
)
def test_big_int(obj):
    assert_rt(obj)


@pytest.mark.parametrize(
    "obj", [0.0, -0.0, 1.5, -2.25, 1e308, 5e-324, math.inf, -math.inf, math.pi]
)
def test_float(obj):
    assert_rt(obj)


def test_nan():
    got = rt(math.nan)
    assert type(got) is float and math.isnan(got)


def test_negative_zero_keeps_sign():
    assert math.copysign(1.0, rt(-0.0)) == -1.0


@pytest.mark.parametrize(
    "obj", ["", "a", "héllo", "日本語", "😀 \U0010ffff \U0001f600", "x" * 100_000, "a\x00b"]
)
def test_str(obj):
    assert_rt(obj)


def test_lone_surrogate_is_not_transferable():
    assert_not_transferable("a\ud800b", "str", "surrogate")


def test_bytes_bytearray_memoryview():
    assert_rt(b"")
    assert_rt(bytes(range(256)))
    assert_rt(bytearray(b"abc"), b"abc")
    assert_rt(bytearray(), b"")
    assert_rt(memoryview(b"hello"), b"hello")
    assert_rt(memoryview(b"abcdef")[::2], b"ace")


@pytest.mark.parametrize(
    "obj", [0j, 1 + 2j, complex(-0.0, -0.0), complex(math.inf, -math.inf), 1e300j]
)
def test_complex(obj):
    assert_rt(obj)


def test_complex_nan():
    got = rt(complex(math.nan, 1.0))
    assert type(got) is complex and math.isnan(got.real) and got.imag == 1.0


# ---- containers --------------------------------------------------------------


def test_list_tuple_nested():
    assert_rt([1, "a", (2, 3.5), [None, [True]], (("x",),)])
    assert_rt((1,))
    assert_rt(())
    assert_rt([])


def test_nested_empties():
    assert_rt([[], (), {}, [[[]]], ((),), {"a": {}}, [set()]])
    got = rt({"s": set(), "f": frozenset()})
    assert got == {"s": set(), "f": set()}
    assert type(got["s"]) is set and type(got["f"]) is set


def test_dict_keys_of_many_types():
    key_fs = frozenset({1, 2})
    obj = {
        1: "int",
        "s": "str",
        (1, 2): "tuple",
        (1, (2, "x")): "nested tuple",
        key_fs: "frozenset",
        None: "none",
        b"b": "bytes",
        2.5: "float",
        (frozenset({3}), 4): "tuple with frozenset",
    }
    got = rt(obj)
    assert got == obj
    assert list(got) == list(obj)  # insertion order kept
    keys = {type(k) for k in got}
    assert tuple in keys and frozenset in keys


def test_dict_order_kept():
    obj = {k: k for k in [5, 3, 9, 1, 7]}
    assert list(rt(obj)) == [5, 3, 9, 1, 7]


def test_set_and_frozenset():
    got = rt({1, 2, 3})
    assert got == {1, 2, 3} and type(got) is set
    got = rt(frozenset({"a", "b"}))
    assert got == {"a", "b"} and type(got) is set
    got = rt({(1, 2), (3, (4, 5)), frozenset({6})})
    assert got == {(1, 2), (3, (4, 5)), frozenset({6})}
    assert frozenset({6}) in got


def test_set_inside_tuple_key_comes_back_hashable():
    obj = {(1, frozenset({2, 3})): "v"}
    got = rt(obj)
    ((k, v),) = got.items()
    assert k == (1, frozenset({2, 3})) and type(k[1]) is frozenset and v == "v"


def test_large_list():
    obj = list(range(100_000))
    assert rt(obj) == obj


def test_builtin_subclasses_convert_as_base():
    Point = collections.namedtuple("Point", "x y")
    got = rt(Point(1, 2))
    assert got == (1, 2) and type(got) is tuple

    class Color(enum.IntEnum):
        RED = 1

    got = rt(Color.RED)
    assert got == 1 and type(got) is int

    class S(str):
        pass

    got = rt(S("abc"))
    assert got == "abc" and type(got) is str

    od = collections.OrderedDict([("a", 1), ("b", 2), ("c", 3)])
    od.move_to_end("a")
    got = rt(od)
    assert type(got) is dict and list(got.items()) == [("b", 2), ("c", 3), ("a", 1)]

    got = rt(collections.defaultdict(list, {"k": [1]}))
    assert got == {"k": [1]} and type(got) is dict


def _nested(depth, inner):
    for _ in range(depth):
        inner = [inner]
    return inner


def test_nesting_limit_is_the_protocols_254_levels():
    ok = _nested(254, 0)  # the int sits 254 levels below the top
    assert rt(ok) == ok
    assert_not_transferable(_nested(255, 0), "nested deeper than 254 levels")


@pytest.mark.parametrize(
    ("inner", "levels"),
    # Levels an item takes on the wire (PROTOCOL.md 6.3): a tuple or set is
    # its tag plus an array, a complex its tag, an array and two floats, a
    # Decimal its tag and two ints.
    [((), 1), ((1,), 2), (frozenset({1}), 2), (1 + 2j, 2), (decimal.Decimal("1.5"), 1)],
)
def test_nesting_limit_counts_wire_levels(inner, levels):
    assert rt(_nested(254 - levels, inner)) is not None
    assert_not_transferable(_nested(255 - levels, inner), "nested deeper than 254 levels")


def test_self_referencing_containers():
    lst = [1]
    lst.append(lst)
    assert_not_transferable(lst, "nested deeper than 254 levels")
    d = {}
    d["self"] = d
    assert_not_transferable(d, "nested deeper than 254 levels")
    # Even with pickling allowed: the limit is not a type without wire form.
    assert_not_transferable(lst, "nested deeper than 254 levels", allow_pickle=True)


# ---- keys that collide in Python (PROTOCOL.md 7.2) ---------------------------


def _decode_refused(hex_bytes, *fragments):
    with pytest.raises(Exception) as ei:
        mod._decode(bytes.fromhex(hex_bytes), False)
    assert is_not_transferable(ei.value), repr(ei.value)
    for f in fragments:
        assert f in str(ei.value), f"{f!r} not in {ei.value}"


def test_map_keys_colliding_in_python_are_refused_naming_them():
    # {1: "a", 1.0: "b", true: "c"}: three distinct wire keys, one Python key.
    _decode_refused("a3 01 6161 fb3ff0000000000000 6162 f5 6163", "collide", "1 and 1.0")


def test_set_elements_colliding_in_python_are_refused():
    # set [1, 1.0]
    _decode_refused("d90102 82 01 fb3ff0000000000000", "collide", "1 and 1.0")


def test_decimal_keys_with_other_exponents_collide():
    # {Decimal('1.50'): 1, Decimal('1.5'): 2}
    _decode_refused("a2 c482211896 01 c482200f 02", "Decimal('1.50') and Decimal('1.5')")


# ---- datetime, date, Decimal -------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [
        dt.datetime(2024, 1, 2, 3, 4, 5),
        dt.datetime(2024, 1, 2, 3, 4, 5, 123456),
        dt.datetime(1, 1, 1),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        dt.datetime(2024, 6, 1, 12, 0, 0, 7, tzinfo=dt.timezone(dt.timedelta(hours=-8))),
    ],
)
def test_datetime(obj):
    got = assert_rt(obj)
    assert got.utcoffset() == obj.utcoffset()


def _cbor_text(tag_head: bytes, text: str) -> bytes:
    b = text.encode()
    assert len(b) < 24
    return tag_head + bytes([0x60 | len(b)]) + b


def test_datetime_with_z_suffix_from_another_client():
    got = mod._decode(_cbor_text(b"\xc0", "2024-01-02T03:04:05Z"))
    assert got == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert got.utcoffset() == dt.timedelta(0)


def test_datetime_z_is_read_as_utc_and_written_back_as_python_writes_it():
    # PROTOCOL.md 7.3: no conversion to another offset; the text comes back
    # in the form datetime.isoformat() writes.
    got = mod._decode(_cbor_text(b"\xc0", "2024-01-02T03:04:05Z"), False)
    assert mod._encode(got, False) == b"\xc0\x78\x19" + b"2024-01-02T03:04:05+00:00"


@pytest.mark.parametrize(
    "text", ["2024-01-02T03:04:05+\u20ac1", "2024-01-02T03:04:05-\u20ac", "2024-01-0\u20ac", "x"]
)
def test_unreadable_datetime_text_is_not_transferable_not_a_panic(text):
    b = text.encode()
    for tag in (b"\xc0", bytes.fromhex("d9a413")):
        with pytest.raises(Exception) as ei:
            mod._decode(tag + bytes([0x78, len(b)]) + b, False)
        assert is_not_transferable(ei.value), repr(ei.value)
        assert "not ISO 8601" in str(ei.value)


def test_datetime_with_nanoseconds_from_another_client():
    text = "2024-01-02T03:04:05.123456789+00:00"
    b = text.encode()
    data = b"\xc0" + bytes([0x78, len(b)]) + b
    got = mod._decode(data)
    assert got == dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)


def test_datetime_aware_is_rfc3339_tag_naive_is_srpy_tag():
    aware = mod._encode(dt.datetime(2024, 1, 2, tzinfo=dt.UTC))
    naive = mod._encode(dt.datetime(2024, 1, 2))
    assert aware[:1] == b"\xc0"
    assert naive[:3] == bytes.fromhex("d9a413")


@pytest.mark.parametrize("obj", [dt.date(2024, 2, 29), dt.date(1, 1, 1), dt.date(9999, 12, 31)])
def test_date(obj):
    assert_rt(obj)


def test_date_is_not_confused_with_datetime():
    assert type(rt(dt.date(2020, 5, 17))) is dt.date
    assert type(rt(dt.datetime(2020, 5, 17))) is dt.datetime


def test_time_and_timedelta_are_not_transferable():
    assert_not_transferable(dt.time(1, 2), "datetime.time", "allow_pickle")
    assert rt(dt.timedelta(days=1), True) == dt.timedelta(days=1)


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "1.5",
        "-1.5",
        "1.000",
        "0.0001",
        "-0.00001234",
        "123456789012345678901234567890.123456789",
        "1E+1000",
        "-7E-999",
        "12345678901234567890E+50",
        "9" * 5000,
        "0." + "1" * 3000,
    ],
)
def test_decimal(text):
    obj = decimal.Decimal(text)
    got = rt(obj)
    assert type(got) is decimal.Decimal
    assert got.as_tuple() == obj.as_tuple()  # exponent kept, not just the value


def test_decimal_round_trip_ignores_the_context_precision():
    obj = decimal.Decimal("1." + "3" * 100)
    with decimal.localcontext() as ctx:
        ctx.prec = 5
        got = rt(obj)
    assert got.as_tuple() == obj.as_tuple()


@pytest.mark.parametrize("text", ["NaN", "-NaN", "sNaN", "Infinity", "-Infinity"])
def test_non_finite_decimal(text):
    assert_not_transferable(decimal.Decimal(text), "Decimal", "non-finite", "allow_pickle")


def test_non_finite_decimal_pickled_when_allowed():
    got = rt(decimal.Decimal("-Infinity"), True)
    assert got == decimal.Decimal("-Infinity")


# ---- numpy -------------------------------------------------------------------

DTYPES = [
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
]
SHAPES = [(), (0,), (5,), (2, 3), (2, 3, 4), (3, 0, 2)]


def _sample(dtype, shape):
    n = int(np.prod(shape)) if shape else 1
    rng = np.random.default_rng(12345)
    if dtype == "bool":
        flat = rng.integers(0, 2, n).astype(bool)
    elif dtype.startswith(("int", "uint")):
        info = np.iinfo(dtype)
        flat = rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True)
        if n >= 2:
            flat[0], flat[1] = info.min, info.max
    else:
        flat = rng.standard_normal(n).astype(dtype)
        if n >= 4:
            flat[0], flat[1], flat[2], flat[3] = np.nan, np.inf, -np.inf, -0.0
    return flat.reshape(shape)


def assert_array_same(got, want):
    assert type(got) is np.ndarray
    assert got.dtype == want.dtype.newbyteorder("=")
    assert got.shape == want.shape
    if want.dtype.kind == "f":
        assert np.array_equal(got, want, equal_nan=True)
        # bit-exact, incl. -0.0 and NaN payloads
        assert got.tobytes() == np.ascontiguousarray(want).astype(got.dtype).tobytes()
    else:
        assert np.array_equal(got, want)
    assert got.flags.writeable


@needs_numpy
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_array_dtypes_and_shapes(dtype, shape):
    a = _sample(dtype, shape)
    got = rt(a)
    assert_array_same(got, a)
    assert got.flags.c_contiguous


@needs_numpy
@pytest.mark.parametrize("dtype", ["int16", "float64", "bool"])
def test_array_fortran_order_is_kept(dtype):
    a = np.asfortranarray(_sample(dtype, (3, 4, 2)))
    assert not a.flags.c_contiguous
    got = rt(a)
    assert_array_same(got, a)
    assert got.flags.f_contiguous and not got.flags.c_contiguous


@needs_numpy
def test_array_fortran_order_on_the_wire():
    a = np.asfortranarray(np.arange(6, dtype="<i2").reshape(2, 3))
    data = mod._encode(a)
    assert data[:3] == bytes.fromhex("d90410")  # tag 1040: column-major
    got = mod._decode(data)
    assert_array_same(got, a)


@needs_numpy
def test_array_non_contiguous_views():
    base = np.arange(60, dtype=np.float64).reshape(6, 10)
    for view in [base[::2, 1:7], base[:, 3], base[::-1], base.T[::2], base[1:4, ::3]]:
        assert not (view.flags.c_contiguous and view.flags.f_contiguous) or view.size <= 1
        got = rt(view)
        assert_array_same(got, view)


@needs_numpy
def test_array_offset_view_and_readonly_input():
    base = np.arange(20, dtype=np.int32)
    assert_array_same(rt(base[5:12]), base[5:12])
    ro = np.frombuffer(bytes(range(16)), dtype=np.uint8).reshape(4, 4)
    assert not ro.flags.writeable
    got = rt(ro)
    assert_array_same(got, ro)
    got[0, 0] = 99  # writable and not sharing memory with the input
    assert ro[0, 0] == 0


@needs_numpy
@pytest.mark.parametrize("dtype", [">i2", ">i4", ">i8", ">u2", ">u4", ">u8", ">f2", ">f4", ">f8"])
def test_array_big_endian_input(dtype):
    a = np.arange(-3, 9).astype(dtype).reshape(3, 4)
    got = rt(a)
    assert got.dtype == np.dtype(dtype).newbyteorder("<")
    assert np.array_equal(got, a)
    got_f = rt(np.asfortranarray(a))
    assert np.array_equal(got_f, a) and got_f.flags.f_contiguous


@needs_numpy
def test_array_result_is_writable_and_owns_its_memory():
    got = rt(np.linspace(0, 1, 1000))
    assert got.flags.writeable
    got[:] = 5.0
    assert (got == 5.0).all()


@needs_numpy
def test_arrays_nested_in_containers():
    a = np.arange(4, dtype=np.uint16)
    got = rt({"a": a, "l": [a, (a,)]})
    assert_array_same(got["a"], a)
    assert_array_same(got["l"][1][0], a)


@needs_numpy
def test_array_subclass_sent_as_ndarray():
    class Sub(np.ndarray):
        pass

    m = np.arange(6.0).reshape(2, 3).view(Sub)
    got = rt(m)
    assert type(got) is np.ndarray and np.array_equal(got, np.asarray(m))


@needs_numpy
def test_large_array():
    a = np.random.default_rng(1).standard_normal(1 << 20)  # 8 MiB
    got = rt(a)
    assert np.array_equal(got, a)


@needs_numpy
@pytest.mark.parametrize(
    "make, dtype_name",
    [
        (lambda: np.array([1 + 2j]), "complex128"),
        (lambda: np.array([1, "x"], dtype=object), "object"),
        (lambda: np.array(["ab", "c"]), "<U2"),
        (lambda: np.array(["2024-01-01"], dtype="datetime64[D]"), "datetime64[D]"),
        (lambda: np.zeros(2, dtype=[("a", "i4"), ("b", "f8")]), "[('a', '<i4'), ('b', '<f8')]"),
    ],
)
def test_array_unsupported_dtypes(make, dtype_name):
    assert_not_transferable(make(), "ndarray", dtype_name, "allow_pickle")


@needs_numpy
def test_array_unsupported_dtype_pickled_when_allowed():
    a = np.array([1 + 2j, 3 - 4j], dtype=np.complex64)
    got = rt(a, True)
    assert got.dtype == a.dtype and np.array_equal(got, a)


@needs_numpy
def test_numpy_scalars():
    cases = [
        (np.float64(1.5), 1.5, float),
        (np.float32(0.25), 0.25, float),
        (np.float16(-2.0), -2.0, float),
        (np.int64(-7), -7, int),
        (np.int8(-128), -128, int),
        (np.uint8(255), 255, int),
        (np.uint64(2**64 - 1), 2**64 - 1, int),
        (np.int64(-(2**63)), -(2**63), int),
        (np.bool_(True), True, bool),
        (np.bool_(False), False, bool),
        (np.complex128(1 + 2j), 1 + 2j, complex),
        (np.complex64(1 - 2j), 1 - 2j, complex),
    ]
    for obj, want, typ in cases:
        got = rt(obj)
        assert type(got) is typ and got == want, (obj, got)
    got = rt(np.float64("nan"))
    assert type(got) is float and math.isnan(got)
    assert rt(np.str_("abc")) == "abc"


@needs_numpy
def test_numpy_is_not_imported_to_send_plain_values():
    code = textwrap.dedent(
        f"""
        import sys, importlib
        m = importlib.import_module({mod.__name__!r})
        before = 'numpy' in sys.modules
        m._roundtrip([1, 2.5, "x", {{"k": (1, b"y")}}, {{3}}, None], False)
        try:
            m._roundtrip(object(), False)
        except Exception:
            pass
        assert ('numpy' in sys.modules) == before, "numpy was imported"
        print("ok", before)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


@needs_numpy
def test_receiving_an_array_without_numpy_is_an_import_error():
    data = mod._encode(np.arange(3, dtype=np.int64))
    code = textwrap.dedent(
        f"""
        import sys, importlib
        sys.modules['numpy'] = None  # makes `import numpy` fail
        m = importlib.import_module({mod.__name__!r})
        try:
            m._decode({data!r})
        except ImportError as e:
            assert 'numpy' in str(e), str(e)
            print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok", out.stdout


# ---- not transferable, pickling --------------------------------------------


class Point:
    """A plain class, picklable by reference."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return type(other) is Point and (self.x, self.y) == (other.x, other.y)


def test_module_is_not_transferable():
    msg = assert_not_transferable(os, "'module'", "allow_pickle")
    assert "<module 'os'" in msg


def test_custom_instance_refused_with_qualified_type_name():
    msg = assert_not_transferable(Point(1, 2), "Point", "allow_pickle")
    assert f"{__name__}.Point" in msg


def test_long_repr_is_cut():
    class Long:
        def __repr__(self):
            return "L" * 1000

    msg = assert_not_transferable(Long())
    assert "L" * 77 + "..." in msg and "L" * 81 not in msg


def test_not_transferable_nested_deep_in_a_container():
    assert_not_transferable({"a": [1, (2, object())]}, "'object'")


def test_pickled_round_trip_of_custom_instance():
    got = rt(Point(3, [4, 5]), True)
    assert got == Point(3, [4, 5])


def test_pickled_inside_containers():
    got = rt({"p": [Point(1, 2)], "n": 5}, True)
    assert got == {"p": [Point(1, 2)], "n": 5}


def test_pickling_failure_is_reported():
    import threading

    lock = threading.Lock()
    msg = assert_not_transferable(lock, "pickling it failed", allow_pickle=True)
    assert "lock" in msg


def test_pickled_value_refused_without_allow_pickle():
    data = mod._encode(Point(1, 2), True)
    assert data[:3] == bytes.fromhex("d9a412")  # tag 42002
    with pytest.raises(Exception) as ei:
        mod._decode(data)
    assert is_not_transferable(ei.value)
    assert "allow_pickle" in str(ei.value)
    assert mod._decode(data, True) == Point(1, 2)


# ---- CBOR bytes --------------------------------------------------------------


@pytest.mark.parametrize(
    "obj, hexstr",
    [
        (None, "f6"),
        (True, "f5"),
        (False, "f4"),
        (0, "00"),
        (-1, "20"),
        (1000, "1903e8"),
        (2**64, "c249010000000000000000"),
        (-(2**64) - 1, "c349010000000000000000"),
        (1.5, "fb3ff8000000000000"),
        ("a", "6161"),
        (b"a", "4161"),
        ([], "80"),
        ({}, "a0"),
        ((1, 2), "d9a410820102"),
        ({"a": 1}, "a1616101"),
        (set(), "d9010280"),
        (1 + 2j, "d9a41182fb3ff0000000000000fb4000000000000000"),
        (dt.date(2024, 1, 2), "d903ec6a323032342d30312d3032"),
        (decimal.Decimal("1.5"), "c482200f"),
    ],
    ids=repr,
)
def test_encode_bytes(obj, hexstr):
    assert mod._encode(obj).hex() == hexstr
    assert same(mod._decode(bytes.fromhex(hexstr)), obj if not isinstance(obj, set) else set())


@needs_numpy
def test_encode_array_bytes():
    a = np.array([1, 2], dtype="<i2")
    # tag 40 [ [2], tag 77 h'01000200' ]
    assert mod._encode(a).hex() == "d8288281" + "02" + "d84d" + "44" + "01000200"
