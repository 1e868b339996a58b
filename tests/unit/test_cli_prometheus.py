"""`sep up`'s Prometheus step: optional. When it cannot start, `sep up` says why and goes on;
what it starts is recorded for `sep down`. (The real start, on a real cluster, is in
tests/e2e/test_platform_up.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_core import cli
from platform_core.config import Settings
from platform_core.services import launcher
from tests.integration.conftest import free_port


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEP_RUN_DIR", str(tmp_path))
    config = tmp_path / "ray-metrics" / "prometheus" / "prometheus.yml"
    config.parent.mkdir(parents=True)
    config.write_text("scrape_configs: []\n")
    return tmp_path


def test_head_environment_names_prometheus_and_the_metrics_folder(run_dir: Path) -> None:
    env = cli._ray_metrics_env(Settings(prometheus_port=9123))
    assert env == {
        "RAY_METRICS_OUTPUT_ROOT": str(run_dir.resolve() / "ray-metrics"),
        "RAY_PROMETHEUS_HOST": "http://127.0.0.1:9123",
    }
    assert "RAY_PROMETHEUS_HOST" not in cli._ray_metrics_env(Settings(prometheus_port=0))


def test_port_zero_starts_none(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli._prometheus_up(Settings(prometheus_port=0), launcher.RunRecord(run_dir))
    assert "prometheus: not started (SEP_PROMETHEUS_PORT=0)" in capsys.readouterr().out
    assert launcher.RunRecord(run_dir).load() == []


def test_a_failed_start_is_said_and_not_fatal(
    run_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def cannot(*_: object) -> launcher.Started:
        raise RuntimeError("prometheus not found: install your distribution's prometheus")

    monkeypatch.setattr(launcher, "start_prometheus", cannot)
    cli._prometheus_up(Settings(prometheus_port=free_port()), launcher.RunRecord(run_dir))
    out = capsys.readouterr().out
    assert "prometheus: not started: prometheus not found" in out
    assert "(metrics are optional)" in out
    assert launcher.RunRecord(run_dir).load() == []


def test_a_start_that_never_answers_is_stopped_and_not_recorded(
    run_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    started = launcher.spawn(["sleep", "60"], run_dir / "sleep.log")
    monkeypatch.setattr(
        launcher, "start_prometheus",
        lambda *_: launcher.Started("prometheus", started.pid, "a stand-in", ports=[port]),
    )  # fmt: skip
    monkeypatch.setattr(cli, "_wait_http", lambda url, timeout_s: False)
    cli._prometheus_up(Settings(prometheus_port=port), launcher.RunRecord(run_dir))
    assert "prometheus: not started: it did not answer" in capsys.readouterr().out
    assert started.wait(timeout=10) is not None  # stopped
    assert launcher.RunRecord(run_dir).load() == []
