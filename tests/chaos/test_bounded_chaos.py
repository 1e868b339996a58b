"""The bounded chaos run of `make test`: a whole platform of its own (its own NATS, Redis,
PostgreSQL, devnet, Ray and Serve), a few hundred intents of every kind from three
strategies, a dozen faults of different kinds landing while they run, then the history
checker over the API's answers, the event log, the journals and the chain, and the secret
canaries over everything the run left. `make chaos` is the long run of the same."""

from __future__ import annotations

from collections import Counter

from platform_core.chaos.faults import FaultKind
from platform_core.chaos.run import ChaosConfig, run_chaos

INTENTS = 300
FAULTS = 12


def test_a_bounded_run_under_faults_keeps_every_rule(tmp_path) -> None:
    result = run_chaos(ChaosConfig(intents=INTENTS, faults=FAULTS, seed=11, out_dir=tmp_path))
    print(result.text)
    assert result.clean, result.text
    kinds = Counter(record.kind for record in result.faults)
    assert len(result.faults) == FAULTS and len(kinds) == FAULTS  # a dozen kinds, once each
    assert set(kinds) <= {k.value for k in FaultKind}
    injected = [r for r in result.faults if r.ok]
    assert len(injected) >= FAULTS - 2, [(r.kind, r.detail) for r in result.faults if not r.ok]
    statuses = result.table["intents"]
    assert sum(statuses.values()) >= INTENTS * 0.9  # accepted and denied ones, all in the log
    assert "open" not in statuses, statuses
    assert statuses.get("completed", 0) > INTENTS / 2, statuses
