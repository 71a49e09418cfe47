"""Performance metrics of simulated vaults, accumulated online across paths (no ``(T, paths)`` matrix).

Conventions
-----------
* Inputs are **daily** (per observation) portfolio values; outputs are **annualised** with
  ``periods_per_year`` observations per year (252 for US trading days).
* ``ann_return``: compound annual growth ``(V_T / V_0) ** (ppy / N) - 1`` over ``N`` daily steps.
* ``ann_vol``: sample std (ddof=1) of simple daily returns times ``sqrt(ppy)``.
* ``sharpe``: ``(mean daily return * ppy - risk_free) / ann_vol`` (arithmetic, risk-free annual).
* ``max_drawdown``: largest fall from a running peak, a positive fraction.
* ``tracking_error``: annualised std of the daily return difference between the vault and the
  *target portfolio* (the frictionless portfolio held exactly at target every day).
* ``turnover``: annualised one-way turnover, sum over rebalances of value sold / vault value, per year.
* ``fees`` / ``impact`` / ``gas`` / ``costs``: total USD paid over the run; ``rebalances``: count.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

__all__ = ["METRICS", "PERCENTILES", "PathAccumulator", "summarise"]

log = logging.getLogger(__name__)

# key -> (label, format kind)
METRICS: dict[str, tuple[str, str]] = {
    "final_value": ("final value", "usd"),
    "ann_return": ("ann. return", "pct"),
    "ann_vol": ("ann. vol", "pct"),
    "sharpe": ("Sharpe", "num"),
    "max_drawdown": ("max drawdown", "pct"),
    "tracking_error": ("tracking error", "pct"),
    "turnover": ("turnover /yr", "pct"),
    "fees": ("fees", "usd"),
    "impact": ("impact", "usd"),
    "gas": ("gas", "usd"),
    "costs": ("total costs", "usd"),
    "rebalances": ("rebalances", "int"),
}
PERCENTILES = (5, 25, 50, 75, 95)


@dataclass
class PathAccumulator:
    """Running sums per path; ``update`` takes consecutive blocks of values and target returns."""

    n_paths: int
    initial_value: float
    steps: int = 0
    last: np.ndarray = field(init=False)
    sum_r: np.ndarray = field(init=False)
    sum_r2: np.ndarray = field(init=False)
    sum_a: np.ndarray = field(init=False)
    sum_a2: np.ndarray = field(init=False)
    peak: np.ndarray = field(init=False)
    max_dd: np.ndarray = field(init=False)
    fees: np.ndarray = field(init=False)
    impact: np.ndarray = field(init=False)
    gas: np.ndarray = field(init=False)
    turnover: np.ndarray = field(init=False)
    rebalances: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        p = self.n_paths
        self.last = np.full(p, float(self.initial_value))
        self.peak = self.last.copy()
        for name in ("sum_r", "sum_r2", "sum_a", "sum_a2", "max_dd", "fees", "impact", "gas", "turnover"):
            setattr(self, name, np.zeros(p))
        self.rebalances = np.zeros(p, dtype=np.int64)

    def update(self, values: np.ndarray, target_returns: np.ndarray) -> None:
        """``values`` ``(k, P)`` vault values at the next ``k`` observations; ``target_returns`` the
        target portfolio's simple returns over the same steps."""
        if values.shape[0] == 0:
            return
        r = np.empty_like(values)
        np.divide(values[0], self.last, out=r[0])
        np.divide(values[1:], values[:-1], out=r[1:])
        r -= 1.0
        a = r - target_returns
        self.sum_r += r.sum(axis=0)
        self.sum_r2 += np.einsum("kp,kp->p", r, r)
        self.sum_a += a.sum(axis=0)
        self.sum_a2 += np.einsum("kp,kp->p", a, a)
        if values.shape[1] < 256:
            run_peak = np.maximum.accumulate(values, axis=0)
            np.maximum(run_peak, self.peak, out=run_peak)
        else:  # wide blocks: a row loop is faster than ufunc.accumulate along axis 0
            run_peak = np.empty_like(values)
            np.maximum(values[0], self.peak, out=run_peak[0])
            for k in range(1, values.shape[0]):
                np.maximum(run_peak[k - 1], values[k], out=run_peak[k])
        peak_last = run_peak[-1].copy()
        np.divide(values, run_peak, out=run_peak)  # value / running peak; drawdown = 1 - that
        np.maximum(self.max_dd, 1.0 - run_peak.min(axis=0), out=self.max_dd)
        self.peak = peak_last
        self.last = values[-1].copy()
        self.steps += values.shape[0]

    def finish(self, periods_per_year: float, risk_free: float = 0.0) -> dict[str, np.ndarray]:
        """Per-path metrics (see module docstring), arrays of shape ``(P,)``."""
        n = max(self.steps, 1)
        ppy = float(periods_per_year)
        years = n / ppy
        mean = self.sum_r / n
        var = np.maximum(self.sum_r2 - n * mean**2, 0.0) / max(n - 1, 1)
        vol = np.sqrt(var * ppy)
        mean_a = self.sum_a / n
        var_a = np.maximum(self.sum_a2 - n * mean_a**2, 0.0) / max(n - 1, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            growth = np.where(self.last > 0, self.last / self.initial_value, 0.0)
            ann = growth ** (1.0 / years) - 1.0
            sharpe = np.where(vol > 0, (mean * ppy - risk_free) / vol, np.nan)
        return {
            "final_value": self.last.copy(),
            "ann_return": ann,
            "ann_vol": vol,
            "sharpe": sharpe,
            "max_drawdown": self.max_dd.copy(),
            "tracking_error": np.sqrt(var_a * ppy),
            "turnover": self.turnover / years,
            "fees": self.fees.copy(),
            "impact": self.impact.copy(),
            "gas": self.gas.copy(),
            "costs": self.fees + self.impact + self.gas,
            "rebalances": self.rebalances.astype(float),
        }


def summarise(per_path: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Mean and percentiles (``PERCENTILES``) of every metric across paths (NaNs ignored)."""
    out: dict[str, dict[str, float]] = {}
    for key, arr in per_path.items():
        a = np.asarray(arr, dtype=float)
        if a.size == 1:  # one path: every statistic is the value itself
            v = float(a[0])
            out[key] = {"mean": v, **{f"p{p}": v for p in PERCENTILES}}
            continue
        finite = a[np.isfinite(a)]
        row: dict[str, float] = {"mean": float(finite.mean()) if finite.size else float("nan")}
        qs = np.percentile(finite, PERCENTILES) if finite.size else [float("nan")] * len(PERCENTILES)
        for p, q in zip(PERCENTILES, qs, strict=True):
            row[f"p{p}"] = float(q)
        out[key] = row
    return out
