"""`sep`: the operator's command line (check services, bring the platform up and down).

sep check            each service: reachable, version, JetStream, TimescaleDB; and each
                     wallet's journal against the chain (non-zero exit on a mismatch)
sep journals archive move the journals to stale-journals/ (with the platform stopped)
sep services up      start the services that are not running (from packages)
sep up / sep down    services + local Ray cluster + the Serve application
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

import httpx
import yaml

from platform_core.config import Settings, get_settings
from platform_core.services import launcher, serve_ingress
from platform_core.services.checks import ServiceStatus, check_all, check_chain, check_journals

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVE_APP = "sep"  # the application name in serve_apps/serve_config.yaml
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def _run_dir() -> Path:
    return Path(os.environ.get("SEP_RUN_DIR", REPO_ROOT / ".run"))


def _print_status(statuses: list[ServiceStatus]) -> None:
    for s in statuses:
        state = "ok" if s.ok else ("unreachable" if not s.reachable else s.problem)
        details = {"version": s.version, **s.details} if s.version else s.details
        extra = " ".join(f"{k}={v}" for k, v in details.items())
        line = f"{s.name:<9} {state:<12} {s.url:<45} {extra}"
        print(line.rstrip())
        if s.error:
            print(f"{'':<9} {s.error}")


def cmd_check(settings: Settings, as_json: bool) -> int:
    statuses = asyncio.run(check_all(settings)) + asyncio.run(check_journals(settings))
    if as_json:
        print(json.dumps([s.__dict__ for s in statuses], indent=2))
    else:
        _print_status(statuses)
    return 0 if all(s.ok for s in statuses if s.required) else 1


def cmd_archive_journals(settings: Settings) -> int:
    """Move every journal beside `SEP_JOURNAL_PATH` to `stale-journals/<time>/`."""
    from platform_core.chain.journal import archive_journals

    moved = archive_journals(settings.journal_path)
    if not moved:
        print(f"journals: none beside {settings.journal_path}")
    else:
        print(f"journals: {len(moved)} files moved to {moved[0].parent}")
    return 0


async def rebuild_read_model(settings: Settings) -> int:
    """Rebuild the Redis read model and the reservation ledger from the event log
    (PostgreSQL), e.g. after Redis lost them; the number of intents. Run it with the
    platform stopped: events projected meanwhile would be cleared with the rest."""
    from platform_core.intent.ledger import ReservationLedger
    from platform_core.state.event_store import EventStore
    from platform_core.state.read_model import ReadModel

    store = await EventStore.connect(settings.postgres_dsn)
    read_model = ReadModel.from_url(settings.redis_url, prefix=settings.redis_key_prefix)
    ledger = ReservationLedger.from_url(settings.redis_url, prefix=settings.redis_key_prefix)
    try:
        return await read_model.rebuild(store, ledger=ledger)
    finally:
        await ledger.close()
        await read_model.close()
        await store.close()


def cmd_rebuild(settings: Settings) -> int:
    count = asyncio.run(rebuild_read_model(settings))
    print(f"read model: {count} intents and their reservations rebuilt from the event log")
    return 0


# Each service: how to start it (URL, run directory) and where the settings say it is.
_STARTERS: dict[str, tuple[Callable[[str, Path], launcher.Started], Callable[[Settings], str]]] = {
    "nats": (launcher.start_nats, lambda s: s.nats_url),
    "redis": (launcher.start_redis, lambda s: s.redis_url),
    "postgres": (launcher.start_postgres, lambda s: s.postgres_dsn),
}


def services_up(settings: Settings) -> int:
    record = launcher.RunRecord(_run_dir())
    statuses = {s.name: s for s in asyncio.run(check_all(settings))}
    failed = False
    for name, (start, url_of) in _STARTERS.items():
        status = statuses[name]
        if status.reachable:
            print(f"{name}: already running at {status.url} (left alone)")
            if status.error:
                print(f"{name}: WARNING {status.error}")
                failed = True
            continue
        try:
            entry = start(url_of(settings), _run_dir())
        except Exception as exc:
            print(f"{name}: could not start: {exc}", file=sys.stderr)
            failed = True
            continue
        record.add(entry)
        print(f"{name}: started {entry.detail} (pid {entry.pid})")
    if not failed:
        failed = not _wait_for_services(settings)
    return 1 if failed else 0


def _wait_for_services(settings: Settings, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        statuses = asyncio.run(check_all(settings))
        if all(s.ok for s in statuses if s.required):
            return True
        if time.monotonic() > deadline:
            _print_status(statuses)
            return False
        time.sleep(0.5)


def services_down(names: set[str] | None = None) -> int:
    record = launcher.RunRecord(_run_dir())
    for entry in reversed(record.load()):
        if names is not None and entry.name not in names:
            continue
        stopped = launcher.stop(entry)
        record.remove(entry.name)
        if stopped:
            print(f"{entry.name}: stopped ({entry.detail})")
        else:  # the next entries (the Ray head) take what it left with them
            print(f"{entry.name}: its stop command timed out; moving on ({entry.detail})")
    return 0


def _ray(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    ray_bin = str(Path(sys.prefix) / "bin" / "ray")
    return subprocess.run(
        [ray_bin, *args],
        env={**os.environ, **RAY_ENV},
        check=check,
        text=True,
        capture_output=True,
    )


def platform_up(settings: Settings) -> int:
    if services_up(settings) != 0:
        print("services are not all healthy: see above", file=sys.stderr)
        return 1
    if _devnet_up(settings) != 0:
        return 1
    record = launcher.RunRecord(_run_dir())
    if _ray_head_up(settings, record) != 0:
        return 1
    dashboard = f"http://127.0.0.1:{settings.ray_dashboard_port}"
    if not _wait_http(f"{dashboard}/api/version", timeout_s=90):
        print(
            f"ray: the dashboard (needed by serve deploy) did not answer at {dashboard}",
            file=sys.stderr,
        )
        return 1
    _prometheus_up(settings, record)
    if _serve_up(settings, record, dashboard) != 0 or _actors_up(settings) != 0:
        return 1
    base = f"http://{settings.api_host}:{settings.api_port}"
    if not _wait_http(f"{base}/healthz", timeout_s=180):
        print(f"serve: the API did not answer at {base} within 180 s", file=sys.stderr)
        return 1
    print(f"api: answering at {base} (OpenAPI at {base}/docs)")
    return 0


def _ray_head_up(settings: Settings, record: launcher.RunRecord) -> int:
    """Start the local Ray head unless one answers at the configured GCS port."""
    gcs = f"127.0.0.1:{settings.ray_gcs_port}"
    if _ray("status", "--address", gcs, check=False).returncode == 0:
        ours = any(entry.name == "ray" for entry in record.load())
        print(
            f"ray: already running at {gcs}"
            + (" (started by an earlier `sep up`)" if ours else " (left alone)")
            + "; Serve keeps the ingress the head started with"
        )
        return 0
    ingress = _ingress_env(settings, record)
    # `--block` keeps the head in the foreground of its own process group, so `down`
    # stops exactly this cluster (`ray stop` would stop every Ray on the machine).
    proc = launcher.spawn(
        [
            str(Path(sys.prefix) / "bin" / "ray"),
            "start",
            "--head",
            "--block",
            f"--port={settings.ray_gcs_port}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={settings.ray_dashboard_port}",
            f"--ray-client-server-port={settings.ray_client_port}",
            f"--dashboard-agent-listen-port={settings.ray_dashboard_agent_port}",
            f"--metrics-export-port={settings.ray_metrics_export_port}",
            "--disable-usage-stats",
        ],
        _run_dir() / "ray-head.log",
        env={**os.environ, **RAY_ENV, **_ray_metrics_env(settings), **ingress},
    )
    record.add(
        launcher.Started(
            "ray",
            proc.pid,
            f"Ray head at {gcs}",
            ports=[settings.ray_gcs_port, settings.ray_dashboard_port, settings.api_port],
        )
    )
    if not _wait_ray(gcs, proc, timeout_s=90):
        print(f"ray: the head did not come up; see {_run_dir() / 'ray-head.log'}", file=sys.stderr)
        return 1
    print(
        f"ray: started a head node at {gcs}, dashboard "
        f"http://127.0.0.1:{settings.ray_dashboard_port}"
    )
    return 0


def _serve_up(settings: Settings, record: launcher.RunRecord, dashboard: str) -> int:
    """Deploy the Serve application through the dashboard (retried: a dashboard that has
    just started can drop the first request) and record how to tear it down."""
    serve_bin = str(Path(sys.prefix) / "bin" / "serve")
    config = str(_render_serve_config(settings))
    for attempt in range(3):
        deploy = subprocess.run(
            [serve_bin, "deploy", config, "-a", dashboard],
            env={**os.environ, **RAY_ENV},
            text=True,
            capture_output=True,
            check=False,
        )
        if deploy.returncode == 0:
            break
        time.sleep(5.0 * (attempt + 1))
    if deploy.returncode != 0:
        print(f"serve: deploy failed:\n{deploy.stdout}{deploy.stderr}", file=sys.stderr)
        return 1
    gcs = f"127.0.0.1:{settings.ray_gcs_port}"
    record.add(
        launcher.Started(
            "serve",
            None,
            f"Serve application `{SERVE_APP}` and the platform actors",
            [sys.executable, "-m", "serve_apps.teardown", gcs, SERVE_APP],
        )
    )
    return 0


def _ingress_env(settings: Settings, record: launcher.RunRecord) -> dict[str, str]:
    """The head's environment for Serve's ingress: HAProxy's (`SEP_SERVE_INGRESS=haproxy`,
    files of this run's own, recorded for `sep down` to remove) when it can run here, else
    none: Serve's own proxy."""
    if settings.serve_ingress == "proxy":
        print("serve: ingress: Serve's proxy (SEP_SERVE_INGRESS=proxy)")
        return {}
    why_not = serve_ingress.haproxy_unavailable()
    if why_not is not None:
        print(f"serve: ingress: Serve's proxy, as HAProxy cannot run here ({why_not})")
        return {}
    files = serve_ingress.files_dir(_run_dir())
    link = _run_dir().resolve() / "haproxy"
    record.add(launcher.Started("haproxy", None, f"HAProxy's files in {files}",
                                ["rm", "-rf", str(files), str(link)]))  # fmt: skip
    env = serve_ingress.haproxy_env(files)
    print(f"serve: ingress: HAProxy (files in {files}, stats on port "
          f"{env['RAY_SERVE_HAPROXY_STATS_PORT']})")  # fmt: skip
    return env


def _actors_up(settings: Settings) -> int:
    """Start (or find) the platform actors on the cluster."""
    gcs = f"127.0.0.1:{settings.ray_gcs_port}"
    actors = subprocess.run(
        [sys.executable, "-m", "actors.launch", gcs],
        env={**os.environ, **RAY_ENV}, text=True, capture_output=True, check=False,
        timeout=300,
    )  # fmt: skip
    if actors.returncode != 0:
        print(f"actors: could not start:\n{actors.stdout}{actors.stderr}", file=sys.stderr)
        return 1
    print(actors.stdout.strip())
    return 0


def _ray_metrics_dir() -> Path:
    """Where the head that `sep up` starts writes Ray's generated metrics configuration:
    `prometheus/prometheus.yml` (the scrape config) and `grafana/dashboards/*.json`."""
    return _run_dir().resolve() / "ray-metrics"


def _ray_metrics_env(settings: Settings) -> dict[str, str]:
    """The head's environment for metrics: Ray's generated configuration in the run dir
    (not only the session's folder under /tmp/ray), and where the dashboard finds
    Prometheus (`RAY_PROMETHEUS_HOST`)."""
    env = {"RAY_METRICS_OUTPUT_ROOT": str(_ray_metrics_dir())}
    if settings.prometheus_port:
        env["RAY_PROMETHEUS_HOST"] = f"http://127.0.0.1:{settings.prometheus_port}"
    return env


def _ray_scrape_config(timeout_s: float = 30.0) -> Path | None:
    """Ray's generated Prometheus config: in the run dir when our head (or a head started
    with the same `RAY_METRICS_OUTPUT_ROOT`, as in cluster.yaml) wrote it, else the latest
    session's. The dashboard writes it as it starts: wait for it a little."""
    ours = _ray_metrics_dir() / "prometheus" / "prometheus.yml"
    latest = Path(tempfile.gettempdir()) / "ray" / "session_latest" / "metrics"
    deadline = time.monotonic() + timeout_s
    while True:
        if ours.exists():
            return ours
        if time.monotonic() > deadline:
            fallback = latest / "prometheus" / "prometheus.yml"
            return fallback.resolve() if fallback.exists() else None
        time.sleep(0.5)


def _prometheus_up(settings: Settings, record: launcher.RunRecord) -> None:
    """Prometheus on Ray's scrape config, so that Ray's and the platform's series are stored
    and can be graphed. Optional: when it cannot start, `sep up` says so and goes on."""
    port = settings.prometheus_port
    if not port:
        print("prometheus: not started (SEP_PROMETHEUS_PORT=0)")
        return
    url = f"http://127.0.0.1:{port}"
    if launcher._listening(port):
        ours = next((entry for entry in record.load() if entry.name == "prometheus"), None)
        if ours is not None:
            if ours.pid is not None:  # it re-reads Ray's config: a new head, a new session
                with contextlib.suppress(ProcessLookupError):
                    os.kill(ours.pid, signal.SIGHUP)
            print(f"prometheus: already running at {url} (started by an earlier `sep up`)")
        else:
            print(
                f"prometheus: not started: something else listens on port {port} "
                "(metrics are optional; SEP_PROMETHEUS_PORT picks another port)"
            )
        return
    config = _ray_scrape_config()
    if config is None:
        print("prometheus: not started: Ray wrote no scrape config (metrics are optional)")
        return
    try:
        entry = launcher.start_prometheus(config, port, _run_dir())
    except Exception as exc:
        print(f"prometheus: not started: {exc} (metrics are optional)")
        return
    record.add(entry)
    if not _wait_http(f"{url}/-/ready", timeout_s=60):
        launcher.stop(entry)
        record.remove(entry.name)
        log = _run_dir() / f"prometheus-{port}.log"
        print(f"prometheus: not started: it did not answer at {url}; see {log} "
              "(metrics are optional)")  # fmt: skip
        return
    print(f"prometheus: started at {url} (graph: {url}/graph), scraping per {config}")


def _devnet_up(settings: Settings) -> int:
    """Start the local chain when the configured one is a local address nobody answers on;
    a remote or already running chain is left alone."""
    from urllib.parse import urlsplit

    chain_id, chain = next(iter(settings.chains.items()))
    status = asyncio.run(check_chain(chain.rpc_url, chain_id))
    if status.reachable:
        print(f"chain: already running at {chain.rpc_url} (left alone)")
        return 0
    parts = urlsplit(chain.rpc_url)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        print(f"chain: {chain.rpc_url} does not answer ({status.error})", file=sys.stderr)
        return 1
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "devnet" / "run.py"), "up", "--port",
         str(parts.port or 8545)],
        env=os.environ.copy(), text=True, capture_output=True, check=False, timeout=120,
    )  # fmt: skip
    if result.returncode != 0:
        print(f"chain: the devnet did not start:\n{result.stdout}{result.stderr}", file=sys.stderr)
        return 1
    print(f"chain: started the devnet at {chain.rpc_url}")
    return 0


def _render_serve_config(settings: Settings) -> Path:
    """The committed Serve config with the HTTP address and the API's replicas taken from
    the settings."""
    config = yaml.safe_load((REPO_ROOT / "serve_apps" / "serve_config.yaml").read_text())
    config["http_options"] = {"host": settings.api_host, "port": settings.api_port}
    (app,) = (a for a in config["applications"] if a["name"] == SERVE_APP)
    app["deployments"] = [_api_deployment(settings)]
    path = _run_dir() / "serve_config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _api_deployment(settings: Settings) -> dict[str, object]:
    """The `IntentAPI` deployment's replicas: `SEP_API_REPLICAS`, or autoscaled from there
    up to `SEP_API_AUTOSCALE_MAX` when that is larger."""
    replicas = settings.api_replicas
    if settings.api_autoscale_max <= replicas:
        return {"name": "IntentAPI", "num_replicas": replicas}
    autoscaling = {
        "min_replicas": replicas,
        "max_replicas": settings.api_autoscale_max,
        "target_ongoing_requests": settings.api_target_ongoing_requests,
    }
    return {"name": "IntentAPI", "num_replicas": "auto", "autoscaling_config": autoscaling}


def _wait_ray(gcs: str, proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if _ray("status", "--address", gcs, check=False).returncode == 0:
            return True
        time.sleep(1.0)
    return False


def _wait_http(url: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    return False


def platform_down() -> int:
    # Serve first (it lives on Ray), then Ray, then the services: reverse start order.
    return services_down()


def _uuid(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {text!r}") from None


async def _keys(settings: Settings, action: str, value: UUID | str) -> int:
    from platform_core.api.keys import ApiKeys
    from platform_core.state.event_store import EventStore

    store = await EventStore.connect(settings.postgres_dsn)
    try:
        keys = ApiKeys(store.pool)
        if action == "create":
            assert isinstance(value, UUID)
            issued = await keys.issue(value)
            print(f"key id:   {issued.key_id}\nstrategy: {issued.strategy_id}")
            print(f"api key:  {issued.token}\n(shown once: only its hash is stored)")
            return 0
        assert isinstance(value, str)
        if await keys.revoke(value):
            print(f"revoked {value}")
            return 0
        print(f"no active key {value}", file=sys.stderr)
        return 1
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sep", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="report each service's state")
    check.add_argument("--json", action="store_true")
    services = sub.add_parser("services", help="start or stop the backing services")
    services.add_argument("action", choices=["up", "down"])
    keys = sub.add_parser("keys", help="issue or revoke a strategy's API key")
    keys_sub = keys.add_subparsers(dest="action", required=True)
    keys_sub.add_parser("create").add_argument(
        "--strategy", required=True, type=_uuid, help="the strategy's id (a UUID)"
    )
    keys_sub.add_parser("revoke").add_argument("key_id")
    journals = sub.add_parser("journals", help="the execution journals")
    journals.add_argument("action", choices=["archive"])
    sub.add_parser("rebuild", help="rebuild the read model and the ledger from the event log")
    sub.add_parser("up", help="services, Ray and the Serve application")
    sub.add_parser("down", help="stop what `up` started, and only that")
    args = parser.parse_args(argv)

    settings = get_settings()
    if args.command == "check":
        return cmd_check(settings, args.json)
    if args.command == "services":
        return (
            services_up(settings)
            if args.action == "up"
            else services_down({"nats", "redis", "postgres"})
        )
    if args.command == "journals":
        return cmd_archive_journals(settings)
    if args.command == "rebuild":
        return cmd_rebuild(settings)
    if args.command == "keys":
        value = args.strategy if args.action == "create" else args.key_id
        return asyncio.run(_keys(settings, args.action, value))
    if args.command == "up":
        return platform_up(settings)
    return platform_down()


if __name__ == "__main__":
    sys.exit(main())
