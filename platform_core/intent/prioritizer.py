"""`OnnxPrioritizer`: the trained priority model (`models/priority.onnx`) behind a small API.

The model regresses an urgency in [1, 10]; the platform wants an integer score, so the
output is rounded half up and clipped. Scoring a batch is one `session.run`, which costs
little more than scoring one row (`benchmarks/bench_prioritizer.py`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from pydantic import ValidationError

from platform_core.config import Settings
from platform_core.errors import ErrorCode, PlatformError
from platform_core.intent import MAX_SCORE, MIN_SCORE
from platform_core.types import MLFeatures

FEATURE_NAMES: tuple[str, ...] = tuple(MLFeatures.feature_names())

FeatureRow = MLFeatures | Sequence[float]


class PriorityModelError(PlatformError, RuntimeError):
    """The model file is missing, unreadable, or not a model this code can feed."""

    code = ErrorCode.PRIORITY_MODEL_INVALID


def to_row(features: FeatureRow) -> np.ndarray:
    """One validated input row (float32, in `FEATURE_NAMES` order).

    A plain vector is checked against `MLFeatures`' rules (length, ranges, finiteness), so
    the same garbage is refused whichever way it arrives.
    """
    if not isinstance(features, MLFeatures):
        values = list(features)
        if len(values) != len(FEATURE_NAMES):
            raise ValueError(
                f"expected {len(FEATURE_NAMES)} features {list(FEATURE_NAMES)}, got {len(values)}"
            )
        try:
            features = MLFeatures.model_validate(dict(zip(FEATURE_NAMES, values, strict=True)))
        except ValidationError as exc:
            raise ValueError(f"invalid feature vector: {exc}") from exc
    return np.asarray(features.as_vector(), dtype=np.float32)


def to_scores(urgency: np.ndarray) -> list[int]:
    """Raw model outputs to integer scores in [MIN_SCORE, MAX_SCORE] (monotone)."""
    rounded = np.floor(np.asarray(urgency, dtype=np.float64) + 0.5)
    return [int(s) for s in np.clip(rounded, MIN_SCORE, MAX_SCORE)]


class OnnxPrioritizer:
    """Loads the model once; scores single rows or whole batches."""

    def __init__(
        self, model_path: Path | str, *, intra_op_threads: int = 1, inter_op_threads: int = 1
    ) -> None:
        self.model_path = Path(model_path)
        try:
            payload = self.model_path.read_bytes()
        except FileNotFoundError:
            raise PriorityModelError(
                f"priority model not found at {self.model_path}: run `make model`, or set "
                "SEP_PRIORITY_MODEL_PATH"
            ) from None
        except OSError as exc:
            message = f"cannot read priority model {self.model_path}: {exc}"
            raise PriorityModelError(message) from exc

        options = ort.SessionOptions()
        # Explicit counts: onnxruntime's default is one thread per core, which fights every
        # other replica and actor on the machine.
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = inter_op_threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._session = ort.InferenceSession(
                payload, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own types for bad protobufs
            raise PriorityModelError(
                f"priority model {self.model_path} is corrupt or not an ONNX model: {exc}"
            ) from exc
        self._input_name = self._check_signature()

    @classmethod
    def from_settings(cls, settings: Settings) -> OnnxPrioritizer:
        return cls(
            settings.priority_model_path,
            intra_op_threads=settings.priority_intra_op_threads,
            inter_op_threads=settings.priority_inter_op_threads,
        )

    def _check_signature(self) -> str:
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise PriorityModelError(
                f"{self.model_path}: expected one input and one output, got "
                f"{len(inputs)} and {len(outputs)}"
            )
        shape = inputs[0].shape
        if inputs[0].type != "tensor(float)" or len(shape) != 2 or shape[1] != len(FEATURE_NAMES):
            raise PriorityModelError(
                f"{self.model_path}: input is {inputs[0].type} {shape}, expected "
                f"tensor(float) [batch, {len(FEATURE_NAMES)}]"
            )
        # The exporter records the column order; a model trained on another order would
        # score plausibly and wrongly, so refuse it.
        recorded = self._session.get_modelmeta().custom_metadata_map.get("feature_names")
        if recorded is None or tuple(json.loads(recorded)) != FEATURE_NAMES:
            raise PriorityModelError(
                f"{self.model_path}: model features {recorded} do not match MLFeatures "
                f"{list(FEATURE_NAMES)}; retrain with `make model`"
            )
        name: str = inputs[0].name
        return name

    @property
    def thread_counts(self) -> tuple[int, int]:
        """(intra-op, inter-op) threads the session actually runs with."""
        options = self._session.get_session_options()
        return options.intra_op_num_threads, options.inter_op_num_threads

    def urgency(self, rows: np.ndarray) -> np.ndarray:
        """The model's raw outputs for a (batch, n_features) matrix, in one `session.run`."""
        matrix = np.asarray(rows, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != len(FEATURE_NAMES):
            raise ValueError(
                f"expected a (batch, {len(FEATURE_NAMES)}) matrix, got shape {matrix.shape}"
            )
        if not np.isfinite(matrix).all():
            raise ValueError("feature matrix holds NaN or infinity")
        if matrix.shape[0] == 0:
            return np.empty(0, dtype=np.float32)
        (output,) = self._session.run(None, {self._input_name: matrix})
        return np.asarray(output, dtype=np.float32).reshape(-1)

    def score_matrix(self, rows: np.ndarray) -> list[int]:
        return to_scores(self.urgency(rows))

    def score_batch(self, batch: Sequence[FeatureRow]) -> list[int]:
        """Scores for many intents, validated row by row, run as one batch."""
        if not batch:
            return []
        return self.score_matrix(np.stack([to_row(f) for f in batch]))

    def score(self, features: FeatureRow) -> int:
        return self.score_batch([features])[0]


class BatchSizes:
    """The sizes of the batches a batching scorer ran (the `Prioritizer` deployment): how
    far batching went under the load it saw."""

    def __init__(self) -> None:
        self._counts: Counter[int] = Counter()

    def record(self, size: int) -> None:
        self._counts[size] += 1

    def summary(self) -> dict[str, object]:
        """Batches, rows, mean and largest size, and the count per size."""
        batches = sum(self._counts.values())
        rows = sum(size * n for size, n in self._counts.items())
        return {
            "batches": batches,
            "rows": rows,
            "mean": rows / batches if batches else 0.0,
            "max": max(self._counts, default=0),
            "by_size": dict(sorted(self._counts.items())),
        }
