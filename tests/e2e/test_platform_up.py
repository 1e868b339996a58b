"""`sep up` / `sep down` (what `make up` / `make down` run), on ports of the test's own.

A whole local Ray cluster and the Serve application come up (`tests/e2e/conftest.py`); the
API answers a malformed intent with 422 naming the field; Prometheus (installed with apt when
absent) stores Ray's series and the platform's, and answers every query of the platform's
Grafana dashboard; `down` stops exactly what `up` started. This module runs after
`test_lifecycle.py`, on the same platform, and ends it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import FINAL, SEP, auth, wait_for_status

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "sep_platform.json"


def test_docs_answer(platform: tuple[str, dict]) -> None:
    base, _ = platform
    assert httpx.get(f"{base}/docs", timeout=10).status_code == 200
    assert "/intents" in httpx.get(f"{base}/openapi.json", timeout=10).json()["paths"]


def test_malformed_intent_is_422_naming_the_field(platform: tuple[str, dict], seed_intent):
    base, env = platform
    seed_intent["constraints"]["max_slippage"] = "0.9"
    response = httpx.post(f"{base}/intents", json=seed_intent, headers=auth(env), timeout=30)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "constraints.max_slippage"


def test_oversized_body_is_413_over_serve(platform: tuple[str, dict]) -> None:
    base, _ = platform
    response = httpx.post(
        f"{base}/intents",
        content=b" " * (1024 * 1024),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413


def _promql(prometheus: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "success", (expr, body)
    return body["data"]["result"]


def _dashboard_queries() -> dict[str, str]:
    """Each panel query of the platform's Grafana dashboard, with Grafana's variables set."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return {
        f"{panel['title']} / {target['refId']}": target["expr"]
        .replace("$__rate_interval", "1m")
        .replace("$__range", "1h")
        .replace("$session", ".*")
        for panel in panels
        for target in panel.get("targets", [])
    }


def test_prometheus_stores_ray_and_platform_series(
    platform: tuple[str, dict], seed_intent: dict
) -> None:
    base, env = platform
    run_dir = Path(env["SEP_RUN_DIR"])
    up = (run_dir / "sep-up.out").read_text()
    assert "prometheus: started" in up, up[-3000:]
    prometheus = f"http://127.0.0.1:{env['SEP_PROMETHEUS_PORT']}"
    assert httpx.get(f"{prometheus}/-/ready", timeout=10).status_code == 200
    # The Ray dashboard was told where it is (RAY_PROMETHEUS_HOST) and reaches it.
    dashboard = f"http://127.0.0.1:{env['SEP_RAY_DASHBOARD_PORT']}"
    health = httpx.get(f"{dashboard}/api/prometheus_health", timeout=10)
    assert health.status_code == 200, health.text
    # Ray's generated configuration is in the run dir: the scrape config Prometheus runs on
    # and Grafana dashboards (deploy/grafana/provisioning/ loads them beside ours).
    metrics = run_dir / "ray-metrics"
    assert str(metrics / "prometheus" / "prometheus.yml") in up
    assert sorted((metrics / "grafana" / "dashboards").glob("*.json"))
    # Scraping Ray's generated targets: this cluster's metrics export port among them.
    targets = httpx.get(f"{prometheus}/api/v1/targets", timeout=10).json()["data"]
    scraped = {t["labels"]["instance"] for t in targets["activeTargets"]}
    assert any(i.endswith(f":{env['SEP_RAY_METRICS_EXPORT_PORT']}") for i in scraped), scraped

    # An intent of the test's own, so the platform's series have values whatever ran before.
    response = httpx.post(f"{base}/intents", json=seed_intent, headers=auth(env), timeout=60)
    assert response.status_code == 202, response.text
    view = wait_for_status(base, env, response.json()["intent_id"], FINAL)
    assert view["status"] == "completed", view

    wanted = {
        "ray": 'count({__name__=~"ray_.+", __name__!~"ray_sep_.+"})',
        "accepted": 'ray_sep_intents_total{status="pending"}',
        "completed": 'ray_sep_intents_total{status="completed"}',
        "stages": 'ray_sep_stage_seconds_count{stage="final"}',
        "fills": "ray_sep_route_fill_pct_count",
    }
    # Every query of the shipped Grafana dashboard is valid PromQL over these series (each
    # is asked, and must answer), and the intake, stage, fill and verdict panels show data.
    queries = _dashboard_queries()
    showing = ("Accepted in the range", "Mean seconds", "Confirmed steps", "Verdicts in")
    deadline = time.monotonic() + 120  # Ray reports every 10 s, Prometheus scrapes every 10 s
    while True:
        missing = [name for name, expr in wanted.items() if not _promql(prometheus, expr)]
        results = {title: _promql(prometheus, expr) for title, expr in queries.items()}
        missing += [
            panel for panel in showing
            if not any(title.startswith(panel) and r for title, r in results.items())
        ]  # fmt: skip
        if not missing:
            break
        assert time.monotonic() < deadline, f"nothing in Prometheus for {missing}"
        time.sleep(2.0)


def test_down_stops_what_up_started(platform: tuple[str, dict]) -> None:
    """Runs last in this module: it takes the platform down itself."""
    base, env = platform
    down = subprocess.run([*SEP, "down"], env=env, capture_output=True, text=True, timeout=180)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "ray: stopped" in down.stdout and "serve: stopped" in down.stdout
    assert "devnet: stopped" in down.stdout
    assert "prometheus: stopped" in down.stdout
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{env['SEP_PROMETHEUS_PORT']}/-/ready", timeout=3)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{base}/healthz", timeout=3)
    status = subprocess.run(
        [
            str(Path(sys.prefix) / "bin" / "ray"),
            "status",
            "--address",
            f"127.0.0.1:{env['SEP_RAY_GCS_PORT']}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode != 0
    # The shared services were never ours to stop.
    assert "nats: stopped" not in down.stdout
