"""An event log written to PostgreSQL under one `SEP_CHAINS` replays after the configuration
drops that chain: read back, folded, and rebuilt into the Redis read model."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from platform_core.config import Settings
from platform_core.state.event_store import EventStore
from platform_core.state.projection import fold
from platform_core.state.read_model import ReadModel
from platform_core.types import IntentStatus, IntentSubmission
from tests.replay_log import chains_configured, written_log


async def test_a_stored_log_replays_after_its_chain_is_unconfigured(
    isolated_settings: Settings, seed_intent: dict[str, Any]
) -> None:
    store = await EventStore.connect(isolated_settings.postgres_dsn)
    read_model = ReadModel.from_url(
        isolated_settings.redis_url, prefix=isolated_settings.redis_key_prefix
    )
    try:
        with chains_configured(42161):
            log = written_log(seed_intent)
            assert await store.append(log) == {e.event_id for e in log}
            live = fold(log)

        with chains_configured(10):
            with pytest.raises(ValidationError, match="chain id 42161 is not configured"):
                IntentSubmission.model_validate(seed_intent)
            intent_id = log[0].intent_id
            read_back = await store.intent_events(intent_id)
            assert [e.to_bytes() for e in read_back] == [e.to_bytes() for e in log]
            assert [e.event() for e in read_back] == [e.event() for e in log]
            replayed = [stored.envelope async for stored in store.replay()]
            view = fold(replayed)
            assert view is not None and view == live
            assert view.status is IntentStatus.COMPLETED

            assert await read_model.rebuild(store) == 1
            assert await read_model.get(intent_id) == live
    finally:
        await read_model.close()
        await store.close()
