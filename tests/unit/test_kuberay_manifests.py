"""The KubeRay manifests under deploy/kuberay/: they parse, are KubeRay's kinds at `ray.io/v1`,
and match a JSON schema of the CRD fields they use.

No validator of KubeRay's CRDs installs from PyPI to run offline, and the CRDs are not ours
to copy in, so the schema below is written here from KubeRay's v1 API types
(RayService, RayJob, RayClusterSpec, HeadGroupSpec, WorkerGroupSpec): the fields it names and
their types, the fields every KubeRay version requires (`rayStartParams` and `template` in
every group, `groupName`, `minReplicas` and `maxReplicas` in worker groups), no unknown
field at KubeRay's own levels (a typo there would be dropped silently by the API server's
pruning), and string values wherever Kubernetes wants `map[string]string`. The pod template
is Kubernetes' own type: only what the platform relies on in it is checked.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from platform_core.config import Settings

ROOT = Path(__file__).resolve().parents[2]
KUBERAY = ROOT / "deploy" / "kuberay"

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}
_INT32 = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}

_CONTAINER = {
    "type": "object",
    "required": ["name", "image"],
    "properties": {
        "name": _NAME,
        "image": {"type": "string", "minLength": 1},
        "env": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
            },
        },
        "envFrom": {
            "type": "array",
            "items": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": False,
                "properties": {
                    "configMapRef": {"type": "object", "required": ["name"]},
                    "secretRef": {"type": "object", "required": ["name"]},
                    "prefix": {"type": "string"},
                },
            },
        },
        "ports": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["containerPort"],
                "properties": {
                    "containerPort": {"type": "integer", "minimum": 1, "maximum": 65535},
                    "name": {"type": "string", "maxLength": 15},
                },
            },
        },
    },
}

_POD_TEMPLATE = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["containers"],
            "properties": {"containers": {"type": "array", "minItems": 1, "items": _CONTAINER}},
        },
    },
    "additionalProperties": False,
}

_HEAD_GROUP = {
    "type": "object",
    "required": ["rayStartParams", "template"],
    "additionalProperties": False,
    "properties": {
        "serviceType": {"type": "string"},
        "headService": {"type": "object"},
        "enableIngress": {"type": "boolean"},
        "rayStartParams": _STRING_MAP,
        "template": _POD_TEMPLATE,
    },
}

_WORKER_GROUP = {
    "type": "object",
    "required": ["groupName", "minReplicas", "maxReplicas", "rayStartParams", "template"],
    "additionalProperties": False,
    "properties": {
        "groupName": {"type": "string", "minLength": 1},
        "replicas": _INT32,
        "minReplicas": _INT32,
        "maxReplicas": _INT32,
        "numOfHosts": _INT32,
        "suspend": {"type": "boolean"},
        "idleTimeoutSeconds": _INT32,
        "rayStartParams": _STRING_MAP,
        "template": _POD_TEMPLATE,
        "scaleStrategy": {"type": "object"},
    },
}

_RAY_CLUSTER_SPEC = {
    "type": "object",
    "required": ["headGroupSpec"],
    "additionalProperties": False,
    "properties": {
        "rayVersion": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
        "enableInTreeAutoscaling": {"type": "boolean"},
        "autoscalerOptions": {"type": "object"},
        "headServiceAnnotations": _STRING_MAP,
        "suspend": {"type": "boolean"},
        "headGroupSpec": _HEAD_GROUP,
        "workerGroupSpecs": {"type": "array", "items": _WORKER_GROUP},
    },
}


def _resource(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "ray.io/v1"},
            "kind": {"const": kind},
            "metadata": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": _NAME, "labels": _STRING_MAP},
            },
            "spec": spec,
        },
    }


SCHEMAS: dict[str, dict[str, Any]] = {
    "RayService": _resource(
        "RayService",
        {
            "type": "object",
            "required": ["serveConfigV2", "rayClusterConfig"],
            "additionalProperties": False,
            "properties": {
                "serveConfigV2": {"type": "string", "minLength": 1},
                "rayClusterConfig": _RAY_CLUSTER_SPEC,
                "upgradeStrategy": {"type": "object"},
                "serveService": {"type": "object"},
                "excludeHeadPodFromServeSvc": {"type": "boolean"},
                "serviceUnhealthySecondThreshold": {"type": "integer"},
                "deploymentUnhealthySecondThreshold": {"type": "integer"},
            },
        },
    ),
    "RayJob": _resource(
        "RayJob",
        {
            "type": "object",
            "required": ["entrypoint", "rayClusterSpec"],
            "additionalProperties": False,
            "properties": {
                "entrypoint": {"type": "string", "minLength": 1},
                "rayClusterSpec": _RAY_CLUSTER_SPEC,
                "submissionMode": {"enum": ["K8sJobMode", "HTTPMode", "InteractiveMode"]},
                "runtimeEnvYAML": {"type": "string"},
                "shutdownAfterJobFinishes": {"type": "boolean"},
                "ttlSecondsAfterFinished": _INT32,
                "activeDeadlineSeconds": {"type": "integer", "minimum": 1},
                "backoffLimit": _INT32,
                "suspend": {"type": "boolean"},
                "metadata": _STRING_MAP,
                "clusterSelector": _STRING_MAP,
                "submitterPodTemplate": _POD_TEMPLATE,
                "entrypointNumCpus": {"type": "number"},
                "entrypointResources": {"type": "string"},
            },
        },
    ),
    "ConfigMap": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "data"],
        "properties": {
            "apiVersion": {"const": "v1"},
            "metadata": {"type": "object", "required": ["name"], "properties": {"name": _NAME}},
            "data": _STRING_MAP,
        },
    },
    "PersistentVolumeClaim": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {"apiVersion": {"const": "v1"}},
    },
}


def _documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(KUBERAY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                found.append((path.name, doc))
    return found


def _one(kind: str) -> dict[str, Any]:
    (doc,) = [doc for _, doc in _documents() if doc["kind"] == kind]
    return doc


def _default(name: str) -> Any:
    return Settings.model_fields[name].default


def _groups(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    return [cluster["headGroupSpec"], *cluster.get("workerGroupSpecs", [])]


def _containers(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for group in _groups(cluster) for c in group["template"]["spec"]["containers"]]


def test_every_manifest_matches_its_schema() -> None:
    documents = _documents()
    kinds = sorted(doc["kind"] for _, doc in documents)
    assert kinds == ["ConfigMap", "PersistentVolumeClaim", "RayJob", "RayService"]
    for name, doc in documents:
        jsonschema.validate(doc, SCHEMAS[doc["kind"]])  # raises with the path of the error
        assert doc["metadata"]["name"], name


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        ("RayService", ["spec", "rayClusterConfig", "headGroupSpec", "rayStartParams", "port"],
         6380),  # a number where KubeRay wants a string
        ("RayService", ["spec", "rayClusterConfig", "workerGroupSpec"], []),  # a typo
        ("RayJob", ["apiVersion"], "ray.io/v1alpha1"),
        ("RayJob", ["spec", "submissionMode"], "JobMode"),
    ],
)  # fmt: skip
def test_the_schema_refuses_a_broken_copy(kind: str, path: list[str], value: Any) -> None:
    doc = _one(kind)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMAS[kind])


def test_rayservice_serves_the_platforms_application() -> None:
    service = _one("RayService")
    serve = yaml.safe_load(service["spec"]["serveConfigV2"])
    local = yaml.safe_load((ROOT / "serve_apps" / "serve_config.yaml").read_text())
    assert serve["applications"] == local["applications"]  # what `make up` deploys
    assert serve["http_options"]["port"] == _default("api_port")
    head = service["spec"]["rayClusterConfig"]["headGroupSpec"]
    launch = " ".join(head["template"]["spec"]["containers"][0]["lifecycle"]["postStart"]["exec"]
                      ["command"])  # fmt: skip
    assert f"python -m actors.launch 127.0.0.1:{_default('ray_gcs_port')}" in launch


def test_rayjob_runs_the_backtest() -> None:
    job = _one("RayJob")
    entrypoint = job["spec"]["entrypoint"].split()
    assert entrypoint[:3] == ["python", "-m", "ray_jobs.backtest"]
    out = entrypoint[entrypoint.index("--out") + 1]
    head = job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    mounts = [m["mountPath"] for m in head["containers"][0]["volumeMounts"]]
    assert any(out.startswith(mount + "/") for mount in mounts)  # results outlive the cluster
    claims = [v["persistentVolumeClaim"]["claimName"] for v in head["volumes"]]
    assert claims == [_one("PersistentVolumeClaim")["metadata"]["name"]]


def test_rayjob_arguments_are_the_backtests() -> None:
    entrypoint = _one("RayJob")["spec"]["entrypoint"].split()
    usage = subprocess.run(
        [sys.executable, "-m", "ray_jobs.backtest", "--help"], cwd=ROOT, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert usage.returncode == 0, usage.stderr
    for flag in (arg for arg in entrypoint if arg.startswith("--")):
        assert flag in usage.stdout, flag
    grid = entrypoint[entrypoint.index("--grid") + 1]
    assert re.search(rf"--grid \{{[^}}]*\b{grid}\b", usage.stdout), usage.stdout


@pytest.mark.parametrize("kind", ["RayService", "RayJob"])
def test_ports_settings_and_secrets(kind: str) -> None:
    doc = _one(kind)
    cluster = doc["spec"].get("rayClusterConfig") or doc["spec"]["rayClusterSpec"]
    head = cluster["headGroupSpec"]["rayStartParams"]
    assert head["port"] == str(_default("ray_gcs_port"))
    assert head["dashboard-port"] == str(_default("ray_dashboard_port"))
    for group in _groups(cluster):
        params = group["rayStartParams"]
        assert params["metrics-export-port"] == str(_default("ray_metrics_export_port"))
        assert params["dashboard-agent-listen-port"] == str(_default("ray_dashboard_agent_port"))
    for worker in cluster["workerGroupSpecs"]:
        assert yaml.safe_load(yaml.safe_load(worker["rayStartParams"]["resources"])) == {
            "worker_node": 1
        }  # the custom resource of cluster.yaml's workers and the two-node test
    config = _one("ConfigMap")
    for container in _containers(cluster):
        refs = container["envFrom"]
        assert {"configMapRef": {"name": config["metadata"]["name"]}} in refs
        for ref in refs:
            if "secretRef" in ref:  # created by the operator, never shipped here
                assert ref["secretRef"]["optional"] is True
    ports = {p["name"]: p["containerPort"] for p in _containers(cluster)[0]["ports"]}
    assert ports["gcs-server"] == _default("ray_gcs_port")
    assert ports["metrics"] == _default("ray_metrics_export_port")


def test_no_secret_is_shipped() -> None:
    config = _one("ConfigMap")["data"]
    assert not {"SEP_SIGNING_KEY", "SEP_SIGNING_KEYS", "SEP_KEYSTORE_PASSWORD"} & set(config)
    assert all(doc["kind"] != "Secret" for _, doc in _documents())
    for path in [*KUBERAY.glob("*.yaml"), ROOT / "cluster.yaml"]:
        assert not re.search(r"0x[0-9a-fA-F]{64}", path.read_text()), path
    # Every setting the ConfigMap names is one the platform reads.
    fields = {f"SEP_{name.upper()}" for name in Settings.model_fields}
    assert set(config) <= fields
