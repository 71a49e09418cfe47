"""Long-only mean-variance optimiser with its own batched QP solver (numpy only, no cvxpy).

Conventions
-----------
* Inputs are **annualised**: expected returns ``mu`` (fractions per year) and covariance ``cov``
  (annual variance), e.g. from ``offchain.quant.estimators``. ``risk_free_rate``, ``target_return`` and
  ``target_volatility`` are annual too.
* Weights are **fractions** summing to 1, long-only, with per-asset bounds ``lo <= w <= hi``
  (``0 <= lo <= hi <= 1``). Excluded assets (e.g. an ESG exclusion list) get ``hi = 0`` and are
  removed from the problem. ``to_bps`` converts fractions to the integer basis points the vault takes
  (sum exactly ``10_000``).

Objectives (``OBJECTIVES``), all subject to ``sum(w) == 1`` and the bounds:

* ``min-variance``       minimise ``w'Σw``
* ``max-sharpe``         maximise ``(mu'w - rf) / sqrt(w'Σw)``, solved as the QP
  ``min y'Σy  s.t. (mu - rf)'y = 1, sum(y) = k, lo*k <= y <= hi*k, k >= 0`` and ``w = y / k``
* ``target-volatility``  maximise ``mu'w`` subject to ``sqrt(w'Σw) <= target_volatility``
* ``target-return``      minimise ``w'Σw`` subject to ``mu'w >= target_return``
* ``quadratic-utility``  maximise ``mu'w - (δ/2) w'Σw`` with ``δ = risk_aversion``; equivalently the
  issue's ``min ½ w'Σw - λ mu'w`` with ``λ = 1/δ``

These are exactly PyPortfolioOpt 1.6.0's ``EfficientFrontier`` problems (``min_volatility``,
``max_sharpe``, ``efficient_risk``, ``efficient_return``, ``max_quadratic_utility``); the tests
check agreement to 1e-4 per weight.

Turnover / transaction-cost penalty (cost-aware targets): with ``current_weights`` ``w0`` and
``turnover_penalty`` ``c`` the term ``c * ||w - w0||_1`` is added to the objective being minimised,
in that objective's units, as PyPortfolioOpt's ``transaction_cost`` objective does: ``w'Σw + c|Δw|``
for min-variance and target-return, ``-(mu'w - c|Δw|)`` for target-volatility and quadratic utility
(``c`` is then the proportional cost per unit traded, e.g. 0.001 = 10 bps). Max-Sharpe is not
homogeneous under a turnover term, so with ``c > 0`` it solves the quadratic-utility problem on
excess returns at the tangency portfolio's own risk aversion ``δ* = (mu'w* - rf) / w*'Σw*``, which
reproduces the tangency portfolio exactly when ``c == 0`` and trades less as ``c`` grows.

Solver: a Mehrotra predictor-corrector primal-dual interior-point method for small dense convex QPs,
vectorised over a batch (``solve_qp``), followed by an active-set polish that solves the identified
KKT system exactly (weights typically within 1e-12 of the true optimum). ``optimize_batch`` is the
entry point for backtests that re-optimise thousands of times (~0.2-0.3 ms per 20-asset max-Sharpe
solve in batches; see ``bench/bench_optimize.py``); it is vectorised, not warm-started. Target
volatility is a root-find on the quadratic-utility path (10-15 QP solves, vectorised over the batch).
Infeasible or degenerate problems raise ``offchain.core.errors.OptimisationError`` with a plain message
before any solver runs (or give NaN rows with ``optimize_batch(..., on_error="nan")``).

Stable public API: ``optimize``, ``optimize_batch``, ``to_bps``, ``portfolio_performance``,
``resolve_bounds``, ``parse_bounds``, ``normalise_objective``, ``OBJECTIVES``, ``Portfolio``,
``solve_qp``.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from offchain.core.errors import InputError, OptimisationError
from offchain.core.lazy import LazyModule
from offchain.core.model import BPS

pd = LazyModule("pandas")

__all__ = [
    "OBJECTIVES",
    "Objective",
    "Portfolio",
    "QPSolution",
    "solve_qp",
    "optimize",
    "optimize_batch",
    "resolve_bounds",
    "parse_bounds",
    "to_bps",
    "portfolio_performance",
    "normalise_objective",
]

log = logging.getLogger(__name__)

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

BoundsLike = (
    tuple[float, float]
    | Mapping[str, tuple[float, float]]
    | tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]
    | np.ndarray
)

Arr = np.ndarray
_FEAS_TOL = 1e-9  # slack allowed when checking that bounds / targets are attainable
_CHUNK = 128  # problems per vectorised IPM pass (keeps the (B, n, n) work arrays in cache)


def normalise_objective(name: str) -> str:
    """Canonical objective name (accepts ``_`` for ``-`` and a few aliases); ``InputError`` if unknown."""
    key = str(name).strip().lower().replace("_", "-").replace(" ", "-")
    key = _ALIASES.get(key, key)
    if key not in OBJECTIVES:
        raise InputError(f"unknown objective {name!r}; choose one of {', '.join(OBJECTIVES)}")
    return key


# --------------------------------------------------------------------------------------------------
# Batched dense QP: min ½x'Px + q'x  s.t.  Ax = b,  Gx <= h
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QPSolution:
    """Result of ``solve_qp`` for a batch: ``x`` (B, n), ``converged`` (B,), ``iterations`` (B,)."""

    x: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray


def _bmv(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Batched matrix-vector product: (B, r, c) @ (B, c) -> (B, r)."""
    return (M @ v[..., None])[..., 0]


def _max_step(v: np.ndarray, dv: np.ndarray) -> np.ndarray:
    """Largest a in (0, 1] per row with v + a*dv >= 0 (v > 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(dv < 0, -v / dv, np.inf)
    return np.minimum(1.0, ratio.min(axis=1))


def _solve(M: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Batched ``M x = rhs``; a singular matrix only spoils its own row (NaN), not the whole batch."""
    try:
        return np.linalg.solve(M, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        out = np.full(rhs.shape, np.nan)
        for i in range(len(M)):
            with contextlib.suppress(np.linalg.LinAlgError):
                out[i] = np.linalg.solve(M[i], rhs[i])
        return out


def _newton(
    K: np.ndarray,
    G: np.ndarray,
    Gt: np.ndarray,
    s: np.ndarray,
    z: np.ndarray,
    W: np.ndarray,
    rd: np.ndarray,
    rp: np.ndarray,
    ri: np.ndarray,
    rc: np.ndarray,
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One Newton direction of the KKT system, with ``ds``/``dz`` eliminated (K is the reduced matrix)."""
    top = -rd - _bmv(Gt, (z * ri - rc) / s)
    sol = _solve(K, np.concatenate([top, -rp], axis=1))
    dx, dy = sol[:, :n], sol[:, n:]
    Gdx = _bmv(G, dx)
    ds = -ri - Gdx
    dz = (z * ri - rc) / s + W * Gdx
    return dx, dy, ds, dz


def solve_qp(
    P: np.ndarray,
    q: np.ndarray,
    A: np.ndarray,
    b: np.ndarray,
    G: np.ndarray,
    h: np.ndarray,
    *,
    tol: float = 1e-10,
    max_iter: int = 100,
    polish: bool = True,
) -> QPSolution:
    """Solve a batch of convex QPs ``min ½x'Px + q'x s.t. Ax = b, Gx <= h`` by a primal-dual
    interior-point method (Mehrotra predictor-corrector, infeasible start, CVXOPT-style initial point).

    Shapes: ``P`` (B, n, n) positive semidefinite, ``q`` (B, n), ``A`` (B, p, n) full row rank,
    ``b`` (B, p), ``G`` (B, m, n), ``h`` (B, m). Every problem in the batch has the same dimensions;
    the iteration is vectorised across the batch, and converged problems are frozen while the rest
    finish. Convergence: scaled primal/dual residuals and the mean complementarity ``s'z/m`` all below
    ``tol``. Problems must be feasible and bounded (callers check that first); ``converged`` is False
    where the iteration limit was hit.
    """
    P, q, A, b, G, h = (np.asarray(a, dtype=np.float64) for a in (P, q, A, b, G, h))
    B = q.shape[0]
    if B > _CHUNK:  # small batches stay in cache; large ones are solved chunk by chunk
        parts = [
            solve_qp(
                *(np.broadcast_to(a, (B, *a.shape[1:]))[i : i + _CHUNK] for a in (P, q, A, b, G, h)),
                tol=tol,
                max_iter=max_iter,
                polish=polish,
            )
            for i in range(0, B, _CHUNK)
        ]
        return QPSolution(
            x=np.concatenate([r.x for r in parts]),
            converged=np.concatenate([r.converged for r in parts]),
            iterations=np.concatenate([r.iterations for r in parts]),
        )
    B, n = q.shape
    p = b.shape[1]
    m = h.shape[1]
    At = A.transpose(0, 2, 1)
    Gt = G.transpose(0, 2, 1)
    N = n + p
    reg = 1e-13
    eye_n = np.eye(n)
    K = np.zeros((B, N, N))
    K[:, :n, n:] = At
    K[:, n:, :n] = A
    K[:, n:, n:] = -reg * np.eye(p)

    # Initial point: x minimising ½x'Px + q'x + ½||Gx - h||² on Ax = b; s, z shifted positive.
    K[:, :n, :n] = P + Gt @ G + reg * eye_n
    rhs = np.concatenate([-q + _bmv(Gt, h), b], axis=1)
    sol = _solve(K, rhs)
    x = sol[:, :n]
    y = sol[:, n:]
    s = h - _bmv(G, x)
    z = -s.copy()
    a_p = -s.min(axis=1)
    s = np.where((a_p >= 0)[:, None], s + (1.0 + a_p)[:, None], s)
    a_d = -z.min(axis=1)
    z = np.where((a_d >= 0)[:, None], z + (1.0 + a_d)[:, None], z)

    scale_p = 1.0 + np.maximum(np.abs(b).max(axis=1, initial=0.0), np.abs(h).max(axis=1, initial=0.0))
    scale_d = 1.0 + np.abs(q).max(axis=1, initial=0.0)
    done = np.zeros(B, dtype=bool)
    iters = np.zeros(B, dtype=np.int64)
    for it in range(max_iter):
        Px = _bmv(P, x)
        rd = Px + q + _bmv(At, y) + _bmv(Gt, z)
        rp = _bmv(A, x) - b
        ri = _bmv(G, x) + s - h
        mu = (s * z).sum(axis=1) / m
        pres = np.maximum(np.abs(rp).max(axis=1, initial=0.0), np.abs(ri).max(axis=1)) / scale_p
        dres = np.abs(rd).max(axis=1) / scale_d
        obj = 0.5 * (x * Px).sum(axis=1) + (q * x).sum(axis=1)
        ok = (pres < tol) & (dres < tol) & (mu < tol * (1.0 + np.abs(obj)))
        bad = ~np.all(np.isfinite(x), axis=1) | ~np.all(np.isfinite(s), axis=1)
        done |= ok | bad
        if done.all():
            break
        iters[~done] = it + 1
        W = z / s
        K[:, :n, :n] = P + Gt @ (W[..., None] * G) + reg * eye_n

        # predictor (affine scaling)
        dx, dy, ds, dz = _newton(K, G, Gt, s, z, W, rd, rp, ri, s * z, n)
        alpha = np.minimum(_max_step(s, ds), _max_step(z, dz))
        mu_aff = ((s + alpha[:, None] * ds) * (z + alpha[:, None] * dz)).sum(axis=1) / m
        sigma = np.clip(mu_aff / np.maximum(mu, 1e-300), 0.0, 1.0) ** 3
        # corrector (Mehrotra)
        dx, dy, ds, dz = _newton(K, G, Gt, s, z, W, rd, rp, ri, s * z + ds * dz - (sigma * mu)[:, None], n)
        alpha = np.minimum(1.0, 0.99 * np.minimum(_max_step(s, ds), _max_step(z, dz)))
        alpha = np.where(done, 0.0, alpha)[:, None]
        x = x + alpha * dx
        y = y + alpha * dy
        s = s + alpha * ds
        z = z + alpha * dz
    else:
        Px = _bmv(P, x)
        rd = Px + q + _bmv(At, y) + _bmv(Gt, z)
        rp = _bmv(A, x) - b
        ri = _bmv(G, x) + s - h
        pres = np.maximum(np.abs(rp).max(axis=1, initial=0.0), np.abs(ri).max(axis=1)) / scale_p
        dres = np.abs(rd).max(axis=1) / scale_d
        done = (pres < 1e3 * tol) & (dres < 1e3 * tol)
    converged = done & np.all(np.isfinite(x), axis=1)
    if polish and converged.any():
        x = _polish(P, q, A, b, G, h, x, s, z, converged, scale_p, scale_d)
    return QPSolution(x=x, converged=converged, iterations=iters)


def _polish(
    P: np.ndarray,
    q: np.ndarray,
    A: np.ndarray,
    b: np.ndarray,
    G: np.ndarray,
    h: np.ndarray,
    x: np.ndarray,
    s: np.ndarray,
    z: np.ndarray,
    ok: np.ndarray,
    scale_p: np.ndarray,
    scale_d: np.ndarray,
) -> np.ndarray:
    """Active-set polish: guess the active constraints from the IPM point (``s < z``), solve the
    equality-constrained KKT system exactly, and keep the result only where it is a valid KKT point
    (primal feasible, active multipliers >= 0) no worse than the IPM point. Removes the O(sqrt(mu))
    error an interior point keeps on degenerate (kinked) problems."""
    B, n = x.shape
    p, m = b.shape[1], h.shape[1]
    act = s < z
    N = n + p + m
    M = np.zeros((B, N, N))
    M[:, :n, :n] = P
    M[:, :n, n : n + p] = A.transpose(0, 2, 1)
    M[:, :n, n + p :] = G.transpose(0, 2, 1)
    M[:, n : n + p, :n] = A
    M[:, n + p :, :n] = np.where(act[..., None], G, 0.0)
    idx = np.arange(m)
    M[:, n + p + idx, n + p + idx] = np.where(act, 0.0, 1.0)
    # tiny quasi-definite regularisation keeps singular (degenerate) systems solvable
    diag = np.arange(N)
    M[:, diag[:n], diag[:n]] += 1e-14
    M[:, diag[n:], diag[n:]] -= np.where(np.concatenate([np.ones((B, p), bool), act], axis=1), 1e-14, 0.0)
    rhs = np.concatenate([-q, b, np.where(act, h, 0.0)], axis=1)
    sol = _solve(M, rhs)
    xp, zp = sol[:, :n], sol[:, n + p :]
    with np.errstate(invalid="ignore"):
        feas = (_bmv(G, xp) - h).max(axis=1) <= 1e-11 * scale_p
        feas &= np.abs(_bmv(A, xp) - b).max(axis=1, initial=0.0) <= 1e-11 * scale_p
        dual = np.where(act, zp, 0.0).min(axis=1) >= -1e-11 * scale_d
        stat = (
            np.abs(
                _bmv(P, xp)
                + q
                + _bmv(A.transpose(0, 2, 1), sol[:, n : n + p])
                + _bmv(G.transpose(0, 2, 1), zp)
            ).max(axis=1)
            <= 1e-9 * scale_d
        )
        f_ipm = 0.5 * np.einsum("bi,bij,bj->b", x, P, x) + (q * x).sum(axis=1)
        f_pol = 0.5 * np.einsum("bi,bij,bj->b", xp, P, xp) + (q * xp).sum(axis=1)
        better = f_pol <= f_ipm + 1e-12 * (1.0 + np.abs(f_ipm))
    take = ok & feas & dual & stat & better & np.all(np.isfinite(xp), axis=1)
    return np.where(take[:, None], xp, x)


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
    res = solve_qp(*qp)
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


# --------------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------------


def _as_batch(value: Any, B: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(B, float(arr))
    if arr.shape != (B,):
        raise InputError(f"{name} must be a number or one value per problem (shape ({B},)), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} must be finite, got {value!r}")
    return arr


def resolve_bounds(bounds: BoundsLike | None, assets: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per-asset ``(lo, hi)`` arrays from ``bounds``: ``(lo, hi)`` for every asset; a mapping
    ``{asset: (lo, hi)}`` (key ``"*"`` sets the default, others default to ``(0, 1)``); a pair of
    arrays; or an ``(n, 2)`` array. ``None`` means ``(0, 1)``. Checks ``0 <= lo <= hi``; clips
    ``hi`` to 1. Raises ``InputError`` for malformed bounds (not for infeasible ones: that is
    ``OptimisationError``, raised by the optimiser).
    """
    names = [str(a) for a in assets]
    n = len(names)
    lo = np.zeros(n)
    hi = np.ones(n)
    if bounds is None:
        return lo, hi
    if isinstance(bounds, Mapping):
        default = bounds.get("*")
        if default is not None:
            lo[:], hi[:] = _pair(default, "default bounds")
        unknown = [k for k in bounds if k != "*" and str(k) not in names]
        if unknown:
            raise InputError(f"bounds name unknown asset(s) {unknown[:5]}; known assets: {', '.join(names)}")
        for key, pair in bounds.items():
            if key == "*":
                continue
            i = names.index(str(key))
            lo[i], hi[i] = _pair(pair, f"bounds for {key}")
    else:
        arr = np.asarray(bounds, dtype=object)
        if arr.shape == (2,) and all(np.ndim(v) == 0 for v in arr):
            lo[:], hi[:] = _pair(tuple(bounds), "bounds")  # type: ignore[arg-type]
        else:
            try:
                arr = np.asarray(bounds, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise InputError(f"bounds must be numbers, got {bounds!r}") from exc
            if arr.shape == (2, n):
                lo[:], hi[:] = arr[0], arr[1]
            elif arr.shape == (n, 2):
                lo[:], hi[:] = arr[:, 0], arr[:, 1]
            else:
                raise InputError(
                    f"bounds must be (lo, hi), a mapping, or shape (2, {n})/({n}, 2); got {arr.shape}"
                )
    _check_bounds(lo, hi, names)
    return lo, np.minimum(hi, 1.0)


def _pair(value: Any, what: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be a pair (lo, hi) of numbers, got {value!r}") from exc
    return lo, hi


def _check_bounds(lo: np.ndarray, hi: np.ndarray, names: Sequence[str]) -> None:
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise InputError("bounds must be finite numbers")
    neg = np.flatnonzero(lo < 0)
    if neg.size:
        raise InputError(
            f"lower bound {lo[neg[0]]:g} for {names[neg[0]]} is negative; the vault is long-only, use lo >= 0"
        )
    inv = np.flatnonzero(lo > hi)
    if inv.size:
        i = inv[0]
        raise InputError(f"bounds for {names[i]} are inverted (lo {lo[i]:g} > hi {hi[i]:g}); use lo <= hi")


def parse_bounds(text: str, assets: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Parse CLI bounds: ``"0:0.4"`` for every asset, ``"AAPL=0:0.3,MSFT=0.05:0.2"`` per asset, or both
    (``"0:0.25,AAPL=0:0.4"``: a bare ``lo:hi`` sets the default). Either side may be empty
    (``":0.3"`` = ``0:0.3``, ``"0.05:"`` = ``0.05:1``). Raises ``InputError`` for malformed text."""
    spec: dict[str, tuple[float, float]] = {}
    for raw in str(text).split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, rng = item.rpartition("=")
        key = name.strip() if sep else "*"
        if sep and not key:
            raise InputError(f"bounds item {item!r} has no asset name before '='; use NAME=lo:hi")
        lo_s, colon, hi_s = rng.partition(":")
        if not colon:
            raise InputError(f"bounds item {item!r} is not lo:hi; write e.g. 0:0.4 or AAPL=0:0.3")
        try:
            lo = float(lo_s) if lo_s.strip() else 0.0
            hi = float(hi_s) if hi_s.strip() else 1.0
        except ValueError as exc:
            raise InputError(f"bounds item {item!r}: lo and hi must be numbers (e.g. 0:0.4)") from exc
        if key in spec:
            raise InputError(f"bounds for {key!r} given twice; give each asset once")
        spec[key] = (lo, hi)
    if not spec:
        raise InputError("empty bounds; write e.g. 0:0.4 or AAPL=0:0.3,MSFT=0:0.2")
    return resolve_bounds(spec, assets)


def _culprits(S: np.ndarray, names: Sequence[str] | None) -> str:
    """Name what makes a covariance singular: constant assets, perfectly correlated pairs."""
    k = S.shape[0]
    names = list(names) if names is not None else [f"asset {i}" for i in range(k)]
    d = np.diag(S).copy()
    scale = max(float(d.max()), 1e-300)
    const = [names[i] for i in np.flatnonzero(d <= 1e-14 * scale)]
    if const:
        return f": constant (zero-variance) price series {', '.join(const[:5])}"
    sd = np.sqrt(d)
    corr = S / np.outer(sd, sd)
    iu = np.argwhere(np.triu(np.abs(corr) >= 1 - 1e-9, k=1))
    if len(iu):
        pairs = [f"{names[a]}~{names[b]}" for a, b in iu[:3]]
        return f": perfectly correlated (duplicate) assets {', '.join(pairs)}"
    return ": collinear assets, or fewer observations than assets"


def _check_batch(
    mu: np.ndarray,
    S: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    fixed_lo: np.ndarray,
    obj: str,
    rf: np.ndarray,
    target: np.ndarray | None,
    labels: Sequence[str],
    names: Sequence[str] | None = None,
) -> list[str | None]:
    """Vectorised feasibility/degeneracy checks for a group of reduced problems (same free assets).

    Returns one entry per problem: ``None`` if it can be solved, else a message saying what is wrong
    and what to do. ``labels`` prefix each message (e.g. ``"problem 7: "``; empty for single solves).
    """
    Bg, k = mu.shape
    msgs: list[str | None] = [None] * Bg

    def flag(mask: np.ndarray, make: Any) -> None:
        for j in np.flatnonzero(mask):
            if msgs[j] is None:
                msgs[j] = labels[j] + make(j)

    finite = np.all(np.isfinite(mu), axis=1) & np.all(np.isfinite(S), axis=(1, 2))
    flag(~finite, lambda j: "expected returns or covariance contain NaN/infinity; check the price data")
    if fixed_lo.size:
        flag(
            np.any(fixed_lo > 0, axis=1),
            lambda j: "an excluded asset has a positive lower bound; drop its minimum weight",
        )
    lo_sum, hi_sum = lo.sum(axis=1), hi.sum(axis=1)
    flag(
        lo_sum > 1.0 + _FEAS_TOL,
        lambda j: (
            f"bounds are infeasible: the lower bounds sum to {lo_sum[j]:.4g} > 1; lower some minimum weights"
        ),
    )
    flag(
        hi_sum < 1.0 - _FEAS_TOL,
        lambda j: (
            f"bounds are infeasible: the upper bounds of the allowed assets sum to {hi_sum[j]:.4g} < 1; "
            f"raise some maximum weights or exclude fewer assets"
        ),
    )
    Sf = np.where(finite[:, None, None], S, np.eye(k))
    asym = np.abs(Sf - Sf.transpose(0, 2, 1)).max(axis=(1, 2)) > 1e-8 * np.abs(Sf).max(axis=(1, 2)) + 1e-12
    flag(asym, lambda j: "covariance matrix is not symmetric; check the estimator output")
    eig = np.linalg.eigvalsh(0.5 * (Sf + Sf.transpose(0, 2, 1)))
    singular = (eig[:, -1] <= 0) | (eig[:, 0] <= 1e-10 * eig[:, -1])
    flag(
        singular,
        lambda j: (
            f"covariance matrix of the {k} allowed assets is singular or not positive definite "
            f"(eigenvalues {eig[j, 0]:.3g} .. {eig[j, -1]:.3g}){_culprits(Sf[j], names)}; "
            f"use --cov ledoit-wolf, a longer history, or drop/exclude assets"
        ),
    )
    if obj in ("max-sharpe", "target-return"):
        mu_f = np.where(finite[:, None], mu, 0.0)
        lo_c = np.where((lo_sum <= 1.0 + _FEAS_TOL)[:, None], lo, 0.0)
        top = np.einsum("bi,bi->b", mu_f, _max_return(mu_f, lo_c, hi))
        if obj == "max-sharpe":
            flag(
                top - rf <= 1e-12,
                lambda j: (
                    f"no allowed portfolio has an expected return above the risk-free rate {rf[j]:.4g} "
                    f"(best achievable {top[j]:.4g}); max-sharpe is undefined. Lower the risk-free rate "
                    f"or use min-variance"
                ),
            )
        elif target is not None:
            flag(
                target > top + _FEAS_TOL,
                lambda j: (
                    f"target return {target[j]:.4g} is above the highest achievable expected return "
                    f"{top[j]:.4g} under these bounds; lower the target"
                ),
            )
    return msgs


def _free_groups(hi: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Group problems by their set of allowed assets (hi > 0): [(problem indices, asset mask)]."""
    free = hi > 0
    patterns, inverse = np.unique(free, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    return [(np.flatnonzero(inverse == g), patterns[g]) for g in range(len(patterns))]


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


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

    if isinstance(bounds, tuple) and len(bounds) == 2 and np.ndim(bounds[0]) == 2:
        lo = np.asarray(bounds[0], dtype=np.float64)
        hi = np.asarray(bounds[1], dtype=np.float64)
        if lo.shape != (B, n) or hi.shape != (B, n):
            raise InputError(f"per-problem bounds must be two ({B}, {n}) arrays")
        for r in range(B):
            _check_bounds(lo[r], hi[r], names)
        hi = np.minimum(hi, 1.0)
    else:
        lo1, hi1 = resolve_bounds(bounds, names)
        lo, hi = np.broadcast_to(lo1, (B, n)).copy(), np.broadcast_to(hi1, (B, n)).copy()
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

    out = np.full((B, n), np.nan)
    errors: dict[int, str] = {}
    for idx, free in _free_groups(hi):
        if not free.any():
            for i in idx:
                errors[int(i)] = (
                    "every asset is excluded or has an upper bound of 0; allow at least one asset"
                )
            continue
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
            rf[idx],
            None if target is None else target[idx],
            labels,
            [nm for nm, f in zip(names, free, strict=True) if f],
        )
        good = [j for j, msg in enumerate(msgs) if msg is None]
        for j, msg in enumerate(msgs):
            if msg is not None:
                errors[int(idx[j])] = msg
        if not good:
            continue
        g = np.asarray(good)
        gi = idx[g]
        m_, S_, lo_, hi_ = m_[g], S_[g], lo_[g], hi_[g]
        w0_ = None if w0 is None else w0[np.ix_(gi, free)]
        c_ = cost[gi] if use_cost else None
        w0q = w0_ if use_cost else None
        if obj == "min-variance":
            w = _min_variance(S_, lo_, hi_, w0q, c_)
        elif obj == "quadratic-utility":
            w = _utility(m_, S_, lo_, hi_, delta[gi], w0q, c_)
        elif obj == "target-return":
            t_ = target[gi]
            top = np.einsum("bi,bi->b", m_, _max_return(m_, lo_, hi_))
            at_top = t_ >= top - 1e-10
            w = np.empty_like(m_)
            if at_top.any():
                w[at_top] = _max_return(m_[at_top], lo_[at_top], hi_[at_top])
            if (~at_top).any():
                sel = ~at_top
                w[sel] = _target_return(
                    m_[sel],
                    S_[sel],
                    lo_[sel],
                    hi_[sel],
                    t_[sel],
                    None if w0q is None else w0q[sel],
                    None if c_ is None else c_[sel],
                )
        elif obj == "target-volatility":
            t_ = target[gi]
            w_min = _min_variance(S_, lo_, hi_, None, None)
            vmin = np.sqrt(_quad(w_min, S_))
            low = t_ < vmin * (1 - 1e-9)
            for j in np.flatnonzero(low):
                tag = f"problem {gi[j]}: " if B > 1 else ""
                errors[int(gi[j])] = (
                    f"{tag}target volatility {t_[j]:.4g} is below the "
                    f"minimum achievable volatility {vmin[j]:.4g} under these bounds; raise the target"
                )
            ok = ~low
            w = np.full_like(m_, np.nan)
            if ok.any():
                w[ok] = _target_volatility(
                    m_[ok],
                    S_[ok],
                    lo_[ok],
                    hi_[ok],
                    t_[ok],
                    None if w0q is None else w0q[ok],
                    None if c_ is None else c_[ok],
                )
        else:  # max-sharpe
            w = _max_sharpe(m_, S_, lo_, hi_, rf[gi])
            if use_cost:
                excess = m_ - rf[gi][:, None]
                d_star = np.einsum("bi,bi->b", excess, w) / _quad(w, S_)
                w = _utility(excess, S_, lo_, hi_, d_star, w0q, c_, what="max-sharpe (cost-aware)")
        w = _snap(w, lo_, hi_)
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
    if errors:
        first = min(errors)
        if on_error == "raise":
            raise OptimisationError(errors[first])
        log.warning("%d of %d problems infeasible/degenerate; first: %s", len(errors), B, errors[first])
    return out


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
    lo, hi = resolve_bounds(bounds, names)
    excluded = [str(e).strip() for e in exclude if str(e).strip()]
    unknown = [e for e in excluded if e not in names]
    if unknown:
        raise InputError(
            f"cannot exclude unknown asset(s) {', '.join(unknown)}; known assets: {', '.join(names)}"
        )
    for e in excluded:
        i = names.index(e)
        if lo[i] > 0:
            raise InputError(f"{e} is excluded but has a minimum weight {lo[i]:g}; drop one or the other")
        hi[i] = 0.0
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


def to_bps(
    weights: Sequence[float] | np.ndarray,
    lower: Sequence[float] | np.ndarray | None = None,
    upper: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """Fractions -> integer basis points summing to exactly ``10_000`` (largest-remainder rounding).

    Each weight is floored to whole bps, then the missing bps go one each to the largest remainders
    (ties: lower index first). With ``lower``/``upper`` fraction bounds the result stays within
    ``[ceil(lo*1e4), floor(hi*1e4)]`` wherever that is possible (a bps bound range can be empty, e.g.
    ``lo = hi = 0.12345``; such assets are rounded as close as possible). Accepts ``(n,)`` or
    ``(B, n)``; returns ``int64`` of the same shape. ``InputError`` for negative/NaN weights or weights
    not summing to 1 (within 1e-6).
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 2:
        lo2 = np.broadcast_to(np.asarray(lower if lower is not None else 0.0, dtype=np.float64), w.shape)
        hi2 = np.broadcast_to(np.asarray(upper if upper is not None else 1.0, dtype=np.float64), w.shape)
        return (
            np.stack([to_bps(w[i], lo2[i], hi2[i]) for i in range(w.shape[0])])
            if len(w)
            else w.astype(np.int64)
        )
    if w.ndim != 1 or w.size == 0:
        raise InputError(f"weights must be a non-empty 1-D vector, got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < -1e-9):
        raise InputError("weights must be finite and non-negative to convert to basis points")
    if abs(w.sum() - 1.0) > 1e-6:
        raise InputError(f"weights sum to {w.sum():.8g}, not 1; cannot convert to basis points")
    w = np.clip(w, 0.0, None)
    w = w / w.sum()
    n = w.size
    lo_b = np.zeros(n, dtype=np.int64)
    hi_b = np.full(n, BPS, dtype=np.int64)
    if lower is not None:
        lo_b = np.ceil(np.round(np.asarray(lower, dtype=np.float64) * BPS, 6)).astype(np.int64)
    if upper is not None:
        hi_b = np.floor(np.round(np.asarray(upper, dtype=np.float64) * BPS, 6)).astype(np.int64)
    scaled = np.round(w * BPS, 6)  # kill float fuzz like 2999.9999999997
    base = np.floor(scaled).astype(np.int64)
    rem = scaled - base
    within = lo_b <= hi_b
    if within.all() and lo_b.sum() <= BPS <= hi_b.sum():
        base = np.where(within, np.clip(base, lo_b, hi_b), base)
        cap_up, cap_dn = hi_b, lo_b
    else:
        cap_up, cap_dn = np.full(n, BPS, dtype=np.int64), np.zeros(n, dtype=np.int64)
    gap = int(BPS - base.sum())
    if gap > 0:
        order = np.lexsort((np.arange(n), -rem))  # largest remainder first, ties by index
        while gap > 0:
            moved = False
            for i in order:
                if gap == 0:
                    break
                if base[i] < cap_up[i]:
                    base[i] += 1
                    gap -= 1
                    moved = True
            if not moved:
                break
    elif gap < 0:
        order = np.lexsort((np.arange(n), rem))  # smallest remainder first
        while gap < 0:
            moved = False
            for i in order:
                if gap == 0:
                    break
                if base[i] > cap_dn[i]:
                    base[i] -= 1
                    gap += 1
                    moved = True
            if not moved:
                break
    if int(base.sum()) != BPS:  # bounds made it impossible: fall back to plain largest remainder
        log.warning("basis-point rounding could not respect the bounds; rounding without them")
        return to_bps(w)
    return base
