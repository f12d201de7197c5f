"""A real single-node Slurm for the Slurm cluster tests: a private
``munged`` (own key and socket), ``slurmctld`` and ``slurmd`` with a
``slurm.conf`` of their own (private ports, no cgroups), in a temporary
folder; ``env`` points ``sbatch``/``srun``/``scancel`` at it
(``SLURM_CONF``). Needs root and slurm-wlm + munge (``.ci/run`` installs
them); :func:`unavailable` says what is missing.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DAEMONS = {"munged": "/usr/sbin/munged", "slurmctld": "/usr/sbin/slurmctld", "slurmd": "/usr/sbin/slurmd"}


def unavailable() -> str | None:
    """Why the node cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root (slurmd, munged)"
    for name, path in DAEMONS.items():
        if not os.access(path, os.X_OK):
            return f"needs {name} (apt-get install slurm-wlm munge)"
    for tool in ("sbatch", "srun", "scancel", "squeue", "sinfo"):
        if shutil.which(tool) is None:
            return f"needs {tool} (apt-get install slurm-client)"
    return None


class SlurmNode:
    """``env`` (for the commands), ``node`` (its name); :meth:`close`
    stops the daemons and the jobs."""

    def __init__(self) -> None:
        # munged wants every folder above its socket searchable by all:
        # not so under pytest's private tmp_path.
        tmp = self.tmp = Path(tempfile.mkdtemp(prefix="srpy-slurm-"))
        tmp.chmod(0o711)
        self.node = socket.gethostname()
        port = random.randrange(20000, 30000, 2)
        self.env = {**os.environ, "SLURM_CONF": str(tmp / "slurm.conf")}
        for name in ("SLURM_JOB_ID", "SLURM_JOB_NUM_NODES", "SLURM_JOBID"):
            self.env.pop(name, None)
        self.pids: list[int] = []
        try:
            self._munged()
            self._config(port)
            self._start(["/usr/sbin/slurmctld", "-c"], tmp / "ctld.pid")
            self._start(["/usr/sbin/slurmd"], tmp / "d.pid")
            self._await_idle()
        except BaseException:
            self.close()
            raise

    def _munged(self) -> None:
        t = self.tmp
        (t / "munge.key").write_bytes(os.urandom(128))
        (t / "munge.key").chmod(0o600)
        started = subprocess.run(
            [
                DAEMONS["munged"], f"--socket={t / 'munge.sock'}", f"--key-file={t / 'munge.key'}",
                f"--pid-file={t / 'munged.pid'}", f"--log-file={t / 'munged.log'}",
                f"--seed-file={t / 'munged.seed'}",
            ],
            check=False,
            capture_output=True,
            text=True,
        )
        if started.returncode != 0:
            raise RuntimeError(f"munged failed: {started.stderr.strip()}")
        self.pids.append(int((t / "munged.pid").read_text()))

    def _config(self, port: int) -> None:
        t = self.tmp
        for d in ("ctld", "d"):
            (t / d).mkdir()
        cpus = os.cpu_count() or 1
        (t / "slurm.conf").write_text(
            "\n".join(
                [
                    "ClusterName=srpytest",
                    f"SlurmctldHost={self.node}(127.0.0.1)",
                    f"SlurmctldPort={port}",
                    f"SlurmdPort={port + 1}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "AuthType=auth/munge",
                    "CredType=cred/munge",
                    f"AuthInfo=socket={t / 'munge.sock'}",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core",
                    "ReturnToService=2",
                    "MpiDefault=none",
                    "JobCompType=jobcomp/none",
                    f"StateSaveLocation={t / 'ctld'}",
                    f"SlurmdSpoolDir={t / 'd'}",
                    f"SlurmctldPidFile={t / 'ctld.pid'}",
                    f"SlurmdPidFile={t / 'd.pid'}",
                    f"SlurmctldLogFile={t / 'ctld.log'}",
                    f"SlurmdLogFile={t / 'd.log'}",
                    f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN",
                    f"PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
                ]
            )
            + "\n"
        )

    def _start(self, cmd: list[str], pid_file: Path) -> None:
        subprocess.run(cmd, env=self.env, check=True, capture_output=True)
        deadline = time.monotonic() + 10
        while not pid_file.exists() or not pid_file.read_text().strip():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{cmd[0]} wrote no pid file: {self.logs()}")
            time.sleep(0.05)
        self.pids.append(int(pid_file.read_text()))

    def _await_idle(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            out = subprocess.run(
                ["sinfo", "-h", "-o", "%t"], env=self.env, check=False, capture_output=True, text=True
            ).stdout.strip()
            if out == "idle":
                return
            time.sleep(0.2)
        raise RuntimeError(f"the Slurm node did not become idle: {self.logs()}")

    def logs(self) -> str:
        text = []
        for name in ("ctld.log", "d.log", "munged.log"):
            p = self.tmp / name
            if p.exists():
                text.append(f"--- {name}\n" + "\n".join(p.read_text().splitlines()[-10:]))
        return "\n".join(text)

    def squeue(self) -> list[str]:
        out = subprocess.run(
            ["squeue", "-h", "-o", "%i %T"], env=self.env, check=False, capture_output=True, text=True
        ).stdout
        return out.split("\n") if out.strip() else []

    def close(self) -> None:
        subprocess.run(["scancel", "--user=root"], env=self.env, check=False, capture_output=True)
        for pid in reversed(self.pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
        shutil.rmtree(self.tmp, ignore_errors=True)
