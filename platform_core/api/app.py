"""The FastAPI application of the intent API, built without Ray.

The routes are the methods of `IntentRoutes` (`platform_core/api/routes.py`), served by
the instance they are bound to (`class_views.bind_routes`): one made by `create_app` for
uvicorn and in-process tests, or a Serve replica of the `IntentAPI` deployment, a subclass
(`serve_apps/intent_api.py`). Every answer that is not a success carries `reason_codes`
(`platform_core/api/refusals.py`).
"""

from __future__ import annotations

from fastapi import FastAPI

import platform_rust
from platform_core.api.backends import Backends, ServiceBackends
from platform_core.api.class_views import bind_routes
from platform_core.api.contract import install_contract
from platform_core.api.limits import BodyDeadline, BodySizeLimit
from platform_core.api.refusals import ApiError, install_error_handlers
from platform_core.api.routes import IntentRoutes, routes
from platform_core.config import Settings, get_settings

__all__ = ["ApiError", "bound_app", "create_app"]


def _service_app(settings: Settings) -> FastAPI:
    """The application without its routes: metadata, error handlers, the published contract
    (`platform_core/api/contract.py`), body size limit, body deadline."""
    app = FastAPI(
        title="Strategy Execution Platform",
        version=platform_rust.__version__,
        description=(
            "Submit trading intents and follow them to on-chain execution. Authenticate with "
            "`Authorization: Bearer <api key>`; keys are per strategy (`sep keys create`)."
        ),
    )
    install_error_handlers(app)
    install_contract(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Outermost: the deadline runs from the request's arrival, whatever runs inside.
    app.add_middleware(BodyDeadline, timeout_s=settings.api_body_timeout_s)
    return app


def bound_app(api: IntentRoutes) -> FastAPI:
    """The API served by `api`: the routes bound to it, the error handlers, the body size
    limit and deadline. Each Serve replica builds its app with it, from itself."""
    app = _service_app(api.settings)
    bind_routes(app, routes, api)
    return app


def create_app(settings: Settings | None = None, backends: Backends | None = None) -> FastAPI:
    """The API in process, over `backends` (default: the real services)."""
    settings = settings or get_settings()
    return bound_app(IntentRoutes(settings, backends or ServiceBackends(settings)))
