"""Roles, pause, parameters (hard bounds), target-weight timelock, constructor checks."""

import brownie
import pytest

from offchain.core import model

ZERO = "0x" + "00" * 20
DAY = 86_400
KIND = {name: k for k, name in enumerate(model.PARAM_KINDS)}


def _set(basket, setter, value, sender):
    """Call a setter; if it queued a loosening, wait out the delay and apply it (issue 9: P2).
    Returns the transaction that changed the value (the setter's or the apply's)."""
    tx = getattr(basket.vault, setter)(value, {"from": sender})
    if "ChangeQueued" in tx.events:
        ev = tx.events["ChangeQueued"]
        assert ev["eta"] == tx.timestamp + basket.vault.target_delay()
        basket.warp_to(ev["eta"])
        tx = basket.vault.apply_change(ev["kind"], {"from": sender})
    return tx


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


def test_set_keeper_grants_after_the_delay_and_revokes_now(basket, owner, alice):
    # issue 9: adding a keeper is timelocked (queued, then applied by anyone after the delay)
    tx = basket.vault.set_keeper(alice, True, {"from": owner})
    assert not basket.vault.is_keeper(alice) and tx.events["ChangeQueued"]["kind"] == model.KIND_KEEPER
    basket.warp(basket.vault.target_delay())
    tx = basket.vault.apply_change(model.KIND_KEEPER, {"from": alice})
    assert basket.vault.is_keeper(alice) and tx.events["KeeperSet"]["enabled"]
    tx = basket.vault.set_keeper(alice, False, {"from": owner})
    assert not basket.vault.is_keeper(alice) and not tx.events["KeeperSet"]["enabled"]


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
    assert (v.tolerance_bps(), v.loss_budget_bps(), v.loss_window()) == (25, 100, 7 * DAY)
    assert list(v.get_params()) == model.Params().as_list()
    # issue 9: no silent 24 h default; each feed's max age comes from the deployment
    ages = list(v.get_max_ages())
    assert len(ages) == 4 and all(60 <= a <= 3 * DAY for a in ages)
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
    ("set_loss_budget_bps", 1, 1_000),
    ("set_loss_window", DAY, 365 * DAY),
]


@pytest.mark.parametrize("setter,lo,hi", BOUNDS)
def test_parameter_setters_accept_bounds_and_emit(basket, owner, setter, lo, hi):
    # issue 9: ParameterChanged carries the kind; a loosening takes effect only through the queue
    getter = getattr(basket.vault, setter[4:])
    for value in (lo, hi):
        old = getter()
        tx = _set(basket, setter, value, owner)
        assert getter() == value
        ev = tx.events["ParameterChanged"]
        assert (ev["kind"], ev["old_value"], ev["new_value"]) == (KIND[setter[4:]], old, value)


@pytest.mark.parametrize("setter,lo,hi", BOUNDS)
def test_parameter_setters_reject_out_of_bounds(basket, owner, setter, lo, hi):
    fn = getattr(basket.vault, setter)
    reason = "vault: below min drift" if setter == "set_drift_threshold_bps" else "vault: out of bounds"
    if lo > 0:
        with brownie.reverts(reason):
            fn(lo - 1, {"from": owner})
    # issue 9: min_drift above the threshold (but inside its 1..5_000 hard bounds) is refused as
    # "vault: below min drift" (the threshold would be below the min drift); past 5_000 out of bounds
    high_reason = "vault: below min drift" if setter == "set_min_drift_bps" else "vault: out of bounds"
    with brownie.reverts(high_reason):
        fn(hi + 1, {"from": owner})
    with brownie.reverts("vault: out of bounds"):
        fn(model.PARAM_BOUNDS[setter[4:]][1] + 1, {"from": owner})


@pytest.mark.parametrize("setter,lo,hi", BOUNDS)
def test_parameter_setters_are_owner_only(basket, attacker, setter, lo, hi):
    # issue 9: a loosening needs the owner; a tightening the owner or the guardian
    for value in (lo, hi):
        loosens = model.loosens(setter[4:], getattr(basket.vault, setter[4:])(), value)
        with brownie.reverts("vault: not owner" if loosens else "vault: not guardian"):
            getattr(basket.vault, setter)(value, {"from": attacker})


def test_set_max_age_per_feed(basket, owner, attacker):
    feed = basket.feeds[2]
    old = basket.vault.get_max_ages()[2]
    tx = basket.vault.set_max_age(feed, 600, {"from": owner})  # a tightening: immediate
    assert basket.vault.get_max_ages()[2] == 600
    # issue 9: FeedMaxAgeChanged is gone; ParameterChanged(kind = 12 + feed index)
    ev = tx.events["ParameterChanged"]
    assert (ev["kind"], ev["old_value"], ev["new_value"]) == (model.KIND_MAX_AGE + 2, old, 600)
    with brownie.reverts("vault: out of bounds"):
        basket.vault.set_max_age(feed, 59, {"from": owner})
    with brownie.reverts("vault: out of bounds"):
        basket.vault.set_max_age(feed, 3 * DAY + 1, {"from": owner})
    with brownie.reverts("vault: unknown feed"):
        basket.vault.set_max_age(attacker, 3_600, {"from": owner})
    with brownie.reverts("vault: not owner"):  # a loosening (600 -> 3600) is the owner's
        basket.vault.set_max_age(feed, 3_600, {"from": attacker})
    with brownie.reverts("vault: not guardian"):  # a tightening the owner's or guardian's
        basket.vault.set_max_age(feed, 60, {"from": attacker})


def test_router_is_fixed_at_deployment(basket):
    assert basket.vault.router() == basket.router
    assert not hasattr(basket.vault, "set_router")  # no owner power to redirect approvals


def _pending_targets(vault) -> tuple[list[int], int]:
    """(weights, eta) of the queued target weights from ``pending_changes()``; ([0]*n, 0) if none."""
    n = len(vault.get_assets())
    for kind, value, eta in vault.pending_changes():
        if kind == 11:  # K_TARGETS: 14-bit bps lanes
            return [(value >> (14 * i)) & 16_383 for i in range(n)], eta
    return [0] * n, 0


def test_target_weights_apply_only_after_delay(basket, owner, attacker):
    new = [2_500, 2_500, 2_500, 2_500]
    tx = basket.vault.queue_target_weights(new, {"from": owner})
    eta = tx.timestamp + DAY
    assert tx.events["TargetWeightsQueued"]["eta"] == _pending_targets(basket.vault)[1] == eta
    assert _pending_targets(basket.vault)[0] == new
    with brownie.reverts("vault: timelock"):
        basket.vault.apply_target_weights({"from": attacker})
    basket.warp(DAY)
    tx = basket.vault.apply_target_weights({"from": attacker})  # anyone may apply once due
    assert basket.vault.get_target_weights() == new
    assert tx.events["TargetWeightsApplied"]["weights"] == new
    assert _pending_targets(basket.vault) == ([0] * 4, 0)


def test_apply_reverts_with_nothing_queued(basket, owner):
    with brownie.reverts("vault: nothing queued"):
        basket.vault.apply_target_weights({"from": owner})


def test_cancel_target_weights(basket, owner, attacker):
    basket.vault.queue_target_weights([2_500] * 4, {"from": owner})
    with brownie.reverts("vault: not guardian"):  # issue 9: the owner or the guardian may cancel
        basket.vault.cancel_target_weights({"from": attacker})
    eta = _pending_targets(basket.vault)[1]
    tx = basket.vault.cancel_target_weights({"from": owner})
    assert tx.events["TargetWeightsCancelled"]["eta"] == eta
    assert _pending_targets(basket.vault) == ([0] * 4, 0)
    with brownie.reverts("vault: nothing queued"):
        basket.vault.cancel_target_weights({"from": owner})


def test_queue_target_weights_validates(basket, owner, attacker):
    with brownie.reverts("vault: not owner"):
        basket.vault.queue_target_weights([2_500] * 4, {"from": attacker})
    with brownie.reverts("vault: weights must sum to 10000"):
        basket.vault.queue_target_weights([2_500, 2_500, 2_500, 2_499], {"from": owner})
    with brownie.reverts("vault: length mismatch"):
        basket.vault.queue_target_weights([5_000, 5_000], {"from": owner})


def _deploy(RebalancingVault, owner, tokens, feeds, weights, router, governance, max_ages=None, params=None):
    ages = [3_600] * len(tokens) if max_ages is None else max_ages
    params = model.Params().as_list() if params is None else params
    return RebalancingVault.deploy(
        "v",
        "v",
        tokens,
        feeds,
        weights,
        ages,
        params,
        router,
        governance,
        ZERO,
        ZERO,
        ZERO,
        0,
        {"from": owner},
    )


def test_constructor_rejects_bad_baskets(basket, owner, RebalancingVault, ERC20Double):
    t, f, r, g = basket.tokens, basket.feeds, basket.router, basket.vault.governance()
    w = [5_000, 5_000]
    with brownie.reverts("vault: too few assets"):
        _deploy(RebalancingVault, owner, t[:1], f[:1], [10_000], r, g)
    with brownie.reverts("vault: length mismatch"):
        _deploy(RebalancingVault, owner, t[:2], f[:3], w, r, g)
    with brownie.reverts("vault: length mismatch"):
        _deploy(RebalancingVault, owner, t[:2], f[:2], w, r, g, max_ages=[3_600])
    with brownie.reverts("vault: duplicate asset"):
        _deploy(RebalancingVault, owner, [t[0], t[0]], f[:2], w, r, g)
    with brownie.reverts("vault: zero address"):
        _deploy(RebalancingVault, owner, [t[0], ZERO], f[:2], w, r, g)
    with brownie.reverts("vault: zero address"):
        _deploy(RebalancingVault, owner, t[:2], f[:2], w, ZERO, g)
    with brownie.reverts("vault: zero address"):  # the governance module must be a contract
        _deploy(RebalancingVault, owner, t[:2], f[:2], w, r, owner)
    with brownie.reverts("vault: weights must sum to 10000"):
        _deploy(RebalancingVault, owner, t[:2], f[:2], [5_000, 4_999], r, g)
    odd = ERC20Double.deploy("odd", "ODD", 19, {"from": owner})
    with brownie.reverts("vault: decimals above 18"):
        _deploy(RebalancingVault, owner, [t[0], odd], f[:2], w, r, g)


@pytest.mark.parametrize("ages", [[59, 3_600], [3_600, 3 * DAY + 1], [0, 3_600]])
def test_constructor_requires_each_max_age_in_bounds(basket, owner, RebalancingVault, ages):
    t, f, r, g = basket.tokens, basket.feeds, basket.router, basket.vault.governance()
    with brownie.reverts("vault: out of bounds"):
        _deploy(RebalancingVault, owner, t[:2], f[:2], [5_000, 5_000], r, g, max_ages=ages)


@pytest.mark.parametrize("kind", range(10))
def test_constructor_rejects_params_out_of_bounds(basket, owner, RebalancingVault, kind):
    t, f, r, g = basket.tokens, basket.feeds, basket.router, basket.vault.governance()
    params = model.Params().as_list()
    params[kind] = model.PARAM_BOUNDS[model.PARAM_KINDS[kind]][1] + 1
    reason = "vault: out of bounds"
    with brownie.reverts(reason):
        _deploy(RebalancingVault, owner, t[:2], f[:2], [5_000, 5_000], r, g, params=params)


def test_constructor_rejects_min_drift_above_threshold(basket, owner, RebalancingVault):
    t, f, r, g = basket.tokens, basket.feeds, basket.router, basket.vault.governance()
    params = model.Params(drift_threshold_bps=200, min_drift_bps=201).as_list()
    with brownie.reverts("vault: below min drift"):
        _deploy(RebalancingVault, owner, t[:2], f[:2], [5_000, 5_000], r, g, params=params)


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
        _set(basket, setter, value, owner)  # a loosening waits out the delay (issue 9)
        after = _params(v)
        assert after[setter[4:]] == value
        assert {k: x for k, x in after.items() if k != setter[4:]} == {
            k: x for k, x in before.items() if k != setter[4:]
        }
        assert v.last_rebalance() == last and not v.paused() and v.loss_budget_used() == 0
        assert list(v.pending_changes()) == []
    snapshot = _params(v)
    v.pause({"from": guardian})
    assert v.paused() and _params(v) == snapshot and v.last_rebalance() == last


def test_holdings_above_128_bits_are_rejected(make_basket, alice):
    b = make_basket(decimals=(18, 18), prices=(1, 1), weights=(5_000, 5_000))
    amounts = [2**128, 1]
    b.fund(alice, amounts)
    with brownie.reverts("vault: holdings overflow"):
        b.vault.deposit(amounts, 0, alice, {"from": alice})
