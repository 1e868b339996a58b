"""`make devnet` (devnet/run.py up) on a fresh chain: the journals of the previous chain are
archived when no platform runs, and left where they are while one does (its execution actors
hold them open; they notice the reset themselves and end intents with a verdict)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from platform_core.config import PROJECT_ROOT
from platform_core.services.launcher import RunRecord, Started
from tests.integration.conftest import free_port

RUN = [sys.executable, str(PROJECT_ROOT / "devnet" / "run.py")]


def _devnet(action: str, run_dir: Path, port: int) -> str:
    env = {
        **os.environ,
        "SEP_RUN_DIR": str(run_dir),
        "SEP_JOURNAL_PATH": str(run_dir / "journal.sqlite"),
    }
    done = subprocess.run(
        [*RUN, action, "--port", str(port)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("platform_running", [False, True])
def test_a_fresh_devnet_archives_journals_only_when_no_platform_runs(
    tmp_path: Path, platform_running: bool
) -> None:
    journal = tmp_path / "journal-uniswap_v3-0xabc.sqlite"
    journal.write_bytes(b"a journal of the previous chain")
    if platform_running:  # as `sep up` records its Ray head: this process stands in for it
        RunRecord(tmp_path).add(Started("ray", os.getpid(), "Ray head", ports=[]))
    port = free_port()
    try:
        out = _devnet("up", tmp_path, port)
    finally:
        _devnet("down", tmp_path, port)
    if platform_running:
        assert journal.read_bytes() == b"a journal of the previous chain"
        assert "JOURNAL_CHAIN_MISMATCH" in out and "make down && make up" in out
    else:
        assert not journal.exists()
        (archived,) = (tmp_path / "stale-journals").glob("*/" + journal.name)
        assert archived.read_bytes() == b"a journal of the previous chain"
        assert "journal files of the previous one moved" in out
