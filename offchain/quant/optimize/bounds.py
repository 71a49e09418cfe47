"""Per-asset weight bounds for ``offchain.quant.optimize``: ``resolve_bounds`` (Python values) and
``parse_bounds`` (CLI text), both giving ``(lo, hi)`` fraction arrays."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from offchain.core.errors import InputError

BoundsLike = (
    tuple[float, float]
    | Mapping[str, tuple[float, float]]
    | tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]
    | np.ndarray
)


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


def resolve_batch_bounds(
    bounds: BoundsLike | None, B: int, names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """``(B, n)`` bounds for a batch: a pair of ``(B, n)`` arrays (per-problem bounds, each row checked
    like ``resolve_bounds``), or anything ``resolve_bounds`` takes, shared by every problem."""
    n = len(names)
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
    return lo, hi


def apply_exclusions(lo: np.ndarray, hi: np.ndarray, exclude: Iterable[str], names: Sequence[str]) -> None:
    """Set ``hi = 0`` (in place) for each excluded asset; ``InputError`` for an unknown name or an
    excluded asset with a minimum weight."""
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
