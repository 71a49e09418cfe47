"""Feasibility and degeneracy checks run before any solver in ``offchain.quant.optimize``: each bad
problem gets a plain message saying what is wrong and what to do."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from offchain.quant.optimize.objectives import _max_return

_FEAS_TOL = 1e-9  # slack allowed when checking that bounds / targets are attainable

Flag = Callable[[np.ndarray, Callable[[int], str]], None]  # flag(mask, message for row j)


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
    The first failed check names the problem; they run in the order data, bounds, covariance, returns.
    """
    msgs: list[str | None] = [None] * mu.shape[0]

    def flag(mask: np.ndarray, make: Callable[[int], str]) -> None:
        for j in np.flatnonzero(mask):
            if msgs[j] is None:
                msgs[j] = labels[j] + make(j)

    finite = np.all(np.isfinite(mu), axis=1) & np.all(np.isfinite(S), axis=(1, 2))
    flag(~finite, lambda j: "expected returns or covariance contain NaN/infinity; check the price data")
    lo_sum = _flag_bounds(flag, lo, hi, fixed_lo)
    _flag_covariance(flag, S, finite, names)
    if obj in ("max-sharpe", "target-return"):
        _flag_returns(flag, mu, finite, lo, hi, lo_sum, obj, rf, target)
    return msgs


def _flag_bounds(flag: Flag, lo: np.ndarray, hi: np.ndarray, fixed_lo: np.ndarray) -> np.ndarray:
    """Bounds that cannot sum to 1 (or an excluded asset with a minimum weight); returns ``sum(lo)``."""
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
    return lo_sum


def _flag_covariance(flag: Flag, S: np.ndarray, finite: np.ndarray, names: Sequence[str] | None) -> None:
    """Asymmetric, singular or indefinite covariance matrices (non-finite ones are already flagged)."""
    k = S.shape[1]
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


def _flag_returns(
    flag: Flag,
    mu: np.ndarray,
    finite: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    lo_sum: np.ndarray,
    obj: str,
    rf: np.ndarray,
    target: np.ndarray | None,
) -> None:
    """Max-Sharpe with nothing above the risk-free rate; a target return above the best achievable."""
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
