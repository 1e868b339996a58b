"""Train the intent prioritiser and export it to ONNX (`models/priority.onnx`).

    python models/train_priority_model.py            # or: make model
    python models/train_priority_model.py --out /tmp/p.onnx --seed 7

There is no history of real intents to learn from yet, so the training set is generated:
feature vectors drawn over realistic ranges, labelled by `urgency_label`, a hand-written
rule that encodes the design's intuition (a liquidation in a crash is more urgent than a
routine DCA purchase). The regressor smooths that rule, and its monotonic constraints
guarantee the intuitions hold everywhere, not only where the samples fell. Everything is
seeded: the same seed and library versions give the same model.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import onnx
from skl2onnx import convert_sklearn
from skl2onnx.common import tree_ensemble
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from platform_core.types import MLFeatures

SEED = 20_240_601
N_SAMPLES = 20_000
MODEL_PATH = Path(__file__).resolve().parent / "priority.onnx"
INPUT_NAME = "features"
FEATURES = MLFeatures.feature_names()

# +1: urgency never falls as the feature grows; -1: never rises. One entry per feature.
MONOTONIC = {
    "time_window_s": -1,
    "log10_notional_usd": 1,
    "size_to_liquidity": 1,
    "volatility": 1,
    "drawdown": 1,
    "is_dispose": 1,
    "is_aggressive": 1,
}

DAY_S = 86_400.0


def sample_features(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` feature rows (columns in `FEATURES` order) over the ranges the platform sees."""
    window_s = np.exp(rng.uniform(0.0, np.log(DAY_S), n))  # 1 s .. 24 h, log-uniform
    log10_notional = rng.uniform(1.0, 7.5, n)  # $10 .. ~$30M
    log10_liquidity = rng.uniform(4.0, 9.0, n)  # $10k .. $1B in the pair's pools
    columns = {
        "time_window_s": window_s,
        "log10_notional_usd": log10_notional,
        "size_to_liquidity": 10.0 ** (log10_notional - log10_liquidity),
        "volatility": rng.uniform(0.0, 0.3, n),
        # Most of the time there is no drawdown at all.
        "drawdown": rng.uniform(0.0, 0.6, n) * (rng.random(n) < 0.6),
        "is_dispose": (rng.random(n) < 0.5).astype(float),
        "is_aggressive": (rng.random(n) < 0.5).astype(float),
    }
    return np.column_stack([columns[name] for name in FEATURES])


def urgency_label(x: np.ndarray) -> np.ndarray:
    """The rule the model learns: urgency in [1, 10] for each row of `x` (noise-free)."""
    col = {name: x[:, i] for i, name in enumerate(FEATURES)}
    # Each term is in [0, 1] and non-decreasing in urgency.
    window = 1.0 - np.log(np.clip(col["time_window_s"], 1.0, DAY_S)) / np.log(DAY_S)
    size = 1.0 - np.exp(-col["size_to_liquidity"] / 0.05)  # 5 % of the pool is a lot
    volatility = 1.0 - np.exp(-col["volatility"] / 0.05)
    crash = np.clip(col["drawdown"] / 0.3, 0.0, 1.0)
    notional = np.clip((col["log10_notional_usd"] - 2.0) / 5.0, 0.0, 1.0)  # $100 .. $10M
    weighted = (
        0.30 * window
        + 0.15 * size
        + 0.15 * volatility
        + 0.30 * col["is_dispose"] * crash  # liquidating into a crash dominates
        + 0.05 * crash
        + 0.10 * col["is_aggressive"]
        + 0.05 * notional
    )
    return 1.0 + 9.0 * weighted / 1.10  # 1.10: the sum of the weights


def make_dataset(seed: int = SEED, n: int = N_SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = sample_features(rng, n)
    y = urgency_label(x) + rng.normal(0.0, 0.25, n)  # labels are judgement calls: noisy
    return x.astype(np.float32), y


def train(seed: int = SEED) -> HistGradientBoostingRegressor:
    """A gradient-boosted tree ensemble with the monotonic constraints of `MONOTONIC`.

    Boosting, unlike a random forest, keeps its accuracy under those constraints (about
    0.2 RMSE against the noise-free rule, where a constrained forest stays near 1.0).
    """
    x, y = make_dataset(seed)
    model = HistGradientBoostingRegressor(
        max_iter=120,
        learning_rate=0.1,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        monotonic_cst=[MONOTONIC[name] for name in FEATURES],
        early_stopping=False,  # no random validation split: deterministic given the data
        random_state=seed,
    )
    # One OpenMP thread: on a shared, busy machine more threads spin and make a 0.3 s fit
    # take 15 s; the result is the same.
    with threadpool_limits(limits=1):
        return model.fit(x, y)


@contextmanager
def _integer_missing_flags() -> Iterator[None]:
    """skl2onnx 1.20 passes a Python bool for a leaf's `missing_value_tracks_true`, which
    protobuf >= 5 refuses in an int list; hand it an int instead, for this conversion only."""
    original = tree_ensemble.add_node

    def add_node(*args: Any, nodes_missing_value_tracks_true: Any = 0, **kwargs: Any) -> Any:
        flag = int(nodes_missing_value_tracks_true)
        return original(*args, nodes_missing_value_tracks_true=flag, **kwargs)

    with mock.patch.object(tree_ensemble, "add_node", add_node):
        yield


def to_onnx(model: HistGradientBoostingRegressor, seed: int = SEED) -> bytes:
    """The model as ONNX bytes, with the feature order recorded for the loader to check."""
    with _integer_missing_flags():
        proto = convert_sklearn(
            model,
            initial_types=[(INPUT_NAME, FloatTensorType([None, len(FEATURES)]))],
            target_opset={"": 17, "ai.onnx.ml": 3},
        )
    onnx.helper.set_model_props(
        proto,
        {
            "feature_names": json.dumps(FEATURES),
            "output": "urgency in [1, 10] before rounding",
            "training_seed": str(seed),
            "trained_by": "models/train_priority_model.py",
        },
    )
    proto.doc_string = "Strategy Execution Platform intent prioritiser"
    return proto.SerializeToString()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    payload = to_onnx(train(args.seed), args.seed)
    args.out.write_bytes(payload)
    print(f"wrote {args.out} ({len(payload) / 1024:.0f} KiB, seed {args.seed})")


if __name__ == "__main__":
    main()
