"""Issue 9 in the reference model, one behaviour per test (pure Python, no chain): the exact I8
boundaries of ``trade_rooms``, the rounding of the loss-budget helpers, ``read_feed`` on garbled
bytes, ``sequencer_up`` edge cases, the planner against the rooms, masks and ``loss_room`` on many
random states, ``Params`` and the kind helpers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.core import model
from offchain.core.model import BPS, BPS_TO_LOSS, LOSS_ONE, MAX_PRICE, Params

NOW = 50_000_000


def words(*xs: int) -> bytes:
    return b"".join((x % 2**256).to_bytes(32, "big") for x in xs)


# ---- trade_rooms: exact value comparisons ----


def test_value_exactly_at_target_is_neither_over_nor_under():
    # V = 10_000, target 40 %: target value exactly 4_000
    room, over, under = model.trade_rooms([4_000, 6_000], [4_000, 6_000], 25)
    assert (room, over, under) == ([0, 0], 0, 0)


def test_one_wei_above_target_is_overweight_with_room_one():
    # V = 10_001; asset 0 at 4_001 vs target value 4_000.4: over, room 4_001 - ceil(4_000.4) = 0
    room, over, under = model.trade_rooms([4_001, 6_000], [4_000, 6_000], 0)
    assert over == 0b01 and under == 0b10
    assert room == [0, 6_000 * 10_001 // BPS - 6_000 + 0]
    # with V a multiple of 10_000 one wei above target is a room of exactly one wei
    room, over, under = model.trade_rooms([4_001, 5_999], [4_000, 6_000], 0)
    assert (over, under) == (0b01, 0b10) and room == [1, 1]


def test_one_wei_below_target_is_underweight_with_room_one_plus_tolerance():
    room, over, under = model.trade_rooms([3_999, 6_001], [4_000, 6_000], 25)
    assert under == 0b01 and room[0] == 1 + 10_000 * 25 // BPS
    # asset 1 is 1 wei above target but within the tolerance: not sellable
    assert over == 0 and room[1] == 0


def test_sell_line_is_target_plus_tolerance_exactly():
    # V = 10_000, target 40 %, tolerance 25 bps: the sell line is exactly 4_025
    room, over, _under = model.trade_rooms([4_025, 5_975], [4_000, 6_000], 25)
    assert over == 0 and room[0] == 0
    room, over, _under = model.trade_rooms([4_026, 5_974], [4_000, 6_000], 25)
    assert over == 0b01 and room[0] == 1
    # V = 10_001: sell line 4_025.4025 -> room 4_026 - ceil(4_025.4025) = 0, but sellable
    room, over, _under = model.trade_rooms([4_026, 5_975], [4_000, 6_000], 25)
    assert over == 0b01 and room[0] == 0


def test_zero_target_asset_with_value_is_overweight_for_all_of_it():
    room, over, under = model.trade_rooms([500, 9_500], [0, 10_000], 0)
    assert over == 0b01 and room[0] == 500 and under == 0b10


def test_overweight_is_an_exact_value_comparison_not_a_wad_weight():
    # V = 3 * 10**18 + 1: asset 0's WAD weight rounds down to exactly 1/3 of WAD... but its value
    # times 10_000 is still above the target value: overweight, as the vault decides it
    values = [10**18 + 1, 10**18, 10**18]
    targets = [3_333, 3_333, 3_334]
    _room, over, under = model.trade_rooms(values, targets, 0)
    total = sum(values)
    for i, (v, t) in enumerate(zip(values, targets, strict=True)):
        assert bool((over >> i) & 1) == (v * BPS > t * total)
        assert bool((under >> i) & 1) == (v * BPS < t * total)


@given(
    values=st.lists(st.integers(0, 10**30), min_size=2, max_size=8),
    tol=st.integers(0, 200),
    data=st.data(),
)
def test_rooms_never_let_a_sale_pass_the_sell_line_or_a_buy_pass_tolerance(values, tol, data):
    n = len(values)
    cuts = sorted(data.draw(st.lists(st.integers(0, BPS), min_size=n - 1, max_size=n - 1)))
    targets = [b - a for a, b in zip([0, *cuts], [*cuts, BPS], strict=True)]
    room, over, under = model.trade_rooms(values, targets, tol)
    total = sum(values)
    assert over & under == 0
    for i, v in enumerate(values):
        if (over >> i) & 1:  # selling all of the room leaves it at or above target + tolerance
            assert (v - room[i]) * BPS >= (targets[i] + tol) * total and room[i] >= 0
        elif (under >> i) & 1:  # buying all of it ends within tolerance above target
            assert (v + room[i]) * BPS <= (targets[i] + tol) * total and room[i] >= 0
        else:
            assert room[i] == 0 and targets[i] * total <= v * BPS <= (targets[i] + tol) * total


# ---- the loss budget's rounding ----


def test_loss_used_now_drain_rounds_down():
    # budget 1 bps = 1e11 over a 3-second window: 1 s drains floor(1e11 / 3)
    assert model.loss_used_now(10**11, 0, 1, 1, 3) == 10**11 - 10**11 // 3
    assert model.loss_used_now(10**11, 0, 3, 1, 3) == 0
    assert model.loss_used_now(0, 0, 10**9, 1_000, 86_400) == 0
    assert model.loss_used_now(5, 100, 100, 1, 86_400) == 5  # no time: no drain


def test_loss_charge_rounds_up_and_is_zero_on_a_gain():
    assert model.loss_charge(10**18, 10**18 - 1) == 1  # 1e-18 of value -> one 1e-15 unit
    assert model.loss_charge(3 * 10**18, 2 * 10**18) == -(-LOSS_ONE // 3)
    assert model.loss_charge(10**18, 10**18) == 0 and model.loss_charge(10**18, 2 * 10**18) == 0
    assert model.loss_charge(100, 0) == LOSS_ONE  # lost everything: 100 %


def test_loss_room_value_rounds_down_and_never_negative():
    assert model.loss_room_value(0, 1, 10**18) == 10**14  # 1 bps of $1
    assert model.loss_room_value(1, 1, 10**18) == (BPS_TO_LOSS - 1) * 10**18 // LOSS_ONE
    assert model.loss_room_value(BPS_TO_LOSS, 1, 10**30) == 0
    assert model.loss_room_value(BPS_TO_LOSS * 5, 1, 10**30) == 0
    assert model.loss_room_value(0, 100, 999) == 9  # 1 % of 999, floored


@given(value=st.integers(1, 10**30), used=st.integers(0, 1_000 * BPS_TO_LOSS), bps=st.integers(1, 1_000))
def test_a_loss_of_exactly_loss_room_value_fits_the_budget(value, used, bps):
    room = model.loss_room_value(used, bps, value)
    if room == 0:
        return
    assert used + model.loss_charge(value, value - room) <= bps * BPS_TO_LOSS


# ---- read_feed on garbled bytes ----


@pytest.mark.parametrize("length", [0, 1, 31, 32, 128, 159])
def test_read_feed_short_data_is_unusable(length):
    assert model.read_feed(words(1, 10**8, NOW, NOW, 1)[:length], 8, 3_600, NOW) == (
        0,
        model.FEED_UNUSABLE,
        0,
    )


def test_read_feed_reverted_call_is_unusable():
    assert model.read_feed(None, 8, 3_600, NOW) == (0, model.FEED_UNUSABLE, 0)


def test_read_feed_extra_bytes_are_ignored():
    assert model.read_feed(words(1, 10**8, NOW, NOW, 1, 2**256 - 1), 8, 3_600, NOW) == (
        10**18,
        model.FEED_OK,
        NOW,
    )


@pytest.mark.parametrize("answer", [-1, -(2**255), -(10**8), 0])
def test_read_feed_non_positive_answers_report_no_price(answer):
    assert model.read_feed(words(1, answer, NOW, NOW, 1), 8, 3_600, NOW) == (0, model.FEED_NON_POSITIVE, NOW)


def test_read_feed_uint80_fields_out_of_range_are_full_words():
    big = 2**80
    # answeredInRound above 2**80 and >= roundId: complete
    assert model.read_feed(words(1, 10**8, 0, NOW, big), 8, 3_600, NOW)[1] == model.FEED_OK
    # roundId above 2**80, answeredInRound a plain uint80: incomplete
    assert model.read_feed(words(big, 10**8, 0, NOW, big - 1), 8, 3_600, NOW)[1] == model.FEED_INCOMPLETE
    # updatedAt far in the future (a full word): stale, price still reported
    assert model.read_feed(words(1, 10**8, 0, 2**255, 1), 8, 3_600, NOW) == (10**18, model.FEED_STALE, 2**255)


def test_read_feed_huge_answers_are_unusable_with_no_price():
    assert model.read_feed(words(1, MAX_PRICE + 1, 0, NOW, 1), 18, 3_600, NOW) == (
        0,
        model.FEED_UNUSABLE,
        NOW,
    )
    # 1e28 at 8 decimals is 1e38 once scaled
    assert model.read_feed(words(1, 10**28, 0, NOW, 1), 8, 3_600, NOW) == (0, model.FEED_UNUSABLE, NOW)
    # the scaled bound itself is fine: 1e18 at 0 decimals is exactly 1e36
    assert model.read_feed(words(1, 10**18, 0, NOW, 1), 0, 3_600, NOW) == (MAX_PRICE, model.FEED_OK, NOW)
    assert model.read_feed(words(1, 10**18 + 1, 0, NOW, 1), 0, 3_600, NOW)[1] == model.FEED_UNUSABLE


def test_read_feed_max_age_boundary():
    assert model.read_feed(words(1, 1, 0, NOW - 3_600, 1), 8, 3_600, NOW)[1] == model.FEED_OK
    assert model.read_feed(words(1, 1, 0, NOW - 3_601, 1), 8, 3_600, NOW)[1] == model.FEED_STALE
    assert model.read_feed(words(1, 1, 0, NOW + 1, 1), 8, 3_600, NOW)[1] == model.FEED_STALE


# ---- sequencer_up ----


@pytest.mark.parametrize(
    ("answer", "started", "grace", "up"),
    [
        (0, NOW - 3_601, 3_600, True),
        (0, NOW - 3_600, 3_600, False),  # exactly grace seconds: still in grace
        (0, NOW, 0, False),  # grace 0, restarted this very second: now - started == 0, not > 0
        (0, NOW - 1, 0, True),
        (0, NOW + 1, 0, False),  # startedAt in the future
        (0, 0, 0, False),  # never started
        (1, NOW - 10**6, 3_600, False),  # down
        (2**255, NOW - 10**6, 3_600, False),  # any nonzero answer is down
        (None, NOW - 10**6, 3_600, False),  # reverted / short data
    ],
)
def test_sequencer_up_edges(answer, started, grace, up):
    assert model.sequencer_up(answer, started, NOW, grace) is up


def test_sequencer_down_makes_every_feed_unusable_but_keeps_prices():
    ok = words(1, 10**8, NOW, NOW, 1)
    assert model.read_feed(ok, 8, 3_600, NOW, sequencer_up=False) == (10**18, model.FEED_UNUSABLE, NOW)
    neg = words(1, -1, NOW, NOW, 1)
    assert model.read_feed(neg, 8, 3_600, NOW, sequencer_up=False) == (0, model.FEED_UNUSABLE, NOW)


# ---- the planner: rooms, masks and loss_room on random states ----


@st.composite
def vault_states(draw):
    n = draw(st.integers(2, 6))
    decimals = draw(st.lists(st.sampled_from([0, 6, 8, 18]), min_size=n, max_size=n))
    prices = draw(st.lists(st.integers(10**14, 10**23), min_size=n, max_size=n))
    usd = draw(st.lists(st.integers(0, 10**8), min_size=n, max_size=n))
    balances = [u * 10**d * 10**18 // p for u, d, p in zip(usd, decimals, prices, strict=True)]
    cuts = sorted(draw(st.lists(st.integers(0, BPS), min_size=n - 1, max_size=n - 1)))
    targets = [b - a for a, b in zip([0, *cuts], [*cuts, BPS], strict=True)]
    return balances, prices, decimals, targets


@settings(max_examples=300)
@given(
    state=vault_states(),
    tol=st.integers(0, 200),
    fee=st.integers(0, 100),
    cap=st.integers(100, BPS),
    band=st.sampled_from([0, 0, 10, 100]),
    loss_bps=st.integers(0, 50),
)
def test_planner_respects_rooms_masks_cap_and_loss_room(state, tol, fee, cap, band, loss_bps):
    balances, prices, decimals, targets = state
    values = model.asset_values(balances, prices, decimals)
    total = sum(values)
    loss_room = total * loss_bps // BPS if loss_bps else None
    plan = model.plan_trades(
        balances,
        prices,
        decimals,
        targets,
        band_bps=band,
        fee_bps=fee,
        max_trade_bps=cap,
        loss_room=loss_room,
        tolerance_bps=tol,
    )
    room, over, under = model.trade_rooms(values, targets, tol)
    sold, bought = {x.sell for x in plan}, {x.buy for x in plan}
    assert not sold & bought  # never a round trip
    assert all((over >> i) & 1 for i in sold) and all((under >> i) & 1 for i in bought)
    held = list(balances)
    sold_up = 0
    for x in plan:
        assert x.amount_in > 0 and x.sell != x.buy
        held[x.sell] -= x.amount_in
        assert held[x.sell] >= 0
        up = -(-x.amount_in * prices[x.sell] // 10 ** decimals[x.sell])
        sold_up += up
        room[x.sell] -= up
        assert room[x.sell] >= 0
        assert x.expected_out == model.oracle_out(
            x.amount_in, prices[x.sell], decimals[x.sell], prices[x.buy], decimals[x.buy]
        )
        recv = x.expected_out * (BPS - fee) // BPS
        room[x.buy] -= -(-recv * prices[x.buy] // 10 ** decimals[x.buy])
        assert room[x.buy] >= 0
    assert sum(x.value for x in plan) <= total * cap // BPS
    if loss_room is not None:
        assert sum(x.value for x in plan) * (fee + 10) // BPS <= loss_room
    assert len(plan) <= max(0, len(balances) - 1) + len(balances)  # a transport schedule, no churn


def test_planner_with_no_loss_room_left_plans_nothing():
    bal, prices, dec, targets = [600 * 10**18, 400 * 10**18], [10**18] * 2, [18, 18], [5_000, 5_000]
    assert model.plan_trades(bal, prices, dec, targets, loss_room=0) == []
    assert model.plan_trades(bal, prices, dec, targets, loss_room=None)


# ---- Params and the kind helpers ----


def test_params_as_list_is_kind_order_and_from_list_inverts_it():
    p = Params(drift_threshold_bps=700, loss_window=2 * 86_400, tolerance_bps=3)
    values = p.as_list()
    assert len(values) == len(model.PARAM_KINDS) == 10
    assert values[model.PARAM_KINDS.index("loss_window")] == 2 * 86_400
    assert values[0] == 700 and values[4] == 3
    assert Params.from_list(values) == p
    assert Params().as_list() == [500, 100, 100, 5_000, 25, 3_600, 30 * 86_400, 86_400, 100, 7 * 86_400]


def test_params_from_list_needs_all_ten():
    with pytest.raises(ValueError):
        Params.from_list([1] * 9)


def test_params_violations_name_each_bound_and_the_drift_order():
    assert Params().violations() == []
    for name, (lo, hi) in model.PARAM_BOUNDS.items():
        assert Params(**{name: lo}).violations() == [] or name in ("drift_threshold_bps",)
        low = Params(**{name: lo - 1}).violations()
        high = Params(**{name: hi + 1}).violations()
        assert any(v.startswith(name) for v in low), (name, low)
        assert any(v.startswith(name) for v in high), (name, high)
    bad = Params(min_drift_bps=600, drift_threshold_bps=500).violations()
    assert bad == ["min_drift_bps 600 is above drift_threshold_bps 500"]
    assert Params(min_drift_bps=500, drift_threshold_bps=500).violations() == []


def test_kind_name_of_every_kind():
    assert [model.kind_name(k) for k in range(10)] == list(model.PARAM_KINDS)
    assert model.kind_name(model.KIND_KEEPER) == "keeper"
    assert model.kind_name(model.KIND_TARGETS) == "target_weights"
    assert model.kind_name(model.KIND_MAX_AGE) == "max_age[0]"
    assert model.kind_name(model.N_KINDS - 1) == "max_age[7]"
    assert model.kind_name(model.N_KINDS) == "kind 20"


@pytest.mark.parametrize(
    ("name", "looser"),
    [
        ("drift_threshold_bps", "lower"),
        ("min_drift_bps", "lower"),
        ("cooldown", "lower"),
        ("rebalance_period", "lower"),
        ("target_delay", "lower"),
        ("loss_window", "lower"),
        ("max_slippage_bps", "higher"),
        ("max_trade_bps", "higher"),
        ("tolerance_bps", "higher"),
        ("loss_budget_bps", "higher"),
    ],
)
def test_loosens_direction_per_parameter(name, looser):
    assert model.loosens(name, 100, 99) is (looser == "lower")
    assert model.loosens(name, 100, 101) is (looser == "higher")
    assert model.loosens(name, 100, 100) is False  # an equal value is a tightening: immediate
