"""Batched scoring, as the `Prioritizer` deployment runs it: a batch of intents' features
in one ONNX run scores each exactly as scoring it alone, and the batch sizes reached are
counted."""

import numpy as np
import pytest

from platform_core.config import DEFAULT_PRIORITY_MODEL_PATH
from platform_core.intent.prioritizer import BatchSizes, OnnxPrioritizer
from platform_core.types import MLFeatures


@pytest.fixture(scope="module")
def prioritizer() -> OnnxPrioritizer:
    return OnnxPrioritizer(DEFAULT_PRIORITY_MODEL_PATH)


def _features(n: int) -> list[MLFeatures]:
    rng = np.random.default_rng(11)
    return [
        MLFeatures(
            time_window_s=float(np.exp(rng.uniform(0, np.log(86_400)))),
            log10_notional_usd=float(rng.uniform(1, 7.5)),
            size_to_liquidity=float(10 ** rng.uniform(-8, 0)),
            volatility=float(rng.uniform(0, 0.3)),
            drawdown=float(rng.uniform(0, 0.6)),
            is_dispose=float(rng.integers(0, 2)),
            is_aggressive=float(rng.integers(0, 2)),
        )
        for _ in range(n)
    ]


@pytest.mark.parametrize("size", [1, 2, 7, 32, 100])
def test_a_batch_scores_each_intent_as_alone(prioritizer: OnnxPrioritizer, size: int) -> None:
    features = _features(size)
    batched = prioritizer.score_batch(features)
    assert batched == [prioritizer.score(f) for f in features]
    assert all(1 <= s <= 10 for s in batched)


def test_the_probe_spans_the_scale(prioritizer: OnnxPrioritizer) -> None:
    assert len(set(prioritizer.score_batch(_features(100)))) >= 4


def test_batch_sizes_are_summarised() -> None:
    sizes = BatchSizes()
    assert sizes.summary() == {"batches": 0, "rows": 0, "mean": 0.0, "max": 0, "by_size": {}}
    for size in (1, 4, 4, 9):
        sizes.record(size)
    assert sizes.summary() == {
        "batches": 4,
        "rows": 18,
        "mean": 4.5,
        "max": 9,
        "by_size": {1: 1, 4: 2, 9: 1},
    }
