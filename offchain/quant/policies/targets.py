"""The dynamic policy's link to the optimiser (part A): which objectives it takes and new targets
from trailing returns (``optimise_targets``). Part of ``offchain.quant.policies`` (re-exported there)."""

from __future__ import annotations

from typing import Any

import numpy as np

from offchain.core.errors import InputError


def _optimize_module() -> Any:
    try:
        import offchain.quant.optimize as opt  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - part A ships it
        raise InputError(
            f"the dynamic policy needs offchain.quant.optimize, which cannot be imported ({exc})"
        ) from exc
    return opt


_NEEDS_PARAMS = ("target-volatility", "target-return")


def objectives() -> tuple[str, ...]:
    """Objective names the dynamic policy accepts (part A's ``OBJECTIVES`` that need no extra target)."""
    return tuple(o for o in _optimize_module().OBJECTIVES if o not in _NEEDS_PARAMS)


def check_objective(objective: str) -> str:
    """Canonical objective name; ``InputError`` unless the optimiser knows it and it needs no target."""
    name = _optimize_module().normalise_objective(objective)
    if name in _NEEDS_PARAMS:
        raise InputError(
            f"objective {objective!r} needs a target; the dynamic policy takes {', '.join(objectives())}"
        )
    return name


def optimise_targets(returns: np.ndarray, objective: str, periods_per_year: float = 252.0) -> np.ndarray:
    """New targets (fractions) for histories ``returns`` ``(m, lookback, n)`` of simple daily returns.

    Annualised sample mean and sample covariance (ddof=1) -- ``offchain.quant.estimators``' ``"mean"`` and
    ``"sample"`` estimators, batched -- fed to ``offchain.quant.optimize.optimize_batch``. Rows the optimiser
    cannot solve come back as NaN (the engine then keeps the old targets).
    """
    r = np.asarray(returns, dtype=float)
    m, T, n = r.shape
    mu = r.mean(axis=1) * periods_per_year
    x = r - r.mean(axis=1, keepdims=True)
    cov = np.einsum("mti,mtj->mij", x, x) / max(T - 1, 1) * periods_per_year
    opt = _optimize_module()
    w = opt.optimize_batch(mu, cov, check_objective(objective), on_error="nan")
    return np.asarray(w, dtype=float)
