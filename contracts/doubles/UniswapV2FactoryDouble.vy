#pragma version 0.4.3
"""
@title UniswapV2FactoryDouble
@notice TEST DOUBLE of the Uniswap V2 factory: `createPair`, `getPair`, `allPairs`,
        `allPairsLength`, `PairCreated`. Pairs are byte-for-byte copies of a deployed
        UniswapV2PairDouble template (`create_copy_of`), then initialised.
"""

interface IPair:
    def initialize(token0: address, token1: address): nonpayable

PAIR_TEMPLATE: public(immutable(address))
getPair: public(HashMap[address, HashMap[address, address]])
allPairs: public(DynArray[address, 1024])

event PairCreated:
    token0: indexed(address)
    token1: indexed(address)
    pair: address
    count: uint256


@deploy
def __init__(pair_template: address):
    PAIR_TEMPLATE = pair_template


@external
@view
def allPairsLength() -> uint256:
    return len(self.allPairs)


@external
def createPair(tokenA: address, tokenB: address) -> address:
    assert tokenA != tokenB, "UniswapV2: IDENTICAL_ADDRESSES"
    token0: address = tokenA
    token1: address = tokenB
    if convert(tokenB, uint256) < convert(tokenA, uint256):
        token0 = tokenB
        token1 = tokenA
    assert token0 != empty(address), "UniswapV2: ZERO_ADDRESS"
    assert self.getPair[token0][token1] == empty(address), "UniswapV2: PAIR_EXISTS"
    pair: address = create_copy_of(PAIR_TEMPLATE, salt=keccak256(concat(convert(token0, bytes20), convert(token1, bytes20))))
    extcall IPair(pair).initialize(token0, token1)
    self.getPair[token0][token1] = pair
    self.getPair[token1][token0] = pair
    self.allPairs.append(pair)
    log PairCreated(token0=token0, token1=token1, pair=pair, count=len(self.allPairs))
    return pair
