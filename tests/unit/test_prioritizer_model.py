"""The committed model: reproducible from its script, and faithful to the design's intuition
(a liquidation in a crash outranks a routine purchase)."""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from platform_core.config import DEFAULT_PRIORITY_MODEL_PATH
from platform_core.intent.prioritizer import FEATURE_NAMES, OnnxPrioritizer

SCRIPT = Path(__file__).resolve().parents[2] / "models" / "train_priority_model.py"
COL = {name: i for i, name in enumerate(FEATURE_NAMES)}

# A routine DCA purchase, and the same-sized liquidation into a crash.
CALM_ACQUIRE = [86_400.0, 3.0, 1e-5, 0.01, 0.0, 0.0, 0.0]
CRASH_DISPOSE = [60.0, 5.0, 0.01, 0.15, 0.4, 1.0, 1.0]


def _load_training_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_priority_model", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def trainer() -> ModuleType:
    return _load_training_script()


@pytest.fixture(scope="module")
def committed() -> OnnxPrioritizer:
    return OnnxPrioritizer(DEFAULT_PRIORITY_MODEL_PATH)


def _probe(trainer: ModuleType, n: int = 2_000) -> np.ndarray:
    # Points the training set never saw (another seed), over the same ranges.
    return trainer.sample_features(np.random.default_rng(99), n).astype(np.float32)


def test_committed_model_equals_a_fresh_training(
    trainer: ModuleType, committed: OnnxPrioritizer, tmp_path: Path
) -> None:
    fresh_path = tmp_path / "fresh.onnx"
    fresh_path.write_bytes(trainer.to_onnx(trainer.train()))
    fresh = OnnxPrioritizer(fresh_path)
    probe = _probe(trainer)
    np.testing.assert_allclose(
        fresh.urgency(probe),
        committed.urgency(probe),
        atol=1e-5,
        err_msg="models/priority.onnx is stale: retrain it with `make model`",
    )
    assert fresh.score_matrix(probe) == committed.score_matrix(probe)


def test_dataset_is_seeded(trainer: ModuleType) -> None:
    x1, y1 = trainer.make_dataset(seed=3, n=500)
    x2, y2 = trainer.make_dataset(seed=3, n=500)
    x3, _ = trainer.make_dataset(seed=4, n=500)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert not np.array_equal(x1, x3)


def test_model_tracks_its_rule(trainer: ModuleType, committed: OnnxPrioritizer) -> None:
    probe = _probe(trainer)
    rule = trainer.urgency_label(probe.astype(np.float64))
    error = committed.urgency(probe) - rule
    assert np.sqrt(np.mean(error**2)) < 0.35  # the label noise alone is 0.25
    scores = np.array(committed.score_matrix(probe))
    assert np.mean(np.abs(scores - np.clip(np.floor(rule + 0.5), 1, 10)) <= 1) > 0.97


def _base_points() -> Iterator[list[float]]:
    """A grid of contexts to vary one feature around."""
    for window, vol, dd, dispose, aggressive in itertools.product(
        [5.0, 300.0, 7_200.0], [0.0, 0.05, 0.2], [0.0, 0.35], [0.0, 1.0], [0.0, 1.0]
    ):
        yield [window, 4.0, 1e-3, vol, dd, dispose, aggressive]


def _sweep(feature: str, values: list[float]) -> np.ndarray:
    """Rows: every base point with `feature` set to each of `values`, grouped by base."""
    rows = []
    for base in _base_points():
        for value in values:
            row = list(base)
            row[COL[feature]] = value
            rows.append(row)
    return np.array(rows, dtype=np.float32)


@pytest.mark.parametrize(
    ("feature", "increasing_urgency"),
    [
        ("time_window_s", [86_400.0, 3_600.0, 300.0, 60.0, 10.0, 1.0]),  # shorter is more urgent
        ("size_to_liquidity", [1e-6, 1e-4, 1e-3, 0.01, 0.05, 0.2, 1.0]),
        ("volatility", [0.0, 0.01, 0.03, 0.06, 0.1, 0.2, 0.3]),
        ("drawdown", [0.0, 0.05, 0.1, 0.2, 0.3, 0.5]),
        ("log10_notional_usd", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]),
        ("is_aggressive", [0.0, 1.0]),
        ("is_dispose", [0.0, 1.0]),
    ],
)
def test_urgency_never_falls_along_the_intuitions(
    committed: OnnxPrioritizer, feature: str, increasing_urgency: list[float]
) -> None:
    rows = _sweep(feature, increasing_urgency)
    raw = committed.urgency(rows).reshape(-1, len(increasing_urgency))
    scores = np.array(committed.score_matrix(rows)).reshape(raw.shape)
    assert (np.diff(raw, axis=1) >= 0).all(), f"urgency fell as {feature} grew"
    assert (np.diff(scores, axis=1) >= 0).all()
    # And it matters: across the sweep the score actually rises somewhere.
    assert (scores[:, -1] > scores[:, 0]).any()


def test_dispose_in_drawdown_outranks_calm_acquire(committed: OnnxPrioritizer) -> None:
    crash, calm = committed.score_batch([CRASH_DISPOSE, CALM_ACQUIRE])
    assert crash >= 8 and calm <= 2
    # The same intent, only the side and the market differ.
    dispose_in_crash = [300.0, 4.0, 1e-3, 0.05, 0.4, 1.0, 0.0]
    acquire_in_calm = [300.0, 4.0, 1e-3, 0.05, 0.0, 0.0, 0.0]
    high, low = committed.score_batch([dispose_in_crash, acquire_in_calm])
    assert high > low


def test_seed_example_scores_mid_scale(committed: OnnxPrioritizer) -> None:
    # "acquire 1.5 WETH with USDC within 5 minutes, aggressively", quiet market: routine.
    assert 3 <= committed.score([300.0, np.log10(5_000), 1e-4, 0.02, 0.0, 0.0, 1.0]) <= 5
