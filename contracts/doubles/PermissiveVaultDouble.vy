#pragma version 0.4.3
"""
@title PermissiveVaultDouble
@notice TEST DOUBLE of RebalancingVault for the auditor's tests (`tests/audit/`). It has the
        vault's events (same signatures) and the views the auditor reads, but its `rebalance`
        enforces NONE of the vault's invariants I1-I7: no keeper role, trigger, cooldown, feed
        freshness, slippage, size, overshoot, drift or value-loss check. It trades whatever it is
        given through the router and emits HONEST events (the same formulas as the vault), so a
        test can craft a history that breaks any one rule and check the auditor names that rule.
        Parameters are set without bounds by `set_param`; `skim` moves internal holdings with no
        event (an accounting hole the auditor must see). Never deploy outside tests.
"""

from ethereum.ercs import IERC20
from ethereum.ercs import IERC20Detailed

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

MAX_ASSETS: constant(uint256) = 8
MAX_TRADES: constant(uint256) = 16
BPS: constant(uint256) = 10_000
WAD: constant(uint256) = 10 ** 18
BPS_TO_WAD: constant(uint256) = 10 ** 14

struct Trade:
    sell: address
    buy: address
    amount_in: uint256
    min_amount_out: uint256

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
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

event ParameterChanged:
    name: String[32]
    old_value: uint256
    new_value: uint256

event KeeperSet:
    account: indexed(address)
    enabled: bool

assets: DynArray[address, MAX_ASSETS]
feeds: DynArray[address, MAX_ASSETS]
token_decimals: DynArray[uint256, MAX_ASSETS]
feed_decimals: DynArray[uint256, MAX_ASSETS]
targets: DynArray[uint256, MAX_ASSETS]
max_ages: DynArray[uint256, MAX_ASSETS]
holdings: DynArray[uint256, MAX_ASSETS]
params: HashMap[bytes32, uint256]
router: public(address)
owner: public(address)
is_keeper: public(HashMap[address, bool])
paused: public(bool)
last_rebalance: public(uint256)
balanceOf: public(HashMap[address, uint256])
totalSupply: public(uint256)


@deploy
def __init__(
    assets: DynArray[address, MAX_ASSETS],
    feeds: DynArray[address, MAX_ASSETS],
    target_weights: DynArray[uint256, MAX_ASSETS],
    router: address,
    keeper: address,
):
    self.assets = assets
    self.feeds = feeds
    self.targets = target_weights
    for i: uint256 in range(len(assets), bound=MAX_ASSETS):
        self.token_decimals.append(convert(staticcall IERC20Detailed(assets[i]).decimals(), uint256))
        self.feed_decimals.append(convert(staticcall IAggregatorV3(feeds[i]).decimals(), uint256))
        self.max_ages.append(86_400)
        self.holdings.append(0)
    self.router = router
    self.owner = msg.sender
    self.is_keeper[keeper] = True
    log KeeperSet(account=keeper, enabled=True)
    self.params[keccak256("drift_threshold_bps")] = 500
    self.params[keccak256("min_drift_bps")] = 100
    self.params[keccak256("max_slippage_bps")] = 100
    self.params[keccak256("max_trade_bps")] = 5_000
    self.params[keccak256("tolerance_bps")] = 25
    self.params[keccak256("cooldown")] = 3_600
    self.params[keccak256("rebalance_period")] = 30 * 86_400
    self.params[keccak256("target_delay")] = 86_400
    self.last_rebalance = block.timestamp


# ---- Permissive operations ----

@external
def set_param(name: String[32], new_value: uint256):
    """@notice Any parameter, any value, anyone: emits the vault's ParameterChanged."""
    key: bytes32 = keccak256(name)
    log ParameterChanged(name=name, old_value=self.params[key], new_value=new_value)
    self.params[key] = new_value


@external
def skim(i: uint256, amount: uint256):
    """@notice Lower internal holdings of asset `i` with NO event (an accounting hole)."""
    self.holdings[i] -= amount


@external
def deposit(amounts: DynArray[uint256, MAX_ASSETS], receiver: address) -> uint256:
    """@notice Pull `amounts` as given; shares = their oracle value (no checks)."""
    prices: DynArray[uint256, MAX_ASSETS] = self._prices()
    shares: uint256 = 0
    for i: uint256 in range(len(amounts), bound=MAX_ASSETS):
        shares += amounts[i] * prices[i] // 10 ** self.token_decimals[i]
        self.holdings[i] += amounts[i]
        if amounts[i] != 0:
            assert extcall IERC20(self.assets[i]).transferFrom(msg.sender, self, amounts[i])
    self.totalSupply += shares
    self.balanceOf[receiver] += shares
    log Transfer(sender=empty(address), receiver=receiver, value=shares)
    log Deposited(sender=msg.sender, receiver=receiver, shares=shares, amounts=amounts)
    return shares


@external
def redeem(shares: uint256, receiver: address) -> DynArray[uint256, MAX_ASSETS]:
    supply: uint256 = self.totalSupply
    amounts: DynArray[uint256, MAX_ASSETS] = []
    for i: uint256 in range(len(self.assets), bound=MAX_ASSETS):
        amount: uint256 = self.holdings[i] * shares // supply
        amounts.append(amount)
        self.holdings[i] -= amount
        if amount != 0:
            assert extcall IERC20(self.assets[i]).transfer(receiver, amount)
    self.balanceOf[msg.sender] -= shares
    self.totalSupply -= shares
    log Transfer(sender=msg.sender, receiver=empty(address), value=shares)
    log Redeemed(sender=msg.sender, receiver=receiver, owner=msg.sender, shares=shares, amounts=amounts)
    return amounts


@external
def rebalance(trades: DynArray[Trade, MAX_TRADES], deadline: uint256):
    """@notice Trade as told; checks nothing; events computed exactly as the vault computes them."""
    prices: DynArray[uint256, MAX_ASSETS] = self._prices()
    holdings: DynArray[uint256, MAX_ASSETS] = self.holdings
    values: DynArray[uint256, MAX_ASSETS] = self._values(holdings, prices)
    value_before: uint256 = self._sum(values)
    weights_before: DynArray[uint256, MAX_ASSETS] = self._weights_wad(values, value_before)
    drift_before: uint256 = self._drift_wad(weights_before)
    reason: uint8 = self._trigger(drift_before)
    self.last_rebalance = block.timestamp

    for t: Trade in trades:
        s: uint256 = self._index_of(t.sell)
        b: uint256 = self._index_of(t.buy)
        expected: uint256 = t.amount_in * prices[s] * 10 ** self.token_decimals[b] // (
            prices[b] * 10 ** self.token_decimals[s]
        )
        before: uint256 = staticcall IERC20(t.buy).balanceOf(self)
        assert extcall IERC20(t.sell).approve(self.router, t.amount_in)
        extcall IUniswapV2Router(self.router).swapExactTokensForTokens(
            t.amount_in, t.min_amount_out, [t.sell, t.buy], self, deadline
        )
        received: uint256 = staticcall IERC20(t.buy).balanceOf(self) - before
        holdings[s] -= t.amount_in
        holdings[b] += received
        log Swapped(sell=t.sell, buy=t.buy, amount_in=t.amount_in, amount_out=received, expected_out=expected)

    values = self._values(holdings, prices)
    value_after: uint256 = self._sum(values)
    weights_after: DynArray[uint256, MAX_ASSETS] = self._weights_wad(values, value_after)
    drift_after: uint256 = self._drift_wad(weights_after)
    self.holdings = holdings
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


# ---- The vault's views the auditor reads ----

@external
@view
def get_assets() -> DynArray[address, MAX_ASSETS]:
    return self.assets


@external
@view
def get_feeds() -> DynArray[address, MAX_ASSETS]:
    return self.feeds


@external
@view
def get_decimals() -> (DynArray[uint256, MAX_ASSETS], DynArray[uint256, MAX_ASSETS]):
    return self.token_decimals, self.feed_decimals


@external
@view
def get_holdings() -> DynArray[uint256, MAX_ASSETS]:
    return self.holdings


@external
@view
def get_target_weights() -> DynArray[uint256, MAX_ASSETS]:
    return self.targets


@external
@view
def get_max_ages() -> DynArray[uint256, MAX_ASSETS]:
    return self.max_ages


@external
@view
def drift_threshold_bps() -> uint256:
    return self.params[keccak256("drift_threshold_bps")]


@external
@view
def min_drift_bps() -> uint256:
    return self.params[keccak256("min_drift_bps")]


@external
@view
def max_slippage_bps() -> uint256:
    return self.params[keccak256("max_slippage_bps")]


@external
@view
def max_trade_bps() -> uint256:
    return self.params[keccak256("max_trade_bps")]


@external
@view
def tolerance_bps() -> uint256:
    return self.params[keccak256("tolerance_bps")]


@external
@view
def cooldown() -> uint256:
    return self.params[keccak256("cooldown")]


@external
@view
def rebalance_period() -> uint256:
    return self.params[keccak256("rebalance_period")]


@external
@view
def target_delay() -> uint256:
    return self.params[keccak256("target_delay")]


# ---- Internal: the vault's formulas (mirror: offchain.model) ----

@internal
@view
def _prices() -> DynArray[uint256, MAX_ASSETS]:
    out: DynArray[uint256, MAX_ASSETS] = []
    for i: uint256 in range(len(self.feeds), bound=MAX_ASSETS):
        answer: int256 = (staticcall IAggregatorV3(self.feeds[i]).latestRoundData())[1]
        price: uint256 = 0
        if answer > 0:
            price = convert(answer, uint256) * 10 ** (18 - self.feed_decimals[i])
        out.append(price)
    return out


@internal
@view
def _values(holdings: DynArray[uint256, MAX_ASSETS], prices: DynArray[uint256, MAX_ASSETS]) -> DynArray[uint256, MAX_ASSETS]:
    out: DynArray[uint256, MAX_ASSETS] = []
    for i: uint256 in range(len(holdings), bound=MAX_ASSETS):
        out.append(holdings[i] * prices[i] // 10 ** self.token_decimals[i])
    return out


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
    out: DynArray[uint256, MAX_ASSETS] = []
    for v: uint256 in values:
        if total == 0:
            out.append(0)
        else:
            out.append(v * WAD // total)
    return out


@internal
@pure
def _to_bps(weights: DynArray[uint256, MAX_ASSETS]) -> DynArray[uint256, MAX_ASSETS]:
    out: DynArray[uint256, MAX_ASSETS] = []
    for w: uint256 in weights:
        out.append(w // BPS_TO_WAD)
    return out


@internal
@view
def _drift_wad(weights: DynArray[uint256, MAX_ASSETS]) -> uint256:
    drift: uint256 = 0
    for i: uint256 in range(len(weights), bound=MAX_ASSETS):
        target: uint256 = self.targets[i] * BPS_TO_WAD
        if weights[i] > target:
            drift = max(drift, weights[i] - target)
        else:
            drift = max(drift, target - weights[i])
    return drift


@internal
@view
def _trigger(drift_wad: uint256) -> uint8:
    if block.timestamp < self.last_rebalance + self.params[keccak256("cooldown")]:
        return 0
    if drift_wad >= self.params[keccak256("drift_threshold_bps")] * BPS_TO_WAD:
        return 1
    if block.timestamp >= self.last_rebalance + self.params[keccak256("rebalance_period")] and drift_wad >= self.params[keccak256("min_drift_bps")] * BPS_TO_WAD:
        return 2
    return 0


@internal
@view
def _index_of(asset: address) -> uint256:
    for i: uint256 in range(len(self.assets), bound=MAX_ASSETS):
        if self.assets[i] == asset:
            return i
    raise "double: unknown asset"
