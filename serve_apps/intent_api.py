"""`IntentAPI`: the Ray Serve ingress (FastAPI) for intents."""

from __future__ import annotations

from ray import serve

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


entrypoint = IntentAPI.bind()
