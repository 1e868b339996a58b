"""One base for every error the platform raises on purpose, each with a stable code."""

from __future__ import annotations

import importlib
import inspect
import json
import pickle
import pkgutil
from types import ModuleType

import pytest

from platform_core.api.app import ApiError
from platform_core.api.backends import ServiceUnavailable
from platform_core.chain.errors import SimulationReverted, TransportError
from platform_core.errors import ErrorCode, PlanningError, PlatformError
from platform_core.execution.orchestrator import ExecutionUndecided
from platform_core.intent.aggregate import CauseNotRecorded
from platform_core.streaming.event_stream import JetStreamUnavailable, PublishFailed
from platform_core.types.events import IntentDenied

PACKAGES = ("platform_core", "actors", "serve_apps")
# Walking `actors` and `serve_apps` imports Ray Serve, whose models still use pydantic v1 idioms.
pytestmark = pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20")
RETRYABLE = {TransportError, JetStreamUnavailable, ServiceUnavailable, PublishFailed,
             ExecutionUndecided, CauseNotRecorded}  # fmt: skip


def _modules() -> list[ModuleType]:
    modules = []
    for name in PACKAGES:
        package = importlib.import_module(name)
        modules.append(package)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{name}."):
            modules.append(importlib.import_module(info.name))
    return modules


def _exception_classes() -> list[type[BaseException]]:
    return [
        cls
        for module in _modules()
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == module.__name__
    ]


def test_every_exception_class_is_a_platform_error_with_a_code() -> None:
    classes = _exception_classes()
    assert len(classes) >= 20  # the walk found the modules
    for cls in classes:
        assert issubclass(cls, PlatformError), f"{cls.__module__}.{cls.__name__}"
        assert isinstance(cls.code, ErrorCode), f"{cls.__module__}.{cls.__name__}"
        assert isinstance(cls.retryable, bool)


def test_only_transport_and_unavailable_errors_are_retryable() -> None:
    for cls in _exception_classes():
        assert issubclass(cls, PlatformError)
        assert cls.retryable is any(issubclass(cls, r) for r in RETRYABLE), cls.__name__


def test_codes_are_unique_strings_equal_to_their_names() -> None:
    values = [member.value for member in ErrorCode]
    assert len(values) == len(set(values)) == len(ErrorCode.__members__)  # no aliases
    for member in ErrorCode:
        assert member.value == member.name == str(member) == f"{member}"
        assert member.name.isupper() and member.name.isidentifier()


def test_codes_go_on_the_wire_as_plain_strings() -> None:
    denied = IntentDenied(reason_codes=[ErrorCode.NO_ROUTE], details=["NO_ROUTE: none"])
    assert type(denied.reason_codes[0]) is str
    assert denied.model_dump(mode="json") == {"reason_codes": ["NO_ROUTE"],
                                              "details": ["NO_ROUTE: none"]}  # fmt: skip
    assert json.dumps([ErrorCode.NO_ROUTE]) == '["NO_ROUTE"]'


def test_planning_error_carries_its_code_and_message() -> None:
    error = PlanningError(ErrorCode.WINDOW_ELAPSED, "the window ended")
    assert isinstance(error, ValueError)
    assert error.code is ErrorCode.WINDOW_ELAPSED and error.message == "the window ended"
    assert str(error) == "WINDOW_ELAPSED: the window ended"
    assert not error.retryable


@pytest.mark.parametrize(
    "error",
    [
        PlanningError(ErrorCode.NO_ROUTE, "no pool"),
        ServiceUnavailable("redis", OSError("refused")),
        ApiError(429, ErrorCode.RATE_LIMITED, "slow down", {"Retry-After": "1"}),
        SimulationReverted("Too little received", b"\x08"),
        TransportError("node down"),
        PlatformError("with another code", code=ErrorCode.QUEUE_FULL),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_cross_a_process_boundary_whole(error: PlatformError) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert (again.code, again.retryable, again.message, str(again)) == (
        error.code, error.retryable, error.message, str(error),
    )  # fmt: skip
    assert vars(again) == vars(error)
