"""The engine's own files and secrets, checked from outside on real engines:
the install folder is fresh, private (0700) and unguessable, shipped
modules are readable by their owner only, another Unix user can neither
plant nor read a module there, the token is not in the engine's
environment, and a killed server's folders are swept by the next engine.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import engine_python, server_bin


def _install_dir(eng) -> str:
    return eng.eval("__import__('sys').path[0]")


def _ship(eng, tmp_path: Path, name: str, source: str) -> None:
    (tmp_path / f"{name}.py").write_text(source)
    sys.path.insert(0, str(tmp_path))
    try:
        eng.install(name)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(name, None)


def test_the_install_folder_is_fresh_private_and_unguessable(eng, eng1, tmp_path):
    folders = [_install_dir(eng), _install_dir(eng1)]
    assert folders[0] != folders[1]
    for folder in folders:
        name = os.path.basename(folder)
        # srpy-engine-<index>-<pid>-<16 hex digits of randomness>
        *_, random = name.split("-")
        assert name.startswith("srpy-engine-") and len(random) == 16, name
        int(random, 16)
        st = os.lstat(folder)
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
        assert st.st_uid == os.geteuid()
    _ship(eng, tmp_path, "srpy_files_probe", "VALUE = 7\n")
    assert eng.eval("__import__('srpy_files_probe').VALUE") == 7
    shipped = os.path.join(folders[0], "srpy_files_probe.py")
    assert stat.S_IMODE(os.stat(shipped).st_mode) == 0o600


def test_no_other_install_folder_is_on_the_engine_path(eng):
    folder = _install_dir(eng)
    others = eng.eval(
        "[p for p in __import__('sys').path if 'srpy-engine-' in p and p != me]", me=folder
    )
    assert others == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_another_user_can_neither_plant_nor_read_a_module(eng, tmp_path):
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("setpriv (util-linux) is needed to run as another user")
    _ship(eng, tmp_path, "srpy_secret_mod", "SECRET = 'only mine'\n")
    folder = _install_dir(eng)
    as_nobody = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable]
    read = subprocess.run(
        [*as_nobody, "-c", f"open({os.path.join(folder, 'srpy_secret_mod.py')!r}).read()"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert read.returncode != 0 and "PermissionError" in read.stderr, read.stderr
    plant = subprocess.run(
        [*as_nobody, "-c", f"open({os.path.join(folder, 'platform.py')!r}, 'w').write('x')"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert plant.returncode != 0 and "PermissionError" in plant.stderr, plant.stderr
    assert not os.path.exists(os.path.join(folder, "platform.py"))


def test_the_token_is_not_in_the_engine_environment(local_options):
    import srpy

    env_before = os.environ.get("SRPY_TOKEN")
    os.environ["SRPY_TOKEN"] = "token-from-the-environment"
    try:
        with srpy.local(engines=1, output=None, token="token-from-the-environment",
                        **local_options) as box:
            leaked = box[0].eval(
                "[k for k, v in __import__('os').environ.items() if 'token-from' in v]"
            )
    finally:
        if env_before is None:
            os.environ.pop("SRPY_TOKEN", None)
        else:
            os.environ["SRPY_TOKEN"] = env_before
    assert leaked == []


def _start_server(uri_file: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [server_bin(), "--listen", "127.0.0.1:0", "--engines", "1",
         "--python", engine_python(), "--uri-file", str(uri_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not (uri_file.exists() and uri_file.read_text().strip()):
        assert proc.poll() is None, "srpy-server exited early"
        assert time.monotonic() < deadline, "srpy-server not ready in 30 s"
        time.sleep(0.05)
    return proc


def _engine_uri(uri_file: Path) -> str:
    return uri_file.read_text().splitlines()[1]


def test_a_killed_servers_folders_are_swept_by_the_next_engine():
    import srpy

    with tempfile.TemporaryDirectory() as tmp:
        uri_file = Path(tmp) / "uri"
        server = _start_server(uri_file)
        try:
            eng = srpy.PythonEngine(_engine_uri(uri_file))
            folder = _install_dir(eng)
            engine_pid = eng.eval("__import__('os').getpid()")
            eng.close()
        finally:
            server.send_signal(signal.SIGKILL)
            server.wait()
        # The engine dies with its server (PR_SET_PDEATHSIG); it may not
        # get to remove its folder. Plant a file as if it had been left.
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{engine_pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        Path(folder, "left_behind.py").write_text("")
        uri_file.unlink()
        server = _start_server(uri_file)
        try:
            eng = srpy.PythonEngine(_engine_uri(uri_file))
            assert _install_dir(eng) != folder
            eng.close()
            assert not os.path.exists(folder), f"{folder} was not swept"
        finally:
            server.terminate()
            server.wait()
