"""The windowed simulator against a naive per-step, per-path loop; metrics; scenarios."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from offchain.core.errors import InputError
from offchain.core.model import BPS
from offchain.quant.backtest import backtest, simulate
from offchain.quant.costs import CostModel, execute_rebalance
from offchain.quant.policies import (
    BandEdge,
    BuyAndHold,
    Calendar,
    Dynamic,
    Hybrid,
    Policy,
    Threshold,
    period_key,
)
from offchain.quant.scenarios import BootstrapScenario, GBMScenario, HistoricalScenario

CORR = [[1.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 1.0]]


def _gbm(steps: int = 300) -> GBMScenario:
    return GBMScenario(
        ["A", "B", "C"], [0.1, 0.05, 0.0], [0.9, 0.6, 0.05], CORR, n_steps=steps, start="2024-01-01"
    )


def _synthetic_prices(seed: int = 0, n: int = 4, days: int = 800) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0003, 0.02, size=(days - 1, n))
    p = 100 * np.exp(np.vstack([np.zeros(n), np.cumsum(r, axis=0)]))
    idx = pd.bdate_range("2015-01-01", periods=days, name="date")
    return pd.DataFrame(p, index=idx, columns=[f"X{i}" for i in range(n)])


def _naive(sc, targets, policy: Policy, costs: CostModel, paths: int, seed: int, chunk: int):  # type: ignore[no-untyped-def]
    """Reference: a plain loop over paths and days, trading with ``execute_rebalance`` one vault at a time."""
    R = np.concatenate(list(sc.chunks(paths, seed=seed, chunk=chunk)), axis=0).astype(float)
    times = sc.times()
    keys = period_key(times, policy.calendar_period) if policy.calendar_period else None
    finals, counts, fees = [], [], []
    for p in range(paths):
        v = 1e6 * np.asarray(targets, dtype=float)
        last, last_key, n_reb, fee = times[0], (keys[0] if keys is not None else 0), 0, 0.0
        for t in range(1, len(times)):
            v = v * R[t - 1, :, p]
            tot = v.sum()
            drift = np.abs(v / tot - targets).max()
            kw = {"key": np.array([keys[t]]), "last_key": np.array([last_key])} if keys is not None else {}
            r = policy.reason(
                np.array([drift]), np.array([times[t]]), np.array([last]), step=np.array([t]), **kw
            )
            if r[0]:
                res = execute_rebalance(v[None, :], targets, costs, band=policy.trade_band_bps / BPS)
                v = res.values[0]
                fee += float(res.fees[0] + res.impact[0] + res.gas[0])
                if res.swaps[0] > 0:  # an empty plan is not sent
                    last = times[t]
                    last_key = keys[t] if keys is not None else 0
                    n_reb += 1
        finals.append(v.sum())
        counts.append(n_reb)
        fees.append(fee)
    return np.array(finals), np.array(counts), np.array(fees)


@pytest.mark.parametrize(
    "policy",
    [
        Threshold(500),
        BandEdge(300),
        Calendar(align="monthly"),
        Calendar(period_s=10 * 86_400, min_drift_bps=100),
        Hybrid(800, 20 * 86_400, 200, 3 * 86_400),
        BuyAndHold(),
    ],
    ids=lambda p: p.spec(),
)
@pytest.mark.parametrize("paths", [1, 9])
def test_engine_matches_naive_loop(policy: Policy, paths: int) -> None:
    sc = _gbm(300)
    targets = np.array([0.5, 0.3, 0.2])
    costs = CostModel(pool_liquidity_usd=3e6)
    res = simulate(sc, targets, policy, costs, n_paths=paths, seed=3, chunk=70)
    finals, counts, paid = _naive(sc, targets, policy, costs, paths, seed=3, chunk=70)
    np.testing.assert_allclose(res.per_path["final_value"], finals, rtol=1e-9)
    np.testing.assert_array_equal(res.per_path["rebalances"], counts)
    np.testing.assert_allclose(res.per_path["costs"], paid, rtol=1e-7, atol=1e-6)
    if not isinstance(policy, BuyAndHold):
        assert counts.sum() > paths  # the case actually exercises rebalancing


def test_recorded_series_and_metrics() -> None:
    px = _synthetic_prices(1)
    w = np.array([0.4, 0.3, 0.2, 0.1])
    (res,) = backtest(px, w, [Threshold(300)], CostModel())
    assert res.values is not None and res.weights is not None and res.drift is not None
    v = pd.Series(res.values[:, 0], index=px.index)
    assert v.iloc[0] == 1e6 and v.iloc[-1] == pytest.approx(res.final_value, rel=1e-12)
    np.testing.assert_allclose(res.weights.sum(axis=1), 1.0)
    assert len(res.events) == res.per_path["rebalances"][0] > 0
    assert all(e.reason == 1 for e in res.events)
    # after every rebalance the drift of the recorded weights is far below the band
    for e in res.events:
        assert np.abs(res.weights[e.step] - w).max() < 0.005
    # metrics against a direct pandas computation on the recorded series
    ppy = res.periods_per_year
    r = v.pct_change().dropna()
    years = len(r) / ppy
    m = res.per_path
    assert m["ann_return"][0] == pytest.approx((v.iloc[-1] / v.iloc[0]) ** (1 / years) - 1, rel=1e-9)
    assert m["ann_vol"][0] == pytest.approx(r.std() * math.sqrt(ppy), rel=1e-9)
    assert m["sharpe"][0] == pytest.approx(r.mean() * ppy / (r.std() * math.sqrt(ppy)), rel=1e-9)
    assert m["max_drawdown"][0] == pytest.approx((1 - v / v.cummax()).max(), rel=1e-9)
    target_r = (px.pct_change().dropna() * w).sum(axis=1)
    assert m["tracking_error"][0] == pytest.approx((r - target_r).std() * math.sqrt(ppy), rel=1e-9)
    sold = sum(e.sold / (e.value + e.fees + e.impact + e.gas) for e in res.events)
    assert m["turnover"][0] == pytest.approx(sold / years, rel=1e-6)
    assert m["costs"][0] == pytest.approx(sum(e.fees + e.impact + e.gas for e in res.events), rel=1e-9)
    assert m["fees"][0] > 0 and m["gas"][0] > 0 and m["impact"][0] > 0
    assert res.per_path["ann_return"][0] == res.summary["ann_return"]["p50"]


def test_zero_cost_monthly_equals_closed_form() -> None:
    """Frictionless monthly rebalancing: value compounds the target portfolio's return month by month."""
    px = _synthetic_prices(2, n=3, days=300)
    w = np.array([0.2, 0.5, 0.3])
    (res,) = backtest(px, w, [Calendar(align="monthly")], CostModel.zero())
    month = px.index.to_period("M")
    starts = np.flatnonzero(np.r_[True, month[1:] != month[:-1]])
    value = 1e6
    bounds = [*starts.tolist(), len(px) - 1]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        value *= float((px.iloc[b] / px.iloc[a] * w).sum())
    assert res.final_value == pytest.approx(value, rel=1e-12)
    assert res.per_path["rebalances"][0] == len(starts) - 1


def test_costs_reduce_value_and_band_edge_trades_less() -> None:
    sc = _gbm(500)
    t = [0.4, 0.4, 0.2]
    free = simulate(sc, t, Threshold(300), CostModel.zero(), n_paths=50, seed=1)
    paid = simulate(sc, t, Threshold(300), CostModel(), n_paths=50, seed=1)
    edge = simulate(sc, t, BandEdge(300), CostModel(), n_paths=50, seed=1)
    assert np.all(paid.per_path["final_value"] < free.per_path["final_value"])
    assert np.all(free.per_path["costs"] == 0)
    assert edge.summary["turnover"]["mean"] < paid.summary["turnover"]["mean"]
    assert edge.summary["fees"]["mean"] < paid.summary["fees"]["mean"]


def test_dynamic_policy_reoptimises_targets() -> None:
    sc = GBMScenario(
        ["A", "B", "C", "D"], [0.05, 0.05, 0.05, 0.05], [0.8, 0.4, 0.2, 0.1], n_steps=400, start="2024-01-01"
    )
    res = simulate(sc, [0.25] * 4, Dynamic(every=50, lookback=100), CostModel(), n_paths=3, seed=2)
    assert res.targets is not None
    final_t = res.targets[-1]
    assert final_t.sum() == pytest.approx(1.0)
    assert final_t[3] > 0.5 and final_t[0] < 0.05  # min-variance loads on the least volatile asset
    assert res.per_path["rebalances"][0] >= 6


def test_gbm_moments_and_determinism() -> None:
    mu, sig = np.array([0.1, -0.05, 0.3]), np.array([0.2, 0.5, 0.8])
    sc = GBMScenario(["a", "b", "c"], mu, sig, CORR, n_steps=252)
    R = np.concatenate(list(sc.chunks(4000, seed=9)), axis=0).astype(float)
    lr = np.log(R)
    dt = 1 / 252
    err = np.abs(lr.mean(axis=(0, 2)) - (mu - sig**2 / 2) * dt)
    assert np.all(err < 4 * sig * math.sqrt(dt / R[..., 0].size))  # within 4 standard errors
    np.testing.assert_allclose(lr.std(axis=(0, 2)), sig * math.sqrt(dt), rtol=0.01)
    flat = lr.transpose(1, 0, 2).reshape(3, -1)
    np.testing.assert_allclose(np.corrcoef(flat), CORR, atol=0.01)
    again = np.concatenate(list(sc.chunks(4000, seed=9)), axis=0)
    assert np.array_equal(R, again)
    assert len(sc.dates) == 253 and sc.dates[0] == pd.Timestamp("2025-01-01")


def test_bootstrap_and_historical_scenarios() -> None:
    px = _synthetic_prices(3, n=3, days=200)
    hist = px.to_numpy()[1:] / px.to_numpy()[:-1]
    bs = BootstrapScenario(px, n_steps=300, block=10)
    R = np.concatenate(list(bs.chunks(5, seed=1, chunk=64)), axis=0)
    assert R.shape == (300, 3, 5)
    rows = {tuple(r) for r in hist}
    assert all(tuple(R[t, :, p]) in rows for t in range(0, 300, 7) for p in range(5))
    # blocks of 10 consecutive historical rows
    first = [np.flatnonzero((hist == R[0, :, 0]).all(axis=1))[0]]
    np.testing.assert_array_equal(R[:10, :, 0], hist[first[0] : first[0] + 10])
    hs = HistoricalScenario(px)
    (H,) = list(hs.chunks(1))
    np.testing.assert_array_equal(H[:, :, 0], hist)
    assert hs.periods_per_year() == pytest.approx(252, rel=0.06)
    with pytest.raises(InputError):
        list(hs.chunks(2))


def test_bad_inputs() -> None:
    sc = _gbm(10)
    with pytest.raises(InputError):
        simulate(sc, [0.5, 0.5], Threshold(500))
    with pytest.raises(InputError):
        simulate(sc, [0.5, 0.6, -0.1], Threshold(500))
    with pytest.raises(InputError):
        simulate(sc, [0.5, 0.3, 0.2], Threshold(500), n_paths=0)
    with pytest.raises(InputError):
        GBMScenario(["a", "b"], [0.1, 0.1], [0.2, 0.2], [[1, 2], [2, 1]])
    with pytest.raises(InputError):
        GBMScenario(["a", "b"], [0.1], [0.2, 0.2])
    bad = _synthetic_prices(0, n=2, days=20)
    bad.iloc[5, 1] = -1.0
    with pytest.raises(InputError):
        HistoricalScenario(bad)


class _Fixed(GBMScenario):
    """A GBM calendar with fixed, pre-drawn returns (so one path can be replayed alone)."""

    def __init__(self, R: np.ndarray) -> None:
        super().__init__(["A", "B", "C", "D"], [0.0] * 4, [0.1] * 4, n_steps=R.shape[0], start="2023-06-01")
        self.R = R

    def chunks(self, n_paths: int, seed: int = 0, chunk: int = 126):  # type: ignore[no-untyped-def]
        for s in range(0, self.R.shape[0], chunk):
            yield self.R[s : s + chunk, :, :n_paths]


@pytest.mark.parametrize(
    "policy",
    [Dynamic(every=40, lookback=60, band_bps=600), Calendar(align="weekly", min_drift_bps=50), Hybrid()],
    ids=lambda p: p.spec(),
)
def test_single_path_engine_equals_multi_path_engine(policy: Policy) -> None:
    rng = np.random.default_rng(4)
    vol = np.array([0.9, 0.6, 0.3, 0.05]) / math.sqrt(252)
    R = np.exp(rng.normal(0, 1, size=(400, 4, 5)) * vol[None, :, None])
    sc = _Fixed(R)
    w = [0.4, 0.3, 0.2, 0.1]
    many = simulate(sc, w, policy, CostModel(), n_paths=5, chunk=90)
    one = simulate(_Fixed(R[:, :, :1].copy()), w, policy, CostModel(), n_paths=1, chunk=90)
    for key in ("final_value", "rebalances", "costs", "tracking_error", "max_drawdown", "turnover"):
        assert one.per_path[key][0] == pytest.approx(many.per_path[key][0], rel=1e-9), key
    assert one.per_path["rebalances"][0] > 2
    np.testing.assert_allclose(one.targets, many.targets, rtol=1e-9)


def test_band_edge_with_no_buyer_beyond_its_band_sends_nothing() -> None:
    """plan_trades only buys assets outside their band; with 20 x 5 % targets and a 5 % band none can be,
    so the band-edge policy never trades (and pays no gas), even though it triggers."""
    px = _synthetic_prices(5, n=20, days=400)
    (res,) = backtest(px, np.full(20, 0.05), [BandEdge(500)], CostModel())
    assert res.per_path["rebalances"][0] == 0 and res.per_path["gas"][0] == 0
