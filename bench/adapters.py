"""One adapter per library: how each is started and used in its natural,
documented way. Each adapter runs inside a fresh child interpreter
(``compare.py --child``), so imports, threads and caches never leak from one
library to another.

Every adapter offers the same operations:

- ``start(n)`` / ``stop()``: start ``n`` engines on loopback and connect to
  them; stop everything that was started;
- ``one_plus_one()``: one remote ``1 + 1`` round trip on engine 0;
- ``push(value)`` / ``pull()``: send a ``bytes`` value to engine 0 and bind
  it there / fetch it back;
- ``push_array(a)`` / ``pull_array()``: the same with a numpy array;
- ``map(func, items)``: the library's parallel map over all engines;
- ``engine_pids()``: the engine processes (for their RSS).

``how`` documents, per workload, the calls used (it goes into the report).
A workload an adapter has no natural form for raises :class:`NotAvailable`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

HERE = Path(__file__).resolve().parent
SERVERS = str(HERE / "servers.py")


class NotAvailable(Exception):
    """The library has no natural form for this workload."""


def spawn(kind: str) -> tuple[subprocess.Popen[str], str]:
    """Starts ``servers.py KIND`` and returns it with the value of its first
    line (a port or a URI)."""
    proc = subprocess.Popen(
        [sys.executable, SERVERS, kind],
        stdin=subprocess.PIPE if kind == "bare" else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if len(line) != 2:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"servers.py {kind} did not start (exit {proc.poll()})")
    return proc, line[1]


def stop_procs(procs: Sequence[subprocess.Popen[Any]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Adapter:
    name = "?"
    how: ClassVar[dict[str, str]] = {}

    def start(self, n: int) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def one_plus_one(self) -> Any:
        raise NotImplementedError

    def push(self, value: bytes) -> None:
        raise NotImplementedError

    def pull(self) -> bytes:
        raise NotImplementedError

    def push_array(self, a: Any) -> None:
        raise NotImplementedError

    def pull_array(self) -> Any:
        raise NotImplementedError

    def map(self, func: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        raise NotImplementedError

    def engine_pids(self) -> list[int]:
        raise NotImplementedError


# ---------------------------------------------------------------------------
# the floor: raw loopback TCP
# ---------------------------------------------------------------------------


def _recv_exact_into(sock: socket.socket, view: memoryview) -> None:
    got = 0
    n = len(view)
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError("floor server closed")
        got += k


class Floor(Adapter):
    """Raw loopback TCP between two Python processes (TCP_NODELAY,
    ``sendall``/``recv_into`` into a preallocated buffer): what any library
    has to pay at least."""

    name = "tcp"
    how: ClassVar[dict[str, str]] = {
        "rtt": "16-byte `sendall` + `recv_into` echo, TCP_NODELAY",
        "bulk": "`sendall` of the buffer + 1-byte ack (push); request + `recv_into` (pull)",
        "array": "the 64 MiB bytes transfer (an array is its buffer)",
    }

    def start(self, n: int) -> None:
        self.proc, port = spawn("floor")
        self.sock = socket.create_connection(("127.0.0.1", int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.msg = b"p" * 16
        self.back = bytearray(16)
        self.size = 0
        self.buf = bytearray(0)

    def stop(self) -> None:
        try:
            self.sock.sendall(b"q")
            self.sock.close()
        finally:
            stop_procs([self.proc])

    def one_plus_one(self) -> int:
        self.sock.sendall(self.msg)
        _recv_exact_into(self.sock, memoryview(self.back))
        return 2

    def push(self, value: bytes) -> None:
        self.size = len(value)
        self.sock.sendall(b"u" + len(value).to_bytes(8, "big"))
        self.sock.sendall(value)
        _recv_exact_into(self.sock, memoryview(self.back)[:1])

    def pull(self) -> bytes:
        n = self.size
        if len(self.buf) != n:
            self.buf = bytearray(n)
        self.sock.sendall(b"d" + n.to_bytes(8, "big"))
        _recv_exact_into(self.sock, memoryview(self.buf))
        return self.buf  # type: ignore[return-value]

    def push_array(self, a: Any) -> None:
        self.push(memoryview(a).cast("B"))  # type: ignore[arg-type]

    def pull_array(self) -> Any:
        import numpy as np

        return np.frombuffer(self.pull(), dtype="float64")

    def engine_pids(self) -> list[int]:
        return [self.proc.pid]


# ---------------------------------------------------------------------------
# SRPy
# ---------------------------------------------------------------------------


class SRPy(Adapter):
    name = "srpy"
    how: ClassVar[dict[str, str]] = {
        "rtt": '`eng.eval("1+1")`',
        "bulk": "`eng.set(x=data)` / `eng.get('x')`",
        "array": "`eng.set(a=arr)` / `eng.get('a')` (numpy wire form)",
        "map": "`box.map(func, items)` (EngBox over `srpy.local(engines=2)`)",
        "cold": "`srpy.local(engines=2)` then `eval('1+1')` on engine 0",
    }

    def start(self, n: int) -> None:
        import srpy

        self.cluster = srpy.local(engines=n, output=None)
        self.eng = self.cluster[0]
        self.box: Any = None
        box_cls = getattr(srpy, "EngBox", None)
        if hasattr(self.cluster, "map"):
            self.box = self.cluster
        elif box_cls is not None:
            self.box = box_cls(list(self.cluster))
        if self.box is None:
            self.how = {**self.how, "map": "FALLBACK (no EngBox in this srpy yet): chunks through "
                        "`eng.call_async('srpy._executor.map_chunk', ...)`"}

    def stop(self) -> None:
        self.cluster.close()

    def one_plus_one(self) -> Any:
        return self.eng.eval("1+1")

    def push(self, value: bytes) -> None:
        self.eng.set(x=value)

    def pull(self) -> bytes:
        return self.eng.get("x")

    def push_array(self, a: Any) -> None:
        self.eng.set(a=a)

    def pull_array(self) -> Any:
        return self.eng.get("a")

    def map(self, func: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        if self.box is not None:
            return list(self.box.map(func, items))
        # Fallback until EngBox lands: contiguous chunks, 4 per engine.
        engines = list(self.cluster)
        k = len(engines) * 4
        size = max(1, -(-len(items) // k))
        task = ["call", f"{func.__module__}.{func.__qualname__}"]
        futs = [
            engines[i % len(engines)].call_async(
                "srpy._executor.map_chunk", task, items[j : j + size]
            )
            for i, j in enumerate(range(0, len(items), size))
        ]
        out: list[Any] = []
        for f in futs:
            values, errors = f.result()
            if errors:
                raise RuntimeError(errors[0][2])
            out.extend(values)
        return out

    def engine_pids(self) -> list[int]:
        return [int(e.whoami()["pid"]) for e in self.cluster]


# ---------------------------------------------------------------------------
# RPyC (classic mode)
# ---------------------------------------------------------------------------


class RPyC(Adapter):
    name = "rpyc"
    how: ClassVar[dict[str, str]] = {
        "rtt": '`conn.eval("1+1")` (classic)',
        "bulk": "`conn.namespace['x'] = data` / `conn.namespace['x']` (bytes go by value; RPyC "
        "zlib-compresses every message over 3 kB by default, level 1, wasted on the "
        "incompressible payloads used here)",
        "array": "`rpyc.classic.deliver(conn, arr)` / `rpyc.classic.obtain(netref)` (pickle)",
        "map": "`rpyc.async_(conn.modules.benchtasks.f)` per item, round-robin over 2 connections",
        "cold": "2 × `ThreadedServer(SlaveService)` subprocesses + `rpyc.classic.connect_stream("
        "SocketStream.connect(host, port, nodelay=True))` (`classic.connect` without Nagle: "
        "with it, multi-segment messages stalled 40-60 ms on delayed ACKs)",
    }

    def start(self, n: int) -> None:
        import rpyc

        self.rpyc = rpyc
        self.procs: list[subprocess.Popen[str]] = []
        ports = []
        for _ in range(n):
            p, port = spawn("rpyc")
            self.procs.append(p)
            ports.append(int(port))
        # `rpyc.classic.connect` minus Nagle: without TCP_NODELAY, transfers of
        # a few segments stall on delayed ACKs (40-60 ms seen here).
        self.conns = [
            rpyc.classic.connect_stream(rpyc.SocketStream.connect("127.0.0.1", port, nodelay=True))
            for port in ports
        ]
        self.conn = self.conns[0]

    def stop(self) -> None:
        try:
            for c in getattr(self, "conns", []):
                c.close()
        finally:
            stop_procs(self.procs)

    def one_plus_one(self) -> Any:
        return self.conn.eval("1+1")

    def push(self, value: bytes) -> None:
        self.conn.namespace["x"] = value

    def pull(self) -> bytes:
        return self.conn.namespace["x"]

    def push_array(self, a: Any) -> None:
        self.conn.namespace["a"] = self.rpyc.classic.deliver(self.conn, a)

    def pull_array(self) -> Any:
        return self.rpyc.classic.obtain(self.conn.namespace["a"])

    def map(self, func: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        fs = [self.rpyc.async_(getattr(c.modules[func.__module__], func.__name__)) for c in self.conns]
        n = len(fs)
        pending = [fs[i % n](x) for i, x in enumerate(items)]
        return [r.value for r in pending]

    def engine_pids(self) -> list[int]:
        return [int(c.modules.os.getpid()) for c in self.conns]


# ---------------------------------------------------------------------------
# Pyro5
# ---------------------------------------------------------------------------


class Pyro5(Adapter):
    name = "pyro5"
    serializer = "marshal"

    def __init__(self) -> None:
        s = self.serializer
        self.how = {
            "rtt": f'`proxy.eval("1+1")` on an exposed object ({s} serializer)',
            "bulk": "`proxy.set('x', data)` / `proxy.get('x')` (exposed methods)",
            "array": "no numpy form: `arr.tobytes()` + dtype/shape, `np.frombuffer` on the other side",
            "map": "one proxy per engine, a thread per proxy, items handed out dynamically",
            "cold": "2 daemon subprocesses (`Daemon.register` + `requestLoop`) + `Proxy(uri)`",
        }

    def start(self, n: int) -> None:
        import Pyro5
        import Pyro5.api

        Pyro5.config.SERIALIZER = self.serializer
        self.api = Pyro5.api
        self.procs: list[subprocess.Popen[str]] = []
        self.uris = []
        for _ in range(n):
            p, uri = spawn("pyro5")
            self.procs.append(p)
            self.uris.append(uri)
        self.proxy = Pyro5.api.Proxy(self.uris[0])

    def stop(self) -> None:
        try:
            self.proxy._pyroRelease()
        finally:
            stop_procs(self.procs)

    def one_plus_one(self) -> Any:
        return self.proxy.eval("1+1")

    def push(self, value: bytes) -> None:
        self.proxy.set("x", value)

    def pull(self) -> bytes:
        return self.proxy.get("x")

    def push_array(self, a: Any) -> None:
        self.proxy.set_array("a", a.tobytes(), a.dtype.str, list(a.shape))

    def pull_array(self) -> Any:
        import numpy as np

        buf, dtype, shape = self.proxy.get_array("a")
        return np.frombuffer(buf, dtype=dtype).reshape(shape)

    def map(self, func: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        out: list[Any] = [None] * len(items)
        it = iter(enumerate(items))
        lock = threading.Lock()
        errors: list[BaseException] = []

        def work(uri: str) -> None:
            try:
                with self.api.Proxy(uri) as p:
                    while True:
                        with lock:
                            nxt = next(it, None)
                        if nxt is None:
                            return
                        out[nxt[0]] = p.call(func.__name__, nxt[1])
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(u,)) for u in self.uris]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return out

    def engine_pids(self) -> list[int]:
        pids = []
        for u in self.uris:
            with self.api.Proxy(u) as p:
                pids.append(int(p.pid()))
        return pids


class Pyro5Msgpack(Pyro5):
    name = "pyro5-msgpack"
    serializer = "msgpack"


# ---------------------------------------------------------------------------
# execnet
# ---------------------------------------------------------------------------

EXECNET_LOOP = """
import importlib
ns = {}
while True:
    msg = channel.receive()
    op = msg[0]
    if op == "eval":
        channel.send(eval(msg[1], ns))
    elif op == "set":
        ns[msg[1]] = msg[2]
        channel.send(None)
    elif op == "get":
        channel.send(ns[msg[1]])
    elif op == "setarr":
        import numpy
        ns[msg[1]] = numpy.frombuffer(msg[2], dtype=msg[3]).reshape(msg[4])
        channel.send(None)
    elif op == "getarr":
        a = ns[msg[1]]
        channel.send((a.tobytes(), a.dtype.str, list(a.shape)))
    elif op == "call":
        f = getattr(importlib.import_module(msg[1]), msg[2])
        channel.send(f(msg[3]))
    else:
        break
"""


class Execnet(Adapter):
    name = "execnet"
    how: ClassVar[dict[str, str]] = {
        "rtt": "`channel.send(('eval', '1+1'))` / `channel.receive()` to a `remote_exec` loop",
        "bulk": "`channel.send(('set', 'x', data))` / `('get', 'x')` through the loop",
        "array": "no numpy form: `arr.tobytes()` + dtype/shape through the channel",
        "map": "items sent round-robin down one channel per gateway (pipelined), then received",
        "cold": "2 × `execnet.makegateway('popen')` + `remote_exec(loop)`",
    }

    def start(self, n: int) -> None:
        import execnet

        self.group = execnet.Group()
        self.gws = [self.group.makegateway("popen") for _ in range(n)]
        self.chans = [gw.remote_exec(EXECNET_LOOP) for gw in self.gws]
        self.ch = self.chans[0]

    def stop(self) -> None:
        try:
            for ch in getattr(self, "chans", []):
                ch.send(("stop",))
        finally:
            self.group.terminate(timeout=5)

    def _rpc(self, *msg: Any) -> Any:
        self.ch.send(msg)
        return self.ch.receive()

    def one_plus_one(self) -> Any:
        return self._rpc("eval", "1+1")

    def push(self, value: bytes) -> None:
        self._rpc("set", "x", value)

    def pull(self) -> bytes:
        return self._rpc("get", "x")

    def push_array(self, a: Any) -> None:
        self._rpc("setarr", "a", a.tobytes(), a.dtype.str, list(a.shape))

    def pull_array(self) -> Any:
        import numpy as np

        buf, dtype, shape = self._rpc("getarr", "a")
        return np.frombuffer(buf, dtype=dtype).reshape(shape)

    def map(self, func: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        n = len(self.chans)
        mod, name = func.__module__, func.__name__
        for i, x in enumerate(items):
            self.chans[i % n].send(("call", mod, name, x))
        return [self.chans[i % n].receive() for i in range(len(items))]

    def engine_pids(self) -> list[int]:
        out = []
        for ch in self.chans:
            ch.send(("eval", "__import__('os').getpid()"))
            out.append(int(ch.receive()))
        return out


# ---------------------------------------------------------------------------
# ipyparallel
# ---------------------------------------------------------------------------


class IPyParallel(Adapter):
    name = "ipyparallel"
    how: ClassVar[dict[str, str]] = {
        "rtt": "`rc[0].apply_sync(add, 1, 1)`",
        "bulk": "`rc[0].push({'x': data}, block=True)` / `rc[0].pull('x', block=True)`",
        "array": "the same push/pull (ipyparallel's zero-copy numpy serialization)",
        "map": "`rc[:].map_sync(func, items)` (DirectView: one contiguous chunk per engine)",
        "cold": "`ipp.Cluster(n=2).start_and_connect_sync()` + `apply_sync`",
    }

    def start(self, n: int) -> None:
        import ipyparallel as ipp

        self.cluster = ipp.Cluster(n=n, log_level=40)
        self.rc = self.cluster.start_and_connect_sync()
        self.rc.wait_for_engines(n, timeout=120)
        self.v = self.rc[0]
        self.dv = self.rc[:]

    def stop(self) -> None:
        try:
            self.rc.close()
        finally:
            self.cluster.stop_cluster_sync()

    def one_plus_one(self) -> Any:
        from benchtasks import add

        return self.v.apply_sync(add, 1, 1)

    def push(self, value: bytes) -> None:
        self.v.push({"x": value}, block=True)

    def pull(self) -> bytes:
        return self.v.pull("x", block=True)

    def push_array(self, a: Any) -> None:
        self.v.push({"a": a}, block=True)

    def pull_array(self) -> Any:
        return self.v.pull("a", block=True)

    def map(self, func: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        return list(self.dv.map_sync(func, items))

    def engine_pids(self) -> list[int]:
        return [int(p) for p in self.dv.apply_sync(os.getpid)]


# ---------------------------------------------------------------------------
# Dask distributed
# ---------------------------------------------------------------------------


class Dask(Adapter):
    name = "dask"
    how: ClassVar[dict[str, str]] = {
        "rtt": "`client.submit(add, 1, 1, pure=False).result()` (Dask batches client → "
        "scheduler messages every 10 ms, `BatchedSend(interval='10ms')`, which sets its "
        "back-to-back round trip)",
        "bulk": "`client.scatter(data, workers=[w0], direct=True, hash=False)` / "
        "`client.gather(future, direct=True)`",
        "array": "the same scatter/gather (Dask's numpy serialization)",
        "map": "`client.gather(client.map(func, items, pure=False))`",
        "cold": "`LocalCluster(n_workers=2, processes=True, threads_per_worker=1)` + `Client` + "
        "`submit(...).result()` (the scheduler runs in the client process)",
    }

    def start(self, n: int) -> None:
        from dask.distributed import Client, LocalCluster

        self.cluster = LocalCluster(
            n_workers=n, processes=True, threads_per_worker=1, dashboard_address=None
        )
        self.client = Client(self.cluster)
        self.client.wait_for_workers(n)
        self.w0 = min(self.client.scheduler_info()["workers"])
        self.fut: Any = None

    def stop(self) -> None:
        try:
            self.fut = None
            self.client.close()
        finally:
            self.cluster.close()

    def one_plus_one(self) -> Any:
        from benchtasks import add

        return self.client.submit(add, 1, 1, pure=False).result()

    def push(self, value: bytes) -> None:
        self.fut = self.client.scatter(value, workers=[self.w0], direct=True, hash=False)

    def pull(self) -> bytes:
        return self.client.gather(self.fut, direct=True)

    def push_array(self, a: Any) -> None:
        self.push(a)

    def pull_array(self) -> Any:
        return self.pull()

    def map(self, func: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        return self.client.gather(self.client.map(func, items, pure=False))

    def engine_pids(self) -> list[int]:
        return [int(p) for p in self.client.run(os.getpid).values()]


ADAPTERS: dict[str, type[Adapter]] = {
    a.name: a
    for a in (Floor, SRPy, Pyro5, Pyro5Msgpack, RPyC, Execnet, IPyParallel, Dask)
}
