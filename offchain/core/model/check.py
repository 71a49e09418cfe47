"""The whole rebalance as the vault checks it (I1-I9): ``check_rebalance`` and ``check_trades``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from offchain.core.model.drift import asset_values, drift_wad, trigger, weights_wad
from offchain.core.model.feeds import FEED_OK, FEED_REVERT_REASONS
from offchain.core.model.loss import BPS_TO_LOSS, loss_charge, loss_used_now
from offchain.core.model.params import BPS, BPS_TO_WAD, REASON_NONE
from offchain.core.model.state import VaultModel
from offchain.core.model.trades import PlannedTrade, SwapResult, min_acceptable_out, oracle_out, trade_rooms


@dataclass(frozen=True)
class RebalanceCheck:
    """Outcome of ``check_rebalance``: ``reason`` is the vault's revert string, or ``None`` if it passes."""

    reason: str | None
    reason_code: int = REASON_NONE
    value_before: int = 0
    value_after: int = 0
    drift_before: int = 0  # WAD
    drift_after: int = 0  # WAD
    sold_value: int = 0  # 1e18 quote units, each trade rounded down
    loss_used: int = 0  # LOSS_ONE units, after the rebalance (the value the vault stores)
    balances_after: tuple[int, ...] = ()


def check_rebalance(
    vault: VaultModel,
    swaps: Sequence[SwapResult],
    now: int,
    *,
    loss_used: int = 0,
) -> RebalanceCheck:
    """Every check of the vault's ``rebalance`` (I1, I3-I9), in the contract's order, on a model state.

    ``vault.prices`` must be usable (the caller checks I2 with ``feed_status``); ``loss_used`` is the
    budget use stored at ``vault.last_rebalance``. Keeper role and deadline are the caller's. The
    result says the first revert reason, or the values the vault would store and emit.
    """
    p = vault.params
    if vault.paused:
        return RebalanceCheck("vault: paused")
    if not swaps:
        return RebalanceCheck("vault: no trades")
    if now < vault.last_rebalance + p.cooldown:
        return RebalanceCheck("vault: cooldown")
    bal = list(vault.balances)
    values = asset_values(bal, vault.prices, vault.decimals)
    v0 = sum(values)
    w0 = weights_wad(values)
    d0 = drift_wad(w0, vault.targets_bps)
    code = trigger(d0, now, vault.last_rebalance, p)
    if code == REASON_NONE:
        return RebalanceCheck("vault: no trigger")
    room, over, under = trade_rooms(values, vault.targets_bps, p.tolerance_bps)
    cap = v0 * p.max_trade_bps // BPS
    applied = _apply_swaps(vault, swaps, bal, room, over, under, cap)
    if isinstance(applied, str):
        return RebalanceCheck(applied)
    sold, touched = applied
    values1 = asset_values(bal, vault.prices, vault.decimals)
    v1 = sum(values1)
    w1 = weights_wad(values1)
    d1 = drift_wad(w1, vault.targets_bps)
    moved = _weights_reason(w0, w1, vault.targets_bps, touched, p.tolerance_bps * BPS_TO_WAD)
    if moved is not None:
        return RebalanceCheck(moved)
    if d1 >= d0:
        return RebalanceCheck("vault: drift not reduced")
    if v1 + sold * p.max_slippage_bps // BPS < v0:
        return RebalanceCheck("vault: value loss")
    used = loss_used_now(loss_used, vault.last_rebalance, now, p.loss_budget_bps, p.loss_window)
    if v1 < v0:
        used += loss_charge(v0, v1)
        if used > p.loss_budget_bps * BPS_TO_LOSS:
            return RebalanceCheck("vault: loss budget")
    return RebalanceCheck(None, code, v0, v1, d0, d1, sold, used, tuple(bal))


def _apply_swaps(
    vault: VaultModel,
    swaps: Sequence[SwapResult],
    bal: list[int],
    room: list[int],
    over: int,
    under: int,
    cap: int,
) -> str | tuple[int, int]:
    """The vault's per-trade checks (I3-I8) in its order, applying each trade to ``bal`` and ``room``
    in place: the first revert reason, or ``(sold, touched)``: the value sold (each trade rounded
    down) and the bit mask of the assets sold or bought."""
    p = vault.params
    sold_up = sold = 0
    sold_mask = bought_mask = 0
    for t in swaps:
        s, b = t.sell, t.buy
        unit_s, unit_b = 10 ** vault.decimals[s], 10 ** vault.decimals[b]
        if s == b:
            return "vault: same asset"
        if (bought_mask >> s) & 1 or (sold_mask >> b) & 1:
            return "vault: round trip"
        if not (over >> s) & 1:
            return "vault: sell not overweight"
        if not (under >> b) & 1:
            return "vault: buy not underweight"
        if t.amount_in == 0:
            return "vault: zero amount"
        if t.amount_in > bal[s]:
            return "vault: exceeds holdings"
        expected = oracle_out(
            t.amount_in, vault.prices[s], vault.decimals[s], vault.prices[b], vault.decimals[b]
        )
        if expected == 0 or t.min_amount_out < min_acceptable_out(expected, p.max_slippage_bps):
            return "vault: min out below bound"
        value_up = -(-t.amount_in * vault.prices[s] // unit_s)
        sold += t.amount_in * vault.prices[s] // unit_s
        sold_up += value_up
        if sold_up > cap:
            return "vault: trade too large"
        if value_up > room[s]:
            return "vault: sell above excess"
        room[s] -= value_up
        if t.received < t.min_amount_out:
            return "vault: output below bound"
        bought_up = -(-t.received * vault.prices[b] // unit_b)
        if bought_up > room[b]:
            return "vault: buy above shortfall"
        room[b] -= bought_up
        bal[s] -= t.amount_in
        bal[b] += t.received
        sold_mask |= 1 << s
        bought_mask |= 1 << b
    return sold, sold_mask | bought_mask


def _weights_reason(
    w0: Sequence[int], w1: Sequence[int], targets_bps: Sequence[int], touched: int, tol: int
) -> str | None:
    """I8's weight rules for every traded asset (bit set in ``touched``), in the vault's order: no
    crossing of target by more than ``tol`` (WAD), no move away from target; ``None``: both hold."""
    for i in range(len(w1)):
        if not (touched >> i) & 1:
            continue
        target = targets_bps[i] * BPS_TO_WAD
        crossed = (w0[i] > target > w1[i]) or (w0[i] < target < w1[i])
        if crossed and abs(w1[i] - target) > tol:
            return "vault: overshoot"
        if abs(w1[i] - target) > abs(w0[i] - target):
            return "vault: moved away from target"
    return None


def check_trades(
    vault: VaultModel,
    trades: Sequence[PlannedTrade | tuple[int, int, int, int]],
    received: Sequence[int],
    now: int,
    *,
    min_outs: Sequence[int] | None = None,
    loss_used: int | None = None,
    statuses: Sequence[int] | None = None,
    sequencer_up: bool = True,
) -> str | None:
    """The first revert reason ``rebalance`` would give for ``trades`` at ``vault.prices`` (the oracle)
    when the router pays ``received[k]`` for trade k; ``None`` when it would pass.

    ``trades``: ``PlannedTrade`` (then ``min_outs``, default the oracle bound) or
    ``(sell, buy, amount_in, min_amount_out)`` index tuples. ``loss_used``: the use the vault stored
    at ``vault.last_rebalance`` (default ``vault.loss_stored``, else ``vault.loss_used``).
    ``statuses`` (feed statuses, e.g. from ``read_feed``) and ``sequencer_up`` add I2 in the vault's
    order: sequencer, then each feed's reason. Keeper role and deadline are the caller's.
    """
    swaps = []
    for k, t in enumerate(trades):
        if isinstance(t, PlannedTrade):
            floor = min_acceptable_out(t.expected_out, vault.params.max_slippage_bps)
            mo = floor if min_outs is None else min_outs[k]
            swaps.append(SwapResult(t.sell, t.buy, t.amount_in, mo, received[k]))
        else:
            s, b, a, mo = t
            swaps.append(SwapResult(s, b, a, mo if min_outs is None else min_outs[k], received[k]))
    if vault.paused:
        return "vault: paused"
    if not swaps:
        return "vault: no trades"
    if now < vault.last_rebalance + vault.params.cooldown:
        return "vault: cooldown"
    if not sequencer_up:
        return "vault: sequencer down"
    for st in statuses or ():
        if st != FEED_OK:
            return FEED_REVERT_REASONS[st]
    if loss_used is None:
        loss_used = vault.loss_stored if vault.loss_stored is not None else vault.loss_used
    return check_rebalance(vault, swaps, now, loss_used=loss_used).reason
