#pragma version 0.4.3
"""
@title UniswapV2RouterDouble
@notice TEST DOUBLE of the Uniswap V2 Router02 subset ballast uses, with the same ABI, maths
        (0.3 % fee: out = in * 997 * R_out / (R_in * 1000 + in * 997)) and revert strings:
        `addLiquidity`, `getAmountOut`, `getAmountsOut`, `swapExactTokensForTokens`, `factory`.
"""

from ethereum.ercs import IERC20

interface IFactory:
    def getPair(tokenA: address, tokenB: address) -> address: view
    def createPair(tokenA: address, tokenB: address) -> address: nonpayable

interface IPair:
    def getReserves() -> (uint112, uint112, uint32): view
    def token0() -> address: view
    def mint(to: address) -> uint256: nonpayable
    def swap(amount0Out: uint256, amount1Out: uint256, to: address, data: Bytes[256]): nonpayable

MAX_PATH: constant(uint256) = 4

factory: public(immutable(address))


@deploy
def __init__(factory_: address):
    factory = factory_


@external
@pure
def getAmountOut(amountIn: uint256, reserveIn: uint256, reserveOut: uint256) -> uint256:
    return self._amount_out(amountIn, reserveIn, reserveOut)


@external
@view
def getAmountsOut(amountIn: uint256, path: DynArray[address, MAX_PATH]) -> DynArray[uint256, MAX_PATH]:
    return self._amounts_out(amountIn, path)


@external
def swapExactTokensForTokens(
    amountIn: uint256,
    amountOutMin: uint256,
    path: DynArray[address, MAX_PATH],
    to: address,
    deadline: uint256,
) -> DynArray[uint256, MAX_PATH]:
    assert deadline >= block.timestamp, "UniswapV2Router: EXPIRED"
    amounts: DynArray[uint256, MAX_PATH] = self._amounts_out(amountIn, path)
    assert amounts[len(amounts) - 1] >= amountOutMin, "UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT"
    first_pair: address = staticcall IFactory(factory).getPair(path[0], path[1])
    assert extcall IERC20(path[0]).transferFrom(msg.sender, first_pair, amountIn, default_return_value=True), "TransferHelper: TRANSFER_FROM_FAILED"
    for i: uint256 in range(MAX_PATH - 1):
        if i + 1 >= len(path):
            break
        pair: address = staticcall IFactory(factory).getPair(path[i], path[i + 1])
        recipient: address = to
        if i + 2 < len(path):
            recipient = staticcall IFactory(factory).getPair(path[i + 1], path[i + 2])
        out: uint256 = amounts[i + 1]
        if path[i] == staticcall IPair(pair).token0():
            extcall IPair(pair).swap(0, out, recipient, b"")
        else:
            extcall IPair(pair).swap(out, 0, recipient, b"")
    return amounts


@external
def addLiquidity(
    tokenA: address,
    tokenB: address,
    amountADesired: uint256,
    amountBDesired: uint256,
    amountAMin: uint256,
    amountBMin: uint256,
    to: address,
    deadline: uint256,
) -> (uint256, uint256, uint256):
    assert deadline >= block.timestamp, "UniswapV2Router: EXPIRED"
    pair: address = staticcall IFactory(factory).getPair(tokenA, tokenB)
    if pair == empty(address):
        pair = extcall IFactory(factory).createPair(tokenA, tokenB)
    reserve_a: uint256 = 0
    reserve_b: uint256 = 0
    reserve_a, reserve_b = self._reserves(pair, tokenA)
    amount_a: uint256 = amountADesired
    amount_b: uint256 = amountBDesired
    if reserve_a != 0 or reserve_b != 0:
        b_optimal: uint256 = amountADesired * reserve_b // reserve_a
        if b_optimal <= amountBDesired:
            assert b_optimal >= amountBMin, "UniswapV2Router: INSUFFICIENT_B_AMOUNT"
            amount_b = b_optimal
        else:
            a_optimal: uint256 = amountBDesired * reserve_a // reserve_b
            assert a_optimal <= amountADesired and a_optimal >= amountAMin, "UniswapV2Router: INSUFFICIENT_A_AMOUNT"
            amount_a = a_optimal
    assert extcall IERC20(tokenA).transferFrom(msg.sender, pair, amount_a, default_return_value=True), "TransferHelper: TRANSFER_FROM_FAILED"
    assert extcall IERC20(tokenB).transferFrom(msg.sender, pair, amount_b, default_return_value=True), "TransferHelper: TRANSFER_FROM_FAILED"
    liquidity: uint256 = extcall IPair(pair).mint(to)
    return amount_a, amount_b, liquidity


@internal
@pure
def _amount_out(amount_in: uint256, reserve_in: uint256, reserve_out: uint256) -> uint256:
    assert amount_in > 0, "UniswapV2Library: INSUFFICIENT_INPUT_AMOUNT"
    assert reserve_in > 0 and reserve_out > 0, "UniswapV2Library: INSUFFICIENT_LIQUIDITY"
    amount_in_with_fee: uint256 = amount_in * 997
    return amount_in_with_fee * reserve_out // (reserve_in * 1_000 + amount_in_with_fee)


@internal
@view
def _reserves(pair: address, token_a: address) -> (uint256, uint256):
    r0: uint112 = 0
    r1: uint112 = 0
    ts: uint32 = 0
    r0, r1, ts = staticcall IPair(pair).getReserves()
    if token_a == staticcall IPair(pair).token0():
        return convert(r0, uint256), convert(r1, uint256)
    return convert(r1, uint256), convert(r0, uint256)


@internal
@view
def _amounts_out(amount_in: uint256, path: DynArray[address, MAX_PATH]) -> DynArray[uint256, MAX_PATH]:
    assert len(path) >= 2, "UniswapV2Library: INVALID_PATH"
    amounts: DynArray[uint256, MAX_PATH] = [amount_in]
    for i: uint256 in range(MAX_PATH - 1):
        if i + 1 >= len(path):
            break
        pair: address = staticcall IFactory(factory).getPair(path[i], path[i + 1])
        assert pair != empty(address), "UniswapV2Library: NO_PAIR"
        reserve_in: uint256 = 0
        reserve_out: uint256 = 0
        reserve_in, reserve_out = self._reserves(pair, path[i])
        amounts.append(self._amount_out(amounts[i], reserve_in, reserve_out))
    return amounts
