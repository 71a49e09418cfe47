"""Findings of the issue-9 red team, each refused now: queueing before raising the delay (P2), a
removed keeper's pending addition, share supply that would overflow a redeem (P3), a trade that buys
less than one unit (no per-trade oracle bound), and a feed that burns all its gas (views must answer)."""

import brownie
import pytest

from offchain.core import model

DAY = 86_400
ZERO = "0x" + "00" * 20
K_SLIPPAGE, K_DELAY, K_KEEPER, K_TARGETS = 2, 7, 10, 11


def _pending(vault) -> dict[int, tuple[int, int]]:
    return {int(k): (int(v), int(e)) for k, v, e in vault.pending_changes()}


def test_raising_the_delay_also_delays_changes_queued_before(basket, owner, attacker):
    v = basket.vault
    v.set_max_slippage_bps(1_000, {"from": owner})  # a loosening: queued for the current 1 day
    v.queue_target_weights([0, 0, 0, 10_000], {"from": owner})
    queued_at = basket.now()
    v.set_target_delay(30 * DAY, {"from": owner})  # a tightening: immediate
    assert v.target_delay() == 30 * DAY
    pending = _pending(v)
    # the view shows the real etas: queue time + the delay in force now
    assert pending[K_SLIPPAGE][1] >= queued_at + 30 * DAY - 5
    assert pending[K_TARGETS][1] >= queued_at + 30 * DAY - 5
    basket.warp(DAY + 60)  # the eta announced with the old delay has passed
    with brownie.reverts("vault: timelock"):
        v.apply_change(K_SLIPPAGE, {"from": attacker})
    with brownie.reverts("vault: timelock"):
        v.apply_target_weights({"from": attacker})
    basket.warp(29 * DAY)
    v.apply_change(K_SLIPPAGE, {"from": attacker})
    assert v.max_slippage_bps() == 1_000


def test_removing_a_keeper_drops_its_pending_addition(basket, owner, guardian, attacker):
    v = basket.vault
    v.set_keeper(attacker, True, {"from": owner})
    assert _pending(v)[K_KEEPER][0] == int(attacker.address, 16)
    tx = v.set_keeper(attacker, False, {"from": guardian})
    assert "ChangeCancelled" in tx.events and K_KEEPER not in _pending(v)
    basket.warp(2 * DAY)
    with brownie.reverts("vault: nothing queued"):
        v.apply_change(K_KEEPER, {"from": owner})
    assert not v.is_keeper(attacker)


def test_share_supply_is_capped_so_every_redeem_fits(make_basket, alice):
    # 0-decimal tokens priced at the feed bound (1e18 quote units per token): 1,000 tokens mint 1e39
    # shares, past 2**128, so a later redeem's holdings * shares could overflow
    b = make_basket(decimals=(0, 0), prices=(10**18, 10**18), weights=(5_000, 5_000), pool_usd=10**22)
    for t in b.tokens:
        t.mint(alice, 1_000, {"from": alice})
        t.approve(b.vault, 1_000, {"from": alice})
    with brownie.reverts("vault: supply overflow"):
        b.vault.deposit([1_000, 1_000], 0, alice, {"from": alice})
    b.vault.deposit([100, 100], 0, alice, {"from": alice})  # 2e38 shares: fits
    shares = b.vault.balanceOf(alice)
    b.vault.redeem(shares, [0, 0], alice, alice, {"from": alice})  # the whole exit in one call
    assert b.vault.totalSupply() == 0


def test_a_trade_that_buys_less_than_one_unit_is_refused(make_basket, alice, keeper):
    # asset 1 has 0 decimals at $1,000 a unit: selling $998 of asset 0 buys 0 units at the oracle
    b = make_basket(decimals=(18, 0), prices=(1, 1_000), weights=(5_000, 5_000))
    b.deposit_usd(alice, 1_000_000)
    b.warp(2 * 3_600)
    b.move(0, 14_000)
    prices = b.vault.oracle_state()[0]
    amount = 998 * 10**18 * 10**18 // prices[0]  # $998 of asset 0
    assert model.oracle_out(amount, prices[0], 18, prices[1], 0) == 0
    trade = (b.tokens[0], b.tokens[1], amount, 0)
    with brownie.reverts("vault: min out below bound"):
        b.vault.rebalance([trade], b.deadline(), {"from": keeper})


@pytest.mark.parametrize("view", ["needs_rebalance", "oracle_state", "checkUpkeep"])
def test_a_feed_that_burns_its_gas_is_unusable_and_views_answer(
    make_basket, FaultyAggregatorDouble, RebalancingVault, owner, keeper, guardian, view
):
    b = make_basket()
    feeds = [
        FaultyAggregatorDouble.deploy(8, f"TK{i} / USD", int(f.latestAnswer()), {"from": owner})
        for i, f in enumerate(b.feeds)
    ]
    v = RebalancingVault.deploy(
        "burn", "bBURN", b.tokens, feeds, b.targets, [3_600] * b.n, model.Params().as_list(),
        b.router, b.vault.governance(), keeper, guardian, ZERO, 0, {"from": owner},
    )  # fmt: skip
    feeds[2].set_mode(5, {"from": owner})  # MODE_BURN
    args = [b""] if view == "checkUpkeep" else []
    out = getattr(v, view)(*args, {"gas": 5_000_000})
    if view == "oracle_state":
        assert out[1][2] == model.FEED_UNUSABLE and out[1][0] == model.FEED_OK
    else:
        assert out[0] is False
    state = b.lens.state(v, {"gas": 25_000_000})  # the lens reads the vault's views several times
    assert state["feed_status"][2] == model.FEED_UNUSABLE
