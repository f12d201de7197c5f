"""Timeouts, ``interrupt()`` from another thread, and Ctrl-C while waiting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import srpy

SLEEP = "import time; time.sleep(30)"
SPIN = "while True:\n    pass"


def test_call_timeout(eng):
    eng.set(kept=1)
    start = time.monotonic()
    with pytest.raises(srpy.SRPyTimeoutError) as info:
        eng.exe(SLEEP, timeout=0.3)
    assert time.monotonic() - start < 2
    assert isinstance(info.value, TimeoutError)
    assert "0.3" in str(info.value) or "300ms" in str(info.value)
    # the timed-out call was interrupted in the engine: it answers at once
    assert eng.eval("kept", timeout=5) == 1


def test_timeout_of_a_busy_loop(eng):
    with pytest.raises(srpy.SRPyTimeoutError):
        eng.exe(SPIN, timeout=0.3)
    assert eng.eval("2", timeout=5) == 2


def test_default_timeout_of_the_handle(cluster):
    with srpy.PythonEngine(cluster.engine_uri(1), timeout=0.3, output=None) as e:
        assert e.timeout == 0.3
        with pytest.raises(srpy.SRPyTimeoutError):
            e.exe(SLEEP)
        assert e.eval("1", timeout=5) == 1
        assert e.exe("import time; time.sleep(0.5)", timeout=5) is None, "per call wins"
        e.timeout = None
        assert e.exe("import time; time.sleep(0.4)") is None
        assert e.wait(0.1) is True, "wait has its own limit"


def test_interrupt_from_another_thread(eng):
    eng.set(kept=2)
    timer = threading.Timer(0.3, eng.interrupt)
    timer.start()
    start = time.monotonic()
    with pytest.raises(srpy.RemoteInterrupted) as info:
        eng.exe(SPIN)
    timer.join()
    assert time.monotonic() - start < 3
    assert isinstance(info.value, srpy.SRPyError)
    assert not isinstance(info.value, KeyboardInterrupt)
    assert eng.eval("kept") == 2


def test_interrupt_a_sleep_from_a_second_handle(cluster, eng):
    other = srpy.PythonEngine(cluster.engine_uri(0), output=None)
    try:
        f = eng.exe_async(SLEEP)
        time.sleep(0.3)
        assert other.isBusy() is True
        assert other.interrupt() is True
        with pytest.raises(srpy.RemoteInterrupted):
            f.result(5)
        assert other.isBusy() is False
    finally:
        other.close()


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="POSIX signals")
def test_ctrl_c_while_waiting(eng):
    assert threading.current_thread() is threading.main_thread()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    eng.set(kept=3)

    def press_ctrl_c() -> None:
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    start = time.monotonic()
    try:
        eng.exe(SLEEP)
    except KeyboardInterrupt:
        elapsed = time.monotonic() - start
    else:
        pytest.fail("no KeyboardInterrupt")
    finally:
        presser.join()
    assert elapsed < 1.5, elapsed
    # The remote call was interrupted too: the engine answers at once and
    # kept its namespace.
    assert eng.eval("kept", timeout=5) == 3
    assert eng.isBusy() is False


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="POSIX signals")
def test_ctrl_c_while_waiting_for_wait(eng):
    f = eng.exe_async("import time; time.sleep(1.5)")

    def press_ctrl_c() -> None:
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    with pytest.raises(KeyboardInterrupt):
        eng.wait()
    presser.join()
    # wait is not a request of its own: the running work is left alone
    assert f.result(5) is None


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="POSIX signals")
def test_interrupts_work_when_started_with_sigint_ignored(local_options, tmp_path):
    # A shell starts background jobs (`cmd &`) with SIGINT ignored, and
    # every process they start inherits that; engines must still answer
    # `interrupt` with KeyboardInterrupt.
    script = tmp_path / "ignored.py"
    script.write_text(
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "import srpy\n"
        f"with srpy.local(1, output=None, **{local_options!r}) as c:\n"
        "    e = c[0]\n"
        f"    f = e.exe_async({SPIN!r})\n"
        "    deadline = time.monotonic() + 10\n"
        "    while not e.isBusy() and time.monotonic() < deadline:\n"
        "        time.sleep(0.01)\n"
        "    time.sleep(0.2)  # queued, then running\n"
        "    assert e.interrupt() is True\n"
        "    try:\n"
        "        f.result(10)\n"
        "    except srpy.RemoteInterrupted:\n"
        "        print('interrupted')\n"
        "    assert e.eval('1+1', timeout=5) == 2\n"
    )
    done = subprocess.run(
        [os.environ.get("SRPY_PYTHON") or sys.executable, str(script)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "interrupted"
