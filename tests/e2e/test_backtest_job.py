"""The backtest as a user runs it: `ray job submit` to the cluster `sep up` started; the job
finishes, the dashboard's jobs list shows it, and its folder holds the report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pyarrow.parquet as pq

from platform_core.backtest.grid import GRIDS

RAY = str(Path(sys.executable).with_name("ray"))


def test_ray_job_submit_runs_the_backtest_and_writes_its_report(
    platform: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    _, env = platform
    dashboard = f"http://127.0.0.1:{env['SEP_RAY_DASHBOARD_PORT']}"
    out = tmp_path / "backtest"
    submitted = subprocess.run(
        [RAY, "job", "submit", "--address", dashboard, "--submission-id", f"bt-{tmp_path.name}",
         "--", sys.executable, "-m", "ray_jobs.backtest", "--grid", "quick", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    assert "succeeded" in submitted.stdout, submitted.stdout

    jobs = httpx.get(f"{dashboard}/api/jobs/", timeout=30).json()
    (job,) = [j for j in jobs if j.get("submission_id") == f"bt-{tmp_path.name}"]
    assert job["status"] == "SUCCEEDED" and "ray_jobs.backtest" in job["entrypoint"]

    cells = GRIDS["quick"].cells()
    table = pq.read_table(out / "cells.parquet")
    assert table.num_rows == len(cells)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cells"] == len(cells) and sum(summary["status"].values()) == len(cells)
    report = (out / "report.md").read_text()
    assert "# Backtest report" in report
    for png in ("shortfall_vs_size.png", "price_path.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png in report
