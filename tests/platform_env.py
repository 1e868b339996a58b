"""The environment of a whole platform started by `sep up` beside any other: ports of its
own, stream, subjects, Redis keys and database of its own, a devnet on a free port, and the
seed strategy trading from devnet wallet 1. Used by the end-to-end tier and the benchmarks."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.conftest import free_port, isolated_names

SEED_STRATEGY = "a1b2c3d4-e5f6-7890-1234-567890abcdef"
WALLET_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # devnet only: anvil's public account
PORT_SETTINGS = (
    "SEP_API_PORT",
    "SEP_RAY_GCS_PORT",
    "SEP_RAY_DASHBOARD_PORT",
    "SEP_RAY_CLIENT_PORT",
    "SEP_RAY_DASHBOARD_AGENT_PORT",
    "SEP_RAY_METRICS_EXPORT_PORT",
    "SEP_PROMETHEUS_PORT",
)


def isolated_platform_env(tag: str, run_dir: Path) -> dict[str, str]:
    """The `SEP_*` (and Ray) variables; `drop_test_resources(tag)` removes the names after."""
    return {
        **{f"SEP_{k.upper()}": v for k, v in isolated_names(tag).items()},
        **{name: str(free_port()) for name in PORT_SETTINGS},
        "SEP_RUN_DIR": str(run_dir),
        "SEP_JOURNAL_PATH": str(run_dir / "journal.sqlite"),
        # `sep up` starts the devnet on this free port.
        "SEP_CHAINS": json.dumps(
            {"42161": {"name": "arbitrum", "rpc_url": f"http://127.0.0.1:{free_port()}"}}
        ),
        "SEP_STRATEGY_WALLETS": json.dumps({SEED_STRATEGY: WALLET_1}),
        "RAY_AUTH_MODE": "disabled",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
