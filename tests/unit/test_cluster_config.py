"""`cluster.yaml`: what `ray up` checks before it starts a machine, run here on the file.

`ray up` prepares a config (`prepare_config`: the provider's defaults, merged setup commands,
per-type worker counts) and then validates it (`validate_config`: Ray's JSON schema,
`ray/autoscaler/ray-schema.json`, and its rules on node types and worker counts). Only the
provider's own bootstrap (cloud credentials, networks) is left for a real `ray up`.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from platform_core.config import Settings

CLUSTER = Path(__file__).resolve().parents[2] / "cluster.yaml"


def _default(name: str) -> Any:
    return Settings.model_fields[name].default


@pytest.fixture
def config() -> dict[str, Any]:
    return yaml.safe_load(CLUSTER.read_text())


def _flag(commands: list[str], flag: str) -> str:
    found = re.findall(rf"--{flag}=(\S+)", " ".join(commands))
    assert len(found) == 1, (flag, found)
    return found[0]


def test_ray_accepts_cluster_yaml(config: dict[str, Any]) -> None:
    prepared = prepare_config(config)
    validate_config(prepared)  # raises on any error, as `ray up` would
    assert prepared["head_node_type"] == "sep_head"
    assert set(prepared["available_node_types"]) == {"sep_head", "sep_worker"}
    worker = prepared["available_node_types"]["sep_worker"]
    assert 1 <= worker["min_workers"] <= worker["max_workers"] <= prepared["max_workers"]
    assert worker["resources"]["worker_node"] == 1  # what work asks for to land on a worker


@pytest.mark.parametrize(
    "breakage",
    [
        lambda c: c.update(unknown_field=1),
        lambda c: c["available_node_types"]["sep_worker"].pop("resources"),
        lambda c: c.update(head_node_type="no_such_type"),
        lambda c: c["available_node_types"]["sep_worker"].update(min_workers=99),
    ],
    ids=["unknown field", "worker without resources", "unknown head type", "min > max"],
)
def test_the_same_validation_refuses_a_broken_copy(config: dict[str, Any], breakage) -> None:
    broken = copy.deepcopy(config)
    breakage(broken)
    with pytest.raises((jsonschema.ValidationError, ValueError)):
        validate_config(prepare_config(broken))


def test_start_commands_use_the_platforms_ports(config: dict[str, Any]) -> None:
    head, worker = config["head_start_ray_commands"], config["worker_start_ray_commands"]
    gcs = _default("ray_gcs_port")
    assert int(_flag(head, "port")) == gcs
    assert int(_flag(head, "dashboard-port")) == _default("ray_dashboard_port")
    assert int(_flag(head, "ray-client-server-port")) == _default("ray_client_port")
    for commands in (head, worker):
        assert int(_flag(commands, "metrics-export-port")) == _default("ray_metrics_export_port")
        assert int(_flag(commands, "dashboard-agent-listen-port")) == _default(
            "ray_dashboard_agent_port"
        )
    assert _flag(worker, "address") == f"$RAY_HEAD_IP:{gcs}"
    head_text = " ".join(head)
    assert f"RAY_PROMETHEUS_HOST=http://127.0.0.1:{_default('prometheus_port')}" in head_text
    assert "RAY_METRICS_OUTPUT_ROOT=$HOME/sep/.run/ray-metrics" in head_text  # where sep up looks
    # The API: `sep up` deploys Serve on SEP_API_PORT (default 8000), on every interface.
    assert "SEP_API_HOST=0.0.0.0" in head_text and "SEP_API_PORT" not in head_text
    assert head_text.rstrip().endswith(".venv/bin/sep up")
    assert _default("api_port") == 8000
    serve = yaml.safe_load((CLUSTER.parent / "serve_apps" / "serve_config.yaml").read_text())
    assert serve["http_options"]["port"] == _default("api_port")


def test_setup_installs_the_project(config: dict[str, Any]) -> None:
    setup = " ".join(config["setup_commands"])
    assert "make install" in setup
    assert config["file_mounts"]["~/sep"] == "."  # the checkout `ray up` runs from
    assert "prometheus" in " ".join(config["head_setup_commands"])
    image = config["available_node_types"]["sep_head"]["node_config"]["disks"][0]
    assert image["initializeParams"]["sourceImage"].endswith("/family/debian-12")
