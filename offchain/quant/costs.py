"""Rebalancing cost model: AMM swap fee, constant-product price impact, gas; and the vectorised trade
planner the simulator uses in place of ``offchain.core.model.plan_trades``.

Conventions
-----------
* Everything here is in **quote units (USD) of value**, as floats, except ``get_amount_out`` which
  mirrors Uniswap V2's integer ``getAmountOut`` exactly.
* Fees and slippage bounds are in **basis points** (``30`` == 0.3 %); weights/targets are **fractions**.
* A pool between assets *i* and *j* is assumed balanced at the oracle price (arbitrageurs keep it
  there between rebalances) and holds ``pool_liquidity_usd`` of value *per side*. Selling ``v`` USD
  of *i* for *j* then returns ``v (1-f) L / (L + v (1-f))`` USD of *j* -- exactly Uniswap V2's
  ``out = in*997*R_out / (R_in*1000 + in*997)`` with ``R_in = L / p_in``, ``R_out = L / p_out``.
  What the swap loses against the oracle splits into the **fee** ``v f`` and the **impact**
  ``v (1-f) - out``.
* Gas per rebalance is ``(gas_per_rebalance + gas_per_swap * swaps) * gas_price_gwei * 1e-9 *
  native_price_usd`` USD. The simulator deducts it pro rata from the vault (the keeper's bill is the
  vault's cost of running the strategy). A rebalance whose plan has no swap is not sent (no gas).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from offchain.core.errors import InputError
from offchain.core.model import BPS, REBALANCE_GAS_FIXED, REBALANCE_GAS_PER_SWAP

__all__ = [
    "CostModel",
    "TradeResult",
    "get_amount_out",
    "amm_out_value",
    "plan_pairs",
    "execute_rebalance",
]

log = logging.getLogger(__name__)


def get_amount_out(amount_in: int, reserve_in: int, reserve_out: int, fee_bps: int = 30) -> int:
    """Uniswap V2 ``getAmountOut`` in integer arithmetic, generalised to any fee in bps.

    For ``fee_bps == 30`` this equals ``in*997*R_out // (R_in*1000 + in*997)`` exactly (both sides
    scaled by 10). Raises ``InputError`` on non-positive input or reserves, like the router reverts.
    """
    if amount_in <= 0:
        raise InputError("amount_in must be positive")
    if reserve_in <= 0 or reserve_out <= 0:
        raise InputError("pool reserves must be positive")
    if not 0 <= fee_bps < BPS:
        raise InputError(f"fee_bps must be in [0, {BPS}); got {fee_bps}")
    in_with_fee = amount_in * (BPS - fee_bps)
    return in_with_fee * reserve_out // (reserve_in * BPS + in_with_fee)


def amm_out_value(value_in: np.ndarray | float, fee: float, liquidity: np.ndarray | float) -> np.ndarray:
    """USD received for selling ``value_in`` USD into a balanced constant-product pool (vectorised).

    ``fee`` is a fraction (0.003); ``liquidity`` USD per side, ``inf`` for no price impact.
    """
    net = np.asarray(value_in, dtype=float) * (1.0 - fee)
    liq = np.asarray(liquidity, dtype=float)
    if liq.ndim == 0:
        lq = float(liq)
        return net if math.isinf(lq) else net * lq / (lq + net)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(np.isinf(liq), net, net * liq / (liq + net))
    return out


@dataclass(frozen=True)
class CostModel:
    """All rebalancing costs, configurable; defaults are the issue's (0.3 % fee, 120k + 90k gas, 20 gwei,
    $3,000 native token, $10M per pool side).

    ``sell_haircut_bps`` is ``plan_trades``' 1 bps trim of every sale (so AMM rounding never carries an
    asset past target); ``max_trade_bps`` caps the value sold per rebalance (the vault's
    ``max_trade_bps``; 10_000 == no cap); ``min_trade_usd`` drops dust swaps like ``min_value``.
    ``pool_liquidity_usd`` is a scalar or an ``(n, n)`` matrix (pool of *i* and *j*), ``inf`` == no impact.
    """

    fee_bps: float = 30.0
    pool_liquidity_usd: Any = 10_000_000.0
    # offchain.core.model's figures, measured by bench/bench_gas.py (README, "Gas")
    gas_per_rebalance: float = float(REBALANCE_GAS_FIXED)
    gas_per_swap: float = float(REBALANCE_GAS_PER_SWAP)
    gas_price_gwei: float = 20.0
    native_price_usd: float = 3_000.0
    sell_haircut_bps: float = 1.0
    max_trade_bps: float = float(BPS)
    min_trade_usd: float = 0.0
    _liq: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _frictionless: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        checks = {
            "fee_bps": (self.fee_bps, 0.0, BPS - 1e-9),
            "gas_per_rebalance": (self.gas_per_rebalance, 0.0, math.inf),
            "gas_per_swap": (self.gas_per_swap, 0.0, math.inf),
            "gas_price_gwei": (self.gas_price_gwei, 0.0, math.inf),
            "native_price_usd": (self.native_price_usd, 0.0, math.inf),
            "sell_haircut_bps": (self.sell_haircut_bps, 0.0, BPS - 1e-9),
            "max_trade_bps": (self.max_trade_bps, 0.0, BPS),
            "min_trade_usd": (self.min_trade_usd, 0.0, math.inf),
        }
        for name, (val, lo, hi) in checks.items():
            try:
                v = float(val)
            except (TypeError, ValueError) as exc:
                raise InputError(f"cost parameter {name} must be a number; got {val!r}") from exc
            if not (lo <= v <= hi) or math.isnan(v):
                raise InputError(f"cost parameter {name} must be in [{lo:g}, {hi:g}]; got {val!r}")
        try:
            liq = np.asarray(self.pool_liquidity_usd, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"pool_liquidity_usd must be a number or a matrix; got {self.pool_liquidity_usd!r}"
            ) from exc
        if liq.ndim not in (0, 2) or np.any(np.isnan(liq)) or np.any(liq <= 0):
            raise InputError(
                "pool_liquidity_usd must be a positive number (or inf) or an (n, n) matrix of them"
            )
        object.__setattr__(self, "_liq", liq)
        frictionless = (
            float(self.fee_bps) == 0
            and bool(np.all(np.isinf(liq)))
            and float(self.sell_haircut_bps) == 0
            and float(self.max_trade_bps) >= BPS
            and float(self.min_trade_usd) == 0
        )
        object.__setattr__(self, "_frictionless", frictionless)

    @classmethod
    def zero(cls) -> CostModel:
        """Frictionless: no fee, no impact, no gas, no haircut -- trades land exactly on target."""
        return cls(
            fee_bps=0.0,
            pool_liquidity_usd=math.inf,
            gas_per_rebalance=0.0,
            gas_per_swap=0.0,
            sell_haircut_bps=0.0,
        )

    def with_(self, **changes: Any) -> CostModel:
        return replace(self, **changes)

    @property
    def frictionless_trades(self) -> bool:
        """No fee, no impact, no haircut, no cap, no dust filter: a rebalance lands exactly on target."""
        return self._frictionless

    @property
    def fee(self) -> float:
        """Swap fee as a fraction."""
        return self.fee_bps / BPS

    def gas_usd(self, swaps: np.ndarray | int) -> np.ndarray:
        """USD gas bill of one rebalance with ``swaps`` swaps."""
        per_gas = self.gas_price_gwei * 1e-9 * self.native_price_usd
        return (self.gas_per_rebalance + self.gas_per_swap * np.asarray(swaps, dtype=float)) * per_gas

    def liquidity(self, n: int) -> np.ndarray:
        """Pool liquidity (USD per side) as an ``(n, n)`` matrix."""
        liq = self._liq if self._liq is not None else np.asarray(self.pool_liquidity_usd, dtype=float)
        if liq.ndim == 0:
            return np.full((n, n), float(liq))
        if liq.shape != (n, n):
            raise InputError(f"pool_liquidity_usd matrix must be {n}x{n} for {n} assets; got {liq.shape}")
        return liq


def _desc_order(x: np.ndarray) -> np.ndarray:
    """Per-row indices sorting ``x`` (>= 0) descending, as ``plan_trades`` orders surpluses/deficits.

    Ties are not broken the way ``plan_trades`` does (larger index first): zero entries are empty
    intervals whatever their order, and two exactly equal positive float surpluses do not occur in
    practice (when they do, totals per asset are unchanged; only who pairs with whom may differ).
    """
    return np.argsort(-x, axis=1)


def plan_pairs(
    values: np.ndarray,
    targets: np.ndarray,
    *,
    band: float = 0.0,
    fee: float = 0.003,
    max_trade: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised float equivalent of ``offchain.core.model.plan_trades``
    (before its haircut and dust filter).

    ``values`` ``(m, n)`` USD per asset; ``targets`` ``(n,)`` or ``(m, n)`` fractions; ``band`` the
    no-trade half-width as a fraction (0 == trade to target); ``fee`` a fraction; ``max_trade`` the
    cap on value sold as a fraction of vault value. Returns ``(gross, sell_idx, buy_idx)`` where
    ``gross[k, a, b]`` is the USD value the greedy schedule sells of asset ``sell_idx[k, a]`` for asset
    ``buy_idx[k, b]`` (a and b index the sorted surplus / deficit lists).

    The greedy schedule (largest surplus into largest deficit, each buy grossed up for the fee) is the
    merge of the cumulative sorted surpluses with the cumulative fee-grossed deficits, truncated at the
    budget; each swap is the overlap of one surplus interval with one deficit interval.
    """
    v = np.asarray(values, dtype=float)
    m, n = v.shape
    tot = v.sum(axis=1, keepdims=True)
    excess = v - np.multiply(targets, tot)
    if band > 0:
        b = band * tot
        excess = np.where(np.abs(excess) <= b, 0.0, excess - np.sign(excess) * b)
    sells = np.maximum(excess, 0.0)
    deficits = np.maximum(-excess, 0.0)
    s_idx = _desc_order(sells)
    b_idx = _desc_order(deficits)
    rows = np.arange(m)[:, None]
    s_cum = np.zeros((m, n + 1))
    b_cum = np.zeros((m, n + 1))
    np.cumsum(sells[rows, s_idx], axis=1, out=s_cum[:, 1:])
    np.cumsum(deficits[rows, b_idx], axis=1, out=b_cum[:, 1:])
    b_cum /= 1.0 - fee  # each buy grossed up so that it lands on its target after the fee
    hi = np.minimum(s_cum[:, 1:, None], b_cum[:, None, 1:])
    if max_trade < 1.0:
        np.minimum(hi, max_trade * tot[:, :, None], out=hi)
    hi -= np.maximum(s_cum[:, :-1, None], b_cum[:, None, :-1])
    return np.maximum(hi, 0.0, out=hi), s_idx, b_idx


@dataclass
class TradeResult:
    """Outcome of rebalancing ``m`` vaults at once (all USD, per vault)."""

    values: np.ndarray  # (m, n) post-trade values, gas deducted
    fees: np.ndarray  # (m,)
    impact: np.ndarray  # (m,)
    gas: np.ndarray  # (m,)
    sold: np.ndarray  # (m,) USD sold (one-way turnover numerator)
    swaps: np.ndarray  # (m,) number of swaps


def execute_rebalance(
    values: np.ndarray, targets: np.ndarray, costs: CostModel, *, band: float = 0.0
) -> TradeResult:
    """Plan (``plan_pairs``) and execute the swaps of a rebalance on ``m`` vaults at once.

    Each sale is trimmed by ``costs.sell_haircut_bps`` like ``plan_trades``; dust below
    ``costs.min_trade_usd`` is skipped; the buy side receives the AMM output; gas is then deducted
    pro rata. The plan is sized for the fee only (as the keeper does), so impact leaves buys short.
    """
    v = np.asarray(values, dtype=float)
    m, n = v.shape
    if band == 0 and costs.frictionless_trades:
        return _frictionless(v, targets, costs)
    gross, s_idx, b_idx = plan_pairs(
        v, targets, band=band, fee=costs.fee, max_trade=costs.max_trade_bps / BPS
    )
    sized = gross
    if costs.sell_haircut_bps:
        sized *= 1.0 - costs.sell_haircut_bps / BPS
    # dust: below min_trade_usd, or float noise (< 1e-12 of the vault) where cumulative sums coincide
    keep = sized > 1e-12 * v.sum(axis=1)[:, None, None]
    if costs.min_trade_usd > 0:
        keep &= sized >= costs.min_trade_usd
    sized *= keep
    liq = costs.liquidity(n) if costs._liq is not None and costs._liq.ndim else costs._liq
    ones = np.ones(n)
    flat = sized.reshape(m, n * n)
    sold = flat @ np.ones(n * n)
    if liq.ndim == 0 and math.isinf(float(liq)):
        out = sized * (1.0 - costs.fee)
        impact = np.zeros(m)
    else:
        pair_liq = liq if liq.ndim == 0 else liq[s_idx[:, :, None], b_idx[:, None, :]]
        out = amm_out_value(sized, costs.fee, pair_liq)  # zero where nothing is sold
        impact = (sized * (1.0 - costs.fee) - out).reshape(m, n * n) @ np.ones(n * n)
    rows = np.arange(m)[:, None]
    new = v.copy()
    new[rows, s_idx] -= sized @ ones  # each surplus asset sells its row of swaps
    new[rows, b_idx] += ones @ out  # each deficit asset receives its column
    swaps = np.count_nonzero(keep.reshape(m, n * n), axis=1)
    return _charge_gas(new, sold * costs.fee, impact, sold, swaps, costs)


def _charge_gas(
    new: np.ndarray,
    fees: np.ndarray,
    impact: np.ndarray,
    sold: np.ndarray,
    swaps: np.ndarray,
    costs: CostModel,
) -> TradeResult:
    if (
        costs.gas_price_gwei == 0
        or costs.native_price_usd == 0
        or (costs.gas_per_rebalance == 0 and costs.gas_per_swap == 0)
    ):
        return TradeResult(
            values=new, fees=fees, impact=impact, gas=np.zeros(new.shape[0]), sold=sold, swaps=swaps
        )
    gas = np.where(swaps > 0, costs.gas_usd(swaps), 0.0)  # an empty plan is never sent: no gas
    tot = new.sum(axis=1)
    if np.any(gas > 0):
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.where(tot > 0, 1.0 - np.minimum(gas, tot) / tot, 0.0)
        new *= scale[:, None]
        gas = np.minimum(gas, tot)
    return TradeResult(values=new, fees=fees, impact=impact, gas=gas, sold=sold, swaps=swaps)


def _frictionless(v: np.ndarray, targets: np.ndarray, costs: CostModel) -> TradeResult:
    """Zero fee/impact/haircut: every asset lands exactly on target (what the greedy plan does then);
    the swap count of the greedy schedule in general position is #sellers + #buyers - 1."""
    tot = v.sum(axis=1, keepdims=True)
    new = np.multiply(targets, tot)
    excess = np.abs(v - new)
    swaps = np.maximum(np.count_nonzero(excess > 1e-12 * tot, axis=1) - 1, 0)
    sold = 0.5 * excess.sum(axis=1)  # surpluses and deficits balance
    zero = np.zeros(v.shape[0])
    return _charge_gas(new, zero, zero, sold, swaps, costs)
