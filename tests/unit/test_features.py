"""`build_features`: the prioritiser's inputs from an intent and its market."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from platform_core.intent.features import FeatureError, MarketContext, build_features
from platform_core.types import Intent, IntentSubmission, MLFeatures

CALM = MarketContext(
    notional_usd=5_000.0, available_liquidity_usd=50_000_000.0, volatility=0.02, drawdown=0.0
)


def _intent(seed_intent: dict, **constraints: object) -> Intent:
    seed_intent["constraints"].update(constraints)
    return Intent.from_submission(IntentSubmission.model_validate(seed_intent))


def test_seed_intent_features(seed_intent: dict) -> None:
    features = build_features(_intent(seed_intent), CALM)
    assert features.time_window_s == 300.0
    assert features.log10_notional_usd == pytest.approx(math.log10(5_000))
    assert features.size_to_liquidity == pytest.approx(1e-4)
    assert (features.volatility, features.drawdown) == (0.02, 0.0)
    assert (features.is_dispose, features.is_aggressive) == (0.0, 1.0)


def test_dispose_and_passive_flags(seed_intent: dict) -> None:
    seed_intent["intent_type"] = "dispose"
    features = build_features(_intent(seed_intent, execution_style="passive"), CALM)
    assert (features.is_dispose, features.is_aggressive) == (1.0, 0.0)


def test_vector_follows_feature_names(seed_intent: dict) -> None:
    features = build_features(_intent(seed_intent), CALM)
    names = MLFeatures.feature_names()
    assert names[0] == "time_window_s" and len(names) == len(features.as_vector()) == 7
    assert features.as_vector() == [getattr(features, n) for n in names]


def test_is_pure(seed_intent: dict) -> None:
    intent = _intent(seed_intent)
    assert build_features(intent, CALM) == build_features(intent, CALM)


def test_numpy_numbers_are_accepted() -> None:
    market = MarketContext(np.float32(10.0), np.float64(1e6), np.float32(0.1), 0)  # type: ignore[arg-type]
    assert market.drawdown == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("notional_usd", 0.0, "notional_usd must be positive"),
        ("notional_usd", -5.0, "notional_usd must be positive"),
        ("available_liquidity_usd", 0.0, "available_liquidity_usd must be positive"),
        ("volatility", -0.01, "volatility cannot be negative"),
        ("volatility", math.nan, "volatility must be finite"),
        ("drawdown", 1.5, "drawdown must be in [0, 1]"),
        ("drawdown", -0.1, "drawdown must be in [0, 1]"),
        ("notional_usd", math.inf, "notional_usd must be finite"),
        ("notional_usd", "100", "notional_usd must be a number"),
        ("drawdown", True, "drawdown must be a number"),
    ],
)
def test_impossible_market_values_are_refused(field: str, value: object, message: str) -> None:
    values = {
        "notional_usd": 1.0,
        "available_liquidity_usd": 1.0,
        "volatility": 0.0,
        "drawdown": 0.0,
        field: value,
    }
    with pytest.raises(FeatureError, match=message.replace("[", r"\[").replace("]", r"\]")):
        MarketContext(**values)  # type: ignore[arg-type]


def test_features_model_refuses_nan_and_extras() -> None:
    good = dict(zip(MLFeatures.feature_names(), [60, 4, 0.01, 0.1, 0.2, 1, 1], strict=True))
    assert MLFeatures(**good).time_window_s == 60
    with pytest.raises(ValidationError):
        MLFeatures(**{**good, "volatility": math.nan})
    with pytest.raises(ValidationError):
        MLFeatures(**{**good, "time_window_s": 0})
    with pytest.raises(ValidationError):
        MLFeatures(**good, priority=10)
