"""`IntentAPI`: the Ray Serve ingress for intents, and the application `sep up` deploys.

The class is `IntentRoutes` (platform_core/api/routes.py, whose methods are the routes)
made a Serve ingress: each replica is one instance, serving the routes bound to itself,
with its own connections to the services, scoring through a handle to the batched
`Prioritizer` deployment, and routing on an engine fed by the venue adapter actors.
Replicas and autoscaling come from the settings, applied by `sep up` in the Serve config
it renders.
"""

from __future__ import annotations

from typing import Any, cast

from fastapi import FastAPI
from ray import serve
from ray.serve import Deployment
from ray.serve.handle import DeploymentHandle

from actors.venue_adapter import VenueActorRef
from platform_core.api.app import bound_app
from platform_core.api.backends import ServiceBackends
from platform_core.api.routes import IntentRoutes
from platform_core.config import get_settings
from serve_apps.prioritizer import Prioritizer, PrioritizerClient


@serve.deployment(
    name="IntentAPI",
    num_replicas=2,
    ray_actor_options={"num_cpus": 0.25},
    max_ongoing_requests=256,
)
@serve.ingress()
class IntentAPI(IntentRoutes):
    def __init__(self, prioritizer: DeploymentHandle[Any]) -> None:
        settings = get_settings()
        scorer = PrioritizerClient(prioritizer)
        # The replica's engine and balance cache follow the venue adapter actors.
        backends = ServiceBackends(settings, scorer=scorer, market=VenueActorRef)
        super().__init__(settings, backends)

    def __serve_build_asgi_app__(self) -> FastAPI:
        """Serve's late-bound ingress: the replica's app, its routes bound to itself."""
        return bound_app(self)


# `serve.deployment` replaced the classes with `Deployment`s; mypy does not apply class
# decorators to the class's type, hence the casts.
entrypoint = cast(Deployment, IntentAPI).bind(cast(Deployment, Prioritizer).bind())
