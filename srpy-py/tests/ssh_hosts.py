"""Three "hosts" for the ssh cluster tests: network namespaces on a bridge
of their own (10.98.N.0/24, N random), each running a real OpenSSH
``sshd`` with a host key, a client key and a ``known_hosts`` made here.
The namespaces share this machine's file system, so the ``srpy`` of this
interpreter is what every host runs.

Needs root, ``ip`` and ``/usr/sbin/sshd`` (``.ci/run`` installs
openssh-server); :func:`unavailable` says what is missing.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def unavailable() -> str | None:
    """Why the hosts cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, sshd)"
    for tool in ("ip", "ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"needs {tool} (apt-get install iproute2 openssh-client)"
    if not os.access(SSHD, os.X_OK):
        return f"needs {SSHD} (apt-get install openssh-server)"
    return None


def _run(*cmd: str) -> str:
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


class Hosts:
    """``names`` (ssh aliases ``h1``…), ``ssh_command`` (``ssh -F
    config``), ``address(name)``, ``pids(name)`` (processes in its
    namespace), ``firewall(name)``, ``silence(name)``, ``take_down(name)``;
    :meth:`close`
    removes everything."""

    def __init__(self, tmp: Path, count: int = 3) -> None:
        self.tmp = tmp
        self.tag = f"{random.randrange(16**4):04x}"
        self.net = random.randrange(1, 255)
        self.bridge = f"srpybr{self.tag}"
        self.names = [f"h{i + 1}" for i in range(count)]
        self.namespaces = {n: f"srpy-{self.tag}-{n}" for n in self.names}
        self.sshd: dict[str, subprocess.Popen[bytes]] = {}
        try:
            self._network()
            self._keys()
            for name in self.names:
                self._start_sshd(name)
        except BaseException:
            self.close()
            raise

    def address(self, name: str) -> str:
        return f"10.98.{self.net}.{self.names.index(name) + 2}"

    @property
    def ssh_command(self) -> list[str]:
        return ["ssh", "-F", str(self.tmp / "ssh_config")]

    def _network(self) -> None:
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"10.98.{self.net}.1/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        for i, name in enumerate(self.names):
            ns, outside, inside = self.namespaces[name], f"vs{self.tag}{i}", f"vp{self.tag}{i}"
            _run("ip", "netns", "add", ns)
            _run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
            _run("ip", "link", "set", inside, "netns", ns)
            _run("ip", "link", "set", outside, "master", self.bridge)
            _run("ip", "link", "set", outside, "up")
            inns = ("ip", "netns", "exec", ns)
            _run(*inns, "ip", "link", "set", "lo", "up")
            _run(*inns, "ip", "addr", "add", f"{self.address(name)}/24", "dev", inside)
            _run(*inns, "ip", "link", "set", inside, "up")

    def _keys(self) -> None:
        t = self.tmp
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(t / "host_key"))
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(t / "id_client"))
        shutil.copy(t / "id_client.pub", t / "authorized_keys")
        host_pub = (t / "host_key.pub").read_text().split()[:2]
        (t / "known_hosts").write_text(
            "".join(f"{self.address(n)} {' '.join(host_pub)}\n" for n in self.names)
        )
        lines = []
        for name in self.names:
            lines += [f"Host {name}", f"  HostName {self.address(name)}"]
        # h-refused: an address where nothing listens (the bridge itself).
        lines += ["Host h-refused", f"  HostName 10.98.{self.net}.1"]
        lines += [
            "Host *",
            "  User root",
            f"  IdentityFile {t / 'id_client'}",
            "  IdentitiesOnly yes",
            f"  UserKnownHostsFile {t / 'known_hosts'}",
            "  GlobalKnownHostsFile /dev/null",
            "  StrictHostKeyChecking yes",
            "  ConnectTimeout 5",
            "  GSSAPIAuthentication no",
            "  ServerAliveInterval 1",
            "  ServerAliveCountMax 3",
        ]
        (t / "ssh_config").write_text("\n".join(lines) + "\n")
        for f in ("host_key", "id_client", "ssh_config"):
            (t / f).chmod(0o600)

    def _start_sshd(self, name: str) -> None:
        t = self.tmp
        config = t / f"sshd_{name}.conf"
        config.write_text(
            "\n".join(
                [
                    f"ListenAddress {self.address(name)}:22",
                    f"HostKey {t / 'host_key'}",
                    f"AuthorizedKeysFile {t / 'authorized_keys'}",
                    "StrictModes no",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "PermitRootLogin prohibit-password",
                    "PidFile none",
                    "LogLevel ERROR",
                    "UseDNS no",
                ]
            )
            + "\n"
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        ns = self.namespaces[name]
        log = open(t / f"sshd_{name}.log", "wb")  # noqa: SIM115 (kept by the process)
        self.sshd[name] = subprocess.Popen(
            ["ip", "netns", "exec", ns, SSHD, "-D", "-e", "-f", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.sshd[name].poll() is not None:
                raise RuntimeError(f"sshd of {name} exited: {(t / f'sshd_{name}.log').read_text()}")
            probe = subprocess.run(
                ["ip", "netns", "exec", ns, "ss", "-Htln", "sport = :22"],
                check=False, capture_output=True,
                text=True,
            )
            if probe.stdout.strip():
                return
            time.sleep(0.05)
        raise RuntimeError(f"sshd of {name} did not listen within 10 s")

    def pids(self, name: str) -> list[int]:
        """Processes in the host's namespace (sshd included)."""
        out = subprocess.run(
            ["ip", "netns", "pids", self.namespaces[name]], check=False, capture_output=True, text=True
        ).stdout
        return [int(p) for p in out.split()]

    def srpy_pids(self, name: str) -> list[int]:
        """Processes in the host's namespace running srpy (server, engines)."""
        found = []
        for pid in self.pids(name):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"srpy" in cmdline:
                found.append(pid)
        return found

    def firewall(self, name: str) -> None:
        """Lets nothing into the host but ssh: an ``nft`` table inside its
        namespace accepts loopback and TCP to port 22 and drops the rest.
        Needs ``nft`` (``.ci/run`` installs nftables)."""
        nft = ("ip", "netns", "exec", self.namespaces[name], "nft")
        _run(*nft, "add table inet wall")
        _run(*nft, "add chain inet wall input { type filter hook input priority 0; policy drop; }")
        _run(*nft, "add rule inet wall input iif lo accept")
        _run(*nft, "add rule inet wall input tcp dport 22 accept")

    def silence(self, name: str) -> None:
        """Drops all the host's traffic without a word: its link goes
        down inside its namespace, its processes keep running. Peers see
        no reset, no FIN, nothing: a hung or unplugged host."""
        i = self.names.index(name)
        _run("ip", "netns", "exec", self.namespaces[name], "ip", "link", "set", f"vp{self.tag}{i}", "down")

    def take_down(self, name: str) -> None:
        """Kills everything in the host's namespace (sshd, server, engines)
        with SIGKILL, as a crash would, then cuts its link: the host is
        gone. The link is cut once the processes are gone, so their
        connections were reset as a crashed host's are (a host that
        vanishes without a reset is :meth:`silence`)."""
        pids = self.pids(name)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while self.pids(name) and time.monotonic() < deadline:
            time.sleep(0.02)
        i = self.names.index(name)
        subprocess.run(["ip", "link", "del", f"vs{self.tag}{i}"], check=False, capture_output=True)

    def close(self) -> None:
        for name in self.names:
            self.take_down(name)
            proc = self.sshd.get(name)
            if proc is not None:
                proc.wait(timeout=10)
            subprocess.run(["ip", "netns", "del", self.namespaces[name]], check=False, capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], check=False, capture_output=True)
