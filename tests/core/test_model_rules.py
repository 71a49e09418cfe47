"""Issue 9 rules in the reference model (pure Python): feed statuses incl. "unusable", the sequencer
rule, I8 trade rooms, the I9 loss budget, ``check_trades``' revert reasons, and the planner, which must
never propose a trade the vault refuses (hypothesis, on many random states)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from offchain.core import model
from offchain.core.model import (
    BPS,
    BPS_TO_LOSS,
    FEED_INCOMPLETE,
    FEED_NON_POSITIVE,
    FEED_OK,
    FEED_STALE,
    FEED_UNUSABLE,
    MAX_PRICE,
    Params,
    PlannedTrade,
    VaultModel,
)

NOW = 10_000_000


def words(*xs: int) -> bytes:
    return b"".join((x % 2**256).to_bytes(32, "big") for x in xs)


# ---- feeds ----


@pytest.mark.parametrize(
    ("answer", "updated", "rid", "air", "dec", "want"),
    [
        (100, NOW, 1, 1, 8, FEED_OK),
        (0, NOW, 1, 1, 8, FEED_NON_POSITIVE),
        (-5, 0, 2, 1, 8, FEED_NON_POSITIVE),  # non-positive before incomplete
        (MAX_PRICE, NOW, 1, 1, 18, FEED_OK),  # the bound itself is usable
        (MAX_PRICE + 1, NOW, 1, 1, 18, FEED_UNUSABLE),
        (MAX_PRICE + 1, 0, 2, 1, 18, FEED_UNUSABLE),  # > MAX before incomplete
        (10**28, NOW, 1, 1, 8, FEED_UNUSABLE),  # below MAX as an answer, 1e38 once scaled
        (10**26, NOW, 1, 1, 8, FEED_OK),
        (10**26 + 1, NOW, 1, 1, 8, FEED_UNUSABLE),  # scaled price 1e36 + 1e10 > MAX
        (100, 0, 1, 1, 8, FEED_INCOMPLETE),
        (100, NOW, 2, 1, 8, FEED_INCOMPLETE),
        (100, NOW - 3_601, 2, 1, 8, FEED_INCOMPLETE),  # incomplete before stale
        (100, NOW - 3_601, 1, 1, 8, FEED_STALE),
        (100, NOW - 3_600, 1, 1, 8, FEED_OK),
        (100, NOW + 1, 1, 1, 8, FEED_STALE),  # from the future
    ],
)
def test_feed_status_order(answer, updated, rid, air, dec, want):
    assert model.feed_status(answer, updated, rid, air, 3_600, NOW, feed_decimals=dec) == want


def test_feed_status_sequencer_down_is_unusable():
    assert model.feed_status(100, NOW, 1, 1, 3_600, NOW, sequencer_up=False) == FEED_UNUSABLE


def test_read_feed_raw_answers():
    ok = words(1, 2 * 10**8, NOW, NOW, 1)
    assert model.read_feed(ok, 8, 3_600, NOW) == (2 * 10**18, FEED_OK, NOW)
    assert model.read_feed(None, 8, 3_600, NOW) == (0, FEED_UNUSABLE, 0)  # reverted
    assert model.read_feed(ok[:159], 8, 3_600, NOW) == (0, FEED_UNUSABLE, 0)  # short
    # garbled uint80 fields are read as full words: round id 2**200 > answeredInRound: incomplete
    assert model.read_feed(words(2**200, 10**8, 0, NOW, 1), 8, 3_600, NOW)[1] == FEED_INCOMPLETE
    # int256 -1 is negative, not huge
    assert model.read_feed(words(1, -1, 0, NOW, 1), 8, 3_600, NOW) == (0, FEED_NON_POSITIVE, NOW)
    assert model.read_feed(words(1, 2**255 - 1, 0, NOW, 1), 8, 3_600, NOW) == (0, FEED_UNUSABLE, NOW)
    # stale and incomplete keep their price, as oracle_state() reports it
    assert model.read_feed(words(1, 10**8, 0, NOW - 7_200, 1), 8, 3_600, NOW) == (
        10**18,
        FEED_STALE,
        NOW - 7_200,
    )
    # sequencer down: every status unusable, the price still reported
    assert model.read_feed(ok, 8, 3_600, NOW, sequencer_up=False) == (2 * 10**18, FEED_UNUSABLE, NOW)


@pytest.mark.parametrize(
    ("answer", "started", "want"),
    [
        (0, NOW - 3_601, True),
        (0, NOW - 3_600, False),  # still in grace: strictly more than grace seconds needed
        (1, NOW - 10**6, False),  # down
        (None, NOW - 10**6, False),  # call failed / short data
        (0, 0, False),
        (0, NOW + 1, False),
    ],
)
def test_sequencer_up(answer, started, want):
    assert model.sequencer_up(answer, started, NOW, 3_600) is want


# ---- I8 rooms ----


def test_trade_rooms_round_in_the_vaults_favour():
    # V = 1003; targets 50/50: target value 501.5, sell line (target + 25 bps) 504.0075 ->
    # sell room 600 - 505 (a buy's tolerance is never sellable), buy room 501 - 403 + tol
    room, over, under = model.trade_rooms([600, 403], [5_000, 5_000], 25)
    assert (over, under) == (0b01, 0b10)
    assert room == [600 - 505, 501 - 403 + 1003 * 25 // BPS]
    # within the tolerance above target: not sellable
    room, over, under = model.trade_rooms([5_020, 4_980], [5_000, 5_000], 25)
    assert (over, under) == (0, 0b10)
    # exactly at target: neither side
    room, over, under = model.trade_rooms([500, 500], [5_000, 5_000], 25)
    assert (room, over, under) == ([0, 0], 0, 0)
    # a hair above target (v * 10_000 > t * V) but floor(t*V) == v: overweight with zero room
    room, over, under = model.trade_rooms([2, 1], [6_000, 4_000], 0)  # t*V/BPS = 1.8 and 1.2
    assert (over, under) == (0b01, 0b10) and room == [0, 0]


# ---- I9 loss budget ----


def test_loss_budget_drain_and_charge():
    week, budget = 7 * 86_400, 100 * BPS_TO_LOSS
    assert model.loss_used_now(budget, 0, week // 2, 100, week) == budget // 2
    assert model.loss_used_now(budget, 0, week * 2, 100, week) == 0
    assert model.loss_used_now(7, 0, 1, 100, week) == 0  # never below zero
    assert model.loss_used_now(budget, 0, 1, 100, week) == budget - budget // week  # drain rounded down
    assert model.loss_charge(1_000, 1_000) == 0 and model.loss_charge(1_000, 1_001) == 0
    assert model.loss_charge(3, 2) == -(-(10**15) // 3)  # rounded up
    assert model.loss_room_value(0, 100, 10**24) == 10**22
    assert model.loss_room_value(budget + 1, 100, 10**24) == 0


@given(
    used=st.integers(0, 1_000 * BPS_TO_LOSS),
    last=st.integers(0, 10**9),
    d1=st.integers(0, 10**7),
    d2=st.integers(0, 10**7),
    bps=st.integers(1, 1_000),
    window=st.integers(86_400, 365 * 86_400),
)
def test_loss_stored_is_equivalent_later(used, last, d1, d2, bps, window):
    """What the lens reports at t1, turned back into a stored use, drains like the real one after."""
    u1 = model.loss_used_now(used, last, last + d1, bps, window)
    stored = model.loss_stored(u1, last, last + d1, bps, window)
    t2 = last + d1 + d2
    assert model.loss_used_now(stored, last, t2, bps, window) == model.loss_used_now(
        used, last, t2, bps, window
    )


# ---- check_trades: the vault's reasons ----


def vault3(**kw) -> VaultModel:
    """Three 18-decimal assets at $1, 1_000 each; targets 30/30/40: asset 0 and 1 over, 2 under."""
    base = dict(
        balances=[400 * 10**18, 350 * 10**18, 250 * 10**18],
        prices=[10**18] * 3,
        decimals=[18] * 3,
        targets_bps=[3_000, 3_000, 4_000],
        last_rebalance=0,
        params=Params(),
    )
    base.update(kw)
    return VaultModel(**base)


E = 10**18


def t(s, b, amount, min_out=None):
    """A trade with ``min_amount_out`` at the vault's bound (1 % slippage, rounded up)."""
    return (s, b, amount, -(-amount * 99 // 100) if min_out is None else min_out)


@pytest.mark.parametrize(
    ("trades", "received", "reason"),
    [
        ([t(0, 2, 100 * E)], [100 * E], None),
        ([t(0, 2, 60 * E), t(1, 2, 50 * E)], [60 * E, 50 * E], None),
        ([t(0, 0, E)], [E], "vault: same asset"),
        ([t(0, 2, E), t(2, 1, E)], [E, E], "vault: round trip"),  # bought 2, then sells it
        ([t(0, 2, E), t(1, 0, E)], [E, E], "vault: round trip"),  # sold 0, then buys it
        ([t(2, 0, E)], [E], "vault: sell not overweight"),
        ([t(0, 1, E)], [E], "vault: buy not underweight"),
        ([t(0, 2, 101 * E)], [101 * E], "vault: sell above excess"),  # room 400 - 300
        ([t(0, 2, 100 * E), t(1, 2, 50 * E + 1)], [100 * E, 50 * E], "vault: sell above excess"),
        ([t(0, 2, 100 * E), t(1, 2, 50 * E)], [100 * E, 50 * E + 1], "vault: buy above shortfall"),
        ([t(0, 2, 0)], [0], "vault: zero amount"),
        ([t(0, 2, 100 * E, 0)], [100 * E], "vault: min out below bound"),
        ([t(0, 2, 100 * E)], [99 * E - 1], "vault: output below bound"),
        ([], [], "vault: no trades"),
    ],
)
def test_check_trades_reasons(trades, received, reason):
    # 150 bought into asset 2 is its whole shortfall (400 - 250), tolerance adds 2.5
    v = vault3(params=Params(tolerance_bps=0))
    assert model.check_trades(v, trades, received, NOW) == reason


def test_check_trades_buy_room_includes_tolerance():
    v = vault3()  # tolerance 25 bps of 1_000 = 2.5 -> floor 2.5e18
    # sells stop at target + tolerance: rooms 400 - 302.5 and 350 - 302.5
    assert model.check_trades(v, [t(0, 2, 98 * E)], [98 * E], NOW) == "vault: sell above excess"
    ok = [t(0, 2, 97 * E), t(1, 2, 47 * E)]
    # bought 152 of a 150 shortfall + 2.5 tolerance
    assert model.check_trades(v, ok, [97 * E, 55 * E], NOW) in (None, "vault: overshoot")
    assert model.check_trades(v, ok, [97 * E, 55 * E + E // 2 + 1], NOW) == "vault: buy above shortfall"


def test_check_trades_loss_budget_and_gates():
    v = vault3(params=Params(loss_budget_bps=10, max_slippage_bps=200, tolerance_bps=0))
    # loses 1.5 of 1_000 = 15 bps > 10 bps budget, within the 200 bps slippage allowance
    assert model.check_trades(v, [t(0, 2, 100 * E, 98 * E)], [98 * E + E // 2], NOW) == "vault: loss budget"
    assert model.check_trades(v, [t(0, 2, 100 * E, 98 * E)], [99 * E + E // 2], NOW) is None
    # budget used up at the last rebalance and not yet refilled
    full = replace(v, loss_stored=10 * BPS_TO_LOSS, last_rebalance=NOW - 3_600)
    assert (
        model.check_trades(full, [t(0, 2, 100 * E, 98 * E)], [99 * E + E // 2], NOW) == "vault: loss budget"
    )
    assert model.check_trades(replace(v, paused=True), [t(0, 2, E)], [E], NOW) == "vault: paused"
    assert model.check_trades(replace(v, last_rebalance=NOW - 1), [t(0, 2, E)], [E], NOW) == "vault: cooldown"
    assert model.check_trades(v, [t(0, 2, E)], [E], NOW, sequencer_up=False) == "vault: sequencer down"
    for status, why in model.FEED_REVERT_REASONS.items():
        assert model.check_trades(v, [t(0, 2, E)], [E], NOW, statuses=[0, status, 4]) == why
    balanced = vault3(balances=[300 * E, 300 * E, 400 * E])
    assert model.check_trades(balanced, [t(0, 2, E)], [E], NOW) == "vault: no trigger"


def test_check_trades_takes_planned_trades():
    v = vault3()
    plan = model.plan_trades(v.balances, v.prices, v.decimals, v.targets_bps, tolerance_bps=25)
    assert plan and all(isinstance(p, PlannedTrade) for p in plan)
    got = [p.expected_out * (BPS - 30) // BPS for p in plan]
    assert model.check_trades(v, plan, got, NOW) is None


# ---- the planner never breaks a rule ----

I8_I9 = {
    "vault: same asset",
    "vault: round trip",
    "vault: sell not overweight",
    "vault: buy not underweight",
    "vault: sell above excess",
    "vault: buy above shortfall",
    "vault: loss budget",
    "vault: trade too large",
    "vault: exceeds holdings",
    "vault: zero amount",
    "vault: min out below bound",
}  # I7 ("value loss") is not the planner's: a coarse token's rounding can lose more than the
#   slippage allowance of a tiny trade; the keeper checks the quoted trades with check_trades


@st.composite
def states(draw):
    n = draw(st.integers(2, 8))
    decimals = draw(st.lists(st.sampled_from([0, 2, 6, 8, 18]), min_size=n, max_size=n))
    prices = draw(st.lists(st.integers(10**12, 10**24), min_size=n, max_size=n))
    # up to $1e9 of each asset, any token precision
    balances = [
        draw(st.integers(0, 10**9)) * 10**d * 10**18 // p for d, p in zip(decimals, prices, strict=True)
    ]
    cuts = sorted(draw(st.lists(st.integers(0, BPS), min_size=n - 1, max_size=n - 1)))
    targets = [b - a for a, b in zip([0, *cuts], [*cuts, BPS], strict=True)]
    params = Params(
        max_trade_bps=draw(st.integers(100, BPS)),
        tolerance_bps=draw(st.integers(0, 200)),
        max_slippage_bps=draw(st.integers(50, 1_000)),
        loss_budget_bps=draw(st.integers(1, 1_000)),
        drift_threshold_bps=10,
        min_drift_bps=1,
    )
    loss_used = draw(st.integers(0, params.loss_budget_bps * BPS_TO_LOSS))
    vm = VaultModel(
        balances, prices, decimals, targets, 0, params, loss_used=loss_used, loss_stored=loss_used
    )
    return vm, draw(st.integers(0, 200)), draw(st.integers(0, 100)), draw(st.booleans())


@settings(max_examples=400)
@given(states())
def test_planner_only_proposes_trades_that_pass_i8_and_i9(case):
    vm, band, fee, cap_loss = case
    p = vm.params
    loss_room = vm.loss_room_value() if cap_loss else None
    plan = model.plan_trades(
        vm.balances,
        vm.prices,
        vm.decimals,
        vm.targets_bps,
        band_bps=band,
        fee_bps=fee,
        max_trade_bps=p.max_trade_bps,
        loss_room=loss_room,
        tolerance_bps=p.tolerance_bps,
    )
    values = vm.values()
    room, over, under = model.trade_rooms(values, vm.targets_bps, p.tolerance_bps)
    sold = {x.sell for x in plan}
    bought = {x.buy for x in plan}
    assert not sold & bought
    assert all((over >> i) & 1 for i in sold) and all((under >> i) & 1 for i in bought)
    for x in plan:
        unit_s = 10 ** vm.decimals[x.sell]
        room[x.sell] -= -(-x.amount_in * vm.prices[x.sell] // unit_s)
        assert room[x.sell] >= 0, "sell above excess"
        recv = x.expected_out * (BPS - fee) // BPS  # a router that pays the oracle rate less its fee
        room[x.buy] -= -(-recv * vm.prices[x.buy] // 10 ** vm.decimals[x.buy])
        assert room[x.buy] >= 0, "buy above shortfall"
    if loss_room is not None:  # the planned fee fits the loss budget left
        assert sum(x.value for x in plan) * fee // BPS <= loss_room
    if not plan:
        event("no trades")
        return
    received = [x.expected_out * (BPS - fee) // BPS for x in plan]
    reason = model.check_trades(vm, plan, received, NOW)
    event(f"vault says {reason}")
    if loss_room is None and reason == "vault: loss budget":
        return  # no budget cap asked for
    if fee > p.max_slippage_bps and reason == "vault: output below bound":
        return  # the router's fee alone is above the vault's slippage bound
    assert reason not in I8_I9, (reason, plan)
