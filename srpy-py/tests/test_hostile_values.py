"""Values no code path expected, from either side, fail one call with a
typed error: never a ``pyo3_runtime.PanicException``, a dead engine or a
dead futures thread. The hostile value is a datetime whose offset text is
``+€1`` (found by fuzzing: it made the conversion panic), written by a
``datetime`` subclass whose ``isoformat()`` returns it, so a real client
sends it to a real engine and a real engine sends it back.
"""

from __future__ import annotations

import datetime

import pytest
import srpy
from srpy import _srpy

BAD_ISO = "2024-01-02T03:04:05+€1"

# The same subclass on the engine (``exe``) and here.
BAD_DATETIME_SOURCE = f"""
import datetime
class BadDatetime(datetime.datetime):
    def isoformat(self, *args, **kwargs):
        return {BAD_ISO!r}
bad = BadDatetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
"""


class BadDatetime(datetime.datetime):
    def isoformat(self, *args: object, **kwargs: object) -> str:
        return BAD_ISO


def _bad_datetime() -> datetime.datetime:
    return BadDatetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


def test_a_hostile_datetime_decodes_to_an_srpy_error_not_a_panic():
    cbor2 = pytest.importorskip("cbor2")
    data = cbor2.dumps(cbor2.CBORTag(0, BAD_ISO))
    # A PanicException is a BaseException: it would escape pytest.raises.
    # PROTOCOL.md 7.3: unreadable datetime text is not transferable.
    with pytest.raises(TypeError, match="not ISO 8601"):
        _srpy._decode(data)


def test_an_engine_answers_a_hostile_value_with_a_typed_error_and_goes_on(eng):
    eng.exe("kept = 42")
    pid = eng.whoami()["pid"]
    # PROTOCOL.md 7.3: the engine answers not_transferable, naming the
    # text; never EngineDiedError: the engine lives on.
    with pytest.raises(srpy.NotTransferable, match="not ISO 8601"):
        eng.eval("x", x=_bad_datetime())
    assert eng.whoami()["pid"] == pid
    assert eng.eval("kept") == 42


def test_a_hostile_value_from_an_engine_fails_that_call_only(eng):
    eng.exe(BAD_DATETIME_SOURCE)
    with pytest.raises((srpy.SRPyError, ValueError)):
        eng.eval("bad")
    assert eng.eval("1 + 1") == 2


def test_a_hostile_value_fails_its_future_and_the_futures_thread_lives_on(eng):
    eng.exe(BAD_DATETIME_SOURCE)
    for _ in range(3):
        bad = eng.eval_async("bad")
        with pytest.raises((srpy.SRPyError, ValueError)):
            bad.result(10)
        good = [eng.eval_async(f"{i} * 2") for i in range(5)]
        assert [f.result(10) for f in good] == [0, 2, 4, 6, 8]


def test_a_remote_memory_error_is_both_remote_error_and_memory_error(eng):
    with pytest.raises(MemoryError) as info:
        eng.eval("bytearray(1 << 60)")
    e = info.value
    assert isinstance(e, srpy.RemoteError)
    assert type(e).__name__ == "RemoteMemoryError"
    assert e.remote_type == "MemoryError"
    assert e.remote_message == "the engine ran out of memory"
    assert str(e).startswith("the engine ran out of memory")
    assert eng.eval("40 + 2") == 42
