"""`bind_routes`: the methods of a class, registered as routes, served by the instance they
are bound to (what Serve's class-based view does for a replica), without Ray."""

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI

from platform_core.api.app import create_app
from platform_core.api.class_views import bind_routes, class_routes, serving_instance
from platform_core.api.routes import IntentRoutes, routes
from platform_core.config import Settings
from platform_core.errors import PlatformError
from tests.unit.memory_backends import MemoryBackends

table = APIRouter()


def greeting(api: Annotated[object, Depends(serving_instance)]) -> str:
    """A dependency that needs the instance serving the request."""
    assert isinstance(api, Counter)
    return f"hello from {api.name}"


class Counter:
    def __init__(self, name: str) -> None:
        self.name = name
        self.hits = 0

    @table.post("/hit")
    async def hit(self, by: int = 1) -> dict[str, int]:
        self.hits += by
        return {"hits": self.hits}

    @table.get("/hello")
    async def hello(self, text: Annotated[str, Depends(greeting)]) -> dict[str, str]:
        return {"text": text}


class LoudCounter(Counter):
    @table.get("/shout")
    async def shout(self) -> dict[str, str]:
        return {"name": self.name.upper()}


class Other:
    @table.get("/other")
    async def other(self) -> dict[str, str]:
        return {"served": "by another class"}


def _served(instance: object) -> httpx.AsyncClient:
    app = FastAPI()
    bind_routes(app, table, instance)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_each_app_serves_its_own_instance() -> None:
    first, second = Counter("first"), Counter("second")
    async with _served(first) as a, _served(second) as b:
        assert (await a.post("/hit", params={"by": 3})).json() == {"hits": 3}
        assert (await a.post("/hit")).json() == {"hits": 4}
        assert (await b.post("/hit")).json() == {"hits": 1}
        assert (await b.get("/hello")).json() == {"text": "hello from second"}
    assert (first.hits, second.hits) == (4, 1)


async def test_a_subclass_serves_its_bases_routes_and_only_its_own_classes() -> None:
    async with _served(LoudCounter("loud")) as client:
        assert (await client.post("/hit")).json() == {"hits": 1}
        assert (await client.get("/shout")).json() == {"name": "LOUD"}
        assert (await client.get("/other")).status_code == 404
    async with _served(Counter("plain")) as client:
        assert (await client.get("/shout")).status_code == 404


async def test_self_is_not_a_parameter_of_the_bound_routes() -> None:
    app = FastAPI()
    bind_routes(app, table, Counter("c"))
    operation = app.openapi()["paths"]["/hit"]["post"]
    assert [p["name"] for p in operation["parameters"]] == ["by"]


def test_the_table_stays_whole_after_binding() -> None:
    before = list(table.routes)
    bind_routes(FastAPI(), table, LoudCounter("x"))
    assert table.routes == before
    assert [r.path for r in class_routes(table, LoudCounter)] == ["/hit", "/hello", "/shout"]
    assert [r.path for r in class_routes(table, Other)] == ["/other"]


async def test_an_unbound_instance_is_refused_and_an_app_serves_one() -> None:
    app = FastAPI()

    @app.get("/who")
    async def who(api: Annotated[object, Depends(serving_instance)]) -> str:
        return str(api)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        with pytest.raises(PlatformError, match="without an instance"):
            await c.get("/who")
    bind_routes(app, table, Counter("one"))
    with pytest.raises(PlatformError, match="one instance"):
        bind_routes(app, table, Counter("two"))


def test_the_api_class_holds_every_route() -> None:
    paths = sorted(r.path for r in class_routes(routes, IntentRoutes))
    assert paths == ["/healthz", "/intents", "/intents", "/intents/{intent_id}",
                     "/intents/{intent_id}/cancel", "/intents/{intent_id}/events",
                     "/markets/{chain_id}/{base}/{quote}/book"]  # fmt: skip
    app = create_app(Settings(), MemoryBackends())
    assert sorted(app.openapi()["paths"]) == sorted(set(paths))
