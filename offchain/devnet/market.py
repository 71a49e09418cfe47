"""Local market actors for the demo, tests and benchmarks: an arbitrageur that keeps each AMM
pool at its feeds' price ratio, and oracle moves. Only for chains whose tokens and feeds are
test doubles (it mints tokens and sets feed answers)."""

from __future__ import annotations

import math

from web3.contract import Contract

from offchain.chain.node import Sender, load_artifact

MAX_UINT = 2**256 - 1


def pair_contract(sender: Sender, address: str) -> Contract:
    return sender.w3.eth.contract(address=address, abi=load_artifact("UniswapV2PairDouble").abi)


def arbitrage_trade(
    reserve_a: int, reserve_b: int, unit_a: int, unit_b: int, price_a: int, price_b: int, min_gap_bps: int = 1
) -> tuple[bool, int] | None:
    """The one swap that moves a constant-product pool (0.3 % fee) to the oracle price
    ``price_a / price_b`` (same feed decimals; ``unit_*`` = 10**token decimals): ``(a_in, amount_in)``,
    or ``None`` when the pool is already within ``min_gap_bps``. The demo's market and
    ``arbitrage_pair`` both size their swaps here."""
    k = reserve_a * reserve_b
    # equal value on both sides at the oracle price: reserve_a^2 = k * price_b * unit_a / (price_a * unit_b)
    target_a = math.isqrt(k * price_b * unit_a // (price_a * unit_b))
    if target_a == 0 or abs(target_a - reserve_a) * 10_000 <= min_gap_bps * reserve_a:
        return None
    if target_a > reserve_a:
        a_in, amount = True, (target_a - reserve_a) * 1000 // 997
    else:
        a_in, amount = False, (k // target_a - reserve_b) * 1000 // 997
    return (a_in, amount) if amount > 0 else None


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
    trade = arbitrage_trade(ra, rb, ua, ub, price_a, price_b, min_gap_bps)
    if trade is None:
        return 0
    a_in, amount = trade
    token_in, token_out = (token_a, token_b) if a_in else (token_b, token_a)
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
