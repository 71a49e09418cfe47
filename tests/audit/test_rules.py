"""The auditor's issue-9 rules as small functions, on synthetic inputs (no chain): TIMELOCK over an
event stream, the I9 loss-budget replay, I8 round trip, direction and caps."""

from __future__ import annotations

from offchain import model
from offchain.audit.decode import Event
from offchain.audit.verify import (
    RULES,
    check_timelock,
    rule_budget,
    rule_caps,
    rule_direction,
    rule_roundtrip,
)

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
