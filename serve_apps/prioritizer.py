"""`Prioritizer`: the ONNX priority model as a Ray Serve deployment, batched.

The API holds a `DeploymentHandle` and awaits `handle.score.remote(features)`. Concurrent
calls are gathered by `@serve.batch` into one `session.run`: a tree ensemble costs little
more for 32 rows than for one, so batching is where the throughput comes from. The logic
lives in `platform_core.intent.prioritizer`; this class only wires it into Serve.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np
from ray import serve

from platform_core.config import get_settings
from platform_core.intent.prioritizer import FeatureRow, OnnxPrioritizer, to_row

MAX_BATCH_SIZE = 32
BATCH_WAIT_TIMEOUT_S = 0.005  # a request waits at most 5 ms for others to share its run
RECENT_BATCHES = 1_000


@serve.deployment(
    name="Prioritizer",
    num_replicas=1,
    ray_actor_options={"num_cpus": 0.25},
    max_ongoing_requests=256,  # enough waiting requests to fill batches of 32
)
class Prioritizer:
    def __init__(
        self,
        model_path: str | None = None,
        *,
        max_batch_size: int = MAX_BATCH_SIZE,
        batch_wait_timeout_s: float = BATCH_WAIT_TIMEOUT_S,
    ) -> None:
        settings = get_settings()
        self._core = OnnxPrioritizer(
            Path(model_path) if model_path else settings.priority_model_path,
            intra_op_threads=settings.priority_intra_op_threads,
            inter_op_threads=settings.priority_inter_op_threads,
        )
        self._score_rows.set_max_batch_size(max_batch_size)
        self._score_rows.set_batch_wait_timeout_s(batch_wait_timeout_s)
        self._batch_sizes: deque[int] = deque(maxlen=RECENT_BATCHES)

    async def score(self, features: FeatureRow) -> int:
        """The priority (1..10) of one intent's features."""
        # Validate before batching: a malformed request fails alone, not with its batch.
        return await self._score_rows(to_row(features))

    @serve.batch(max_batch_size=MAX_BATCH_SIZE, batch_wait_timeout_s=BATCH_WAIT_TIMEOUT_S)
    async def _score_rows(self, rows: list[np.ndarray]) -> list[int]:
        self._batch_sizes.append(len(rows))
        # Synchronous on purpose: one run over 32 rows takes tens of microseconds, less
        # than handing it to a thread would.
        return self._core.score_matrix(np.stack(rows))

    def recent_batch_sizes(self) -> list[int]:
        """Sizes of the last batches run (observability, and proof that batching happens)."""
        return list(self._batch_sizes)

    def model_path(self) -> str:
        return str(self._core.model_path)


entrypoint = Prioritizer.bind()
