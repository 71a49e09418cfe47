"""Shared fixtures for the brownie suites (tests/unit, tests/integration, tests/stateful).

``make_basket(...)`` deploys token doubles with chosen decimals and prices, 8-decimal feeds,
Uniswap V2 double pools for every pair and a vault, and returns a ``Basket`` with helpers.
Module-scoped deployments + brownie's ``fn_isolation`` (evm_snapshot/evm_revert) keep tests
independent and fast. Pure-Python tests live in tests/offchain and need none of this.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import settings

from offchain import model
from offchain.chain import Sender
from offchain.market import arbitrage_pair
from offchain.vault import build_trades, lens_contract, read_state, router_contract

# Fixed seeds in CI (derandomize), random exploration locally.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("BALLAST_HYPOTHESIS_PROFILE", "dev"))

FEED_DECIMALS = 8
ZERO = "0x" + "00" * 20
MAX_UINT = 2**256 - 1
DEFAULT_DECIMALS = (6, 8, 18, 18)
DEFAULT_PRICES = (1, 60_000, 3_000, 15)  # USD per whole token
DEFAULT_WEIGHTS = (4_000, 3_000, 2_000, 1_000)  # bps


@pytest.fixture(autouse=True)
def isolation(fn_isolation):
    """Chain snapshot/revert around every contract test (tests/offchain overrides this)."""


@pytest.fixture(scope="session")
def owner(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def keeper(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def guardian(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def alice(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def bob(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def attacker(accounts):
    return accounts[5]


@dataclass
class Basket:
    """A deployed vault with its tokens, feeds and pools, plus test helpers."""

    vault: Any
    tokens: list[Any]
    feeds: list[Any]
    router: Any
    factory: Any
    lens: Any
    decimals: list[int]
    owner: Any
    keeper: Any
    chain: Any
    web3: Any
    pairs: dict[tuple[int, int], str] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.tokens)

    @property
    def targets(self) -> list[int]:
        return list(self.vault.get_target_weights())

    @property
    def prices(self) -> list[int]:
        """Current feed answers (8 decimals), read from the chain so snapshots stay consistent."""
        return [int(f.latestAnswer()) for f in self.feeds]

    def units_for_usd(self, i: int, usd: int) -> int:
        return usd * 10 ** self.decimals[i] * 10**FEED_DECIMALS // self.prices[i]

    def fund(self, account: Any, amounts: list[int]) -> None:
        for token, amount in zip(self.tokens, amounts, strict=True):
            token.mint(account, amount, {"from": account})
            token.approve(self.vault, amount, {"from": account})

    def basket_for_usd(self, usd: int, weights: list[int] | None = None) -> list[int]:
        weights = weights or self.targets
        return [self.units_for_usd(i, usd * w // 10_000) for i, w in enumerate(weights)]

    def deposit_usd(self, account: Any, usd: int, weights: list[int] | None = None) -> Any:
        amounts = self.basket_for_usd(usd, weights)
        self.fund(account, amounts)
        return self.vault.deposit(amounts, 0, account, {"from": account})

    def set_price(self, i: int, answer: int) -> None:
        self.feeds[i].set_answer(answer, {"from": self.owner})

    def refresh_feeds(self) -> None:
        for i, answer in enumerate(self.prices):
            self.feeds[i].set_answer(answer, {"from": self.owner})

    def arbitrage(self) -> None:
        sender = Sender(self.web3, self.owner.address)
        router = router_contract(self.web3, self.router.address)
        prices = self.prices
        for (i, j), pair in self.pairs.items():
            arbitrage_pair(sender, router, pair, self._w3_token(i), self._w3_token(j), prices[i], prices[j])

    def _w3_token(self, i: int) -> Any:
        return self.web3.eth.contract(address=self.tokens[i].address, abi=self.tokens[i].abi)

    def warp(self, seconds: int) -> None:
        self.chain.sleep(seconds)
        self.chain.mine()

    def move(self, i: int, factor_bps: int, warp: int = 2 * 86_400) -> None:
        """Advance time, scale asset i's price by factor_bps/10_000, refresh feeds, align pools."""
        self.warp(warp)
        new = self.prices[i] * factor_bps // 10_000
        self.refresh_feeds()
        self.set_price(i, new)
        self.arbitrage()

    def state(self):
        return read_state(self.vault.address, lens_contract(self.web3, self.lens.address))

    def model(self) -> model.VaultModel:
        return self.state().to_model()

    def propose(self, **kwargs: Any) -> list[tuple]:
        router = router_contract(self.web3, self.router.address)
        return [t.as_tuple() for t in build_trades(self.state(), router, **kwargs)]

    def deadline(self, ahead: int = 600) -> int:
        return self.chain.time() + ahead

    def rebalance(self, trades: list[tuple] | None = None, sender: Any = None) -> Any:
        trades = self.propose() if trades is None else trades
        return self.vault.rebalance(trades, self.deadline(), {"from": sender or self.keeper})

    def holdings(self) -> list[int]:
        return list(self.vault.get_holdings())


@pytest.fixture(scope="module")
def amm(owner, UniswapV2PairDouble, UniswapV2FactoryDouble, UniswapV2RouterDouble):
    template = UniswapV2PairDouble.deploy({"from": owner})
    factory = UniswapV2FactoryDouble.deploy(template, {"from": owner})
    router = UniswapV2RouterDouble.deploy(factory, {"from": owner})
    return factory, router


@pytest.fixture(scope="module")
def lens(owner, VaultLens):
    return VaultLens.deploy({"from": owner})


@pytest.fixture(scope="module")
def make_basket(
    owner, keeper, guardian, amm, lens, chain, web3, ERC20Double, AggregatorDouble, RebalancingVault
):
    factory, router = amm

    def make(
        decimals: tuple[int, ...] = DEFAULT_DECIMALS,
        prices: tuple[int, ...] = DEFAULT_PRICES,
        weights: tuple[int, ...] = DEFAULT_WEIGHTS,
        pool_usd: int = 50_000_000,
        token_classes: tuple[Any, ...] | None = None,
        vault_router: Any = None,
    ) -> Basket:
        """``vault_router``: the router the vault trades through (default: the AMM double's).
        Pools, quotes and arbitrage always use the AMM double's router."""
        n = len(decimals)
        answers = [p * 10**FEED_DECIMALS for p in prices]
        tokens = []
        for i in range(n):
            # (a brownie ContractContainer is falsy until deployed: compare with None)
            cls = token_classes[i] if token_classes and token_classes[i] is not None else ERC20Double
            tokens.append(cls.deploy(f"Token{i}", f"TK{i}", decimals[i], {"from": owner}))
        feeds = [
            AggregatorDouble.deploy(FEED_DECIMALS, f"TK{i} / USD", answers[i], {"from": owner})
            for i in range(n)
        ]
        basket = Basket(
            vault=None,
            tokens=tokens,
            feeds=feeds,
            router=router,
            factory=factory,
            lens=lens,
            decimals=list(decimals),
            owner=owner,
            keeper=keeper,
            chain=chain,
            web3=web3,
        )
        for i, j in itertools.combinations(range(n), 2):
            a, b = basket.units_for_usd(i, pool_usd), basket.units_for_usd(j, pool_usd)
            tokens[i].mint(owner, a, {"from": owner})
            tokens[j].mint(owner, b, {"from": owner})
            tokens[i].approve(router, a, {"from": owner})
            tokens[j].approve(router, b, {"from": owner})
            router.addLiquidity(tokens[i], tokens[j], a, b, 0, 0, owner, 2**40, {"from": owner})
            basket.pairs[(i, j)] = factory.getPair(tokens[i], tokens[j])
        basket.vault = RebalancingVault.deploy(
            "ballast test basket",
            "bTEST",
            tokens,
            feeds,
            list(weights),
            vault_router if vault_router is not None else router,
            keeper,
            guardian,
            {"from": owner},
        )
        return basket

    return make


@pytest.fixture(scope="module")
def basket(make_basket):
    """Default 4-asset vault (6/8/18/18 decimals, 40/30/20/10), empty."""
    return make_basket()


@pytest.fixture
def funded(basket, alice):
    """Default vault with a $1M deposit at target weights, past the deployment cooldown."""
    basket.deposit_usd(alice, 1_000_000)
    basket.warp(2 * 3_600)
    basket.refresh_feeds()
    return basket


@pytest.fixture
def drifted(funded):
    """`funded`, with asset 1 (BTC-like) up 40 %: drift 900+ bps, THRESHOLD trigger holds."""
    funded.move(1, 14_000)
    return funded
