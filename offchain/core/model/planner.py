"""The planner: the greedy trade list a keeper (or the simulator) asks the vault to make."""

from __future__ import annotations

from collections.abc import Sequence

from offchain.core.model.drift import asset_values
from offchain.core.model.loss import loss_room_value
from offchain.core.model.params import BPS
from offchain.core.model.state import VaultModel
from offchain.core.model.trades import PlannedTrade, oracle_out, trade_rooms


def plan_vault(
    vault: VaultModel, *, band_bps: int = 0, fee_bps: int = 30, min_value: int = 0
) -> list[PlannedTrade]:
    """``plan_trades`` for a vault as the vault sees it: its holdings, targets, trade cap, tolerance
    and the loss budget it has left (as of the state read). Policies and the trade builder call this."""
    return plan_trades(
        vault.balances,
        vault.prices,
        vault.decimals,
        vault.targets_bps,
        band_bps=band_bps,
        fee_bps=fee_bps,
        max_trade_bps=vault.params.max_trade_bps,
        min_value=min_value,
        loss_room=loss_room_value(vault.loss_used, vault.params.loss_budget_bps, vault.total_value()),
        tolerance_bps=vault.params.tolerance_bps,
    )


def plan_trades(
    balances: Sequence[int],
    prices: Sequence[int],
    decimals: Sequence[int],
    targets_bps: Sequence[int],
    *,
    band_bps: int = 0,
    fee_bps: int = 30,
    max_trade_bps: int = BPS,
    min_value: int = 0,
    loss_room: int | None = None,
    tolerance_bps: int = 0,
) -> list[PlannedTrade]:
    """Greedy trade list that moves the vault toward target with at most ``n - 1`` swaps.

    Surpluses are sold into deficits, largest first, so each swap closes one side completely
    (the classic minimum-count transport schedule for a fully connected set of pools).
    ``band_bps > 0`` trades each asset only back to the *edge* of its ``±band`` no-trade band
    (Leland's cost-aware rule) instead of all the way to target. The bought side is sized for
    ``fee_bps`` of swap fee so that buys land on target rather than short of it; sells are
    trimmed by 1 bps of value so AMM rounding never overshoots. Trades below ``min_value``
    (1e18 quote units) are dropped. The sum sold is capped at ``max_trade_bps`` of vault value.

    Every trade passes the vault's I8 rules (``trade_rooms``, with the vault's own rounding): only
    overweight assets are sold, each trade's value rounded up never exceeding what is left of the
    asset's sell room; only underweight ones are bought, and the oracle value of what the buy should
    receive (the oracle-implied output less ``fee_bps``, rounded up) never exceeds what is left of
    its buy room (``tolerance_bps``: the vault's, 0 to keep the whole tolerance as a margin); no
    asset is on both sides. A trade that would break a room is shrunk until it fits.
    ``loss_room`` (1e18 quote units, e.g. ``loss_room_value``) caps the sum sold so that the swap
    fee plus 10 bps of impact on it fits the loss budget left; ``None``: no cap.
    """
    n = len(balances)
    values = asset_values(balances, prices, decimals)
    total = sum(values)
    if total == 0 or n < 2:
        return []
    room, excess = _excess(values, targets_bps, total, n, band_bps, tolerance_bps)
    sells = sorted(((e, i) for i, e in enumerate(excess) if e > 0), reverse=True)
    buys = sorted(((-e, i) for i, e in enumerate(excess) if e < 0), reverse=True)
    budget = max_trade_bps * total // BPS
    if loss_room is not None:
        budget = min(budget, loss_room * BPS // (fee_bps + 10))
    return _match(sells, buys, budget, loss_room, prices, decimals, room, fee_bps, min_value)


def _excess(
    values: Sequence[int],
    targets_bps: Sequence[int],
    total: int,
    n: int,
    band_bps: int,
    tolerance_bps: int,
) -> tuple[list[int], list[int]]:
    """``(room, excess)``: the vault's I8 rooms (``trade_rooms``) and each asset's signed excess over
    target (positive: overweight, sell), trimmed to the band edge; a sale never exceeds the vault's
    sell room (its target value rounded up, I8), a buy its buy room; 0 where I8 allows no trade."""
    band = band_bps * total // BPS
    room, over, under = trade_rooms(values, targets_bps, tolerance_bps)
    excess = []
    for i in range(n):
        e = values[i] - targets_bps[i] * total // BPS
        e = 0 if abs(e) <= band else (e - band if e > 0 else e + band)
        if e > 0 and (over >> i) & 1:
            excess.append(min(e, room[i]))
        elif e < 0 and (under >> i) & 1:
            excess.append(e)
        else:
            excess.append(0)
    return room, excess


def _match(
    sells: list[tuple[int, int]],
    buys: list[tuple[int, int]],
    budget: int,
    loss_left: int | None,
    prices: Sequence[int],
    decimals: Sequence[int],
    room: list[int],
    fee_bps: int,
    min_value: int,
) -> list[PlannedTrade]:
    """Sell the surpluses into the deficits, largest first, within ``budget`` (value sold) and
    ``loss_left`` (the loss budget's room, ``None``: no cap); ``room`` is drawn down in place."""
    sell_left = {i: e for e, i in sells}
    buy_left = {i: e for e, i in buys}
    trades: list[PlannedTrade] = []
    si = bi = 0
    while si < len(sells) and bi < len(buys) and budget > 0:
        s, b = sells[si][1], buys[bi][1]
        # gross value to sell so that ``b`` receives its whole deficit after the swap fee
        need_gross = -(-buy_left[b] * BPS // (BPS - fee_bps))
        v = min(sell_left[s], need_gross, budget)
        sell_left[s] -= v
        buy_left[b] -= v * (BPS - fee_bps) // BPS
        budget -= v
        amount_in, value, loss = _size(v, s, b, prices, decimals, room, fee_bps, loss_left)
        expected = oracle_out(amount_in, prices[s], decimals[s], prices[b], decimals[b]) if amount_in else 0
        if expected > 0 and value >= min_value:  # a trade buying less than one unit has no bound: none
            if loss_left is not None:
                loss_left -= loss
            room[s] -= -(-amount_in * prices[s] // 10 ** decimals[s])
            room[b] -= _bought_up(amount_in, s, b, prices, decimals, fee_bps)
            trades.append(
                PlannedTrade(
                    sell=s,
                    buy=b,
                    amount_in=amount_in,
                    expected_out=expected,
                    value=value,
                )
            )
        if sell_left[s] <= 0:
            si += 1
        if v >= need_gross:
            bi += 1
    return trades


def _size(
    v: int,
    s: int,
    b: int,
    prices: Sequence[int],
    decimals: Sequence[int],
    room: Sequence[int],
    fee_bps: int,
    loss_left: int | None,
) -> tuple[int, int, int]:
    """``(amount_in, value, loss)`` of selling ``v`` (1e18 quote units) of ``s`` for ``b``: trimmed by
    1 bps, shrunk to fit both rooms, and 0 when its loss alone would overdraw ``loss_left``."""
    sized = v * (BPS - 1) // BPS  # 1 bps haircut: rounding never carries an asset past target
    wanted = sized * 10 ** decimals[s] // prices[s]
    amount_in = _fit_rooms(wanted, s, b, prices, decimals, room, fee_bps)
    value = sized if amount_in == wanted else amount_in * prices[s] // 10 ** decimals[s]
    loss = 0
    if amount_in > 0 and loss_left is not None:
        # the fee and the output's rounding at the oracle, +2 for the per-asset value floors
        recv = oracle_out(amount_in, prices[s], decimals[s], prices[b], decimals[b]) * (BPS - fee_bps) // BPS
        loss = max(0, amount_in * prices[s] // 10 ** decimals[s] - recv * prices[b] // 10 ** decimals[b]) + 2
        if loss > loss_left:
            amount_in = 0  # a coarse token's rounding alone would overdraw the budget: skip it
    return amount_in, value, loss


def _bought_up(
    amount_in: int, s: int, b: int, prices: Sequence[int], decimals: Sequence[int], fee_bps: int
) -> int:
    """What the vault would charge to ``b``'s buy room if the swap paid the oracle rate less the fee."""
    out = oracle_out(amount_in, prices[s], decimals[s], prices[b], decimals[b]) * (BPS - fee_bps) // BPS
    return -(-out * prices[b] // 10 ** decimals[b])


def _fit_rooms(
    amount_in: int,
    s: int,
    b: int,
    prices: Sequence[int],
    decimals: Sequence[int],
    room: Sequence[int],
    fee_bps: int,
) -> int:
    """The largest amount <= ``amount_in`` whose sale fits ``room[s]`` and whose estimated purchase
    fits ``room[b]``, both rounded up as the vault rounds them (value and output grow with the amount)."""

    def fits(a: int) -> bool:
        sold_up = -(-a * prices[s] // 10 ** decimals[s])
        return sold_up <= room[s] and _bought_up(a, s, b, prices, decimals, fee_bps) <= room[b]

    if amount_in <= 0 or fits(amount_in):
        return max(0, amount_in)
    lo, hi = 0, amount_in  # fits(lo), not fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo
