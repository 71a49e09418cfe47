#pragma version 0.4.3
"""
@title UniswapV2PairDouble
@notice TEST DOUBLE of a Uniswap V2 pair: the same constant-product arithmetic with a 0.3 % fee
        (x * y >= k checked on fee-adjusted balances), the same `swap`/`mint`/`getReserves`
        interface and revert strings, LP shares as an ERC-20. No TWAP accumulators, no protocol
        fee, no flash-swap callback. Deployed by UniswapV2FactoryDouble as a copy of a template,
        then `initialize`d, as the real factory does.
"""

from ethereum.ercs import IERC20

MINIMUM_LIQUIDITY: constant(uint256) = 1_000

factory: public(address)
token0: public(address)
token1: public(address)
reserve0: uint256
reserve1: uint256
block_timestamp_last: uint256

totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])

event Mint:
    sender: indexed(address)
    amount0: uint256
    amount1: uint256

event Swap:
    sender: indexed(address)
    amount0In: uint256
    amount1In: uint256
    amount0Out: uint256
    amount1Out: uint256
    to: indexed(address)

event Sync:
    reserve0: uint112
    reserve1: uint112

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256


@external
def initialize(token0: address, token1: address):
    assert self.factory == empty(address), "UniswapV2: FORBIDDEN"
    self.factory = msg.sender
    self.token0 = token0
    self.token1 = token1


@external
@view
def getReserves() -> (uint112, uint112, uint32):
    return convert(self.reserve0, uint112), convert(self.reserve1, uint112), convert(self.block_timestamp_last % 2**32, uint32)


@external
@nonreentrant
def mint(to: address) -> uint256:
    balance0: uint256 = staticcall IERC20(self.token0).balanceOf(self)
    balance1: uint256 = staticcall IERC20(self.token1).balanceOf(self)
    amount0: uint256 = balance0 - self.reserve0
    amount1: uint256 = balance1 - self.reserve1
    supply: uint256 = self.totalSupply
    liquidity: uint256 = 0
    if supply == 0:
        liquidity = isqrt(amount0 * amount1) - MINIMUM_LIQUIDITY
        self._mint(empty(address), MINIMUM_LIQUIDITY)
    else:
        liquidity = min(amount0 * supply // self.reserve0, amount1 * supply // self.reserve1)
    assert liquidity > 0, "UniswapV2: INSUFFICIENT_LIQUIDITY_MINTED"
    self._mint(to, liquidity)
    self._update(balance0, balance1)
    log Mint(sender=msg.sender, amount0=amount0, amount1=amount1)
    return liquidity


@external
@nonreentrant
def swap(amount0Out: uint256, amount1Out: uint256, to: address, data: Bytes[256]):
    assert amount0Out > 0 or amount1Out > 0, "UniswapV2: INSUFFICIENT_OUTPUT_AMOUNT"
    r0: uint256 = self.reserve0
    r1: uint256 = self.reserve1
    assert amount0Out < r0 and amount1Out < r1, "UniswapV2: INSUFFICIENT_LIQUIDITY"
    t0: address = self.token0
    t1: address = self.token1
    assert to != t0 and to != t1, "UniswapV2: INVALID_TO"
    if amount0Out > 0:
        assert extcall IERC20(t0).transfer(to, amount0Out, default_return_value=True), "UniswapV2: TRANSFER_FAILED"
    if amount1Out > 0:
        assert extcall IERC20(t1).transfer(to, amount1Out, default_return_value=True), "UniswapV2: TRANSFER_FAILED"
    balance0: uint256 = staticcall IERC20(t0).balanceOf(self)
    balance1: uint256 = staticcall IERC20(t1).balanceOf(self)
    amount0In: uint256 = 0
    amount1In: uint256 = 0
    if balance0 > r0 - amount0Out:
        amount0In = balance0 - (r0 - amount0Out)
    if balance1 > r1 - amount1Out:
        amount1In = balance1 - (r1 - amount1Out)
    assert amount0In > 0 or amount1In > 0, "UniswapV2: INSUFFICIENT_INPUT_AMOUNT"
    adjusted0: uint256 = balance0 * 1_000 - amount0In * 3
    adjusted1: uint256 = balance1 * 1_000 - amount1In * 3
    assert adjusted0 * adjusted1 >= r0 * r1 * 1_000_000, "UniswapV2: K"
    self._update(balance0, balance1)
    log Swap(sender=msg.sender, amount0In=amount0In, amount1In=amount1In, amount0Out=amount0Out, amount1Out=amount1Out, to=to)


@external
@nonreentrant
def sync():
    self._update(staticcall IERC20(self.token0).balanceOf(self), staticcall IERC20(self.token1).balanceOf(self))


@internal
def _update(balance0: uint256, balance1: uint256):
    assert balance0 < 2**112 and balance1 < 2**112, "UniswapV2: OVERFLOW"
    self.reserve0 = balance0
    self.reserve1 = balance1
    self.block_timestamp_last = block.timestamp
    log Sync(reserve0=convert(balance0, uint112), reserve1=convert(balance1, uint112))


@internal
def _mint(to: address, amount: uint256):
    self.totalSupply += amount
    self.balanceOf[to] += amount
    log Transfer(sender=empty(address), receiver=to, value=amount)
