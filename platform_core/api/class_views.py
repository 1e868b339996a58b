"""Routes written as methods of a class and served by an instance of it, without Ray.

Ray Serve's `@serve.ingress(app)` makes the methods of a deployment class that are routes
of `app` endpoints of each replica's instance (`make_fastapi_class_based_view`: `self`
becomes a dependency answering the replica's instance). `bind_routes` does the same for a
given instance: in process (tests, uvicorn), and in each Serve replica, which builds its
app from itself (Serve's late-bound ingress, `__serve_build_asgi_app__`). Serve's own
rewrite is not used: it sets the methods' `__signature__` in the process that deploys, and
a replica that imports the class from its module gets the methods without it.
A dependency that needs the instance itself depends on `serving_instance`.
"""

from __future__ import annotations

import copy

from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute

from platform_core.errors import PlatformError

_INSTANCE = "serving_instance"


async def serving_instance(request: Request) -> object:
    """The instance whose methods serve this request, which `bind_routes` keeps in the
    app's state. (Not a `dependency_overrides` entry: with any override set, FastAPI
    analyses every dependency again on every request.)"""
    instance = getattr(request.app.state, _INSTANCE, None)
    if instance is None:
        raise PlatformError("class routes served without an instance: bind them first")
    return instance


def class_routes(router: APIRouter, cls: type) -> list[APIRoute]:
    """The routes of `router` whose endpoints are methods of `cls` or of one of its bases,
    found as Serve finds them (by qualified name: a method inherited from a base class
    keeps the base's name)."""
    prefixes = tuple(f"{base.__qualname__}." for base in cls.__mro__ if base is not object)
    return [
        route
        for route in router.routes
        if isinstance(route, APIRoute) and route.endpoint.__qualname__.startswith(prefixes)
    ]


def bind_routes(app: FastAPI, router: APIRouter, instance: object) -> None:
    """Serve from `app` the routes of `router` that are methods of `instance`'s class, on
    `instance`; `serving_instance` answers `instance` in `app`.

    Each route is copied with its endpoint bound to `instance`, and `include_router`
    analyses the bound method's signature again (without `self`), as it does for the
    routes Serve rewrites."""
    bound = APIRouter()
    for route in class_routes(router, type(instance)):
        clone = copy.copy(route)
        clone.endpoint = route.endpoint.__get__(instance, type(instance))
        bound.routes.append(clone)
    app.include_router(bound)
    if getattr(app.state, _INSTANCE, instance) is not instance:
        raise PlatformError("an app serves the routes of one instance")
    setattr(app.state, _INSTANCE, instance)
