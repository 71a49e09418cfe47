"""The auditor's issue-9 rules as small functions, on synthetic inputs (no chain): TIMELOCK over an
event stream, the I9 loss-budget replay, I8 round trip, direction and caps."""

from __future__ import annotations

from offchain.audit.decode import Event
from offchain.audit.verify import (
    RULES,
    check_timelock,
    rule_budget,
    rule_caps,
    rule_direction,
    rule_roundtrip,
)
from offchain.core import model

KEEPER = "0x" + "ab" * 20
COOLDOWN = model.PARAM_KINDS.index("cooldown")
SLIPPAGE = model.PARAM_KINDS.index("max_slippage_bps")


def ev(block: int, name: str, **args) -> Event:
    return Event(block, f"0x{block:064x}", 0, 0, "0xvault", name, args)


def rules(events, ts=None, pending=None) -> list[str]:
    ts = ts or {e.block: 1_000 + 100 * e.block for e in events}
    return [v.detail for v in check_timelock(events, ts, pending)]


def test_rules_are_listed():
    for r in ("I8-roundtrip", "I8-direction", "I8-caps", "I9-budget", "TIMELOCK"):
        assert r in RULES


def test_timelock_queued_then_applied_after_eta_is_clean():
    events = [
        ev(1, "ChangeQueued", kind=COOLDOWN, value=1_800, eta=1_200),
        ev(2, "ParameterChanged", kind=COOLDOWN, old_value=3_600, new_value=1_800),  # at 1_200: eta
        ev(3, "ParameterChanged", kind=SLIPPAGE, old_value=100, new_value=90),  # a tightening: now
        ev(4, "ChangeQueued", kind=model.KIND_KEEPER, value=int(KEEPER, 16), eta=1_500),
        ev(5, "KeeperSet", account=KEEPER, enabled=True),
        ev(6, "KeeperSet", account=KEEPER, enabled=False),  # removal: now
        ev(7, "ChangeQueued", kind=model.KIND_TARGETS, value=5_000 | (5_000 << 14), eta=1_700),
        ev(8, "TargetWeightsApplied", weights=[5_000, 5_000]),
        ev(9, "ParameterChanged", kind=model.KIND_MAX_AGE + 1, old_value=3_600, new_value=600),
    ]
    assert rules(events) == []


def test_timelock_violations():
    early = [
        ev(1, "ChangeQueued", kind=COOLDOWN, value=1_800, eta=5_000),
        ev(2, "ParameterChanged", kind=COOLDOWN, old_value=3_600, new_value=1_800),
    ]
    assert "before its eta 5000" in rules(early)[0]
    unqueued = [ev(1, "ParameterChanged", kind=SLIPPAGE, old_value=100, new_value=1_000)]
    assert "without being queued" in rules(unqueued)[0]
    other_value = [
        ev(1, "ChangeQueued", kind=SLIPPAGE, value=150, eta=1_000),
        ev(2, "ParameterChanged", kind=SLIPPAGE, old_value=100, new_value=1_000),
    ]
    assert "without being queued" in rules(other_value)[0]
    cancelled = [
        ev(1, "ChangeQueued", kind=model.KIND_KEEPER, value=int(KEEPER, 16), eta=1_000),
        ev(2, "ChangeCancelled", kind=model.KIND_KEEPER, value=int(KEEPER, 16), eta=1_000),
        ev(3, "KeeperSet", account=KEEPER, enabled=True),
    ]
    assert "keeper" in rules(cancelled)[0]
    looser_age = [ev(1, "ParameterChanged", kind=model.KIND_MAX_AGE, old_value=3_600, new_value=7_200)]
    assert len(rules(looser_age)) == 1
    targets = [ev(1, "TargetWeightsApplied", weights=[10_000, 0])]
    assert "target weights" in rules(targets)[0]


def test_timelock_deployment_keeper_and_changes_queued_before_the_window():
    deploy = [
        Event(1, "0xd", 0, 0, "0xvault", "KeeperSet", {"account": KEEPER, "enabled": True}),
        Event(1, "0xd", 0, 1, "0xvault", "OwnershipTransferred", {"previous_owner": "0x" + "00" * 20}),
    ]
    assert rules(deploy) == []
    applied = [ev(3, "ParameterChanged", kind=COOLDOWN, old_value=3_600, new_value=1_800)]
    assert rules(applied, pending={COOLDOWN: (1_800, 1_000)}) == []


def test_budget_replay():
    p = model.Params(loss_budget_bps=10, loss_window=86_400)
    budget = 10 * model.BPS_TO_LOSS
    used, bad = rule_budget(0, 0, 100, p, 10**21, 10**21 - 10**17)  # 1 bps
    assert bad is None and used == model.BPS_TO_LOSS
    used, bad = rule_budget(budget - 1, 0, 0, p, 10**21, 10**21 - 10**17)
    assert bad is not None and "budget 10 bps" in bad
    # a full day later the bucket is empty again
    used, bad = rule_budget(budget, 0, 86_400, p, 10**21, 10**21 - 10**18)
    assert bad is None and used == 10 * model.BPS_TO_LOSS
    assert rule_budget(budget, 0, 0, p, 10**21, 10**21 + 5) == (budget, None)  # a gain charges nothing


def test_i8_rules():
    assert rule_roundtrip(0, 1, 0, 0) is None
    assert "bought" in rule_roundtrip(0, 2, 0b10, 0b01)
    assert "sold after" in rule_roundtrip(0, 2, 0, 0b01)
    assert rule_direction(0, 1, 0b01, 0b10) == []
    assert len(rule_direction(1, 0, 0b01, 0b10)) == 2
    room = [10, 20]
    assert rule_caps(0, 1, 10, 20, room, 0b01, 0b10) == [] and room == [0, 0]
    room = [10, 20]
    assert len(rule_caps(0, 1, 11, 21, room, 0b01, 0b10)) == 2


# ---- more TIMELOCK cases, one behaviour each ----

TARGETS = model.KIND_TARGETS
LOSS_BUDGET = model.PARAM_KINDS.index("loss_budget_bps")
DELAY = model.PARAM_KINDS.index("target_delay")


def test_timelock_loosening_applied_without_a_queue_is_a_violation():
    events = [ev(1, "ParameterChanged", kind=LOSS_BUDGET, old_value=100, new_value=1_000)]
    (v,) = check_timelock(events, {1: 1_100})
    assert v.rule == "TIMELOCK" and "loss_budget_bps 100 -> 1000" in v.detail


def test_timelock_applied_one_second_before_eta_is_a_violation_at_eta_is_clean():
    queued = ev(1, "ChangeQueued", kind=DELAY, value=3_600, eta=2_000)
    applied = ev(2, "ParameterChanged", kind=DELAY, old_value=86_400, new_value=3_600)
    assert rules([queued, applied], {1: 1_000, 2: 1_999}) == [
        "target_delay 86400 -> 3600 (a loosening) applied at 1999, before its eta 2000"
    ]
    assert rules([queued, applied], {1: 1_000, 2: 2_000}) == []


def test_timelock_applied_after_cancel_is_a_violation():
    events = [
        ev(1, "ChangeQueued", kind=COOLDOWN, value=0, eta=1_000),
        ev(2, "ChangeCancelled", kind=COOLDOWN, value=0, eta=1_000),
        ev(3, "ParameterChanged", kind=COOLDOWN, old_value=3_600, new_value=0),
    ]
    assert "without being queued" in rules(events, {1: 0, 2: 10, 3: 5_000})[0]


def test_timelock_requeue_replaces_the_old_value():
    events = [
        ev(1, "ChangeQueued", kind=SLIPPAGE, value=200, eta=1_000),
        ev(2, "ChangeCancelled", kind=SLIPPAGE, value=200, eta=1_000),
        ev(2, "ChangeQueued", kind=SLIPPAGE, value=300, eta=9_000),
        ev(3, "ParameterChanged", kind=SLIPPAGE, old_value=100, new_value=200),  # the replaced value
    ]
    assert "without being queued" in rules(events, {1: 0, 2: 10, 3: 5_000})[0]


def test_timelock_tightening_is_immediate_and_fine():
    events = [
        ev(1, "ParameterChanged", kind=k, old_value=old, new_value=new)
        for k, old, new in [
            (0, 500, 600),  # threshold up
            (COOLDOWN, 3_600, 7_200),
            (SLIPPAGE, 100, 50),
            (LOSS_BUDGET, 100, 10),
            (model.KIND_MAX_AGE + 2, 3_600, 60),
            (SLIPPAGE, 50, 50),  # equal: not a loosening
        ]
    ]
    assert rules(events) == []


def test_timelock_keeper_added_at_deployment_is_fine_later_without_queue_is_not():
    deploy = [
        Event(1, "0xd", 0, 0, "0xvault", "OwnershipTransferred", {"previous_owner": "0x" + "00" * 20}),
        Event(1, "0xd", 0, 1, "0xvault", "KeeperSet", {"account": KEEPER, "enabled": True}),
    ]
    later = ev(5, "KeeperSet", account="0x" + "cd" * 20, enabled=True)
    out = rules([*deploy, later], {1: 1_000, 5: 9_000})
    assert len(out) == 1 and out[0] == "keeper 0x" + "cd" * 20 + " added applied without being queued"


def test_timelock_keeper_queued_for_another_account_is_a_violation():
    events = [
        ev(1, "ChangeQueued", kind=model.KIND_KEEPER, value=int("cd" * 20, 16), eta=1_000),
        ev(2, "KeeperSet", account=KEEPER, enabled=True),
    ]
    assert len(rules(events, {1: 0, 2: 5_000})) == 1


def test_timelock_targets_applied_before_eta_is_a_violation():
    packed = 3_000 | (7_000 << 14)
    events = [
        ev(1, "ChangeQueued", kind=TARGETS, value=packed, eta=90_000),
        ev(2, "TargetWeightsApplied", weights=[3_000, 7_000]),
    ]
    (d,) = rules(events, {1: 1_000, 2: 4_600})
    assert "target weights [3000, 7000]" in d and "before its eta 90000" in d
    assert rules(events, {1: 1_000, 2: 90_000}) == []
    # other weights than the queued ones: not what was announced
    other = [events[0], ev(2, "TargetWeightsApplied", weights=[7_000, 3_000])]
    assert "without being queued" in rules(other, {1: 1_000, 2: 90_000})[0]


def test_timelock_violations_name_the_rule_and_tx():
    e = ev(7, "TargetWeightsApplied", weights=[10_000, 0])
    (v,) = check_timelock([e], {7: 1})
    assert (v.rule, v.tx_hash, v.block) == ("TIMELOCK", e.tx_hash, 7)


# ---- I8 direction follows the vault's sell line (target + tolerance), I9 replayed over a history ----


def test_direction_with_the_vaults_masks_flags_a_sale_within_tolerance():
    values = [4_020, 5_980]  # asset 0 above target by 20 bps, below the 25 bps sell line
    _room, over, under = model.trade_rooms(values, [4_000, 6_000], 25)
    assert rule_direction(0, 1, over, under) == ["sold asset 0, which was not above its target"]
    _room, over, under = model.trade_rooms([4_030, 5_970], [4_000, 6_000], 25)
    assert rule_direction(0, 1, over, under) == []


def test_budget_replay_over_a_history_equals_the_model():
    p = model.Params(loss_budget_bps=20, loss_window=86_400)
    history = [(0, 10**21, 10**21 - 10**17), (3_600, 10**21, 10**21 - 10**17), (7_200, 10**21, 10**21)]
    stored, last = 0, 0
    for ts, v0, v1 in history:
        used, bad = rule_budget(stored, last, ts, p, v0, v1)
        want = model.loss_used_now(stored, last, ts, 20, 86_400) + model.loss_charge(v0, v1)
        assert used == want and bad is None
        stored, last = used, ts
    # a loss of 20 bps right after: over the budget left, flagged
    _used, bad = rule_budget(stored, last, last, p, 10**21, 10**21 - 2 * 10**18)
    assert bad is not None and "budget 20 bps" in bad
