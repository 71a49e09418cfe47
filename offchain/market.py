"""Local market actors for the demo, tests and benchmarks: an arbitrageur that keeps each AMM
pool at its feeds' price ratio, and oracle moves. Only for chains whose tokens and feeds are
test doubles (it mints tokens and sets feed answers)."""

from __future__ import annotations

import math

from web3.contract import Contract

from offchain.chain import Sender, load_artifact

MAX_UINT = 2**256 - 1


def pair_contract(sender: Sender, address: str) -> Contract:
    return sender.w3.eth.contract(address=address, abi=load_artifact("UniswapV2PairDouble").abi)


def arbitrage_pair(
    sender: Sender,
    router: Contract,
    pair_address: str,
    token_a: Contract,
    token_b: Contract,
    price_a: int,
    price_b: int,
    min_gap_bps: int = 1,
) -> int:
    """Swap through ``pair`` until its price matches ``price_a / price_b`` (feed answers, same
    decimals). Returns the input amount swapped (0 if already within ``min_gap_bps``)."""
    pair = pair_contract(sender, pair_address)
    r0, r1, _ = pair.functions.getReserves().call()
    a_is_0 = pair.functions.token0().call().lower() == token_a.address.lower()
    ra, rb = (r0, r1) if a_is_0 else (r1, r0)
    ua = 10 ** token_a.functions.decimals().call()
    ub = 10 ** token_b.functions.decimals().call()
    # pool price of a in b-units vs the oracle's; equal value on both sides at the oracle price
    k = ra * rb
    ra_target = math.isqrt(k * price_b * ua // (price_a * ub))
    if ra_target == 0 or abs(ra_target - ra) * 10_000 <= min_gap_bps * ra:
        return 0
    if ra_target > ra:
        token_in, token_out, amount = token_a, token_b, (ra_target - ra) * 1000 // 997
    else:
        token_in, token_out = token_b, token_a
        amount = (k // ra_target - rb) * 1000 // 997
    if amount <= 0:
        return 0
    sender.transact(token_in.functions.mint(sender.address, amount), label="arb mint")
    if token_in.functions.allowance(sender.address, router.address).call() < amount:
        sender.transact(token_in.functions.approve(router.address, MAX_UINT), label="arb approve")
    sender.transact(
        router.functions.swapExactTokensForTokens(
            amount, 0, [token_in.address, token_out.address], sender.address, 2**40
        ),
        label="arb swap",
    )
    return amount
