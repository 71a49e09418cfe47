"""Reference model of ``contracts/RebalancingVault.vy``: the vault's maths, once, in Python.

Every function here mirrors the contract *exactly*, in integer arithmetic with the same
rounding, so the tests, the keeper, the simulator and the auditor all decide the same way
the vault does. Conventions (identical to the contract):

* ``price``: 1e18-scaled quote units (e.g. USD) per *whole* token, i.e. the feed answer
  rescaled from the feed's decimals to 18 decimals.
* ``value`` of a holding: ``amount * price // 10**token_decimals`` (1e18 quote units, rounded down).
* weights: WAD fractions (1e18 == 100 %) for the maths, basis points (10_000 == 100 %) in views;
  both round down.
* drift: ``max_i |w_i - target_i|``, computed in WAD and reported in bps rounded down.
* trigger reasons: 0 none, 1 THRESHOLD, 2 CALENDAR.
* governed changes have a *kind* (``PARAM_KINDS`` for the ten parameters, then ``KIND_KEEPER``,
  ``KIND_TARGETS`` and ``KIND_MAX_AGE + i``), as the contract's ``K_*`` constants.
* the loss budget is kept in units of 1e-15 of vault value (``LOSS_ONE`` == 100 %).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "BPS",
    "WAD",
    "BPS_TO_WAD",
    "REASON_NONE",
    "REASON_THRESHOLD",
    "REASON_CALENDAR",
    "REASON_NAMES",
    "REBALANCE_GAS_FIXED",
    "REBALANCE_GAS_PER_SWAP",
    "FEED_OK",
    "FEED_NON_POSITIVE",
    "FEED_STALE",
    "FEED_INCOMPLETE",
    "FEED_UNUSABLE",
    "FEED_STATUS_NAMES",
    "FEED_REVERT_REASONS",
    "MAX_PRICE",
    "LOSS_ONE",
    "BPS_TO_LOSS",
    "MAX_AGE_BOUNDS",
    "MAX_SEQUENCER_GRACE",
    "PARAM_KINDS",
    "PARAM_BOUNDS",
    "LOWER_LOOSENS",
    "KIND_KEEPER",
    "KIND_TARGETS",
    "KIND_MAX_AGE",
    "N_KINDS",
    "kind_name",
    "loosens",
    "Params",
    "DEFAULT_PARAMS",
    "normalise_price",
    "feed_status",
    "read_feed",
    "sequencer_up",
    "trade_rooms",
    "loss_used_now",
    "loss_charge",
    "loss_room_value",
    "loss_stored",
    "SwapResult",
    "RebalanceCheck",
    "check_rebalance",
    "check_trades",
    "asset_values",
    "weights_wad",
    "weights_bps",
    "drift_wad",
    "drift_bps",
    "trigger",
    "oracle_out",
    "min_acceptable_out",
    "VaultModel",
    "PlannedTrade",
    "plan_trades",
    "plan_vault",
]

BPS = 10_000  # 100 % in basis points
WAD = 10**18  # 100 % as a WAD fraction; also the quote-unit scale
BPS_TO_WAD = WAD // BPS  # 1 bps in WAD == 1e14

REASON_NONE = 0
REASON_THRESHOLD = 1
REASON_CALENDAR = 2
# Gas of a rebalance, the one place these figures live (keeper economics, simulator, backtest):
# measured by bench/bench_gas.py on the 4-asset vault (README, "Gas"): the fixed part is the 1-swap
# rebalance minus one marginal swap; per swap is the 2-swap minus the 1-swap rebalance.
REBALANCE_GAS_FIXED = 145_161
REBALANCE_GAS_PER_SWAP = 75_139
# The one table of trigger-reason names (the Rebalanced event's ``reason``); keeper, demo and audit use it.
REASON_NAMES = {REASON_NONE: "none", REASON_THRESHOLD: "THRESHOLD", REASON_CALENDAR: "CALENDAR"}

FEED_OK = 0
FEED_NON_POSITIVE = 1
FEED_STALE = 2
FEED_INCOMPLETE = 3
FEED_UNUSABLE = 4  # reverted, short or garbled data, answer above MAX_PRICE, or sequencer down
FEED_STATUS_NAMES = {
    FEED_OK: "ok",
    FEED_NON_POSITIVE: "non-positive",
    FEED_STALE: "stale",
    FEED_INCOMPLETE: "incomplete",
    FEED_UNUSABLE: "unusable",
}

MAX_PRICE = 10**36  # largest accepted price, 1e18 quote units per whole token
LOSS_ONE = 10**15  # the loss budget's unit: 1e-15 of vault value
BPS_TO_LOSS = LOSS_ONE // BPS  # one bps in LOSS_ONE units == 1e11
MAX_AGE_BOUNDS = (60, 3 * 86_400)  # seconds, a feed's max age
MAX_SEQUENCER_GRACE = 86_400  # seconds

# The contract's governed kinds, in its order (K_THRESHOLD .. K_LOSS_WINDOW, then the rest).
PARAM_KINDS: tuple[str, ...] = (
    "drift_threshold_bps",
    "min_drift_bps",
    "max_slippage_bps",
    "max_trade_bps",
    "tolerance_bps",
    "cooldown",
    "rebalance_period",
    "target_delay",
    "loss_budget_bps",
    "loss_window",
)
KIND_KEEPER = 10
KIND_TARGETS = 11
KIND_MAX_AGE = 12  # + asset index
N_KINDS = 20
# Hard bounds (inclusive) of each parameter, and whether LOWERING it loosens the vault (True) or
# raising it does (False): a loosening is timelocked, a tightening immediate.
PARAM_BOUNDS: dict[str, tuple[int, int]] = {
    "drift_threshold_bps": (10, 5_000),
    "min_drift_bps": (1, 5_000),
    "max_slippage_bps": (1, 1_000),
    "max_trade_bps": (100, 10_000),
    "tolerance_bps": (0, 200),
    "cooldown": (0, 30 * 86_400),
    "rebalance_period": (86_400, 366 * 86_400),
    "target_delay": (3_600, 30 * 86_400),
    "loss_budget_bps": (1, 1_000),
    "loss_window": (86_400, 365 * 86_400),
}
LOWER_LOOSENS: dict[str, bool] = {
    "drift_threshold_bps": True,
    "min_drift_bps": True,
    "max_slippage_bps": False,
    "max_trade_bps": False,
    "tolerance_bps": False,
    "cooldown": True,
    "rebalance_period": True,
    "target_delay": True,
    "loss_budget_bps": False,
    "loss_window": True,
}


def kind_name(kind: int) -> str:
    """Human name of a governed kind (``ParameterChanged``/``ChangeQueued`` events)."""
    if 0 <= kind < len(PARAM_KINDS):
        return PARAM_KINDS[kind]
    if kind == KIND_KEEPER:
        return "keeper"
    if kind == KIND_TARGETS:
        return "target_weights"
    if KIND_MAX_AGE <= kind < N_KINDS:
        return f"max_age[{kind - KIND_MAX_AGE}]"
    return f"kind {kind}"


def loosens(name: str, old: int, new: int) -> bool:
    """True when changing parameter ``name`` from ``old`` to ``new`` loosens the vault (timelocked)."""
    return new < old if LOWER_LOOSENS[name] else new > old


@dataclass(frozen=True)
class Params:
    """The vault's rebalancing parameters (names and defaults as in the contract)."""

    drift_threshold_bps: int = 500
    rebalance_period: int = 30 * 86_400  # seconds
    min_drift_bps: int = 100
    cooldown: int = 3_600  # seconds
    max_slippage_bps: int = 100
    max_trade_bps: int = 5_000
    tolerance_bps: int = 25
    target_delay: int = 86_400  # seconds: the timelock on every loosening
    # Loss budget: at most 1 % of vault value lost against the oracle at once, refilling at 1 % a
    # week. An honest keeper on a real AMM spends a few bps per rebalance (see the README).
    loss_budget_bps: int = 100
    loss_window: int = 7 * 86_400  # seconds

    def as_list(self) -> list[int]:
        """The ten values in the contract's kind order (its constructor's ``params``)."""
        return [getattr(self, k) for k in PARAM_KINDS]

    @classmethod
    def from_list(cls, values: Sequence[int]) -> Params:
        """Inverse of ``as_list`` (e.g. from the vault's ``get_params()``)."""
        return cls(**dict(zip(PARAM_KINDS, (int(v) for v in values), strict=True)))

    def violations(self) -> list[str]:
        """What the contract's constructor would refuse, one message each (empty: deployable)."""
        out = []
        for k in PARAM_KINDS:
            lo, hi = PARAM_BOUNDS[k]
            if not lo <= getattr(self, k) <= hi:
                out.append(f"{k} {getattr(self, k)} is outside [{lo}, {hi}]")
        if self.min_drift_bps > self.drift_threshold_bps:
            out.append(
                f"min_drift_bps {self.min_drift_bps} is above drift_threshold_bps {self.drift_threshold_bps}"
            )
        return out


DEFAULT_PARAMS = Params()


def normalise_price(answer: int, feed_decimals: int) -> int:
    """Feed answer (``feed_decimals``) -> 1e18 quote units per whole token; non-positive -> 0."""
    if answer <= 0:
        return 0
    return answer * 10 ** (18 - feed_decimals)


def feed_status(
    answer: int,
    updated_at: int,
    round_id: int,
    answered_in_round: int,
    max_age: int,
    now: int,
    *,
    feed_decimals: int = 18,
    sequencer_up: bool = True,
) -> int:
    """Classify one ``latestRoundData`` answer the way the vault's ``_read_feed`` does (first failing
    rule wins). A call that reverted or returned fewer than 160 bytes is ``FEED_UNUSABLE`` before any
    of this (``read_feed``); so is every feed while the L2 sequencer is down or in its grace period."""
    if not sequencer_up:
        return FEED_UNUSABLE
    if answer <= 0:
        return FEED_NON_POSITIVE
    if answer > MAX_PRICE or answer * 10 ** (18 - feed_decimals) > MAX_PRICE:
        return FEED_UNUSABLE
    if updated_at == 0 or answered_in_round < round_id:
        return FEED_INCOMPLETE
    if updated_at > now or now - updated_at > max_age:
        return FEED_STALE
    return FEED_OK


def read_feed(
    data: bytes | None, feed_decimals: int, max_age: int, now: int, *, sequencer_up: bool = True
) -> tuple[int, int, int]:
    """``(price, status, updated_at)`` from a raw ``latestRoundData`` answer (``None``: the call
    reverted), exactly as the vault's ``oracle_state()`` reports it. Every word is read as a full
    256-bit value (``answer`` as int256), so garbled ``uint80`` fields cannot fail the decoding."""
    if data is None or len(data) < 160:
        return 0, FEED_UNUSABLE, 0
    words = [int.from_bytes(data[32 * k : 32 * k + 32], "big") for k in range(5)]
    round_id, raw_answer, _started, updated_at, answered = words
    answer = raw_answer - 2**256 if raw_answer >= 2**255 else raw_answer
    status = feed_status(answer, updated_at, round_id, answered, max_age, now, feed_decimals=feed_decimals)
    price = 0
    if status != FEED_UNUSABLE and answer > 0:
        price = normalise_price(answer, feed_decimals)
    if not sequencer_up:
        status = FEED_UNUSABLE
    return price, status, updated_at


def sequencer_up(answer: int | None, started_at: int, now: int, grace: int) -> bool:
    """Chainlink's L2 sequencer-uptime rule as the vault applies it: ``answer`` 0 is up (``None``: the
    call reverted or returned short data, i.e. down); prices are trusted only more than ``grace``
    seconds after ``started_at``, the time of the last status change."""
    if answer is None or answer != 0 or started_at == 0 or started_at > now:
        return False
    return now - started_at > grace


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


def oracle_out(amount_in: int, price_in: int, dec_in: int, price_out: int, dec_out: int) -> int:
    """Oracle-implied output of selling ``amount_in`` (token units), rounded down."""
    return amount_in * price_in * 10**dec_out // (price_out * 10**dec_in)


def min_acceptable_out(expected_out: int, max_slippage_bps: int) -> int:
    """Least output the vault accepts: expected less the slippage bound, rounded *up* (vault's favour)."""
    num = expected_out * (BPS - max_slippage_bps)
    return -(-num // BPS)


@dataclass
class VaultModel:
    """Snapshot of a vault's state, enough to evaluate every view the contract offers."""

    balances: list[int]
    prices: list[int]  # 1e18 per whole token, already normalised
    decimals: list[int]
    targets_bps: list[int]
    last_rebalance: int
    params: Params = field(default_factory=Params)
    paused: bool = False
    feeds_ok: bool = True
    loss_used: int = 0  # loss budget in use at the time of the snapshot, LOSS_ONE units
    # the use the vault stored at ``last_rebalance`` (what it drains from); None: take ``loss_used``
    loss_stored: int | None = None

    def values(self) -> list[int]:
        return asset_values(self.balances, self.prices, self.decimals)

    def total_value(self) -> int:
        return sum(self.values())

    def current_weights(self) -> list[int]:
        return weights_bps(self.values())

    def drift_wad(self) -> int:
        return drift_wad(weights_wad(self.values()), self.targets_bps)

    def drift(self) -> int:
        return self.drift_wad() // BPS_TO_WAD

    def loss_room_value(self) -> int:
        """The largest loss (1e18 quote units) a rebalance may still make, as of the snapshot."""
        return loss_room_value(self.loss_used, self.params.loss_budget_bps, self.total_value())

    def needs_rebalance(self, now: int) -> tuple[bool, int]:
        """Mirror of ``needs_rebalance()``: never while paused or with any feed unusable."""
        if self.paused or not self.feeds_ok:
            return (False, REASON_NONE)
        reason = trigger(self.drift_wad(), now, self.last_rebalance, self.params)
        return (reason != REASON_NONE, reason)


@dataclass(frozen=True)
class PlannedTrade:
    """One swap the keeper (or the simulator) would ask the vault to make."""

    sell: int  # asset index
    buy: int  # asset index
    amount_in: int  # sell-token units
    expected_out: int  # oracle-implied buy-token units, rounded down
    value: int  # 1e18 quote units sold


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
    band = band_bps * total // BPS
    # Signed excess over target (positive: overweight, sell), trimmed to the band edge; a sale never
    # exceeds the vault's sell room (its target value rounded up, I8), a buy its buy room.
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
    sells = sorted(((e, i) for i, e in enumerate(excess) if e > 0), reverse=True)
    buys = sorted(((-e, i) for i, e in enumerate(excess) if e < 0), reverse=True)
    sell_left = {i: e for e, i in sells}
    buy_left = {i: e for e, i in buys}
    budget = max_trade_bps * total // BPS
    loss_left = loss_room
    if loss_room is not None:
        budget = min(budget, loss_room * BPS // (fee_bps + 10))
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
        sized = v * (BPS - 1) // BPS  # 1 bps haircut: rounding never carries an asset past target
        wanted = sized * 10 ** decimals[s] // prices[s]
        amount_in = _fit_rooms(wanted, s, b, prices, decimals, room, fee_bps)
        value = sized if amount_in == wanted else amount_in * prices[s] // 10 ** decimals[s]
        loss = 0
        if amount_in > 0 and loss_left is not None:
            # the fee and the output's rounding at the oracle, +2 for the per-asset value floors
            recv = (
                oracle_out(amount_in, prices[s], decimals[s], prices[b], decimals[b]) * (BPS - fee_bps) // BPS
            )
            loss = (
                max(0, amount_in * prices[s] // 10 ** decimals[s] - recv * prices[b] // 10 ** decimals[b]) + 2
            )
            if loss > loss_left:
                amount_in = 0  # a coarse token's rounding alone would overdraw the budget: skip it
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


# ---- Issue 9: trade direction and size (I8), the loss budget (I9), the whole rebalance ----


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


@dataclass(frozen=True)
class SwapResult:
    """One trade as the vault saw it: asset indices, the keeper's bound and what the router paid."""

    sell: int
    buy: int
    amount_in: int
    min_amount_out: int
    received: int


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
    sold_up = sold = 0
    sold_mask = bought_mask = 0
    for t in swaps:
        s, b = t.sell, t.buy
        unit_s, unit_b = 10 ** vault.decimals[s], 10 ** vault.decimals[b]
        if s == b:
            return RebalanceCheck("vault: same asset")
        if (bought_mask >> s) & 1 or (sold_mask >> b) & 1:
            return RebalanceCheck("vault: round trip")
        if not (over >> s) & 1:
            return RebalanceCheck("vault: sell not overweight")
        if not (under >> b) & 1:
            return RebalanceCheck("vault: buy not underweight")
        if t.amount_in == 0:
            return RebalanceCheck("vault: zero amount")
        if t.amount_in > bal[s]:
            return RebalanceCheck("vault: exceeds holdings")
        expected = oracle_out(
            t.amount_in, vault.prices[s], vault.decimals[s], vault.prices[b], vault.decimals[b]
        )
        if expected == 0 or t.min_amount_out < min_acceptable_out(expected, p.max_slippage_bps):
            return RebalanceCheck("vault: min out below bound")
        value_up = -(-t.amount_in * vault.prices[s] // unit_s)
        sold += t.amount_in * vault.prices[s] // unit_s
        sold_up += value_up
        if sold_up > cap:
            return RebalanceCheck("vault: trade too large")
        if value_up > room[s]:
            return RebalanceCheck("vault: sell above excess")
        room[s] -= value_up
        if t.received < t.min_amount_out:
            return RebalanceCheck("vault: output below bound")
        bought_up = -(-t.received * vault.prices[b] // unit_b)
        if bought_up > room[b]:
            return RebalanceCheck("vault: buy above shortfall")
        room[b] -= bought_up
        bal[s] -= t.amount_in
        bal[b] += t.received
        sold_mask |= 1 << s
        bought_mask |= 1 << b
    values1 = asset_values(bal, vault.prices, vault.decimals)
    v1 = sum(values1)
    w1 = weights_wad(values1)
    d1 = drift_wad(w1, vault.targets_bps)
    tol = p.tolerance_bps * BPS_TO_WAD
    for i in range(len(bal)):
        if not ((sold_mask | bought_mask) >> i) & 1:
            continue
        target = vault.targets_bps[i] * BPS_TO_WAD
        crossed = (w0[i] > target > w1[i]) or (w0[i] < target < w1[i])
        if crossed and abs(w1[i] - target) > tol:
            return RebalanceCheck("vault: overshoot")
        if abs(w1[i] - target) > abs(w0[i] - target):
            return RebalanceCheck("vault: moved away from target")
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


def loss_stored(used_now: int, last_rebalance: int, now: int, budget_bps: int, window: int) -> int:
    """A stored use equivalent to the vault's, from the use ``loss_budget_used()`` reported at ``now``:
    ``loss_used_now(loss_stored(u, ...), last, t, ...) == loss_used_now(stored, last, t, ...)`` for every
    ``t >= now`` (exact when ``u > 0``; when ``u == 0`` any stored use drained to 0 stays 0)."""
    return used_now + (now - last_rebalance) * budget_bps * BPS_TO_LOSS // window


FEED_REVERT_REASONS = {
    FEED_UNUSABLE: "vault: feed unusable",
    FEED_NON_POSITIVE: "vault: bad price",
    FEED_INCOMPLETE: "vault: incomplete round",
    FEED_STALE: "vault: stale price",
}


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
