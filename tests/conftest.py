"""Suite-wide pytest wiring: each test is marked with the tier of the folder it lives in."""

from __future__ import annotations

from pathlib import Path

import pytest

_TIERS = ("unit", "integration", "e2e", "fuzz", "attack", "chaos")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in _TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))
                break


FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def seed_intent() -> dict:
    """The example intent of the original design document, verbatim."""
    import json

    return json.loads((FIXTURES / "seed_intent.json").read_text())
