"""Deploy the local stack on a running node: 4 token doubles with realistic prices and decimals,
their Chainlink feed doubles, the genuine Uniswap V2 (npm bytecode) with deep pools for every pair, the
VaultGovernance module and one vault (deployed directly: its parameters, per-feed max ages and
optional sequencer feed are constructor arguments; ``offchain.chain.deploy_vault_factory`` is the
factory route).

Used by ``scripts/deploy_local.py`` (brownie), ``make demo`` and the benchmarks. All amounts are
integers in token units; prices are feed answers with 8 decimals, as Chainlink's USD feeds use.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from web3.contract import Contract

from offchain.chain.node import Sender
from offchain.chain.uniswap import deploy_uniswap_v2
from offchain.core import model

log = logging.getLogger(__name__)

FEED_DECIMALS = 8
MAX_UINT = 2**256 - 1


@dataclass(frozen=True)
class TokenSpec:
    name: str
    symbol: str
    decimals: int
    price: int  # feed answer, 8 decimals
    # The double feed's "heartbeat", used as the vault's max age for it: a day, so local demos and
    # tests that move time by hours need not refresh every feed (a real feed's is often 1 h).
    heartbeat: int = 86_400


# A USD stablecoin (6), a BTC-like token (8), two 18-decimal tokens.
DEFAULT_TOKENS = (
    TokenSpec("USD Coin (test double)", "USDC", 6, 1 * 10**FEED_DECIMALS),
    TokenSpec("Wrapped BTC (test double)", "WBTC", 8, 60_000 * 10**FEED_DECIMALS),
    TokenSpec("Wrapped Ether (test double)", "WETH", 18, 3_000 * 10**FEED_DECIMALS),
    TokenSpec("Chainlink (test double)", "LINK", 18, 15 * 10**FEED_DECIMALS),
)
DEFAULT_WEIGHTS = (4_000, 3_000, 2_000, 1_000)  # bps


@dataclass
class LocalStack:
    sender: Sender
    tokens: list[Contract]
    feeds: list[Contract]
    specs: tuple[TokenSpec, ...]
    factory: Contract
    router: Contract
    pairs: dict[tuple[str, str], str]
    vault: Contract
    lens: Contract
    blocks: dict[str, int]
    governance: str = ""  # the VaultGovernance module the vault delegates to

    def amount_for_usd(self, i: int, usd: int) -> int:
        """Token units of asset ``i`` worth ``usd`` dollars at its feed price."""
        spec = self.specs[i]
        return usd * 10**spec.decimals * 10**FEED_DECIMALS // spec.price

    def manifest(self) -> dict[str, Any]:
        w3 = self.sender.w3
        v = self.vault.functions
        return {
            "chain_id": w3.eth.chain_id,
            "deployer": self.sender.address,
            "router": self.router.address,
            "factory": self.factory.address,
            "lens": self.lens.address,
            "governance": self.governance,
            "tokens": [
                {
                    "symbol": s.symbol,
                    "address": t.address,
                    "decimals": s.decimals,
                    "feed": f.address,
                    "feed_decimals": FEED_DECIMALS,
                }
                for s, t, f in zip(self.specs, self.tokens, self.feeds, strict=True)
            ],
            "pairs": {f"{a}/{b}": addr for (a, b), addr in self.pairs.items()},
            "vaults": [
                {
                    "address": self.vault.address,
                    "name": v.name().call(),
                    "symbol": v.symbol().call(),
                    "deployment_block": self.blocks["vault"],
                    "assets": v.get_assets().call(),
                    "feeds": v.get_feeds().call(),
                    "target_weights": v.get_target_weights().call(),
                    "router": v.router().call(),
                    "owner": v.owner().call(),
                    "guardian": v.guardian().call(),
                    "governance": v.governance().call(),
                    "max_ages": list(v.get_max_ages().call()),
                    "sequencer": list(v.sequencer().call()),
                    "params": dict(zip(model.PARAM_KINDS, v.get_params().call(), strict=True)),
                }
            ],
            "blocks": self.blocks,
        }


def deploy_local_stack(
    sender: Sender,
    *,
    keeper: str | None = None,
    guardian: str | None = None,
    specs: tuple[TokenSpec, ...] = DEFAULT_TOKENS,
    weights: tuple[int, ...] = DEFAULT_WEIGHTS,
    pool_depth_usd: int = 100_000_000,
    lp: str | None = None,
    params: model.Params | None = None,
    max_ages: Sequence[int] | None = None,
    sequencer: str | None = None,
    sequencer_grace: int = 3_600,
    governance: str | None = None,
) -> LocalStack:
    """Deploy tokens, feeds, the AMM with ``pool_depth_usd`` per side in every pair, and a vault.

    ``params`` (default ``model.Params()``), ``max_ages`` (default each spec's ``heartbeat``),
    ``sequencer``/``sequencer_grace`` go to the vault's constructor; ``governance``: an existing
    VaultGovernance module (default: deploy one)."""
    w3 = sender.w3
    zero = "0x" + "00" * 20
    blocks: dict[str, int] = {"start": w3.eth.block_number + 1}
    tokens = [sender.deploy("ERC20Double", s.name, s.symbol, s.decimals) for s in specs]
    feeds = [sender.deploy("AggregatorDouble", FEED_DECIMALS, f"{s.symbol} / USD", s.price) for s in specs]
    uniswap = deploy_uniswap_v2(sender)  # the genuine V2 bytecode, from its npm packages
    factory, router = uniswap.factory, uniswap.router
    lens = sender.deploy("VaultLens")
    governance = governance or sender.deploy("VaultGovernance").address

    provider = lp or sender.address
    stack_lp = Sender(w3, provider) if lp else sender
    n_pairs = len(specs) - 1
    for t, s in zip(tokens, specs, strict=True):
        amount = pool_depth_usd * n_pairs * 10**s.decimals * 10**FEED_DECIMALS // s.price
        sender.transact(t.functions.mint(provider, amount), label=f"mint {s.symbol}")
        stack_lp.transact(t.functions.approve(router.address, MAX_UINT), label=f"approve {s.symbol}")
    pairs: dict[tuple[str, str], str] = {}
    deadline = 2**40
    for i, j in itertools.combinations(range(len(specs)), 2):
        a = pool_depth_usd * 10 ** specs[i].decimals * 10**FEED_DECIMALS // specs[i].price
        b = pool_depth_usd * 10 ** specs[j].decimals * 10**FEED_DECIMALS // specs[j].price
        stack_lp.transact(
            router.functions.addLiquidity(
                tokens[i].address, tokens[j].address, a, b, 0, 0, provider, deadline
            ),
            label=f"addLiquidity {specs[i].symbol}/{specs[j].symbol}",
        )
        pairs[(specs[i].symbol, specs[j].symbol)] = factory.functions.getPair(
            tokens[i].address, tokens[j].address
        ).call()

    vault = sender.deploy(
        "RebalancingVault",
        "ballast " + "/".join(s.symbol for s in specs),
        "bBASKET",
        [t.address for t in tokens],
        [f.address for f in feeds],
        list(weights),
        list(max_ages) if max_ages is not None else [s.heartbeat for s in specs],
        (params or model.Params()).as_list(),
        router.address,
        governance,
        keeper or zero,
        guardian or zero,
        sequencer or zero,
        sequencer_grace,
    )
    blocks["vault"] = w3.eth.block_number
    blocks["end"] = w3.eth.block_number
    log.info("local stack deployed: vault %s, router %s", vault.address, router.address)
    return LocalStack(sender, tokens, feeds, specs, factory, router, pairs, vault, lens, blocks, governance)
