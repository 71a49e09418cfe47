"""I8 (P1): every rebalance trade must undo an imbalance the market made. Round trips, selling an
asset that is not overweight, buying one that is not underweight, selling more than an asset's
excess and buying more than its shortfall (+ tolerance) are refused with their reasons; the
issue's wash-trade attack (16 trades in round-trip pairs at the oracle bound) now reverts."""

import sys
from fractions import Fraction
from pathlib import Path

import brownie
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from hostile import Snap, worst_accepted, worst_trades  # noqa: E402

MAX_UINT = 2**256 - 1


def _usd_amount(snap: Snap, i: int, usd: int) -> int:
    return snap.amount_for_value(i, usd * 10**18)


def _assert_unchanged(basket, held, last):
    assert basket.holdings() == held
    assert basket.vault.last_rebalance() == last


# ---- round trips ----


def test_round_trip_sell_then_buy_back_is_refused(drifted):
    snap = Snap.read(drifted.vault)
    held, last = drifted.holdings(), drifted.vault.last_rebalance()
    btc = _usd_amount(snap, 1, 10_000)
    usdc = _usd_amount(snap, 0, 9_000)
    with brownie.reverts("vault: round trip"):
        drifted.rebalance([snap.trade(1, 0, btc), snap.trade(0, 1, usdc)])
    _assert_unchanged(drifted, held, last)


def test_selling_an_asset_bought_earlier_is_refused(drifted):
    snap = Snap.read(drifted.vault)
    btc = _usd_amount(snap, 1, 10_000)
    usdc = _usd_amount(snap, 0, 1_000)
    with brownie.reverts("vault: round trip"):
        drifted.rebalance([snap.trade(1, 0, btc), snap.trade(0, 2, usdc)])


def test_buying_an_asset_sold_earlier_is_refused(make_basket, alice):
    # two overweight assets (1, 2): sell 1 -> 0, then 2 -> 1 buys back the asset just sold
    b = make_basket()
    b.deposit_usd(alice, 1_000_000)
    b.move(1, 14_000)
    b.move(2, 13_000)
    snap = Snap.read(b.vault)
    assert snap.sellable(1) and snap.sellable(2) and snap.buyable(0)
    with brownie.reverts("vault: round trip"):
        b.rebalance(
            [snap.trade(1, 0, _usd_amount(snap, 1, 10_000)), snap.trade(2, 1, _usd_amount(snap, 2, 1_000))]
        )


# ---- direction ----


def test_selling_an_underweight_asset_is_refused(drifted):
    snap = Snap.read(drifted.vault)
    assert snap.buyable(0) and snap.buyable(2)
    with brownie.reverts("vault: sell not overweight"):
        drifted.rebalance([snap.trade(0, 2, _usd_amount(snap, 0, 1_000))])


def test_selling_an_asset_at_target_is_refused(make_basket, alice):
    """Asset 0 sits exactly at its target weight (WAD) while 1 and 2 drift apart around it."""
    b = make_basket(decimals=(18, 18, 18), prices=(1, 1, 1), weights=(5_000, 2_500, 2_500))
    b.deposit_usd(alice, 1_000_000)
    b.warp(2 * 3_600)
    b.refresh_feeds()
    b.set_price(1, b.prices[1] * 3 // 2)  # asset 1: 25 % -> 37.5 % of the old value
    b.set_price(2, b.prices[2] // 2)  # asset 2: 25 % -> 12.5 %: the total is unchanged
    b.arbitrage()
    snap = Snap.read(b.vault)
    assert snap.weights()[0] == 5_000 * 10**14  # exactly at target
    assert b.vault.needs_rebalance()[0]
    with brownie.reverts("vault: sell not overweight"):
        b.rebalance([snap.trade(0, 2, _usd_amount(snap, 0, 1_000))])


def test_buying_an_overweight_asset_is_refused(make_basket, alice):
    b = make_basket()
    b.deposit_usd(alice, 1_000_000)
    b.move(1, 14_000)
    b.move(2, 13_000)
    snap = Snap.read(b.vault)
    assert snap.sellable(1) and snap.sellable(2)
    with brownie.reverts("vault: buy not underweight"):
        b.rebalance([snap.trade(1, 2, _usd_amount(snap, 1, 1_000))])


def test_buying_an_asset_at_target_is_refused(make_basket, alice):
    b = make_basket(decimals=(18, 18, 18), prices=(1, 1, 1), weights=(5_000, 2_500, 2_500))
    b.deposit_usd(alice, 1_000_000)
    b.warp(2 * 3_600)
    b.refresh_feeds()
    b.set_price(1, b.prices[1] * 3 // 2)
    b.set_price(2, b.prices[2] // 2)
    b.arbitrage()
    snap = Snap.read(b.vault)
    assert snap.weights()[0] == 5_000 * 10**14
    with brownie.reverts("vault: buy not underweight"):
        b.rebalance([snap.trade(1, 0, _usd_amount(snap, 1, 1_000))])


# ---- per-asset caps ----


def test_selling_more_than_the_excess_is_refused(drifted):
    snap = Snap.read(drifted.vault)
    sell_room, _ = snap.rooms()
    amount = snap.amount_for_value(1, sell_room[1]) + 1  # one unit past the excess
    with brownie.reverts("vault: sell above excess"):
        drifted.rebalance([snap.trade(1, 0, amount)])


def test_selling_more_than_the_excess_across_two_trades_is_refused(drifted):
    snap = Snap.read(drifted.vault)
    sell_room, _ = snap.rooms()
    quarter = snap.amount_for_value(1, sell_room[1] // 4)
    quarter_up = -(-quarter * snap.prices[1] // 10 ** snap.decimals[1])
    rest = snap.amount_for_value(1, sell_room[1] - 2 * quarter_up) + 1  # the rest of the room, plus one unit
    # a quarter to asset 0 and a quarter to asset 2 fit; the third trade is one unit over the excess
    with brownie.reverts("vault: sell above excess"):
        drifted.rebalance([snap.trade(1, 0, quarter), snap.trade(1, 2, quarter), snap.trade(1, 3, rest)])


def test_buying_past_shortfall_and_tolerance_is_refused(drifted):
    snap = Snap.read(drifted.vault)
    sell_room, buy_room = snap.rooms()
    assert buy_room[3] < sell_room[1]  # asset 3's shortfall + tolerance is smaller than 1's excess
    # sell (within 1's excess) what buys asset 3 past its buy room
    value = min(sell_room[1], buy_room[3] * 12 // 10)
    amount = snap.amount_for_value(1, value)
    with brownie.reverts("vault: buy above shortfall"):
        drifted.rebalance([snap.trade(1, 3, amount)])


def test_trades_within_every_room_pass(drifted):
    snap = Snap.read(drifted.vault)
    trades = worst_trades(snap, fraction=Fraction(1, 2))
    assert trades
    tx = drifted.rebalance(trades)
    assert len(tx.events["Swapped"]) == len(trades)


# ---- the attack: 16 round-trip trades at the oracle bound ----


@pytest.fixture
def colluding_router_basket(make_basket, owner, alice, HostileRouterDouble):
    """A drifted vault whose router colludes with the keeper: it fills every trade at exactly
    the vault's oracle bound (oracle price less max_slippage_bps)."""
    router = HostileRouterDouble.deploy({"from": owner})
    b = make_basket(vault_router=router)
    for i, token in enumerate(b.tokens):
        token.mint(router, b.units_for_usd(i, 100_000_000), {"from": owner})
    router.pay_min_out(True, {"from": owner})
    b.deposit_usd(alice, 1_000_000)
    b.move(1, 14_000)
    return b, router


def _wash_trades(snap: Snap, usd: int, pairs: int = 8) -> list[tuple]:
    """The issue's attack: ``pairs`` round trips X -> Y -> X, each leg at the oracle bound."""
    trades = []
    amount = _usd_amount(snap, 1, usd)
    for _ in range(pairs):
        trades.append(snap.trade(1, 0, amount))
        back = snap.min_out(1, 0, amount)  # what the first leg paid, sold straight back
        trades.append(snap.trade(0, 1, back))
    return trades


def test_wash_trade_attack_through_colluding_router_reverts(colluding_router_basket):
    b, _ = colluding_router_basket
    snap = Snap.read(b.vault)
    held, last = b.holdings(), b.vault.last_rebalance()
    trades = _wash_trades(snap, 5_000)
    assert len(trades) == 16
    with brownie.reverts("vault: round trip"):
        b.rebalance(trades)
    _assert_unchanged(b, held, last)


def test_wash_trade_attack_through_a_pool_the_keeper_moved_reverts(drifted, keeper):
    snap = Snap.read(drifted.vault)
    held, last = drifted.holdings(), drifted.vault.last_rebalance()
    # the keeper first dumps BTC into the BTC/USDC pool: the vault's BTC -> USDC legs fill near
    # the oracle bound; the USDC -> BTC legs would buy the cheap BTC back
    dump = _usd_amount(snap, 1, 150_000)
    token = drifted.tokens[1]
    token.mint(keeper, dump, {"from": keeper})
    token.approve(drifted.router, MAX_UINT, {"from": keeper})
    drifted.router.swapExactTokensForTokens(
        dump, 0, [token, drifted.tokens[0]], keeper, 2**40, {"from": keeper}
    )
    trades = _wash_trades(snap, 5_000)
    with brownie.reverts("vault: round trip"):
        drifted.rebalance(trades)
    _assert_unchanged(drifted, held, last)


def test_one_way_trades_at_the_bound_lose_at_most_slippage_of_the_excess(colluding_router_basket):
    """What the attack is left with: one-way trades, every fill at the bound. The loss is at most
    max_slippage_bps of the value sold, which is at most the market-made excess."""
    b, _ = colluding_router_basket
    snap = Snap.read(b.vault)
    excess = snap.excess()
    trades = worst_accepted(b.vault, snap, b.deadline(), b.keeper)
    tx = b.rebalance(trades)
    ev = tx.events["Rebalanced"]
    loss = ev["value_before"] - ev["value_after"]
    assert 0 < loss <= excess * snap.param("slippage") // 10_000 + len(tx.events["Swapped"])
