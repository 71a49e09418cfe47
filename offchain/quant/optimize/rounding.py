"""Fractions -> the vault's integer basis points (``to_bps``), for ``offchain.quant.optimize``."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from offchain.core.errors import InputError
from offchain.core.model import BPS

log = logging.getLogger("offchain.quant.optimize")


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
