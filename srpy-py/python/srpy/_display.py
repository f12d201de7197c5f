"""How engines, boxes, maps and map errors show themselves: a short plain
``repr`` and an HTML table (``_repr_html_``) for notebooks.

The state of an engine comes from what is cheap to ask and never waits
behind Python work:

- busy / idle / dead: the immediate ``is_busy`` op, every engine at once,
  at most :data:`STATUS_TIMEOUT` seconds; a connection that fails is dead,
  one that stays silent that long is ``no answer`` (a loaded or far host is
  not a dead one);
- pid and restarts: the engine directory in the welcome of the engine's
  server (one connection per server, same time limit);
- RSS: ``/proc/<pid>`` when the engine runs on this machine; for an idle
  engine elsewhere, the ``rss`` of its ``whoami``.

A fact that cannot be had shows as ``-``.
"""

from __future__ import annotations

import html
import socket

from srpy import _uri
from srpy._errors import SRPyTimeoutError
from srpy._executor import process_rss
from srpy._srpy import RawBox, RawServer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

    from srpy._client import PythonEngine

__all__ = [
    "STATUS_TIMEOUT",
    "EngineInfo",
    "engine_rows",
    "engines_html",
    "html_table",
    "rss_text",
    "short_state",
    "state_counts",
]

#: Seconds a display waits at most for an engine or a server. The engine's
#: network thread answers ``is_busy`` even while Python runs, so only a
#: host that is overloaded or unreachable without a reset takes this long.
STATUS_TIMEOUT = 3.0

_COLUMNS = ("engine", "host", "pid", "state", "RSS", "restarts", "uri")


def _directories(engines: Sequence[PythonEngine]) -> dict[tuple[str, int], dict[int, dict]]:
    """Each server's engine directory (index → entry), from its welcome."""
    out: dict[tuple[str, int], dict[int, dict]] = {}
    for e in engines:
        key = (e.ip, e.port)
        if key in out or e.closed:
            continue
        out[key] = {}
        try:
            host, port, _ = _uri.split_uri(e.uri)
            server = RawServer.connect(
                f"srpy://{host}:{port}", e._token, STATUS_TIMEOUT, tls=e._tls
            )
        except Exception:  # noqa: BLE001, S112 - an unreachable server shows nothing
            continue
        try:
            info = server.info if isinstance(server.info, dict) else {}
            for entry in info.get("engines") or ():
                if isinstance(entry, dict) and isinstance(entry.get("index"), int):
                    out[key][entry["index"]] = entry
        finally:
            server.close()
    return out


def engine_rows(engines: Sequence[PythonEngine], detail: bool = True) -> list[dict[str, Any]]:
    """The state of ``engines``, one dict per engine: ``engine`` (index on
    its server), ``host``, ``pid``, ``state`` (``busy``, ``idle``, ``dead``,
    ``no answer`` or ``closed``), ``rss`` (bytes or None), ``restarts`` (or None), ``uri``.
    Without ``detail`` only the state is asked (no RSS, no restarts)."""
    engines = list(engines)
    if not engines:
        return []
    busy = RawBox(engines, [None] * len(engines)).request_all("is_busy", None, STATUS_TIMEOUT)
    directories = _directories(engines) if detail else {}
    here = socket.gethostname()
    rows: list[dict[str, Any]] = []
    idle_remote: list[int] = []
    for e, (ok, value) in zip(engines, busy, strict=True):
        entry = directories.get((e.ip, e.port), {}).get(e.index if e.index is not None else -1, {})
        welcome = e._raw.info if isinstance(e._raw.info, dict) else {}
        pid = entry["pid"] if "pid" in entry else welcome.get("pid")
        if e.closed:
            state = "closed"
        elif entry.get("alive") is False:
            state = "dead"
        elif not ok:
            state = "no answer" if isinstance(value, SRPyTimeoutError) else "dead"
        else:
            state = "busy" if value else "idle"
        rss = None
        if detail and state != "dead" and e.hostname == here and isinstance(pid, int):
            rss = process_rss(pid)
        if detail and rss is None and state == "idle":
            idle_remote.append(len(rows))
        rows.append(
            {
                "engine": e.index,
                "host": e.hostname or e.ip,
                "pid": pid,
                "state": state,
                "rss": rss,
                "restarts": entry.get("restarts"),
                "uri": e.uri,
            }
        )
    # Idle engines elsewhere report their RSS themselves (all at once).
    futures = {i: engines[i].whoami_async(timeout=STATUS_TIMEOUT) for i in idle_remote}
    for i, f in futures.items():
        try:
            rss = f.result(STATUS_TIMEOUT + 1.0).get("rss")
        except Exception:  # noqa: BLE001, S112 - no RSS then
            continue
        rows[i]["rss"] = rss if isinstance(rss, int) else None
    return rows


def rss_text(rss: int | None) -> str:
    """``123.4 MiB``, or ``-``."""
    if rss is None:
        return "-"
    return f"{rss / 2**20:.1f} MiB"


def state_counts(rows: Iterable[dict[str, Any]]) -> str:
    """``3 idle, 1 busy``."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    return ", ".join(f"{n} {state}" for state, n in counts.items()) or "no engines"


def _cell(row: dict[str, Any], column: str) -> str:
    if column == "RSS":
        return rss_text(row["rss"])
    value = row[column]
    return "-" if value is None else str(value)


def html_table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[object]], after: str = ""
) -> str:
    """A table under a bold ``title`` (all text escaped), then the HTML
    ``after``."""
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return (
        f"<div class='srpy'><b>{esc(title)}</b><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>{after}</div>"
    )


def engines_html(rows: Sequence[dict[str, Any]], title: str) -> str:
    """The HTML table of ``engine_rows``."""
    return html_table(title, _COLUMNS, ([_cell(r, c) for c in _COLUMNS] for r in rows))


def short_state(row: dict[str, Any]) -> str:
    """``pid 4243 idle`` for one engine's row."""
    pid = row["pid"]
    return f"pid {pid if pid is not None else '-'} {row['state']}"


class EngineInfo(dict):
    """``PythonEngine.info()``: the engine's facts (a dict), shown one per
    line."""

    def __repr__(self) -> str:
        return "\n".join(f"{k}: {v}" for k, v in self.items())

    __str__ = __repr__

    def _repr_html_(self) -> str:
        return html_table("engine facts", ("fact", "value"), self.items())
