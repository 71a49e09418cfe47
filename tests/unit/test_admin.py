"""Roles, pause, parameters (hard bounds), target-weight timelock, constructor checks."""

import brownie
import pytest

ZERO = "0x" + "00" * 20
DAY = 86_400


def test_owner_is_deployer_and_transfer_is_two_step(basket, owner, alice):
    v = basket.vault
    assert v.owner() == owner
    v.transfer_ownership(alice, {"from": owner})
    assert v.owner() == owner and v.pending_owner() == alice
    tx = v.accept_ownership({"from": alice})
    assert v.owner() == alice and v.pending_owner() == ZERO
    assert tx.events["OwnershipTransferred"]["new_owner"] == alice


def test_transfer_ownership_reverts_for_non_owner(basket, attacker):
    with brownie.reverts("vault: not owner"):
        basket.vault.transfer_ownership(attacker, {"from": attacker})


def test_accept_ownership_reverts_for_other_account(basket, owner, alice, attacker):
    basket.vault.transfer_ownership(alice, {"from": owner})
    with brownie.reverts("vault: not pending owner"):
        basket.vault.accept_ownership({"from": attacker})


def test_set_keeper_grants_and_revokes(basket, owner, alice):
    tx = basket.vault.set_keeper(alice, True, {"from": owner})
    assert basket.vault.is_keeper(alice) and tx.events["KeeperSet"]["enabled"]
    basket.vault.set_keeper(alice, False, {"from": owner})
    assert not basket.vault.is_keeper(alice)


def test_set_keeper_reverts_for_non_owner_and_zero_address(basket, owner, attacker):
    with brownie.reverts("vault: not owner"):
        basket.vault.set_keeper(attacker, True, {"from": attacker})
    with brownie.reverts("vault: zero address"):
        basket.vault.set_keeper(ZERO, True, {"from": owner})


def test_revoked_keeper_cannot_rebalance(drifted, owner, keeper):
    trades = drifted.propose()
    drifted.vault.set_keeper(keeper, False, {"from": owner})
    with brownie.reverts("vault: not keeper"):
        drifted.rebalance(trades)


def test_set_guardian(basket, owner, alice, attacker):
    tx = basket.vault.set_guardian(alice, {"from": owner})
    assert basket.vault.guardian() == alice and tx.events["GuardianChanged"]["new_guardian"] == alice
    with brownie.reverts("vault: not owner"):
        basket.vault.set_guardian(attacker, {"from": attacker})


@pytest.mark.parametrize("who", ["guardian", "owner"])
def test_pause_by_guardian_or_owner(basket, who, request):
    tx = basket.vault.pause({"from": request.getfixturevalue(who)})
    assert basket.vault.paused() and "Paused" in tx.events


def test_pause_reverts_for_others_and_when_paused(basket, guardian, attacker):
    with brownie.reverts("vault: not guardian"):
        basket.vault.pause({"from": attacker})
    basket.vault.pause({"from": guardian})
    with brownie.reverts("vault: paused"):
        basket.vault.pause({"from": guardian})


def test_unpause_is_owner_only(basket, owner, guardian):
    basket.vault.pause({"from": guardian})
    with brownie.reverts("vault: not owner"):
        basket.vault.unpause({"from": guardian})
    tx = basket.vault.unpause({"from": owner})
    assert not basket.vault.paused() and "Unpaused" in tx.events
    with brownie.reverts("vault: not paused"):
        basket.vault.unpause({"from": owner})


def test_defaults(basket):
    v = basket.vault
    assert (v.drift_threshold_bps(), v.rebalance_period(), v.min_drift_bps(), v.cooldown()) == (
        500,
        30 * DAY,
        100,
        3_600,
    )
    assert (v.max_slippage_bps(), v.max_trade_bps(), v.target_delay()) == (100, 5_000, DAY)
    assert v.get_max_ages() == [DAY] * 4
    assert v.decimals() == 18 and v.name() == "ballast test basket" and v.symbol() == "bTEST"


# (setter, lowest allowed, highest allowed); values just outside must revert
BOUNDS = [
    ("set_drift_threshold_bps", 100, 5_000),  # lower bound is max(10, min_drift_bps=100)
    ("set_rebalance_period", DAY, 366 * DAY),
    ("set_min_drift_bps", 1, 500),  # upper bound is drift_threshold_bps
    ("set_cooldown", 0, 30 * DAY),
    ("set_max_slippage_bps", 1, 1_000),
    ("set_max_trade_bps", 100, 10_000),
    ("set_tolerance_bps", 0, 200),
    ("set_target_delay", 3_600, 30 * DAY),
]


@pytest.mark.parametrize("setter,lo,hi", BOUNDS)
def test_parameter_setters_accept_bounds_and_emit(basket, owner, setter, lo, hi):
    fn = getattr(basket.vault, setter)
    getter = getattr(basket.vault, setter[4:])
    for value in (lo, hi):
        old = getter()
        tx = fn(value, {"from": owner})
        assert getter() == value
        ev = tx.events["ParameterChanged"]
        assert (ev["name"], ev["old_value"], ev["new_value"]) == (setter[4:], old, value)


@pytest.mark.parametrize("setter,lo,hi", BOUNDS)
def test_parameter_setters_reject_out_of_bounds(basket, owner, setter, lo, hi):
    fn = getattr(basket.vault, setter)
    reason = "vault: below min drift" if setter == "set_drift_threshold_bps" else "vault: out of bounds"
    if lo > 0:
        with brownie.reverts(reason):
            fn(lo - 1, {"from": owner})
    with brownie.reverts("vault: out of bounds"):
        fn(hi + 1, {"from": owner})


@pytest.mark.parametrize("setter,lo,hi", BOUNDS)
def test_parameter_setters_are_owner_only(basket, attacker, setter, lo, hi):
    with brownie.reverts("vault: not owner"):
        getattr(basket.vault, setter)(lo, {"from": attacker})


def test_set_max_age_per_feed(basket, owner, attacker):
    feed = basket.feeds[2]
    tx = basket.vault.set_max_age(feed, 3_600, {"from": owner})
    assert basket.vault.get_max_ages()[2] == 3_600
    assert tx.events["FeedMaxAgeChanged"]["new_value"] == 3_600
    with brownie.reverts("vault: out of bounds"):
        basket.vault.set_max_age(feed, 59, {"from": owner})
    with brownie.reverts("vault: out of bounds"):
        basket.vault.set_max_age(feed, 3 * DAY + 1, {"from": owner})
    with brownie.reverts("vault: unknown feed"):
        basket.vault.set_max_age(attacker, 3_600, {"from": owner})
    with brownie.reverts("vault: not owner"):
        basket.vault.set_max_age(feed, 3_600, {"from": attacker})


def test_router_is_fixed_at_deployment(basket):
    assert basket.vault.router() == basket.router
    assert not hasattr(basket.vault, "set_router")  # no owner power to redirect approvals


def test_target_weights_apply_only_after_delay(basket, owner, attacker):
    new = [2_500, 2_500, 2_500, 2_500]
    tx = basket.vault.queue_target_weights(new, {"from": owner})
    eta = tx.timestamp + DAY
    assert tx.events["TargetWeightsQueued"]["eta"] == basket.vault.pending_eta() == eta
    assert basket.vault.get_pending_target_weights() == new
    with brownie.reverts("vault: timelock"):
        basket.vault.apply_target_weights({"from": attacker})
    basket.warp(DAY)
    tx = basket.vault.apply_target_weights({"from": attacker})  # anyone may apply once due
    assert basket.vault.get_target_weights() == new
    assert tx.events["TargetWeightsApplied"]["weights"] == new
    assert basket.vault.pending_eta() == 0 and basket.vault.get_pending_target_weights() == [0] * 4


def test_apply_reverts_with_nothing_queued(basket, owner):
    with brownie.reverts("vault: nothing queued"):
        basket.vault.apply_target_weights({"from": owner})


def test_cancel_target_weights(basket, owner, attacker):
    basket.vault.queue_target_weights([2_500] * 4, {"from": owner})
    with brownie.reverts("vault: not owner"):
        basket.vault.cancel_target_weights({"from": attacker})
    eta = basket.vault.pending_eta()
    tx = basket.vault.cancel_target_weights({"from": owner})
    assert tx.events["TargetWeightsCancelled"]["eta"] == eta and basket.vault.pending_eta() == 0
    assert basket.vault.get_pending_target_weights() == [0] * 4
    with brownie.reverts("vault: nothing queued"):
        basket.vault.cancel_target_weights({"from": owner})


def test_queue_target_weights_validates(basket, owner, attacker):
    with brownie.reverts("vault: not owner"):
        basket.vault.queue_target_weights([2_500] * 4, {"from": attacker})
    with brownie.reverts("vault: weights must sum to 10000"):
        basket.vault.queue_target_weights([2_500, 2_500, 2_500, 2_499], {"from": owner})
    with brownie.reverts("vault: length mismatch"):
        basket.vault.queue_target_weights([5_000, 5_000], {"from": owner})


def _deploy(RebalancingVault, owner, tokens, feeds, weights, router):
    return RebalancingVault.deploy("v", "v", tokens, feeds, weights, router, ZERO, ZERO, {"from": owner})


def test_constructor_rejects_bad_baskets(basket, owner, RebalancingVault, ERC20Double):
    t, f, r = basket.tokens, basket.feeds, basket.router
    with brownie.reverts("vault: too few assets"):
        _deploy(RebalancingVault, owner, t[:1], f[:1], [10_000], r)
    with brownie.reverts("vault: length mismatch"):
        _deploy(RebalancingVault, owner, t[:2], f[:3], [5_000, 5_000], r)
    with brownie.reverts("vault: duplicate asset"):
        _deploy(RebalancingVault, owner, [t[0], t[0]], f[:2], [5_000, 5_000], r)
    with brownie.reverts("vault: zero address"):
        _deploy(RebalancingVault, owner, [t[0], ZERO], f[:2], [5_000, 5_000], r)
    with brownie.reverts("vault: zero address"):
        _deploy(RebalancingVault, owner, t[:2], f[:2], [5_000, 5_000], ZERO)
    with brownie.reverts("vault: weights must sum to 10000"):
        _deploy(RebalancingVault, owner, t[:2], f[:2], [5_000, 4_999], r)
    odd = ERC20Double.deploy("odd", "ODD", 19, {"from": owner})
    with brownie.reverts("vault: decimals above 18"):
        _deploy(RebalancingVault, owner, [t[0], odd], f[:2], [5_000, 5_000], r)


GETTERS = [s[4:] for s, _, _ in BOUNDS]


def _params(vault):
    return {g: getattr(vault, g)() for g in GETTERS}


@pytest.mark.parametrize("end", ["hi", "lo"])
def test_packed_parameters_do_not_interfere(basket, owner, guardian, end):
    """Every parameter shares one storage word with `paused` and `last_rebalance`: setting each
    to an extreme must change that field only."""
    v = basket.vault
    last = v.last_rebalance()
    order = BOUNDS if end == "hi" else list(reversed(BOUNDS))  # respect threshold >= min drift
    for setter, lo, hi in order:
        value = hi if end == "hi" else lo
        if setter == "set_drift_threshold_bps" and end == "lo":
            value = max(lo, v.min_drift_bps())
        before = _params(v)
        getattr(v, setter)(value, {"from": owner})
        after = _params(v)
        assert after[setter[4:]] == value
        assert {k: x for k, x in after.items() if k != setter[4:]} == {
            k: x for k, x in before.items() if k != setter[4:]
        }
        assert v.last_rebalance() == last and not v.paused()
    snapshot = _params(v)
    v.pause({"from": guardian})
    assert v.paused() and _params(v) == snapshot and v.last_rebalance() == last


def test_holdings_above_128_bits_are_rejected(make_basket, alice):
    b = make_basket(decimals=(18, 18), prices=(1, 1), weights=(5_000, 5_000))
    amounts = [2**128, 1]
    b.fund(alice, amounts)
    with brownie.reverts("vault: holdings overflow"):
        b.vault.deposit(amounts, 0, alice, {"from": alice})
