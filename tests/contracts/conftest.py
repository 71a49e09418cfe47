"""Shared fixtures for the contract suites (tests/contracts/{unit,integration,stateful}), on brownie's chain.

``make_basket(...)`` deploys token doubles with chosen decimals and prices, 8-decimal feeds,
genuine Uniswap V2 pools (the npm bytecode) for every pair and a vault, and returns a ``Basket`` with helpers.
Module-scoped deployments + brownie's ``fn_isolation`` (evm_snapshot/evm_revert) keep tests
independent and fast. One ``VaultGovernance`` module (fixture ``governance``) serves every vault of
a module; parameters, max ages and the sequencer feed are constructor arguments (issue 9), so
pass ``params=model.Params(...)``, ``max_ages=`` and ``sequencer=`` to ``make_basket`` instead of
loosening a deployed vault (loosening setters are timelocked now).
Only these suites use brownie's chain, so its snapshot isolation (``isolation`` below) is declared here
and nowhere else; the other suites start their own node (or none) and need no override.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from offchain.chain.node import Sender, chain_kind
from offchain.chain.uniswap import check_init_code_hash, uniswap_artifact
from offchain.chain.vault import build_trades, lens_contract, read_state, router_contract
from offchain.core import model
from offchain.devnet.market import arbitrage_pair

sys.path.insert(0, os.path.dirname(__file__))
import brownie_receipts  # noqa: E402
import brownie_undo  # noqa: E402

# brownie's false "Tx dropped without known replacement" under load (brownie_receipts.py here)
brownie_receipts.install()
# no undo buffer: a snapshot and a block read after every transaction, for chain.undo() (brownie_undo.py)
brownie_undo.install()

FEED_DECIMALS = 8
# `make test-ganache` runs these suites on Ganache 7.9.2 (BALLAST_CHAIN=ganache)
ON_GANACHE = chain_kind() == "ganache"
ZERO = "0x" + "00" * 20
MAX_UINT = 2**256 - 1
DEFAULT_DECIMALS = (6, 8, 18, 18)
DEFAULT_PRICES = (1, 60_000, 3_000, 15)  # USD per whole token
DEFAULT_WEIGHTS = (4_000, 3_000, 2_000, 1_000)  # bps
# The test feeds' max age (the vault has no default any more): a day, the doubles' "heartbeat",
# so the fixtures' two-day warps followed by ``refresh_feeds`` behave as before issue 9.
DEFAULT_MAX_AGE = 86_400
DEFAULT_SEQUENCER_GRACE = 3_600


def chain_now(web3: Any) -> int:
    """The contract tests' one clock: the latest block's timestamp, what the vault's views compare with.

    Not brownie's ``chain.time()``: that is wall time plus an offset brownie keeps itself and restores
    from its own bookkeeping on ``evm_revert``. Anvil's clock does not follow it: blocks mined faster
    than one a second run ahead of wall time, so after a revert brownie's clock can be ahead of the
    chain's or behind it by seconds to minutes, and a relative ``chain.sleep(eta - chain.time())``
    lands short of an eta (seen: "vault: timelock" in test_admin on a loaded machine)."""
    return int(web3.eth.get_block("latest")["timestamp"])


def warp_to(web3: Any, chain: Any, timestamp: int) -> None:
    """Mine one block at exactly ``timestamp`` (Anvil: ``evm_setNextBlockTimestamp``, then brownie's
    ``chain.mine()``, which also resyncs brownie's clock from that block; Anvil keeps its clock going
    from there. Ganache, which has no such method: brownie's ``chain.mine(timestamp=...)``, which
    mines at it and sets Ganache's clock). Absolute, so it cannot land short the way a relative sleep
    can. A time not after the latest block mines at the next second: the chain's clock never goes
    back."""
    at = max(int(timestamp), chain_now(web3) + 1)
    answer = web3.provider.make_request("evm_setNextBlockTimestamp", [at])
    if "error" not in answer:
        chain.mine()
    elif ON_GANACHE:
        chain.mine(timestamp=at)
    else:
        raise RuntimeError(f"evm_setNextBlockTimestamp({at}): {answer['error']}")


@pytest.fixture(scope="session")
def now(web3):
    """``now()``: the latest block's timestamp (``chain_now``)."""
    return lambda: chain_now(web3)


@pytest.fixture(autouse=True)
def isolation(fn_isolation):
    """Chain snapshot/revert around every contract test."""


@pytest.fixture(scope="session", autouse=True)
def chain_id_cached(web3):
    """brownie's provider answers ``eth_chainId`` from web3's request cache after the first ask, as
    ``offchain.chain.node.connect`` does for the product: web3 asks it before every call and
    transaction it fills in (over a quarter of all requests), and a node's chain id never changes."""
    web3.provider.cache_allowed_requests = True
    web3.provider.cacheable_requests = {"eth_chainId"}


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
    governance: Any = None
    params: model.Params = field(default_factory=model.Params)
    max_ages: list[int] = field(default_factory=list)
    sequencer: Any = None
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

    def now(self) -> int:
        """The chain's clock: the latest block's timestamp (see ``chain_now``)."""
        return chain_now(self.web3)

    def warp_to(self, timestamp: int) -> None:
        """Mine one block at exactly ``timestamp`` (see ``warp_to``)."""
        warp_to(self.web3, self.chain, timestamp)

    def warp(self, seconds: int) -> None:
        """Mine one block ``seconds`` after the latest one."""
        self.warp_to(self.now() + seconds)

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
        return self.now() + ahead

    def rebalance(self, trades: list[tuple] | None = None, sender: Any = None) -> Any:
        trades = self.propose() if trades is None else trades
        return self.vault.rebalance(trades, self.deadline(), {"from": sender or self.keeper})

    def holdings(self) -> list[int]:
        return list(self.vault.get_holdings())


def deploy_uniswap(owner: Any, web3: Any, name: str, *args: Any) -> Any:
    """One genuine Uniswap V2 contract (``offchain.chain.uniswap``: its npm artifact) deployed by
    ``owner`` through brownie, as a brownie ``Contract``."""
    from brownie import Contract

    art = uniswap_artifact(name)
    data = web3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor(*args).data_in_transaction
    tx = owner.transfer(data=data)
    return Contract.from_abi(name, tx.contract_address, art.abi, owner=owner, persist=False)


@pytest.fixture(scope="module")
def amm(owner, web3):
    """The genuine Uniswap V2 (WETH9, UniswapV2Factory, UniswapV2Router02): ``(factory, router)``."""
    check_init_code_hash()
    weth = deploy_uniswap(owner, web3, "WETH9")
    factory = deploy_uniswap(owner, web3, "UniswapV2Factory", owner.address)
    router = deploy_uniswap(owner, web3, "UniswapV2Router02", factory.address, weth.address)
    return factory, router


@pytest.fixture(scope="module")
def lens(owner, VaultLens):
    return VaultLens.deploy({"from": owner})


@pytest.fixture(scope="module")
def governance(owner, VaultGovernance):
    """The VaultGovernance module every vault of a test module delegates to (one per chain is enough)."""
    return VaultGovernance.deploy({"from": owner})


def vault_args(
    tokens: Sequence[Any],
    feeds: Sequence[Any],
    weights: Sequence[int],
    router: Any,
    governance: Any,
    keeper: Any = ZERO,
    guardian: Any = ZERO,
    params: model.Params | Sequence[int] | None = None,
    max_ages: Sequence[int] | int | None = None,
    sequencer: Any = None,
    sequencer_grace: int = DEFAULT_SEQUENCER_GRACE,
    name: str = "ballast test basket",
    symbol: str = "bTEST",
) -> list[Any]:
    """RebalancingVault's 13 constructor arguments, in order, with the fixtures' defaults.

    ``params``: a ``model.Params`` or the ten values in kind order (default ``model.Params()``);
    ``max_ages``: one per feed or a single value for all (default ``DEFAULT_MAX_AGE``);
    ``sequencer``: an L2 uptime feed (default none)."""
    n = len(tokens)
    if params is None:
        params = model.Params()
    values = params.as_list() if isinstance(params, model.Params) else [int(v) for v in params]
    if max_ages is None:
        max_ages = DEFAULT_MAX_AGE
    ages = [int(max_ages)] * n if isinstance(max_ages, int) else [int(a) for a in max_ages]
    return [
        name,
        symbol,
        list(tokens),
        list(feeds),
        list(weights),
        ages,
        values,
        router,
        governance,
        keeper,
        guardian,
        sequencer if sequencer is not None else ZERO,
        sequencer_grace,
    ]


@pytest.fixture(scope="session")
def make_vault_args():
    """``vault_args`` as a fixture, for tests that deploy a vault of their own."""
    return vault_args


@pytest.fixture(scope="module")
def make_basket(
    owner,
    keeper,
    guardian,
    amm,
    lens,
    governance,
    chain,
    web3,
    ERC20Double,
    AggregatorDouble,
    RebalancingVault,
):
    factory, router = amm

    def make(
        decimals: tuple[int, ...] = DEFAULT_DECIMALS,
        prices: tuple[int, ...] = DEFAULT_PRICES,
        weights: tuple[int, ...] = DEFAULT_WEIGHTS,
        pool_usd: int = 50_000_000,
        token_classes: tuple[Any, ...] | None = None,
        vault_router: Any = None,
        params: model.Params | None = None,
        max_ages: Sequence[int] | int | None = None,
        sequencer: Any = None,
        sequencer_grace: int = DEFAULT_SEQUENCER_GRACE,
        vault_keeper: Any = None,
        vault_guardian: Any = None,
    ) -> Basket:
        """``vault_router``: the router the vault trades through (default: Uniswap V2's Router02).
        Pools, quotes and arbitrage always use the Uniswap V2 router.
        ``params`` (``model.Params``, default the contract defaults), ``max_ages`` (per feed or
        one for all, default ``DEFAULT_MAX_AGE``), ``sequencer`` (L2 uptime feed, default none)
        and ``sequencer_grace`` go to the vault's constructor; ``vault_keeper``/``vault_guardian``
        override the first keeper/guardian (default the ``keeper``/``guardian`` fixtures)."""
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
            governance=governance,
            params=params if params is not None else model.Params(),
            sequencer=sequencer,
        )
        for i, j in itertools.combinations(range(n), 2):
            a, b = basket.units_for_usd(i, pool_usd), basket.units_for_usd(j, pool_usd)
            tokens[i].mint(owner, a, {"from": owner})
            tokens[j].mint(owner, b, {"from": owner})
            tokens[i].approve(router, a, {"from": owner})
            tokens[j].approve(router, b, {"from": owner})
            router.addLiquidity(tokens[i], tokens[j], a, b, 0, 0, owner, 2**40, {"from": owner})
            basket.pairs[(i, j)] = factory.getPair(tokens[i], tokens[j])
        args = vault_args(
            tokens,
            feeds,
            list(weights),
            vault_router if vault_router is not None else router,
            governance,
            keeper=keeper if vault_keeper is None else vault_keeper,
            guardian=guardian if vault_guardian is None else vault_guardian,
            params=basket.params,
            max_ages=max_ages,
            sequencer=sequencer,
            sequencer_grace=sequencer_grace,
        )
        basket.max_ages = list(args[5])
        basket.vault = RebalancingVault.deploy(*args, {"from": owner})
        return basket

    return make


@pytest.fixture(scope="module")
def basket(make_basket):
    """Default 4-asset vault (6/8/18/18 decimals, 40/30/20/10), empty."""
    return make_basket()


def fund_and_settle(basket: Basket, depositor: Any) -> Basket:
    """A $1M deposit at target weights by ``depositor``, then two hours for the deployment cooldown
    and fresh feeds."""
    basket.deposit_usd(depositor, 1_000_000)
    basket.warp(2 * 3_600)
    basket.refresh_feeds()
    return basket


@pytest.fixture(scope="module")
def funded(make_basket, alice):
    """A default vault of its own (not ``basket``) with a $1M deposit at target weights, past the
    deployment cooldown. Built once per module, before the first test that asks for it takes its
    snapshot, so ``fn_isolation`` hands every test the same fresh state (as ``basket`` does)."""
    return fund_and_settle(make_basket(), alice)


@pytest.fixture(scope="module")
def drifted(make_basket, alice):
    """A default vault of its own, funded as ``funded`` is, then asset 1 (BTC-like) up 40 %: drift
    900+ bps, THRESHOLD trigger holds. Built once per module, like ``funded``."""
    basket = fund_and_settle(make_basket(), alice)
    basket.move(1, 14_000)
    return basket
