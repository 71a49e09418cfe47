"""Local market actors for the demo, tests and benchmarks: an arbitrageur that keeps each AMM
pool at its feeds' price ratio (``arbitrage_pair``, one transaction at a time), and the demo's
market day in one block (``OneBlockMarket``: oracle moves plus every pool's arbitrage). Only for
chains whose tokens and feeds are test doubles (they mint tokens and set feed answers). Both size
their swaps with ``arbitrage_trade``."""

from __future__ import annotations

import itertools
import math
from typing import Any

from web3.contract import Contract

from offchain.chain.node import Sender, dev_rpc, mine_at, set_automine
from offchain.chain.rpc import Rpc, RpcError
from offchain.chain.uniswap import PAIR_ABI
from offchain.core.errors import BallastError

MAX_UINT = 2**256 - 1


def pair_contract(sender: Sender, address: str) -> Contract:
    return sender.w3.eth.contract(address=address, abi=PAIR_ABI)


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


def arbitrage_stack(sender: Sender, stack: Any, prices: list[int], only: int | None = None) -> None:
    """Every pool of a ``localstack.LocalStack`` (or only those of asset ``only``) brought to the
    ratio of ``prices`` (feed answers), one ``arbitrage_pair`` each."""
    syms = [s.symbol for s in stack.specs]
    for i, j in itertools.combinations(range(len(syms)), 2):
        if only is None or only in (i, j):
            pair = stack.pairs[(syms[i], syms[j])]
            arbitrage_pair(sender, stack.router, pair, stack.tokens[i], stack.tokens[j], prices[i], prices[j])


class OneBlockMarket:
    """The market's side of a day in ONE block: feed updates, then an arbitrageur's mint + swap per
    pool, all from one unlocked dev account (nonce order is execution order), sent as one JSON-RPC
    batch with automine off and mined with ``evm_mine``. ``stack`` is a ``localstack.LocalStack``."""

    def __init__(self, rpc: Rpc, stack: Any, actor: str):
        self.rpc, self.stack, self.actor = rpc, stack, actor
        syms = [s.symbol for s in stack.specs]
        self.units = [10**s.decimals for s in stack.specs]
        self.pairs = []
        for i, j in itertools.combinations(range(len(syms)), 2):
            pair = pair_contract(stack.sender, stack.pairs[(syms[i], syms[j])])
            a_is_0 = pair.functions.token0().call().lower() == stack.tokens[i].address.lower()
            self.pairs.append((i, j, pair, a_is_0))
        self.nonce = int(rpc.call("eth_getTransactionCount", [actor, "pending"]), 16)

    def tx(self, contract: Any, fn: str, *args: Any, gas: int = 300_000) -> dict[str, Any]:
        tx = {
            "from": self.actor,
            "to": contract.address,
            "data": contract.encode_abi(fn, args=list(args)),
            "gas": hex(gas),
            "nonce": hex(self.nonce),
        }
        self.nonce += 1
        return tx

    def reserve_calls(self) -> list[tuple[str, list[Any]]]:
        return [
            ("eth_call", [{"to": pair.address, "data": pair.encode_abi("getReserves")}, "latest"])
            for _, _, pair, _ in self.pairs
        ]

    def mine(self, txs: list[dict[str, Any]], timestamp: int | None = None) -> None:
        """Send ``txs`` (pending) and mine them in one block (at ``timestamp`` if given); every one
        must succeed. Anvil or Ganache (``node.set_automine``, ``node.mine_at``)."""
        w3 = self.stack.sender.w3
        set_automine(w3, False)
        try:
            hashes = self.rpc.batch([("eth_sendTransaction", [tx]) for tx in txs])
            errs = [h for h in hashes if isinstance(h, RpcError)]
            if errs:
                raise BallastError(f"market transaction rejected: {errs[0].message}")
            if timestamp is not None:
                mine_at(w3, timestamp)
            else:
                dev_rpc(w3, "evm_mine", [])
        finally:
            set_automine(w3, True)
        receipts = self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        bad = [(tx, r) for tx, r in zip(txs, receipts, strict=True) if not r or int(r["status"], 16) != 1]
        if bad:
            tx, r = bad[0]
            raise BallastError(
                f"{len(bad)} market transaction(s) failed; first to {tx['to']} ({tx['data'][:10]}): "
                f"{'not mined' if not r else 'reverted'}"
            )

    def approve_all(self) -> None:
        st = self.stack
        self.mine([self.tx(t, "approve", st.router.address, MAX_UINT, gas=100_000) for t in st.tokens])

    def day(self, prices: list[int], reserves: list[str], timestamp: int) -> int:
        """Feeds to ``prices``; every pool traded back to them (``reserves`` read before); the swaps made."""
        st = self.stack
        txs = [self.tx(f, "set_answer", p, gas=200_000) for f, p in zip(st.feeds, prices, strict=True)]
        swaps = 0
        for (i, j, _, a_is_0), r in zip(self.pairs, reserves, strict=True):
            raw = bytes.fromhex(r[2:])
            r0, r1 = int.from_bytes(raw[0:32], "big"), int.from_bytes(raw[32:64], "big")
            ra, rb = (r0, r1) if a_is_0 else (r1, r0)
            trade = arbitrage_trade(ra, rb, self.units[i], self.units[j], prices[i], prices[j])
            if trade is None:
                continue
            a_in, amount = trade
            tin, tout = (i, j) if a_in else (j, i)
            path = [st.tokens[tin].address, st.tokens[tout].address]
            txs.append(self.tx(st.tokens[tin], "mint", self.actor, amount, gas=100_000))
            txs.append(self.tx(st.router, "swapExactTokensForTokens", amount, 0, path, self.actor, 2**40))
            swaps += 1
        self.mine(txs, timestamp)
        return swaps
