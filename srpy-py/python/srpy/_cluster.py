"""``srpy.Cluster``: servers started on other hosts through the system's
own tools, and a box of their engines.

>>> with srpy.Cluster("ssh", hosts=["a", "b"], engines="auto") as box:  # doctest: +SKIP
...     box.map(f, items)

The launching itself (ssh channels, tokens, addresses, stopping) is
``srpy_client::Cluster`` in Rust (``srpy._srpy.RawCluster``); this module
builds the :class:`srpy.EngBox` and says what failed.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from srpy._box import EngBox
from srpy._errors import SRPyError
from srpy._srpy import RawCluster

__all__ = ["Cluster", "ClusterError", "ClusterWarning"]


class ClusterError(SRPyError):
    """Too few hosts started. ``failures``: ``[(host, reason)]``."""

    def __init__(self, message: str, failures: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.failures: list[tuple[str, str]] = list(failures)


class ClusterWarning(UserWarning):
    """A host did not start (``min_hosts`` let the cluster go on), or was
    lost while the cluster ran."""


def _warn(what: str, failures: Sequence[tuple[str, str]]) -> None:
    for host, reason in failures:
        warnings.warn(f"host {host} {what}: {reason}", ClusterWarning, stacklevel=3)


class Cluster:
    """Servers started on other hosts, one per host, each with a fresh
    random token, and :attr:`box`, an :class:`srpy.EngBox` of all their
    engines. Use it in a ``with`` block (which gives the box) or call
    :meth:`close`: either stops every server and waits for it.

    ``Cluster("ssh", hosts=[...])``: over the system's OpenSSH client
    (``~/.ssh/config``, keys, agents and ``ProxyJump`` apply). Keywords:
    ``engines`` (per host, a number or ``"auto"``), ``server_command``
    (the remote command, default ``python3 -m srpy.server``),
    ``ssh_command`` (e.g. ``["ssh", "-F", "config"]``), ``listen_host``,
    ``server_args``, ``token`` (every server's; default a fresh random
    one per host), ``min_hosts`` (go on, with a :class:`ClusterWarning`,
    when at least this many started; default all), ``start_timeout``,
    ``tunnel`` (reach each server through its ssh connection, a port of
    127.0.0.1 forwarded to the server on the host's loopback: the host
    needs no inbound port but ssh); the rest are :class:`srpy.PythonEngine`
    options.

    ``Cluster("slurm", nodes=..., engines_per_node=..., time=...,
    partition=...)``: one server per node, started by ``srun``; inside an
    allocation in it, else in a job submitted with ``sbatch`` (a progress
    line on stderr while it is queued; ``queue_timeout``, ``sbatch_args``,
    ``progress``), cancelled with ``scancel`` at the end. Raises
    :class:`ClusterError` naming each failed host and why.
    """

    def __init__(
        self,
        kind: str = "ssh",
        *,
        hosts: Sequence[str] = (),
        engines: int | str = "auto",
        nodes: int | None = None,
        engines_per_node: int | str = "auto",
        time: str | None = None,
        partition: str | None = None,
        sbatch_args: Sequence[str] = (),
        queue_timeout: float | None = None,
        progress: bool = True,
        server_command: str | None = None,
        ssh_command: Sequence[str] | None = None,
        listen_host: str | None = None,
        server_args: Sequence[str] = (),
        min_hosts: int | None = None,
        start_timeout: float = 60.0,
        token: str | bytes | None = None,
        tunnel: bool = False,
        **engine_options: Any,
    ) -> None:
        if kind == "slurm":
            self._raw = RawCluster.slurm(
                nodes,
                str(engines_per_node),
                time,
                partition,
                list(sbatch_args),
                server_command,
                listen_host,
                list(server_args),
                start_timeout,
                queue_timeout,
                progress,
            )
        elif kind != "ssh":
            raise ValueError(f"unknown cluster kind {kind!r} (known: 'ssh', 'slurm')")
        elif isinstance(hosts, str) or not hosts:
            raise ValueError("hosts must be a non-empty list of host names")
        else:
            self._raw = self._ssh(
                hosts, engines, server_command, ssh_command, listen_host, server_args,
                min_hosts, start_timeout, token, tunnel,
            )
        self._connect(engine_options)

    @staticmethod
    def _ssh(
        hosts: Sequence[str],
        engines: int | str,
        server_command: str | None,
        ssh_command: Sequence[str] | None,
        listen_host: str | None,
        server_args: Sequence[str],
        min_hosts: int | None,
        start_timeout: float,
        token: str | bytes | None,
        tunnel: bool,
    ) -> RawCluster:
        return RawCluster.ssh(
            list(hosts),
            str(engines),
            server_command,
            None if ssh_command is None else list(ssh_command),
            listen_host,
            list(server_args),
            min_hosts,
            start_timeout,
            token.encode() if isinstance(token, str) else token,
            tunnel,
        )

    def _connect(self, engine_options: dict[str, Any]) -> None:
        _warn("did not start", self._raw.failures())
        self.box = EngBox()
        try:
            for host, uri, server_token, _version, pin in self._raw.servers():
                options = dict(engine_options)
                if pin is not None:
                    options.setdefault("tls_pin", pin)
                try:
                    self.box.startAndAppend(uri, token=bytes(server_token), **options)
                except SRPyError as e:
                    # Started, but not reachable from here (a firewall, the
                    # wrong listen address): name the host, as for a host
                    # that did not start.
                    reason = f"its server started but cannot be reached: {e}"
                    raise ClusterError(f"host {host} ({uri}): {reason}", [(host, reason)]) from e
        except BaseException:
            self.close()
            raise

    @property
    def slurm_job(self) -> str | None:
        """The Slurm job the cluster submitted (None inside an allocation)."""
        return self._raw.slurm_job()

    @property
    def uris(self) -> list[str]:
        """The servers' addresses (``srpy://host:port``), in host order."""
        return [uri for _host, uri, *_ in self._raw.servers()]

    @property
    def tls_pins(self) -> list[str | None]:
        """The pins of the servers' TLS certificates (``sha256:…``, None for
        a plaintext server), in host order."""
        return [pin for *_, pin in self._raw.servers()]

    @property
    def hosts(self) -> list[str]:
        """The hosts whose server started."""
        return [host for host, *_ in self._raw.servers()]

    @property
    def failures(self) -> list[tuple[str, str]]:
        """``[(host, reason)]`` of the hosts that did not start."""
        return self._raw.failures()

    @property
    def lost_hosts(self) -> list[tuple[str, str]]:
        """``[(host, reason)]`` of the hosts lost since they started."""
        return self._raw.lost_hosts()

    def tokens(self) -> list[bytes]:
        """The servers' tokens, in host order (whoever has one can run any
        code on that host)."""
        return [bytes(token) for _host, _uri, token, *_ in self._raw.servers()]

    def close(self) -> None:
        """Closes the engines, warns about lost hosts, stops every server
        and waits for it. Idempotent."""
        box = self.__dict__.get("box")
        if box is not None:
            box.close()
        _warn("was lost", self._raw.lost_hosts())
        self._raw.stop()

    def __enter__(self) -> EngBox:
        return self.box

    def __exit__(self, *exc: object) -> None:
        self.close()
