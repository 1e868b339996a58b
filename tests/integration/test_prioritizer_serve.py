"""The Serve `Prioritizer` on a private local Ray cluster: concurrent requests through a
handle are batched, and score exactly as the plain-Python core does."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import numpy as np
import pytest
import ray
from ray import serve
from ray.serve.handle import DeploymentHandle

from platform_core.config import DEFAULT_PRIORITY_MODEL_PATH
from platform_core.intent.prioritizer import OnnxPrioritizer
from platform_core.types import MLFeatures
from serve_apps.prioritizer import Prioritizer
from tests.integration.conftest import free_port

N_REQUESTS = 96


@pytest.fixture(scope="module")
def handle() -> Iterator[DeploymentHandle]:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR",
             log_to_driver=False)  # fmt: skip
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": free_port()})
        # A generous wait so that concurrent requests reliably share batches on a busy box.
        app = Prioritizer.bind(max_batch_size=32, batch_wait_timeout_s=0.05)
        yield serve.run(app, name="prioritizer-test", route_prefix=None)
    finally:
        serve.shutdown()
        ray.shutdown()


def _features(n: int) -> list[MLFeatures]:
    rng = np.random.default_rng(11)
    names = MLFeatures.feature_names()
    rows = zip(
        np.exp(rng.uniform(0, np.log(86_400), n)),
        rng.uniform(1, 7.5, n),
        10 ** rng.uniform(-7, 0, n),
        rng.uniform(0, 0.3, n),
        rng.uniform(0, 0.6, n),
        rng.integers(0, 2, n),
        rng.integers(0, 2, n),
        strict=True,
    )
    return [MLFeatures(**dict(zip(names, map(float, row), strict=True))) for row in rows]


async def test_concurrent_requests_are_batched_and_match_the_core(
    handle: DeploymentHandle,
) -> None:
    features = _features(N_REQUESTS)
    # Half as MLFeatures, half as plain vectors: both forms the API may send.
    requests = [f if i % 2 else f.as_vector() for i, f in enumerate(features)]
    batches_before = len(await handle.recent_batch_sizes.remote())
    scores = await asyncio.gather(*(handle.score.remote(r) for r in requests))

    expected = OnnxPrioritizer(DEFAULT_PRIORITY_MODEL_PATH).score_batch(features)
    assert scores == expected
    assert len(set(scores)) >= 4

    sizes = (await handle.recent_batch_sizes.remote())[batches_before:]
    assert sum(sizes) == N_REQUESTS  # every request went through a batch
    assert max(sizes) > 1, f"no batching happened: {sizes}"
    assert len(sizes) < N_REQUESTS
    assert max(sizes) <= 32


async def test_a_bad_request_fails_alone(handle: DeploymentHandle) -> None:
    good = _features(8)
    bad = [1.0, 2.0, 3.0]  # too short
    results = await asyncio.gather(
        *(handle.score.remote(f) for f in good), handle.score.remote(bad), return_exceptions=True
    )
    *good_scores, failure = results
    assert good_scores == OnnxPrioritizer(DEFAULT_PRIORITY_MODEL_PATH).score_batch(good)
    assert isinstance(failure, Exception) and "expected 7 features" in str(failure)


async def test_replica_uses_the_configured_model(handle: DeploymentHandle) -> None:
    assert await handle.model_path.remote() == str(DEFAULT_PRIORITY_MODEL_PATH)
