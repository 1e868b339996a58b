"""The Intent schema: the seed example, every bad-input rule, and normalisation."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from platform_core.types import (
    ExecutionStyle,
    Intent,
    IntentStatus,
    IntentSubmission,
    IntentType,
)
from platform_core.types.errors import describe_validation_errors
from tests.unit.bad_inputs import BAD_INPUTS, WETH_LOWER, BadInput


def test_seed_example_parses_as_is(seed_intent: dict) -> None:
    intent = Intent.model_validate(seed_intent)
    assert intent.type is IntentType.ACQUIRE
    assert intent.constraints.execution_style is ExecutionStyle.AGGRESSIVE
    assert intent.constraints.max_slippage == Decimal("0.005")
    assert intent.status is IntentStatus.PENDING
    weth, usdc = intent.assets
    assert weth.amount == Decimal("1.5") and weth.base_units() == 1_500_000_000_000_000_000
    assert usdc.is_counter_side and intent.counter_asset == usdc
    assert intent.sized_assets == [weth]


def test_seed_example_serialises_back_to_equivalent_json(seed_intent: dict) -> None:
    intent = Intent.model_validate_json(json.dumps(seed_intent))
    assert intent.model_dump(mode="json", by_alias=True, exclude_unset=True) == seed_intent


def test_full_intent_round_trips(seed_intent: dict) -> None:
    intent = Intent.from_submission(IntentSubmission.model_validate(seed_intent))
    again = Intent.model_validate_json(intent.model_dump_json(by_alias=True))
    assert again == intent


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda c: c.name)
def test_bad_input_names_the_field(case: BadInput, seed_intent: dict) -> None:
    with pytest.raises(ValidationError) as info:
        IntentSubmission.model_validate(case.apply(seed_intent))
    described = describe_validation_errors(info.value.errors())
    assert {"field": case.field, "code": case.code} in [
        {"field": d["field"], "code": d["code"]} for d in described
    ], described


def test_lowercase_address_is_normalised_to_checksum(seed_intent: dict) -> None:
    seed_intent["assets"][0]["asset"]["address"] = WETH_LOWER
    intent = IntentSubmission.model_validate(seed_intent)
    assert intent.assets[0].asset.address == "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"


def test_uppercase_address_is_accepted_and_normalised(seed_intent: dict) -> None:
    seed_intent["assets"][0]["asset"]["address"] = "0x" + WETH_LOWER[2:].upper()
    intent = IntentSubmission.model_validate(seed_intent)
    assert intent.assets[0].asset.address == "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"


def test_amount_at_exact_precision_is_accepted(seed_intent: dict) -> None:
    seed_intent["assets"][0]["amount"] = "0.000000000000000001"
    seed_intent["assets"][1]["amount"] = "2500.0000000000"  # trailing zeros are not precision
    intent = IntentSubmission.model_validate(seed_intent)
    assert intent.assets[0].base_units() == 1
    assert intent.assets[1].base_units() == 2_500_000_000


def test_percentage_dispose_is_accepted(seed_intent: dict) -> None:
    seed_intent["intent_type"] = "DISPOSE"  # enums are case-insensitive
    del seed_intent["assets"][0]["amount"]
    seed_intent["assets"][0]["percentage"] = "100"
    intent = IntentSubmission.model_validate(seed_intent)
    assert intent.type is IntentType.DISPOSE
    assert intent.assets[0].percentage == Decimal(100)


def test_window_bounds_are_inclusive(seed_intent: dict) -> None:
    for window in (1_000, 86_400_000):
        seed_intent["constraints"]["time_window_ms"] = window
        assert IntentSubmission.model_validate(seed_intent).constraints.time_window_ms == window


def test_slippage_upper_bound_is_inclusive_and_numbers_are_accepted(seed_intent: dict) -> None:
    seed_intent["constraints"]["max_slippage"] = 0.5
    assert IntentSubmission.model_validate(seed_intent).constraints.max_slippage == Decimal("0.5")


def test_venue_filters(seed_intent: dict) -> None:
    seed_intent["constraints"]["allowed_venues"] = ["uniswap_v3", "sushiswap"]
    seed_intent["constraints"]["excluded_venues"] = ["curve"]
    constraints = IntentSubmission.model_validate(seed_intent).constraints
    assert constraints.venue_allowed("uniswap_v3")
    assert not constraints.venue_allowed("curve")
    assert not constraints.venue_allowed("balancer")


def test_chain_ids_come_from_configuration(
    seed_intent: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from platform_core.config import get_settings

    for spec in seed_intent["assets"]:
        spec["asset"]["chain_id"] = 10
    with pytest.raises(ValidationError):
        IntentSubmission.model_validate(seed_intent)
    monkeypatch.setenv(
        "SEP_CHAINS", json.dumps({"10": {"name": "optimism", "rpc_url": "http://x"}})
    )
    get_settings.cache_clear()
    try:
        assert IntentSubmission.model_validate(seed_intent).chain_id == 10
    finally:
        monkeypatch.delenv("SEP_CHAINS")
        get_settings.cache_clear()
