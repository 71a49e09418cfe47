"""Deploy a vault from a config file, safely: preflight every input on-chain before sending anything.

``load_config(path)`` reads a TOML vault config (see ``configs/sepolia.toml``). ``preflight(w3,
config)`` checks, with reads only, the chain id, weights and parameters (``offchain.core.model``'s
bounds, the contract's), every token (code, symbol, decimals), every feed (code, decimals,
description, a fresh positive complete answer within its heartbeat; the heartbeat itself within
the vault's max-age bounds and, when the config gives the feed's published ``feed_heartbeat``, no
more than a small margin above it), the optional L2 sequencer-uptime feed and, for every pair the
keeper may trade, that the router's factory has a pool holding at least ``min_pool_liquidity_usd``
per side at feed prices. ``deploy(...)`` then deploys the factory route (the VaultGovernance
module, the vault-initcode data contracts and ``VaultFactory``, see ``offchain.chain.node
.deploy_vault_factory``) and the lens if the chain's manifest has none that matches the local
build, deploys the vault through the factory with its per-feed max ages (the heartbeats) and
parameters as constructor arguments, accepts its ownership, and merges the vault into
``deployments/<chain-id>.json``. No setter is called after deployment: loosening setters are
timelocked, and there is nothing to set.

The config (``load_config``, ``VaultConfig``) lives in ``offchain.chain.deploy_config``, the checks
(``preflight``, ``Preflight``, ``require_ok``) in ``offchain.chain.preflight``; both are re-exported
here.

Used by ``scripts/deploy.py`` (``brownie run scripts/deploy.py --network sepolia``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from offchain.chain.deploy_config import (
    DEFAULT_SEQUENCER_GRACE,
    AssetConfig,
    VaultConfig,
    heartbeat_margin,
    load_config,
)
from offchain.chain.manifest import DEPLOYMENTS, load_manifest, manifest_path, save_manifest
from offchain.chain.node import Sender, deploy_vault_factory, load_artifact, vault_initcode
from offchain.chain.preflight import Preflight, _has_code, preflight, require_ok
from offchain.core.model import PARAM_KINDS

__all__ = [
    "ZERO",
    "DEFAULT_SEQUENCER_GRACE",
    "heartbeat_margin",
    "AssetConfig",
    "VaultConfig",
    "load_config",
    "Preflight",
    "preflight",
    "require_ok",
    "Deployment",
    "vault_args",
    "deploy",
    "print_plan",
]

log = logging.getLogger(__name__)

ZERO = "0x" + "00" * 20


@dataclass
class Deployment:
    vault: str
    factory: str
    governance: str
    chunks: list[str]
    lens: str
    manifest: Path
    block: int
    gas_used: int  # the vault's deployment through the factory (deploy_vault's gasUsed)


def _existing(w3: Web3, manifest: dict[str, Any], key: str) -> str | None:
    address = manifest.get(key)
    if address and _has_code(w3, address):
        return Web3.to_checksum_address(address)
    return None


def _contract(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=address, abi=load_artifact(name).abi)


def _reusable_factory(w3: Web3, manifest: dict[str, Any]) -> Contract | None:
    """The manifest's factory when it assembles exactly the local build's vault initcode."""
    address = _existing(w3, manifest, "vault_factory")
    if address is None:
        return None
    factory = _contract(w3, "VaultFactory", address)
    try:
        onchain = bytes(factory.functions.vault_initcode_hash().call())
    except Exception:  # noqa: BLE001 - an older (blueprint) factory, or not a factory
        log.warning(
            "manifest's vault_factory %s is not a data-contract factory: deploying a new one", address
        )
        return None
    if onchain != bytes(Web3.keccak(vault_initcode())):
        log.warning("factory %s deploys another vault build than the local one: deploying a new one", address)
        return None
    return factory


def vault_args(config: VaultConfig, keeper: str) -> list[Any]:
    """``VaultFactory.deploy_vault``'s arguments (the vault's constructor's minus ``governance``)."""
    return [
        config.name,
        config.symbol,
        [a.token for a in config.assets],
        [a.feed for a in config.assets],
        config.weights,
        config.max_ages,
        config.vault_params().as_list(),
        config.router,
        keeper,
        config.guardian or ZERO,
        config.sequencer_feed or ZERO,
        config.sequencer_grace,
    ]


def deploy(w3: Web3, sender: Sender, config: VaultConfig, *, out_dir: Path = DEPLOYMENTS) -> Deployment:
    """Deploy (after a passing ``preflight``): the factory route and lens if missing, then the vault."""
    path = manifest_path(config.chain_id, out_dir)
    manifest: dict[str, Any] = {"chain_id": config.chain_id, "vaults": []}
    if path.exists():
        manifest = load_manifest(path)
    factory = _reusable_factory(w3, manifest)
    if factory is None:
        route = deploy_vault_factory(sender)
        factory = route.factory
        log.info(
            "deployed governance %s, chunks %s and factory %s",
            route.governance,
            route.chunks,
            factory.address,
        )
    governance = factory.functions.governance().call()
    chunks = [factory.functions.vault_chunks(i).call() for i in range(factory.functions.N_CHUNKS().call())]
    initcode_hash = "0x" + bytes(factory.functions.vault_initcode_hash().call()).hex()
    lens = _existing(w3, manifest, "lens") or sender.deploy("VaultLens").address
    keeper = config.keeper or sender.address
    receipt = sender.transact(
        factory.functions.deploy_vault(*vault_args(config, keeper)), label="factory.deploy_vault"
    )
    events = factory.events.VaultDeployed().process_receipt(receipt, errors=DISCARD)
    vault_addr = events[0]["args"]["vault"]
    vault = _contract(w3, "RebalancingVault", vault_addr)
    sender.transact(vault.functions.accept_ownership(), label="vault.accept_ownership")
    entry = {
        "address": vault_addr,
        "name": config.name,
        "symbol": config.symbol,
        "deployment_block": receipt["blockNumber"],
        "deployment_tx": receipt["transactionHash"].hex(),
        "deployment_gas": receipt["gasUsed"],
        "factory": factory.address,
        "governance": governance,
        "assets": [a.token for a in config.assets],
        "asset_symbols": [a.symbol for a in config.assets],
        "feeds": [a.feed for a in config.assets],
        "heartbeats": config.max_ages,
        "max_ages": list(vault.functions.get_max_ages().call()),
        "target_weights": config.weights,
        "router": config.router,
        "owner": vault.functions.owner().call(),
        "keeper": keeper,
        "guardian": config.guardian,
        "sequencer": list(vault.functions.sequencer().call()),
        "params": dict(zip(PARAM_KINDS, vault.functions.get_params().call(), strict=True)),
        "config": config.source,
    }
    manifest.pop("vault_blueprint", None)  # the EIP-5202 route is gone (issue 9)
    manifest.update(
        {
            "chain_id": config.chain_id,
            "network": config.network,
            "vault_factory": factory.address,
            "vault_governance": governance,
            "vault_chunks": chunks,
            "vault_initcode_hash": initcode_hash,
            "lens": lens,
            "router": config.router,
            "vaults": [entry],
        }
    )
    saved = save_manifest(manifest, path)
    return Deployment(
        vault_addr,
        factory.address,
        governance,
        chunks,
        lens,
        saved,
        receipt["blockNumber"],
        receipt["gasUsed"],
    )


def print_plan(config: VaultConfig, result: Preflight, sender_address: str, console: Any) -> None:
    """The deployment plan as rich tables: assets and feeds, pools, parameters, roles."""
    from rich.table import Table  # noqa: PLC0415 - presentation only

    t = Table(title=f"Vault {config.name} ({config.symbol}) on {config.network} (chain {config.chain_id})")
    for col in ("asset", "token", "decimals", "feed", "answer", "age / heartbeat", "weight"):
        t.add_column(col)
    feeds = {f["symbol"]: f for f in result.feeds}
    decs = {tk["address"]: tk["decimals"] for tk in result.tokens}
    for a in config.assets:
        f = feeds.get(a.symbol, {})
        answer = f"{f['answer'] / 10 ** f['decimals']:,.4f}" if f else "-"
        t.add_row(
            a.symbol,
            a.token,
            str(decs.get(a.token, "-")),
            f"{f.get('description', '-')} {a.feed}",
            answer,
            f"{f.get('age_s', '-')} s / {a.heartbeat} s",
            f"{a.weight_bps / 100:.2f}%",
        )
    console.print(t)
    p = Table(title="Pools the keeper may trade (router's factory)")
    for col in ("pair", "pool", "USD per side"):
        p.add_column(col)
    for pool in result.pools:
        usd = pool["usd_per_side"]
        p.add_row(pool["pair"], pool["address"], "-" if usd is None else f"${usd:,.0f}")
    console.print(p)
    params = config.vault_params()
    console.print("parameters: " + ", ".join(f"{k}={getattr(params, k)}" for k in PARAM_KINDS))
    console.print(
        f"router {config.router}; owner {sender_address} (deployer); "
        f"keeper {config.keeper or sender_address}; guardian {config.guardian or 'none'}; "
        f"sequencer feed {config.sequencer_feed or 'none'}"
        + (f" (grace {config.sequencer_grace} s)" if config.sequencer_feed else "")
    )
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {w}")
