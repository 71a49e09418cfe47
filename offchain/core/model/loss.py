"""The loss budget (I9): its unit, its linear drain, what a rebalance charges and the room left."""

from __future__ import annotations

from offchain.core.model.params import BPS

LOSS_ONE = 10**15  # the loss budget's unit: 1e-15 of vault value
BPS_TO_LOSS = LOSS_ONE // BPS  # one bps in LOSS_ONE units == 1e11


def loss_used_now(stored_used: int, last_rebalance: int, now: int, budget_bps: int, window: int) -> int:
    """The loss budget in use at ``now`` (``LOSS_ONE`` units): the use stored at the last rebalance,
    drained linearly by ``budget / window`` per second since, the drain rounded down."""
    drain = (now - last_rebalance) * budget_bps * BPS_TO_LOSS // window
    return stored_used - min(stored_used, drain)


def loss_charge(value_before: int, value_after: int) -> int:
    """What one rebalance charges to the budget (``LOSS_ONE`` units): its loss against the oracle as a
    fraction of the value before, rounded up; 0 when value did not fall."""
    if value_after >= value_before:
        return 0
    return -(-(value_before - value_after) * LOSS_ONE // value_before)


def loss_room_value(used_now: int, budget_bps: int, value: int) -> int:
    """The largest loss (1e18 quote units) a rebalance of a vault worth ``value`` may still make."""
    left = budget_bps * BPS_TO_LOSS - used_now
    return max(0, left) * value // LOSS_ONE


def loss_stored(used_now: int, last_rebalance: int, now: int, budget_bps: int, window: int) -> int:
    """A stored use equivalent to the vault's, from the use ``loss_budget_used()`` reported at ``now``:
    ``loss_used_now(loss_stored(u, ...), last, t, ...) == loss_used_now(stored, last, t, ...)`` for every
    ``t >= now`` (exact when ``u > 0``; when ``u == 0`` any stored use drained to 0 stays 0)."""
    return used_now + (now - last_rebalance) * budget_bps * BPS_TO_LOSS // window
