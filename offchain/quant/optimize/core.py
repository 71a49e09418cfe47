"""Entry points of ``offchain.quant.optimize``: ``optimize`` (one portfolio, named assets) and
``optimize_batch`` (``B`` problems in one vectorised pass), with ``Portfolio`` and
``portfolio_performance``. Everything here is re-exported by the package."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from offchain.core.errors import InputError, OptimisationError
from offchain.core.lazy import LazyModule
from offchain.quant.optimize.bounds import BoundsLike, apply_exclusions, resolve_batch_bounds, resolve_bounds
from offchain.quant.optimize.feasibility import _check_batch
from offchain.quant.optimize.objectives import normalise_objective, solve_objective
from offchain.quant.optimize.rounding import to_bps

pd = LazyModule("pandas")

log = logging.getLogger("offchain.quant.optimize")


@dataclass(frozen=True)
class Portfolio:
    """An optimised portfolio: weights as fractions and as vault basis points, plus its annual stats.

    ``weights`` (float fractions, sum 1) and ``bps`` (ints, sum exactly 10_000) are Series indexed by
    asset, excluded assets included at 0. ``expected_return``, ``volatility`` and ``sharpe`` are
    annualised, computed from the fractional weights. ``turnover`` is ``sum|w - w0|`` (None without
    current weights).
    """

    weights: pd.Series
    bps: pd.Series
    expected_return: float
    volatility: float
    sharpe: float
    risk_free_rate: float
    objective: str
    turnover: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (plain floats/ints)."""
        return {
            "objective": self.objective,
            "weights": {k: float(v) for k, v in self.weights.items()},
            "bps": {k: int(v) for k, v in self.bps.items()},
            "expected_return": self.expected_return,
            "volatility": self.volatility,
            "sharpe": self.sharpe,
            "risk_free_rate": self.risk_free_rate,
            "turnover": self.turnover,
        }


def portfolio_performance(
    weights: np.ndarray, mu: np.ndarray, cov: np.ndarray, risk_free_rate: float = 0.0
) -> tuple[float, float, float]:
    """``(expected return, volatility, Sharpe)`` of fractional weights, all annualised."""
    w = np.asarray(weights, dtype=np.float64)
    ret = float(w @ np.asarray(mu, dtype=np.float64))
    vol = math.sqrt(max(float(w @ np.asarray(cov, dtype=np.float64) @ w), 0.0))
    sharpe = (ret - risk_free_rate) / vol if vol > 0 else float("nan")
    return ret, vol, sharpe


def optimize(
    mu: pd.Series | Sequence[float] | np.ndarray,
    cov: pd.DataFrame | np.ndarray,
    objective: str = "max-sharpe",
    *,
    bounds: BoundsLike | None = None,
    exclude: Iterable[str] = (),
    risk_free_rate: float = 0.0,
    target_volatility: float | None = None,
    target_return: float | None = None,
    risk_aversion: float = 1.0,
    current_weights: Mapping[str, float] | Sequence[float] | np.ndarray | None = None,
    turnover_penalty: float = 0.0,
    assets: Sequence[str] | None = None,
) -> Portfolio:
    """Optimise one portfolio. ``mu``/``cov`` are annualised (pandas objects carry the asset names;
    otherwise pass ``assets``). ``bounds``: see ``resolve_bounds``. ``exclude``: asset names forced to
    0. ``current_weights``: fractions or bps (validated by ``offchain.quant.data.validate_weights``), used
    with ``turnover_penalty``. Returns a ``Portfolio`` whose ``bps`` respect the bounds where possible.

    Raises ``InputError`` for malformed arguments and ``OptimisationError`` for infeasible or
    degenerate problems (no asset beats the risk-free rate, singular covariance, bounds that cannot
    sum to 1, unattainable targets).
    """
    from offchain.quant.data import validate_weights

    obj = normalise_objective(objective)
    names, mu_arr, S = _named_inputs(mu, cov, assets)
    lo, hi = resolve_bounds(bounds, names)
    apply_exclusions(lo, hi, exclude, names)
    w0 = None
    if current_weights is not None:
        w0 = validate_weights(current_weights, names)
    w = optimize_batch(
        mu_arr[None],
        S[None],
        obj,
        bounds=(lo[None], hi[None]),
        risk_free_rate=risk_free_rate,
        target_volatility=target_volatility,
        target_return=target_return,
        risk_aversion=risk_aversion,
        current_weights=None if w0 is None else w0[None],
        turnover_penalty=turnover_penalty,
        assets=names,
    )[0]
    ret, vol, sharpe = portfolio_performance(w, mu_arr, S, risk_free_rate)
    bps = to_bps(w, lo, hi)
    return Portfolio(
        weights=pd.Series(w, index=names, name="weight"),
        bps=pd.Series(bps, index=names, name="bps"),
        expected_return=ret,
        volatility=vol,
        sharpe=sharpe,
        risk_free_rate=float(risk_free_rate),
        objective=obj,
        turnover=None if w0 is None else float(np.abs(w - w0).sum()),
    )


def _named_inputs(
    mu: pd.Series | Sequence[float] | np.ndarray, cov: pd.DataFrame | np.ndarray, assets: Sequence[str] | None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(asset names, mu (n,), cov (n, n))``; a covariance DataFrame is reordered to ``mu``'s names."""
    if isinstance(mu, pd.Series):
        names = [str(a) for a in mu.index]
        mu_arr = mu.to_numpy(dtype=np.float64)
    else:
        mu_arr = np.asarray(mu, dtype=np.float64).ravel()
        names = [str(a) for a in assets] if assets is not None else [f"asset{i}" for i in range(mu_arr.size)]
    if isinstance(cov, pd.DataFrame):
        cnames = [str(a) for a in cov.columns]
        if cnames != names:
            if sorted(cnames) != sorted(names):
                raise InputError(
                    "expected returns and covariance name different assets; estimate both from one table"
                )
            cov = cov.loc[names, names]
        S = cov.to_numpy(dtype=np.float64)
    else:
        S = np.asarray(cov, dtype=np.float64)
    n = len(names)
    if mu_arr.shape != (n,) or S.shape != (n, n):
        raise InputError(f"expected returns shape {mu_arr.shape} and covariance shape {S.shape} do not match")
    return names, mu_arr, S


def optimize_batch(
    mu: np.ndarray,
    cov: np.ndarray,
    objective: str = "max-sharpe",
    *,
    bounds: BoundsLike | None = None,
    risk_free_rate: float | np.ndarray = 0.0,
    target_volatility: float | np.ndarray | None = None,
    target_return: float | np.ndarray | None = None,
    risk_aversion: float | np.ndarray = 1.0,
    current_weights: np.ndarray | None = None,
    turnover_penalty: float | np.ndarray = 0.0,
    assets: Sequence[str] | None = None,
    on_error: Literal["raise", "nan"] = "raise",
) -> np.ndarray:
    """Solve ``B`` problems of the same universe in one vectorised pass; return weights ``(B, n)``.

    ``mu``: ``(B, n)`` annual expected returns; ``cov``: ``(B, n, n)`` annual covariances (a single
    ``(n,)`` / ``(n, n)`` is broadcast). ``bounds``: anything ``resolve_bounds`` takes (shared), or a
    pair of ``(B, n)`` arrays ``(lo, hi)`` for per-problem bounds; ``hi == 0`` excludes an asset.
    Scalar parameters may also be ``(B,)`` arrays. ``current_weights``: ``(B, n)`` or ``(n,)``
    fractions. Returned rows are fractions summing to 1 (use ``to_bps`` for the vault).

    ``on_error="raise"`` (default) raises ``OptimisationError`` naming the first bad problem;
    ``"nan"`` returns a NaN row for each infeasible/degenerate problem instead (logged as a warning).
    """
    obj = normalise_objective(objective)
    mu, cov, names = _batch_inputs(mu, cov, assets)
    B, n = mu.shape
    lo, hi = resolve_batch_bounds(bounds, B, names)
    prm = _batch_params(
        obj,
        B,
        n,
        risk_free_rate=risk_free_rate,
        target_volatility=target_volatility,
        target_return=target_return,
        risk_aversion=risk_aversion,
        current_weights=current_weights,
        turnover_penalty=turnover_penalty,
    )
    out = np.full((B, n), np.nan)
    errors: dict[int, str] = {}
    for idx, free in _free_groups(hi):
        _solve_group(obj, idx, free, mu, cov, lo, hi, prm, names, out, errors)
    if errors:
        first = min(errors)
        if on_error == "raise":
            raise OptimisationError(errors[first])
        log.warning("%d of %d problems infeasible/degenerate; first: %s", len(errors), B, errors[first])
    return out


@dataclass(frozen=True)
class _BatchParams:
    """``optimize_batch``'s scalar-or-per-problem parameters, validated, as ``(B,)`` arrays."""

    rf: np.ndarray
    delta: np.ndarray
    cost: np.ndarray
    w0: np.ndarray | None  # (B, n) current weights
    use_cost: bool  # a turnover term applies (current weights given and some cost > 0)
    target: np.ndarray | None  # target volatility or return, for those objectives


def _batch_inputs(
    mu: np.ndarray, cov: np.ndarray, assets: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``mu`` broadcast to ``(B, n)``, ``cov`` to ``(B, n, n)``, and the asset names; ``InputError``
    for shapes that do not match."""
    mu = np.asarray(mu, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    if mu.ndim == 1:
        mu = mu[None, :]
    if cov.ndim == 2:
        cov = cov[None]
    if mu.ndim != 2 or cov.ndim != 3:
        raise InputError(
            f"expected returns must be (B, n) and covariances (B, n, n); got {mu.shape}, {cov.shape}"
        )
    B, n = max(mu.shape[0], cov.shape[0]), mu.shape[1]
    if mu.shape[0] not in (1, B) or cov.shape not in ((1, n, n), (B, n, n)):
        raise InputError(f"covariance shape {cov.shape} does not match expected returns shape {mu.shape}")
    mu = np.broadcast_to(mu, (B, n))
    cov = np.broadcast_to(cov, (B, n, n))
    names = [str(a) for a in assets] if assets is not None else [f"asset {i}" for i in range(n)]
    if len(names) != n:
        raise InputError(f"{len(names)} asset names for {n} assets")
    if n == 0:
        raise InputError("no assets to optimise")
    return mu, cov, names


def _batch_params(
    obj: str,
    B: int,
    n: int,
    *,
    risk_free_rate: float | np.ndarray,
    target_volatility: float | np.ndarray | None,
    target_return: float | np.ndarray | None,
    risk_aversion: float | np.ndarray,
    current_weights: np.ndarray | None,
    turnover_penalty: float | np.ndarray,
) -> _BatchParams:
    """Validate the numeric parameters (and that the objective's target is given)."""
    rf = _as_batch(risk_free_rate, B, "risk_free_rate")
    delta = _as_batch(risk_aversion, B, "risk_aversion")
    cost = _as_batch(turnover_penalty, B, "turnover_penalty")
    if np.any(cost < 0):
        raise InputError("turnover_penalty must be >= 0")
    w0 = None
    if current_weights is not None:
        w0 = np.asarray(current_weights, dtype=np.float64)
        w0 = np.broadcast_to(w0, (B, n)).copy() if w0.ndim == 1 else w0
        if w0.shape != (B, n) or not np.all(np.isfinite(w0)):
            raise InputError(f"current weights must be finite with shape ({n},) or ({B}, {n})")
    use_cost = w0 is not None and bool(np.any(cost > 0))
    target = None
    if obj == "target-volatility":
        if target_volatility is None:
            raise InputError("objective target-volatility needs a target volatility (e.g. --target-vol 0.15)")
        target = _as_batch(target_volatility, B, "target_volatility")
        if np.any(target <= 0):
            raise InputError("target volatility must be > 0 (annualised, e.g. 0.15 for 15 %)")
    elif obj == "target-return":
        if target_return is None:
            raise InputError("objective target-return needs a target return (e.g. --target-return 0.10)")
        target = _as_batch(target_return, B, "target_return")
    elif obj == "quadratic-utility" and np.any(delta <= 0):
        raise InputError("risk aversion must be > 0")

    return _BatchParams(rf=rf, delta=delta, cost=cost, w0=w0, use_cost=use_cost, target=target)


def _solve_group(
    obj: str,
    idx: np.ndarray,
    free: np.ndarray,
    mu: np.ndarray,
    cov: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    prm: _BatchParams,
    names: Sequence[str],
    out: np.ndarray,
    errors: dict[int, str],
) -> None:
    """Check and solve problems ``idx``, which share the allowed assets ``free``: weights into the
    rows of ``out``, a message per failed problem into ``errors``."""
    B = out.shape[0]
    if not free.any():
        for i in idx:
            errors[int(i)] = "every asset is excluded or has an upper bound of 0; allow at least one asset"
        return
    m_, S_ = mu[np.ix_(idx, free)], cov[np.ix_(idx, free, free)]
    lo_, hi_ = lo[np.ix_(idx, free)], hi[np.ix_(idx, free)]
    labels = [f"problem {i}: " if B > 1 else "" for i in idx]
    msgs = _check_batch(
        m_,
        S_,
        lo_,
        hi_,
        lo[np.ix_(idx, ~free)],
        obj,
        prm.rf[idx],
        None if prm.target is None else prm.target[idx],
        labels,
        [nm for nm, f in zip(names, free, strict=True) if f],
    )
    good = [j for j, msg in enumerate(msgs) if msg is None]
    for j, msg in enumerate(msgs):
        if msg is not None:
            errors[int(idx[j])] = msg
    if not good:
        return
    g = np.asarray(good)
    gi = idx[g]
    m_, S_, lo_, hi_ = m_[g], S_[g], lo_[g], hi_[g]
    w, late = solve_objective(
        obj,
        m_,
        S_,
        lo_,
        hi_,
        rf=prm.rf[gi],
        delta=prm.delta[gi],
        target=None if prm.target is None else prm.target[gi],
        w0=prm.w0[np.ix_(gi, free)] if prm.use_cost and prm.w0 is not None else None,
        cost=prm.cost[gi] if prm.use_cost else None,
        labels=[labels[j] for j in good],
    )
    for j, msg in late.items():
        errors[int(gi[j])] = msg
    _store_group(_snap(w, lo_, hi_), obj, gi, free, out, errors)


def _store_group(
    w: np.ndarray, obj: str, gi: np.ndarray, free: np.ndarray, out: np.ndarray, errors: dict[int, str]
) -> None:
    """Scatter solved rows ``w`` (free assets only) into rows ``gi`` of ``out``; a row that is not
    finite gets a did-not-converge message unless it already has one."""
    B, n = out.shape
    full = np.zeros((len(gi), n))
    full[:, free] = w
    keep = np.all(np.isfinite(w), axis=1)
    out[gi[keep]] = full[keep]
    for i in gi[~keep]:
        tag = f"problem {i}: " if B > 1 else ""
        errors.setdefault(
            int(i),
            f"{tag}the {obj} solver did not converge; the inputs are "
            f"probably ill-conditioned (try the ledoit-wolf covariance or wider bounds)",
        )


def _as_batch(value: Any, B: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(B, float(arr))
    if arr.shape != (B,):
        raise InputError(f"{name} must be a number or one value per problem (shape ({B},)), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} must be finite, got {value!r}")
    return arr


def _snap(w: np.ndarray, lo: np.ndarray, hi: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    """Put weights within ``eps`` of a bound exactly on it (solver fuzz), then restore ``sum == 1`` by
    rescaling the interior weights only, so bound-pinned weights stay exactly on their bounds."""
    w = np.clip(w, lo, hi)
    w = np.where(w - lo < eps, lo, np.where(hi - w < eps, hi, w))
    interior = (w > lo) & (w < hi)
    inner = np.where(interior, w, 0.0).sum(axis=1)
    gap = 1.0 - w.sum(axis=1)
    fixable = (inner > 0) & (np.abs(gap) < 1e-6)
    scale = np.where(fixable, 1.0 + gap / np.where(inner > 0, inner, 1.0), 1.0)
    w = np.where(interior, w * scale[:, None], w)
    return w / w.sum(axis=1, keepdims=True)


def _free_groups(hi: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Group problems by their set of allowed assets (hi > 0): [(problem indices, asset mask)]."""
    free = hi > 0
    patterns, inverse = np.unique(free, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    return [(np.flatnonzero(inverse == g), patterns[g]) for g in range(len(patterns))]
