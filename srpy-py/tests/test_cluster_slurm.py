"""``srpy.Cluster("slurm", ...)`` against a real single-node Slurm
(``slurm_node.py``: munged, slurmctld, slurmd started here).

Skipped, with the reason, when the machine cannot run one (not root, no
slurm-wlm); under CI (``CI`` set) that is a failure instead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import srpy
from slurm_node import SlurmNode, unavailable

PY = sys.executable
SERVER_COMMAND = f"{PY} -m srpy.server"


@pytest.fixture(scope="module")
def slurm() -> Iterator[SlurmNode]:
    why = unavailable()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"Slurm cluster tests cannot run in CI: {why}")
        pytest.skip(why)
    node = SlurmNode()
    yield node
    node.close()


@pytest.fixture
def slurm_env(slurm: SlurmNode, monkeypatch: pytest.MonkeyPatch) -> SlurmNode:
    monkeypatch.setenv("SLURM_CONF", slurm.env["SLURM_CONF"])
    for name in ("SLURM_JOB_ID", "SLURM_JOB_NUM_NODES", "SLURM_JOBID"):
        monkeypatch.delenv(name, raising=False)
    return slurm


def alive(pid: int) -> bool:
    # A zombie (not yet reaped) is gone for our purpose. The process may end
    # at any moment, between any two of these reads too.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state follows the command name, which is in parentheses.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: list[int], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids):
        if time.monotonic() > deadline:
            raise AssertionError(f"still running after {timeout} s: {[p for p in pids if alive(p)]}")
        time.sleep(0.05)


def engine_pids(box: srpy.EngBox) -> list[int]:
    return [e.eval("__import__('os').getpid()") for e in box.engines]


def start(**more: object) -> srpy.Cluster:
    return srpy.Cluster(
        "slurm", nodes=1, engines_per_node=2, time="00:10:00",
        server_command=SERVER_COMMAND, output=None, progress=False, **more,
    )


def test_sbatch_job_runs_a_map_and_is_cancelled_at_the_end(slurm_env: SlurmNode) -> None:
    cluster = start()
    try:
        job = cluster.slurm_job
        assert job is not None
        assert f"{job} RUNNING" in slurm_env.squeue()
        assert len(cluster.box.engines) == 2
        assert cluster.box.map("x * 2", range(50)) == [x * 2 for x in range(50)]
        pids = engine_pids(cluster.box)
    finally:
        cluster.close()
    wait_gone(pids)
    # scancel was sent; the job leaves the queue (via COMPLETING) shortly.
    deadline = time.monotonic() + 20
    while any(line.startswith(f"{job} ") for line in slurm_env.squeue()):
        assert time.monotonic() < deadline, slurm_env.squeue()
        time.sleep(0.1)


def test_scancel_mid_run_stops_the_servers(slurm_env: SlurmNode) -> None:
    cluster = start()
    try:
        pids = engine_pids(cluster.box)
        subprocess.run(["scancel", str(cluster.slurm_job)], check=True)
        wait_gone(pids)
    finally:
        cluster.close()


def test_kill_9_of_the_client_leaves_no_engine(slurm_env: SlurmNode, tmp_path: Path) -> None:
    script = tmp_path / "client.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import time, srpy
            c = srpy.Cluster("slurm", nodes=1, engines_per_node=1, time="00:10:00",
                             server_command={SERVER_COMMAND!r}, progress=False)
            pids = [e.eval("__import__('os').getpid()") for e in c.box.engines]
            print(c.slurm_job, *pids, flush=True)
            time.sleep(600)
            """
        )
    )
    client = subprocess.Popen([PY, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout is not None
        job, *pids = client.stdout.readline().split()
        assert pids and all(alive(int(p)) for p in pids)
        os.kill(client.pid, signal.SIGKILL)
        client.wait()
        wait_gone([int(p) for p in pids])
    finally:
        client.kill()
        client.wait()
        subprocess.run(["scancel", job], check=False)


def test_inside_an_allocation_srun_uses_it(slurm_env: SlurmNode, tmp_path: Path) -> None:
    script = tmp_path / "inside.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, srpy
            with srpy.Cluster("slurm", engines_per_node=1, server_command={SERVER_COMMAND!r},
                              output=None) as box:
                print(os.environ["SLURM_JOB_ID"], box.map("x + 1", [1, 2]), flush=True)
            """
        )
    )
    done = subprocess.run(
        ["salloc", "-N1", "--time=00:05:00", PY, str(script)],
        check=False, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    job, result = done.stdout.strip().split(" ", 1)
    assert result == "[2, 3]"
    assert job.isdigit()


def test_shell_cluster_up_slurm_and_down(slurm_env: SlurmNode, tmp_path: Path) -> None:
    uri_file = tmp_path / "cluster.uris"
    srpy_cmd = [PY, "-m", "srpy"]
    up = subprocess.Popen(
        [
            *srpy_cmd, "cluster", "up", "--slurm", "--nodes", "1", "--engines", "2",
            "--time", "00:10:00", "--partition", "debug", "--uri-file", str(uri_file),
            "--server-command", SERVER_COMMAND,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert up.stdout is not None
        said = up.stdout.readline()
        assert "1 server(s) (Slurm job " in said, (said, up.stderr.read() if up.poll() else "")
        job = said.split("Slurm job ")[1].split(")")[0]
        assert f"{job} RUNNING" in slurm_env.squeue()
        token_file = Path(f"{uri_file}.token")
        assert (uri_file.stat().st_mode & 0o777) == 0o600
        assert (token_file.stat().st_mode & 0o777) == 0o600
        [line] = uri_file.read_text().splitlines()[1:]
        assert line.startswith("srpys://") and line.split()[1] == "tls-pin", line
        box = srpy.EngBox(token=token_file.read_text().strip())
        box.startAndAppendFromFile(str(uri_file))
        try:
            assert box.map("x * 3", range(10)) == [x * 3 for x in range(10)]
            pids = engine_pids(box)
            assert len(set(pids)) == 2
        finally:
            box.close()
        down = subprocess.run(
            [*srpy_cmd, "cluster", "down", str(uri_file)], check=False, capture_output=True, text=True
        )
        assert down.returncode == 0, down.stderr
        assert up.wait(timeout=20) == 0
        assert not uri_file.exists() and not token_file.exists()
        wait_gone(pids)
        deadline = time.monotonic() + 20
        while any(line.startswith(f"{job} ") for line in slurm_env.squeue()):
            assert time.monotonic() < deadline, slurm_env.squeue()
            time.sleep(0.1)
    finally:
        up.kill()
        up.wait()


def test_shell_cluster_up_refuses_options_of_the_other_launcher(tmp_path: Path) -> None:
    done = subprocess.run(
        [PY, "-m", "srpy", "cluster", "up", "--slurm", "--min-hosts", "2",
         "--uri-file", str(tmp_path / "f")],
        check=False, capture_output=True, text=True,
    )
    assert done.returncode == 2
    assert "--min-hosts cannot be used with --slurm" in done.stderr
    assert not (tmp_path / "f").exists()
