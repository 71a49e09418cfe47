"""Policies: the simulator's vectorised float decision equals the vault's exact integer rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from offchain.core.errors import InputError
from offchain.core.model import (
    BPS,
    DEFAULT_PARAMS,
    REASON_CALENDAR,
    REASON_NONE,
    REASON_THRESHOLD,
    VaultModel,
    plan_trades,
)
from offchain.quant.policies import (
    BandEdge,
    BuyAndHold,
    Calendar,
    Dynamic,
    Hybrid,
    Threshold,
    parse_bps,
    parse_duration,
    parse_policy,
    period_key,
    setter_violations,
)

DAY = 86_400
T0 = 1_700_000_000


def _random_states(rng: np.random.Generator, count: int) -> list[VaultModel]:
    """Random integer vault states whose drift is spread over 0..~20 % (bias towards the bands)."""
    states = []
    for _ in range(count):
        n = int(rng.integers(2, 7))
        decimals = [int(d) for d in rng.choice([6, 8, 18], size=n)]
        prices = [int(p * 1e18) for p in rng.uniform(0.1, 5000.0, size=n)]
        t = rng.dirichlet(np.ones(n))
        targets = np.floor(t * BPS).astype(int)
        targets[0] += BPS - targets.sum()
        # current weights: target plus noise of random scale
        w = np.clip(targets / BPS + rng.normal(0, rng.choice([0.005, 0.02, 0.06]), n), 0.001, None)
        w /= w.sum()
        value = 10 ** int(rng.integers(21, 27))  # 1e3 .. 1e9 USD in 1e18 units
        balances = [int(w[i] * value * 10 ** decimals[i] // prices[i]) + 1 for i in range(n)]
        last = T0 + int(rng.integers(0, 100 * DAY))
        states.append(
            VaultModel(
                balances=balances,
                prices=prices,
                decimals=decimals,
                targets_bps=[int(x) for x in targets],
                last_rebalance=last,
            )
        )
    return states


def _float_drift(v: VaultModel) -> float:
    vals = np.array([b * p / 10**d for b, p, d in zip(v.balances, v.prices, v.decimals, strict=True)])
    w = vals / vals.sum()
    return float(np.max(np.abs(w - np.array(v.targets_bps) / BPS)))


POLICIES = [
    Threshold(500),
    Threshold(100),
    BandEdge(250),
    Calendar(period_s=30 * DAY),
    Calendar(period_s=7 * DAY, min_drift_bps=150),
    Hybrid(),
    Hybrid(300, 14 * DAY, 50, 6 * 3600),
    Hybrid(1000, DAY, 400, 0),
    BuyAndHold(),
    Calendar(align="monthly"),
    Calendar(align="quarterly", min_drift_bps=100),
    Calendar(align="weekly"),
]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.spec())
def test_vectorised_decision_equals_vault_model(policy) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(20240601)
    states = _random_states(rng, 400)
    # times around the cooldown / period / calendar boundaries, including exact equality
    offsets = np.array(
        [0, 1, 3599, 3600, 3601, 6 * 3600, DAY, 7 * DAY, 14 * DAY, 30 * DAY - 1, 30 * DAY, 45 * DAY]
    )
    drift = np.array([_float_drift(v) for v in states])
    last = np.array([v.last_rebalance for v in states], dtype=np.int64)
    checked = 0
    for off in offsets:
        now = last + off + rng.integers(0, 2, size=len(states))
        got = policy.reason(drift, now, last)
        assert np.array_equal(policy.fire(drift, now, last), got != REASON_NONE)
        for i, v in enumerate(states):
            exact_drift = v.drift_wad() / 10**18
            bands = (getattr(policy, a, None) for a in ("band_bps", "threshold_bps", "min_drift_bps"))
            if any(b is not None and abs(exact_drift - b / BPS) < 1e-9 for b in bands):
                continue  # exact tie: float and integer may round differently
            fire, reason = policy.needs_rebalance(v, int(now[i]))
            assert (got[i] != REASON_NONE) == fire, (policy.spec(), i, off, exact_drift)
            assert int(got[i]) == reason
            checked += 1
    assert checked > 4000


def test_on_chain_policies_are_the_vault_rule_with_their_params() -> None:
    rng = np.random.default_rng(7)
    for v in _random_states(rng, 100):
        now = v.last_rebalance + int(rng.integers(0, 40 * DAY))
        # the default hybrid policy *is* the vault's own rule with its default parameters
        assert Hybrid.from_params(DEFAULT_PARAMS).needs_rebalance(v, now) == v.needs_rebalance(now)
        for p in (Threshold(500), Calendar(period_s=30 * DAY), Hybrid(300, DAY, 50, 3600)):
            model = VaultModel(**{**v.__dict__, "params": p.params()})
            assert p.needs_rebalance(v, now) == model.needs_rebalance(now)


def test_paused_or_stale_vault_never_rebalances() -> None:
    v = _random_states(np.random.default_rng(3), 1)[0]
    for attr in ("paused", "feeds_ok"):
        w = VaultModel(**{**v.__dict__, attr: attr == "feeds_ok" and False or attr == "paused"})
        for p in (Threshold(1), Calendar(align="monthly"), Hybrid()):
            assert p.needs_rebalance(w, v.last_rebalance + 400 * DAY) == (False, REASON_NONE)


def test_reason_codes() -> None:
    h = Hybrid(500, 30 * DAY, 100, 3600)
    last = np.int64(T0)
    assert h.reason(np.array([0.06]), np.array([T0 + 10]), last)[0] == REASON_NONE  # cooldown
    assert h.reason(np.array([0.06]), np.array([T0 + 3600]), last)[0] == REASON_THRESHOLD
    assert h.reason(np.array([0.02]), np.array([T0 + 30 * DAY]), last)[0] == REASON_CALENDAR
    assert h.reason(np.array([0.005]), np.array([T0 + 30 * DAY]), last)[0] == REASON_NONE
    assert BuyAndHold().reason(np.array([0.9, 1.0]), np.array([T0, T0]), last).tolist() == [0, 0]


def test_period_key_marks_first_trading_day_like_bt() -> None:
    dates = pd.bdate_range("2019-12-20", "2021-02-10")
    secs = dates.as_unit("s").asi8
    for period, attr in (("monthly", "month"), ("quarterly", "quarter"), ("yearly", "year")):
        k = period_key(secs, period)
        first = k[1:] != k[:-1]
        ref = getattr(dates[1:], attr) != getattr(dates[:-1], attr)
        if period != "yearly":
            ref |= dates[1:].year != dates[:-1].year
        assert np.array_equal(first, np.asarray(ref))
    wk = period_key(secs, "weekly")
    assert np.array_equal(wk[1:] != wk[:-1], np.asarray(dates[1:].day_of_week < dates[:-1].day_of_week))


def test_aligned_calendar_keeper_matches_simulator() -> None:
    p = Calendar(align="monthly", min_drift_bps=50)
    v = _random_states(np.random.default_rng(11), 1)[0]
    last = int(pd.Timestamp("2024-01-31 00:00").timestamp())
    v = VaultModel(**{**v.__dict__, "last_rebalance": last})
    d = _float_drift(v)
    for day in ("2024-01-31", "2024-02-01", "2024-03-15"):
        now = int(pd.Timestamp(day).timestamp())
        fire, reason = p.needs_rebalance(v, now)
        assert fire == bool(p.fire(np.array([d]), np.array([now]), np.array([last]))[0])
        assert fire == (day != "2024-01-31" and d >= 0.005)


def test_band_edge_plans_to_the_band_edge() -> None:
    v = VaultModel(
        balances=[700 * 10**18, 300 * 10**6],
        prices=[10**18, 10**18],
        decimals=[18, 6],
        targets_bps=[5000, 5000],
        last_rebalance=T0,
    )
    trades = BandEdge(500).plan(v, fee_bps=0)
    assert trades == plan_trades(v.balances, v.prices, v.decimals, v.targets_bps, band_bps=500, fee_bps=0)
    # 70/30 against 50/50 with a 5 % band: sell down to 55 %, i.e. 150 USD (less the 1 bps haircut)
    assert len(trades) == 1 and abs(trades[0].value / 10**18 - 150 * 0.9999) < 1e-9
    assert Threshold(500).plan(v, fee_bps=0)[0].value > trades[0].value


def test_dynamic_schedule_and_band() -> None:
    d = Dynamic(every=5, band_bps=300)
    steps = np.arange(12)
    r = d.reason(np.zeros(12), np.zeros(12, dtype=np.int64), np.int64(0), step=steps)
    assert np.flatnonzero(r).tolist() == [5, 10]
    r = d.reason(np.full(12, 0.04), np.zeros(12, dtype=np.int64), np.int64(0), step=steps)
    assert (r == REASON_THRESHOLD).all()
    with pytest.raises(InputError, match="objective"):
        Dynamic(objective="max-fun")
    with pytest.raises(InputError):
        d.needs_rebalance(_random_states(np.random.default_rng(0), 1)[0], T0)


@pytest.mark.parametrize(
    "spec",
    [
        "buy-and-hold",
        "threshold:500bps",
        "band-edge:250bps",
        "calendar:monthly",
        "calendar:quarterly,100bps",
        "calendar:30d",
        "hybrid:500bps,4w,100bps,1h",
        "dynamic:21,min-variance,252",
        "dynamic:63,max-sharpe,126,400bps",
    ],
)
def test_spec_round_trip(spec: str) -> None:
    p = parse_policy(spec)
    assert p.spec() == spec
    assert parse_policy(p.spec()) == p


def test_parse_variants() -> None:
    assert parse_policy("threshold:5%") == Threshold(500)
    assert parse_policy("Threshold:500") == Threshold(500)
    assert parse_policy("calendar:month") == Calendar(align="monthly")
    assert parse_policy("hybrid") == Hybrid.from_params(DEFAULT_PARAMS)
    assert parse_policy("hybrid:300bps") == Hybrid(300, DEFAULT_PARAMS.rebalance_period, 100, 3600)
    assert parse_policy("dynamic:21,min_variance") == Dynamic(every=21, objective="min-variance")
    assert parse_bps("12.0bps") == 12 and parse_duration("90min") == 5400 and parse_duration("2w") == 14 * DAY


@pytest.mark.parametrize(
    "spec",
    [
        "random",
        "threshold",
        "threshold:abc",
        "threshold:0bps",
        "threshold:20000bps",
        "calendar:fortnightly",
        "calendar:0d",
        "hybrid:1,2,3,4,5",
        "dynamic:x",
        "dynamic:21,max-fun",
        "buy-and-hold:3",
        "band-edge:1.5bps",
    ],
)
def test_bad_specs_raise_input_error(spec: str) -> None:
    with pytest.raises(InputError):
        parse_policy(spec)


def test_settable_on_a_deployed_vault() -> None:
    assert Hybrid().settable and Hybrid(300, 14 * DAY, 50, 6 * 3600).settable
    assert not Hybrid(300, 14 * DAY, 0, 0).settable  # min drift must be >= 1 bps on chain
    assert not Hybrid(6000, DAY, 100, 0).settable  # threshold above MAX_THRESHOLD_BPS
    for p in (Threshold(500), Calendar(period_s=30 * DAY), BuyAndHold(), Calendar(align="monthly")):
        assert not p.settable
    assert setter_violations(DEFAULT_PARAMS) == []
