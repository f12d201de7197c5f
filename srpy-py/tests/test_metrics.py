"""``srpy-server --metrics``: a real server with real engines, scraped over
HTTP while requests run, the exposition parsed by ``prometheus_client``'s
Prometheus text parser (docs/OPERATIONS.md lists the series)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import srpy
from conftest import _require_server, engine_python, server_bin
from prometheus_client.parser import text_string_to_metric_families


class Metered:
    """A server started with ``--metrics 127.0.0.1:0``."""

    def __init__(self, tmp: Path, engines: int, token: bytes | None = None) -> None:
        _require_server()
        uri_file = tmp / "uris"
        args = [server_bin(), "--engines", str(engines), "--listen", "127.0.0.1:0"]
        args += ["--metrics", "127.0.0.1:0", "--python", engine_python(), "--uri-file", str(uri_file)]
        env = dict(os.environ)
        env.pop("SRPY_TOKEN", None)
        if token is not None:
            (tmp / "token").write_bytes(token)
            (tmp / "token").chmod(0o600)
            args += ["--token-file", str(tmp / "token")]
        self.log = open(tmp / "stderr", "w+")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        deadline = time.monotonic() + 60
        while not uri_file.exists():
            assert self.proc.poll() is None, self.stderr()
            assert time.monotonic() < deadline, "server not ready"
            time.sleep(0.02)
        # The banner is printed before the URI file is written.
        self.base = ""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "metrics: http://" in line:
                self.base = line.split("metrics: ")[1].split("/metrics")[0]
                break
        assert self.base, "no metrics line in the banner"
        self.uris = uri_file.read_text().split()

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        req = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def scrape(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """Every sample of /metrics: (name, labels) -> value."""
        status, text = self.get("/metrics")
        assert status == 200, text
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def health(self) -> dict[str, Any]:
        return json.loads(self.get("/healthz")[1])

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)
        self.log.close()


def value(samples: dict, name: str, **labels: str) -> float:
    """The sample `name` whose labels include `labels` (0 if absent)."""
    want = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and want <= ls]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else 0.0


@pytest.fixture
def metered(tmp_path: Path) -> Iterator[Metered]:
    m = Metered(tmp_path, engines=2)
    yield m
    m.close()


def test_requests_bytes_and_durations_are_counted_per_engine(metered: Metered) -> None:
    e = srpy.connect(metered.uris[1], output=None)
    pid = str(e.whoami()["pid"])
    before = metered.scrape()
    for i in range(5):
        assert e.eval("1 + i", i=i) == 1 + i
    with pytest.raises(ZeroDivisionError):
        e.eval("1 / 0")
    blob = os.urandom(1 << 20)
    e.set(blob=blob)
    assert e.get("blob") == blob
    e.exe("import time; time.sleep(0.3)")
    after = metered.scrape()

    def delta(name: str, **labels: str) -> float:
        labels = {"engine": "0", "pid": pid, **labels}
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("srpy_engine_requests_total", op="eval", outcome="ok") == 5
    assert delta("srpy_engine_requests_total", op="eval", outcome="remote") == 1
    assert delta("srpy_engine_requests_total", op="set", outcome="ok") == 1
    assert delta("srpy_engine_requests_total", op="exec", outcome="ok") == 1
    assert delta("srpy_engine_received_bytes_total") > 1 << 20
    assert delta("srpy_engine_sent_bytes_total") > 1 << 20
    # The sleep lands in the (0.25, 0.5] bucket of exec's histogram.
    assert delta("srpy_engine_request_duration_seconds_bucket", op="exec", le="0.25") == 0
    assert delta("srpy_engine_request_duration_seconds_bucket", op="exec", le="0.5") == 1
    assert delta("srpy_engine_request_duration_seconds_bucket", op="exec", le="+Inf") == 1
    assert delta("srpy_engine_request_duration_seconds_bucket", op="eval", le="+Inf") == 6
    assert delta("srpy_engine_request_duration_seconds_count", op="eval") == 6
    assert 0.3 <= delta("srpy_engine_request_duration_seconds_sum", op="exec") < 5
    assert value(after, "srpy_engine_connections_open", engine="0", pid=pid) == 1
    # The other engine saw none of it.
    assert value(after, "srpy_engine_requests_total", engine="1", op="eval") == 0
    for i in ("0", "1"):
        assert value(after, "srpy_engine_resident_memory_bytes", engine=i) > 5 << 20
        assert value(after, "srpy_engine_cpu_seconds_total", engine=i) > 0
    e.close()


def test_a_scrape_while_a_request_runs_sees_the_engine_busy(metered: Metered) -> None:
    e = srpy.connect(metered.uris[1], output=None)
    done = threading.Event()

    def long_call() -> None:
        e.exe("import time; time.sleep(1.5)")
        done.set()

    threading.Thread(target=long_call, daemon=True).start()
    deadline = time.monotonic() + 5
    while True:
        samples = metered.scrape()
        if value(samples, "srpy_engines", state="busy") == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not done.is_set()
    assert value(samples, "srpy_engines", state="busy") == 1
    assert value(samples, "srpy_engines", state="idle") == 1
    assert value(samples, "srpy_engine_pending_requests", engine="0") == 1
    assert value(samples, "srpy_engine_pending_requests", engine="1") == 0
    health = metered.health()
    assert [x["state"] for x in health["engines"]] == ["busy", "idle"]
    assert done.wait(10)
    assert value(metered.scrape(), "srpy_engines", state="idle") == 2
    e.close()


def test_kill_9_is_a_restart_and_health_follows(metered: Metered) -> None:
    health = metered.health()
    assert health["status"] == "ok"
    pids = [x["pid"] for x in health["engines"]]
    assert all(isinstance(p, int) and p > 0 for p in pids)
    os.kill(pids[1], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        health = metered.health()
        new = health["engines"][1]
        if (health["status"] == "ok" and new["pid"] not in (None, pids[1])) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert health["status"] == "ok", health
    assert new["restarts"] == 1 and new["pid"] != pids[1]
    samples = metered.scrape()
    assert value(samples, "srpy_engine_restarts_total", engine="1") == 1
    assert value(samples, "srpy_engine_restarts_total", engine="0") == 0
    # Per-process series follow the new process.
    assert value(samples, "srpy_engine_resident_memory_bytes", engine="1", pid=str(new["pid"])) > 0
    assert value(samples, "srpy_engine_resident_memory_bytes", engine="1", pid=str(pids[1])) == 0
    assert value(samples, "srpy_engines", state="idle") == 2


def test_refused_handshakes_are_counted_by_reason(metered: Metered) -> None:
    server_port = int(metered.uris[0].rsplit(":", 1)[1])
    # No preamble: the server; a routing preamble for engine 0: the engine.
    for route in (b"", b"SRPY\x01\x00\x00\x00\x00", b"SRPY\x01\x00\x00\x00\x00"):
        with socket.create_connection(("127.0.0.1", server_port)) as s:
            s.sendall(route + b"\x00\x00\x00\x01\xff")  # a frame that is no hello
            s.settimeout(5)
            s.recv(4096)
    # (the door counts a refusal before it writes the error frame we read)
    samples = metered.scrape()
    assert value(samples, "srpy_server_handshakes_refused_total", reason="protocol") == 1
    assert value(samples, "srpy_server_handshakes_refused_total", reason="auth") == 0
    assert value(samples, "srpy_engine_handshakes_refused_total", engine="0", reason="protocol") == 2
    assert value(samples, "srpy_engine_handshakes_refused_total", engine="1", reason="protocol") == 0


def test_unknown_paths_and_methods_are_answered(metered: Metered) -> None:
    assert metered.get("/nope")[0] == 404
    req = urllib.request.Request(metered.base + "/metrics", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 405


def test_with_a_token_the_endpoint_wants_the_metrics_credential(tmp_path: Path) -> None:
    token = b"metrics-test-token"
    m = Metered(tmp_path, engines=1, token=token)
    try:
        status, body = m.get("/metrics")
        assert status == 401 and "Bearer" in body
        assert m.get("/metrics", {"Authorization": "Bearer " + token.decode()})[0] == 401
        credential = hmac.new(token, b"srpy-metrics", hashlib.sha256).hexdigest()
        status, text = m.get("/metrics", {"Authorization": f"Bearer {credential}"})
        assert status == 200
        names = {f.name for f in text_string_to_metric_families(text)}
        assert {"srpy_engines", "srpy_engine_restarts", "srpy_engine_cpu_seconds"} <= names
    finally:
        m.close()
