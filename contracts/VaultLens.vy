#pragma version 0.4.3
#pragma optimize codesize
"""
@title ballast VaultLens
@license MIT
@notice Stateless reader: `state(vault)` returns everything a keeper needs about a
        RebalancingVault in ONE call (holdings, prices and feed health, decimals, targets,
        weights, drift, trigger, parameters, last rebalance, pause, pending targets).
@dev    Lives outside the vault because the vault is close to EIP-170's 24,576-byte limit.
        One lens serves every vault on a chain. It holds no state and no funds, and it never
        reverts on unusable feeds: weights, drift and value come from the vault's own views
        when every feed is usable, and are 0 otherwise (`feed_status` says which feed failed).
        The only rule restated here is the feed classification, identical to the vault's
        `_read_feed` and to `offchain.model.feed_status` (tests compare all three).
"""

interface IAggregatorV3:
    def decimals() -> uint8: view
    def latestRoundData() -> (uint80, int256, uint256, uint256, uint80): view

interface IERC20Decimals:
    def decimals() -> uint8: view

interface IVault:
    def get_assets() -> DynArray[address, MAX_ASSETS]: view
    def get_feeds() -> DynArray[address, MAX_ASSETS]: view
    def get_holdings() -> DynArray[uint256, MAX_ASSETS]: view
    def get_max_ages() -> DynArray[uint256, MAX_ASSETS]: view
    def get_target_weights() -> DynArray[uint256, MAX_ASSETS]: view
    def get_pending_target_weights() -> DynArray[uint256, MAX_ASSETS]: view
    def current_weights() -> DynArray[uint256, MAX_ASSETS]: view
    def drift() -> uint256: view
    def total_value() -> uint256: view
    def needs_rebalance() -> (bool, uint8): view
    def drift_threshold_bps() -> uint256: view
    def rebalance_period() -> uint256: view
    def min_drift_bps() -> uint256: view
    def cooldown() -> uint256: view
    def max_slippage_bps() -> uint256: view
    def max_trade_bps() -> uint256: view
    def tolerance_bps() -> uint256: view
    def target_delay() -> uint256: view
    def last_rebalance() -> uint256: view
    def paused() -> bool: view
    def router() -> address: view
    def totalSupply() -> uint256: view
    def pending_eta() -> uint256: view

MAX_ASSETS: constant(uint256) = 8

FEED_OK: constant(uint256) = 0
FEED_NON_POSITIVE: constant(uint256) = 1
FEED_STALE: constant(uint256) = 2
FEED_INCOMPLETE: constant(uint256) = 3

struct VaultState:
    assets: DynArray[address, MAX_ASSETS]
    feeds: DynArray[address, MAX_ASSETS]
    decimals: DynArray[uint256, MAX_ASSETS]  # token decimals
    feed_decimals: DynArray[uint256, MAX_ASSETS]
    holdings: DynArray[uint256, MAX_ASSETS]  # token units, the vault's internal accounting
    prices: DynArray[uint256, MAX_ASSETS]  # 1e18 quote units per whole token; 0 if answer <= 0
    price_updated_at: DynArray[uint256, MAX_ASSETS]  # unix seconds
    feed_status: DynArray[uint256, MAX_ASSETS]  # 0 ok, 1 non-positive, 2 stale, 3 incomplete
    max_ages: DynArray[uint256, MAX_ASSETS]  # seconds
    target_weights: DynArray[uint256, MAX_ASSETS]  # bps
    current_weights: DynArray[uint256, MAX_ASSETS]  # bps, rounded down; empty if a feed is unusable
    total_value: uint256  # 1e18 quote units; 0 if a feed is unusable
    drift: uint256  # bps, rounded down; 0 if a feed is unusable
    needs_rebalance: bool
    reason: uint8  # 0 none, 1 THRESHOLD, 2 CALENDAR
    drift_threshold_bps: uint256
    rebalance_period: uint256  # seconds
    min_drift_bps: uint256
    cooldown: uint256  # seconds
    max_slippage_bps: uint256
    max_trade_bps: uint256
    tolerance_bps: uint256
    target_delay: uint256  # seconds
    last_rebalance: uint256  # unix seconds
    paused: bool
    router: address
    total_supply: uint256  # shares, 18 decimals
    timestamp: uint256  # block time of this read
    pending_weights: DynArray[uint256, MAX_ASSETS]  # bps; all zero when nothing is queued
    pending_eta: uint256  # unix seconds; 0 when nothing is queued


@external
@view
def state(vault: address) -> VaultState:
    """
    @notice Everything a keeper needs about `vault`, read at the current block.
    @param vault A RebalancingVault.
    """
    v: IVault = IVault(vault)
    assets: DynArray[address, MAX_ASSETS] = staticcall v.get_assets()
    feeds: DynArray[address, MAX_ASSETS] = staticcall v.get_feeds()
    decimals: DynArray[uint256, MAX_ASSETS] = []
    feed_decimals: DynArray[uint256, MAX_ASSETS] = []
    for i: uint256 in range(len(feeds), bound=MAX_ASSETS):
        decimals.append(convert(staticcall IERC20Decimals(assets[i]).decimals(), uint256))
        feed_decimals.append(convert(staticcall IAggregatorV3(feeds[i]).decimals(), uint256))
    max_ages: DynArray[uint256, MAX_ASSETS] = staticcall v.get_max_ages()

    prices: DynArray[uint256, MAX_ASSETS] = []
    updated: DynArray[uint256, MAX_ASSETS] = []
    statuses: DynArray[uint256, MAX_ASSETS] = []
    all_ok: bool = True
    for i: uint256 in range(len(feeds), bound=MAX_ASSETS):
        round_id: uint80 = 0
        answer: int256 = 0
        started_at: uint256 = 0
        updated_at: uint256 = 0
        answered_in_round: uint80 = 0
        round_id, answer, started_at, updated_at, answered_in_round = staticcall IAggregatorV3(feeds[i]).latestRoundData()
        price: uint256 = 0
        status: uint256 = FEED_OK
        if answer <= 0:
            status = FEED_NON_POSITIVE
        else:
            price = convert(answer, uint256) * 10 ** (18 - feed_decimals[i])
            if updated_at == 0 or answered_in_round < round_id:
                status = FEED_INCOMPLETE
            elif updated_at > block.timestamp or block.timestamp - updated_at > max_ages[i]:
                status = FEED_STALE
        all_ok = all_ok and status == FEED_OK
        prices.append(price)
        updated.append(updated_at)
        statuses.append(status)

    weights: DynArray[uint256, MAX_ASSETS] = []
    value: uint256 = 0
    drift: uint256 = 0
    if all_ok:
        weights = staticcall v.current_weights()
        value = staticcall v.total_value()
        drift = staticcall v.drift()
    needed: bool = False
    reason: uint8 = 0
    needed, reason = staticcall v.needs_rebalance()

    return VaultState(
        assets=assets,
        feeds=feeds,
        decimals=decimals,
        feed_decimals=feed_decimals,
        holdings=staticcall v.get_holdings(),
        prices=prices,
        price_updated_at=updated,
        feed_status=statuses,
        max_ages=max_ages,
        target_weights=staticcall v.get_target_weights(),
        current_weights=weights,
        total_value=value,
        drift=drift,
        needs_rebalance=needed,
        reason=reason,
        drift_threshold_bps=staticcall v.drift_threshold_bps(),
        rebalance_period=staticcall v.rebalance_period(),
        min_drift_bps=staticcall v.min_drift_bps(),
        cooldown=staticcall v.cooldown(),
        max_slippage_bps=staticcall v.max_slippage_bps(),
        max_trade_bps=staticcall v.max_trade_bps(),
        tolerance_bps=staticcall v.tolerance_bps(),
        target_delay=staticcall v.target_delay(),
        last_rebalance=staticcall v.last_rebalance(),
        paused=staticcall v.paused(),
        router=staticcall v.router(),
        total_supply=staticcall v.totalSupply(),
        timestamp=block.timestamp,
        pending_weights=staticcall v.get_pending_target_weights(),
        pending_eta=staticcall v.pending_eta(),
    )
