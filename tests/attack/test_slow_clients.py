"""Slow clients: a request that trickles in (a byte every half second) is cut off, where
it would otherwise hold a connection (and a replica's task) for as long as it likes.

- The app (`BodyDeadline`, `platform_core/api/limits.py`): a body not all arrived within
  `SEP_API_BODY_TIMEOUT_S` of the request reaching the app gets 408, behind any ingress.
- The HAProxy ingress: Serve writes haproxy.cfg with no `timeout http-request`; the launcher
  `sep up` gives Serve as its HAProxy binary (`platform_core/services/serve_ingress.py`)
  adds it, so headers (and a body that fits HAProxy's buffer) trickled in get 408 there.
  The config here is Serve's own, rendered by the installed Ray's HAProxy code.

Outcomes are asserted (status, body, how much of the request was sent), not times.
"""

from __future__ import annotations

import json
import select
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import uvicorn

from platform_core.api.app import create_app
from platform_core.config import Settings
from platform_core.errors import ErrorCode
from platform_core.services import serve_ingress
from tests.integration.conftest import free_port
from tests.unit.memory_backends import MemoryBackends

SEED_STRATEGY = UUID("a1b2c3d4-e5f6-7890-1234-567890abcdef")
TOKEN = "sep_0123456789abcdef_" + "s" * 43
DEADLINE_S = 2.0
STEP_S = 0.5
BODY = b'{"strategy_id": "' + b"a" * 40 + b'"}'  # 20 s at a byte per step: never all sent


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, int]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"slow-{port}", daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            return server, thread, port
        time.sleep(0.05)
    raise RuntimeError("uvicorn did not start")


def _stop(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(timeout=10)


def _read_rest(sock: socket.socket, got: bytes) -> bytes:
    sock.settimeout(5)
    try:
        while chunk := sock.recv(65536):
            got += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return got


def trickle(port: int, head: bytes, payload: bytes) -> tuple[bytes, int]:
    """Send `head` at once, then `payload` a byte every `STEP_S` until the server answers or
    closes: what it answered, and how many bytes of `payload` went out."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        sent = 0
        for byte in payload:
            readable, _, _ = select.select([sock], [], [], STEP_S)
            if readable:
                return _read_rest(sock, b""), sent
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                return _read_rest(sock, b""), sent
            sent += 1
        return _read_rest(sock, b""), sent


def _status_and_body(response: bytes) -> tuple[int, bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _assert_request_timeout(response: bytes) -> None:
    status, body = _status_and_body(response)
    assert status == 408, response
    answer = json.loads(body)
    assert answer["error"] == "request_timeout"
    assert answer["reason_codes"] == [ErrorCode.REQUEST_TIMEOUT]
    (detail,) = answer["detail"]
    assert detail["field"] is None and detail["code"] == ErrorCode.REQUEST_TIMEOUT
    assert "not received within" in detail["message"]


def _post(path: bytes, length: int, auth: bool = True) -> bytes:
    lines = [
        b"POST " + path + b" HTTP/1.1",
        b"Host: sep.test",
        b"Content-Type: application/json",
        b"Content-Length: " + str(length).encode(),
    ]
    if auth:
        lines.append(b"Authorization: Bearer " + TOKEN.encode())
    return b"\r\n".join(lines) + b"\r\n\r\n"


# -- the app ----------------------------------------------------------------------------


@pytest.fixture
def api_port() -> Iterator[int]:
    backends = MemoryBackends()
    backends.tokens = {TOKEN: SEED_STRATEGY}
    app = create_app(Settings(api_body_timeout_s=DEADLINE_S), backends)  # type: ignore[arg-type]
    server, thread, port = _serve(app)
    try:
        yield port
    finally:
        _stop(server, thread)


def test_app_cuts_a_trickled_body_with_408(api_port: int) -> None:
    response, sent = trickle(api_port, _post(b"/intents", len(BODY)), BODY)
    _assert_request_timeout(response)
    assert sent < len(BODY)


def test_app_reads_a_body_sent_at_once(api_port: int) -> None:
    """The deadline leaves whole bodies alone: `{}` is read and refused for what it is."""
    with socket.create_connection(("127.0.0.1", api_port), timeout=5) as sock:
        sock.sendall(_post(b"/intents", 2) + b"{}")
        status, _ = _status_and_body(_read_until_answered(sock))
    assert status == 422


def _read_until_answered(sock: socket.socket) -> bytes:
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


# -- the HAProxy ingress ----------------------------------------------------------------


class _Backend:
    """A stand-in replica: answers 200 to anything, counting the requests it saw."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.paths.append(scope["path"])
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False) and message["type"] == "http.request"
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"2")]})  # fmt: skip
        await send({"type": "http.response.body", "body": b"ok"})


def _serve_config(files: Path, frontend: int, backend: int) -> Path:
    """haproxy.cfg as Serve writes it (the installed Ray's template and code), one app."""
    from ray.serve._private.haproxy import (
        BackendConfig,
        HAProxyApi,
        HAProxyConfig,
        ServerConfig,
    )
    from ray.serve.config import HTTPOptions

    config = HAProxyConfig(
        http_options=HTTPOptions(host="127.0.0.1", port=frontend),
        is_head=True,
        has_received_routes=True,
        has_received_servers=True,
        enable_hap_optimization=False,
        metrics_enabled=False,
        socket_path=str(files / "admin.sock"),
        stats_port=free_port(),
        metrics_port=free_port(),
    )
    path = files / "haproxy.cfg"
    backends = {
        "sep": BackendConfig(
            name="sep",
            path_prefix="/",
            app_name="sep",
            servers=[ServerConfig("r1", "127.0.0.1", backend)],
        )
    }
    api = HAProxyApi(cfg=config, backend_configs=backends, config_file_path=str(path))
    api._generate_config_file_internal()
    return path


@pytest.fixture
def haproxy_port() -> Iterator[tuple[int, _Backend]]:
    binary = serve_ingress.haproxy_binary()
    if binary is None or serve_ingress.haproxy_unavailable() is not None:
        pytest.skip(f"no runnable haproxy: {serve_ingress.haproxy_unavailable()}")
    backend_app = _Backend()
    server, thread, backend = _serve(backend_app)
    files = Path(tempfile.mkdtemp(prefix="sep-slow-"))  # short: HAProxy's socket paths
    frontend = free_port()
    process: subprocess.Popen[bytes] | None = None
    try:
        launcher = serve_ingress.write_launcher(files, binary, DEADLINE_S)
        config = _serve_config(files, frontend, backend)
        assert "timeout http-request" not in config.read_text()  # Serve's own: none
        for _ in range(2):  # what the launcher adds is valid, and added once
            check = subprocess.run([str(launcher), "-c", "-f", str(config)],
                                   capture_output=True, timeout=30)  # fmt: skip
            assert check.returncode == 0, check.stderr.decode()
        text = config.read_text()
        assert text.count(serve_ingress.SLOW_CLIENTS_MARK) == 1
        assert f"timeout http-request {int(DEADLINE_S * 1000)}ms" in text
        command = [str(launcher), "-db", "-f", str(config)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_until_answered(frontend, process)
        yield frontend, backend_app
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
        _stop(server, thread)
        shutil.rmtree(files, ignore_errors=True)


def _wait_until_answered(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        assert process.poll() is None, "haproxy exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if _status_and_body(_read_rest(sock, b""))[0] == 200:
                    return
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.1)
    raise RuntimeError("haproxy did not answer")


def test_haproxy_cuts_trickled_headers_with_408(haproxy_port: tuple[int, _Backend]) -> None:
    port, backend = haproxy_port
    header = b"X-Slow: " + b"a" * 40 + b"\r\n\r\n"
    response, sent = trickle(port, b"GET /slow HTTP/1.1\r\nHost: sep.test\r\n", header)
    # Incomplete headers are answered by HAProxy's connection layer, with its own 408 page
    # (the `errorfile 408` is for requests it has parsed, as the next test's).
    assert _status_and_body(response)[0] == 408, response
    assert sent < len(header)
    assert "/slow" not in backend.paths


def test_haproxy_cuts_a_small_trickled_body_with_408(haproxy_port: tuple[int, _Backend]) -> None:
    """`option http-buffer-request`: a body that fits HAProxy's buffer is waited for, within
    the same time, before a replica sees the request."""
    port, backend = haproxy_port
    response, sent = trickle(port, _post(b"/slow-body", len(BODY), auth=False), BODY)
    _assert_request_timeout(response)
    assert sent < len(BODY)
    assert "/slow-body" not in backend.paths
