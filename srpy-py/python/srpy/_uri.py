"""SRPy addresses, and the tokens of servers this process started.

``srpy://host:port`` names a server, ``srpy://host:port/<index>`` one of its
engines (``srpys://`` over TLS); the scheme may be left out. Servers started by :func:`srpy.local`
and :func:`srpy.newSubEngine` have a random token; it is remembered here so
that ``PythonEngine(uri)`` finds it without being told.
"""

from __future__ import annotations

import os
import re
import threading

from srpy._errors import InvalidURI

__all__ = ["forget_token", "known_token", "remember_token", "split_uri", "tls_options"]

_URI = re.compile(
    r"^(?:srpys?://)?(?P<host>\[[^\]]+\]|[^:/\[\]@?#]+):(?P<port>\d+)(?:/(?P<index>\d+))?/?$",
    re.IGNORECASE,
)

_tokens: dict[str, bytes] = {}
_lock = threading.Lock()


def split_uri(uri: str) -> tuple[str, int, int | None]:
    """``(host, port, index)`` of an address (``index`` is None for a server).

    >>> split_uri("srpy://127.0.0.1:7733/2")
    ('127.0.0.1', 7733, 2)
    >>> split_uri("[::1]:9000")
    ('[::1]', 9000, None)
    """
    m = _URI.match(uri.strip())
    if m is None or not 0 < int(m["port"]) < 65536:
        raise InvalidURI(
            f"invalid SRPy URI {uri!r}: expected srpy://host:port (a server) "
            "or srpy://host:port/<index> (an engine)"
        )
    index = m["index"]
    return m["host"], int(m["port"]), None if index is None else int(index)


def tls_options(
    tls_ca: str | os.PathLike[str] | None = None,
    tls_pin: str | None = None,
    tls_cert: str | os.PathLike[str] | None = None,
    tls_key: str | os.PathLike[str] | None = None,
) -> dict[str, str] | None:
    """The ``tls`` argument of the native ``connect`` calls from the
    ``tls_*`` keywords (``None`` when none is given)."""
    given = {"ca": tls_ca, "pin": tls_pin, "cert": tls_cert, "key": tls_key}
    tls = {k: os.fspath(v) for k, v in given.items() if v is not None}
    return tls or None


def _key(uri: str) -> str | None:
    try:
        host, port, _ = split_uri(uri)
    except InvalidURI:
        return None
    return f"{host.lower()}:{port}"


def remember_token(uri: str, token: bytes) -> None:
    """Remember the token of the server at ``uri`` (for its engines too)."""
    key = _key(uri)
    if key is not None:
        with _lock:
            _tokens[key] = bytes(token)


def forget_token(uri: str) -> None:
    key = _key(uri)
    if key is not None:
        with _lock:
            _tokens.pop(key, None)


def known_token(uri: str) -> bytes | None:
    """The token of a server this process started, if ``uri`` is one of its."""
    key = _key(uri)
    return None if key is None else _tokens.get(key)
