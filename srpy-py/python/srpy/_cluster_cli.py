"""``srpy cluster up`` / ``srpy cluster down``: a :class:`srpy.Cluster`
from the shell.

``srpy cluster up --ssh a,b,c --uri-file F`` (or ``--slurm --nodes N
...``: one server per node of a Slurm job) starts the servers and stays
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
import secrets
import signal
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["UsageError", "add_commands", "down", "up"]


class UsageError(ValueError):
    """Options of ``srpy cluster up`` that do not go together."""

PID_PREFIX = "# srpy cluster pid "


# The options of one launcher only (argument name: flag).
_SSH_ONLY = {"ssh_command": "--ssh-command", "min_hosts": "--min-hosts", "tunnel": "--tunnel"}
_SLURM_ONLY = {
    "nodes": "--nodes", "time": "--time", "partition": "--partition",
    "queue_timeout": "--queue-timeout",
}


def add_commands(sub: argparse.ArgumentParser) -> None:
    """The ``up`` and ``down`` subcommands of ``srpy cluster``."""
    actions = sub.add_subparsers(dest="action", metavar="ACTION", title="Actions", required=True)
    up_ = actions.add_parser(
        "up", help="start servers on hosts over ssh or in a Slurm job; runs until 'down'"
    )
    kind = up_.add_mutually_exclusive_group(required=True)
    kind.add_argument("--ssh", metavar="HOST,HOST,...", help="the hosts (ssh names)")
    kind.add_argument("--slurm", action="store_true",
                      help="one server per node of a Slurm job (sbatch), or of this allocation")
    up_.add_argument("--uri-file", required=True, metavar="FILE", help="where to write the addresses")
    up_.add_argument("--token-file", metavar="FILE", help="where to write the token (default FILE.token)")
    up_.add_argument("--engines", default="auto",
                     help="engines per host (ssh) or per node (slurm): a number or 'auto'")
    up_.add_argument("--server-command", metavar="CMD", help="remote command (default: python3 -m srpy.server)")
    up_.add_argument("--start-timeout", type=float, default=60.0, metavar="SECONDS")
    ssh = up_.add_argument_group("ssh")
    ssh.add_argument("--ssh-command", metavar="CMD", help="ssh program and options (default: ssh)")
    ssh.add_argument("--min-hosts", type=int, metavar="N", help="go on when N hosts started")
    ssh.add_argument("--tunnel", action="store_true",
                     help="reach each server through its ssh connection (no inbound port but ssh)")
    slurm = up_.add_argument_group("slurm")
    slurm.add_argument("--nodes", type=int, metavar="N",
                       help="nodes (default 1 for a job; all of this allocation inside one)")
    slurm.add_argument("--time", metavar="TIME", help="the job's time limit (sbatch --time)")
    slurm.add_argument("--partition", metavar="NAME", help="the job's partition (sbatch --partition)")
    slurm.add_argument("--queue-timeout", type=float, metavar="SECONDS",
                       help="give up when the job has not started by then")
    down_ = actions.add_parser("down", help="stop the cluster of a URI file and wait for it")
    down_.add_argument("uri_file", metavar="FILE", help="the --uri-file of 'srpy cluster up'")
    down_.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _cluster_options(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`srpy.Cluster` arguments of ``srpy cluster up``."""
    import shlex

    common = {"server_command": args.server_command, "start_timeout": args.start_timeout,
              "output": None}
    own, other = (_SLURM_ONLY, _SSH_ONLY) if args.slurm else (_SSH_ONLY, _SLURM_ONLY)
    wrong = [flag for name, flag in other.items() if getattr(args, name) not in (None, False)]
    if wrong:
        kind = "--slurm" if args.slurm else "--ssh"
        raise UsageError(f"{', '.join(wrong)} cannot be used with {kind}")
    given = {name: getattr(args, name) for name in own}
    if args.slurm:
        return {"kind": "slurm", "engines_per_node": args.engines, **given, **common}
    if given["ssh_command"] is not None:
        given["ssh_command"] = shlex.split(given["ssh_command"])
    return {
        "kind": "ssh", "hosts": [h for h in args.ssh.split(",") if h], "engines": args.engines,
        # One token for every server: the token file holds it.
        "token": secrets.token_hex(32).encode(), **given, **common,
    }


def up(args: argparse.Namespace) -> int:
    import warnings

    from srpy._cluster import Cluster

    uri_file = Path(args.uri_file)
    token_file = Path(args.token_file or f"{args.uri_file}.token")
    options = _cluster_options(args)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        cluster = Cluster(**options)
    try:
        # The servers share one token (ssh: given above; slurm: the job's).
        (token,) = set(cluster.tokens())
        _write_private(token_file, token.decode() + "\n")
        lines = [f"{PID_PREFIX}{os.getpid()}"]
        lines += [
            f"{uri} tls-pin {pin}  # {host}" if pin else f"{uri}  # {host}"
            for host, uri, pin in zip(cluster.hosts, cluster.uris, cluster.tls_pins, strict=True)
        ]
        _write_private(uri_file, "\n".join(lines) + "\n")
        job = f" (Slurm job {cluster.slurm_job})" if cluster.slurm_job else ""
        print(f"srpy cluster: {len(cluster.uris)} server(s){job}, {len(cluster.box.engines)} "
              f"engine(s); addresses in {uri_file}, token in {token_file}", flush=True)
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
