"""deposit() / redeem() and the share token: amounts, rounding, and every revert reason."""

import brownie
import pytest

from offchain.core import model


def test_first_deposit_mints_oracle_value_in_shares(basket, alice):
    amounts = basket.basket_for_usd(1_000_000)
    basket.fund(alice, amounts)
    tx = basket.vault.deposit(amounts, 0, alice, {"from": alice})
    st = basket.state()
    expected = sum(model.asset_values(amounts, st.prices, st.decimals))
    assert tx.return_value == expected == basket.vault.balanceOf(alice) == basket.vault.totalSupply()
    assert basket.holdings() == amounts
    assert tx.events["Deposited"]["amounts"] == amounts


def test_first_deposit_may_be_any_basket(basket, alice):
    tx = basket.deposit_usd(alice, 10_000, weights=[10_000, 0, 0, 0])
    assert tx.return_value > 0
    assert basket.holdings()[1:] == [0, 0, 0]


def test_later_deposit_is_proportional_and_rounds_in_vaults_favour(funded, bob):
    held, supply = funded.holdings(), funded.vault.totalSupply()
    offered = [h // 3 + 12_345 for h in held]  # more than proportional for some assets
    funded.fund(bob, offered)
    tx = funded.vault.deposit(offered, 0, bob, {"from": bob})
    shares = min(o * supply // h for o, h in zip(offered, held))
    pulled = [-(-shares * h // supply) for h in held]  # rounded up
    assert tx.return_value == shares
    assert tx.events["Deposited"]["amounts"] == pulled
    assert all(p <= o for p, o in zip(pulled, offered))
    assert [a + p for a, p in zip(held, pulled)] == funded.holdings()
    for token, o, p in zip(funded.tokens, offered, pulled):
        assert token.balanceOf(bob) == o - p  # the excess stays with the depositor


def test_later_deposit_needs_no_oracle(funded, bob):
    funded.set_price(0, 0)  # dead feed
    amounts = [h // 10 for h in funded.holdings()]
    funded.fund(bob, amounts)
    assert funded.vault.deposit(amounts, 0, bob, {"from": bob}).return_value > 0


def test_first_deposit_reverts_on_stale_feed(basket, alice):
    amounts = basket.basket_for_usd(1_000)
    basket.fund(alice, amounts)
    basket.warp(2 * 86_400)
    with brownie.reverts("vault: stale price"):
        basket.vault.deposit(amounts, 0, alice, {"from": alice})


def test_deposit_reverts_when_paused(funded, bob, guardian):
    funded.vault.pause({"from": guardian})
    with brownie.reverts("vault: paused"):
        funded.deposit_usd(bob, 1_000)


def test_deposit_reverts_for_zero_receiver(funded, bob):
    with brownie.reverts("vault: zero address"):
        funded.vault.deposit([1, 1, 1, 1], 0, "0x" + "00" * 20, {"from": bob})


def test_deposit_reverts_for_wrong_length(funded, bob):
    with brownie.reverts("vault: length mismatch"):
        funded.vault.deposit([1, 1, 1], 0, bob, {"from": bob})


def test_deposit_reverts_for_zero_shares(funded, bob):
    with brownie.reverts("vault: zero shares"):
        funded.vault.deposit([1, 0, 0, 0], 0, bob, {"from": bob})


def test_deposit_reverts_below_min_shares(funded, bob):
    amounts = [h // 10 for h in funded.holdings()]
    funded.fund(bob, amounts)
    shares = min(a * funded.vault.totalSupply() // h for a, h in zip(amounts, funded.holdings()))
    with brownie.reverts("vault: shares below minimum"):
        funded.vault.deposit(amounts, shares + 1, bob, {"from": bob})


def test_redeem_pays_pro_rata_rounded_down(funded, alice, bob):
    held, supply = funded.holdings(), funded.vault.totalSupply()
    shares = supply // 3
    tx = funded.vault.redeem(shares, [0] * 4, bob, alice, {"from": alice})
    expected = [h * shares // supply for h in held]
    assert tx.return_value == expected
    assert [t.balanceOf(bob) for t in funded.tokens] == expected
    assert funded.vault.totalSupply() == supply - shares
    assert funded.holdings() == [h - e for h, e in zip(held, expected)]


def test_redeem_everything_empties_the_vault(funded, alice):
    funded.vault.redeem(funded.vault.balanceOf(alice), [0] * 4, alice, alice, {"from": alice})
    assert funded.vault.totalSupply() == 0
    assert funded.holdings() == [0, 0, 0, 0]


def test_redeem_works_while_paused(funded, alice, guardian):
    funded.vault.pause({"from": guardian})
    out = funded.vault.redeem(10**18, [0] * 4, alice, alice, {"from": alice}).return_value
    assert sum(out) > 0


@pytest.mark.parametrize("answer", [0, -1])
def test_redeem_works_with_dead_feeds(funded, alice, answer):
    for i in range(funded.n):
        funded.set_price(i, answer)
    assert sum(funded.vault.redeem(10**18, [0] * 4, alice, alice, {"from": alice}).return_value) > 0


def test_redeem_works_with_stale_feeds(funded, alice):
    funded.warp(30 * 86_400)
    assert sum(funded.vault.redeem(10**18, [0] * 4, alice, alice, {"from": alice}).return_value) > 0


def test_redeem_by_spender_uses_allowance(funded, alice, bob):
    funded.vault.approve(bob, 5 * 10**18, {"from": alice})
    funded.vault.redeem(2 * 10**18, [0] * 4, bob, alice, {"from": bob})
    assert funded.vault.allowance(alice, bob) == 3 * 10**18
    with brownie.reverts("vault: insufficient allowance"):
        funded.vault.redeem(4 * 10**18, [0] * 4, bob, alice, {"from": bob})


def test_redeem_reverts_for_zero_shares(funded, alice):
    with brownie.reverts("vault: zero shares"):
        funded.vault.redeem(0, [0] * 4, alice, alice, {"from": alice})


def test_redeem_reverts_for_more_shares_than_owned(funded, bob):
    with brownie.reverts("vault: insufficient shares"):
        funded.vault.redeem(1, [0] * 4, bob, bob, {"from": bob})


def test_redeem_reverts_below_min_amounts(funded, alice):
    held, supply = funded.holdings(), funded.vault.totalSupply()
    mins = [h * 10**18 // supply for h in held]
    mins[2] += 1
    with brownie.reverts("vault: amount below minimum"):
        funded.vault.redeem(10**18, mins, alice, alice, {"from": alice})


def test_redeem_reverts_for_wrong_length(funded, alice):
    with brownie.reverts("vault: length mismatch"):
        funded.vault.redeem(1, [0] * 3, alice, alice, {"from": alice})


def test_redeem_reverts_for_zero_receiver(funded, alice):
    with brownie.reverts("vault: zero address"):
        funded.vault.redeem(1, [0] * 4, "0x" + "00" * 20, alice, {"from": alice})


@pytest.mark.parametrize("decimals", [(6, 18), (8, 18), (18, 18), (6, 8)])
def test_deposit_redeem_round_trip_per_decimals(make_basket, alice, bob, decimals):
    b = make_basket(decimals=decimals, prices=(1, 2_000), weights=(5_000, 5_000))
    b.deposit_usd(alice, 50_000)
    amounts = b.basket_for_usd(20_000)
    b.fund(bob, amounts)
    shares = b.vault.deposit(amounts, 0, bob, {"from": bob}).return_value
    out = b.vault.redeem(shares, [0, 0], bob, bob, {"from": bob}).return_value
    for got, put in zip(out, amounts):
        assert put - 2 <= got <= put  # rounding only, never in the depositor's favour


def test_share_transfer_and_transfer_from(funded, alice, bob):
    funded.vault.transfer(bob, 10**18, {"from": alice})
    assert funded.vault.balanceOf(bob) == 10**18
    funded.vault.approve(alice, 10**18, {"from": bob})
    funded.vault.transferFrom(bob, alice, 10**18, {"from": alice})
    assert funded.vault.balanceOf(bob) == 0
    assert funded.vault.allowance(bob, alice) == 0


def test_share_transfer_reverts_without_balance(funded, bob, alice):
    with brownie.reverts("vault: insufficient shares"):
        funded.vault.transfer(alice, 1, {"from": bob})


def test_share_transfer_reverts_to_zero_address(funded, alice):
    with brownie.reverts("vault: zero address"):
        funded.vault.transfer("0x" + "00" * 20, 1, {"from": alice})


def test_share_transfer_from_reverts_without_allowance(funded, alice, bob):
    with brownie.reverts("vault: insufficient allowance"):
        funded.vault.transferFrom(alice, bob, 1, {"from": bob})
