"""Server processes of the benchmark, one per ``python servers.py KIND``.

Each binds an ephemeral loopback port, prints one line (``PORT n`` or
``URI u``) on stdout, and serves until its client goes away or it is
terminated:

- ``floor``: raw TCP (the physical limit): 16-byte echo, push and pull of
  N bytes with ``sendall``/``recv_into``, TCP_NODELAY on both ends.
- ``rpyc``: the RPyC classic server (what ``rpyc_classic.py`` runs):
  ``ThreadedServer(SlaveService)``.
- ``pyro5``: a Pyro5 daemon with one exposed object.
- ``bare``: an idle interpreter that answers one line on stdin (the floor of
  cold start and of idle RSS).
"""

from __future__ import annotations

import socket
import sys


def _recv_exact_into(sock: socket.socket, view: memoryview) -> None:
    got = 0
    n = len(view)
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError
        got += k


def floor() -> None:
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    print("PORT", lst.getsockname()[1], flush=True)
    conn, _ = lst.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray(1)
    small = bytearray(16)
    sview = memoryview(small)
    head = bytearray(9)
    hview = memoryview(head)
    try:
        while True:
            _recv_exact_into(conn, hview[:1])
            kind = head[0]
            if kind == ord("p"):
                sview[0] = kind
                _recv_exact_into(conn, sview[1:])
                conn.sendall(small)
            elif kind in (ord("u"), ord("d")):
                _recv_exact_into(conn, hview[1:9])
                n = int.from_bytes(head[1:9], "big")
                if len(buf) < n:
                    buf = bytearray(n)
                view = memoryview(buf)[:n]
                if kind == ord("u"):
                    _recv_exact_into(conn, view)
                    conn.sendall(b"k")
                else:
                    conn.sendall(view)
            else:
                return
    except (EOFError, ConnectionError):
        return


def rpyc_server() -> None:
    from rpyc.core.service import SlaveService
    from rpyc.utils.server import ThreadedServer

    server = ThreadedServer(SlaveService, hostname="127.0.0.1", port=0, reuse_addr=True)
    print("PORT", server.port, flush=True)
    server.start()


def pyro5_server() -> None:
    import importlib

    import Pyro5.api

    benchtasks = importlib.import_module("benchtasks")

    @Pyro5.api.expose
    class Engine:
        """An engine as a Pyro5 user writes one: a namespace and methods."""

        def __init__(self) -> None:
            self.ns: dict = {}

        def eval(self, expr: str):
            return eval(expr, self.ns)

        def set(self, name: str, value) -> None:
            self.ns[name] = value

        def get(self, name: str):
            return self.ns[name]

        def set_array(self, name: str, buf: bytes, dtype: str, shape: list[int]) -> None:
            self.ns[name] = benchtasks.array_from_bytes(buf, dtype, shape)

        def get_array(self, name: str) -> tuple:
            a = self.ns[name]
            return a.tobytes(), a.dtype.str, list(a.shape)

        def call(self, func: str, arg):
            return getattr(benchtasks, func)(arg)

        def pid(self) -> int:
            import os

            return os.getpid()

    daemon = Pyro5.api.Daemon(host="127.0.0.1", port=0)
    uri = daemon.register(Engine(), objectId="engine")
    print("URI", uri, flush=True)
    daemon.requestLoop()


def bare() -> None:
    import os

    print("PID", os.getpid(), flush=True)
    for line in sys.stdin:
        print(line.strip(), flush=True)


if __name__ == "__main__":
    {"floor": floor, "rpyc": rpyc_server, "pyro5": pyro5_server, "bare": bare}[sys.argv[1]]()
