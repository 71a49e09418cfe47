#pragma version 0.4.3
#pragma optimize codesize
"""
@title ballast RebalancingVault
@license MIT
@notice A basket of 2-8 ERC-20 assets held at target weights. Depositors add assets in kind
        and receive an ERC-20 share; they redeem pro-rata in kind at any time, even while the
        vault is paused or its price feeds are stale or dead. Keepers rebalance the basket
        through a Uniswap-V2-compatible router, but only when the vault's own trigger holds
        (THRESHOLD: drift >= `drift_threshold_bps`; CALENDAR: `rebalance_period` elapsed and
        drift >= `min_drift_bps`; never within `cooldown`) and only with trades the vault checks
        against Chainlink prices.
        The vault does NOT choose trades, route orders, or value anything off its feeds: the
        keeper proposes, the vault verifies.
@dev    Accounting is INTERNAL: `_holdings` tracks what depositors own; the contract never
        trusts `balanceOf` for accounting. Tokens sent straight to the vault (donations) are
        ignored by deposits, redeems, weights and triggers. This is the defence against the
        first-depositor/donation inflation attack (no virtual shares are used) and against a
        donor forcing a rebalance by skewing weights.
        Gas: everything `rebalance` reads cold is packed (all parameters with `paused` and
        `last_rebalance` in one word, targets in one, feed max ages in one, holdings two per
        word), so its fixed cost is a handful of SLOADs. The one-call keeper view lives in the
        stateless `VaultLens.state(vault)` to keep this contract under EIP-170's 24,576 bytes.
        Conventions: prices are 1e18 quote units (e.g. USD) per whole token; values are 1e18
        quote units; weights are WAD fractions internally and bps (10_000 == 100 %) in views
        and events; all of them round DOWN. Invariants enforced in `rebalance` are listed there.
        The Python reference model `offchain/model.py` mirrors every formula here exactly.
@custom:security
        - Donation/inflation: internal accounting (above); shares round down on deposit,
          amounts pulled round up, redeemed amounts round down: every rounding favours the vault.
        - Oracle: answers <= 0, rounds with `updatedAt == 0` or `answeredInRound < roundId`, and
          answers older than the feed's own `max_age` revert ("vault: bad price",
          "vault: incomplete round", "vault: stale price"). Redeem needs no oracle.
        - Sandwiching / hostile keeper: each swap's `min_amount_out` and its measured output must
          be >= the oracle-implied output less `max_slippage_bps`; the whole rebalance may lose at
          most `max_slippage_bps` of the value traded; the value traded is capped at
          `max_trade_bps` of the vault; every touched asset must end no further from target and
          not past it by more than `tolerance_bps`; drift must strictly fall.
        - Router: approved for exactly `amount_in` per trade and must consume all of it
          ("vault: partial fill"), so no allowance is ever left; outputs are measured by balance
          difference, never taken from return values.
        - Non-standard ERC-20s: no-return tokens handled (`default_return_value=True`);
          fee-on-transfer deposits revert ("vault: transfer amount mismatch").
        - Reentrancy: one global `@nonreentrant` lock on every state-changing entry point and on
          `total_value`/`get_holdings`, the views integrators price shares with. Holdings are
          written before tokens move in deposit/redeem and after all swaps in rebalance, so no
          view can observe a half-updated state.
        - Size: the runtime and initcode stay under EIP-170 (the initcode is also an EIP-5202
          blueprint), so repeated checks go through small internal helpers.
"""

from ethereum.ercs import IERC20
from ethereum.ercs import IERC20Detailed

implements: IERC20


# ---- Interfaces (inline: brownie cannot resolve Vyper 0.4 imports) ----

interface IAggregatorV3:
    def decimals() -> uint8: view
    def latestRoundData() -> (uint80, int256, uint256, uint256, uint80): view

interface IUniswapV2Router:
    def swapExactTokensForTokens(
        amountIn: uint256,
        amountOutMin: uint256,
        path: DynArray[address, 2],
        to: address,
        deadline: uint256,
    ) -> DynArray[uint256, 2]: nonpayable


# ---- Constants ----

MAX_ASSETS: constant(uint256) = 8
MAX_TRADES: constant(uint256) = 16
BPS: constant(uint256) = 10_000  # 100 % in basis points
WAD: constant(uint256) = 10 ** 18  # 100 % as a WAD fraction; also the quote-unit scale
BPS_TO_WAD: constant(uint256) = 10 ** 14  # one bps in WAD

REASON_NONE: constant(uint8) = 0
REASON_THRESHOLD: constant(uint8) = 1
REASON_CALENDAR: constant(uint8) = 2

FEED_OK: constant(uint256) = 0
FEED_NON_POSITIVE: constant(uint256) = 1
FEED_STALE: constant(uint256) = 2
FEED_INCOMPLETE: constant(uint256) = 3

# Hard bounds on every owner-settable parameter.
MIN_THRESHOLD_BPS: constant(uint256) = 10
MAX_THRESHOLD_BPS: constant(uint256) = 5_000
MIN_PERIOD: constant(uint256) = 86_400  # 1 day, seconds
MAX_PERIOD: constant(uint256) = 366 * 86_400  # seconds
MAX_COOLDOWN: constant(uint256) = 30 * 86_400  # seconds
MIN_SLIPPAGE_BPS: constant(uint256) = 1
MAX_SLIPPAGE_BPS: constant(uint256) = 1_000
MIN_TRADE_BPS: constant(uint256) = 100
MAX_TOLERANCE_BPS: constant(uint256) = 200
MIN_TARGET_DELAY: constant(uint256) = 3_600  # seconds
MAX_TARGET_DELAY: constant(uint256) = 30 * 86_400  # seconds
MIN_MAX_AGE: constant(uint256) = 60  # seconds
MAX_MAX_AGE: constant(uint256) = 3 * 86_400  # seconds

DEFAULT_MAX_AGE: constant(uint256) = 86_400  # seconds
# Defaults in the `_config` layout (see `Config`): threshold 500 bps, min drift 100 bps, slippage
# 100 bps, max trade 5_000 bps, tolerance 25 bps, cooldown 1 hour, period 30 days, delay 1 day.
DEFAULT_CONFIG: constant(uint256) = (
    500
    | (100 << 16)
    | (100 << 32)
    | (5_000 << 48)
    | (25 << 64)
    | (3_600 << 80)
    | ((30 * 86_400) << 112)
    | (86_400 << 144)
)

MASK14: constant(uint256) = 2**14 - 1
MASK16: constant(uint256) = 2**16 - 1
MASK18: constant(uint256) = 2**18 - 1
MASK32: constant(uint256) = 2**32 - 1
WEIGHTS_MASK: constant(uint256) = 2**112 - 1  # the 8 weight lanes of `_weights_and_ages`
AGE_SHIFT: constant(uint256) = 112  # where the max-age lanes start
MASK64: constant(uint256) = 2**64 - 1
MASK128: constant(uint256) = 2**128 - 1
PAUSED_BIT: constant(uint256) = 1 << 240  # `paused` in `_config`


# ---- Immutables: the basket's identity never changes ----

N_ASSETS: immutable(uint256)
# Per asset, packed to keep the deployed code under EIP-170 (immutables live in the code):
# bits 0-159 token address, 160-167 token decimals, 168-175 feed decimals.
ASSET_CONFIG: immutable(DynArray[uint256, MAX_ASSETS])
FEEDS: immutable(DynArray[address, MAX_ASSETS])
# Uniswap-V2-compatible router every trade goes through. Fixed for the vault's life: where the
# vault approves its tokens is not something an owner may change under depositors' feet.
ROUTER: immutable(address)


# ---- Structs ----

struct Trade:
    sell: address  # asset the vault sells
    buy: address  # asset the vault buys
    amount_in: uint256  # in `sell` token units
    min_amount_out: uint256  # in `buy` token units

# Owner-set parameters plus `paused` and `last_rebalance`, unpacked from the `_config` slot.
struct Config:
    drift_threshold_bps: uint256  # bits 0-15
    min_drift_bps: uint256  # bits 16-31
    max_slippage_bps: uint256  # bits 32-47
    max_trade_bps: uint256  # bits 48-63
    tolerance_bps: uint256  # bits 64-79
    cooldown: uint256  # bits 80-111, seconds
    rebalance_period: uint256  # bits 112-143, seconds
    target_delay: uint256  # bits 144-175, seconds
    last_rebalance: uint256  # bits 176-239, unix seconds
    paused: bool  # bit 240


# ---- Storage ----

# ERC-20 share token. Metadata is fixed at deployment.
name: public(String[64])
symbol: public(String[32])
decimals: public(constant(uint8)) = 18
# Share balances and supply: the claims on `_holdings`.
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
totalSupply: public(uint256)

# Gas: `rebalance` reads everything below cold, so it is packed into few slots (one SLOAD each).
# What depositors own, per asset, in token units: two assets per slot, 128 bits each (asset i in
# slot i // 2 at bit 128 * (i % 2); "vault: holdings overflow" guards the width). Tracked here
# rather than read from `balanceOf` so that donations cannot move share prices, weights or triggers.
_holdings: uint256[4]
# Target weights and feed max ages in one word. Weights in bps, summing to exactly 10_000 and
# changed only through the timelock: 14 bits per asset at bit 14 * i (10_000 < 2**14). Max age
# of each feed in seconds, matched to its heartbeat: 18 bits per asset at bit 112 + 18 * i
# (the 3-day bound, 259_200 s, is < 2**18).
_weights_and_ages: uint256
# Every owner-set parameter plus `paused` and `last_rebalance`: see `Config` for the layout. The
# setters' hard bounds guarantee each field fits its width.
_config: uint256

# Queued target weights (packed like the weight lanes above) and when they may apply (0: none).
_pending_targets: uint256
pending_eta: public(uint256)

# Roles. Owner changes in two steps so a typo cannot brick the vault.
owner: public(address)
pending_owner: public(address)
# Keepers may call `rebalance`; the guardian may only pause.
is_keeper: public(HashMap[address, bool])
guardian: public(address)


# ---- Events ----

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

event Deposited:
    sender: indexed(address)
    receiver: indexed(address)
    shares: uint256
    amounts: DynArray[uint256, MAX_ASSETS]

event Redeemed:
    sender: indexed(address)
    receiver: indexed(address)
    owner: indexed(address)
    shares: uint256
    amounts: DynArray[uint256, MAX_ASSETS]

event Rebalanced:
    keeper: indexed(address)
    reason: uint8
    drift_before: uint256
    drift_after: uint256
    value_before: uint256
    value_after: uint256
    weights_before: DynArray[uint256, MAX_ASSETS]
    weights_after: DynArray[uint256, MAX_ASSETS]

event Swapped:
    sell: indexed(address)
    buy: indexed(address)
    amount_in: uint256
    amount_out: uint256
    expected_out: uint256

event TargetWeightsQueued:
    weights: DynArray[uint256, MAX_ASSETS]
    eta: uint256

event TargetWeightsApplied:
    weights: DynArray[uint256, MAX_ASSETS]

event TargetWeightsCancelled:
    eta: uint256

event ParameterChanged:
    name: String[32]
    old_value: uint256
    new_value: uint256

event FeedMaxAgeChanged:
    feed: indexed(address)
    old_value: uint256
    new_value: uint256

event KeeperSet:
    account: indexed(address)
    enabled: bool

event GuardianChanged:
    old_guardian: indexed(address)
    new_guardian: indexed(address)

event OwnershipTransferStarted:
    previous_owner: indexed(address)
    new_owner: indexed(address)

event OwnershipTransferred:
    previous_owner: indexed(address)
    new_owner: indexed(address)

event Paused:
    account: indexed(address)

event Unpaused:
    account: indexed(address)


# ---- Constructor ----

@deploy
def __init__(
    name: String[64],
    symbol: String[32],
    assets: DynArray[address, MAX_ASSETS],
    feeds: DynArray[address, MAX_ASSETS],
    target_weights: DynArray[uint256, MAX_ASSETS],
    router: address,
    keeper: address,
    guardian: address,
):
    """
    @notice Create a vault; the deployer becomes the owner.
    @param name Share token name.
    @param symbol Share token symbol.
    @param assets 2-8 distinct ERC-20 tokens with 0-18 decimals.
    @param feeds One Chainlink AggregatorV3 feed per asset (quote per token, <= 18 decimals).
    @param target_weights Target weight per asset in bps, summing to exactly 10_000.
    @param router Uniswap-V2-compatible router every trade goes through.
    @param keeper First keeper (empty address: none yet).
    @param guardian Account that may pause (empty address: none yet).
    """
    n: uint256 = len(assets)
    assert n >= 2, "vault: too few assets"
    assert len(feeds) == n and len(target_weights) == n, "vault: length mismatch"
    assert router != empty(address), "vault: zero address"

    # one pass: validate and pack (no internal calls, which would be copied into the initcode)
    config: DynArray[uint256, MAX_ASSETS] = []
    packed: uint256 = 0
    total: uint256 = 0
    for i: uint256 in range(n, bound=MAX_ASSETS):
        assert assets[i] != empty(address) and feeds[i] != empty(address), "vault: zero address"
        for j: uint256 in range(i + 1, n, bound=MAX_ASSETS):
            assert assets[j] != assets[i], "vault: duplicate asset"
        token_decimals: uint256 = convert(staticcall IERC20Detailed(assets[i]).decimals(), uint256)
        feed_decimals: uint256 = convert(staticcall IAggregatorV3(feeds[i]).decimals(), uint256)
        assert token_decimals <= 18 and feed_decimals <= 18, "vault: decimals above 18"
        config.append(convert(assets[i], uint256) | (token_decimals << 160) | (feed_decimals << 168))
        total += target_weights[i]
        packed |= (target_weights[i] << (14 * i)) | (DEFAULT_MAX_AGE << (AGE_SHIFT + 18 * i))
    assert total == BPS, "vault: weights must sum to 10000"

    N_ASSETS = n
    ASSET_CONFIG = config
    FEEDS = feeds
    self._weights_and_ages = packed

    self.name = name
    self.symbol = symbol
    self.owner = msg.sender
    ROUTER = router
    self.guardian = guardian
    if keeper != empty(address):
        self.is_keeper[keeper] = True
        log KeeperSet(account=keeper, enabled=True)

    self._config = DEFAULT_CONFIG | (block.timestamp << 176)  # last_rebalance = deployment time

    log OwnershipTransferred(previous_owner=empty(address), new_owner=msg.sender)


# ---- ERC-20 share token ----

@external
def transfer(receiver: address, amount: uint256) -> bool:
    """@notice Move `amount` shares (18 decimals) to `receiver`."""
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(owner: address, receiver: address, amount: uint256) -> bool:
    """@notice Move `amount` shares from `owner`, spending the caller's allowance."""
    self._spend_allowance(owner, msg.sender, amount)
    self._transfer(owner, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    """@notice Let `spender` move up to `amount` shares; max_value(uint256) never decreases."""
    self._nonzero(spender)
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


# ---- Deposits and redemptions ----

@external
@nonreentrant
def deposit(amounts: DynArray[uint256, MAX_ASSETS], min_shares: uint256, receiver: address) -> uint256:
    """
    @notice Deposit assets in kind and mint shares to `receiver`.
    @dev The first deposit may be any basket; it mints its oracle value in shares (1e18 per
         quote unit), so fresh feeds are required. Later deposits need no oracle: they are taken
         in proportion to current holdings. `amounts` are MAXIMA per asset; the vault mints
         shares = min_i floor(amounts[i] * supply / holdings[i]) (rounded down) and pulls
         ceil(shares * holdings[i] / supply) of each asset (rounded up): both in the vault's favour.
    @param amounts Maximum amount of each asset, in that token's units, in `get_assets()` order.
    @param min_shares Least number of shares (18 decimals) to accept.
    @param receiver Account credited with the shares.
    @return shares Shares minted (18 decimals).
    """
    assert not self._paused(), "vault: paused"
    self._nonzero(receiver)
    n: uint256 = N_ASSETS
    self._check_length(len(amounts))
    holdings: DynArray[uint256, MAX_ASSETS] = self._holdings_array()

    supply: uint256 = self.totalSupply
    shares: uint256 = 0
    pulls: DynArray[uint256, MAX_ASSETS] = []
    if supply == 0:
        prices: DynArray[uint256, MAX_ASSETS] = self._strict_prices()
        shares = self._total_value(amounts, prices)
        pulls = amounts
    else:
        shares = max_value(uint256)
        for i: uint256 in range(n, bound=MAX_ASSETS):
            held: uint256 = holdings[i]
            if held != 0:
                shares = min(shares, amounts[i] * supply // held)
        assert shares != max_value(uint256), "vault: empty vault"
        for i: uint256 in range(n, bound=MAX_ASSETS):
            pulls.append(self._div_up(shares * holdings[i], supply))
    assert shares != 0, "vault: zero shares"
    assert shares >= min_shares, "vault: shares below minimum"

    # effects
    for i: uint256 in range(n, bound=MAX_ASSETS):
        holdings[i] += pulls[i]
    self._store_holdings(holdings)
    self._mint(receiver, shares)

    # interactions: each pull must arrive in full (rejects fee-on-transfer tokens)
    for i: uint256 in range(n, bound=MAX_ASSETS):
        if pulls[i] != 0:
            self._pull(self._asset(i), msg.sender, pulls[i])

    log Deposited(sender=msg.sender, receiver=receiver, shares=shares, amounts=pulls)
    return shares


@external
@nonreentrant
def redeem(
    shares: uint256, min_amounts: DynArray[uint256, MAX_ASSETS], receiver: address, owner: address
) -> DynArray[uint256, MAX_ASSETS]:
    """
    @notice Burn `owner`'s shares and pay `receiver` the pro-rata holdings in kind.
    @dev Needs no oracle; works while paused and while feeds are stale or dead. Each amount is
         floor(holdings[i] * shares / supply): rounded down, in the vault's favour.
    @param shares Shares to burn (18 decimals).
    @param min_amounts Least amount of each asset to accept (token units), in asset order.
    @param receiver Account paid the assets.
    @param owner Account whose shares are burned; a caller other than `owner` spends its allowance.
    @return amounts Amount of each asset paid (token units).
    """
    assert shares != 0, "vault: zero shares"
    self._nonzero(receiver)
    n: uint256 = N_ASSETS
    self._check_length(len(min_amounts))
    if msg.sender != owner:
        self._spend_allowance(owner, msg.sender, shares)

    supply: uint256 = self.totalSupply
    holdings: DynArray[uint256, MAX_ASSETS] = self._holdings_array()
    amounts: DynArray[uint256, MAX_ASSETS] = []
    for i: uint256 in range(n, bound=MAX_ASSETS):
        amount: uint256 = holdings[i] * shares // supply
        assert amount >= min_amounts[i], "vault: amount below minimum"
        amounts.append(amount)

    # effects
    self._burn(owner, shares)
    for i: uint256 in range(n, bound=MAX_ASSETS):
        holdings[i] -= amounts[i]
    self._store_holdings(holdings)

    # interactions
    for i: uint256 in range(n, bound=MAX_ASSETS):
        if amounts[i] != 0:
            self._push(self._asset(i), receiver, amounts[i])

    log Redeemed(sender=msg.sender, receiver=receiver, owner=owner, shares=shares, amounts=amounts)
    return amounts


# ---- Rebalancing ----

@external
@nonreentrant
def rebalance(trades: DynArray[Trade, MAX_TRADES], deadline: uint256):
    """
    @notice Execute the keeper's trades if the vault's trigger holds and every check passes.
    @dev Invariants enforced here (any failure reverts the whole rebalance):
         I1 trigger: not within `cooldown`; THRESHOLD or CALENDAR holds before trading.
         I2 prices: every feed fresh, complete and positive.
         I3 per trade: sell != buy, both vault assets; amount_in <= holdings;
            min_amount_out and measured output >= oracle-implied out less `max_slippage_bps`
            (bound rounded up).
         I4 size: value sold (rounded up) <= `max_trade_bps` of vault value.
         I5 per touched asset: |w_after - t| <= |w_before - t|, and if it crossed its target,
            by at most `tolerance_bps`. Untouched assets keep their holdings; their weights move
            only with total value, which I7 bounds.
         I6 drift_after < drift_before (WAD precision).
         I7 value_after >= value_before - value sold * `max_slippage_bps` (allowance rounded down).
         `last_rebalance` is written before any external call (checks-effects-interactions);
         holdings are updated from measured balance differences.
    @param trades Swaps to make, in order (at most 16).
    @param deadline Unix time (seconds) after which the rebalance reverts; also the router deadline.
    """
    cfg: Config = self._load_config()
    assert not cfg.paused, "vault: paused"
    assert self.is_keeper[msg.sender], "vault: not keeper"
    assert block.timestamp <= deadline, "vault: expired"
    assert len(trades) != 0, "vault: no trades"
    assert block.timestamp >= cfg.last_rebalance + cfg.cooldown, "vault: cooldown"

    n: uint256 = N_ASSETS
    prices: DynArray[uint256, MAX_ASSETS] = self._strict_prices()
    holdings: DynArray[uint256, MAX_ASSETS] = self._holdings_array()
    values: DynArray[uint256, MAX_ASSETS] = self._values(holdings, prices)
    value_before: uint256 = self._sum(values)
    targets: DynArray[uint256, MAX_ASSETS] = self._targets_array()
    weights_before: DynArray[uint256, MAX_ASSETS] = self._weights_wad(values, value_before)
    drift_before: uint256 = self._drift_wad(weights_before, targets)
    reason: uint8 = self._trigger(drift_before, cfg)
    assert reason != REASON_NONE, "vault: no trigger"

    # effects before interactions: starts the cooldown even for a reentrant caller
    self._config = (self._config & ~(MASK64 << 176)) | (block.timestamp << 176)  # last_rebalance

    router: address = ROUTER
    slippage: uint256 = cfg.max_slippage_bps
    trade_cap: uint256 = value_before * cfg.max_trade_bps // BPS
    sold_value_up: uint256 = 0  # value sold so far, each trade rounded up: for the size cap (I4)
    sold_value: uint256 = 0  # the same, each trade rounded down: for the loss allowance (I7)
    touched: uint256 = 0  # bit i set: asset i was sold or bought

    for t: Trade in trades:
        s: uint256 = self._index_of(t.sell)
        b: uint256 = self._index_of(t.buy)
        assert s != b, "vault: same asset"
        assert t.amount_in != 0, "vault: zero amount"
        assert t.amount_in <= holdings[s], "vault: exceeds holdings"
        expected: uint256 = t.amount_in * prices[s] * self._unit(b) // (prices[b] * self._unit(s))
        floor_out: uint256 = self._div_up(expected * (BPS - slippage), BPS)
        assert t.min_amount_out >= floor_out, "vault: min out below bound"

        sold_value += t.amount_in * prices[s] // self._unit(s)
        sold_value_up += self._div_up(t.amount_in * prices[s], self._unit(s))
        assert sold_value_up <= trade_cap, "vault: trade too large"

        received: uint256 = self._swap(router, t.sell, t.buy, t.amount_in, t.min_amount_out, deadline)
        assert received >= t.min_amount_out, "vault: output below bound"
        holdings[s] -= t.amount_in
        holdings[b] += received
        touched |= (1 << s) | (1 << b)
        log Swapped(sell=t.sell, buy=t.buy, amount_in=t.amount_in, amount_out=received, expected_out=expected)

    values = self._values(holdings, prices)
    value_after: uint256 = self._sum(values)
    weights_after: DynArray[uint256, MAX_ASSETS] = self._weights_wad(values, value_after)
    drift_after: uint256 = self._drift_wad(weights_after, targets)

    tolerance: uint256 = cfg.tolerance_bps * BPS_TO_WAD
    for i: uint256 in range(n, bound=MAX_ASSETS):
        if touched & (1 << i) != 0:
            target: uint256 = targets[i] * BPS_TO_WAD
            dist_before: uint256 = self._dist(weights_before[i], target)
            dist_after: uint256 = self._dist(weights_after[i], target)
            crossed: bool = (weights_before[i] > target and weights_after[i] < target) or (
                weights_before[i] < target and weights_after[i] > target
            )
            assert not crossed or dist_after <= tolerance, "vault: overshoot"
            assert dist_after <= dist_before, "vault: moved away from target"
    assert drift_after < drift_before, "vault: drift not reduced"
    assert value_after + sold_value * slippage // BPS >= value_before, "vault: value loss"

    self._store_holdings(holdings)

    log Rebalanced(
        keeper=msg.sender,
        reason=reason,
        drift_before=drift_before // BPS_TO_WAD,
        drift_after=drift_after // BPS_TO_WAD,
        value_before=value_before,
        value_after=value_after,
        weights_before=self._to_bps(weights_before),
        weights_after=self._to_bps(weights_after),
    )


# ---- Views ----

@external
@view
def needs_rebalance() -> (bool, uint8):
    """
    @notice Whether `rebalance` would pass its trigger now, and why.
    @dev Never reverts on bad feeds: returns (False, 0) while paused or if any feed is unusable.
    @return needed True if a rebalance is allowed now.
    @return reason 0 none, 1 THRESHOLD, 2 CALENDAR.
    """
    reason: uint8 = self._check_trigger()[0]
    return reason != REASON_NONE, reason


@external
@view
def drift() -> uint256:
    """@notice max_i |weight_i - target_i| in bps (rounded down), at oracle prices. Reverts on bad feeds."""
    values: DynArray[uint256, MAX_ASSETS] = self._values(self._holdings_array(), self._strict_prices())
    return self._drift_wad(self._weights_wad(values, self._sum(values)), self._targets_array()) // BPS_TO_WAD


@external
@view
def current_weights() -> DynArray[uint256, MAX_ASSETS]:
    """@notice Weight of each asset in bps (rounded down), at oracle prices. Reverts on bad feeds."""
    values: DynArray[uint256, MAX_ASSETS] = self._values(self._holdings_array(), self._strict_prices())
    return self._to_bps(self._weights_wad(values, self._sum(values)))


@external
@view
def get_target_weights() -> DynArray[uint256, MAX_ASSETS]:
    """@notice Target weight of each asset in bps (sums to 10_000)."""
    return self._targets_array()


@external
@view
def get_assets() -> DynArray[address, MAX_ASSETS]:
    """@notice The vault's assets, in the order every per-asset array uses."""
    return self._assets()


@external
@view
def get_feeds() -> DynArray[address, MAX_ASSETS]:
    """@notice The Chainlink feed of each asset."""
    return FEEDS


@external
@view
def get_max_ages() -> DynArray[uint256, MAX_ASSETS]:
    """@notice Max age in seconds accepted for each feed's answer."""
    return self._max_ages_array()


@external
@view
def get_pending_target_weights() -> DynArray[uint256, MAX_ASSETS]:
    """@notice Queued target weights in bps; all zero when nothing is queued (`pending_eta` == 0)."""
    return self._unpack_weights(self._pending_targets)


@external
@view
@nonreentrant
def get_holdings() -> DynArray[uint256, MAX_ASSETS]:
    """@notice What depositors own of each asset (token units); excludes donations."""
    return self._holdings_array()


@external
@view
@nonreentrant
def total_value() -> uint256:
    """@notice Value of the holdings in 1e18 quote units at oracle prices (rounded down). Reverts on bad feeds."""
    return self._total_value(self._holdings_array(), self._strict_prices())


@external
@view
def checkUpkeep(checkData: Bytes[256]) -> (bool, Bytes[64]):
    """
    @notice Chainlink Automation compatible check.
    @param checkData Ignored.
    @return upkeepNeeded Same as `needs_rebalance()[0]`.
    @return performData abi_encode(reason: uint8, drift_bps: uint256) when needed, else empty.
    """
    reason: uint8 = REASON_NONE
    drift_wad: uint256 = 0
    reason, drift_wad = self._check_trigger()
    if reason == REASON_NONE:
        return False, b""
    drift_bps: uint256 = drift_wad // BPS_TO_WAD
    return True, abi_encode(reason, drift_bps)


@external
@view
def router() -> address:
    """@notice The Uniswap-V2-compatible router every trade goes through (fixed at deployment)."""
    return ROUTER


@external
@view
def paused() -> bool:
    """@notice True while deposits and rebalances are stopped (redeem always works)."""
    return self._paused()


@external
@view
def last_rebalance() -> uint256:
    """@notice Unix time of the last rebalance; the deployment time before the first."""
    return self._load_config().last_rebalance


@external
@view
def drift_threshold_bps() -> uint256:
    """@notice THRESHOLD trigger, bps of weight."""
    return self._load_config().drift_threshold_bps


@external
@view
def rebalance_period() -> uint256:
    """@notice CALENDAR period, seconds."""
    return self._load_config().rebalance_period


@external
@view
def min_drift_bps() -> uint256:
    """@notice Least drift for a CALENDAR rebalance, bps."""
    return self._load_config().min_drift_bps


@external
@view
def cooldown() -> uint256:
    """@notice Least time between rebalances, seconds."""
    return self._load_config().cooldown


@external
@view
def max_slippage_bps() -> uint256:
    """@notice Slippage allowed against the oracle, bps."""
    return self._load_config().max_slippage_bps


@external
@view
def max_trade_bps() -> uint256:
    """@notice Most value one rebalance may sell, bps of vault value."""
    return self._load_config().max_trade_bps


@external
@view
def tolerance_bps() -> uint256:
    """@notice How far past its target a traded asset may end, bps of weight."""
    return self._load_config().tolerance_bps


@external
@view
def target_delay() -> uint256:
    """@notice Timelock on target weights, seconds."""
    return self._load_config().target_delay


# ---- Target weights (timelocked) ----

@external
@nonreentrant
def queue_target_weights(weights: DynArray[uint256, MAX_ASSETS]):
    """
    @notice Queue new target weights; they apply no sooner than `target_delay` seconds from now.
    @param weights Target weight per asset in bps, summing to exactly 10_000. Replaces any queued set.
    """
    self._only_owner()
    eta: uint256 = block.timestamp + self._load_config().target_delay
    self._pending_targets = self._pack_weights(weights)
    self.pending_eta = eta
    log TargetWeightsQueued(weights=weights, eta=eta)


@external
@nonreentrant
def apply_target_weights():
    """@notice Apply the queued target weights once their delay has passed. Anyone may call."""
    eta: uint256 = self.pending_eta
    assert eta != 0, "vault: nothing queued"
    assert block.timestamp >= eta, "vault: timelock"
    self._weights_and_ages = (self._weights_and_ages & ~WEIGHTS_MASK) | self._pending_targets
    self._pending_targets = 0
    self.pending_eta = 0
    log TargetWeightsApplied(weights=self._targets_array())


@external
@nonreentrant
def cancel_target_weights():
    """@notice Drop the queued target weights (owner)."""
    self._only_owner()
    eta: uint256 = self.pending_eta
    assert eta != 0, "vault: nothing queued"
    self._pending_targets = 0
    self.pending_eta = 0
    log TargetWeightsCancelled(eta=eta)


# ---- Roles and pause ----

@external
def set_keeper(account: address, enabled: bool):
    """@notice Grant or revoke the keeper role (owner)."""
    self._only_owner()
    self._nonzero(account)
    self.is_keeper[account] = enabled
    log KeeperSet(account=account, enabled=enabled)


@external
def set_guardian(account: address):
    """@notice Set the guardian, who may pause (owner). Empty address: no guardian."""
    self._only_owner()
    log GuardianChanged(old_guardian=self.guardian, new_guardian=account)
    self.guardian = account


@external
def transfer_ownership(new_owner: address):
    """@notice Start a two-step ownership transfer; `new_owner` must call `accept_ownership`."""
    self._only_owner()
    self.pending_owner = new_owner
    log OwnershipTransferStarted(previous_owner=self.owner, new_owner=new_owner)


@external
def accept_ownership():
    """@notice Complete an ownership transfer (pending owner)."""
    assert msg.sender == self.pending_owner, "vault: not pending owner"
    log OwnershipTransferred(previous_owner=self.owner, new_owner=msg.sender)
    self.owner = msg.sender
    self.pending_owner = empty(address)


@external
def pause():
    """@notice Stop deposits and rebalances (guardian or owner). Redeem keeps working."""
    assert msg.sender == self.guardian or msg.sender == self.owner, "vault: not guardian"
    assert not self._paused(), "vault: paused"
    self._config |= PAUSED_BIT
    log Paused(account=msg.sender)


@external
def unpause():
    """@notice Resume deposits and rebalances (owner)."""
    self._only_owner()
    assert self._paused(), "vault: not paused"
    self._config &= ~PAUSED_BIT
    log Unpaused(account=msg.sender)


# ---- Parameters (owner, hard-bounded) ----

@external
def set_drift_threshold_bps(new_value: uint256):
    """@param new_value THRESHOLD trigger in bps of weight, 10..5_000."""
    self._set_field("drift_threshold_bps", 0, MASK16, new_value, MIN_THRESHOLD_BPS, MAX_THRESHOLD_BPS)
    assert new_value >= (self._config >> 16) & MASK16, "vault: below min drift"


@external
def set_rebalance_period(new_value: uint256):
    """@param new_value CALENDAR period in seconds, 1 day..366 days."""
    self._set_field("rebalance_period", 112, MASK32, new_value, MIN_PERIOD, MAX_PERIOD)


@external
def set_min_drift_bps(new_value: uint256):
    """@param new_value Least drift in bps for a CALENDAR rebalance, 1..drift_threshold_bps."""
    self._set_field("min_drift_bps", 16, MASK16, new_value, 1, (self._config & MASK16))


@external
def set_cooldown(new_value: uint256):
    """@param new_value Least time between rebalances in seconds, 0..30 days."""
    self._set_field("cooldown", 80, MASK32, new_value, 0, MAX_COOLDOWN)


@external
def set_max_slippage_bps(new_value: uint256):
    """@param new_value Slippage allowed against the oracle, in bps, 1..1_000."""
    self._set_field("max_slippage_bps", 32, MASK16, new_value, MIN_SLIPPAGE_BPS, MAX_SLIPPAGE_BPS)


@external
def set_max_trade_bps(new_value: uint256):
    """@param new_value Most value one rebalance may sell, in bps of vault value, 100..10_000."""
    self._set_field("max_trade_bps", 48, MASK16, new_value, MIN_TRADE_BPS, BPS)


@external
def set_tolerance_bps(new_value: uint256):
    """@param new_value How far past its target a traded asset may end, in bps of weight, 0..200."""
    self._set_field("tolerance_bps", 64, MASK16, new_value, 0, MAX_TOLERANCE_BPS)


@external
def set_target_delay(new_value: uint256):
    """@param new_value Timelock on target weights in seconds, 1 hour..30 days."""
    self._set_field("target_delay", 144, MASK32, new_value, MIN_TARGET_DELAY, MAX_TARGET_DELAY)


@external
def set_max_age(feed: address, new_value: uint256):
    """
    @notice Match a feed's accepted age to its heartbeat.
    @param feed One of `get_feeds()`.
    @param new_value Max age in seconds, 60..3 days.
    """
    self._only_owner()
    assert new_value >= MIN_MAX_AGE and new_value <= MAX_MAX_AGE, "vault: out of bounds"
    for i: uint256 in range(N_ASSETS, bound=MAX_ASSETS):
        if FEEDS[i] == feed:
            lane: uint256 = AGE_SHIFT + 18 * i
            word: uint256 = self._weights_and_ages
            log FeedMaxAgeChanged(feed=feed, old_value=(word >> lane) & MASK18, new_value=new_value)
            self._weights_and_ages = (word & ~(MASK18 << lane)) | (new_value << lane)
            return
    raise "vault: unknown feed"


# ---- Internal: roles, weights, trigger ----

@internal
def _set_field(name: String[32], offset: uint256, mask: uint256, new_value: uint256, lo: uint256, hi: uint256):
    """
    @dev Owner-only, bounds-checked change of one `_config` field (layout in `Config`), with its
         event. The bounds keep every value inside its field's width.
    """
    self._only_owner()
    assert new_value >= lo and new_value <= hi, "vault: out of bounds"
    word: uint256 = self._config
    log ParameterChanged(name=name, old_value=(word >> offset) & mask, new_value=new_value)
    self._config = (word & ~(mask << offset)) | (new_value << offset)


@internal
@pure
def _nonzero(account: address):
    assert account != empty(address), "vault: zero address"


@internal
@view
def _check_length(length: uint256):
    assert length == N_ASSETS, "vault: length mismatch"


@internal
@view
def _only_owner():
    assert msg.sender == self.owner, "vault: not owner"


@internal
@view
def _check_trigger() -> (uint8, uint256):
    """@dev (reason, drift in WAD) now; reason 0 while paused or if any feed is unusable."""
    cfg: Config = self._load_config()
    if cfg.paused:
        return REASON_NONE, 0
    prices: DynArray[uint256, MAX_ASSETS] = []
    ages: DynArray[uint256, MAX_ASSETS] = self._max_ages_array()
    for i: uint256 in range(N_ASSETS, bound=MAX_ASSETS):
        price: uint256 = 0
        status: uint256 = 0
        updated_at: uint256 = 0
        price, status, updated_at = self._read_feed(i, ages[i])
        if status != FEED_OK:
            return REASON_NONE, 0
        prices.append(price)
    values: DynArray[uint256, MAX_ASSETS] = self._values(self._holdings_array(), prices)
    drift_wad: uint256 = self._drift_wad(self._weights_wad(values, self._sum(values)), self._targets_array())
    return self._trigger(drift_wad, cfg), drift_wad


@internal
@view
def _trigger(drift_wad: uint256, cfg: Config) -> uint8:
    """Mirror: offchain.model.trigger."""
    if block.timestamp < cfg.last_rebalance + cfg.cooldown:
        return REASON_NONE
    if drift_wad >= cfg.drift_threshold_bps * BPS_TO_WAD:
        return REASON_THRESHOLD
    if block.timestamp >= cfg.last_rebalance + cfg.rebalance_period and drift_wad >= cfg.min_drift_bps * BPS_TO_WAD:
        return REASON_CALENDAR
    return REASON_NONE


@internal
@view
def _read_feed(i: uint256, max_age: uint256) -> (uint256, uint256, uint256):
    """
    @dev Returns (price 1e18 per whole token, status, updatedAt). Mirror: offchain.model.feed_status.
         A feed contract that reverts makes this revert.
    """
    round_id: uint80 = 0
    answer: int256 = 0
    started_at: uint256 = 0
    updated_at: uint256 = 0
    answered_in_round: uint80 = 0
    round_id, answer, started_at, updated_at, answered_in_round = staticcall IAggregatorV3(FEEDS[i]).latestRoundData()
    if answer <= 0:
        return 0, FEED_NON_POSITIVE, updated_at
    price: uint256 = convert(answer, uint256) * 10 ** (18 - ((ASSET_CONFIG[i] >> 168) & 255))
    if updated_at == 0 or answered_in_round < round_id:
        return price, FEED_INCOMPLETE, updated_at
    if updated_at > block.timestamp or block.timestamp - updated_at > max_age:
        return price, FEED_STALE, updated_at
    return price, FEED_OK, updated_at


@internal
@view
def _strict_prices() -> DynArray[uint256, MAX_ASSETS]:
    """@dev Prices of all assets; reverts with the reason of the first unusable feed."""
    prices: DynArray[uint256, MAX_ASSETS] = []
    ages: DynArray[uint256, MAX_ASSETS] = self._max_ages_array()
    for i: uint256 in range(N_ASSETS, bound=MAX_ASSETS):
        price: uint256 = 0
        status: uint256 = 0
        updated_at: uint256 = 0
        price, status, updated_at = self._read_feed(i, ages[i])
        assert status != FEED_NON_POSITIVE, "vault: bad price"
        assert status != FEED_INCOMPLETE, "vault: incomplete round"
        assert status != FEED_STALE, "vault: stale price"
        prices.append(price)
    return prices


@internal
@view
def _holdings_array() -> DynArray[uint256, MAX_ASSETS]:
    n: uint256 = N_ASSETS
    holdings: DynArray[uint256, MAX_ASSETS] = []
    for j: uint256 in range((n + 1) // 2, bound=MAX_ASSETS // 2):
        word: uint256 = self._holdings[j]  # one SLOAD per pair of assets
        holdings.append(word & MASK128)
        if 2 * j + 1 < n:
            holdings.append(word >> 128)
    return holdings


@internal
def _store_holdings(holdings: DynArray[uint256, MAX_ASSETS]):
    """@dev Pack two holdings per slot; each must fit 128 bits."""
    n: uint256 = len(holdings)
    for j: uint256 in range((n + 1) // 2, bound=MAX_ASSETS // 2):
        low: uint256 = holdings[2 * j]
        high: uint256 = 0
        if 2 * j + 1 < n:
            high = holdings[2 * j + 1]
        assert low <= MASK128 and high <= MASK128, "vault: holdings overflow"
        self._holdings[j] = low | (high << 128)


@internal
@view
def _targets_array() -> DynArray[uint256, MAX_ASSETS]:
    return self._unpack_weights(self._weights_and_ages)


@internal
@view
def _unpack_weights(packed: uint256) -> DynArray[uint256, MAX_ASSETS]:
    out: DynArray[uint256, MAX_ASSETS] = []
    for i: uint256 in range(N_ASSETS, bound=MAX_ASSETS):
        out.append((packed >> (14 * i)) & MASK14)
    return out


@internal
@view
def _pack_weights(weights: DynArray[uint256, MAX_ASSETS]) -> uint256:
    """@dev Checks one weight per asset summing to exactly 10_000 (so each fits its 14-bit lane), packs."""
    self._check_length(len(weights))
    packed: uint256 = 0
    total: uint256 = 0
    for i: uint256 in range(len(weights), bound=MAX_ASSETS):
        total += weights[i]
        packed |= weights[i] << (14 * i)
    assert total == BPS, "vault: weights must sum to 10000"
    return packed


@internal
@view
def _max_ages_array() -> DynArray[uint256, MAX_ASSETS]:
    packed: uint256 = self._weights_and_ages
    ages: DynArray[uint256, MAX_ASSETS] = []
    for i: uint256 in range(N_ASSETS, bound=MAX_ASSETS):
        ages.append((packed >> (AGE_SHIFT + 18 * i)) & MASK18)
    return ages


@internal
@view
def _paused() -> bool:
    return self._config & PAUSED_BIT != 0


@internal
@view
def _load_config() -> Config:
    c: uint256 = self._config
    return Config(
        drift_threshold_bps=c & MASK16,
        min_drift_bps=(c >> 16) & MASK16,
        max_slippage_bps=(c >> 32) & MASK16,
        max_trade_bps=(c >> 48) & MASK16,
        tolerance_bps=(c >> 64) & MASK16,
        cooldown=(c >> 80) & MASK32,
        rebalance_period=(c >> 112) & MASK32,
        target_delay=(c >> 144) & MASK32,
        last_rebalance=(c >> 176) & MASK64,
        paused=(c >> 240) & 1 == 1,
    )


@internal
@view
def _values(
    holdings: DynArray[uint256, MAX_ASSETS], prices: DynArray[uint256, MAX_ASSETS]
) -> DynArray[uint256, MAX_ASSETS]:
    """@dev value_i = holdings_i * price_i / 10**decimals_i, 1e18 quote units, rounded down."""
    values: DynArray[uint256, MAX_ASSETS] = []
    for i: uint256 in range(len(holdings), bound=MAX_ASSETS):
        values.append(holdings[i] * prices[i] // self._unit(i))
    return values


@internal
@view
def _total_value(
    holdings: DynArray[uint256, MAX_ASSETS], prices: DynArray[uint256, MAX_ASSETS]
) -> uint256:
    return self._sum(self._values(holdings, prices))


@internal
@pure
def _sum(xs: DynArray[uint256, MAX_ASSETS]) -> uint256:
    total: uint256 = 0
    for x: uint256 in xs:
        total += x
    return total


@internal
@pure
def _weights_wad(values: DynArray[uint256, MAX_ASSETS], total: uint256) -> DynArray[uint256, MAX_ASSETS]:
    """@dev w_i = value_i * 1e18 / total, rounded down; all zero for an empty vault."""
    weights: DynArray[uint256, MAX_ASSETS] = []
    for v: uint256 in values:
        if total == 0:
            weights.append(0)
        else:
            weights.append(v * WAD // total)
    return weights


@internal
@pure
def _to_bps(weights_wad: DynArray[uint256, MAX_ASSETS]) -> DynArray[uint256, MAX_ASSETS]:
    out: DynArray[uint256, MAX_ASSETS] = []
    for w: uint256 in weights_wad:
        out.append(w // BPS_TO_WAD)
    return out


@internal
@pure
def _drift_wad(weights: DynArray[uint256, MAX_ASSETS], targets: DynArray[uint256, MAX_ASSETS]) -> uint256:
    """@dev max_i |w_i - t_i| in WAD; 0 for an empty vault. Mirror: offchain.model.drift_wad."""
    drift: uint256 = 0
    empty_vault: bool = True
    for i: uint256 in range(len(weights), bound=MAX_ASSETS):
        if weights[i] != 0:
            empty_vault = False
        drift = max(drift, self._dist(weights[i], targets[i] * BPS_TO_WAD))
    if empty_vault:
        return 0
    return drift


@internal
@pure
def _dist(a: uint256, b: uint256) -> uint256:
    if a > b:
        return unsafe_sub(a, b)  # a > b: cannot underflow
    return unsafe_sub(b, a)  # b >= a: cannot underflow


@internal
@pure
def _div_up(num: uint256, den: uint256) -> uint256:
    """@dev ceil(num / den) for den > 0."""
    return (num + den - 1) // den


@internal
@view
def _index_of(asset: address) -> uint256:
    for i: uint256 in range(N_ASSETS, bound=MAX_ASSETS):
        if self._asset(i) == asset:
            return i
    raise "vault: unknown asset"


@internal
@view
def _asset(i: uint256) -> address:
    return convert(convert(ASSET_CONFIG[i] & (2**160 - 1), uint160), address)


@internal
@view
def _unit(i: uint256) -> uint256:
    """@dev 10 ** token decimals of asset i."""
    return 10 ** ((ASSET_CONFIG[i] >> 160) & 255)


@internal
@view
def _assets() -> DynArray[address, MAX_ASSETS]:
    out: DynArray[address, MAX_ASSETS] = []
    for i: uint256 in range(N_ASSETS, bound=MAX_ASSETS):
        out.append(self._asset(i))
    return out


# ---- Internal: token movements ----

@internal
def _swap(
    router: address, sell: address, buy: address, amount_in: uint256, min_out: uint256, deadline: uint256
) -> uint256:
    """@dev One exact-input swap through the router; returns the measured amount of `buy` received."""
    buy_before: uint256 = staticcall IERC20(buy).balanceOf(self)
    assert extcall IERC20(sell).approve(router, amount_in, default_return_value=True), "vault: approve failed"
    extcall IUniswapV2Router(router).swapExactTokensForTokens(amount_in, min_out, [sell, buy], self, deadline)
    # the router must pull exactly `amount_in`: holdings stay exact and no allowance is left over
    assert staticcall IERC20(sell).allowance(self, router) == 0, "vault: partial fill"
    return staticcall IERC20(buy).balanceOf(self) - buy_before


@internal
def _pull(token: address, sender: address, amount: uint256):
    before: uint256 = staticcall IERC20(token).balanceOf(self)
    assert extcall IERC20(token).transferFrom(sender, self, amount, default_return_value=True), "vault: transfer failed"
    assert staticcall IERC20(token).balanceOf(self) - before == amount, "vault: transfer amount mismatch"


@internal
def _push(token: address, receiver: address, amount: uint256):
    assert extcall IERC20(token).transfer(receiver, amount, default_return_value=True), "vault: transfer failed"


# ---- Internal: share token ----

@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    self._nonzero(receiver)
    assert self.balanceOf[sender] >= amount, "vault: insufficient shares"
    self.balanceOf[sender] = unsafe_sub(self.balanceOf[sender], amount)  # checked just above
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)


@internal
def _spend_allowance(owner: address, spender: address, amount: uint256):
    allowed: uint256 = self.allowance[owner][spender]
    if allowed != max_value(uint256):
        assert allowed >= amount, "vault: insufficient allowance"
        self.allowance[owner][spender] = unsafe_sub(allowed, amount)  # checked just above


@internal
def _mint(receiver: address, amount: uint256):
    self.totalSupply += amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@internal
def _burn(owner: address, amount: uint256):
    assert self.balanceOf[owner] >= amount, "vault: insufficient shares"
    self.balanceOf[owner] = unsafe_sub(self.balanceOf[owner], amount)  # checked just above
    self.totalSupply = unsafe_sub(self.totalSupply, amount)  # supply >= any single balance
    log Transfer(sender=owner, receiver=empty(address), value=amount)
