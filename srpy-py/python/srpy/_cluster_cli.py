"""``srpy cluster up`` / ``srpy cluster down``: a :class:`srpy.Cluster`
from the shell.

``srpy cluster up --ssh a,b,c --uri-file F`` starts the servers and stays
in the foreground (run it with ``&``, ``nohup`` or in a terminal
multiplexer) until ``srpy cluster down F``, SIGTERM or Ctrl-C; then it
stops every server and waits for them. ``F`` (mode 0600) holds a comment
line with this process's id, then one server per line, its address and
the pin of its TLS certificate (``srpys://h:p tls-pin sha256:FP  # host``),
as :meth:`srpy.EngBox.startAndAppendFromFile` reads it. The
servers share one token, written to ``--token-file`` (default ``F.token``,
mode 0600); both files are removed when the cluster stops.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from pathlib import Path

__all__ = ["add_commands", "down", "up"]

PID_PREFIX = "# srpy cluster pid "


def add_commands(sub: argparse.ArgumentParser) -> None:
    """The ``up`` and ``down`` subcommands of ``srpy cluster``."""
    actions = sub.add_subparsers(dest="action", metavar="ACTION", title="Actions", required=True)
    up_ = actions.add_parser("up", help="start servers on hosts over ssh; runs until 'down'")
    up_.add_argument("--ssh", required=True, metavar="HOST,HOST,...", help="the hosts (ssh names)")
    up_.add_argument("--uri-file", required=True, metavar="FILE", help="where to write the addresses")
    up_.add_argument("--token-file", metavar="FILE", help="where to write the token (default FILE.token)")
    up_.add_argument("--engines", default="auto", help="engines per host: a number or 'auto'")
    up_.add_argument("--server-command", metavar="CMD", help="remote command (default: python3 -m srpy.server)")
    up_.add_argument("--ssh-command", metavar="CMD", help="ssh program and options (default: ssh)")
    up_.add_argument("--min-hosts", type=int, metavar="N", help="go on when N hosts started")
    up_.add_argument("--start-timeout", type=float, default=60.0, metavar="SECONDS")
    down_ = actions.add_parser("down", help="stop the cluster of a URI file and wait for it")
    down_.add_argument("uri_file", metavar="FILE", help="the --uri-file of 'srpy cluster up'")
    down_.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def up(args: argparse.Namespace) -> int:
    import secrets
    import shlex
    import warnings

    from srpy._cluster import Cluster

    uri_file = Path(args.uri_file)
    token_file = Path(args.token_file or f"{args.uri_file}.token")
    token = secrets.token_hex(32).encode()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        cluster = Cluster(
            "ssh",
            hosts=[h for h in args.ssh.split(",") if h],
            engines=args.engines,
            server_command=args.server_command,
            ssh_command=None if args.ssh_command is None else shlex.split(args.ssh_command),
            min_hosts=args.min_hosts,
            start_timeout=args.start_timeout,
            token=token,
            output=None,
        )
    try:
        _write_private(token_file, token.decode() + "\n")
        lines = [f"{PID_PREFIX}{os.getpid()}"]
        lines += [
            f"{uri} tls-pin {pin}  # {host}" if pin else f"{uri}  # {host}"
            for host, uri, pin in zip(cluster.hosts, cluster.uris, cluster.tls_pins, strict=True)
        ]
        _write_private(uri_file, "\n".join(lines) + "\n")
        print(f"srpy cluster: {len(cluster.uris)} server(s), {len(cluster.box.engines)} engine(s); "
              f"addresses in {uri_file}, token in {token_file}", flush=True)
        reported: set[str] = set()
        while not stop.wait(0.5):
            for host, reason in cluster.lost_hosts:
                if host not in reported:
                    reported.add(host)
                    print(f"srpy cluster: host {host} lost: {reason}", flush=True)
    finally:
        cluster.close()
        for f in (uri_file, token_file):
            f.unlink(missing_ok=True)
    return 0


def down(args: argparse.Namespace) -> int:
    path = Path(args.uri_file)
    first = path.read_text().splitlines()[:1]
    if not first or not first[0].startswith(PID_PREFIX):
        raise OSError(f"{path} was not written by 'srpy cluster up' (no '{PID_PREFIX}N' line)")
    pid = int(first[0][len(PID_PREFIX):])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the cluster (pid {pid}) did not stop within {args.timeout} s")
        time.sleep(0.1)
    return 0
