"""Schemathesis against the API's own `/openapi.json`, with a valid key, every check on:
the published contract is what the API does.

The API is the in-process app over the real PostgreSQL, Redis and NATS (isolated names)
and a private devnet (conftest.py); Schemathesis runs as its CLI does, in a subprocess,
with `schemathesis.toml` beside this file and the hooks of `schemathesis_hooks.py`.
Deterministic generation (`generation.deterministic`, no example database): the same cases
on every run, so CI is reproducible; `max-examples` bounds it (about 700 cases, well under
a minute on 2 cores).

Every check is enabled (`--checks all`); one is configured, not weakened:
`positive_data_acceptance` for `POST /intents` also accepts 422, because a well-formed
intent is denied (422 `intent_denied`, documented) on what no schema can carry: whether
its token has code on the chain, its decimals and symbol there, the wallet's balance, a
route. Generated tokens are random addresses, so nearly every positive case is denied that
way. The custom check `positive_refusals_depend_on_state` keeps the rest of the check: a
positive case refused with `validation_failed` (a static rule the schema did not publish)
fails, except for the two rules between list items JSON Schema cannot state
(`ASSET_DUPLICATE`: uniqueness by one member of each item; `VENUES_CONFLICT`: two lists with
no member in common), which the schema states in prose.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.attack.conftest import SEED_STRATEGY, LiveApi

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def test_openapi_contract_holds(live_api: LiveApi, tmp_path: Path) -> None:
    binary = Path(sys.executable).with_name("schemathesis")
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.attack.schemathesis_hooks",
        "SEP_ATTACK_STRATEGY": str(SEED_STRATEGY),
        "PYTHONPATH": str(ROOT),
    }
    run = subprocess.run(
        [str(binary), "--config-file", str(HERE / "schemathesis.toml"), "run",
         f"{live_api.url}/openapi.json", "--checks", "all", "--seed", "20240611",
         "-H", f"Authorization: Bearer {live_api.token}", "--no-color",
         "--report", "junit", "--report-junit-path", str(tmp_path / "junit.xml")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    summary = run.stdout[-6000:]
    assert run.returncode == 0, summary + run.stderr[-2000:]
    assert "0 passed" not in summary.split("Test cases:")[-1]
