"""The ``srpy`` command: the jobs a user reaches for first.

``srpy server ...`` runs a server (the options of ``srpy-server``);
``srpy status URI`` shows a server's engines; ``srpy exec URI CODE``,
``srpy eval URI EXPR`` and ``srpy ping URI`` talk to one engine (or, for
ping, to a server); ``srpy cluster up|down`` starts and stops servers on
other hosts (``srpy._cluster_cli``). Errors go to stderr; the exit status is 0 on success,
1 when the operation failed (a remote exception, an unreachable server),
2 for a bad command line.
"""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

_EPILOG = """\
URIs: srpy://HOST:PORT names a server, srpy://HOST:PORT/INDEX one of its engines.
The token comes from --token-file, else the SRPY_TOKEN environment variable.
Exit status: 0 success, 1 the operation failed (remote exception, no server), 2 bad usage.
Run 'srpy COMMAND --help' for a command's options."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """clap's layout: ``Usage:`` and capitalised section titles."""

    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, "Usage: " if prefix is None else prefix)

    def start_section(self, heading: str | None) -> None:
        titles = {"positional arguments": "Arguments", "options": "Options"}
        super().start_section(titles.get(heading or "", heading))


def _parser() -> argparse.ArgumentParser:
    from srpy import __version__

    parser = argparse.ArgumentParser(
        prog="srpy",
        description="Run and talk to SRPy engines (remote CPython interpreters).",
        epilog=_EPILOG,
        formatter_class=_Formatter,
        add_help=False,
    )
    parser.add_argument("-h", "--help", action="help", help="Print help")
    parser.add_argument("-V", "--version", action="version", version=f"srpy {__version__}",
                        help="Print version")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", title="Commands", required=True
    )

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, help=help_, description=help_, formatter_class=_Formatter, epilog=_EPILOG,
            add_help=False,
        )
        sub.add_argument("-h", "--help", action="help", help="Print help")
        return sub

    def connection(sub: argparse.ArgumentParser, what: str) -> None:
        sub.add_argument("uri", metavar="URI", help=what)
        sub.add_argument("--token-file", metavar="FILE", help="file holding the server's token")
        sub.add_argument("--tls-pin", metavar="FINGERPRINT",
                         help="verify a TLS server by this SHA-256 fingerprint")
        sub.add_argument("--tls-ca", metavar="FILE", help="verify a TLS server by this CA (PEM)")
        sub.add_argument(
            "--timeout", type=float, metavar="SECONDS", help="give up after this long"
        )

    commands.add_parser(
        "server",
        help="run a server (the options of srpy-server: 'srpy server --help')",
        add_help=False,
    )
    connection(command("status", "show a server's engines: pid, host, busy, RSS, uptime, restarts"),
               "the server, srpy://HOST:PORT")
    sub = command("exec", "run Python statements in an engine (its output is shown)")
    connection(sub, "the engine, srpy://HOST:PORT/INDEX")
    sub.add_argument("code", metavar="CODE", help="the statements")
    sub = command("eval", "evaluate a Python expression in an engine and print its repr")
    connection(sub, "the engine, srpy://HOST:PORT/INDEX")
    sub.add_argument("expr", metavar="EXPR", help="the expression")
    from srpy._cluster_cli import add_commands

    add_commands(command("cluster", "start servers on other hosts over ssh or Slurm (up) and stop them (down)"))
    connection(command("ping", "check that a server or an engine answers"),
               "a server (srpy://HOST:PORT) or an engine (srpy://HOST:PORT/INDEX)")
    return parser


def _token(path: str | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as fh:
        return fh.read().strip()


def _tls(args: argparse.Namespace) -> dict[str, str] | None:
    from srpy import _uri

    return _uri.tls_options(tls_ca=args.tls_ca, tls_pin=args.tls_pin)


def _engine(args: argparse.Namespace) -> Any:
    from srpy import _uri
    from srpy._client import PythonEngine
    from srpy._errors import InvalidURI

    if _uri.split_uri(args.uri)[2] is None:
        raise InvalidURI(f"{args.uri} names a server: name one engine, {args.uri}/INDEX")

    def show(stream: str, text: str) -> None:
        (sys.stderr if stream == "stderr" else sys.stdout).write(text)

    return PythonEngine(args.uri, token=_token(args.token_file), timeout=args.timeout, output=show,
                        tls_ca=args.tls_ca, tls_pin=args.tls_pin)


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / (1 << 20):.1f} MiB"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _status(args: argparse.Namespace) -> int:
    from srpy._client import PythonEngine
    from srpy._srpy import RawServer

    token = _token(args.token_file)
    server = RawServer.connect(args.uri, token, tls=_tls(args))
    try:
        info = server.whoami()
    finally:
        server.close()
    rows = [["INDEX", "PID", "HOST", "BUSY", "RSS", "UPTIME", "RESTARTS"]]
    for e in info["engines"]:
        busy = "-"
        if e.get("alive"):
            with PythonEngine(f"{args.uri.rstrip('/')}/{e['index']}", token=token,
                              timeout=args.timeout, output=None, tls_ca=args.tls_ca,
                              tls_pin=args.tls_pin) as eng:
                busy = "yes" if eng.isBusy() else "no"
        rows.append([
            str(e["index"]),
            str(e["pid"]) if e.get("pid") is not None else "-",
            f"{e.get('host', '?')}:{e['port']}",
            busy if e.get("alive") else "down",
            _size(e.get("rss")),
            _duration(e.get("uptime")),
            str(e.get("restarts", "-")),
        ])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(f"{info.get('name', '?')} ({args.uri}), {len(rows) - 1} engine(s)")
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    return EXIT_OK


def _ping(args: argparse.Namespace) -> int:
    from srpy import _uri

    if _uri.split_uri(args.uri)[2] is None:
        from srpy._srpy import RawServer

        server = RawServer.connect(args.uri, _token(args.token_file), tls=_tls(args))
        try:
            print(server.ping())
        finally:
            server.close()
    else:
        with _engine(args) as eng:
            print(eng.ping())
    return EXIT_OK


def _exec(args: argparse.Namespace) -> int:
    with _engine(args) as eng:
        eng.exe(args.code)
    return EXIT_OK


def _eval(args: argparse.Namespace) -> int:
    with _engine(args) as eng:
        print(repr(eng.eval(args.expr)))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``srpy`` command; returns its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["server"]:
        from srpy.server import run

        return run(argv[1:])
    args = _parser().parse_args(argv)
    from srpy._errors import SRPyError

    try:
        if args.command == "cluster":
            from srpy import _cluster_cli

            try:
                return {"up": _cluster_cli.up, "down": _cluster_cli.down}[args.action](args)
            except _cluster_cli.UsageError as exc:
                print(f"srpy cluster {args.action}: error: {exc}", file=sys.stderr)
                return EXIT_USAGE
        return {"status": _status, "exec": _exec, "eval": _eval, "ping": _ping}[args.command](args)
    except SRPyError as exc:
        print(f"srpy {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        print(f"srpy {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
