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
        reverts on unusable feeds: feed readings come from the vault's own non-reverting
        `oracle_state()`, and weights, drift and value from the vault's views when every feed is
        usable (0 otherwise; `feed_status` says which feed failed). It restates no rule.
"""

struct PendingChange:
    kind: uint256  # as the vault's K_* kinds: 0-9 parameters, 10 keeper, 11 targets, 12 + i max age of feed i
    value: uint256
    eta: uint256  # unix seconds


interface IVault:
    def get_assets() -> DynArray[address, MAX_ASSETS]: view
    def get_feeds() -> DynArray[address, MAX_ASSETS]: view
    def get_holdings() -> DynArray[uint256, MAX_ASSETS]: view
    def get_max_ages() -> DynArray[uint256, MAX_ASSETS]: view
    def get_asset_config() -> DynArray[uint256, MAX_ASSETS]: view
    def get_target_weights() -> DynArray[uint256, MAX_ASSETS]: view
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
    def oracle_state() -> (DynArray[uint256, MAX_ASSETS], DynArray[uint256, MAX_ASSETS], DynArray[uint256, MAX_ASSETS]): view
    def pending_changes() -> DynArray[PendingChange, 20]: view
    def loss_budget_bps() -> uint256: view
    def loss_window() -> uint256: view
    def loss_budget_used() -> uint256: view

MAX_ASSETS: constant(uint256) = 8

FEED_OK: constant(uint256) = 0
K_TARGETS: constant(uint256) = 11  # the vault's kind of a target-weights change

struct VaultState:
    assets: DynArray[address, MAX_ASSETS]
    feeds: DynArray[address, MAX_ASSETS]
    decimals: DynArray[uint256, MAX_ASSETS]  # token decimals
    feed_decimals: DynArray[uint256, MAX_ASSETS]
    holdings: DynArray[uint256, MAX_ASSETS]  # token units, the vault's internal accounting
    prices: DynArray[uint256, MAX_ASSETS]  # 1e18 quote units per whole token; 0 if answer <= 0
    price_updated_at: DynArray[uint256, MAX_ASSETS]  # unix seconds
    feed_status: DynArray[uint256, MAX_ASSETS]  # 0 ok, 1 non-positive, 2 stale, 3 incomplete, 4 unusable
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
    loss_budget_bps: uint256  # bps of vault value the loss budget holds
    loss_window: uint256  # seconds for a used budget to refill
    loss_budget_used: uint256  # in use now, 1e-15 of vault value (1e15 == 100 %)
    pending_changes: DynArray[PendingChange, 20]  # every queued change with its eta


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
    for c: uint256 in staticcall v.get_asset_config():  # token decimals at bit 160, feed's at 168
        decimals.append((c >> 160) & 255)
        feed_decimals.append((c >> 168) & 255)
    max_ages: DynArray[uint256, MAX_ASSETS] = staticcall v.get_max_ages()

    prices: DynArray[uint256, MAX_ASSETS] = []
    statuses: DynArray[uint256, MAX_ASSETS] = []
    updated: DynArray[uint256, MAX_ASSETS] = []
    prices, statuses, updated = staticcall v.oracle_state()
    all_ok: bool = True
    for status: uint256 in statuses:
        all_ok = all_ok and status == FEED_OK

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

    pending: DynArray[PendingChange, 20] = staticcall v.pending_changes()
    pending_weights: DynArray[uint256, MAX_ASSETS] = []
    pending_eta: uint256 = 0
    packed: uint256 = 0
    for p: PendingChange in pending:
        if p.kind == K_TARGETS:
            packed = p.value
            pending_eta = p.eta
    for i: uint256 in range(len(assets), bound=MAX_ASSETS):
        pending_weights.append((packed >> (14 * i)) & 16_383)  # 14-bit bps lanes

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
        pending_weights=pending_weights,
        pending_eta=pending_eta,
        loss_budget_bps=staticcall v.loss_budget_bps(),
        loss_window=staticcall v.loss_window(),
        loss_budget_used=staticcall v.loss_budget_used(),
        pending_changes=pending,
    )
