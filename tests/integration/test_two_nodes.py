"""More than one Ray node: a second node beside the head (tests/two_node_cluster.py) takes
tasks, and a platform actor placed on it survives the loss of that node, restarted by Ray on
the head, and the backtest job spreads its tasks over both. The tests run in order: the last
ends with the second node gone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.state_coordinator import StateCoordinatorActor
from platform_core.backtest.grid import GRIDS
from tests.two_node_cluster import RAY, WORKER_RESOURCE, TwoNodeCluster, alive_nodes

# The options every platform actor is declared with (restarted forever, calls retried).
PLATFORM_ACTOR_OPTIONS = {
    key: StateCoordinatorActor._default_options[key]
    for key in ("max_restarts", "max_task_retries", "num_cpus")
}


@ray.remote(num_cpus=1)
def node_of_task(seconds: float) -> str:
    time.sleep(seconds)
    return ray.get_runtime_context().get_node_id()


# Placed with a soft affinity, so that Ray may restart it elsewhere. A request of no resource
# at all (num_cpus=0 and nothing else) is placed on the caller's node whatever the affinity
# says: a little memory makes the request one the affinity applies to.
@ray.remote(**PLATFORM_ACTOR_OPTIONS, memory=1 << 20)
class PlatformLikeActor:
    def node(self) -> str:
        return ray.get_runtime_context().get_node_id()

    def pid(self) -> int:
        return os.getpid()


@pytest.fixture(scope="module")
def driver(two_node_cluster: TwoNodeCluster) -> Iterator[TwoNodeCluster]:
    ray.init(address=two_node_cluster.address, namespace="sep-two-nodes",
             logging_level="ERROR", log_to_driver=False)  # fmt: skip
    try:
        yield two_node_cluster
    finally:
        ray.shutdown()


def test_tasks_run_on_both_nodes(driver: TwoNodeCluster) -> None:
    assert PLATFORM_ACTOR_OPTIONS == {"max_restarts": -1, "max_task_retries": -1, "num_cpus": 0}
    assert ray.get_runtime_context().get_node_id() == driver.head_node_id  # the driver's node
    spread = [node_of_task.options(scheduling_strategy="SPREAD").remote(0.3) for _ in range(8)]
    nodes = ray.get(spread, timeout=60)
    assert set(nodes) == {driver.head_node_id, driver.worker_node_id}, nodes
    pinned = [node_of_task.options(resources={WORKER_RESOURCE: 0.1}).remote(0) for _ in range(4)]
    assert set(ray.get(pinned, timeout=60)) == {driver.worker_node_id}


def test_the_backtest_job_runs_its_tasks_on_both_nodes(
    two_node_cluster: TwoNodeCluster, tmp_path: Path
) -> None:
    """`ray job submit` of the backtest to the two-node cluster: one task per cell, and the
    summary's cells_per_node names both nodes."""
    out = tmp_path / "backtest"
    submitted = subprocess.run(
        [RAY, "job", "submit", "--address", two_node_cluster.dashboard_url, "--",
         sys.executable, "-m", "ray_jobs.backtest", "--grid", "quick", "--batch", "1",
         "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    summary = json.loads((out / "summary.json").read_text())
    per_node = summary["cells_per_node"]
    assert set(per_node) == {two_node_cluster.head_node_id, two_node_cluster.worker_node_id}
    assert sum(per_node.values()) == summary["cells"] == len(GRIDS["quick"].cells())


def test_platform_actor_survives_the_loss_of_its_node(driver: TwoNodeCluster) -> None:
    actor = PlatformLikeActor.options(
        name="platform-like", lifetime="detached",
        scheduling_strategy=NodeAffinitySchedulingStrategy(driver.worker_node_id, soft=True),
    ).remote()  # fmt: skip
    try:
        assert ray.get(actor.node.remote(), timeout=60) == driver.worker_node_id
        first_pid = ray.get(actor.pid.remote(), timeout=30)

        started = time.monotonic()
        driver.lose_worker()
        # Calls wait while Ray declares the node dead and restarts the actor on the head.
        assert ray.get(actor.node.remote(), timeout=60) == driver.head_node_id
        assert ray.get(actor.pid.remote(), timeout=30) != first_pid
        assert time.monotonic() - started < 60
        assert [n["node_id"] for n in alive_nodes(driver.dashboard_url)] == [driver.head_node_id]
        # Found by name, as the API and the other actors find platform actors.
        found = ray.get_actor("platform-like", namespace="sep-two-nodes")
        assert ray.get(found.node.remote(), timeout=30) == driver.head_node_id
    finally:
        ray.kill(actor, no_restart=True)
