"""`Prioritizer`: the ONNX priority model as a Serve deployment that scores in batches.

Every API replica sends each intent's features here (`PrioritizerClient`, the gate's
`Scorer`); `@serve.batch` gathers the requests arriving together from all replicas into one
`session.run`, which costs little more than one row. The batch sizes reached go to the
`sep_prioritizer_batch_size` histogram and to `stats()` (read by the benchmark).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Protocol, cast

from ray import serve
from ray.serve.handle import DeploymentHandle
from ray.util.metrics import Histogram

from platform_core.config import get_settings
from platform_core.intent.prioritizer import BatchSizes, OnnxPrioritizer
from platform_core.types import MLFeatures

_SIZES = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]


class _Batched(Protocol):
    """The setters `@serve.batch` puts on the method it wraps."""

    def set_max_batch_size(self, size: int) -> None: ...

    def set_batch_wait_timeout_s(self, timeout_s: float) -> None: ...


@cache
def batch_size_histogram() -> Histogram:
    return Histogram("sep_prioritizer_batch_size", "Rows per ONNX run of the Prioritizer",
                     boundaries=_SIZES)  # fmt: skip


@serve.deployment(name="Prioritizer", num_replicas=1, ray_actor_options={"num_cpus": 0.25},
                  max_ongoing_requests=1024)  # fmt: skip
class Prioritizer:
    def __init__(self) -> None:
        settings = get_settings()
        self._model = OnnxPrioritizer.from_settings(settings)
        self._sizes = BatchSizes()
        batched = cast(_Batched, self.score)
        batched.set_max_batch_size(settings.priority_batch_size)
        batched.set_batch_wait_timeout_s(settings.priority_batch_wait_ms / 1000)

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def score(self, batch: list[MLFeatures]) -> list[int]:
        """One priority per request; called with the requests gathered into one batch."""
        self._sizes.record(len(batch))
        batch_size_histogram().observe(len(batch))
        return self._model.score_batch(batch)

    def stats(self) -> dict[str, object]:
        """The batch sizes this replica has run (`BatchSizes.summary`)."""
        return self._sizes.summary()


class PrioritizerClient:
    """The gate's `Scorer` in an API replica: one request to the `Prioritizer` per intent."""

    def __init__(self, handle: DeploymentHandle[Any]) -> None:
        self._handle = handle

    async def score(self, features: MLFeatures) -> int:
        priority: int = await self._handle.score.remote(features)
        return priority
