"""P2, the timelock: tightening is immediate (owner or guardian), loosening, a new keeper, new
targets and a shorter delay are queued by the owner and apply, by anyone, only after the delay in
force when they were queued. Cancel by owner or guardian; redeem works while changes are pending."""

import sys
from fractions import Fraction
from pathlib import Path

import brownie
import pytest

from offchain.core import model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from hostile import Snap, up, worst_trades  # noqa: E402

DAY = 86_400
HOUR = 3_600
ZERO = "0x" + "00" * 20
KIND = {name: k for k, name in enumerate(model.PARAM_KINDS)}
K_KEEPER, K_TARGETS, K_MAX_AGE = model.KIND_KEEPER, model.KIND_TARGETS, model.KIND_MAX_AGE

# (setter, a tightening of the default, a loosening of the default)
CHANGES = [
    ("set_drift_threshold_bps", 600, 400),
    ("set_min_drift_bps", 200, 50),
    ("set_max_slippage_bps", 50, 200),
    ("set_max_trade_bps", 4_000, 6_000),
    ("set_tolerance_bps", 10, 50),
    ("set_cooldown", 2 * HOUR, 0),
    ("set_rebalance_period", 60 * DAY, 10 * DAY),
    ("set_target_delay", 2 * DAY, HOUR),
    ("set_loss_budget_bps", 50, 200),
    ("set_loss_window", 14 * DAY, DAY),
]


def _kind(setter: str) -> int:
    return KIND[setter[4:]]


def _pending(vault) -> list[tuple[int, int, int]]:
    return [tuple(int(x) for x in c) for c in vault.pending_changes()]


# ---- tightening: immediate, owner or guardian ----


@pytest.mark.parametrize("who", ["owner", "guardian"])
@pytest.mark.parametrize("setter,tight,loose", CHANGES)
def test_tightening_applies_now(basket, request, who, setter, tight, loose):
    v = basket.vault
    getter = getattr(v, setter[4:])
    old = getter()
    assert not model.loosens(setter[4:], old, tight)
    tx = getattr(v, setter)(tight, {"from": request.getfixturevalue(who)})
    assert getter() == tight
    ev = tx.events["ParameterChanged"]
    assert (ev["kind"], ev["old_value"], ev["new_value"]) == (_kind(setter), old, tight)
    assert "ChangeQueued" not in tx.events and _pending(v) == []


@pytest.mark.parametrize("setter,tight,loose", CHANGES)
def test_stranger_cannot_tighten(basket, attacker, setter, tight, loose):
    with brownie.reverts("vault: not guardian"):
        getattr(basket.vault, setter)(tight, {"from": attacker})


# ---- loosening: queued by the owner ----


@pytest.mark.parametrize("setter,tight,loose", CHANGES)
def test_loosening_is_queued_with_eta_now_plus_delay(basket, owner, setter, tight, loose):
    v = basket.vault
    getter = getattr(v, setter[4:])
    old, delay = getter(), v.target_delay()
    assert model.loosens(setter[4:], old, loose)
    tx = getattr(v, setter)(loose, {"from": owner})
    assert getter() == old  # nothing changed yet
    ev = tx.events["ChangeQueued"]
    assert (ev["kind"], ev["value"], ev["eta"]) == (_kind(setter), loose, tx.timestamp + delay)
    assert "ParameterChanged" not in tx.events
    assert _pending(v) == [(_kind(setter), loose, tx.timestamp + delay)]


@pytest.mark.parametrize("setter,tight,loose", CHANGES)
def test_guardian_cannot_loosen(basket, guardian, setter, tight, loose):
    with brownie.reverts("vault: not owner"):
        getattr(basket.vault, setter)(loose, {"from": guardian})


@pytest.mark.parametrize("setter,tight,loose", CHANGES)
def test_queued_loosening_applies_only_after_eta_by_anyone(basket, owner, attacker, setter, tight, loose):
    v = basket.vault
    getter = getattr(v, setter[4:])
    old = getter()
    eta = getattr(v, setter)(loose, {"from": owner}).events["ChangeQueued"]["eta"]
    basket.warp_to(eta - 30)
    with brownie.reverts("vault: timelock"):
        v.apply_change(_kind(setter), {"from": attacker})
    basket.warp_to(eta + 30)
    tx = v.apply_change(_kind(setter), {"from": attacker})
    assert getter() == loose
    ev = tx.events["ParameterChanged"]
    assert (ev["kind"], ev["old_value"], ev["new_value"]) == (_kind(setter), old, loose)
    assert _pending(v) == []
    with brownie.reverts("vault: nothing queued"):
        v.apply_change(_kind(setter), {"from": attacker})


def test_requeueing_a_kind_replaces_it_and_emits_the_cancel(basket, owner):
    v = basket.vault
    first = v.set_max_slippage_bps(200, {"from": owner})
    basket.warp(HOUR)
    second = v.set_max_slippage_bps(300, {"from": owner})
    cancel = second.events["ChangeCancelled"]
    assert (cancel["kind"], cancel["value"], cancel["eta"]) == (
        KIND["max_slippage_bps"],
        200,
        first.timestamp + DAY,
    )
    assert _pending(v) == [(KIND["max_slippage_bps"], 300, second.timestamp + DAY)]


def test_tightening_does_not_touch_a_queued_loosening(basket, owner, guardian):
    v = basket.vault
    tx = v.set_max_slippage_bps(500, {"from": owner})
    v.set_max_slippage_bps(50, {"from": guardian})
    assert v.max_slippage_bps() == 50
    assert _pending(v) == [(KIND["max_slippage_bps"], 500, tx.timestamp + DAY)]


def test_apply_rechecks_the_bounds_in_force(basket, owner):
    """A threshold lowering queued while min_drift was 100 cannot apply below a min_drift raised since."""
    v = basket.vault
    v.set_drift_threshold_bps(200, {"from": owner})
    v.set_min_drift_bps(300, {"from": owner})  # raising min_drift tightens: immediate
    basket.warp(DAY)
    with brownie.reverts("vault: below min drift"):
        v.apply_change(KIND["drift_threshold_bps"], {"from": owner})


def test_apply_and_cancel_reject_unknown_kinds(basket, owner):
    with brownie.reverts("vault: unknown kind"):
        basket.vault.apply_change(model.N_KINDS, {"from": owner})
    with brownie.reverts("vault: unknown kind"):
        basket.vault.cancel_change(model.N_KINDS, {"from": owner})
    with brownie.reverts("vault: nothing queued"):
        basket.vault.cancel_change(0, {"from": owner})


# ---- the delay itself: the bypass ----


def test_lowered_delay_is_queued_with_eta_now_plus_the_old_delay(basket, owner):
    v = basket.vault
    v.set_target_delay(30 * DAY, {"from": owner})  # raising the delay tightens: immediate
    assert v.target_delay() == 30 * DAY
    tx = v.set_target_delay(HOUR, {"from": owner})
    assert tx.events["ChangeQueued"]["eta"] == tx.timestamp + 30 * DAY
    assert v.target_delay() == 30 * DAY


def test_target_delay_bypass_is_refused(basket, owner, attacker):
    """Depositors were promised 30 days: new targets [0, 0, 0, 10000] may not apply after 1 hour."""
    v = basket.vault
    v.set_target_delay(30 * DAY, {"from": owner})
    v.set_target_delay(HOUR, {"from": owner})
    tx = v.queue_target_weights([0, 0, 0, 10_000], {"from": owner})
    assert tx.events["TargetWeightsQueued"]["eta"] == tx.timestamp + 30 * DAY
    basket.warp(HOUR)
    with brownie.reverts("vault: timelock"):
        v.apply_change(KIND["target_delay"], {"from": attacker})
    with brownie.reverts("vault: timelock"):
        v.apply_target_weights({"from": attacker})
    # re-queueing the targets under the (still 30-day) delay does not help either
    again = v.queue_target_weights([0, 0, 0, 10_000], {"from": owner})
    assert again.events["TargetWeightsQueued"]["eta"] == again.timestamp + 30 * DAY
    basket.warp(29 * DAY)
    with brownie.reverts("vault: timelock"):
        v.apply_target_weights({"from": attacker})
    assert v.get_target_weights() == [4_000, 3_000, 2_000, 1_000]


def test_lowered_delay_governs_only_changes_queued_after_it_applies(basket, owner):
    v = basket.vault
    v.set_target_delay(30 * DAY, {"from": owner})
    v.set_target_delay(HOUR, {"from": owner})
    basket.warp(30 * DAY)
    v.apply_change(KIND["target_delay"], {"from": owner})
    assert v.target_delay() == HOUR
    tx = v.queue_target_weights([2_500] * 4, {"from": owner})
    assert tx.events["TargetWeightsQueued"]["eta"] == tx.timestamp + HOUR


# ---- pending changes, cancel ----


def test_pending_changes_lists_every_change_with_its_eta(basket, owner, alice):
    v = basket.vault
    feed = basket.feeds[2]
    age = v.get_max_ages()[2]
    txs = [
        v.set_drift_threshold_bps(300, {"from": owner}),
        v.set_loss_budget_bps(500, {"from": owner}),
        v.set_keeper(alice, True, {"from": owner}),
        v.queue_target_weights([2_500] * 4, {"from": owner}),
        v.set_max_age(feed, min(age + 600, 3 * DAY), {"from": owner}),
    ]
    expected = [
        (KIND["drift_threshold_bps"], 300, txs[0].timestamp + DAY),
        (KIND["loss_budget_bps"], 500, txs[1].timestamp + DAY),
        (K_KEEPER, int(alice.address, 16), txs[2].timestamp + DAY),
        (K_TARGETS, sum(2_500 << (14 * i) for i in range(4)), txs[3].timestamp + DAY),
        (K_MAX_AGE + 2, min(age + 600, 3 * DAY), txs[4].timestamp + DAY),
    ]
    assert _pending(v) == expected
    for tx, (kind, value, eta) in zip(txs, expected):
        ev = tx.events["ChangeQueued"]
        assert (ev["kind"], ev["value"], ev["eta"]) == (kind, value, eta)
    # the lens shows the same list
    lens_pending = basket.lens.state(v)["pending_changes"]
    assert [tuple(int(x) for x in c) for c in lens_pending] == expected


@pytest.mark.parametrize("who", ["owner", "guardian"])
def test_cancel_by_owner_or_guardian(basket, owner, request, who):
    v = basket.vault
    q = v.set_max_trade_bps(8_000, {"from": owner})
    tx = v.cancel_change(KIND["max_trade_bps"], {"from": request.getfixturevalue(who)})
    ev = tx.events["ChangeCancelled"]
    assert (ev["kind"], ev["value"], ev["eta"]) == (KIND["max_trade_bps"], 8_000, q.timestamp + DAY)
    assert _pending(v) == []
    basket.warp(DAY)
    with brownie.reverts("vault: nothing queued"):
        v.apply_change(KIND["max_trade_bps"], {"from": owner})
    assert v.max_trade_bps() == 5_000


def test_stranger_cannot_cancel(basket, owner, attacker):
    basket.vault.set_max_trade_bps(8_000, {"from": owner})
    with brownie.reverts("vault: not guardian"):
        basket.vault.cancel_change(KIND["max_trade_bps"], {"from": attacker})
    basket.vault.queue_target_weights([2_500] * 4, {"from": owner})
    with brownie.reverts("vault: not guardian"):
        basket.vault.cancel_target_weights({"from": attacker})
    assert len(_pending(basket.vault)) == 2


def test_guardian_cancels_queued_targets(basket, owner, guardian):
    v = basket.vault
    v.queue_target_weights([2_500] * 4, {"from": owner})
    eta = next(e for k, _, e in _pending(v) if k == 11)
    tx = v.cancel_target_weights({"from": guardian})
    assert tx.events["TargetWeightsCancelled"]["eta"] == eta
    assert _pending(v) == []


def test_redeem_works_while_changes_are_pending(funded, owner, alice):
    v = funded.vault
    v.set_max_slippage_bps(1_000, {"from": owner})
    v.set_cooldown(0, {"from": owner})
    v.queue_target_weights([0, 0, 0, 10_000], {"from": owner})
    assert len(_pending(v)) == 3
    held, supply = funded.holdings(), v.totalSupply()
    shares = v.balanceOf(alice)
    out = v.redeem(shares, [0] * 4, alice, alice, {"from": alice}).return_value
    assert list(out) == [h * shares // supply for h in held]
    assert v.totalSupply() == supply - shares


def test_a_queued_loosening_does_not_bind_before_it_applies(drifted, owner):
    """Slippage 10 % is queued: a trade at the 10 % bound is still refused by the 1 % in force."""
    v = drifted.vault
    v.set_max_slippage_bps(1_000, {"from": owner})
    snap = Snap.read(v)
    amount = snap.amount_for_value(1, snap.rooms()[0][1] // 4)
    at_ten_percent = up(snap.expected_out(1, 0, amount) * 9_000, 10_000)
    with brownie.reverts("vault: min out below bound"):
        drifted.rebalance([(snap.assets[1], snap.assets[0], amount, at_ten_percent)])


# ---- keepers ----


def test_adding_a_keeper_is_queued(basket, owner, alice, attacker):
    v = basket.vault
    tx = v.set_keeper(alice, True, {"from": owner})
    assert not v.is_keeper(alice) and "KeeperSet" not in tx.events
    ev = tx.events["ChangeQueued"]
    assert (ev["kind"], ev["value"], ev["eta"]) == (K_KEEPER, int(alice.address, 16), tx.timestamp + DAY)
    basket.warp(DAY - 60)
    with brownie.reverts("vault: timelock"):
        v.apply_change(K_KEEPER, {"from": attacker})
    basket.warp(60)
    tx = v.apply_change(K_KEEPER, {"from": attacker})
    assert v.is_keeper(alice) and tx.events["KeeperSet"]["enabled"]


def test_adding_a_keeper_is_owner_only(basket, guardian, attacker):
    with brownie.reverts("vault: not owner"):
        basket.vault.set_keeper(attacker, True, {"from": attacker})
    with brownie.reverts("vault: not owner"):
        basket.vault.set_keeper(attacker, True, {"from": guardian})


@pytest.mark.parametrize("who", ["owner", "guardian"])
def test_removing_a_keeper_is_immediate(drifted, keeper, request, who):
    trades = worst_trades(Snap.read(drifted.vault), Fraction(1, 2))
    tx = drifted.vault.set_keeper(keeper, False, {"from": request.getfixturevalue(who)})
    assert not drifted.vault.is_keeper(keeper)
    assert tx.events["KeeperSet"]["enabled"] is False and "ChangeQueued" not in tx.events
    with brownie.reverts("vault: not keeper"):
        drifted.rebalance(trades)


def test_stranger_cannot_remove_a_keeper(basket, keeper, attacker):
    with brownie.reverts("vault: not guardian"):
        basket.vault.set_keeper(keeper, False, {"from": attacker})


# ---- feed max ages ----


def test_max_age_tightening_is_immediate_and_loosening_queued(basket, owner, guardian):
    v = basket.vault
    feed = basket.feeds[1]
    age = v.get_max_ages()[1]
    tighter = max(60, age - 60)
    tx = v.set_max_age(feed, tighter, {"from": guardian})
    ev = tx.events["ParameterChanged"]
    assert (ev["kind"], ev["old_value"], ev["new_value"]) == (K_MAX_AGE + 1, age, tighter)
    assert v.get_max_ages()[1] == tighter
    tx = v.set_max_age(feed, 3 * DAY, {"from": owner})
    assert v.get_max_ages()[1] == tighter
    assert tx.events["ChangeQueued"]["kind"] == K_MAX_AGE + 1
    with brownie.reverts("vault: not owner"):
        v.set_max_age(feed, 3 * DAY, {"from": guardian})
    basket.warp(DAY)
    v.apply_change(K_MAX_AGE + 1, {"from": guardian})
    assert v.get_max_ages()[1] == 3 * DAY


def test_max_age_bounds_and_unknown_feed(basket, owner, attacker):
    feed = basket.feeds[2]
    with brownie.reverts("vault: out of bounds"):
        basket.vault.set_max_age(feed, 59, {"from": owner})
    with brownie.reverts("vault: out of bounds"):
        basket.vault.set_max_age(feed, 3 * DAY + 1, {"from": owner})
    with brownie.reverts("vault: unknown feed"):
        basket.vault.set_max_age(attacker, 3_600, {"from": owner})
    with brownie.reverts("vault: not guardian"):
        basket.vault.set_max_age(feed, 60, {"from": attacker})


# ---- the module itself ----


def test_governance_module_called_directly_reverts(basket, owner, VaultGovernance):
    module = VaultGovernance.at(basket.vault.governance())
    with brownie.reverts("vault: delegatecall only"):
        module.set_cooldown(7_200, {"from": owner})
    with brownie.reverts("vault: delegatecall only"):
        module.set_keeper(owner, False, {"from": owner})
    with brownie.reverts("vault: delegatecall only"):
        module.pause({"from": owner})
    with brownie.reverts("vault: delegatecall only"):
        module.apply_change(0, {"from": owner})


def test_loss_budget_views(funded):
    v = funded.vault
    assert (v.loss_budget_bps(), v.loss_window(), v.loss_budget_used()) == (100, 7 * DAY, 0)
    assert list(v.get_params()) == model.Params().as_list()
