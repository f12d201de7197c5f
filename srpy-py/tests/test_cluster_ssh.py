"""``srpy.Cluster("ssh", ...)`` against real OpenSSH servers: three hosts
as network namespaces, each with its own ``sshd`` (``ssh_hosts.py``).

Skipped, with the reason, when the machine cannot make them (not root, no
sshd); under CI (``CI`` set) that is a failure instead: CI runs as root
with openssh-server installed by ``.ci/run``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import srpy
from ssh_hosts import Hosts, unavailable

PY = sys.executable
SERVER_COMMAND = f"{PY} -m srpy.server"


def skip_unless(why: str | None) -> None:
    """Skips the test when something it needs is missing (``why``), or
    fails it under CI, which installs everything."""
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"ssh cluster tests cannot run in CI: {why}")
        pytest.skip(why)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    skip_unless(unavailable())
    h = Hosts(tmp_path_factory.mktemp("ssh-hosts"))
    yield h
    h.close()


def options(hosts: Hosts, **more: object) -> dict[str, object]:
    return {
        "ssh_command": hosts.ssh_command,
        "server_command": SERVER_COMMAND,
        "output": None,
        **more,
    }


def wait_until(what: str, cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def no_srpy_left(hosts: Hosts) -> dict[str, list[int]]:
    return {n: hosts.srpy_pids(n) for n in hosts.names if hosts.srpy_pids(n)}


def test_map_over_three_hosts_then_nothing_left(hosts: Hosts) -> None:
    with srpy.Cluster("ssh", hosts=hosts.names, engines=2, **options(hosts)) as box:
        assert len(box.engines) == 6
        # Every engine runs in its host's namespace: its address is there.
        seen = set(box.map("__import__('socket').gethostname() and x", range(6)))
        assert seen == set(range(6))
        where = {e.uri.split("//")[1].split(":")[0] for e in box.engines}
        assert where == {hosts.address(n) for n in hosts.names}
        # Across hosts over TLS, each server verified by the pin it printed.
        assert all(e.uri.startswith("srpys://") for e in box.engines), box.engines
        assert box.map("x * x", range(200)) == [x * x for x in range(200)]
        running = {n: hosts.srpy_pids(n) for n in hosts.names}
        # One server and two engines per host.
        assert all(len(p) == 3 for p in running.values()), running
    # The context manager's exit waited for every server to stop.
    assert no_srpy_left(hosts) == {}


def test_unreachable_host_is_named(hosts: Hosts) -> None:
    with pytest.raises(srpy.ClusterError) as caught:
        srpy.Cluster("ssh", hosts=["h1", "h-refused"], engines=1, **options(hosts))
    failed = dict(caught.value.failures)
    assert list(failed) == ["h-refused"]
    assert "Connection refused" in failed["h-refused"]
    assert "h-refused" in str(caught.value)
    # h1 started, and was stopped again.
    wait_until("h1 stopped", lambda: not hosts.srpy_pids("h1"))


def test_min_hosts_goes_on_with_a_warning(hosts: Hosts) -> None:
    with pytest.warns(srpy.ClusterWarning, match="h-refused did not start"):
        cluster = srpy.Cluster(
            "ssh", hosts=["h1", "h-refused"], engines=1, min_hosts=1, **options(hosts)
        )
    try:
        assert cluster.hosts == ["h1"]
        assert cluster.box.map("x + 1", [1, 2]) == [2, 3]
    finally:
        cluster.close()
    assert no_srpy_left(hosts) == {}


def test_missing_server_command_is_named(hosts: Hosts) -> None:
    opts = options(hosts, server_command="/nonexistent/python3 -m srpy.server")
    with pytest.raises(srpy.ClusterError, match="cannot run the server command") as caught:
        srpy.Cluster("ssh", hosts=["h2"], engines=1, **opts)
    assert [h for h, _ in caught.value.failures] == ["h2"]


def test_a_host_with_another_srpy_version_is_named(hosts: Hosts, tmp_path: Path) -> None:
    # This server's serving line says it is SRPy 0.0.1 (rewritten on its
    # way out): the launcher refuses the host, names it, and stops it.
    old = tmp_path / "old-srpy-server"
    old.write_text(
        "#!/bin/sh\n"
        f'{SERVER_COMMAND} "$@" | sed -u "s/^srpy-server [^ ]* serving /srpy-server 0.0.1 serving /"\n'
    )
    old.chmod(0o755)
    opts = options(hosts, server_command=str(old))
    with pytest.raises(srpy.ClusterError, match="runs SRPy 0.0.1") as caught:
        srpy.Cluster("ssh", hosts=["h2"], engines=1, **opts)
    assert [h for h, _ in caught.value.failures] == ["h2"]
    assert "install the same version there" in caught.value.failures[0][1]
    wait_until("nothing left on h2", lambda: not hosts.srpy_pids("h2"))


def test_kill_9_of_the_client_leaves_no_process_on_any_host(
    hosts: Hosts, tmp_path: Path
) -> None:
    script = tmp_path / "client.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys, time, srpy
            c = srpy.Cluster("ssh", hosts={hosts.names!r}, engines=1,
                             ssh_command={hosts.ssh_command!r},
                             server_command={SERVER_COMMAND!r})
            print("ready", flush=True)
            time.sleep(600)
            """
        )
    )
    client = subprocess.Popen([PY, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout is not None
        assert client.stdout.readline().strip() == "ready"
        assert all(hosts.srpy_pids(n) for n in hosts.names)
        os.kill(client.pid, signal.SIGKILL)
        client.wait()
        wait_until("every host's server and engines gone", lambda: not no_srpy_left(hosts))
    finally:
        client.kill()
        client.wait()


@pytest.mark.parametrize(
    "lose",
    [
        # Destroyed: every process killed, connections reset.
        "take_down",
        # Gone silent: its link goes down, no reset; only the clients'
        # keepalive can tell (within DEAD_PEER_TIMEOUT, 10 s).
        "silence",
    ],
)
def test_a_host_lost_mid_map_is_reported_and_its_chunks_run_elsewhere(
    tmp_path_factory: pytest.TempPathFactory, hosts: Hosts, lose: str
) -> None:
    # Hosts of their own: h2 is lost 1 s into the map.
    own = Hosts(tmp_path_factory.mktemp(f"ssh-{lose}"), count=2)
    opts = options(own)
    if lose == "silence":
        # An ssh configuration without ServerAliveInterval (ssh's default):
        # the launcher's own ssh keepalive still names the silent host lost
        # (ssh gives up after 3 probes unanswered at 5 s).
        config = Path(own.ssh_command[-1])
        plain = config.with_name("ssh_config_no_keepalive")
        lines = config.read_text().splitlines()
        plain.write_text("\n".join(x for x in lines if "ServerAlive" not in x) + "\n")
        plain.chmod(0o600)
        opts["ssh_command"] = ["ssh", "-F", str(plain)]
    try:
        cluster = srpy.Cluster("ssh", hosts=own.names, engines=1, **opts)
        try:
            loser = threading.Timer(1.0, getattr(own, lose), args=("h2",))
            loser.start()
            # In a thread, so that a map that never ends fails the test (and
            # ends when the cluster closes).
            pool = ThreadPoolExecutor(1)
            mapping = pool.submit(
                cluster.box.map, "__import__('time').sleep(0.1) or x", range(40), chunksize=2
            )
            try:
                results = mapping.result(timeout=20)
            finally:
                pool.shutdown(wait=False)
            loser.join()
            assert results == list(range(40))
            assert cluster.box.knownDead() == [1]  # h2's engine
            wait_until("h2 reported lost", lambda: cluster.lost_hosts, timeout=30)
            assert [h for h, _ in cluster.lost_hosts] == ["h2"]
            with pytest.warns(srpy.ClusterWarning, match="h2 was lost"):
                cluster.close()
        finally:
            cluster.close()
        if lose == "take_down":
            assert no_srpy_left(own) == {}
    finally:
        own.close()


def test_a_call_longer_than_the_dead_peer_timeout_is_not_a_lost_host(hosts: Hosts) -> None:
    # The host's kernel answers the keepalive probes while the engine
    # computes: a quiet connection to a live host stays (12 s > 10 s).
    with srpy.Cluster("ssh", hosts=["h1"], engines=1, **options(hosts)) as box:
        assert box.engines[0].eval("__import__('time').sleep(12) or 'done'") == "done"
        assert box.knownDead() == []


def test_a_tunnel_reaches_a_host_that_lets_in_nothing_but_ssh(
    tmp_path_factory: pytest.TempPathFactory, hosts: Hosts
) -> None:
    skip_unless(None if shutil.which("nft") else "needs nft (apt-get install nftables)")
    walled = Hosts(tmp_path_factory.mktemp("ssh-walled"), count=1)
    try:
        walled.firewall("h1")
        # Without the tunnel the server starts but cannot be reached.
        with pytest.raises(srpy.ClusterError, match="host h1 .*connecting to srpys://10.98") as e:
            srpy.Cluster("ssh", hosts=["h1"], engines=1, connect_timeout=1.0, **options(walled))
        assert [h for h, _ in e.value.failures] == ["h1"]
        assert isinstance(e.value.__cause__, srpy.SRPyTimeoutError)
        wait_until("h1 stopped", lambda: not walled.srpy_pids("h1"))
        with srpy.Cluster("ssh", hosts=["h1"], engines=2, tunnel=True, **options(walled)) as box:
            assert box.map("x * x", range(20)) == [x * x for x in range(20)]
            # Through a local port of this machine, over TLS with the pin.
            assert {e.uri.rsplit(":", 1)[0] for e in box.engines} == {"srpys://127.0.0.1"}
            # On the host, the server listens on its loopback only.
            listening = subprocess.run(
                ["ip", "netns", "exec", walled.namespaces["h1"], "ss", "-Htln"],
                check=True, capture_output=True, text=True,
            ).stdout
            ports = [line.split()[3] for line in listening.splitlines()]
            assert [p for p in ports if not p.endswith(":22")], listening
            assert all(p.startswith("127.0.0.1:") for p in ports if not p.endswith(":22")), ports
        assert no_srpy_left(walled) == {}
    finally:
        walled.close()


@pytest.mark.parametrize("tunnel", [[], ["--tunnel"]], ids=["direct", "tunnel"])
def test_shell_cluster_up_and_down(hosts: Hosts, tmp_path: Path, tunnel: list[str]) -> None:
    uri_file = tmp_path / "cluster.uris"
    srpy_cmd = [PY, "-m", "srpy"]
    up = subprocess.Popen(
        [
            *srpy_cmd, "cluster", "up", "--ssh", "h1,h3", "--uri-file", str(uri_file),
            "--engines", "1", "--ssh-command", " ".join(hosts.ssh_command),
            "--server-command", SERVER_COMMAND, *tunnel,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until("the URI file", uri_file.exists, timeout=30)
        assert (uri_file.stat().st_mode & 0o777) == 0o600
        token_file = Path(f"{uri_file}.token")
        assert (token_file.stat().st_mode & 0o777) == 0o600
        # Each server's line carries the pin of its TLS certificate.
        lines = uri_file.read_text().splitlines()[1:]
        assert [line.split()[1] for line in lines] == ["tls-pin", "tls-pin"], lines
        local = [line.startswith("srpys://127.0.0.1:") for line in lines]
        assert local == [bool(tunnel)] * 2, lines
        box = srpy.EngBox(token=token_file.read_text().strip())
        box.startAndAppendFromFile(str(uri_file))
        try:
            assert box.map("x * 3", [1, 2]) == [3, 6]
            assert len(box.engines) == 2
            assert all(e.uri.startswith("srpys://") for e in box.engines), box.engines
        finally:
            box.close()
        # A pin changed on the way is refused, naming both fingerprints.
        uri, _, pin = lines[0].split()[:3]
        flipped = pin[:-1] + ("0" if pin[-1] != "0" else "1")
        tampered = tmp_path / "tampered.uris"
        tampered.write_text(f"{uri} tls-pin {flipped}\n")
        with pytest.raises(srpy.AuthError, match="does not match the pinned fingerprint"):
            srpy.EngBox(token=token_file.read_text().strip()).startAndAppendFromFile(str(tampered))
        status = subprocess.run(
            [*srpy_cmd, "status", uri, "--token-file", str(token_file), "--tls-pin", pin],
            check=False, capture_output=True, text=True,
        )
        assert status.returncode == 0, status.stderr
        assert "1 engine(s)" in status.stdout, status.stdout
        down = subprocess.run(
            [*srpy_cmd, "cluster", "down", str(uri_file)], check=False, capture_output=True, text=True
        )
        assert down.returncode == 0, down.stderr
        assert up.wait(timeout=10) == 0
        assert not uri_file.exists() and not token_file.exists()
        assert no_srpy_left(hosts) == {}
    finally:
        up.kill()
        up.wait()
