"""`OnnxPrioritizer`: loading, validation and batch scoring of the committed model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from platform_core.config import DEFAULT_PRIORITY_MODEL_PATH, Settings
from platform_core.intent.prioritizer import (
    FEATURE_NAMES,
    OnnxPrioritizer,
    PriorityModelError,
    to_scores,
)
from platform_core.types import MLFeatures


@pytest.fixture(scope="module")
def prioritizer() -> OnnxPrioritizer:
    return OnnxPrioritizer(DEFAULT_PRIORITY_MODEL_PATH)


def _probe_rows(n: int = 200) -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.column_stack(
        [
            np.exp(rng.uniform(0, np.log(86_400), n)),
            rng.uniform(1, 7.5, n),
            10 ** rng.uniform(-8, 0, n),
            rng.uniform(0, 0.3, n),
            rng.uniform(0, 0.6, n),
            rng.integers(0, 2, n),
            rng.integers(0, 2, n),
        ]
    ).astype(np.float32)


def test_batch_and_single_scores_agree(prioritizer: OnnxPrioritizer) -> None:
    rows = _probe_rows()
    batched = prioritizer.score_matrix(rows)
    singles = [prioritizer.score(list(map(float, row))) for row in rows]
    assert batched == singles
    assert all(1 <= s <= 10 for s in batched)
    assert len(set(batched)) >= 5  # the probe spans the scale, not one constant


def test_mlfeatures_and_vectors_score_alike(prioritizer: OnnxPrioritizer) -> None:
    features = MLFeatures(
        time_window_s=60,
        log10_notional_usd=5,
        size_to_liquidity=0.01,
        volatility=0.1,
        drawdown=0.3,
        is_dispose=1,
        is_aggressive=1,
    )
    assert prioritizer.score(features) == prioritizer.score(features.as_vector())
    assert (
        prioritizer.score_batch([features, features.as_vector()])
        == [prioritizer.score(features)] * 2
    )


def test_empty_batch(prioritizer: OnnxPrioritizer) -> None:
    assert prioritizer.score_batch([]) == []
    assert prioritizer.score_matrix(np.empty((0, len(FEATURE_NAMES)))) == []


@pytest.mark.parametrize(
    "shape", [(7,), (3, 6), (3, 8), (2, 7, 1)], ids=["1d", "too-few", "too-many", "3d"]
)
def test_bad_matrix_shapes_raise(prioritizer: OnnxPrioritizer, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"expected a \(batch, 7\) matrix"):
        prioritizer.urgency(np.ones(shape, dtype=np.float32))


def test_non_finite_matrix_raises(prioritizer: OnnxPrioritizer) -> None:
    rows = _probe_rows(3)
    rows[1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        prioritizer.score_matrix(rows)


@pytest.mark.parametrize(
    ("vector", "message"),
    [
        ([1.0] * 6, "expected 7 features"),
        ([1.0] * 8, "expected 7 features"),
        ([60, 4, 0.01, -0.1, 0.0, 0, 1], "invalid feature vector"),  # negative volatility
        ([60, 4, 0.01, 0.1, 2.0, 0, 1], "invalid feature vector"),  # drawdown > 1
        ([60, 4, 0.01, float("inf"), 0.0, 0, 1], "invalid feature vector"),
    ],
)
def test_bad_vectors_raise(prioritizer: OnnxPrioritizer, vector: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        prioritizer.score(vector)


def test_score_mapping_rounds_half_up_and_clips() -> None:
    assert to_scores(np.array([-3.0, 0.2, 1.49, 1.5, 5.5, 9.6, 12.0])) == [1, 1, 1, 2, 6, 10, 10]


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(PriorityModelError, match=r"not found.*make model"):
        OnnxPrioritizer(tmp_path / "absent.onnx")


def test_corrupt_model_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(DEFAULT_PRIORITY_MODEL_PATH.read_bytes()[:500])
    with pytest.raises(PriorityModelError, match="corrupt or not an ONNX model"):
        OnnxPrioritizer(broken)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"definitely not protobuf")
    with pytest.raises(PriorityModelError, match="corrupt or not an ONNX model"):
        OnnxPrioritizer(garbage)


def test_model_with_other_feature_order_is_refused(tmp_path: Path) -> None:
    proto = onnx.load(DEFAULT_PRIORITY_MODEL_PATH)
    reordered = list(reversed(FEATURE_NAMES))
    for prop in proto.metadata_props:
        if prop.key == "feature_names":
            prop.value = json.dumps(reordered)
    path = tmp_path / "reordered.onnx"
    onnx.save(proto, path)
    with pytest.raises(PriorityModelError, match="do not match MLFeatures"):
        OnnxPrioritizer(path)


def test_thread_counts_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEP_PRIORITY_INTRA_OP_THREADS", "2")
    settings = Settings()
    assert settings.priority_intra_op_threads == 2
    assert settings.priority_model_path == DEFAULT_PRIORITY_MODEL_PATH
    loaded = OnnxPrioritizer.from_settings(settings)
    assert loaded.thread_counts == (2, 1)
    assert loaded.score([60, 4, 0.01, 0.1, 0, 0, 1]) >= 1


def test_core_never_imports_ray() -> None:
    # platform_core must stay testable without a cluster; a fresh interpreter tells the truth.
    code = (
        "import sys, platform_core.intent.prioritizer, platform_core.intent.features, "
        "platform_core.intent.queue; print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
