"""Deploy a vault from a config file on any network brownie knows, after preflight checks.

    brownie run scripts/deploy.py main configs/sepolia.toml --network sepolia
    brownie run scripts/deploy.py main configs/sepolia.toml yes --network sepolia   # no prompt

Nothing is sent until every preflight check passes (chain id, tokens, feeds and their freshness,
the router's pools and their liquidity, weights, parameters, heartbeats, the optional sequencer
feed) and the plan is confirmed. The factory route (VaultGovernance module, vault-initcode data
contracts, VaultFactory) and the lens are deployed if the chain's manifest has none matching the
local build; the vault is deployed through the factory with its parameters and per-feed max ages
as constructor arguments (no setter afterwards) and recorded in deployments/<chain-id>.json
without touching other entries.

Signing key, in this order (never printed):
  BALLAST_DEPLOYER_KEYSTORE=path/to/keystore.json + BALLAST_DEPLOYER_PASSWORD_FILE or
      BALLAST_DEPLOYER_PASSWORD_ENV (name of the env var holding the password)
  BALLAST_DEPLOYER_ACCOUNT=<brownie account id> (brownie's encrypted accounts; prompts for the password)
  BALLAST_DEPLOYER_KEY_ENV=<env var name holding a raw key>  (local chains only)
  otherwise, on a local development network: brownie's accounts[0].
Also: BALLAST_DEPLOY_CONFIG (config path), BALLAST_DEPLOY_YES=1 (skip the prompt).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from eth_account import Account
from rich.console import Console

from offchain.chain.deploy import deploy, load_config, preflight, print_plan, require_ok
from offchain.chain.node import Sender
from offchain.core.errors import BallastError
from offchain.keeper.keys import Signer, load_signer

console = Console()


def _sender(web3, accounts, network) -> Sender:
    chain_id = web3.eth.chain_id
    if os.environ.get("BALLAST_DEPLOYER_KEYSTORE") or os.environ.get("BALLAST_DEPLOYER_KEY_ENV"):
        signer = load_signer(
            chain_id=chain_id,
            keystore=os.environ.get("BALLAST_DEPLOYER_KEYSTORE"),
            password_file=os.environ.get("BALLAST_DEPLOYER_PASSWORD_FILE"),
            password_env=os.environ.get("BALLAST_DEPLOYER_PASSWORD_ENV"),
            private_key_env=os.environ.get("BALLAST_DEPLOYER_KEY_ENV"),
        )
        return Sender(web3, signer.address, signer=signer)
    if os.environ.get("BALLAST_DEPLOYER_ACCOUNT"):
        acct = accounts.load(os.environ["BALLAST_DEPLOYER_ACCOUNT"])  # brownie prompts for the password
        signer = Signer(
            Account.from_key(acct.private_key), f"brownie account {os.environ['BALLAST_DEPLOYER_ACCOUNT']}"
        )
        return Sender(web3, signer.address, signer=signer)
    if network.show_active() in ("development",) or chain_id in (31337, 1337):
        return Sender(web3, accounts[0].address)
    raise BallastError(
        "no deployer key: set BALLAST_DEPLOYER_KEYSTORE (+ password file/env) or BALLAST_DEPLOYER_ACCOUNT"
    )


def main(config: str | None = None, yes: str = "") -> dict | None:
    from brownie import accounts, network, web3  # noqa: PLC0415 - only inside `brownie run`

    config = config or os.environ.get("BALLAST_DEPLOY_CONFIG", "configs/sepolia.toml")
    confirmed = yes.lower() in ("yes", "1", "true", "y") or os.environ.get("BALLAST_DEPLOY_YES") == "1"
    try:
        cfg = load_config(config)
        sender = _sender(web3, accounts, network)
        result = preflight(web3, cfg)
        if result.ok:
            print_plan(cfg, result, sender.address, console)
        require_ok(result)
        if not confirmed:
            if not sys.stdin or not sys.stdin.isatty():
                raise BallastError(
                    "confirmation needed: pass 'yes' after the config path or set BALLAST_DEPLOY_YES=1"
                )
            if input("Deploy this vault? [y/N] ").strip().lower() not in ("y", "yes"):
                console.print("aborted: nothing was sent")
                return None
        done = deploy(web3, sender, cfg, out_dir=Path("deployments"))
    except BallastError as exc:
        console.print(f"[red]deploy: error:[/] {exc}")
        raise SystemExit(2) from None
    console.print(
        f"vault {done.vault} deployed in block {done.block} for {done.gas_used:,} gas (factory "
        f"{done.factory}, governance {done.governance}, lens {done.lens}); manifest {done.manifest}"
    )
    return {
        "vault": done.vault,
        "factory": done.factory,
        "governance": done.governance,
        "lens": done.lens,
        "manifest": str(done.manifest),
        "gas_used": done.gas_used,
    }
