#pragma version 0.4.3
#pragma optimize codesize
"""
@title ballast VaultGovernance
@license MIT
@notice The governance half of every RebalancingVault: parameter setters, keepers, target
        weights, the timelock, roles and pause. It holds no state and no funds of its own: each
        vault DELEGATECALLs it from its own one-line stubs of the same names, so every function
        here runs on the calling vault's storage with the vault's `msg.sender`.
        The rule it enforces is the vault's P2: tightening a bound (or removing a keeper, or
        pausing) is immediate for the owner or the guardian; loosening a bound, adding a keeper,
        new target weights and a shorter delay are queued by the owner and apply, by anyone's
        call, no sooner than `target_delay` seconds later (the delay in force when queued). The
        owner or the guardian may cancel a queued change.
@dev    Split out of the vault only to keep the vault's runtime under EIP-170 on every EVM
        version (the legacy Vyper pipeline; the experimental one is not used for money code).
        The storage declarations below are the vault's, in the same order and of the same types:
        `tests/unit/test_governance_layout.py` compares both contracts' `-f layout`
        and the constants they share, so the two can never drift apart. Immutables are not
        shared (they live in each contract's code): what this module needs of the vault's
        (its feeds, hence its asset count) it reads from the vault's own views.
        Called directly, every function reverts ("vault: delegatecall only").
"""


# ---- Interfaces ----

interface IVaultViews:
    def get_feeds() -> DynArray[address, MAX_ASSETS]: view


# ---- Constants (the vault's, verbatim) ----

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
# `_config` bits past the parameters.
PAUSED_BIT: constant(uint256) = 1 << 162
OFF_LAST: constant(uint256) = 163  # last_rebalance, unix seconds, 40 bits (to year 36_812)
OFF_LOSS: constant(uint256) = 203  # loss budget used at last_rebalance, LOSS_ONE units, 53 bits
MASK40: constant(uint256) = 2**40 - 1
MASK53: constant(uint256) = 2**53 - 1

MIN_MAX_AGE: constant(uint256) = 60  # seconds
MAX_MAX_AGE: constant(uint256) = 3 * 86_400  # seconds
MASK14: constant(uint256) = 2**14 - 1
MASK18: constant(uint256) = 2**18 - 1
WEIGHTS_MASK: constant(uint256) = 2**112 - 1  # the 8 weight lanes of `_weights_and_ages`
AGE_SHIFT: constant(uint256) = 112  # where the max-age lanes start
MASK48: constant(uint256) = 2**48 - 1
# A pending change's word: value in bits 0-159, announced eta in 160-207, queue time in 208-255.
PENDING_VALUE: constant(uint256) = 2**160 - 1
OFF_ETA: constant(uint256) = 160
OFF_QUEUED: constant(uint256) = 208


# ---- Immutables ----

# This module's own address: a call that is not a DELEGATECALL runs with self == SELF.
SELF: immutable(address)


# ---- Structs ----

struct PendingChange:
    kind: uint256
    value: uint256
    eta: uint256


# ---- Storage (the vault's, verbatim: same order, same types) ----

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
def __init__():
    SELF = self


# ---- Governance: tighten now, loosen after the timelock (P2) ----

@external
@nonreentrant
def set_drift_threshold_bps(new_value: uint256):
    """@param new_value THRESHOLD trigger in bps of weight, 10..5_000 and >= min_drift_bps; lowering is timelocked."""
    self._only_delegated()
    self._set_param(K_THRESHOLD, new_value)


@external
@nonreentrant
def set_min_drift_bps(new_value: uint256):
    """@param new_value Least drift in bps for a CALENDAR rebalance, 1..drift_threshold_bps; lowering is timelocked."""
    self._only_delegated()
    self._set_param(K_MIN_DRIFT, new_value)


@external
@nonreentrant
def set_max_slippage_bps(new_value: uint256):
    """@param new_value Slippage allowed against the oracle, in bps, 1..1_000; raising is timelocked."""
    self._only_delegated()
    self._set_param(K_SLIPPAGE, new_value)


@external
@nonreentrant
def set_max_trade_bps(new_value: uint256):
    """@param new_value Most value one rebalance may sell, in bps of vault value, 100..10_000; raising is timelocked."""
    self._only_delegated()
    self._set_param(K_TRADE, new_value)


@external
@nonreentrant
def set_tolerance_bps(new_value: uint256):
    """@param new_value How far past its target a traded asset may end, in bps of weight, 0..200; raising is timelocked."""
    self._only_delegated()
    self._set_param(K_TOLERANCE, new_value)


@external
@nonreentrant
def set_cooldown(new_value: uint256):
    """@param new_value Least time between rebalances in seconds, 0..30 days; lowering is timelocked."""
    self._only_delegated()
    self._set_param(K_COOLDOWN, new_value)


@external
@nonreentrant
def set_rebalance_period(new_value: uint256):
    """@param new_value CALENDAR period in seconds, 1 day..366 days; lowering is timelocked."""
    self._only_delegated()
    self._set_param(K_PERIOD, new_value)


@external
@nonreentrant
def set_target_delay(new_value: uint256):
    """@param new_value The timelock in seconds, 1 hour..30 days; lowering waits out the current delay."""
    self._only_delegated()
    self._set_param(K_DELAY, new_value)


@external
@nonreentrant
def set_loss_budget_bps(new_value: uint256):
    """@param new_value Loss budget in bps of vault value, 1..1_000; raising is timelocked."""
    self._only_delegated()
    self._set_param(K_LOSS_BUDGET, new_value)


@external
@nonreentrant
def set_loss_window(new_value: uint256):
    """@param new_value Seconds for the loss budget to refill, 1 day..365 days; lowering is timelocked."""
    self._only_delegated()
    self._set_param(K_LOSS_WINDOW, new_value)


@external
@nonreentrant
def set_max_age(feed: address, new_value: uint256):
    """
    @notice Match a feed's accepted age to its heartbeat; raising it is timelocked.
    @param feed One of `get_feeds()`.
    @param new_value Max age in seconds, 60..3 days.
    """
    self._only_delegated()
    assert new_value >= MIN_MAX_AGE and new_value <= MAX_MAX_AGE, "vault: out of bounds"
    feeds: DynArray[address, MAX_ASSETS] = staticcall IVaultViews(self).get_feeds()
    for i: uint256 in range(len(feeds), bound=MAX_ASSETS):
        if feeds[i] == feed:
            lane: uint256 = AGE_SHIFT + 18 * i
            if new_value > (self._weights_and_ages >> lane) & MASK18:
                self._queue(K_MAX_AGE + i, new_value)
            else:
                self._only_safety()
                self._apply_now(K_MAX_AGE + i, new_value)
            return
    raise "vault: unknown feed"


@external
@nonreentrant
def set_keeper(account: address, enabled: bool):
    """
    @notice Remove a keeper now (owner or guardian), or queue a new one (owner; timelocked,
            then `apply_change(10)`). One keeper addition may be pending at a time.
    """
    self._only_delegated()
    self._nonzero(account)
    if enabled:
        self._queue(K_KEEPER, convert(account, uint256))
    else:
        self._only_safety()
        self.is_keeper[account] = False
        log KeeperSet(account=account, enabled=False)
        if self._pending[K_KEEPER] & PENDING_VALUE == convert(account, uint256):
            self._drop(K_KEEPER)  # a removed keeper's pending addition goes with it


@external
@nonreentrant
def queue_target_weights(weights: DynArray[uint256, MAX_ASSETS]):
    """
    @notice Queue new target weights; they apply no sooner than `target_delay` seconds from now.
    @param weights Target weight per asset in bps, summing to exactly 10_000. Replaces any queued set.
    """
    self._only_delegated()
    eta: uint256 = self._queue(K_TARGETS, self._pack_weights(weights))
    log TargetWeightsQueued(weights=weights, eta=eta)


@external
@nonreentrant
def apply_target_weights():
    """@notice Apply the queued target weights once their delay has passed. Anyone may call."""
    self._only_delegated()
    self._apply_queued(K_TARGETS)


@external
@nonreentrant
def cancel_target_weights():
    """@notice Drop the queued target weights (owner or guardian)."""
    self._only_delegated()
    self._cancel(K_TARGETS)


@external
@nonreentrant
def apply_change(kind: uint256):
    """@notice Apply a queued change of `kind` once its eta has passed. Anyone may call."""
    self._only_delegated()
    self._apply_queued(kind)


@external
@nonreentrant
def cancel_change(kind: uint256):
    """@notice Drop the queued change of `kind` (owner or guardian)."""
    self._only_delegated()
    self._cancel(kind)


# ---- Roles and pause ----

@external
@nonreentrant
def set_guardian(account: address):
    """@notice Set the guardian, who may only pause, tighten and cancel (owner). Empty address: no guardian."""
    self._only_delegated()
    self._only_owner()
    log GuardianChanged(old_guardian=self.guardian, new_guardian=account)
    self.guardian = account


@external
@nonreentrant
def transfer_ownership(new_owner: address):
    """@notice Start a two-step ownership transfer; `new_owner` must call `accept_ownership`."""
    self._only_delegated()
    self._only_owner()
    self.pending_owner = new_owner
    log OwnershipTransferStarted(previous_owner=self.owner, new_owner=new_owner)


@external
@nonreentrant
def accept_ownership():
    """@notice Complete an ownership transfer (pending owner)."""
    self._only_delegated()
    assert msg.sender == self.pending_owner, "vault: not pending owner"
    log OwnershipTransferred(previous_owner=self.owner, new_owner=msg.sender)
    self.owner = msg.sender
    self.pending_owner = empty(address)


@external
@nonreentrant
def pause():
    """@notice Stop deposits and rebalances (guardian or owner). Redeem keeps working."""
    self._only_delegated()
    self._only_safety()
    assert not self._paused(), "vault: paused"
    self._config |= PAUSED_BIT
    log Paused(account=msg.sender)


@external
@nonreentrant
def unpause():
    """@notice Resume deposits and rebalances (owner). Every bound stays as it is."""
    self._only_delegated()
    self._only_owner()
    assert self._paused(), "vault: not paused"
    self._config &= ~PAUSED_BIT
    log Unpaused(account=msg.sender)


# ---- Internal: governance ----

@internal
def _set_param(k: uint256, new_value: uint256):
    """
    @dev One parameter setter for every `_config` field: bounds-checked; a tightening (or an
         unchanged value) applies now for the owner or the guardian, a loosening is queued by the
         owner (P2).
    """
    self._check_param(k, new_value)
    current: uint256 = self._param(self._config, k)
    lower_loosens: bool = (PARAM_LAYOUT >> (14 * k + 13)) & 1 == 1
    if (lower_loosens and new_value < current) or (not lower_loosens and new_value > current):
        self._queue(k, new_value)
    else:
        self._only_safety()
        self._apply_now(k, new_value)


@internal
@view
def _check_param(k: uint256, v: uint256):
    """@dev Hard bounds of parameter `k`, and min_drift_bps <= drift_threshold_bps."""
    lo: uint256 = (PARAM_LO >> (17 * k)) & 131_071
    hi: uint256 = (PARAM_HI >> (25 * k)) & 33_554_431
    assert v >= lo and v <= hi, "vault: out of bounds"
    cfg: uint256 = self._config
    if k == K_THRESHOLD:
        assert v >= self._param(cfg, K_MIN_DRIFT), "vault: below min drift"
    elif k == K_MIN_DRIFT:
        assert v <= self._param(cfg, K_THRESHOLD), "vault: below min drift"


@internal
def _queue(k: uint256, v: uint256) -> uint256:
    """@dev Owner queues `v` for kind `k` with eta now + target_delay, replacing any queued one."""
    self._only_owner()
    self._drop(k)
    eta: uint256 = block.timestamp + self._param(self._config, K_DELAY)
    # v < 2**160 for every kind (an address at most); eta and now < 2**48
    self._pending[k] = v | (eta << OFF_ETA) | (block.timestamp << OFF_QUEUED)
    log ChangeQueued(kind=k, value=v, eta=eta)
    return eta


@internal
def _apply_queued(k: uint256):
    assert k < N_KINDS, "vault: unknown kind"
    word: uint256 = self._pending[k]
    assert word != 0, "vault: nothing queued"
    # the announced eta, or the queue time plus the delay in force now if that is later: raising
    # the delay also delays what is already queued
    due: uint256 = max((word >> OFF_ETA) & MASK48, (word >> OFF_QUEUED) + self._param(self._config, K_DELAY))
    assert block.timestamp >= due, "vault: timelock"
    self._pending[k] = 0
    v: uint256 = word & PENDING_VALUE
    if k < N_PARAMS:
        self._check_param(k, v)
    self._apply_now(k, v)


@internal
def _apply_now(k: uint256, v: uint256):
    """@dev Write change `k` with its event. Callers have checked the caller, bounds and timelock."""
    if k < N_PARAMS:
        offset: uint256 = (PARAM_LAYOUT >> (14 * k)) & 255
        mask: uint256 = (1 << ((PARAM_LAYOUT >> (14 * k + 8)) & 31)) - 1
        word: uint256 = self._config
        log ParameterChanged(kind=k, old_value=(word >> offset) & mask, new_value=v)
        self._config = (word & ~(mask << offset)) | (v << offset)
    elif k == K_KEEPER:
        account: address = convert(convert(v, uint160), address)
        self.is_keeper[account] = True
        log KeeperSet(account=account, enabled=True)
    elif k == K_TARGETS:
        self._weights_and_ages = (self._weights_and_ages & ~WEIGHTS_MASK) | v
        log TargetWeightsApplied(weights=self._unpack_weights(v))
    else:
        lane: uint256 = AGE_SHIFT + 18 * (k - K_MAX_AGE)
        word: uint256 = self._weights_and_ages
        log ParameterChanged(kind=k, old_value=(word >> lane) & MASK18, new_value=v)
        self._weights_and_ages = (word & ~(MASK18 << lane)) | (v << lane)


@internal
def _cancel(k: uint256):
    self._only_safety()
    assert k < N_KINDS, "vault: unknown kind"
    assert self._pending[k] != 0, "vault: nothing queued"
    self._drop(k)


@internal
def _drop(k: uint256):
    """@dev Clear kind `k`'s pending slot, with its events, if anything is queued."""
    word: uint256 = self._pending[k]
    if word != 0:
        self._pending[k] = 0
        log ChangeCancelled(kind=k, value=word & PENDING_VALUE, eta=(word >> OFF_ETA) & MASK48)
        if k == K_TARGETS:
            log TargetWeightsCancelled(eta=(word >> OFF_ETA) & MASK48)




# ---- Internal: shared with the vault (same formulas, same storage) ----

@internal
@view
def _only_delegated():
    """@dev Runs only inside a vault's DELEGATECALL: called directly, this module has no state to govern."""
    assert self != SELF, "vault: delegatecall only"


@internal
@pure
def _param(cfg: uint256, k: uint256) -> uint256:
    """@dev Parameter `k` from the `_config` word (layout in PARAM_LAYOUT). Same as the vault's."""
    offset: uint256 = (PARAM_LAYOUT >> (14 * k)) & 255
    width: uint256 = (PARAM_LAYOUT >> (14 * k + 8)) & 31
    return (cfg >> offset) & ((1 << width) - 1)


@internal
@view
def _n_assets() -> uint256:
    return len(staticcall IVaultViews(self).get_feeds())


@internal
@view
def _unpack_weights(packed: uint256) -> DynArray[uint256, MAX_ASSETS]:
    out: DynArray[uint256, MAX_ASSETS] = []
    for i: uint256 in range(self._n_assets(), bound=MAX_ASSETS):
        out.append((packed >> (14 * i)) & MASK14)
    return out


@internal
@view
def _pack_weights(weights: DynArray[uint256, MAX_ASSETS]) -> uint256:
    """@dev Checks one weight per asset summing to exactly 10_000 (so each fits its 14-bit lane), packs."""
    assert len(weights) == self._n_assets(), "vault: length mismatch"
    packed: uint256 = 0
    total: uint256 = 0
    for i: uint256 in range(len(weights), bound=MAX_ASSETS):
        total += weights[i]
        packed |= weights[i] << (14 * i)
    assert total == BPS, "vault: weights must sum to 10000"
    return packed


@internal
@pure
def _nonzero(account: address):
    assert account != empty(address), "vault: zero address"


@internal
@view
def _only_owner():
    assert msg.sender == self.owner, "vault: not owner"


@internal
@view
def _only_safety():
    """@dev The owner or the guardian: the accounts that may make the vault safer."""
    assert msg.sender == self.owner or msg.sender == self.guardian, "vault: not guardian"


@internal
@view
def _paused() -> bool:
    return self._config & PAUSED_BIT != 0
