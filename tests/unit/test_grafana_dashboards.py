"""deploy/grafana/: the platform's Grafana dashboard and the provisioning that loads it beside
Ray's generated ones. Every query names only series the platform exports (the metric names of
actors/metrics.py, with the `ray_` prefix Ray's exporter adds). That each query is valid
PromQL that returns data is checked against a live Prometheus in
tests/e2e/test_platform_up.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"


def _exported_series() -> set[str]:
    """What Prometheus stores for each metric defined in actors/metrics.py."""
    source = (ROOT / "actors" / "metrics.py").read_text()
    series = set()
    for kind, name in re.findall(r'\b(Counter|Histogram)\(\s*"(\w+)"', source):
        if kind == "Counter":
            series.add(f"ray_{name}")
        else:
            series |= {f"ray_{name}_{suffix}" for suffix in ("bucket", "sum", "count")}
    return series


def _targets(dashboard: dict) -> list[dict]:
    return [t for panel in dashboard["panels"] for t in panel.get("targets", [])]


def test_platform_dashboard_queries_only_exported_series() -> None:
    exported = _exported_series()
    assert {"ray_sep_intents_total", "ray_sep_stage_seconds_bucket"} <= exported
    assert "ray_sep_route_fill_pct_count" in exported
    dashboard = json.loads((GRAFANA / "sep_platform.json").read_text())
    targets = _targets(dashboard)
    assert targets
    used = set()
    for target in targets:
        names = set(re.findall(r"\b(ray_sep_\w+)", target["expr"]))
        assert names, target["expr"]
        used |= names
    assert used <= exported, used - exported
    # Every series the platform exports is on the dashboard: intake, stages, fills, failures.
    assert {name.removesuffix("_bucket") for name in exported if "_bucket" in name} <= {
        name.rsplit("_", 1)[0] for name in used
    }
    statuses = " ".join(t["expr"] for t in targets)
    for status in ("pending", "denied", "completed", "failed", "expired"):
        assert status in statuses


def test_platform_dashboard_is_well_formed() -> None:
    dashboard = json.loads((GRAFANA / "sep_platform.json").read_text())
    assert dashboard["uid"] and dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    rows = [panel["title"] for panel in dashboard["panels"] if panel["type"] == "row"]
    assert rows == ["Intake", "Stages", "Fills", "Failures"]
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    assert "$session" in " ".join(t["expr"] for t in _targets(dashboard))


def test_provisioning_loads_rays_dashboards_and_ours() -> None:
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "sep.yml").read_text())
    paths = [p["options"]["path"] for p in providers["providers"]]
    assert paths == [
        "${SEP_CHECKOUT}/.run/ray-metrics/grafana/dashboards",  # where `sep up`'s head writes
        "${SEP_CHECKOUT}/deploy/grafana",
    ]
    sources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus" and source["url"].endswith(":9090")
