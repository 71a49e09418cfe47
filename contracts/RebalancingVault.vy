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

        THE PROMISE TO DEPOSITORS (every line is enforced below, where it is marked P1-P3):
        P1 Loss bound. A rebalance may only sell assets that are above target and only buy
           assets that are below it, each by at most its distance from target (a buy may end
           `tolerance_bps` past it); no asset is both sold and bought. So trading can only undo
           the imbalance the market made, and it can lose at most `max_slippage_bps` of the value
           it trades. The one imbalance a keeper can make itself is a buy's overshoot, at most
           `tolerance_bps` per asset: with `tolerance_bps` below `min_drift_bps` (the defaults,
           25 < 100) an overshoot alone can never trigger a rebalance, so every rebalance starts
           from a market-made deviation. On top of that, every loss against the oracle (value
           before minus value after, as a fraction of value before) is charged to a loss budget: at most
           `loss_budget_bps` of vault value at once, refilling at `loss_budget_bps` per
           `loss_window` seconds. Over any T seconds trading loses at most
           loss_budget_bps * (1 + T / loss_window) of vault value, however the keeper, the owner
           and the pools behave.
        P2 Timelock. Nothing that loosens a bound, adds a keeper, changes target weights or
           shortens the delay takes effect sooner than `target_delay` seconds after it was
           announced with a `ChangeQueued` event (the delay in force when it was queued; a
           shorter delay itself waits out the longer one). Tightening is immediate.
        P3 Exit. `redeem` needs no oracle, no keeper and no owner: it works while paused, while
           feeds are dead and while a change is pending, so a depositor who disagrees with a
           queued change can leave before it applies.
@dev    Accounting is INTERNAL: `_holdings` tracks what depositors own; the contract never
        trusts `balanceOf` for accounting. Tokens sent straight to the vault (donations) are
        ignored by deposits, redeems, weights and triggers. This is the defence against the
        first-depositor/donation inflation attack (no virtual shares are used) and against a
        donor forcing a rebalance by skewing weights.
        Gas: everything `rebalance` reads cold is packed (all parameters with `paused`,
        `last_rebalance` and the loss budget in one word, targets with feed max ages in one,
        holdings two per word), so its fixed cost is a handful of SLOADs. The one-call keeper
        view lives in the stateless `VaultLens.state(vault)` to keep this contract under
        EIP-170's 24,576 bytes.
        Conventions: prices are 1e18 quote units (e.g. USD) per whole token; values are 1e18
        quote units; weights are WAD fractions internally and bps (10_000 == 100 %) in views
        and events; all of them round DOWN. Invariants enforced in `rebalance` are listed there.
        The Python reference model `offchain/model.py` mirrors every formula here exactly.
@custom:security
        - Donation/inflation: internal accounting (above); shares round down on deposit,
          amounts pulled round up, redeemed amounts round down: every rounding favours the vault.
        - Oracle: every feed is read with a non-reverting static call. A feed that reverts,
          returns short data, or answers more than MAX_PRICE (1e36 per token after scaling to
          18 decimals) is UNUSABLE; answers <= 0, rounds with `updatedAt == 0` or
          `answeredInRound < roundId`, and answers older than the feed's own `max_age` (set at
          deployment, no default) are NON_POSITIVE, INCOMPLETE and STALE. Views report the status
          and never revert because of a feed; `rebalance` and the first deposit refuse any of
          them with a reason. An optional L2 sequencer-uptime feed (Chainlink's: answer 0 = up)
          makes every priced read UNUSABLE while the sequencer is down or within
          `sequencer_grace` seconds of its restart. Redeem needs no oracle.
        - Sandwiching / hostile keeper: each swap's `min_amount_out` and its measured output must
          be >= the oracle-implied output less `max_slippage_bps`; only overweight assets are
          sold and only underweight ones bought, each within its distance from target (P1), so
          round trips and wash trades revert; the whole rebalance may lose at most
          `max_slippage_bps` of the value traded and is charged to the loss budget; the value
          traded is capped at `max_trade_bps` of the vault; drift must strictly fall.
        - Hostile owner: every loosening is timelocked (P2) and all parameters have hard bounds,
          so even an owner colluding with a keeper is held to the loss budget in force, and a
          looser budget only after depositors had `target_delay` seconds to redeem.
        - Router: approved for exactly `amount_in` per trade and must consume all of it
          ("vault: partial fill"), so no allowance is ever left; outputs are measured by balance
          difference, never taken from return values.
        - Non-standard ERC-20s: no-return tokens handled (`default_return_value=True`);
          fee-on-transfer deposits revert ("vault: transfer amount mismatch").
        - Reentrancy: one global `@nonreentrant` lock on every state-changing entry point and on
          `total_value`/`get_holdings`, the views integrators price shares with. Holdings are
          written before tokens move in deposit/redeem and after all swaps in rebalance, so no
          view can observe a half-updated state.
        - Size: the runtime stays under EIP-170; repeated checks go through small internal
          helpers.
"""

from ethereum.ercs import IERC20
from ethereum.ercs import IERC20Detailed

implements: IERC20


# ---- Interfaces (inline: brownie cannot resolve Vyper 0.4 imports) ----

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
# The loss budget is kept in units of 1e-15 of vault value (LOSS_ONE == 100 %).
LOSS_ONE: constant(uint256) = 10 ** 15
BPS_TO_LOSS: constant(uint256) = 10 ** 11  # one bps in LOSS_ONE units
# Largest price accepted from a feed, 1e18 quote units per whole token (1e18 quote units per
# token): above it a feed is UNUSABLE. Keeps every value product far from overflow.
MAX_PRICE: constant(uint256) = 10 ** 36

REASON_NONE: constant(uint8) = 0
REASON_THRESHOLD: constant(uint8) = 1
REASON_CALENDAR: constant(uint8) = 2

FEED_OK: constant(uint256) = 0
FEED_NON_POSITIVE: constant(uint256) = 1
FEED_STALE: constant(uint256) = 2
FEED_INCOMPLETE: constant(uint256) = 3
FEED_UNUSABLE: constant(uint256) = 4  # reverted, short or garbled data, absurd answer, sequencer down

# Kinds of governed change. 0-9 are the `_config` parameters, in this order (also the order of
# the constructor's `params`); 10 adds a keeper, 11 sets target weights, 12 + i sets feed i's
# max age. Each kind has one pending slot in `_pending`.
K_THRESHOLD: constant(uint256) = 0
K_MIN_DRIFT: constant(uint256) = 1
K_SLIPPAGE: constant(uint256) = 2
K_TRADE: constant(uint256) = 3
K_TOLERANCE: constant(uint256) = 4
K_COOLDOWN: constant(uint256) = 5
K_PERIOD: constant(uint256) = 6
K_DELAY: constant(uint256) = 7
K_LOSS_BUDGET: constant(uint256) = 8
K_LOSS_WINDOW: constant(uint256) = 9
N_PARAMS: constant(uint256) = 10
K_KEEPER: constant(uint256) = 10
K_TARGETS: constant(uint256) = 11
K_MAX_AGE: constant(uint256) = 12
N_KINDS: constant(uint256) = 20  # 12 + MAX_ASSETS

# Parameter table, 14 bits per kind k at bit 14 * k: the field's offset in `_config` (8 bits),
# its width (5 bits) and whether LOWERING it loosens (1 bit; otherwise raising loosens).
#   k  parameter             offset width  loosens when  hard bounds
#   0  drift_threshold_bps      0    13    lowered       10 .. 5_000 bps
#   1  min_drift_bps           13    13    lowered        1 .. drift_threshold_bps
#   2  max_slippage_bps        26    10    raised         1 .. 1_000 bps
#   3  max_trade_bps           36    14    raised       100 .. 10_000 bps
#   4  tolerance_bps           50     8    raised         0 .. 200 bps
#   5  cooldown                58    22    lowered        0 .. 30 days
#   6  rebalance_period        80    25    lowered        1 .. 366 days
#   7  target_delay           105    22    lowered        1 hour .. 30 days
#   8  loss_budget_bps        127    10    raised         1 .. 1_000 bps
#   9  loss_window            137    25    lowered        1 .. 365 days
# Each upper bound is below 2**width, so a bounded value always fits its field.
PARAM_LAYOUT: constant(uint256) = (
    (0 << 0) | (13 << 8) | (1 << 13)
    | (13 << 14) | (13 << 22) | (1 << 27)
    | (26 << 28) | (10 << 36) | (0 << 41)
    | (36 << 42) | (14 << 50) | (0 << 55)
    | (50 << 56) | (8 << 64) | (0 << 69)
    | (58 << 70) | (22 << 78) | (1 << 83)
    | (80 << 84) | (25 << 92) | (1 << 97)
    | (105 << 98) | (22 << 106) | (1 << 111)
    | (127 << 112) | (10 << 120) | (0 << 125)
    | (137 << 126) | (25 << 134) | (1 << 139)
)
# Lower bounds, 17 bits per kind (the largest, 86_400, is < 2**17).
PARAM_LO: constant(uint256) = (
    (10 << 0) | (1 << 17) | (1 << 34) | (100 << 51) | (0 << 68) | (0 << 85)
    | (86_400 << 102) | (3_600 << 119) | (1 << 136) | (86_400 << 153)
)
# Upper bounds, 25 bits per kind (the largest, 366 days, is < 2**25).
PARAM_HI: constant(uint256) = (
    (5_000 << 0) | (5_000 << 25) | (1_000 << 50) | (10_000 << 75) | (200 << 100)
    | ((30 * 86_400) << 125) | ((366 * 86_400) << 150) | ((30 * 86_400) << 175)
    | (1_000 << 200) | ((365 * 86_400) << 225)
)
# Each parameter's shift and mask in `_config`, folded from PARAM_LAYOUT at compile time (the hot
# path reads fields with constant shifts instead of decoding the table at run time).
SH_THRESHOLD: constant(uint256) = (PARAM_LAYOUT >> (14 * K_THRESHOLD)) & 255
MK_THRESHOLD: constant(uint256) = (1 << ((PARAM_LAYOUT >> (14 * K_THRESHOLD + 8)) & 31)) - 1
SH_MIN_DRIFT: constant(uint256) = (PARAM_LAYOUT >> (14 * K_MIN_DRIFT)) & 255
MK_MIN_DRIFT: constant(uint256) = (1 << ((PARAM_LAYOUT >> (14 * K_MIN_DRIFT + 8)) & 31)) - 1
SH_SLIPPAGE: constant(uint256) = (PARAM_LAYOUT >> (14 * K_SLIPPAGE)) & 255
MK_SLIPPAGE: constant(uint256) = (1 << ((PARAM_LAYOUT >> (14 * K_SLIPPAGE + 8)) & 31)) - 1
SH_TRADE: constant(uint256) = (PARAM_LAYOUT >> (14 * K_TRADE)) & 255
MK_TRADE: constant(uint256) = (1 << ((PARAM_LAYOUT >> (14 * K_TRADE + 8)) & 31)) - 1
SH_TOLERANCE: constant(uint256) = (PARAM_LAYOUT >> (14 * K_TOLERANCE)) & 255
MK_TOLERANCE: constant(uint256) = (1 << ((PARAM_LAYOUT >> (14 * K_TOLERANCE + 8)) & 31)) - 1
SH_COOLDOWN: constant(uint256) = (PARAM_LAYOUT >> (14 * K_COOLDOWN)) & 255
MK_COOLDOWN: constant(uint256) = (1 << ((PARAM_LAYOUT >> (14 * K_COOLDOWN + 8)) & 31)) - 1
SH_PERIOD: constant(uint256) = (PARAM_LAYOUT >> (14 * K_PERIOD)) & 255
MK_PERIOD: constant(uint256) = (1 << ((PARAM_LAYOUT >> (14 * K_PERIOD + 8)) & 31)) - 1
SH_DELAY: constant(uint256) = (PARAM_LAYOUT >> (14 * K_DELAY)) & 255
MK_DELAY: constant(uint256) = (1 << ((PARAM_LAYOUT >> (14 * K_DELAY + 8)) & 31)) - 1
SH_LOSS_BUDGET: constant(uint256) = (PARAM_LAYOUT >> (14 * K_LOSS_BUDGET)) & 255
MK_LOSS_BUDGET: constant(uint256) = (1 << ((PARAM_LAYOUT >> (14 * K_LOSS_BUDGET + 8)) & 31)) - 1
SH_LOSS_WINDOW: constant(uint256) = (PARAM_LAYOUT >> (14 * K_LOSS_WINDOW)) & 255
MK_LOSS_WINDOW: constant(uint256) = (1 << ((PARAM_LAYOUT >> (14 * K_LOSS_WINDOW + 8)) & 31)) - 1
# `_config` bits past the parameters.
PAUSED_BIT: constant(uint256) = 1 << 162
OFF_LAST: constant(uint256) = 163  # last_rebalance, unix seconds, 40 bits (to year 36_812)
OFF_LOSS: constant(uint256) = 203  # loss budget used at last_rebalance, LOSS_ONE units, 53 bits
MASK40: constant(uint256) = 2**40 - 1
MASK53: constant(uint256) = 2**53 - 1

MIN_MAX_AGE: constant(uint256) = 60  # seconds
MAX_MAX_AGE: constant(uint256) = 3 * 86_400  # seconds
MAX_SEQUENCER_GRACE: constant(uint256) = 86_400  # seconds

MASK14: constant(uint256) = 2**14 - 1
MASK18: constant(uint256) = 2**18 - 1
WEIGHTS_MASK: constant(uint256) = 2**112 - 1  # the 8 weight lanes of `_weights_and_ages`
AGE_SHIFT: constant(uint256) = 112  # where the max-age lanes start
MASK64: constant(uint256) = 2**64 - 1
MASK128: constant(uint256) = 2**128 - 1
MASK48: constant(uint256) = 2**48 - 1
# A pending change's word: value in bits 0-159, announced eta in 160-207, queue time in 208-255.
PENDING_VALUE: constant(uint256) = 2**160 - 1
OFF_ETA: constant(uint256) = 160
OFF_QUEUED: constant(uint256) = 208
# Gas a feed's latestRoundData may use; a feed that needs more is UNUSABLE (so a feed that burns
# gas cannot starve the views). Chainlink proxies use about 15k.
FEED_GAS: constant(uint256) = 200_000


# ---- Immutables: the basket's identity never changes ----

N_ASSETS: immutable(uint256)
# Per asset, packed to keep the deployed code under EIP-170 (immutables live in the code):
# bits 0-159 token address, 160-167 token decimals, 168-175 feed decimals.
ASSET_CONFIG: immutable(DynArray[uint256, MAX_ASSETS])
FEEDS: immutable(DynArray[address, MAX_ASSETS])
# Uniswap-V2-compatible router every trade goes through. Fixed for the vault's life: where the
# vault approves its tokens is not something an owner may change under depositors' feet.
ROUTER: immutable(address)
# VaultGovernance: the code every governance function runs (DELEGATECALL). Fixed for the vault's
# life, like the router; the factory passes one module to every vault it deploys.
GOVERNANCE: immutable(address)
# Chainlink L2 sequencer-uptime feed (empty: an L1-style chain, no check) and the grace period
# after a restart during which prices are not trusted, seconds.
SEQUENCER: immutable(address)
SEQUENCER_GRACE: immutable(uint256)


# ---- Structs ----

struct Trade:
    sell: address  # asset the vault sells
    buy: address  # asset the vault buys
    amount_in: uint256  # in `sell` token units
    min_amount_out: uint256  # in `buy` token units

# One queued change: `kind` as the K_* constants; `value` the new parameter value, the keeper's
# address, the packed target weights (14 bits per asset) or the new max age; `eta` unix seconds.
struct PendingChange:
    kind: uint256
    value: uint256
    eta: uint256


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
# Every parameter (layout in PARAM_LAYOUT) plus `paused` (bit 162), `last_rebalance` (bits
# 163-202) and the loss budget used as of `last_rebalance` (bits 203-255): one word, read and
# written once per rebalance.
_config: uint256
# One pending change per kind (layout at PENDING_VALUE); 0: none. It applies at the later of its
# announced eta and its queue time plus the delay in force now, so raising the delay also delays
# what is already queued.
_pending: uint256[N_KINDS]

# Roles. Owner changes in two steps so a typo cannot brick the vault.
owner: public(address)
pending_owner: public(address)
# Keepers may call `rebalance`. Adding one is timelocked; removing one is immediate.
is_keeper: public(HashMap[address, bool])
# The guardian may only make the vault safer: pause, tighten a bound, remove a keeper, cancel a
# pending change.
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

# A change took effect: immediately (tightening) or from the queue. `kind` as the K_* constants.
event ParameterChanged:
    kind: indexed(uint256)
    old_value: uint256
    new_value: uint256

event ChangeQueued:
    kind: indexed(uint256)
    value: uint256
    eta: uint256

event ChangeCancelled:
    kind: indexed(uint256)
    value: uint256
    eta: uint256

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
    max_ages: DynArray[uint256, MAX_ASSETS],
    params: uint256[N_PARAMS],
    router: address,
    governance: address,
    keeper: address,
    guardian: address,
    sequencer_feed: address,
    sequencer_grace: uint256,
):
    """
    @notice Create a vault; the deployer becomes the owner.
    @param name Share token name.
    @param symbol Share token symbol.
    @param assets 2-8 distinct ERC-20 tokens with 0-18 decimals.
    @param feeds One Chainlink AggregatorV3 feed per asset (quote per token, <= 18 decimals).
    @param target_weights Target weight per asset in bps, summing to exactly 10_000.
    @param max_ages Per feed, the oldest answer accepted in seconds (60 .. 3 days): the feed's
           heartbeat plus a small margin. There is no default.
    @param params The ten parameters in kind order (see PARAM_LAYOUT): drift_threshold_bps,
           min_drift_bps, max_slippage_bps, max_trade_bps, tolerance_bps, cooldown (s),
           rebalance_period (s), target_delay (s), loss_budget_bps, loss_window (s).
    @param router Uniswap-V2-compatible router every trade goes through.
    @param governance The VaultGovernance module (see `governance()`).
    @param keeper First keeper (empty address: none yet; later keepers are timelocked).
    @param guardian Account that may pause and tighten (empty address: none yet).
    @param sequencer_feed Chainlink L2 sequencer-uptime feed; empty address on L1-style chains.
    @param sequencer_grace Seconds after a sequencer restart during which prices are refused (<= 1 day).
    """
    n: uint256 = len(assets)
    assert n >= 2, "vault: too few assets"
    assert len(feeds) == n and len(target_weights) == n and len(max_ages) == n, "vault: length mismatch"
    assert router != empty(address) and governance.codesize != 0, "vault: zero address"
    assert sequencer_grace <= MAX_SEQUENCER_GRACE, "vault: out of bounds"

    # one pass: validate and pack (no internal calls, which would be copied into the initcode)
    config: DynArray[uint256, MAX_ASSETS] = []
    packed: uint256 = 0
    total: uint256 = 0
    for i: uint256 in range(n, bound=MAX_ASSETS):
        assert assets[i] != empty(address) and feeds[i] != empty(address), "vault: zero address"
        for j: uint256 in range(i + 1, n, bound=MAX_ASSETS):
            assert assets[j] != assets[i], "vault: duplicate asset"
        token_decimals: uint256 = convert(staticcall IERC20Detailed(assets[i]).decimals(), uint256)
        feed_decimals: uint256 = convert(staticcall IERC20Detailed(feeds[i]).decimals(), uint256)
        assert token_decimals <= 18 and feed_decimals <= 18, "vault: decimals above 18"
        assert max_ages[i] >= MIN_MAX_AGE and max_ages[i] <= MAX_MAX_AGE, "vault: out of bounds"
        config.append(convert(assets[i], uint256) | (token_decimals << 160) | (feed_decimals << 168))
        total += target_weights[i]
        packed |= (target_weights[i] << (14 * i)) | (max_ages[i] << (AGE_SHIFT + 18 * i))
    assert total == BPS, "vault: weights must sum to 10000"

    word: uint256 = 0
    for k: uint256 in range(N_PARAMS):
        assert params[k] >= (PARAM_LO >> (17 * k)) & 131_071, "vault: out of bounds"
        assert params[k] <= (PARAM_HI >> (25 * k)) & 33_554_431, "vault: out of bounds"
        word |= params[k] << ((PARAM_LAYOUT >> (14 * k)) & 255)
    assert params[K_MIN_DRIFT] <= params[K_THRESHOLD], "vault: below min drift"

    N_ASSETS = n
    ASSET_CONFIG = config
    FEEDS = feeds
    ROUTER = router
    GOVERNANCE = governance
    SEQUENCER = sequencer_feed
    SEQUENCER_GRACE = sequencer_grace
    self._weights_and_ages = packed
    self._config = word | (block.timestamp << OFF_LAST)  # last_rebalance = deployment time

    self.name = name
    self.symbol = symbol
    self.owner = msg.sender
    self.guardian = guardian
    if keeper != empty(address):
        self.is_keeper[keeper] = True
        log KeeperSet(account=keeper, enabled=True)

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
         quote unit), so every feed must be usable and fresh. Later deposits read no feed: they
         are taken in proportion to current holdings. `amounts` are MAXIMA per asset; the vault
         mints shares = min_i floor(amounts[i] * supply / holdings[i]) (rounded down) and pulls
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
        shares = self._sum(self._values(amounts, prices))
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
    @notice Burn `owner`'s shares and pay `receiver` the pro-rata holdings in kind (P3).
    @dev Needs no oracle; works while paused, while feeds are stale or dead and while changes
         are pending. Each amount is floor(holdings[i] * shares / supply): rounded down, in the
         vault's favour.
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
         I2 prices: sequencer up (if any) and every feed usable, fresh, complete and positive.
         I3 per trade: sell != buy, both vault assets; amount_in <= holdings;
            min_amount_out and measured output >= oracle-implied out less `max_slippage_bps`
            (bound rounded up).
         I4 size: value sold (each trade rounded up) <= `max_trade_bps` of vault value.
         I5 per touched asset: |w_after - t| <= |w_before - t|, and if it crossed its target,
            by at most `tolerance_bps`. Untouched assets keep their holdings; their weights move
            only with total value, which I7 bounds.
         I6 drift_after < drift_before (WAD precision).
         I7 value_after >= value_before - value sold * `max_slippage_bps` (allowance rounded down).
         I8 direction (P1): no asset is both sold and bought ("vault: round trip"); only assets
            above target before the rebalance are sold and only assets below it bought, at
            oracle prices; per asset, the value sold (rounded up) <= value - ceil(target value)
            and the value bought (rounded up) <= floor(target value) - value + floor(tolerance
            of vault value), target value = target_bps * value_before / 10_000.
         I9 loss budget (P1): used = max(0, used - elapsed * budget / window) (drain rounded
            down), plus ceil((value_before - value_after) * 1e15 / value_before) when value fell;
            used <= loss_budget_bps * 1e11 (LOSS_ONE units) or "vault: loss budget".
         `last_rebalance` is written before any external call (checks-effects-interactions);
         holdings and the loss budget are written after all swaps from measured balance
         differences.
    @param trades Swaps to make, in order (at most 16).
    @param deadline Unix time (seconds) after which the rebalance reverts; also the router deadline.
    """
    cfg: uint256 = self._config
    assert cfg & PAUSED_BIT == 0, "vault: paused"
    assert self.is_keeper[msg.sender], "vault: not keeper"
    assert block.timestamp <= deadline, "vault: expired"
    assert len(trades) != 0, "vault: no trades"
    last: uint256 = (cfg >> OFF_LAST) & MASK40
    assert block.timestamp >= last + ((cfg >> SH_COOLDOWN) & MK_COOLDOWN), "vault: cooldown"

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
    cfg = (cfg & ~(MASK40 << OFF_LAST)) | (block.timestamp << OFF_LAST)
    self._config = cfg

    # I8, in 1e18 quote units, exact (no rounding in the comparisons): asset i may be sold when
    # value_i * 10_000 > (target_i + tolerance_bps) * value_before, down to that level (sell room
    # value_i - ceil((target + tolerance) value)), and bought when value_i * 10_000 <
    # target_i * value_before, up to tolerance past target (buy room floor(target value) - value_i
    # + floor(tolerance value)). A buy's overshoot therefore can never be sold again.
    tolerance_bps: uint256 = (cfg >> SH_TOLERANCE) & MK_TOLERANCE
    tolerance_value: uint256 = value_before * tolerance_bps // BPS
    room: uint256[MAX_ASSETS] = empty(uint256[MAX_ASSETS])
    over: uint256 = 0  # bit i set: asset i overweight (may be sold)
    under: uint256 = 0  # bit i set: asset i underweight (may be bought)
    for i: uint256 in range(len(values), bound=MAX_ASSETS):
        v: uint256 = values[i]
        target_value: uint256 = targets[i] * value_before
        sell_line: uint256 = target_value + tolerance_bps * value_before
        if v * BPS > sell_line:
            over |= 1 << i
            room[i] = v - (sell_line + BPS - 1) // BPS
        elif v * BPS < target_value:
            under |= 1 << i
            room[i] = target_value // BPS - v + tolerance_value

    slippage: uint256 = (cfg >> SH_SLIPPAGE) & MK_SLIPPAGE
    trade_cap: uint256 = value_before * ((cfg >> SH_TRADE) & MK_TRADE) // BPS
    sold_value_up: uint256 = 0  # value sold so far, each trade rounded up: for the size cap (I4)
    sold_value: uint256 = 0  # the same, each trade rounded down: for the loss allowance (I7)
    sold_mask: uint256 = 0  # bit i set: asset i was sold
    bought_mask: uint256 = 0  # bit i set: asset i was bought

    for t: Trade in trades:
        s: uint256 = self._index_of(t.sell)
        b: uint256 = self._index_of(t.buy)
        assert s != b, "vault: same asset"
        assert (bought_mask >> s) & 1 == 0 and (sold_mask >> b) & 1 == 0, "vault: round trip"
        assert (over >> s) & 1 == 1, "vault: sell not overweight"
        assert (under >> b) & 1 == 1, "vault: buy not underweight"
        assert t.amount_in != 0, "vault: zero amount"
        assert t.amount_in <= holdings[s], "vault: exceeds holdings"
        unit_s: uint256 = 10 ** ((ASSET_CONFIG[s] >> 160) & 255)
        unit_b: uint256 = 10 ** ((ASSET_CONFIG[b] >> 160) & 255)
        expected: uint256 = t.amount_in * prices[s] * unit_b // (prices[b] * unit_s)
        # the bound rounded up (vault's favour); a trade too small to buy one unit has no bound
        assert expected != 0 and t.min_amount_out >= (expected * (BPS - slippage) + BPS - 1) // BPS, (
            "vault: min out below bound"
        )

        value_down: uint256 = t.amount_in * prices[s] // unit_s
        value_up: uint256 = (t.amount_in * prices[s] + unit_s - 1) // unit_s
        sold_value += value_down
        sold_value_up += value_up
        assert sold_value_up <= trade_cap, "vault: trade too large"
        assert value_up <= room[s], "vault: sell above excess"
        room[s] = unsafe_sub(room[s], value_up)  # checked just above

        received: uint256 = self._swap(t.sell, t.buy, t.amount_in, t.min_amount_out, deadline)
        assert received >= t.min_amount_out, "vault: output below bound"
        bought_up: uint256 = (received * prices[b] + unit_b - 1) // unit_b
        assert bought_up <= room[b], "vault: buy above shortfall"
        room[b] = unsafe_sub(room[b], bought_up)  # checked just above
        holdings[s] -= t.amount_in
        holdings[b] += received
        sold_mask |= 1 << s
        bought_mask |= 1 << b
        log Swapped(sell=t.sell, buy=t.buy, amount_in=t.amount_in, amount_out=received, expected_out=expected)

    values = self._values(holdings, prices)
    value_after: uint256 = self._sum(values)
    weights_after: DynArray[uint256, MAX_ASSETS] = self._weights_wad(values, value_after)
    drift_after: uint256 = self._drift_wad(weights_after, targets)

    tolerance: uint256 = tolerance_bps * BPS_TO_WAD
    touched: uint256 = sold_mask | bought_mask
    bps_before: DynArray[uint256, MAX_ASSETS] = []  # for the event, rounded down
    bps_after: DynArray[uint256, MAX_ASSETS] = []
    for i: uint256 in range(len(values), bound=MAX_ASSETS):
        w0: uint256 = weights_before[i]
        w1: uint256 = weights_after[i]
        bps_before.append(w0 // BPS_TO_WAD)
        bps_after.append(w1 // BPS_TO_WAD)
        if touched & (1 << i) != 0:
            target: uint256 = targets[i] * BPS_TO_WAD
            dist_after: uint256 = unsafe_sub(max(w1, target), min(w1, target))  # max >= min
            crossed: bool = (w0 > target and w1 < target) or (w0 < target and w1 > target)
            assert not crossed or dist_after <= tolerance, "vault: overshoot"
            assert dist_after <= unsafe_sub(max(w0, target), min(w0, target)), "vault: moved away from target"
    assert drift_after < drift_before, "vault: drift not reduced"
    assert value_after + sold_value * slippage // BPS >= value_before, "vault: value loss"

    # I9: the leaky-bucket loss budget, drained since the last rebalance, then charged
    budget: uint256 = ((cfg >> SH_LOSS_BUDGET) & MK_LOSS_BUDGET) * BPS_TO_LOSS
    used: uint256 = (cfg >> OFF_LOSS) & MASK53  # as of `last`; drained linearly since, rounded down
    used -= min(used, (block.timestamp - last) * budget // ((cfg >> SH_LOSS_WINDOW) & MK_LOSS_WINDOW))
    if value_after < value_before:
        used += ((value_before - value_after) * LOSS_ONE + value_before - 1) // value_before  # ceil
        assert used <= budget, "vault: loss budget"
    # used <= budget <= 1_000 * 1e11 < 2**53: fits its field
    self._config = (cfg & ~(MASK53 << OFF_LOSS)) | (used << OFF_LOSS)

    self._store_holdings(holdings)

    log Rebalanced(
        keeper=msg.sender,
        reason=reason,
        drift_before=drift_before // BPS_TO_WAD,
        drift_after=drift_after // BPS_TO_WAD,
        value_before=value_before,
        value_after=value_after,
        weights_before=bps_before,
        weights_after=bps_after,
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
def checkUpkeep(checkData: Bytes[256]) -> (bool, Bytes[64]):
    """
    @notice Chainlink Automation compatible check. Never reverts on bad feeds.
    @param checkData Ignored.
    @return upkeepNeeded Same as `needs_rebalance()[0]`.
    @return performData abi_encode(reason: uint8, drift_bps: uint256) when needed, else empty.
    """
    reason: uint8 = REASON_NONE
    drift_wad: uint256 = 0
    reason, drift_wad = self._check_trigger()
    if reason == REASON_NONE:
        return False, b""
    return True, abi_encode(reason, drift_wad // BPS_TO_WAD)


@external
@view
def oracle_state() -> (DynArray[uint256, MAX_ASSETS], DynArray[uint256, MAX_ASSETS], DynArray[uint256, MAX_ASSETS]):
    """
    @notice Every feed's reading as the vault classifies it. Never reverts.
    @return prices 1e18 quote units per whole token (0 when not positive, above MAX_PRICE or the call failed).
    @return statuses 0 ok, 1 non-positive, 2 stale, 3 incomplete, 4 unusable (reverted, short or
            garbled answer, above MAX_PRICE, or the L2 sequencer down or in its grace period).
    @return updated_at The feed's `updatedAt`, unix seconds (0 when unusable).
    """
    return self._oracle()


@external
@view
def drift() -> uint256:
    """@notice max_i |weight_i - target_i| in bps (rounded down), at oracle prices. Reverts with a reason on bad feeds."""
    return self._drift_wad(self._strict_weights(), self._targets_array()) // BPS_TO_WAD


@external
@view
def current_weights() -> DynArray[uint256, MAX_ASSETS]:
    """@notice Weight of each asset in bps (rounded down), at oracle prices. Reverts with a reason on bad feeds."""
    return self._to_bps(self._strict_weights())


@external
@view
@nonreentrant
def total_value() -> uint256:
    """@notice Value of the holdings in 1e18 quote units at oracle prices (rounded down). Reverts with a reason on bad feeds."""
    return self._sum(self._values(self._holdings_array(), self._strict_prices()))


@external
@view
@nonreentrant
def get_holdings() -> DynArray[uint256, MAX_ASSETS]:
    """@notice What depositors own of each asset (token units); excludes donations."""
    return self._holdings_array()


@external
@view
def get_target_weights() -> DynArray[uint256, MAX_ASSETS]:
    """@notice Target weight of each asset in bps (sums to 10_000)."""
    return self._unpack_weights(self._weights_and_ages)


@external
@view
def get_assets() -> DynArray[address, MAX_ASSETS]:
    """@notice The vault's assets, in the order every per-asset array uses."""
    out: DynArray[address, MAX_ASSETS] = []
    for i: uint256 in range(N_ASSETS, bound=MAX_ASSETS):
        out.append(self._asset(i))
    return out


@external
@view
def get_feeds() -> DynArray[address, MAX_ASSETS]:
    """@notice The Chainlink feed of each asset."""
    return FEEDS


@external
@view
def get_asset_config() -> DynArray[uint256, MAX_ASSETS]:
    """@notice Per asset, as fixed at deployment: bits 0-159 the token, 160-167 its decimals, 168-175 the feed's decimals."""
    return ASSET_CONFIG


@external
@view
def get_max_ages() -> DynArray[uint256, MAX_ASSETS]:
    """@notice Max age in seconds accepted for each feed's answer."""
    return self._max_ages_array()






@external
@view
def pending_changes() -> DynArray[PendingChange, N_KINDS]:
    """
    @notice Every queued change with its eta, in kind order (see PendingChange and the K_* kinds).
    @dev Anyone may apply one once `block.timestamp >= eta` (`apply_change`); the owner or the
         guardian may cancel it (`cancel_change`).
    """
    out: DynArray[PendingChange, N_KINDS] = []
    for k: uint256 in range(N_KINDS):
        word: uint256 = self._pending[k]
        if word != 0:
            out.append(PendingChange(kind=k, value=word & PENDING_VALUE, eta=self._eta(word)))
    return out


@external
@view
def loss_budget_used() -> uint256:
    """@notice Loss budget in use now, after the refill since the last rebalance, in 1e-15 of vault value."""
    cfg: uint256 = self._config
    return self._loss_used(
        cfg, (cfg >> OFF_LAST) & MASK40, self._param(cfg, K_LOSS_BUDGET) * BPS_TO_LOSS
    )


@external
@view
def get_params() -> uint256[N_PARAMS]:
    """@notice The ten parameters in kind order (as the constructor's `params`)."""
    cfg: uint256 = self._config
    out: uint256[N_PARAMS] = empty(uint256[N_PARAMS])
    for k: uint256 in range(N_PARAMS):
        out[k] = self._param(cfg, k)
    return out


@external
@view
def router() -> address:
    """@notice The Uniswap-V2-compatible router every trade goes through (fixed at deployment)."""
    return ROUTER


@external
@view
def governance() -> address:
    """@notice The VaultGovernance module this vault's governance functions run (fixed at deployment)."""
    return GOVERNANCE


@external
@view
def sequencer() -> (address, uint256):
    """@notice The L2 sequencer-uptime feed (empty: none) and its grace period in seconds."""
    return SEQUENCER, SEQUENCER_GRACE


@external
@view
def paused() -> bool:
    """@notice True while deposits and rebalances are stopped (redeem always works)."""
    return self._paused()


@external
@view
def last_rebalance() -> uint256:
    """@notice Unix time of the last rebalance; the deployment time before the first."""
    return (self._config >> OFF_LAST) & MASK40


@external
@view
def drift_threshold_bps() -> uint256:
    """@notice THRESHOLD trigger, bps of weight."""
    return self._param(self._config, K_THRESHOLD)


@external
@view
def min_drift_bps() -> uint256:
    """@notice Least drift for a CALENDAR rebalance, bps."""
    return self._param(self._config, K_MIN_DRIFT)


@external
@view
def max_slippage_bps() -> uint256:
    """@notice Slippage allowed against the oracle, bps."""
    return self._param(self._config, K_SLIPPAGE)


@external
@view
def max_trade_bps() -> uint256:
    """@notice Most value one rebalance may sell, bps of vault value."""
    return self._param(self._config, K_TRADE)


@external
@view
def tolerance_bps() -> uint256:
    """@notice How far past its target a traded asset may end, bps of weight."""
    return self._param(self._config, K_TOLERANCE)


@external
@view
def cooldown() -> uint256:
    """@notice Least time between rebalances, seconds."""
    return self._param(self._config, K_COOLDOWN)


@external
@view
def rebalance_period() -> uint256:
    """@notice CALENDAR period, seconds."""
    return self._param(self._config, K_PERIOD)


@external
@view
def target_delay() -> uint256:
    """@notice The timelock on every loosening, new keeper and new targets, seconds."""
    return self._param(self._config, K_DELAY)


@external
@view
def loss_budget_bps() -> uint256:
    """@notice Most loss against the oracle the budget holds at once, bps of vault value."""
    return self._param(self._config, K_LOSS_BUDGET)


@external
@view
def loss_window() -> uint256:
    """@notice Seconds in which a fully used loss budget refills, seconds."""
    return self._param(self._config, K_LOSS_WINDOW)


# ---- Governance (P2): each runs in VaultGovernance through DELEGATECALL, on this storage ----

@external
def set_drift_threshold_bps(new_value: uint256):
    """@param new_value THRESHOLD trigger in bps of weight, 10..5_000 and >= min_drift_bps; lowering is timelocked."""
    self._governance()


@external
def set_min_drift_bps(new_value: uint256):
    """@param new_value Least drift in bps for a CALENDAR rebalance, 1..drift_threshold_bps; lowering is timelocked."""
    self._governance()


@external
def set_max_slippage_bps(new_value: uint256):
    """@param new_value Slippage allowed against the oracle, in bps, 1..1_000; raising is timelocked."""
    self._governance()


@external
def set_max_trade_bps(new_value: uint256):
    """@param new_value Most value one rebalance may sell, in bps of vault value, 100..10_000; raising is timelocked."""
    self._governance()


@external
def set_tolerance_bps(new_value: uint256):
    """@param new_value How far past its target a traded asset may end, in bps of weight, 0..200; raising is timelocked."""
    self._governance()


@external
def set_cooldown(new_value: uint256):
    """@param new_value Least time between rebalances in seconds, 0..30 days; lowering is timelocked."""
    self._governance()


@external
def set_rebalance_period(new_value: uint256):
    """@param new_value CALENDAR period in seconds, 1 day..366 days; lowering is timelocked."""
    self._governance()


@external
def set_target_delay(new_value: uint256):
    """@param new_value The timelock in seconds, 1 hour..30 days; lowering waits out the current delay."""
    self._governance()


@external
def set_loss_budget_bps(new_value: uint256):
    """@param new_value Loss budget in bps of vault value, 1..1_000; raising is timelocked."""
    self._governance()


@external
def set_loss_window(new_value: uint256):
    """@param new_value Seconds for the loss budget to refill, 1 day..365 days; lowering is timelocked."""
    self._governance()


@external
def set_max_age(feed: address, new_value: uint256):
    """
    @notice Match a feed's accepted age to its heartbeat; raising it is timelocked.
    @param feed One of `get_feeds()`.
    @param new_value Max age in seconds, 60..3 days.
    """
    self._governance()


@external
def set_keeper(account: address, enabled: bool):
    """
    @notice Remove a keeper now (owner or guardian), or queue a new one (owner; timelocked,
            then `apply_change(10)`). One keeper addition may be pending at a time.
    """
    self._governance()


@external
def queue_target_weights(weights: DynArray[uint256, MAX_ASSETS]):
    """
    @notice Queue new target weights; they apply no sooner than `target_delay` seconds from now.
    @param weights Target weight per asset in bps, summing to exactly 10_000. Replaces any queued set.
    """
    self._governance()


@external
def apply_target_weights():
    """@notice Apply the queued target weights once their delay has passed. Anyone may call."""
    self._governance()


@external
def cancel_target_weights():
    """@notice Drop the queued target weights (owner or guardian)."""
    self._governance()


@external
def apply_change(kind: uint256):
    """@notice Apply a queued change of `kind` once its eta has passed. Anyone may call."""
    self._governance()


@external
def cancel_change(kind: uint256):
    """@notice Drop the queued change of `kind` (owner or guardian)."""
    self._governance()


@external
def set_guardian(account: address):
    """@notice Set the guardian, who may only pause, tighten and cancel (owner). Empty address: no guardian."""
    self._governance()


@external
def transfer_ownership(new_owner: address):
    """@notice Start a two-step ownership transfer; `new_owner` must call `accept_ownership`."""
    self._governance()


@external
def accept_ownership():
    """@notice Complete an ownership transfer (pending owner)."""
    self._governance()


@external
def pause():
    """@notice Stop deposits and rebalances (guardian or owner). Redeem keeps working."""
    self._governance()


@external
def unpause():
    """@notice Resume deposits and rebalances (owner). Every bound stays as it is."""
    self._governance()


# ---- Internal: roles, weights, trigger, loss budget ----

@internal
@pure
def _param(cfg: uint256, k: uint256) -> uint256:
    """@dev Parameter `k` from the `_config` word (layout in PARAM_LAYOUT)."""
    offset: uint256 = (PARAM_LAYOUT >> (14 * k)) & 255
    width: uint256 = (PARAM_LAYOUT >> (14 * k + 8)) & 31
    return (cfg >> offset) & ((1 << width) - 1)


@internal
@view
def _eta(word: uint256) -> uint256:
    """@dev When a pending change may apply: its announced eta, or its queue time plus the delay now if later."""
    return max((word >> OFF_ETA) & MASK48, (word >> OFF_QUEUED) + ((self._config >> SH_DELAY) & MK_DELAY))


@internal
@view
def _loss_used(cfg: uint256, last: uint256, budget: uint256) -> uint256:
    """@dev Loss budget used as of now: the stored use drained linearly since `last`, the drain rounded down."""
    used: uint256 = (cfg >> OFF_LOSS) & MASK53
    drain: uint256 = (block.timestamp - last) * budget // ((cfg >> SH_LOSS_WINDOW) & MK_LOSS_WINDOW)
    return used - min(used, drain)


@internal
def _governance():
    """
    @dev Run this call's function in VaultGovernance on the vault's own storage (DELEGATECALL with
         the same calldata); its revert reason comes back unchanged.
    """
    raw_call(GOVERNANCE, msg.data, is_delegate_call=True)


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
def _check_trigger() -> (uint8, uint256):
    """@dev (reason, drift in WAD) now; reason 0 while paused or if any feed is unusable."""
    cfg: uint256 = self._config
    if cfg & PAUSED_BIT != 0:
        return REASON_NONE, 0
    prices: DynArray[uint256, MAX_ASSETS] = []
    statuses: DynArray[uint256, MAX_ASSETS] = []
    updated: DynArray[uint256, MAX_ASSETS] = []
    prices, statuses, updated = self._oracle()
    for status: uint256 in statuses:
        if status != FEED_OK:
            return REASON_NONE, 0
    values: DynArray[uint256, MAX_ASSETS] = self._values(self._holdings_array(), prices)
    drift_wad: uint256 = self._drift_wad(self._weights_wad(values, self._sum(values)), self._targets_array())
    return self._trigger(drift_wad, cfg), drift_wad


@internal
@view
def _trigger(drift_wad: uint256, cfg: uint256) -> uint8:
    """Mirror: offchain.model.trigger."""
    last: uint256 = (cfg >> OFF_LAST) & MASK40
    if block.timestamp < last + ((cfg >> SH_COOLDOWN) & MK_COOLDOWN):
        return REASON_NONE
    if drift_wad >= ((cfg >> SH_THRESHOLD) & MK_THRESHOLD) * BPS_TO_WAD:
        return REASON_THRESHOLD
    if block.timestamp >= last + ((cfg >> SH_PERIOD) & MK_PERIOD) and drift_wad >= (
        (cfg >> SH_MIN_DRIFT) & MK_MIN_DRIFT
    ) * BPS_TO_WAD:
        return REASON_CALENDAR
    return REASON_NONE


@internal
@view
def _sequencer_up() -> bool:
    """
    @dev True on an L1-style chain (no sequencer feed). Otherwise Chainlink's rule: answer 0 is
         up, and prices are trusted only `SEQUENCER_GRACE` seconds after `startedAt` (the time of
         the last status change). A feed that reverts or answers short data counts as down.
    """
    if SEQUENCER == empty(address):
        return True
    ok: bool = False
    data: Bytes[160] = b""
    ok, data = raw_call(
        SEQUENCER,
        method_id("latestRoundData()"),
        max_outsize=160,
        gas=FEED_GAS,
        is_static_call=True,
        revert_on_failure=False,
    )
    if not ok or len(data) < 160:
        return False
    started_at: uint256 = extract32(data, 64, output_type=uint256)
    if extract32(data, 32, output_type=uint256) != 0 or started_at == 0 or started_at > block.timestamp:
        return False
    return block.timestamp - started_at > SEQUENCER_GRACE


@internal
@view
def _read_feed(i: uint256, max_age: uint256) -> (uint256, uint256, uint256):
    """
    @dev Returns (price 1e18 per whole token, status, updatedAt); never reverts. Mirror:
         offchain.model.feed_status. The five answer words are read raw, so out-of-range
         `uint80` fields cannot make the ABI decoder revert.
    """
    ok: bool = False
    data: Bytes[160] = b""
    ok, data = raw_call(
        FEEDS[i],
        method_id("latestRoundData()"),
        max_outsize=160,
        gas=FEED_GAS,
        is_static_call=True,
        revert_on_failure=False,
    )
    if not ok or len(data) < 160:
        return 0, FEED_UNUSABLE, 0
    round_id: uint256 = 0
    answer: int256 = 0
    started_at: uint256 = 0
    updated_at: uint256 = 0
    answered_in_round: uint256 = 0
    # every word decodes as a full 256-bit value: out-of-range uint80 fields cannot revert here
    round_id, answer, started_at, updated_at, answered_in_round = abi_decode(
        data, (uint256, int256, uint256, uint256, uint256)
    )
    if answer <= 0:
        return 0, FEED_NON_POSITIVE, updated_at
    if convert(answer, uint256) > MAX_PRICE:
        return 0, FEED_UNUSABLE, updated_at
    price: uint256 = convert(answer, uint256) * 10 ** (18 - ((ASSET_CONFIG[i] >> 168) & 255))
    if price > MAX_PRICE:
        return 0, FEED_UNUSABLE, updated_at
    if updated_at == 0 or answered_in_round < round_id:
        return price, FEED_INCOMPLETE, updated_at
    if updated_at > block.timestamp or block.timestamp - updated_at > max_age:
        return price, FEED_STALE, updated_at
    return price, FEED_OK, updated_at


@internal
@view
def _oracle() -> (DynArray[uint256, MAX_ASSETS], DynArray[uint256, MAX_ASSETS], DynArray[uint256, MAX_ASSETS]):
    """@dev (prices, statuses, updatedAt) of every feed; every status UNUSABLE while the sequencer is down."""
    prices: DynArray[uint256, MAX_ASSETS] = []
    statuses: DynArray[uint256, MAX_ASSETS] = []
    updated: DynArray[uint256, MAX_ASSETS] = []
    ages: uint256 = self._weights_and_ages >> AGE_SHIFT
    sequencer_up: bool = self._sequencer_up()
    for i: uint256 in range(N_ASSETS, bound=MAX_ASSETS):
        price: uint256 = 0
        status: uint256 = 0
        updated_at: uint256 = 0
        price, status, updated_at = self._read_feed(i, (ages >> (18 * i)) & MASK18)
        if not sequencer_up:
            status = FEED_UNUSABLE
        prices.append(price)
        statuses.append(status)
        updated.append(updated_at)
    return prices, statuses, updated


@internal
@view
def _strict_prices() -> DynArray[uint256, MAX_ASSETS]:
    """@dev Prices of all assets; reverts with the reason of the first unusable feed."""
    if SEQUENCER != empty(address):
        assert self._sequencer_up(), "vault: sequencer down"
    prices: DynArray[uint256, MAX_ASSETS] = []
    ages: uint256 = self._weights_and_ages >> AGE_SHIFT
    for i: uint256 in range(N_ASSETS, bound=MAX_ASSETS):
        price: uint256 = 0
        status: uint256 = 0
        updated_at: uint256 = 0
        price, status, updated_at = self._read_feed(i, (ages >> (18 * i)) & MASK18)
        assert status != FEED_UNUSABLE, "vault: feed unusable"
        assert status != FEED_NON_POSITIVE, "vault: bad price"
        assert status != FEED_INCOMPLETE, "vault: incomplete round"
        assert status != FEED_STALE, "vault: stale price"
        prices.append(price)
    return prices


@internal
@view
def _strict_weights() -> DynArray[uint256, MAX_ASSETS]:
    """@dev Current WAD weights at strict oracle prices."""
    values: DynArray[uint256, MAX_ASSETS] = self._values(self._holdings_array(), self._strict_prices())
    return self._weights_wad(values, self._sum(values))


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
def _values(
    holdings: DynArray[uint256, MAX_ASSETS], prices: DynArray[uint256, MAX_ASSETS]
) -> DynArray[uint256, MAX_ASSETS]:
    """@dev value_i = holdings_i * price_i / 10**decimals_i, 1e18 quote units, rounded down."""
    values: DynArray[uint256, MAX_ASSETS] = []
    for i: uint256 in range(len(holdings), bound=MAX_ASSETS):
        values.append(holdings[i] * prices[i] // 10 ** ((ASSET_CONFIG[i] >> 160) & 255))
    return values


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
    if total == 0:
        for v: uint256 in values:
            weights.append(0)
        return weights
    for v: uint256 in values:
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
        t: uint256 = targets[i] * BPS_TO_WAD
        drift = max(drift, unsafe_sub(max(weights[i], t), min(weights[i], t)))  # |w - t|; max >= min
    if empty_vault:
        return 0
    return drift




@internal
@pure
def _div_up(num: uint256, den: uint256) -> uint256:
    """@dev ceil(num / den) for den > 0."""
    return (num + den - 1) // den


@internal
@view
def _index_of(asset: address) -> uint256:
    for i: uint256 in range(N_ASSETS, bound=MAX_ASSETS):
        if ASSET_CONFIG[i] & (2**160 - 1) == convert(asset, uint256):
            return i
    raise "vault: unknown asset"


@internal
@view
def _asset(i: uint256) -> address:
    return convert(convert(ASSET_CONFIG[i] & (2**160 - 1), uint160), address)




# ---- Internal: token movements ----

@internal
def _swap(sell: address, buy: address, amount_in: uint256, min_out: uint256, deadline: uint256) -> uint256:
    """@dev One exact-input swap through the router; returns the measured amount of `buy` received."""
    buy_before: uint256 = staticcall IERC20(buy).balanceOf(self)
    assert extcall IERC20(sell).approve(ROUTER, amount_in, default_return_value=True), "vault: approve failed"
    extcall IUniswapV2Router(ROUTER).swapExactTokensForTokens(amount_in, min_out, [sell, buy], self, deadline)
    # the router must pull exactly `amount_in`: holdings stay exact and no allowance is left over
    assert staticcall IERC20(sell).allowance(self, ROUTER) == 0, "vault: partial fill"
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
    # shares * holdings (both < 2**128) cannot overflow in redeem, so every exit stays possible
    assert self.totalSupply + amount <= MASK128, "vault: supply overflow"
    self.totalSupply += amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@internal
def _burn(owner: address, amount: uint256):
    assert self.balanceOf[owner] >= amount, "vault: insufficient shares"
    self.balanceOf[owner] = unsafe_sub(self.balanceOf[owner], amount)  # checked just above
    self.totalSupply = unsafe_sub(self.totalSupply, amount)  # supply >= any single balance
    log Transfer(sender=owner, receiver=empty(address), value=amount)
