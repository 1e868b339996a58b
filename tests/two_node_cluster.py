"""A Ray cluster of two nodes on this machine: a head and a second node started beside it with
`ray start --address=...`, as a second machine would join (cluster.yaml's workers), each with
its own temp dir and free ports. The second node carries the custom resource `worker_node`,
so work can ask for it.

`two_node_cluster()` (a context manager; the `two_node_cluster` fixture of
tests/integration/conftest.py wraps it) starts both in sessions of their own and, at the end,
stops every process of both sessions: never `ray stop`, which stops every Ray on the machine.
`TwoNodeCluster.lose_worker()` kills the second node's every process at once (raylet,
agents, workers), as when a machine is lost.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from platform_core.services import launcher
from tests.integration.conftest import free_port

RAY = str(Path(sys.prefix) / "bin" / "ray")
WORKER_RESOURCE = "worker_node"
# A lost node is declared dead after period x threshold without an answer (defaults: 3 s x 5).
FAST_HEALTH_CHECKS = {
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "500",
    "RAY_health_check_failure_threshold": "3",
}


@dataclass
class TwoNodeCluster:
    address: str  # the head's GCS, host:port
    dashboard_url: str  # for `ray job submit --address`
    head_node_id: str
    worker_node_id: str
    temp_dirs: list[Path]
    head: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes] | None
    logs: list[Path] = field(default_factory=list)

    def lose_worker(self) -> None:
        """SIGKILL every process of the second node at once."""
        assert self.worker is not None, "the second node is already gone"
        _kill_session(self.worker.pid, signal.SIGKILL)
        self.worker.wait(timeout=10)
        self.worker = None

    def log_tail(self) -> str:
        return "\n".join(f"--- {p}\n{p.read_text()[-2000:]}" for p in self.logs if p.exists())


def _kill_session(sid: int, sig: signal.Signals) -> None:
    for member in launcher._session_members(sid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, sig)


def _stop_session(proc: subprocess.Popen[bytes], grace_s: float = 3.0) -> None:
    """SIGTERM to every process of the node, SIGKILL to what is left after `grace_s`: a test
    cluster keeps nothing worth a slow shutdown."""
    launcher._signal_group(proc.pid, time.monotonic() + grace_s)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _node_ports() -> list[str]:
    """The ports every node binds: free ones, not Ray's defaults (another cluster may run)."""
    return [
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--metrics-export-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
        f"--node-manager-port={free_port()}",
        f"--object-manager-port={free_port()}",
    ]


def alive_nodes(dashboard_url: str) -> list[dict[str, Any]]:
    """The cluster's alive nodes (`node_id`, `is_head_node`, `resources_total`, ...), from
    the dashboard's state API: no driver needed."""
    try:
        answer = httpx.get(f"{dashboard_url}/api/v0/nodes", timeout=5)
    except httpx.HTTPError:
        return []
    if answer.status_code != 200:
        return []
    nodes = answer.json()["data"]["result"]["result"]
    return [node for node in nodes if node["state"] == "ALIVE"]


@contextlib.contextmanager
def two_node_cluster(timeout_s: float = 60.0) -> Iterator[TwoNodeCluster]:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    # Short paths: Ray's Unix sockets live under the temp dir (108 bytes at most).
    head_dir = Path(tempfile.mkdtemp(prefix="sep-ray-h-", dir="/tmp"))
    worker_dir = Path(tempfile.mkdtemp(prefix="sep-ray-w-", dir="/tmp"))
    gcs_port, dashboard_port = free_port(), free_port()
    address = f"127.0.0.1:{gcs_port}"
    head_log, worker_log = head_dir / "ray-start.log", worker_dir / "ray-start.log"
    head = launcher.spawn(
        [
            RAY, "start", "--head", "--block", f"--port={gcs_port}", "--num-cpus=1",
            f"--temp-dir={head_dir}",
            "--include-dashboard=true", "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard_port}", f"--ray-client-server-port={free_port()}",
            *_node_ports(), "--disable-usage-stats",
        ],
        head_log,
        env={**env, **FAST_HEALTH_CHECKS},
    )  # fmt: skip
    worker: subprocess.Popen[bytes] | None = None
    cluster: TwoNodeCluster | None = None
    dashboard_url = f"http://127.0.0.1:{dashboard_port}"
    try:
        deadline = time.monotonic() + timeout_s
        while not alive_nodes(dashboard_url):
            assert head.poll() is None, head_log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the head did not come up"
            time.sleep(0.25)
        worker = launcher.spawn(
            [
                RAY, "start", "--block", f"--address={address}", "--num-cpus=1",
                f"--resources={json.dumps({WORKER_RESOURCE: 1})}", f"--temp-dir={worker_dir}",
                *_node_ports(), "--disable-usage-stats",
            ],
            worker_log,
            env=env,
        )  # fmt: skip
        while len(nodes := alive_nodes(dashboard_url)) < 2:
            assert worker.poll() is None, worker_log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"the second node did not join: {nodes}"
            time.sleep(0.25)
        (first,) = [n["node_id"] for n in nodes if n["is_head_node"]]
        (second,) = [n["node_id"] for n in nodes if WORKER_RESOURCE in n["resources_total"]]
        cluster = TwoNodeCluster(
            address=address,
            dashboard_url=dashboard_url,
            head_node_id=first,
            worker_node_id=second,
            temp_dirs=[head_dir, worker_dir],
            head=head,
            worker=worker,
            logs=[head_log, worker_log],
        )
        yield cluster
    finally:
        if cluster is not None:
            worker = cluster.worker
        if worker is not None:
            _stop_session(worker)
        _stop_session(head)
        for path in (head_dir, worker_dir):
            shutil.rmtree(path, ignore_errors=True)
