"""`sep up` / `sep down` (what `make up` / `make down` run), on ports of the test's own.

A whole local Ray cluster and the Serve application come up (`tests/e2e/conftest.py`); the
API answers a malformed intent with 422 naming the field; `down` stops exactly what `up`
started. This module runs after `test_lifecycle.py`, on the same platform, and ends it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import SEP, auth


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


def test_down_stops_what_up_started(platform: tuple[str, dict]) -> None:
    """Runs last in this module: it takes the platform down itself."""
    base, env = platform
    down = subprocess.run([*SEP, "down"], env=env, capture_output=True, text=True, timeout=180)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "ray: stopped" in down.stdout and "serve: stopped" in down.stdout
    assert "devnet: stopped" in down.stdout
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
