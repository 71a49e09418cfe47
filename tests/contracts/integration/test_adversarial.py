"""Adversarial cases: sandwiches, hostile routers, reentrant and non-standard tokens, the
first-depositor inflation attack, donations. The vault must reject or bound every one."""

import brownie
import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as selector

from offchain.chain.vault import build_trades, router_contract
from offchain.core import model
from offchain.core.errors import ChainError

MAX_UINT = 2**256 - 1


def _index(basket, address):
    return [a.lower() for a in basket.vault.get_assets()].index(address.lower())


def _attacker_swap(basket, attacker, sell: int, buy: int, usd: int):
    """The attacker dumps ``usd`` of asset ``sell`` into the sell->buy pool."""
    amount = basket.units_for_usd(sell, usd)
    token = basket.tokens[sell]
    token.mint(attacker, amount, {"from": attacker})
    token.approve(basket.router, MAX_UINT, {"from": attacker})
    basket.router.swapExactTokensForTokens(
        amount, 0, [token, basket.tokens[buy]], attacker, 2**40, {"from": attacker}
    )


# ---- sandwiches ----


def test_sandwiched_rebalance_reverts_and_vault_keeps_its_assets(drifted, attacker):
    trades = drifted.propose()
    held = drifted.holdings()
    s, b = _index(drifted, trades[0][0]), _index(drifted, trades[0][1])
    _attacker_swap(drifted, attacker, s, b, 2_000_000)  # front-run: same direction as the vault
    with brownie.reverts("UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT"):
        drifted.rebalance(trades)
    assert drifted.holdings() == held


def test_sandwich_against_loosest_allowed_bound_still_reverts(drifted, attacker):
    st = drifted.state()
    trades = drifted.propose()
    loosest = []
    for t in trades:  # min_amount_out exactly at the vault's oracle bound
        s, b = _index(drifted, t[0]), _index(drifted, t[1])
        expected = model.oracle_out(t[2], st.prices[s], st.decimals[s], st.prices[b], st.decimals[b])
        loosest.append((t[0], t[1], t[2], model.min_acceptable_out(expected, st.max_slippage_bps)))
    s, b = _index(drifted, trades[0][0]), _index(drifted, trades[0][1])
    _attacker_swap(drifted, attacker, s, b, 3_000_000)
    with brownie.reverts("UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT"):
        drifted.rebalance(loosest)


def test_small_sandwich_is_bounded_by_oracle_slippage(drifted, attacker):
    st = drifted.state()
    trades = drifted.propose(keeper_slippage_bps=90)
    s, b = _index(drifted, trades[0][0]), _index(drifted, trades[0][1])
    _attacker_swap(drifted, attacker, s, b, 100_000)  # nudges the pool, within the 1 % bound
    tx = drifted.rebalance(trades)
    for ev in tx.events["Swapped"]:
        assert ev["amount_out"] >= model.min_acceptable_out(ev["expected_out"], st.max_slippage_bps)
    rb = tx.events["Rebalanced"]
    assert rb["drift_after"] < rb["drift_before"]


def test_keeper_refuses_to_trade_into_an_off_price_pool(drifted, attacker, web3):
    st = drifted.state()
    _attacker_swap(drifted, attacker, 1, 0, 5_000_000)  # WBTC dumped: BTC->USDC pool far off oracle
    with pytest.raises(ChainError, match="below the oracle bound"):
        build_trades(st, router_contract(web3, drifted.router.address))


# ---- hostile router ----


@pytest.fixture
def hostile_basket(make_basket, owner, alice, HostileRouterDouble):
    """A drifted vault whose router is hostile; quotes and pools come from the honest AMM."""
    router = HostileRouterDouble.deploy({"from": owner})
    b = make_basket(vault_router=router)
    for i, token in enumerate(b.tokens):
        token.mint(router, b.units_for_usd(i, 10_000_000), {"from": owner})
    b.deposit_usd(alice, 1_000_000)
    b.move(1, 14_000)
    return b, router


def test_router_paying_less_than_min_out_is_rejected(hostile_basket):
    b, hostile = hostile_basket
    t = b.propose()[0]
    hostile.configure(t[3] - 1, 10_000, {"from": b.owner})
    with brownie.reverts("vault: output below bound"):
        b.rebalance([t])


def test_router_pulling_less_than_amount_in_is_rejected(hostile_basket):
    b, hostile = hostile_basket
    t = b.propose()[0]
    hostile.configure(t[3], 5_000, {"from": b.owner})  # pays enough but pulls only half
    with brownie.reverts("vault: partial fill"):
        b.rebalance([t])


def test_router_is_approved_for_exactly_amount_in(hostile_basket):
    b, hostile = hostile_basket
    t = b.propose()[0]
    hostile.configure(t[3] * 101 // 100, 10_000, {"from": b.owner})
    b.rebalance([t])
    assert hostile.seen_allowance() == t[2]
    assert b.tokens[_index(b, t[0])].allowance(b.vault, hostile) == 0


# ---- reentrancy ----


@pytest.fixture
def reentrant_basket(make_basket, ReentrantTokenDouble, alice):
    b = make_basket(token_classes=(ReentrantTokenDouble, None, None, None))
    b.deposit_usd(alice, 1_000_000)
    b.warp(7_200)
    b.refresh_feeds()
    return b


def _call(sig: str, types: list[str], args: list) -> bytes:
    return selector(sig) + encode(types, args)


def test_reentrant_token_hook_works_outside_vault_calls(reentrant_basket, alice, bob):
    token = reentrant_basket.tokens[0]
    token.arm(reentrant_basket.vault, _call("total_value()", [], []), {"from": alice})
    token.mint(alice, 1, {"from": alice})
    token.transfer(bob, 1, {"from": alice})  # control: no vault call in progress
    assert token.hook_calls() == 1 and token.last_hook_success()


def test_reentry_into_views_during_deposit_is_blocked(reentrant_basket, bob):
    b = reentrant_basket
    amounts = [h // 10 for h in b.holdings()]
    b.fund(bob, amounts)
    b.tokens[0].arm(b.vault, _call("total_value()", [], []), {"from": bob})
    b.vault.deposit(amounts, 0, bob, {"from": bob})
    assert b.tokens[0].hook_calls() == 1 and not b.tokens[0].last_hook_success()


def test_reentrant_redeem_during_rebalance_is_blocked(reentrant_basket, alice, attacker):
    b = reentrant_basket
    token = b.tokens[0]
    b.move(0, 14_000)  # asset 0 (the reentrant token) overweight: the rebalance sells it
    shares = 10**18 * 1_000
    b.vault.transfer(token, shares, {"from": alice})  # the token contract itself holds shares
    data = _call(
        "redeem(uint256,uint256[],address,address)",
        ["uint256", "uint256[]", "address", "address"],
        [shares, [0] * 4, attacker.address, token.address],
    )
    token.arm(b.vault, data, {"from": attacker})
    b.rebalance()
    assert token.hook_calls() == 1 and not token.last_hook_success()
    assert b.vault.balanceOf(token) == shares  # nothing was redeemed mid-rebalance
    # control: the same call succeeds when no vault operation is in progress
    token.arm(b.vault, data, {"from": attacker})
    token.transfer(attacker, 0, {"from": attacker})
    assert token.last_hook_success() and b.vault.balanceOf(token) == 0


def test_reentrant_redeem_during_redeem_is_blocked(reentrant_basket, alice, attacker):
    b = reentrant_basket
    token = b.tokens[0]
    shares = 10**18 * 1_000
    b.vault.transfer(token, shares, {"from": alice})
    data = _call(
        "redeem(uint256,uint256[],address,address)",
        ["uint256", "uint256[]", "address", "address"],
        [shares, [0] * 4, attacker.address, token.address],
    )
    token.arm(b.vault, data, {"from": attacker})
    b.vault.redeem(10**18, [0] * 4, alice, alice, {"from": alice})
    assert not token.last_hook_success() and b.vault.balanceOf(token) == shares


# ---- the first-depositor inflation attack and donations ----


def _value(st, amounts):
    return sum(model.asset_values(amounts, st.prices, st.decimals))


@pytest.mark.parametrize("dust", [[1, 1, 1, 1], "target"])
def test_inflation_attack_costs_victim_under_a_tenth_of_a_percent(basket, attacker, bob, dust):
    b = basket
    # 1 unit of each token, or about 10 cents of each
    dust_amounts = [1, 1, 1, 1] if dust == [1, 1, 1, 1] else [b.units_for_usd(i, 1) // 10 for i in range(4)]
    b.fund(attacker, dust_amounts)
    b.vault.deposit(dust_amounts, 0, attacker, {"from": attacker})
    victim_usd = 100_000
    donation = b.basket_for_usd(10 * victim_usd)  # 10x the victim's deposit, straight to the vault
    for token, amount in zip(b.tokens, donation):
        token.mint(attacker, amount, {"from": attacker})
        token.transfer(b.vault, amount, {"from": attacker})
    st = b.state()
    offered = b.basket_for_usd(victim_usd)
    b.fund(bob, offered)
    before = [t.balanceOf(bob) for t in b.tokens]
    shares = b.vault.deposit(offered, 0, bob, {"from": bob}).return_value
    paid = [x - t.balanceOf(bob) for x, t in zip(before, b.tokens)]
    got = b.vault.redeem(shares, [0] * 4, bob, bob, {"from": bob}).return_value
    value_in, value_out = _value(st, paid), _value(st, got)
    assert value_in > 0
    assert value_out * 1_000 >= value_in * 999  # loses < 0.1 %
    # the attacker cannot take the donation back through the share price either: redeeming gets
    # back the dust plus at most the 1-unit round-ups of the victim's deposit, never the donation
    out = b.vault.redeem(
        b.vault.balanceOf(attacker), [0] * 4, attacker, attacker, {"from": attacker}
    ).return_value
    assert all(o <= d + 2 for o, d in zip(out, dust_amounts))


def test_donation_moves_neither_weights_nor_triggers(funded, attacker):
    st = funded.state()
    for i, token in enumerate(funded.tokens[:1]):  # donate a lot of asset 0 only
        amount = funded.units_for_usd(i, 5_000_000)
        token.mint(attacker, amount, {"from": attacker})
        token.transfer(funded.vault, amount, {"from": attacker})
    after = funded.state()
    assert after.current_weights == st.current_weights and after.drift == st.drift
    assert after.total_value == st.total_value and not after.needs_rebalance


# ---- non-standard ERC-20s ----


def test_no_return_token_deposits_rebalances_and_redeems(make_basket, NoReturnTokenDouble, alice):
    b = make_basket(token_classes=(None, NoReturnTokenDouble, None, None))
    b.deposit_usd(alice, 1_000_000)
    b.move(1, 14_000)  # the no-return token is overweight and gets sold
    tx = b.rebalance()
    assert any(ev["sell"] == b.tokens[1] for ev in tx.events["Swapped"])
    out = b.vault.redeem(b.vault.balanceOf(alice), [0] * 4, alice, alice, {"from": alice}).return_value
    assert out[1] > 0 and b.tokens[1].balanceOf(alice) == out[1]


class _FeeToken:
    """Deploys FeeOnTransferTokenDouble with the (name, symbol, decimals) signature make_basket uses."""

    def __init__(self, container, fee_bps):
        self.container, self.fee_bps = container, fee_bps

    def deploy(self, name, symbol, decimals, tx):
        return self.container.deploy(name, symbol, decimals, self.fee_bps, tx)


def test_fee_on_transfer_token_deposit_is_rejected(make_basket, FeeOnTransferTokenDouble, alice):
    b = make_basket(token_classes=(None, None, _FeeToken(FeeOnTransferTokenDouble, 100), None))
    amounts = b.basket_for_usd(10_000)
    b.fund(alice, amounts)
    with brownie.reverts("vault: transfer amount mismatch"):
        b.vault.deposit(amounts, 0, alice, {"from": alice})
