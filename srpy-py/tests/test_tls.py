"""TLS through the CPython client, on a real ``srpy-server --tls auto``:
``tls_pin`` verifies the server (engines, the server's directory and an
EngBox made from the server's address), a wrong pin is refused naming
both fingerprints, and a plaintext client is told the server wants TLS.
(CA files, mutual TLS and the other errors: ``srpy-client/tests/tls.rs``.)
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest
import srpy
from conftest import engine_python, server_bin

TOKEN = "tls-test-token"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """(server URI, pinned fingerprint) of a server with ``--tls auto``."""
    folder = tmp_path_factory.mktemp("tls")
    uri_file, token_file = folder / "uri", folder / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    proc = subprocess.Popen(
        [server_bin(), "--listen", "127.0.0.1:0", "--engines", "2", "--tls", "auto",
         "--token-file", str(token_file), "--python", engine_python(),
         "--uri-file", str(uri_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not (uri_file.exists() and "tls-pin" in uri_file.read_text()):
        assert proc.poll() is None, "srpy-server exited early"
        assert time.monotonic() < deadline, "srpy-server not ready in 30 s"
        time.sleep(0.05)
    lines = uri_file.read_text().splitlines()
    pin = lines[-1].removeprefix("tls-pin ")
    try:
        yield lines[0], pin
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_pinned_server_serves_engines_and_boxes(tls_server):
    uri, pin = tls_server
    assert uri.startswith("srpys://")
    with srpy.PythonEngine(f"{uri}/0", token=TOKEN, tls_pin=pin) as eng:
        assert eng.eval("6 * 7") == 42
        blob = bytes(range(256)) * 4096
        eng.set(blob=blob)
        assert eng.get("blob") == blob
    box = srpy.EngBox([uri], token=TOKEN, tls_pin=pin)
    try:
        assert len(box.engines) == 2
        assert [e.eval("1 + 1") for e in box.engines] == [2, 2]
    finally:
        box.close()


def test_the_servers_uri_file_loads_with_its_pin(tls_server):
    # As `srpy-server --uri-file` writes it: the pin on a line of its own.
    uri, pin = tls_server
    box = srpy.EngBox(token=TOKEN)
    try:
        box.startAndAppendFromText(f"{uri}\n{uri}/1\ntls-pin {pin}\n")
        assert [e.eval("2 + 2") for e in box.engines] == [4, 4, 4]
    finally:
        box.close()


def test_a_wrong_pin_names_both_fingerprints(tls_server):
    uri, pin = tls_server
    wrong = ":".join(["AB"] * 32)
    with pytest.raises(srpy.AuthError) as info:
        srpy.PythonEngine(f"{uri}/0", token=TOKEN, tls_pin=wrong, connect_timeout=5)
    message = str(info.value)
    assert "does not match the pinned fingerprint" in message
    assert wrong in message and pin.removeprefix("sha256:") in message


def test_a_plaintext_client_is_told_the_server_wants_tls(tls_server):
    uri, _ = tls_server
    plain = uri.replace("srpys://", "srpy://") + "/0"
    with pytest.raises(srpy.ProtocolError, match="this server requires TLS"):
        srpy.PythonEngine(plain, token=TOKEN, connect_timeout=5)
