"""Reliability suite: hostile, slow, flooding and crashing clients against a
real ``srpy-server`` with real engines.

    .venv/bin/python scripts/reliability.py [--full] [--soak SECONDS]

Each scenario starts its own server (``$SRPY_SERVER_BIN``, default
``target/release/srpy-server``; engines run ``$SRPY_PYTHON``, default this
interpreter) and attacks it with raw sockets speaking the wire protocol
by hand (frames built with ``cbor2``) while ordinary clients (the ``srpy``
package) work beside them. The default run is short (well under a minute,
run by ``scripts/test.sh``); ``--full`` runs the issue-scale loads (the
targets of ``docs/RELIABILITY.md``) and ``--soak`` sets the soak's length.

Prints one table row per scenario: load held, faults survived, bad inputs
tried, memory before and after, anything lost; exits 1 when a target is
missed (the row says which).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import random
import selectors
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import cbor2
import srpy

REPO = Path(__file__).resolve().parents[1]
MIB = 1 << 20


# -- a real server ------------------------------------------------------------


class Server:
    """A private ``srpy-server`` (its stderr kept for the log checks)."""

    def __init__(
        self, engines: int = 1, args: tuple[str, ...] = (), port: int = 0
    ) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="srpy-reliability-")
        self.uri_file = Path(self.dir.name) / "uri"
        self.log_path = Path(self.dir.name) / "stderr"
        self.engines = engines
        self.args = args
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.uri_file.unlink(missing_ok=True)
        server_bin = os.environ.get("SRPY_SERVER_BIN") or str(
            REPO / "target" / "release" / "srpy-server"
        )
        python = os.environ.get("SRPY_PYTHON") or sys.executable
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child holds it)
        self.proc = subprocess.Popen(
            [
                server_bin,
                "--listen",
                f"127.0.0.1:{self.port}",
                "--engines",
                str(self.engines),
                "--python",
                python,
                "--uri-file",
                str(self.uri_file),
                *self.args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env={k: v for k, v in os.environ.items() if k != "SRPY_TOKEN"},
        )
        log.close()
        deadline = time.monotonic() + 60
        while not self.uri_file.exists() or not self.uri_file.read_text().strip():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"srpy-server did not start: {self.log()}")
            time.sleep(0.02)
        lines = self.uri_file.read_text().split()
        self.uri = lines[0]
        self.port = int(self.uri.rsplit(":", 1)[1])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def directory(self) -> list[dict]:
        with Wire(self.port) as w:
            return w.call({"op": "engines"})["value"]

    def engine_port(self, i: int = 0) -> int:
        """Engine i's own TCP port (servers started with --engine-ports)."""
        port = self.directory()[i]["engine_port"]
        assert port, "start the server with --engine-ports for a port of its own"
        return port

    def engine_pid(self, i: int = 0) -> int:
        return self.directory()[i]["pid"]

    def engine_uri(self, i: int = 0) -> str:
        return f"{self.uri}/{i}"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.dir.cleanup()


def rss_mib(pid: int) -> float:
    return proc_status(pid, "VmRSS:") / 1024


def threads(pid: int) -> int:
    return proc_status(pid, "Threads:")


def proc_status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    raise KeyError(key)


class PeakRss:
    """Samples a process's RSS every 20 ms in a thread; ``.peak`` in MiB."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, rss_mib(pid), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            try:
                self.peak = max(self.peak, rss_mib(self.pid))
            except (OSError, KeyError):
                return

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


# -- the wire, by hand -------------------------------------------------------


def frame(message: dict) -> bytes:
    payload = cbor2.dumps(message)
    return struct.pack(">I", len(payload)) + payload


def request(rid: int, op: str, **fields: object) -> bytes:
    return frame({"t": "req", "id": rid, "op": op, **fields})


HELLO = frame(
    {"t": "hello", "versions": [1, 1], "client": "reliability", "features": []}
)


class Wire:
    """A raw protocol connection (blocking socket), optionally from another
    loopback address, with a small receive buffer to play a slow reader."""

    def __init__(
        self,
        port: int,
        source: str = "127.0.0.1",
        rcvbuf: int | None = None,
        token: bytes | None = None,
        engine: int | None = None,
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind((source, 0))
        self.sock.settimeout(20)
        self.sock.connect(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.next_id = 1
        if engine is not None:  # the routing preamble (PROTOCOL.md 3.1)
            self.sock.sendall(b"SRPY\x01" + struct.pack(">I", engine))
            head = self.recv_exact(8)
            message = self.recv_exact(struct.unpack(">H", head[6:8])[0])
            assert head[:4] == b"SRPY" and head[5] == 0, (head, message)
        self.sock.sendall(HELLO)
        challenge = self.recv()
        assert challenge["t"] == "challenge", challenge
        nonce = os.urandom(32)
        proof = b""
        if token:  # HMAC-SHA256 over a label, the server's nonce, then ours
            message = b"srpy-v1 client" + challenge["nonce"] + nonce
            proof = hmac.new(token, message, hashlib.sha256).digest()
        self.sock.sendall(frame({"t": "auth", "nonce": nonce, "proof": proof}))
        welcome = self.recv()
        assert welcome["t"] == "welcome", welcome

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("closed by the peer")
            buf += chunk
        return bytes(buf)

    def recv(self) -> dict:
        (n,) = struct.unpack(">I", self.recv_exact(4))
        return cbor2.loads(self.recv_exact(n))

    def send(self, op: str, **fields: object) -> int:
        rid = self.next_id
        self.next_id += 1
        self.sock.sendall(request(rid, op, **fields))
        return rid

    def call(self, message: dict) -> dict:
        rid = self.send(**message)
        while True:
            reply = self.recv()
            if reply.get("id") == rid and reply["t"] != "out":
                return reply

    def closed_within(self, seconds: float) -> bool:
        self.sock.settimeout(seconds)
        try:
            while self.sock.recv(1 << 20):
                pass
            return True
        except TimeoutError:
            return False
        except OSError:
            return True


# -- results -----------------------------------------------------------------


@dataclass
class Row:
    scenario: str
    load: str = ""
    faults: str = "-"
    bad_inputs: int = 0
    memory: str = "-"
    lost: int = 0
    misses: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.misses.append(what)


def bystander_calls(
    uri: str, seconds: float, stop: threading.Event | None = None
) -> tuple[list[float], int]:
    """Fresh-connection-free `eval` round trips for `seconds` (or until
    `stop`): their latencies and the count of errors."""
    e = srpy.connect(uri, output=None, timeout=30)
    latencies, errors = [], 0
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (stop and stop.is_set()):
        t = time.perf_counter()
        try:
            assert e.eval("1 + 1") == 2
            latencies.append(time.perf_counter() - t)
        except Exception:  # noqa: BLE001 (counted, reported)
            errors += 1
        time.sleep(0.002)
    e.close()
    return latencies, errors


# -- scenarios ---------------------------------------------------------------


def slow_reader(full: bool) -> Row:
    """A raw client asks for 10 × 64 MiB and never reads, while a bystander
    evaluates on the same engine."""
    row = Row("slow reader (10 × 64 MiB unread)")
    out_limit = 64 * MIB
    srv = Server(1, ("--max-output-buffer", str(out_limit)))
    try:
        pid = srv.engine_pid()
        srpy.connect(srv.engine_uri(), output=None).eval("1")  # warm
        before = rss_mib(pid)
        peak = PeakRss(pid)
        stalled = Wire(srv.port, engine=0, rcvbuf=4096)
        for _ in range(10):
            stalled.send("eval", expr="b'x' * (64 << 20)")
        latencies, errors = bystander_calls(srv.engine_uri(), 8 if full else 4)
        logged = "output buffer limit exceeded" in srv.log()
        closed = stalled.closed_within(10)
        top = peak.stop()
        after = rss_mib(pid)
        p50 = statistics.median(latencies) * 1e3
        row.load = f"{len(latencies)} bystander evals, p50 {p50:.2f} ms"
        row.faults = (
            "offender closed, reason logged" if logged and closed else "offender kept"
        )
        row.bad_inputs = 10
        bound = before + out_limit / MIB + 2 * 64
        row.memory = (
            f"{before:.0f} → peak {top:.0f} → {after:.0f} MiB (bound {bound:.0f})"
        )
        row.lost = errors
        row.check(p50 < 5, f"bystander p50 {p50:.2f} ms ≥ 5 ms")
        row.check(top < bound, f"engine RSS peak {top:.0f} MiB over {bound:.0f}")
        row.check(logged and closed, "offender not closed with the reason logged")
    finally:
        srv.stop()
    return row


def flood(full: bool) -> Row:
    """Pings never read, then `wait`s while busy, never read."""
    seconds = 10 if full else 3
    row = Row(f"unread ping flood ({seconds} s) + wait flood while busy")
    srv = Server(1)
    try:
        pid = srv.engine_pid()
        uri = srv.engine_uri()
        by = srpy.connect(uri, output=None, timeout=30)
        by.eval("1")
        before = rss_mib(pid)
        sent = 0
        batch = request(1, "ping") * 1000
        w = Wire(srv.port, engine=0)
        w.sock.settimeout(0.2)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                w.sock.sendall(batch)
                sent += 1000
            except TimeoutError:
                time.sleep(0.05)  # the engine stopped reading us
        assert by.eval("2 + 2") == 4
        mid = rss_mib(pid)
        nthreads = threads(pid)
        # `wait` flood while busy.
        busy = srpy.connect(uri, output=None)
        job = threading.Thread(target=busy.exe, args=("import time; time.sleep(2)",))
        job.start()
        time.sleep(0.2)
        w2 = Wire(srv.port, engine=0)
        w2.sock.settimeout(0.2)
        waits = 0
        batch = request(1, "wait") * 1000
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            try:
                w2.sock.sendall(batch)
                waits += 1000
            except TimeoutError:
                time.sleep(0.05)
        job.join()
        after = rss_mib(pid)
        nthreads = max(nthreads, threads(pid))
        row.load = f"{sent} pings, {waits} waits sent unread; bystander ok"
        row.bad_inputs = sent + waits
        row.memory = f"{before:.0f} → {mid:.0f} → {after:.0f} MiB, {nthreads} threads"
        row.check(mid - before < 64, f"ping flood grew RSS by {mid - before:.0f} MiB")
        row.check(
            after - before < 64, f"wait flood grew RSS by {after - before:.0f} MiB"
        )
        row.check(nthreads <= 8, f"engine has {nthreads} threads")
        w.sock.close()
        w2.sock.close()
    finally:
        srv.stop()
    return row


def slow_handshakes(full: bool) -> Row:
    """300 connections from 127.0.0.2 send one byte a second and reconnect
    when closed; bystanders from 127.0.0.1 connect afresh and evaluate."""
    n, seconds = 300, (15 if full else 5)
    row = Row(f"{n} slow handshakes from one address")
    srv = Server(1, ("--handshake-timeout", "3", "--engine-ports", "auto"))
    try:
        targets = [srv.port, srv.engine_port()]
        stop = threading.Event()
        stats = {"connects": 0, "bytes": 0}

        def attacker() -> None:
            sel = selectors.DefaultSelector()
            socks: dict[socket.socket, int] = {}

            def open_one(port: int) -> None:
                s = socket.socket()
                s.bind(("127.0.0.2", 0))
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
                socks[s] = 0
                sel.register(s, selectors.EVENT_READ, port)
                stats["connects"] += 1

            for i in range(n):
                open_one(targets[i % 2])
            while not stop.is_set():
                tick = time.monotonic() + 1
                for s in list(socks):
                    if socks[s] < len(HELLO) - 1:
                        try:
                            s.send(HELLO[socks[s] : socks[s] + 1])
                            socks[s] += 1
                            stats["bytes"] += 1
                        except OSError:
                            pass
                while (left := tick - time.monotonic()) > 0:
                    for key, _ in sel.select(left):
                        s, port = key.fileobj, key.data
                        try:
                            data = s.recv(4096)
                        except OSError:
                            data = b""
                        if not data:  # refused or timed out: reconnect
                            sel.unregister(s)
                            del socks[s]
                            s.close()
                            open_one(port)
            for s in socks:
                s.close()

        t = threading.Thread(target=attacker, daemon=True)
        t.start()
        time.sleep(1)
        ok = tried = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            tried += 1
            try:
                e = srpy.connect(srv.engine_uri(), output=None, timeout=10)
                ok += e.eval("1 + 1") == 2
                e.close()
            except Exception as x:  # noqa: BLE001 (reported)
                print(f"  bystander failed: {type(x).__name__}: {x}", file=sys.stderr)
            time.sleep(0.05)
        stop.set()
        t.join()
        row.load = f"{ok}/{tried} fresh bystander connections succeeded"
        row.bad_inputs = stats["connects"]
        row.faults = f"{stats['connects']} attacker connects, {stats['bytes']} bytes"
        row.lost = tried - ok
        row.check(ok == tried and tried > 0, f"bystanders {ok}/{tried}")
    finally:
        srv.stop()
    return row


def many_clients(full: bool) -> Row:
    clients, calls = (200, 1000) if full else (20, 100)
    row = Row(f"{clients} clients × {calls} calls")
    srv = Server(2, ("--max-connections", "512"))
    try:
        pids = [srv.engine_pid(i) for i in range(2)]
        before = sum(rss_mib(p) for p in pids)
        errors, done = [], [0]
        lock = threading.Lock()

        def client(k: int) -> None:
            try:
                e = srpy.connect(srv.engine_uri(k % 2), output=None, timeout=120)
                for i in range(calls):
                    if e.eval(f"{i} * 2") != i * 2:
                        raise AssertionError("wrong result")
                e.close()
                with lock:
                    done[0] += calls
            except Exception as x:  # noqa: BLE001 (reported)
                with lock:
                    errors.append(f"{type(x).__name__}: {x}")

        t0 = time.monotonic()
        ts = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        took = time.monotonic() - t0
        after = sum(rss_mib(p) for p in pids)
        row.load = f"{done[0]} calls in {took:.1f} s ({done[0] / took:.0f}/s), {len(errors)} errors"
        row.memory = f"{before:.0f} → {after:.0f} MiB (2 engines)"
        row.lost = clients * calls - done[0]
        row.check(not errors, f"errors: {errors[:3]}")
    finally:
        srv.stop()
    return row


def soak(seconds: float) -> Row:
    """Mixed load for `seconds`: evals, 1 MiB set/get, a ping flood and
    idle connections closed and reopened, with RSS before and after."""
    row = Row(f"soak ({seconds:.0f} s)")
    srv = Server(2, ("--idle-timeout", "1"))
    try:
        pids = [srv.engine_pid(i) for i in range(2)]
        engines = [
            srpy.connect(srv.engine_uri(i), output=None, timeout=60) for i in range(2)
        ]
        for e in engines:
            e.set(blob=b"x" * MIB)
        before = sum(rss_mib(p) for p in pids)
        stop = threading.Event()
        counts = {"calls": 0, "errors": 0, "reconnects": 0}
        lock = threading.Lock()

        def worker(k: int) -> None:
            e = srpy.connect(srv.engine_uri(k % 2), output=None, timeout=60)
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    if k == 0 and i % 50 == 0:
                        time.sleep(1.3)  # idle past the timeout: reconnects
                        with lock:
                            counts["reconnects"] += 1
                    assert e.eval(f"{i} + 1") == i + 1
                    if i % 10 == 0:
                        e.set(mine=b"y" * MIB)
                        assert len(e.get("mine")) == MIB
                    with lock:
                        counts["calls"] += 1
                except Exception as x:  # noqa: BLE001 (reported)
                    print(f"  soak error: {type(x).__name__}: {x}", file=sys.stderr)
                    with lock:
                        counts["errors"] += 1

        ts = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
        for t in ts:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in ts:
            t.join()
        after = sum(rss_mib(p) for p in pids)
        row.load = f"{counts['calls']} calls, {counts['errors']} errors"
        row.faults = f"{counts['reconnects']} idle closes reconnected"
        row.memory = f"{before:.0f} → {after:.0f} MiB (2 engines)"
        row.lost = counts["errors"]
        row.check(counts["errors"] == 0, f"{counts['errors']} errors")
        row.check(after - before < 64, f"RSS grew by {after - before:.0f} MiB")
    finally:
        srv.stop()
    return row


def bad_frames(full: bool) -> Row:
    """Random bytes and random frames on fresh connections to the server and
    an engine; both stay up with the same pids."""
    n = 2000 if full else 300
    row = Row("garbage and malformed frames")
    srv = Server(1, ("--engine-ports", "auto"))
    try:
        pid, spid = srv.engine_pid(), srv.proc.pid
        rng = random.Random(13)
        ports = [srv.port, srv.engine_port()]
        for i in range(n):
            kind = i % 3
            if kind == 0:
                data = rng.randbytes(rng.randrange(1, 64))
            elif kind == 1:
                body = rng.randbytes(rng.randrange(0, 64))
                data = struct.pack(">I", len(body)) + body
            else:
                data = HELLO[: rng.randrange(1, len(HELLO))]
            s = socket.create_connection(("127.0.0.1", ports[i % 2]), timeout=5)
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                s.recv(4096)
            except OSError:
                pass
            s.close()
        e = srpy.connect(srv.engine_uri(), output=None, timeout=10)
        alive = (
            e.eval("40 + 2") == 42
            and srv.engine_pid() == pid
            and srv.proc.poll() is None
        )
        row.bad_inputs = n
        row.load = "bystander ok after" if alive else "bystander FAILED"
        row.faults = (
            f"server pid {spid}, engine pid {pid} unchanged" if alive else "restarted"
        )
        row.check(alive, "server or engine did not survive garbage")
    finally:
        srv.stop()
    return row


def kills(full: bool) -> Row:
    """kill -9 of an engine mid-call, then of the server mid-call (and a
    restart on the same port)."""
    row = Row("kill -9 engine / server mid-call")
    srv = Server(1)
    faults, lost = [], 0
    try:
        e = srpy.connect(srv.engine_uri(), output=None, timeout=30)
        e.set(x=1)
        pid = srv.engine_pid()
        result: list[object] = []
        t = threading.Thread(
            target=lambda: result.append(
                _outcome(lambda: e.exe("import time; time.sleep(5)"))
            )
        )
        t.start()
        time.sleep(0.5)
        os.kill(pid, signal.SIGKILL)
        t.join(15)
        faults.append(f"engine: {result[0] if result else 'HUNG'}")
        lost += not (result and result[0] == "EngineDiedError")
        deadline = time.monotonic() + 20
        while srv.engine_pid() == pid and time.monotonic() < deadline:
            time.sleep(0.1)
        ok = _outcome(lambda: e.eval("1 + 1")) == "ok"
        lost += not ok
        # The server itself.
        result.clear()
        t = threading.Thread(
            target=lambda: result.append(
                _outcome(lambda: e.exe("import time; time.sleep(5)"))
            )
        )
        t.start()
        time.sleep(0.5)
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
        t.join(15)
        faults.append(f"server: {result[0] if result else 'HUNG'}")
        lost += not (result and result[0] in ("EngineDiedError",))
        srv.start()  # same port
        ok = _outcome(lambda: e.eval("2 + 2")) == "ok"
        lost += not ok
        faults.append("restart: " + ("ok" if ok else "FAILED"))
        row.faults = "; ".join(faults)
        row.load = "calls in flight during each kill"
        row.lost = lost
        row.check(lost == 0, f"{lost} calls lost or hung: {faults}")
    finally:
        srv.stop()
    return row


def sigterm_map(full: bool) -> Row:
    """SIGTERM to the server during a map over its engines: the map ends
    with a typed error at once, the server exits, no engine is left."""
    row = Row("SIGTERM during a map")
    srv = Server(2)
    try:
        pids = [srv.engine_pid(i) for i in range(2)]
        box = srpy.EngBox(
            [srv.engine_uri(0), srv.engine_uri(1)], output=None, timeout=30
        )
        result: list[object] = []
        slow_item = "__import__('time').sleep(0.01) or x"
        t = threading.Thread(
            target=lambda: result.append(
                _outcome(lambda: box.map(slow_item, range(5000)))
            )
        )
        t.start()
        time.sleep(1)
        srv.proc.send_signal(signal.SIGTERM)
        code = srv.proc.wait(15)
        t.join(15)
        time.sleep(0.5)
        left = [p for p in pids if Path(f"/proc/{p}").exists()]
        outcome = result[0] if result else "HUNG"
        row.faults = f"map: {outcome}; server exit {code}; engines left {left}"
        row.load = "map of 5000 items on 2 engines"
        typed = outcome not in ("HUNG", "ok") and not outcome.startswith("untyped")
        row.lost = 0 if typed and not left else 1
        row.check(typed, f"map ended {outcome}")
        row.check(not left, f"engines left running: {left}")
    finally:
        srv.stop()
    return row


def _outcome(call: Callable[[], object]) -> str:
    """'ok', or the SRPy error class name ('untyped: …' for anything else)."""
    try:
        call()
        return "ok"
    except srpy.SRPyError as e:
        return type(e).__name__
    except Exception as e:  # noqa: BLE001 (that is the finding)
        return f"untyped: {type(e).__name__}: {e}"


# -- main --------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--full", action="store_true", help="issue-scale loads (the targets)"
    )
    ap.add_argument(
        "--soak", type=float, default=None, help="soak seconds (default 5, full 60)"
    )
    ap.add_argument(
        "--only", default=None, help="comma-separated scenario names to run"
    )
    args = ap.parse_args()
    soak_s = args.soak if args.soak is not None else (60 if args.full else 5)
    scenarios: dict[str, Callable[[], Row]] = {
        "slow_reader": lambda: slow_reader(args.full),
        "flood": lambda: flood(args.full),
        "slow_handshakes": lambda: slow_handshakes(args.full),
        "many_clients": lambda: many_clients(args.full),
        "soak": lambda: soak(soak_s),
        "bad_frames": lambda: bad_frames(args.full),
        "kills": lambda: kills(args.full),
        "sigterm_map": lambda: sigterm_map(args.full),
    }
    chosen = args.only.split(",") if args.only else list(scenarios)
    rows = []
    t0 = time.monotonic()
    for name in chosen:
        t = time.monotonic()
        try:
            row = scenarios[name]()
        except Exception as e:  # noqa: BLE001 (a crashed scenario is a miss)
            message = " ".join(str(e).split())
            row = Row(name, misses=[f"scenario failed: {type(e).__name__}: {message}"])
        print(f"  {name}: {time.monotonic() - t:.1f} s", file=sys.stderr)
        rows.append(row)
    head = [
        "scenario",
        "load held",
        "faults survived",
        "bad inputs",
        "memory",
        "lost",
        "result",
    ]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        result = "ok" if not r.misses else "MISSED: " + "; ".join(r.misses)
        cells = [
            r.scenario,
            r.load,
            r.faults,
            str(r.bad_inputs),
            r.memory,
            str(r.lost),
            result,
        ]
        print("| " + " | ".join(cells) + " |")
    missed = sum(bool(r.misses) for r in rows)
    print(
        f"\n{len(rows) - missed}/{len(rows)} scenarios met their targets "
        f"in {time.monotonic() - t0:.0f} s"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
