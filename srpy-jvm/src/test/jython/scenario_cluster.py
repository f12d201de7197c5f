# srpy.Cluster("ssh", ...) from Jython against real OpenSSH servers (the
# three hosts of SshHosts, made by JythonIT).
# Run: ... org.python.util.jython scenario_cluster.py SERVER_COMMAND SSH_COMMAND(tab-separated) HOST...
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, raises, report

import srpy

server_command = sys.argv[1]
ssh_command = sys.argv[2].split("\t")
hosts = sys.argv[3:]
options = dict(engines=1, server_command=server_command, ssh_command=ssh_command)


@check
def a_map_over_three_hosts():
    cluster = srpy.Cluster("ssh", hosts=hosts, **options)
    with cluster as box:
        assert isinstance(box, srpy.EngBox)
        assert cluster.hosts == hosts, cluster.hosts
        assert len(box) == 3
        assert all(u.startswith("srpys://") for u in cluster.uris), cluster.uris
        assert len(set(u.split("//")[1].split(":")[0] for u in cluster.uris)) == 3, cluster.uris
        assert box.map_expr("x * x", range(30)) == [x * x for x in range(30)]
        assert cluster.failures == [] and cluster.lost_hosts == []
    cluster.close()     # idempotent


@check
def an_unreachable_host_is_named():
    e = raises(srpy.ClusterError, srpy.Cluster, "ssh", hosts=[hosts[0], "h-refused"], **options)
    assert [h for h, _ in e.failures] == ["h-refused"], e.failures
    assert "Connection refused" in e.failures[0][1], e.failures
    assert "1 of 2 host(s) started, 2 needed" in str(e), str(e)


@check
def bad_keywords_are_refused():
    raises(ValueError, srpy.Cluster, "pbs", hosts=hosts)
    raises(ValueError, srpy.Cluster, "ssh", hosts="h1")


report()
