"""Helpers for the keeper tests (imported as ``keeper_env``: tests/keeper has no ``__init__.py``, so
pytest puts this directory on ``sys.path``, under plain pytest and under ``brownie test`` alike)."""

from __future__ import annotations

import itertools
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from offchain.chain.devchain import GANACHE_GAS_MULTIPLIER, GAS_MULTIPLIER
from offchain.chain.node import Anvil, Ganache, Sender, chain_kind, connect, mine_after
from offchain.chain.uniswap import uniswap_artifact
from offchain.devnet.localstack import LocalStack, deploy_local_stack
from offchain.devnet.market import arbitrage_pair
from offchain.keeper.config import KeeperConfig
from offchain.keeper.keys import load_signer
from offchain.keeper.runner import Keeper

# Anvil's well-known development key #1 (public test mnemonic); set in env only inside tests.
DEV_KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
KEY_ENV = "BALLAST_TEST_KEEPER_KEY"
# `make test-ganache` runs these tests on Ganache 7.9.2 (BALLAST_CHAIN=ganache)
ON_GANACHE = chain_kind() == "ganache"


@dataclass
class Env:
    node: Anvil
    w3: Web3
    stack: LocalStack
    deployer: Sender
    keeper_addr: str
    manifest: Path
    tmp: Path
    lines: list[str]

    def rpc(self, method: str, *params: Any) -> Any:
        r = self.w3.provider.make_request(method, list(params))
        if "error" in r:
            raise RuntimeError(r["error"])
        return r["result"]

    def move(self, factors: dict[int, float]) -> None:
        """Multiply feed prices (index -> factor), then arbitrage every pool to the new prices."""
        st = self.stack
        prices = [f.functions.latestRoundData().call()[1] for f in st.feeds]
        for i, k in factors.items():
            prices[i] = int(prices[i] * k)
        for f, p in zip(st.feeds, prices, strict=True):
            self.deployer.transact(f.functions.set_answer(p), label="feed")
        syms = [s.symbol for s in st.specs]
        for i, j in itertools.combinations(range(len(syms)), 2):
            arbitrage_pair(
                self.deployer,
                st.router,
                st.pairs[(syms[i], syms[j])],
                st.tokens[i],
                st.tokens[j],
                prices[i],
                prices[j],
            )

    def refresh_feeds(self) -> None:
        for f in self.stack.feeds:
            self.deployer.transact(
                f.functions.set_answer(f.functions.latestRoundData().call()[1]), label="feed"
            )

    def advance(self, seconds: int) -> None:
        """One block exactly ``seconds`` after the latest (``offchain.chain.node.mine_after``)."""
        mine_after(self.w3, seconds)

    def config(self, **kw: Any) -> KeeperConfig:
        base = dict(
            manifest=str(self.manifest),
            rpc_url=self.node.url,
            private_key_env=KEY_ENV,
            journal=str(self.tmp / "journal.sqlite"),
            interval=0.0,
            receipt_timeout=5.0,
            poll=0.05,
            rpc_retries=2,
            rpc_backoff=0.05,
            stuck_after=0.0,
            log_json=True,
            # Ganache's eth_estimateGas falls short of a V2 swap (offchain.chain.devchain)
            gas_multiplier=GANACHE_GAS_MULTIPLIER if ON_GANACHE else GAS_MULTIPLIER,
        )
        base.update(kw)
        return KeeperConfig(**base)

    def keeper(self, **kw: Any) -> Keeper:
        cfg = self.config(**kw)
        signer = load_signer(chain_id=31337, private_key_env=KEY_ENV)
        return Keeper(cfg, signer=signer, out=self.lines.append)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.lines if x.startswith("{")]

    def rebalance_count(self) -> int:
        return len(self.stack.vault.events.Rebalanced().get_logs(from_block=0))


def deposit(env_w3: Web3, stack: LocalStack, deployer: Sender, investor: str, usd: int) -> None:
    inv = Sender(env_w3, investor)
    targets = stack.vault.functions.get_target_weights().call()
    amounts = [stack.amount_for_usd(i, usd * w // 10_000) for i, w in enumerate(targets)]
    for token, amount in zip(stack.tokens, amounts, strict=True):
        deployer.transact(token.functions.mint(investor, amount), label="mint")
        inv.transact(token.functions.approve(stack.vault.address, amount), label="approve")
    inv.transact(stack.vault.functions.deposit(amounts, 0, investor), label="deposit")


@dataclass
class Base:
    state: str
    manifest: dict[str, Any]


_BASE: dict[str, Base] = {}


def base_state() -> Base:
    """Deploy the local stack and a $1M deposit once per session; later nodes start from that state.
    Anvil: the state is ``anvil_dumpState``'s, loaded with ``anvil_loadState``. Ganache: the state is
    its database directory (``--database.dbPath``), which each later node starts from a copy of."""
    if "b" not in _BASE:
        db = tempfile.mkdtemp(prefix="ballast-ganache-base-") if ON_GANACHE else ""
        with Ganache(extra_args=("--database.dbPath", db)) if ON_GANACHE else Anvil() as node:
            w3 = connect(node.url)
            owner, keeper, guardian, investor = w3.eth.accounts[:4]
            deployer = Sender(w3, owner)
            stack = deploy_local_stack(deployer, keeper=keeper, guardian=guardian)
            deposit(w3, stack, deployer, investor, 1_000_000)
            state = db if ON_GANACHE else w3.provider.make_request("anvil_dumpState", [])["result"]
            _BASE["b"] = Base(state, stack.manifest())
    return _BASE["b"]


def stack_from_manifest(w3: Web3, deployer: Sender, m: dict[str, Any]) -> LocalStack:
    from offchain.chain.node import load_artifact
    from offchain.devnet.localstack import DEFAULT_TOKENS

    def c(name: str, addr: str) -> Any:
        return w3.eth.contract(address=addr, abi=load_artifact(name).abi)

    tokens = [c("ERC20Double", t["address"]) for t in m["tokens"]]
    feeds = [c("AggregatorDouble", t["feed"]) for t in m["tokens"]]
    pairs = {tuple(k.split("/")): v for k, v in m["pairs"].items()}
    return LocalStack(
        deployer,
        tokens,
        feeds,
        DEFAULT_TOKENS,
        w3.eth.contract(address=m["factory"], abi=uniswap_artifact("UniswapV2Factory").abi),
        w3.eth.contract(address=m["router"], abi=uniswap_artifact("UniswapV2Router02").abi),
        pairs,  # type: ignore[arg-type]
        c("RebalancingVault", m["vaults"][0]["address"]),
        c("VaultLens", m["lens"]),
        m["blocks"],
        governance=m.get("governance") or m["vaults"][0]["governance"],
    )


def load_base(node: Anvil) -> Web3:
    """``node`` with the base state (on Ganache it started from a copy of it: see ``start_node``)."""
    w3 = connect(node.url)
    if not ON_GANACHE:
        r = w3.provider.make_request("anvil_loadState", [base_state().state])
        assert "error" not in r, r
    return w3


def start_node(tmp: Path, port: int | None = None, extra_args: tuple[str, ...] = ()) -> Anvil:
    """A started node for one test: Anvil (with ``extra_args``), or Ganache on ``tmp``/chain, a copy of
    the base state's database unless a node of this test already left one there (a restart)."""
    if not ON_GANACHE:
        return Anvil(port=port, extra_args=extra_args).start()
    if extra_args:
        pytest.skip(f"Anvil-only node flags {extra_args}: no Ganache equivalent")
    db = tmp / "chain"
    if not db.exists():
        shutil.copytree(base_state().state, db)
    return Ganache(port=port, extra_args=("--database.dbPath", str(db))).start()


def make_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra_args: tuple[str, ...] = ()) -> Env:
    monkeypatch.setenv(KEY_ENV, DEV_KEY_1)
    base = base_state()
    node = start_node(tmp_path, extra_args=extra_args)
    w3 = load_base(node)
    owner, keeper = w3.eth.accounts[:2]
    deployer = Sender(w3, owner)
    stack = stack_from_manifest(w3, deployer, base.manifest)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(base.manifest))
    return Env(node, w3, stack, deployer, keeper, manifest, tmp_path, [])
