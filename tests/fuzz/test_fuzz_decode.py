"""Runs the atheris fuzzer of `decode_transaction` for a bounded time (FUZZ_SECONDS, default
20, at most 60) in a child process, so a crash or abort fails this test instead of pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import atheris  # noqa: F401 - the dev extra provides it; missing must fail, not skip

HARNESS = Path(__file__).with_name("fuzz_decode.py")


def test_decoder_survives_bounded_fuzzing(tmp_path: Path) -> None:
    seconds = min(int(os.environ.get("FUZZ_SECONDS", "20")), 60)
    run = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            f"-max_total_time={seconds}",
            "-timeout=10",  # one input taking longer counts as a hang
            "-rss_limit_mb=2048",
            f"-artifact_prefix={tmp_path}/",
            "-print_final_stats=1",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=False,
    )
    log = run.stdout + run.stderr
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash", "timeout")))
    assert run.returncode == 0, f"fuzzer failed ({crashes}):\n{log[-4000:]}"
    assert "Done " in log and "stat::number_of_executed_units" in log, log[-2000:]
    executed = int(log.split("stat::number_of_executed_units:")[1].split()[0])
    assert executed > 1000, f"only {executed} inputs ran:\n{log[-2000:]}"
