"""`sep up` / `sep down` (what `make up` / `make down` run), on ports of the test's own.

A whole local Ray cluster and the Serve application come up; the API answers the seed
intent with 202 and a malformed one with 422 naming the field; `down` stops exactly what
`up` started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import drop_test_resources, free_port, isolated_names

SEP = [sys.executable, "-m", "platform_core.cli"]
SEED_STRATEGY = "a1b2c3d4-e5f6-7890-1234-567890abcdef"


def _auth(env: dict) -> dict[str, str]:
    return {"authorization": f"Bearer {env['TEST_API_KEY']}"}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    run_dir = tmp_path_factory.mktemp("run")
    tag = uuid.uuid4().hex[:10]
    env = {
        **os.environ,
        **{f"SEP_{k.upper()}": v for k, v in isolated_names(tag).items()},
        "SEP_RUN_DIR": str(run_dir),
        "SEP_API_PORT": str(free_port()),
        "SEP_RAY_GCS_PORT": str(free_port()),
        "SEP_RAY_DASHBOARD_PORT": str(free_port()),
        "SEP_RAY_CLIENT_PORT": str(free_port()),
        "SEP_RAY_DASHBOARD_AGENT_PORT": str(free_port()),
        # The chain: `sep up` starts the devnet on this free port; the seed strategy trades
        # from devnet wallet 1.
        "SEP_CHAINS": json.dumps(
            {"42161": {"name": "arbitrum", "rpc_url": f"http://127.0.0.1:{free_port()}"}}
        ),
        "SEP_STRATEGY_WALLETS": json.dumps(
            {SEED_STRATEGY: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"}
        ),
        "RAY_AUTH_MODE": "disabled",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    up = subprocess.run([*SEP, "up"], env=env, capture_output=True, text=True, timeout=480)
    try:
        assert up.returncode == 0, up.stdout + up.stderr + _tail(run_dir / "ray-head.log")
        assert "ray: started a head node" in up.stdout
        assert "chain: started the devnet" in up.stdout
        keys = subprocess.run(
            [*SEP, "keys", "create", "--strategy", SEED_STRATEGY], env=env, capture_output=True,
            text=True, timeout=60, check=True,
        )  # fmt: skip
        token = next(line.split()[-1] for line in keys.stdout.splitlines() if "api key" in line)
        env["TEST_API_KEY"] = token
        yield f"http://127.0.0.1:{env['SEP_API_PORT']}", env
    finally:
        subprocess.run([*SEP, "down"], env=env, capture_output=True, text=True, timeout=180)
        drop_test_resources(tag)


def _tail(path: Path) -> str:
    return path.read_text()[-3000:] if path.exists() else ""


def test_docs_answer(platform: tuple[str, dict]) -> None:
    base, _ = platform
    assert httpx.get(f"{base}/docs", timeout=10).status_code == 200
    assert "/intents" in httpx.get(f"{base}/openapi.json", timeout=10).json()["paths"]


def test_seed_intent_is_accepted_and_recorded(platform: tuple[str, dict], seed_intent) -> None:
    base, env = platform
    response = httpx.post(f"{base}/intents", json=seed_intent, headers=_auth(env), timeout=30)
    assert response.status_code == 202, response.text
    receipt = response.json()
    assert receipt["status"] == "pending" and 1 <= receipt["priority"] <= 10
    # The coordinator actor consumes IntentSubmitted: PostgreSQL log, then Redis view.
    deadline = time.monotonic() + 60
    view: dict = {}
    while time.monotonic() < deadline:
        answer = httpx.get(f"{base}{receipt['links']['self']}", headers=_auth(env), timeout=10)
        if answer.status_code == 200 and answer.json()["source"] == "read_model":
            view = answer.json()
            break
        time.sleep(0.5)
    assert view, "the read model never showed the intent"
    assert view["status"] == "pending" and view["last_sequence"] == 0
    assert view["priority"] == receipt["priority"]
    assert view["intent"]["assets"][0]["amount"] == "1.5"
    events = httpx.get(
        f"{base}{receipt['links']['events']}", headers=_auth(env), timeout=10
    ).json()["events"]
    assert [e["event_type"] for e in events] == ["IntentSubmitted"]


def test_malformed_intent_is_422_naming_the_field(platform: tuple[str, dict], seed_intent):
    base, env = platform
    seed_intent["constraints"]["max_slippage"] = "0.9"
    response = httpx.post(f"{base}/intents", json=seed_intent, headers=_auth(env), timeout=30)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "constraints.max_slippage"


def test_gate_denial_is_422_and_recorded(platform: tuple[str, dict], seed_intent) -> None:
    base, env = platform
    seed_intent["constraints"]["allowed_venues"] = ["curve"]
    response = httpx.post(f"{base}/intents", json=seed_intent, headers=_auth(env), timeout=60)
    assert response.status_code == 422
    body = response.json()
    assert "UNSUPPORTED_VENUE" in body["reason_codes"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = httpx.get(f"{base}{body['links']['self']}", headers=_auth(env), timeout=10)
        if answer.status_code == 200 and answer.json()["source"] == "read_model":
            break
        time.sleep(0.5)
    view = answer.json()
    assert view["status"] == "denied" and "UNSUPPORTED_VENUE" in view["reason_codes"]


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
