"""The keeper's happy path: one cycle that rebalances, dry runs, policies and skips."""

from __future__ import annotations

from keeper_env import Env


def test_once_rebalances_when_the_vault_allows(env: Env):
    k = env.keeper(once=True)
    env.advance(2 * 86_400)
    env.move({1: 1.35, 3: 0.75})
    assert k.run() == 0
    ev = env.events()
    done = [e for e in ev if e["action"] == "rebalanced"]
    assert len(done) == 1, ev
    assert done[0]["reason"] == "THRESHOLD"
    assert env.rebalance_count() == 1
    assert not env.stack.vault.functions.needs_rebalance().call()[0]
