"""The rebalancing simulator: one engine for historical backtests and Monte Carlo, vectorised across paths
*and* across time.

Conventions
-----------
* Inputs are **daily** observations (``Scenario`` gross returns); metrics come out **annualised**
  (``offchain.quant.metrics``). Target weights are **fractions** (use
  ``offchain.quant.data.validate_weights`` to
  accept bps); thresholds inside policies are bps.
* At observation 0 the vault holds exactly ``initial_value * targets`` (no cost: it is deposited at
  target). At every later observation ``t`` the holdings first grow with the day's gross returns, then
  the policy looks at the close weights and, if it fires, the vault trades at the close (bt's timing).
* Trades follow the keeper's plan (``offchain.quant.costs.plan_pairs`` == ``offchain.core.model.plan_trades``,
  band edge for ``BandEdge``), fees and price impact are lost on the buy side, gas is deducted pro rata.
  A trigger whose plan has no swap (e.g. band-edge with no asset beyond its band on the buy side) sends
  no transaction: no gas, not counted, and ``last_rebalance`` keeps its value.

How it is fast
--------------
Between two rebalances a path's holdings are ``V_e * prod(R)``, so the engine evaluates a *window* of
``L`` observations for all paths at once (cumulative products, drift, policy decision), stops each
path at its first trigger, trades there, and restarts only the paths that traded from that point.
``L`` adapts to how often paths trigger; there is no Python loop over paths and only about
``T / L + rebalances`` iterations over time. A single path (a historical backtest) takes a leaner
route: holdings between rebalances are ``units * price`` (bt's arithmetic, from the price levels),
the drift of a whole window is one ``(n x n) @ (n x L)`` product, and the window doubles while
nothing triggers -- so a 33-year, 20-asset threshold backtest is a few dozen numpy calls per rebalance.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from offchain.core.errors import InputError
from offchain.core.lazy import LazyModule
from offchain.core.model import BPS
from offchain.quant.costs import CostModel, execute_rebalance
from offchain.quant.metrics import PathAccumulator, summarise
from offchain.quant.policies import Dynamic, Policy, optimise_targets, period_key
from offchain.quant.scenarios import DEFAULT_CHUNK, HistoricalScenario, Scenario

pd = LazyModule("pandas")

__all__ = ["SimResult", "Event", "simulate", "backtest", "MAX_RECORD_PATHS"]

log = logging.getLogger(__name__)

MAX_RECORD_PATHS = 64  # with ``record``, value series are kept for the first this-many paths


@dataclass(frozen=True)
class Event:
    """One rebalance of path 0 (USD figures)."""

    step: int
    date: pd.Timestamp
    reason: int
    fees: float
    impact: float
    gas: float
    swaps: int
    sold: float
    value: float  # vault value after the rebalance


@dataclass
class SimResult:
    """Outcome of one policy on one scenario.

    ``per_path`` holds metric arrays of shape ``(paths,)`` (see ``offchain.quant.metrics``), ``summary`` their
    mean and percentiles. With ``record``: ``values`` ``(T, k)`` for the first ``k = min(paths,
    MAX_RECORD_PATHS)`` paths and,
    for path 0, post-trade ``weights`` ``(T, n)``, pre-trade ``drift`` ``(T,)`` (fraction), ``targets``
    ``(T, n)`` and the rebalance ``events``.
    """

    policy: Policy
    assets: list[str]
    dates: pd.DatetimeIndex
    initial_targets: np.ndarray
    initial_value: float
    n_paths: int
    periods_per_year: float
    per_path: dict[str, np.ndarray]
    summary: dict[str, dict[str, float]]
    values: np.ndarray | None = None
    weights: np.ndarray | None = None
    drift: np.ndarray | None = None
    targets: np.ndarray | None = None
    events: list[Event] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.policy.name

    @property
    def final_value(self) -> float:
        """Final value of path 0 (the only path of a historical backtest)."""
        return float(self.per_path["final_value"][0])

    def value_series(self) -> pd.Series:
        """Value of path 0 over time (needs ``record``)."""
        if self.values is None:
            raise InputError("values were not recorded; run with record=True")
        return pd.Series(self.values[:, 0], index=self.dates, name=self.name)


def _grow(v: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``v * cumprod(r, axis=0)`` in float64 (a row loop beats ``np.cumprod`` on wide arrays)."""
    if r[0].size < 512:
        return np.cumprod(r, axis=0, dtype=np.float64) * v[None]
    out = np.empty(r.shape, dtype=np.float64)
    np.multiply(v, r[0], out=out[0])
    for j in range(1, r.shape[0]):
        np.multiply(out[j - 1], r[j], out=out[j])
    return out


class _Engine:
    def __init__(
        self,
        scenario: Scenario,
        targets: np.ndarray,
        policy: Policy,
        costs: CostModel,
        n_paths: int,
        initial_value: float,
        record: bool,
    ) -> None:
        self.sc = scenario
        self.policy = policy
        self.costs = costs
        self.P = n_paths
        self.n = scenario.n_assets
        self.T = len(scenario.dates)
        self.times = scenario.times()
        self.period = policy.calendar_period
        self.keys = period_key(self.times, self.period) if self.period else None
        self.dynamic = isinstance(policy, Dynamic)
        self.band = policy.trade_band_bps / BPS
        self.dev_op = np.eye(self.n) - np.outer(targets, np.ones(self.n))
        self.V = np.outer(targets, np.full(n_paths, float(initial_value)))  # (n, P)
        self.tgt = np.repeat(targets[:, None], n_paths, axis=1) if self.dynamic else targets[:, None].copy()
        self.last = np.full(n_paths, self.times[0], dtype=np.int64)
        self.last_key = np.full(n_paths, self.keys[0] if self.keys is not None else 0, dtype=np.int64)
        self.acc = PathAccumulator(n_paths, float(initial_value))
        self.ppy = scenario.periods_per_year()
        self.L = 64 if n_paths == 1 else 8
        self.record = record
        self.n_rec = min(n_paths, MAX_RECORD_PATHS)
        self.rec_values = np.empty((self.T, self.n_rec)) if record else None
        if self.rec_values is not None:
            self.rec_values[0] = initial_value
        if record:
            self.rec_w = np.empty((self.T, self.n))
            self.rec_w[0] = targets
            self.rec_drift = np.zeros(self.T)
            self.rec_tgt = np.empty((self.T, self.n))
            self.rec_tgt[0] = targets
        self.events: list[Event] = []
        self.tail: np.ndarray | None = None
        if self.dynamic:
            lb = policy.lookback  # type: ignore[attr-defined]
            self.tail = np.ones((lb, self.n, n_paths))

    # ------------------------------------------------------------------ chunk and window iteration
    def run_chunk(self, R: np.ndarray, t0: int) -> None:
        """Advance all paths over transitions ``t0 .. t0+K-1`` (observations ``t0+1 .. t0+K``)."""
        K = R.shape[0]
        self.R = R
        self.t0 = t0
        self.vals = np.empty((K, self.P))
        if self.dynamic:
            assert self.tail is not None
            self.H = np.concatenate([self.tail, R], axis=0)
            self.rt = np.empty((K, self.P))
        else:
            # target portfolio's daily return, one batched product (float32 for float32 scenarios: the
            # rounding, ~6e-8 per day, is far below any tracking error worth reporting)
            rt = np.matmul(self.tgt[:, 0].astype(R.dtype), R)
            self.rt = np.subtract(rt, 1.0, dtype=np.float64)
        if self.P == 1:
            self._run_single(t0, K)
        w0 = K if self.P == 1 else 0
        while w0 < K:
            L = min(self.L, K - w0)
            fired_first = self._window(w0, L)
            rate = fired_first / self.P
            if rate < 0.02:
                self.L = min(self.L * 2, 8192)
            elif rate > 0.12:
                self.L = max(self.L // 2, 1)
            w0 += L
        self.acc.update(self.vals, self.rt)
        if self.rec_values is not None:
            self.rec_values[t0 + 1 : t0 + K + 1] = self.vals[:, : self.n_rec]
        if self.dynamic:
            lb = self.tail.shape[0]  # type: ignore[union-attr]
            self.tail = self.H[-lb:].copy()

    def _window(self, w0: int, L: int) -> int:
        """All paths are at relative transition ``w0``; move them all to ``w0 + L``. Returns how many
        paths fired in the first pass (used to adapt ``L``)."""
        end = w0 + L
        idx = np.arange(self.P)
        q = np.full(self.P, w0)
        first = -1
        while idx.size:
            fired_idx, fired_next = self._scan(idx, q, end)
            if first < 0:
                first = fired_idx.size
            keep = fired_next < end
            idx, q = fired_idx[keep], fired_next[keep]
        return first

    def _scan(self, idx: np.ndarray, q: np.ndarray, end: int) -> tuple[np.ndarray, np.ndarray]:
        """Paths ``idx`` at relative transitions ``q`` (< end): evaluate up to ``end``, stop at the first
        trigger, trade there. Returns the paths that traded and the transition they resume from."""
        m = idx.size
        lo = int(q.min())
        Lr = end - lo
        synced = m == self.P and int(q.max()) == lo
        j = np.arange(Lr)
        if synced:
            Rw = self.R[lo:end]  # (Lr, n, P) view
            rows = np.broadcast_to((lo + j)[:, None], (Lr, m))
            valid = np.ones((Lr, m), dtype=bool)
        else:
            rows = q[None, :] + j[:, None]
            valid = rows < end
            rows = np.minimum(rows, end - 1)
            Rw = self.R[rows, :, idx[None, :]].transpose(0, 2, 1)  # (Lr, n, m)
            Rw = np.where(valid[:, None, :], Rw, 1.0)
        tgt = self.tgt[:, idx] if self.dynamic else self.tgt  # (n, m) or (n, 1)
        W = _grow(self.V if synced else self.V[:, idx], Rw)
        tot = W.sum(axis=1)  # (Lr, m)
        # W_i - t_i sum_j W_j (static targets: one batched (n x n) product)
        dev = W - tgt[None, :, :] * tot[:, None, :] if self.dynamic else np.matmul(self.dev_op, W)
        np.abs(dev, out=dev)
        drift = dev.max(axis=1)
        drift /= tot
        obs = (self.t0 + lo + 1 + j)[:, None] if synced else self.t0 + rows + 1  # (Lr, 1) or (Lr, m)
        kw: dict[str, Any] = {}
        if self.keys is not None:
            kw["key"] = self.keys[obs]
            kw["last_key"] = self.last_key[idx][None, :]
        if self.dynamic:
            kw["step"] = obs
        now, last = self.times[obs], self.last[idx][None, :]
        fire = self.policy.fire(drift, now, last, **kw)
        if not synced:
            fire &= valid
        f = np.argmax(fire, axis=0)
        has = fire[f, np.arange(m)]
        stop = np.where(has, f, Lr - 1 if synced else valid.sum(axis=0) - 1)
        # Rows after a path's trigger are rewritten when it resumes from there, and padded rows repeat
        # the last valid row, so every row can be written without masking.
        if synced:
            self.vals[lo:end] = tot
        else:
            self.vals[rows, idx[None, :]] = tot
        if self.dynamic:
            rtw = (Rw * tgt[None, :, :]).sum(axis=1) - 1.0
            if synced:
                self.rt[lo:end] = rtw
            else:  # padded rows would write a zero return over the last real row: mask them
                self.rt[rows[valid], np.broadcast_to(idx[None, :], rows.shape)[valid]] = rtw[valid]
        if synced:
            self.V[:] = W[-1]  # paths that fired are overwritten with their post-trade holdings below
        else:
            self.V[:, idx] = W[stop, :, np.arange(m)].T
        obs = np.broadcast_to(obs, (Lr, m))
        if self.record:
            c0 = np.flatnonzero(idx == 0)
            if c0.size:
                c = int(c0[0])
                mk = (j <= stop[c]) & valid[:, c]
                o = obs[mk, c]
                self.rec_w[o] = W[mk, :, c] / tot[mk, c][:, None]
                self.rec_drift[o] = drift[mk, c]
                self.rec_tgt[o] = tgt[:, c if tgt.shape[1] > 1 else 0]
        fired = np.flatnonzero(has)
        if not fired.size:
            return fired, fired
        pf = idx[fired]
        ff = f[fired]
        reasons = np.zeros(fired.size, dtype=np.int8)
        if self.record and pf[0] == 0:  # the reason code is only kept for path 0's event log
            reasons[:1] = self.policy.reason(drift, now, last, **kw)[ff[0], fired[0]]
        post = self._trade(pf, obs[ff, fired], W[ff, :, fired], reasons)
        self.V[:, pf] = post.T
        self.vals[rows[ff, fired], pf] = post.sum(axis=1)
        return pf, rows[ff, fired] + 1

    def _trade(self, pf: np.ndarray, obs_f: np.ndarray, pre: np.ndarray, reasons: np.ndarray) -> np.ndarray:
        """Rebalance paths ``pf`` at observations ``obs_f`` from pre-trade values ``pre`` ``(mf, n)``;
        book costs and state; return post-trade values ``(mf, n)``."""
        if self.dynamic:
            self._reoptimise(pf, obs_f)
        tg = self.tgt[:, pf].T if self.dynamic else self.tgt[:, 0]
        res = execute_rebalance(pre, tg, self.costs, band=self.band)
        post_tot = res.values.sum(axis=1)
        acc = self.acc
        acc.fees[pf] += res.fees
        acc.impact[pf] += res.impact
        acc.gas[pf] += res.gas
        acc.turnover[pf] += res.sold / pre.sum(axis=1)
        # a trigger whose plan has no swap sends no transaction: the vault's clock does not restart
        sent = res.swaps > 0
        acc.rebalances[pf] += sent
        ps = pf[sent]
        self.last[ps] = self.times[obs_f[sent]]
        if self.keys is not None:
            self.last_key[ps] = self.keys[obs_f[sent]]
        if self.record:
            k0 = np.flatnonzero((pf == 0) & sent)
            if k0.size:
                k = int(k0[0])
                o = int(obs_f[k])
                self.rec_w[o] = res.values[k] / post_tot[k]
                self.rec_tgt[o] = tg[k] if self.dynamic else tg
                self.events.append(
                    Event(
                        step=o,
                        date=self.sc.dates[o],
                        reason=int(reasons[k]),
                        fees=float(res.fees[k]),
                        impact=float(res.impact[k]),
                        gas=float(res.gas[k]),
                        swaps=int(res.swaps[k]),
                        sold=float(res.sold[k]),
                        value=float(post_tot[k]),
                    )
                )
        return res.values

    def _run_single(self, t0: int, K: int) -> None:
        """One path: cumulative growth once, then one vectorised scan per rebalance (adaptive window)."""
        r = self.R[:, :, 0]
        levels = getattr(self.sc, "levels", None)
        if levels is not None and K == self.T - 1:
            G = levels()  # historical prices: growth between two dates is their price ratio, as in bt
        else:
            G = np.empty((K + 1, self.n))
            G[0] = 1.0
            np.cumprod(r, axis=0, out=G[1:])
        vals = self.vals[:, 0]
        V = self.V[:, 0].copy()
        e = 0
        L = max(self.L, 32)
        pol, times, keys = self.policy, self.times, self.keys
        one = np.zeros(1, dtype=np.int64)
        while e < K:
            s_end = min(e + L, K)
            tg = self.tgt[:, 0]
            Gs = G[e + 1 : s_end + 1]
            c = V / G[e]  # holdings at step s are Gs[s] * c
            tot = Gs @ c
            # deviations W - tot * tg in one product: W_i - t_i sum_j W_j = sum_j Gs_j c_j (delta_ji - t_i)
            M = np.multiply.outer(c, -tg)
            M.flat[:: self.n + 1] += c
            dev = M.T @ Gs.T  # (n, L): reduce over the fast axis
            np.abs(dev, out=dev)
            drift = dev.max(axis=0)
            drift /= tot
            a, b = t0 + e + 1, t0 + s_end + 1  # observations covered
            kw: dict[str, Any] = {}
            if keys is not None:
                kw["key"] = keys[a:b]
                kw["last_key"] = self.last_key[0]
            if self.dynamic:
                kw["step"] = np.arange(a, b)
                self.rt[e:s_end, 0] = r[e:s_end] @ tg - 1.0
            reason = pol.reason(drift, times[a:b], self.last[0], **kw)
            nz = np.flatnonzero(reason)
            stop = int(nz[0]) if nz.size else s_end - e - 1
            vals[e : e + stop + 1] = tot[: stop + 1]
            if self.record:
                self.rec_w[a : a + stop + 1] = Gs[: stop + 1] * c / tot[: stop + 1, None]
                self.rec_drift[a : a + stop + 1] = drift[: stop + 1]
                self.rec_tgt[a : a + stop + 1] = tg
            if not nz.size:
                V = Gs[-1] * c
                e = s_end
                L = min(2 * L, 2048)  # wider windows only add multi-threaded BLAS stalls
                continue
            pre = (Gs[stop] * c)[None, :]
            post = self._trade(one, np.array([a + stop]), pre, reason[stop : stop + 1])[0]
            vals[e + stop] = post.sum()
            V = post
            e += stop + 1
            L = max(32, 2 * (stop + 1))
        self.V[:, 0] = V
        self.L = L

    def _reoptimise(self, pf: np.ndarray, obs_f: np.ndarray) -> None:
        pol: Dynamic = self.policy  # type: ignore[assignment]
        on_sched = (obs_f % pol.every == 0) & (obs_f >= pol.lookback)
        if not on_sched.any():
            return
        paths = pf[on_sched]
        s = obs_f[on_sched]
        lb = pol.lookback
        rows = (s - self.t0)[:, None] + np.arange(lb)[None, :]  # rows of H: transitions s-lb .. s-1
        hist = self.H[rows, :, paths[:, None]] - 1.0  # (m, lb, n)
        new = optimise_targets(hist, pol.objective, self.ppy)
        ok = np.all(np.isfinite(new), axis=1)
        self.tgt[:, paths[ok]] = new[ok].T


def simulate(
    scenario: Scenario,
    weights: Sequence[float] | np.ndarray,
    policy: Policy,
    costs: CostModel | None = None,
    *,
    n_paths: int = 1,
    initial_value: float = 1_000_000.0,
    seed: int = 0,
    chunk: int = DEFAULT_CHUNK,
    record: bool | None = None,
    risk_free: float = 0.0,
    progress: Callable[[int], None] | None = None,
) -> SimResult:
    """Run ``policy`` on ``n_paths`` paths of ``scenario`` starting from ``initial_value`` at ``weights``.

    ``weights``: target fractions summing to 1 (one per scenario asset). ``costs`` defaults to
    ``CostModel()``; pass ``CostModel.zero()`` for a frictionless run. ``record`` (default: on for
    at most ``MAX_RECORD_PATHS`` paths) keeps the series the report plots. ``progress(steps)`` is called
    after each chunk with the number of observations just simulated.
    """
    targets = np.asarray(weights, dtype=float)
    if targets.shape != (scenario.n_assets,):
        raise InputError(f"need {scenario.n_assets} target weights (one per asset); got {targets.size}")
    if (
        np.any(~np.isfinite(targets))
        or np.any(targets < 0)
        or not math.isclose(targets.sum(), 1.0, abs_tol=1e-6)
    ):
        raise InputError("target weights must be non-negative fractions summing to 1")
    if n_paths < 1:
        raise InputError(f"n_paths must be at least 1; got {n_paths}")
    if scenario.max_paths is not None and n_paths > scenario.max_paths:
        raise InputError(f"this scenario has only {scenario.max_paths} path(s); got n_paths={n_paths}")
    if not (initial_value > 0 and math.isfinite(initial_value)):
        raise InputError(f"initial value must be a positive number; got {initial_value}")
    costs = costs if costs is not None else CostModel()
    rec = (n_paths <= MAX_RECORD_PATHS) if record is None else record
    eng = _Engine(scenario, targets, policy, costs, n_paths, initial_value, rec)
    t0 = 0
    for R in scenario.chunks(n_paths, seed=seed, chunk=chunk):
        eng.run_chunk(R, t0)
        t0 += R.shape[0]
        if progress is not None:
            progress(R.shape[0])
    if t0 != scenario.n_steps:
        raise AssertionError(f"scenario produced {t0} steps, expected {scenario.n_steps}")
    per_path = eng.acc.finish(eng.ppy, risk_free)
    log.debug("simulated %s: %d paths x %d steps", policy.name, n_paths, scenario.n_steps)
    return SimResult(
        policy=policy,
        assets=list(scenario.assets),
        dates=pd.DatetimeIndex(scenario.dates),
        initial_targets=targets,
        initial_value=float(initial_value),
        n_paths=n_paths,
        periods_per_year=eng.ppy,
        per_path=per_path,
        summary=summarise(per_path),
        values=eng.rec_values,
        weights=eng.rec_w if rec else None,
        drift=eng.rec_drift if rec else None,
        targets=eng.rec_tgt if rec else None,
        events=eng.events,
    )


def backtest(
    prices: pd.DataFrame,
    weights: Sequence[float] | np.ndarray,
    policies: Sequence[Policy],
    costs: CostModel | None = None,
    *,
    initial_value: float = 1_000_000.0,
    risk_free: float = 0.0,
    record: bool = True,
    progress: Callable[[int], None] | None = None,
) -> list[SimResult]:
    """Replay a daily price table once per policy (``HistoricalScenario``); one ``SimResult`` each."""
    sc = HistoricalScenario(prices)
    return [
        simulate(
            sc,
            weights,
            p,
            costs,
            n_paths=1,
            initial_value=initial_value,
            risk_free=risk_free,
            record=record,
            progress=progress,
        )
        for p in policies
    ]
