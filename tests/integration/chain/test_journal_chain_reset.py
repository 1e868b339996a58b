"""The README's own sequence on a real anvil: `make up`, `make demo` (it completes), `make
devnet-down`, `make devnet` (anvil back at its saved state), `make demo` again.

The journal still holds the first run, which the restarted chain never saw; the second
intent needs an approval again, at a nonce the journal recorded as used. Instead of retrying
forever, the intent ends FAILED with JOURNAL_CHAIN_MISMATCH and a reason that says what
differs and what to do, nothing is signed or sent, an execution actor restarted on that
journal says so at start, `sep check` reports the journal with a non-zero exit, and
`sep journals archive` moves it out of the way.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from platform_core.chain.client import ChainClient
from platform_core.chain.devnet import start_anvil, stop_anvil
from platform_core.chain.journal import Journal, StepState, wallet_journal_path
from platform_core.chain.signer import Signer
from platform_core.cli import cmd_archive_journals, cmd_check
from platform_core.config import Settings
from platform_core.execution.orchestrator import ExecutionOrchestrator, ExecutionResult
from platform_core.execution.runner import ExecutionRunner
from platform_core.market.uniswap_v3 import UniswapV3Adapter, UniswapV3Addresses
from platform_core.services.checks import check_journals
from platform_core.streaming.event_stream import EventStream
from platform_core.types.events import IntentFailed
from platform_core.types.intent import IntentStatus
from tests.integration.chain.conftest import CHAIN_ID, dev_key, make_sender
from tests.integration.chain.test_execution_runner_devnet import NoCancels, handoff_for
from tests.integration.chain.test_orchestrator_devnet import intent_and_plan, stream_contents
from tests.integration.chain.test_planner_devnet import synced_planner
from tests.integration.conftest import free_port


async def run_seed_intent(
    runner: ExecutionRunner, uniswap: UniswapV3Adapter, seed_intent: dict[str, Any]
) -> tuple[Any, Any, ExecutionResult]:
    """A new intent from the seed example, planned on the chain as it is now, run to its
    verdict (bounded: a run that loops fails the test)."""
    intent, plan = intent_and_plan(await synced_planner(uniswap), seed_intent)
    assert runner.start(handoff_for(intent, plan, runner.wallet))
    result = await asyncio.wait_for(runner.wait(intent.id), 120)
    assert result is not None
    return intent, plan, result


async def test_a_devnet_restarted_from_its_saved_state_ends_the_next_intent_with_a_verdict(
    tmp_path: Path,
    deployment: dict[str, Any],
    stream: EventStream,
    isolated_settings: Settings,
    seed_intent: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    devnet = [start_anvil(tmp_path / "devnet", port=port, die_with_parent=True)]
    client = ChainClient(devnet[0].rpc_url, timeout_s=10)
    base = tmp_path / "journal.sqlite"
    settings = Settings(
        journal_path=base,
        chains={CHAIN_ID: {"name": "arbitrum", "rpc_url": devnet[0].rpc_url}},
    )
    journals: list[Journal] = []
    try:
        uniswap = UniswapV3Adapter(client, CHAIN_ID, UniswapV3Addresses.from_deployment(deployment))

        wallet = Signer(dev_key(1)).address

        def executor() -> ExecutionRunner:  # an execution actor's core, on its journal
            journals.append(Journal(wallet_journal_path(base, CHAIN_ID, wallet)))
            sender = make_sender(client, journals[-1], 1, chain_check_settle_s=0.5)
            orchestrator = ExecutionOrchestrator(uniswap, sender, stream, wallet=sender.address)
            return ExecutionRunner(orchestrator, NoCancels())

        # `make up`, `make demo`: the intent completes, approval included.
        runner = executor()
        _, plan, first = await run_seed_intent(runner, uniswap, seed_intent)
        assert first.status is IntentStatus.COMPLETED
        journal = journals[0]
        assert journal.get(f"{plan.plan_id}:0:approve").state is StepState.CONFIRMED
        (status,) = await check_journals(settings)
        assert status.ok and status.details == {"chain_id": str(CHAIN_ID)}
        used = await client.nonce(wallet, "latest")

        # `make devnet-down`, `make devnet`: the same genesis, back at the saved state.
        stop_anvil(devnet[0].pid)
        devnet[0] = start_anvil(tmp_path / "devnet", port=port, die_with_parent=True)
        reset = await client.nonce(wallet, "latest")
        assert reset < used

        # `make demo` with the platform still up: a verdict, not a loop; nothing sent.
        intent, _, second = await run_seed_intent(runner, uniswap, seed_intent)
        assert second.status is IntentStatus.FAILED and second.steps_confirmed == 0
        assert await client.nonce(wallet, "pending") == reset
        events = [e for e in await stream_contents(isolated_settings) if e.intent_id == intent.id]
        assert [e.event_type for e in events] == ["ExecutionStepFailed", "IntentFailed"]
        failed = events[-1].event()
        assert isinstance(failed, IntentFailed)
        assert failed.reason.startswith("JOURNAL_CHAIN_MISMATCH: step 0: journal ")
        assert str(journal.path) in failed.reason and "does not match the chain" in failed.reason
        assert "sep journals archive" in failed.reason and "SEP_JOURNAL_PATH" in failed.reason

        # The actor restarted on the same journal: a clear error at start, then a verdict.
        restarted = executor()
        intent, plan = intent_and_plan(await synced_planner(uniswap), seed_intent)
        with caplog.at_level(logging.ERROR):
            assert await restarted.recover([handoff_for(intent, plan, wallet)]) == 1
        assert any("JOURNAL_CHAIN_MISMATCH" in r.getMessage() for r in caplog.records)
        third = await asyncio.wait_for(restarted.wait(intent.id), 120)
        assert third is not None and third.status is IntentStatus.FAILED
        assert await client.nonce(wallet, "pending") == reset

        # `sep check`: the journal, and why, with a non-zero exit.
        (status,) = await check_journals(settings)
        assert not status.ok and status.required and status.url == str(journal.path)
        assert status.error is not None and "does not match the chain" in status.error
        capsys.readouterr()
        assert await asyncio.to_thread(cmd_check, settings, False) == 1
        report = capsys.readouterr().out
        assert f"journal   mismatch     {journal.path}" in report
        assert "does not match the chain" in report

        # The remedy the message names: archived, the journal no longer stands in the way.
        assert cmd_archive_journals(settings) == 0
        assert not journal.path.exists() and await check_journals(settings) == []
    finally:
        for opened in journals:
            opened.close()
        await client.close()
        stop_anvil(devnet[0].pid)
