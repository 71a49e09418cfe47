"""Issue 9 in the keeper: the lens's new fields, clear skips for an unusable feed and a used-up loss
budget, and no rebalance sent that the model of the vault's rules refuses."""

from __future__ import annotations

from dataclasses import replace

from keeper_env import Env

from offchain.chain.vault import VaultState
from offchain.core import model
from offchain.core.model import PlannedTrade
from offchain.quant.policies import Policy


def _skips(env: Env) -> list[str]:
    return [e["detail"] for e in env.events() if e["action"] == "skip"]


def _keeper_txs(env: Env) -> int:
    return env.w3.eth.get_transaction_count(env.keeper_addr, "latest")


def test_lens_state_carries_loss_budget_and_pending_changes(env: Env):
    k = env.keeper()
    (st,) = k.read_states()
    assert isinstance(st, VaultState)
    p = model.Params()
    assert (st.loss_budget_bps, st.loss_window, st.loss_budget_used) == (p.loss_budget_bps, p.loss_window, 0)
    assert st.pending_changes == [] and st.params == p
    vault = env.stack.vault
    env.deployer.transact(vault.functions.set_max_slippage_bps(200))  # a loosening: queued (mined)
    (st,) = k.read_states()
    ts = env.w3.eth.get_block("latest")["timestamp"]
    assert [tuple(c) for c in st.pending_changes] == [(2, 200, ts + p.target_delay)]
    assert st.max_slippage_bps == p.max_slippage_bps  # not applied yet


def test_unusable_feed_is_a_clear_skip(env: Env):
    k = env.keeper()
    env.advance(2 * 86_400)
    env.move({1: 1.35, 3: 0.75})
    # 8-decimal answer 1e27: 1e37 per token once scaled, above MAX_PRICE -> status 4
    env.deployer.transact(env.stack.feeds[1].functions.set_answer(10**27), label="feed")
    sent = _keeper_txs(env)
    k.cycle()
    skips = _skips(env)
    assert any(s.startswith("feed-unusable") and "feed 1" in s and "unusable" in s for s in skips), skips
    assert _keeper_txs(env) == sent
    (st,) = k.read_states()
    assert st.feed_status[1] == model.FEED_UNUSABLE and not st.needs_rebalance


def test_used_up_loss_budget_is_a_clear_skip(env: Env, monkeypatch):
    k = env.keeper()
    env.advance(2 * 86_400)
    env.move({1: 1.35, 3: 0.75})
    orig = type(k).decode_state

    def used_up(self, result):
        st = orig(self, result)
        return replace(st, loss_budget_used=st.loss_budget_bps * model.BPS_TO_LOSS)

    monkeypatch.setattr(type(k), "decode_state", used_up)
    sent = _keeper_txs(env)
    k.cycle()
    assert any(s.startswith("loss-budget") for s in _skips(env)), _skips(env)
    assert _keeper_txs(env) == sent


def test_trades_the_vault_would_refuse_are_never_sent(env: Env, monkeypatch):
    """A planner gone wrong (a round trip) is caught by the model of the vault's rules before sending."""
    k = env.keeper()
    env.advance(2 * 86_400)
    env.move({1: 1.35, 3: 0.75})
    good = Policy.plan

    def round_trip(self, vault, **kw):
        plan = good(self, vault, **kw)
        t = plan[0]
        back = t.expected_out // 2
        return [
            *plan,
            PlannedTrade(
                t.buy,
                t.sell,
                back,
                model.oracle_out(
                    back,
                    vault.prices[t.buy],
                    vault.decimals[t.buy],
                    vault.prices[t.sell],
                    vault.decimals[t.sell],
                ),
                0,
            ),
        ]

    monkeypatch.setattr(Policy, "plan", round_trip)
    sent = _keeper_txs(env)
    k.cycle()
    skips = _skips(env)
    assert any(s.startswith("model-says-no") and "vault: round trip" in s for s in skips), skips
    assert _keeper_txs(env) == sent
    monkeypatch.setattr(Policy, "plan", good)
    k.cycle()  # the honest plan passes the same checks and the vault agrees
    assert env.rebalance_count() == 1
