"""Values, weights, drift and the trigger rule, in the vault's integer arithmetic."""

from __future__ import annotations

from collections.abc import Sequence

from offchain.core.model.params import (
    BPS,
    BPS_TO_WAD,
    DEFAULT_PARAMS,
    REASON_CALENDAR,
    REASON_NONE,
    REASON_THRESHOLD,
    WAD,
    Params,
)


def asset_values(balances: Sequence[int], prices: Sequence[int], decimals: Sequence[int]) -> list[int]:
    """Per-asset value in 1e18 quote units, each rounded down."""
    return [b * p // 10**d for b, p, d in zip(balances, prices, decimals, strict=True)]


def weights_wad(values: Sequence[int]) -> list[int]:
    """Weights as WAD fractions, rounded down; all zero for an empty vault."""
    total = sum(values)
    if total == 0:
        return [0] * len(values)
    return [v * WAD // total for v in values]


def weights_bps(values: Sequence[int]) -> list[int]:
    """Weights in bps, rounded down (they may sum to slightly less than 10_000)."""
    total = sum(values)
    if total == 0:
        return [0] * len(values)
    return [v * BPS // total for v in values]


def drift_wad(weights: Sequence[int], targets_bps: Sequence[int]) -> int:
    """max_i |w_i - t_i| with ``weights`` in WAD; 0 when the vault is empty."""
    if not any(weights):
        return 0
    return max(abs(w - t * BPS_TO_WAD) for w, t in zip(weights, targets_bps, strict=True))


def drift_bps(values: Sequence[int], targets_bps: Sequence[int]) -> int:
    """Drift in bps (rounded down) from per-asset values, as ``drift()`` returns it."""
    return drift_wad(weights_wad(values), targets_bps) // BPS_TO_WAD


def trigger(drift_w: int, now: int, last_rebalance: int, params: Params = DEFAULT_PARAMS) -> int:
    """The vault's trigger rule (reason code) for a WAD drift at time ``now``.

    Never within ``cooldown`` of the last rebalance; THRESHOLD when drift >= threshold;
    CALENDAR when ``rebalance_period`` has passed and drift >= ``min_drift_bps``.
    ``last_rebalance`` is the deployment time before the first rebalance.
    """
    if now < last_rebalance + params.cooldown:
        return REASON_NONE
    if drift_w >= params.drift_threshold_bps * BPS_TO_WAD:
        return REASON_THRESHOLD
    if now >= last_rebalance + params.rebalance_period and drift_w >= params.min_drift_bps * BPS_TO_WAD:
        return REASON_CALENDAR
    return REASON_NONE
