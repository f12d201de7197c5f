# -*- coding: utf-8 -*-
"""``srpy.Cluster`` in Jython: servers started on other hosts through the
system's own tools, and a box of their engines, with CPython's keywords.

The launching (ssh channels, tokens, addresses, stopping) is
``srpy_client::Cluster`` in Rust, through ``org.srpy.Cluster``; this
module translates the keywords and says what failed.
"""

import warnings

from java.time import Duration as _JDuration

import srpy
from srpy._box import EngBox
from srpy._errors import ClusterError, ClusterWarning, _jcall

__all__ = ["Cluster", "ClusterError", "ClusterWarning"]


def _warn(what, failures):
    for f in failures:
        warnings.warn("host %s %s: %s" % (f.getHost(), what, f.getReason()), ClusterWarning, stacklevel=3)


def _seconds(t):
    return None if t is None else _JDuration.ofNanos(long(t * 1e9))


class Cluster(object):
    """Servers started on other hosts, one per host, each with a fresh
    random token, and :attr:`box`, an :class:`srpy.EngBox` of all their
    engines. Use it in a ``with`` block (which gives the box) or call
    :meth:`close`: either stops every server and waits for it.

    ``Cluster("ssh", hosts=[...])`` (keywords ``engines``,
    ``server_command``, ``ssh_command``, ``listen_host``, ``server_args``,
    ``token``, ``min_hosts``, ``start_timeout``, ``tunnel``) or ``Cluster("slurm",
    nodes=..., engines_per_node=..., time=..., partition=...)`` (and
    ``sbatch_args``, ``queue_timeout``, ``progress``), as in CPython; the
    other keywords (``connect_timeout``, ``tls_*``) are the engines'
    connect options. Raises :class:`ClusterError` naming each failed host
    and why.
    """

    def __init__(self, kind="ssh", hosts=(), engines="auto", nodes=None, engines_per_node="auto",
                 time=None, partition=None, sbatch_args=(), queue_timeout=None, progress=True,
                 server_command=None, ssh_command=None, listen_host=None, server_args=(),
                 min_hosts=None, start_timeout=60.0, token=None, tunnel=False,
                 **engine_options):
        from org.srpy import Cluster as _JCluster
        connect = srpy._connect_options(**engine_options)
        if kind == "slurm":
            o = (_JCluster.SlurmOptions().enginesPerNode(unicode(engines_per_node)).time(time)
                 .partition(partition).sbatchArgs(list(sbatch_args)).serverCommand(server_command)
                 .listenHost(listen_host).serverArgs(list(server_args))
                 .startTimeout(_seconds(start_timeout)).queueTimeout(_seconds(queue_timeout))
                 .progress(bool(progress)))
            if nodes is not None:
                o = o.nodes(int(nodes))
            self._j = _jcall(_JCluster.slurm, o, connect)
        elif kind != "ssh":
            raise ValueError("unknown cluster kind %r (known: 'ssh', 'slurm')" % (kind,))
        elif isinstance(hosts, basestring) or not hosts:
            raise ValueError("hosts must be a non-empty list of host names")
        else:
            o = (_JCluster.SshOptions(list(hosts)).engines(unicode(engines)).serverCommand(server_command)
                 .listenHost(listen_host).serverArgs(list(server_args)).minHosts(int(min_hosts or 0))
                 .startTimeout(_seconds(start_timeout)).token(token).tunnel(bool(tunnel)))
            if ssh_command is not None:
                o = o.sshCommand(list(ssh_command))
            self._j = _jcall(_JCluster.ssh, o, connect)
        _warn("did not start", self._j.getFailures())
        #: The box of every engine of every server.
        self.box = EngBox(_java=self._j.getBox())

    @property
    def slurm_job(self):
        """The Slurm job the cluster submitted (None inside an allocation)."""
        return self._j.getSlurmJob()

    @property
    def uris(self):
        """The servers' addresses, in host order."""
        return list(self._j.getUris())

    @property
    def hosts(self):
        """The hosts whose server started."""
        return list(self._j.getHosts())

    @property
    def failures(self):
        """``[(host, reason)]`` of the hosts that did not start."""
        return [(f.getHost(), f.getReason()) for f in self._j.getFailures()]

    @property
    def lost_hosts(self):
        """``[(host, reason)]`` of the hosts lost since they started."""
        return [(f.getHost(), f.getReason()) for f in self._j.getLostHosts()]

    def tokens(self):
        """The servers' tokens, in host order."""
        return [str(t) for t in self._j.getTokens()]

    def close(self):
        """Closes the engines, warns about lost hosts, stops every server
        and waits for it. Idempotent."""
        if self.__dict__.get("_closed"):
            return
        self._closed = True
        _warn("was lost", self._j.getLostHosts())
        self._j.close()

    def __enter__(self):
        return self.box

    def __exit__(self, *exc):
        self.close()
