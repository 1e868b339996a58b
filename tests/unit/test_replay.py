"""Stored events decode and replay whatever `SEP_CHAINS` says now: whether a chain is
configured is checked at intake (`IntentSubmission`, 422 `UNKNOWN_CHAIN`), never when the
event log is read back."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from platform_core.state.projection import IntentView, fold
from platform_core.types import EventEnvelope, Intent, IntentStatus, IntentSubmission
from platform_core.types.errors import describe_validation_errors
from tests.replay_log import chains_configured, written_log


def test_an_old_log_replays_after_its_chain_leaves_the_configuration(seed_intent: dict) -> None:
    with chains_configured(42161):
        log = written_log(seed_intent)
        stored = [envelope.to_bytes() for envelope in log]
        before = fold(log)

    with chains_configured(10):
        # Intake now refuses the chain...
        with pytest.raises(ValidationError) as refused:
            IntentSubmission.model_validate(seed_intent)
        assert {"field": "assets.0.asset.chain_id", "code": "UNKNOWN_CHAIN"} in [
            {"field": d["field"], "code": d["code"]}
            for d in describe_validation_errors(refused.value.errors())
        ]
        # ...while the log written under the old configuration still decodes and folds.
        decoded = [EventEnvelope.from_bytes(raw) for raw in stored]
        assert [e.event() for e in decoded] == [e.event() for e in log]
        view = fold(decoded)

    assert view is not None and view == before
    assert view.status is IntentStatus.COMPLETED and view.last_sequence == len(log) - 1
    assert view.priority == 6 and view.amount_out == 1_500_000_000_000_000_000
    assert view.intent is not None
    assert {spec["asset"]["chain_id"] for spec in view.intent["assets"]} == {42161}
    assert IntentView.from_hash(view.to_hash()) == view


def test_an_intent_record_is_not_checked_against_the_configuration(seed_intent: dict) -> None:
    with chains_configured(10):
        assert Intent.model_validate(seed_intent).chain_id == 42161
        with pytest.raises(ValidationError, match="chain id 42161 is not configured"):
            IntentSubmission.model_validate(seed_intent)
