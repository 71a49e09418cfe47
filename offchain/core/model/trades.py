"""Trade rules (I8): oracle-implied output, the slippage bound, the sell and buy rooms, and the
records of one trade (planned, or as the vault saw it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from offchain.core.model.params import BPS


def oracle_out(amount_in: int, price_in: int, dec_in: int, price_out: int, dec_out: int) -> int:
    """Oracle-implied output of selling ``amount_in`` (token units), rounded down."""
    return amount_in * price_in * 10**dec_out // (price_out * 10**dec_in)


def min_acceptable_out(expected_out: int, max_slippage_bps: int) -> int:
    """Least output the vault accepts: expected less the slippage bound, rounded *up* (vault's favour)."""
    num = expected_out * (BPS - max_slippage_bps)
    return -(-num // BPS)


def trade_rooms(
    values: Sequence[int], targets_bps: Sequence[int], tolerance_bps: int
) -> tuple[list[int], int, int]:
    """The vault's I8 caps before a rebalance: ``(room, over, under)``, exactly as ``rebalance``.

    With V the vault's value and ``tol = tolerance_bps``: asset i may be sold (bit i of ``over``)
    when ``value_i * 10_000 > (target_i + tol) * V``, down to that line: ``room = value_i -
    ceil((target_i + tol) * V / 10_000)``. It may be bought (``under``) when ``value_i * 10_000 <
    target_i * V``, up to ``tol`` past target: ``room = floor(target_i * V / 10_000) - value_i +
    floor(V * tol / 10_000)``. Otherwise neither, room 0. (A buy's overshoot is never sellable.)
    """
    total = sum(values)
    tol = total * tolerance_bps // BPS
    room, over, under = [0] * len(values), 0, 0
    for i, (v, t) in enumerate(zip(values, targets_bps, strict=True)):
        tv = t * total
        sell_line = tv + tolerance_bps * total
        if v * BPS > sell_line:
            over |= 1 << i
            room[i] = v - -(-sell_line // BPS)
        elif v * BPS < tv:
            under |= 1 << i
            room[i] = tv // BPS - v + tol
    return room, over, under


@dataclass(frozen=True)
class PlannedTrade:
    """One swap the keeper (or the simulator) would ask the vault to make."""

    sell: int  # asset index
    buy: int  # asset index
    amount_in: int  # sell-token units
    expected_out: int  # oracle-implied buy-token units, rounded down
    value: int  # 1e18 quote units sold


@dataclass(frozen=True)
class SwapResult:
    """One trade as the vault saw it: asset indices, the keeper's bound and what the router paid."""

    sell: int
    buy: int
    amount_in: int
    min_amount_out: int
    received: int
