"""`IntentAPI`: the Ray Serve ingress (FastAPI) for intents."""

from __future__ import annotations

from typing import cast

from ray import serve
from ray.serve import Deployment

from platform_core.api.app import create_app

app = create_app()


@serve.deployment(
    name="IntentAPI",
    num_replicas=1,
    ray_actor_options={"num_cpus": 0.25},
    max_ongoing_requests=256,
)
@serve.ingress(app)
class IntentAPI:
    """Routes come from `create_app`; the class holds per-replica state as it grows."""


# `serve.deployment` replaced the class with a `Deployment`; mypy does not apply class
# decorators to the class's type, hence the cast.
entrypoint = cast(Deployment, IntentAPI).bind()
