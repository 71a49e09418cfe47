"""A local market that makes rebalance histories for the auditor's tests and benchmark.

Only for a local node whose tokens and feeds are test doubles (``offchain.devnet.localstack``): it mints
tokens, sets feed answers and arbitrages the pools to the feeds, then lets a keeper rebalance with
``offchain.chain.vault.build_trades`` (the trade builder the keeper uses, ``keeper/decide.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3

from offchain.chain.node import Sender, mine_after
from offchain.chain.vault import VaultState, build_trades, read_state
from offchain.core import model
from offchain.devnet.localstack import (
    DEFAULT_TOKENS,
    DEFAULT_WEIGHTS,
    LocalStack,
    TokenSpec,
    deploy_local_stack,
)
from offchain.devnet.market import arbitrage_stack

__all__ = ["Sandbox"]

MAX_UINT = 2**256 - 1


@dataclass
class Sandbox:
    w3: Web3
    stack: LocalStack
    owner: Sender
    keeper: Sender
    investor: Sender
    prices: list[int]

    @classmethod
    def create(
        cls,
        w3: Web3,
        specs: tuple[TokenSpec, ...] = DEFAULT_TOKENS,
        weights: tuple[int, ...] = DEFAULT_WEIGHTS,
        deposit_usd: int = 1_000_000,
        params: model.Params | None = None,
        max_ages: list[int] | None = None,
    ) -> Sandbox:
        owner, keeper, guardian, investor = w3.eth.accounts[:4]
        dep = Sender(w3, owner)
        stack = deploy_local_stack(
            dep,
            keeper=keeper,
            guardian=guardian,
            specs=specs,
            weights=weights,
            params=params,
            max_ages=max_ages,
        )
        sb = cls(w3, stack, dep, Sender(w3, keeper), Sender(w3, investor), [s.price for s in specs])
        if deposit_usd:
            sb.deposit(deposit_usd)
        return sb

    @property
    def vault(self) -> Any:
        return self.stack.vault

    def deposit(self, usd: int, vault: Any = None, args: tuple[Any, ...] | None = None) -> Any:
        """The investor deposits ``usd`` at target weights (at the sandbox's current prices)."""
        vault = vault or self.vault
        targets = vault.functions.get_target_weights().call()
        amounts = [
            usd * w // 10_000 * 10**s.decimals * 10**8 // p
            for w, s, p in zip(targets, self.stack.specs, self.prices, strict=True)
        ]
        for token, amount in zip(self.stack.tokens, amounts, strict=True):
            self.owner.transact(token.functions.mint(self.investor.address, amount), label="mint")
            self.investor.transact(token.functions.approve(vault.address, MAX_UINT), label="approve")
        fn = vault.functions.deposit(amounts, *(args if args is not None else (0, self.investor.address)))
        return self.investor.transact(fn, label="deposit")

    def set_prices(self, prices: list[int], arbitrage: bool = True, only_changed: bool = False) -> None:
        """Set the feeds (all of them, fresh now; or only those that change), then arbitrage."""
        for i, (feed, p) in enumerate(zip(self.stack.feeds, prices, strict=True)):
            if p != self.prices[i] or not only_changed:
                self.owner.transact(feed.functions.set_answer(p), label="feed")
        self.prices = list(prices)
        if arbitrage:
            self.arbitrage()

    def refresh_feeds(self) -> None:
        for feed, p in zip(self.stack.feeds, self.prices, strict=True):
            self.owner.transact(feed.functions.set_answer(p), label="feed")

    def arbitrage(self, only: int | None = None) -> None:
        """Bring every pool (or only those of asset ``only``) to the feeds' price ratio."""
        arbitrage_stack(self.owner, self.stack, self.prices, only)

    def advance(self, seconds: int) -> None:
        """One block exactly ``seconds`` after the latest (``offchain.chain.node.mine_after``)."""
        mine_after(self.w3, seconds)

    def state(self, vault: Any = None) -> VaultState:
        """What the keeper reads: ``VaultLens.state(vault)`` through ``read_state``."""
        return read_state((vault or self.vault).address, self.stack.lens)

    def trades(self, vault: Any = None, band_bps: int = 10) -> list[tuple[str, str, int, int]]:
        """The keeper's trades for ``vault`` now (``offchain.chain.vault.build_trades``)."""
        state = self.state(vault)
        return [t.as_tuple() for t in build_trades(state, self.stack.router, band_bps=band_bps)]

    def deadline(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"]) + 3_600

    def rebalance(self, band_bps: int = 10, vault: Any = None) -> Any:
        """Keeper rebalance with ``build_trades`` (raises ChainError if the vault refuses)."""
        vault = vault or self.vault
        trades = self.trades(vault, band_bps)
        return self.keeper.transact(vault.functions.rebalance(trades, self.deadline()), label="rebalance")
