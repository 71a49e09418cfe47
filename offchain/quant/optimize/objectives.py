"""Objectives of ``offchain.quant.optimize``: their names (``OBJECTIVES``, ``normalise_objective``) and
how each is set up as batched QPs over the free assets and solved (``solve_objective``).

See the package docstring for the problems themselves and the turnover-penalty convention.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np

from offchain.core.errors import InputError

log = logging.getLogger("offchain.quant.optimize")

Objective = Literal["min-variance", "max-sharpe", "target-volatility", "target-return", "quadratic-utility"]
OBJECTIVES: tuple[str, ...] = (
    "min-variance",
    "max-sharpe",
    "target-volatility",
    "target-return",
    "quadratic-utility",
)
_ALIASES = {
    "min-vol": "min-variance",
    "min-volatility": "min-variance",
    "minimum-variance": "min-variance",
    "max-sharpe-ratio": "max-sharpe",
    "tangency": "max-sharpe",
    "target-vol": "target-volatility",
    "efficient-risk": "target-volatility",
    "efficient-return": "target-return",
    "utility": "quadratic-utility",
    "max-quadratic-utility": "quadratic-utility",
}

Arr = np.ndarray


def normalise_objective(name: str) -> str:
    """Canonical objective name (accepts ``_`` for ``-`` and a few aliases); ``InputError`` if unknown."""
    key = str(name).strip().lower().replace("_", "-").replace(" ", "-")
    key = _ALIASES.get(key, key)
    if key not in OBJECTIVES:
        raise InputError(f"unknown objective {name!r}; choose one of {', '.join(OBJECTIVES)}")
    return key


def solve_objective(
    obj: str,
    mu: Arr,
    S: Arr,
    lo: Arr,
    hi: Arr,
    *,
    rf: Arr,
    delta: Arr,
    target: Arr | None,
    w0: Arr | None,
    cost: Arr | None,
    labels: list[str],
) -> tuple[Arr, dict[int, str]]:
    """Weights ``(B, k)`` for a group of checked problems reduced to their free assets, and messages
    (by row, prefixed with ``labels``) for rows found infeasible only while solving. ``w0``/``cost``
    ``None``: no turnover term. Rows that did not converge are NaN."""
    if obj == "min-variance":
        return _min_variance(S, lo, hi, w0, cost), {}
    if obj == "quadratic-utility":
        return _utility(mu, S, lo, hi, delta, w0, cost), {}
    if obj == "target-return":
        assert target is not None
        return _target_return_or_top(mu, S, lo, hi, target, w0, cost), {}
    if obj == "target-volatility":
        assert target is not None
        return _attainable_target_volatility(mu, S, lo, hi, target, w0, cost, labels)
    return _max_sharpe_cost_aware(mu, S, lo, hi, rf, w0, cost), {}


def _target_return_or_top(
    mu: Arr, S: Arr, lo: Arr, hi: Arr, target: Arr, w0: Arr | None, cost: Arr | None
) -> Arr:
    """``_target_return``, except that a target at the highest achievable return takes that LP corner."""
    top = np.einsum("bi,bi->b", mu, _max_return(mu, lo, hi))
    at_top = target >= top - 1e-10
    w = np.empty_like(mu)
    if at_top.any():
        w[at_top] = _max_return(mu[at_top], lo[at_top], hi[at_top])
    if (~at_top).any():
        sel = ~at_top
        w[sel] = _target_return(
            mu[sel],
            S[sel],
            lo[sel],
            hi[sel],
            target[sel],
            None if w0 is None else w0[sel],
            None if cost is None else cost[sel],
        )
    return w


def _attainable_target_volatility(
    mu: Arr, S: Arr, lo: Arr, hi: Arr, target: Arr, w0: Arr | None, cost: Arr | None, labels: list[str]
) -> tuple[Arr, dict[int, str]]:
    """``_target_volatility`` for rows whose target is at least the minimum volatility; the others
    are NaN, with a message each."""
    w_min = _min_variance(S, lo, hi, None, None)
    vmin = np.sqrt(_quad(w_min, S))
    low = target < vmin * (1 - 1e-9)
    errors = {
        int(j): (
            f"{labels[j]}target volatility {target[j]:.4g} is below the "
            f"minimum achievable volatility {vmin[j]:.4g} under these bounds; raise the target"
        )
        for j in np.flatnonzero(low)
    }
    ok = ~low
    w = np.full_like(mu, np.nan)
    if ok.any():
        w[ok] = _target_volatility(
            mu[ok],
            S[ok],
            lo[ok],
            hi[ok],
            target[ok],
            None if w0 is None else w0[ok],
            None if cost is None else cost[ok],
        )
    return w, errors


def _max_sharpe_cost_aware(
    mu: Arr, S: Arr, lo: Arr, hi: Arr, rf: Arr, w0: Arr | None, cost: Arr | None
) -> Arr:
    """The tangency portfolio; with a turnover cost, the quadratic utility on excess returns at the
    tangency portfolio's own risk aversion ``δ* = (mu'w* - rf) / w*'Σw*``."""
    w = _max_sharpe(mu, S, lo, hi, rf)
    if cost is not None:
        excess = mu - rf[:, None]
        d_star = np.einsum("bi,bi->b", excess, w) / _quad(w, S)
        w = _utility(excess, S, lo, hi, d_star, w0, cost, what="max-sharpe (cost-aware)")
    return w


# --------------------------------------------------------------------------------------------------
# Problem builders (batched, reduced to the free assets)
# --------------------------------------------------------------------------------------------------


def _weight_qp(
    P: np.ndarray,
    q: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    w0: np.ndarray | None = None,
    cost: np.ndarray | None = None,
    extra_G: np.ndarray | None = None,
    extra_h: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """QP over weights ``w`` (plus turnover variables ``u >= |w - w0|`` when ``cost`` is given)."""
    B, k = q.shape
    eye = np.broadcast_to(np.eye(k), (B, k, k))
    rows_G = [eye, -eye]
    rows_h = [hi, -lo]
    if extra_G is not None and extra_h is not None:
        rows_G.append(extra_G)
        rows_h.append(extra_h)
    if cost is None or w0 is None:
        G = np.concatenate(rows_G, axis=1)
        h = np.concatenate(rows_h, axis=1)
        A = np.ones((B, 1, k))
        return P, q, A, np.ones((B, 1)), G, h
    n = 2 * k
    PP = np.zeros((B, n, n))
    PP[:, :k, :k] = P
    qq = np.concatenate([q, np.broadcast_to(cost[:, None], (B, k))], axis=1)
    zero = np.zeros((B, k, k))
    G_w = np.concatenate([np.concatenate([g, np.zeros((B, g.shape[1], k))], axis=2) for g in rows_G], axis=1)
    G_u = np.concatenate(
        [np.concatenate([eye, -eye], axis=2), np.concatenate([-eye, -eye], axis=2)],
        axis=1,
    )
    del zero
    G = np.concatenate([G_w, G_u], axis=1)
    h = np.concatenate([*rows_h, w0, -w0], axis=1)
    A = np.concatenate([np.ones((B, 1, k)), np.zeros((B, 1, k))], axis=2)
    return PP, qq, A, np.ones((B, 1)), G, h


def _run(qp: tuple[np.ndarray, ...], k: int, what: str) -> np.ndarray:
    """Solve, return the first ``k`` variables; rows that did not converge come back as NaN."""
    # ``solve_qp`` is looked up on the package at call time, so ``offchain.quant.optimize.solve_qp``
    # stays the one name to replace (the tests patch it to simulate a non-converging row).
    import offchain.quant.optimize as package  # noqa: PLC0415

    res = package.solve_qp(*qp)
    x = res.x[:, :k].copy()
    if not res.converged.all():
        log.debug("%s: %d of %d problem(s) did not converge", what, int((~res.converged).sum()), len(x))
        x[~res.converged] = np.nan
    log.debug("%s: %d problem(s), max %d IPM iterations", what, len(x), int(res.iterations.max(initial=0)))
    return x


def _max_return(mu: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The LP ``max mu'w s.t. sum(w) = 1, lo <= w <= hi`` solved greedily; returns w (B, k)."""
    order = np.argsort(-mu, axis=1, kind="stable")
    cap = np.take_along_axis(hi - lo, order, axis=1)
    left = (1.0 - lo.sum(axis=1))[:, None]
    before = np.cumsum(cap, axis=1) - cap
    take = np.clip(left - before, 0.0, cap)
    w = lo.copy()
    np.put_along_axis(w, order, np.take_along_axis(w, order, axis=1) + take, axis=1)
    return w


def _quad(w: np.ndarray, S: np.ndarray) -> np.ndarray:
    return np.einsum("bi,bij,bj->b", w, S, w)


def _min_variance(S: Arr, lo: Arr, hi: Arr, w0: Arr | None, cost: Arr | None) -> Arr:
    """min w'Σw (+ cost·|w - w0|)."""
    qp = _weight_qp(2.0 * S, np.zeros(lo.shape), lo, hi, w0=w0, cost=cost)
    return _run(qp, lo.shape[1], "min-variance")


def _utility(
    mu: Arr,
    S: Arr,
    lo: Arr,
    hi: Arr,
    delta: Arr,
    w0: Arr | None,
    cost: Arr | None,
    what: str = "quadratic-utility",
) -> Arr:
    """max mu'w - δ/2 w'Σw (- cost·|w - w0|)."""
    qp = _weight_qp(delta[:, None, None] * S, -mu, lo, hi, w0=w0, cost=cost)
    return _run(qp, lo.shape[1], what)


def _max_sharpe(mu: Arr, S: Arr, lo: Arr, hi: Arr, rf: Arr) -> Arr:
    """Tangency portfolio via y = w/κ: min y'Σy s.t. (mu - rf)'y = 1, sum(y) = κ, lo·κ <= y <= hi·κ."""
    B, k = mu.shape
    n = k + 1
    P = np.zeros((B, n, n))
    P[:, :k, :k] = 2.0 * S
    A = np.zeros((B, 2, n))
    A[:, 0, :k] = mu - rf[:, None]
    A[:, 1, :k] = 1.0
    A[:, 1, k] = -1.0
    b = np.zeros((B, 2))
    b[:, 0] = 1.0
    eye = np.broadcast_to(np.eye(k), (B, k, k))
    G = np.zeros((B, 2 * k + 1, n))
    G[:, :k, :k] = eye
    G[:, :k, k] = -hi
    G[:, k : 2 * k, :k] = -eye
    G[:, k : 2 * k, k] = lo
    G[:, 2 * k, k] = -1.0
    h = np.zeros((B, 2 * k + 1))
    x = _run((P, np.zeros((B, n)), A, b, G, h), n, "max-sharpe")
    y, kappa = x[:, :k], x[:, k]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((kappa > 0)[:, None], y / kappa[:, None], np.nan)


def _target_return(mu: Arr, S: Arr, lo: Arr, hi: Arr, target: Arr, w0: Arr | None, cost: Arr | None) -> Arr:
    """min w'Σw (+ cost·|w - w0|) s.t. mu'w >= target."""
    qp = _weight_qp(
        2.0 * S,
        np.zeros(mu.shape),
        lo,
        hi,
        w0=w0,
        cost=cost,
        extra_G=-mu[:, None, :],
        extra_h=-target[:, None],
    )
    return _run(qp, lo.shape[1], "target-return")


def _target_volatility(
    mu: Arr, S: Arr, lo: Arr, hi: Arr, target: Arr, w0: Arr | None, cost: Arr | None
) -> Arr:
    """max mu'w - c|w - w0| s.t. w'Σw <= target²: root-find on t in min ½w'Σw - t(mu'w - c|w - w0|)."""
    B, k = mu.shape
    var_target = target**2
    tcost = None if cost is None else cost

    def solve_at(t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        c = None if tcost is None else t * tcost[idx]
        qp = _weight_qp(
            S[idx], -t[:, None] * mu[idx], lo[idx], hi[idx], w0=None if w0 is None else w0[idx], cost=c
        )
        return _run(qp, k, "target-volatility")

    w_lo = _min_variance(S, lo, hi, None, None)
    f_lo = _quad(w_lo, S) - var_target
    # Bracket: grow t until the variance reaches the target (or the max-return corner is inside it).
    t_lo = np.zeros(B)
    t_hi = np.ones(B)
    w_hi = np.empty_like(w_lo)
    f_hi = np.empty(B)
    todo = np.arange(B)
    for _ in range(12):
        w = solve_at(t_hi[todo], todo)
        w_hi[todo] = w
        f_hi[todo] = _quad(w, S[todo]) - var_target[todo]
        grow = todo[f_hi[todo] < 0]
        if grow.size == 0:
            break
        t_lo[grow] = t_hi[grow]
        w_lo[grow] = w_hi[grow]
        f_lo[grow] = f_hi[grow]
        t_hi[grow] *= 10.0
        todo = grow
    slack = f_hi < 0  # even the (near) max-return portfolio is within the volatility budget
    out = np.where(slack[:, None], w_hi, 0.0)
    if cost is None and slack.any():
        lp = _max_return(mu[slack], lo[slack], hi[slack])
        ok = _quad(lp, S[slack]) <= var_target[slack] * (1 + 1e-12)
        out[slack] = np.where(ok[:, None], lp, w_hi[slack])
    # Illinois (modified regula falsi) on f(t) = var(w(t)) - target², monotone non-decreasing in t.
    active = np.flatnonzero(~slack)
    side = np.zeros(B, dtype=np.int8)
    w_best = w_hi.copy()
    f_best = f_hi.copy()
    for _ in range(100):
        if active.size == 0:
            break
        fl, fh = f_lo[active], f_hi[active]
        tl, th = t_lo[active], t_hi[active]
        denom = fh - fl
        t_new = np.where(denom > 0, th - fh * (th - tl) / np.where(denom > 0, denom, 1.0), 0.5 * (tl + th))
        t_new = np.clip(t_new, tl + 1e-3 * (th - tl), th - 1e-3 * (th - tl))
        w = solve_at(t_new, active)
        f = _quad(w, S[active]) - var_target[active]
        w_best[active] = w
        f_best[active] = f
        up = f < 0
        a_up, a_dn = active[up], active[~up]
        t_lo[a_up], f_lo[a_up] = t_new[up], f[up]
        t_hi[a_dn], f_hi[a_dn] = t_new[~up], f[~up]
        # Illinois: halve the stale end's f when the same side moves twice.
        f_hi[a_up[side[a_up] == 1]] *= 0.5
        f_lo[a_dn[side[a_dn] == -1]] *= 0.5
        side[a_up], side[a_dn] = 1, -1
        vol_err = np.abs(np.sqrt(np.maximum(f + var_target[active], 0.0)) - target[active])
        width = (t_hi[active] - t_lo[active]) / np.maximum(t_hi[active], 1e-300)
        active = active[(vol_err > 1e-10) & (width > 1e-14)]
    out[~slack] = w_best[~slack]
    return out
