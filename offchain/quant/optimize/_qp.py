"""Batched dense QP solver: ``min ½x'Px + q'x  s.t.  Ax = b,  Gx <= h`` (numpy only).

A Mehrotra predictor-corrector primal-dual interior-point method vectorised over a batch
(``solve_qp``), followed by an active-set polish that solves the identified KKT system exactly.
Part of ``offchain.quant.optimize`` (re-exported there).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

_CHUNK = 128  # problems per vectorised IPM pass (keeps the (B, n, n) work arrays in cache)
_REG = 1e-13  # quasi-definite regularisation of the reduced KKT matrix


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
    if q.shape[0] > _CHUNK:  # small batches stay in cache; large ones are solved chunk by chunk
        return _solve_in_chunks((P, q, A, b, G, h), tol=tol, max_iter=max_iter, polish=polish)
    scale_p = 1.0 + np.maximum(np.abs(b).max(axis=1, initial=0.0), np.abs(h).max(axis=1, initial=0.0))
    scale_d = 1.0 + np.abs(q).max(axis=1, initial=0.0)
    x, s, z, iters, done = _interior_point(P, q, A, b, G, h, scale_p, scale_d, tol, max_iter)
    converged = done & np.all(np.isfinite(x), axis=1)
    if polish and converged.any():
        x = _polish(P, q, A, b, G, h, x, s, z, converged, scale_p, scale_d)
    return QPSolution(x=x, converged=converged, iterations=iters)


def _solve_in_chunks(qp: tuple[np.ndarray, ...], *, tol: float, max_iter: int, polish: bool) -> QPSolution:
    """``solve_qp`` on consecutive slices of ``_CHUNK`` problems, results concatenated."""
    B = qp[1].shape[0]
    parts = [
        solve_qp(
            *(np.broadcast_to(a, (B, *a.shape[1:]))[i : i + _CHUNK] for a in qp),
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


def _kkt_matrix(A: np.ndarray, B: int, n: int) -> np.ndarray:
    """The reduced KKT matrix ``[[·, A'], [A, -reg·I]]``; its ``(n, n)`` block is set per iteration."""
    p = A.shape[1]
    N = n + p
    K = np.zeros((B, N, N))
    K[:, :n, n:] = A.transpose(0, 2, 1)
    K[:, n:, :n] = A
    K[:, n:, n:] = -_REG * np.eye(p)
    return K


def _initial_point(
    P: np.ndarray, q: np.ndarray, b: np.ndarray, G: np.ndarray, h: np.ndarray, K: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x minimising ½x'Px + q'x + ½||Gx - h||² on Ax = b; s, z shifted positive (CVXOPT's start)."""
    n = q.shape[1]
    Gt = G.transpose(0, 2, 1)
    K[:, :n, :n] = P + Gt @ G + _REG * np.eye(n)
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
    return x, y, s, z


def _residuals(
    P: np.ndarray,
    q: np.ndarray,
    A: np.ndarray,
    b: np.ndarray,
    G: np.ndarray,
    h: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    s: np.ndarray,
    z: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(Px, dual residual, equality residual, inequality residual)`` at the iterate."""
    Px = _bmv(P, x)
    rd = Px + q + _bmv(A.transpose(0, 2, 1), y) + _bmv(G.transpose(0, 2, 1), z)
    rp = _bmv(A, x) - b
    ri = _bmv(G, x) + s - h
    return Px, rd, rp, ri


def _residual_norms(
    rd: np.ndarray, rp: np.ndarray, ri: np.ndarray, scale_p: np.ndarray, scale_d: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Scaled max-norms of the primal (equality and inequality) and dual residuals, per problem."""
    pres = np.maximum(np.abs(rp).max(axis=1, initial=0.0), np.abs(ri).max(axis=1)) / scale_p
    dres = np.abs(rd).max(axis=1) / scale_d
    return pres, dres


def _interior_point(
    P: np.ndarray,
    q: np.ndarray,
    A: np.ndarray,
    b: np.ndarray,
    G: np.ndarray,
    h: np.ndarray,
    scale_p: np.ndarray,
    scale_d: np.ndarray,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The IPM iteration from the initial point; returns ``(x, s, z, iterations, done)``."""
    B, n = q.shape
    m = h.shape[1]
    K = _kkt_matrix(A, B, n)
    x, y, s, z = _initial_point(P, q, b, G, h, K)
    done = np.zeros(B, dtype=bool)
    iters = np.zeros(B, dtype=np.int64)
    for it in range(max_iter):
        Px, rd, rp, ri = _residuals(P, q, A, b, G, h, x, y, s, z)
        mu = (s * z).sum(axis=1) / m
        pres, dres = _residual_norms(rd, rp, ri, scale_p, scale_d)
        obj = 0.5 * (x * Px).sum(axis=1) + (q * x).sum(axis=1)
        ok = (pres < tol) & (dres < tol) & (mu < tol * (1.0 + np.abs(obj)))
        bad = ~np.all(np.isfinite(x), axis=1) | ~np.all(np.isfinite(s), axis=1)
        done |= ok | bad
        if done.all():
            break
        iters[~done] = it + 1
        x, y, s, z = _mehrotra_step(K, P, G, x, y, s, z, rd, rp, ri, mu, done)
    else:  # iteration limit: accept the rows whose residuals are within 1e3 * tol
        _, rd, rp, ri = _residuals(P, q, A, b, G, h, x, y, s, z)
        pres, dres = _residual_norms(rd, rp, ri, scale_p, scale_d)
        done = (pres < 1e3 * tol) & (dres < 1e3 * tol)
    return x, s, z, iters, done


def _mehrotra_step(
    K: np.ndarray,
    P: np.ndarray,
    G: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    s: np.ndarray,
    z: np.ndarray,
    rd: np.ndarray,
    rp: np.ndarray,
    ri: np.ndarray,
    mu: np.ndarray,
    done: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One predictor-corrector step (rows in ``done`` stay put); returns the new ``(x, y, s, z)``."""
    n, m = x.shape[1], s.shape[1]
    Gt = G.transpose(0, 2, 1)
    W = z / s
    K[:, :n, :n] = P + Gt @ (W[..., None] * G) + _REG * np.eye(n)

    # predictor (affine scaling)
    dx, dy, ds, dz = _newton(K, G, Gt, s, z, W, rd, rp, ri, s * z, n)
    alpha = np.minimum(_max_step(s, ds), _max_step(z, dz))
    mu_aff = ((s + alpha[:, None] * ds) * (z + alpha[:, None] * dz)).sum(axis=1) / m
    sigma = np.clip(mu_aff / np.maximum(mu, 1e-300), 0.0, 1.0) ** 3
    # corrector (Mehrotra)
    dx, dy, ds, dz = _newton(K, G, Gt, s, z, W, rd, rp, ri, s * z + ds * dz - (sigma * mu)[:, None], n)
    alpha = np.minimum(1.0, 0.99 * np.minimum(_max_step(s, ds), _max_step(z, dz)))
    alpha = np.where(done, 0.0, alpha)[:, None]
    return x + alpha * dx, y + alpha * dy, s + alpha * ds, z + alpha * dz


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
