"""Deploy the local stack (4 token doubles, feeds, genuine Uniswap V2, the VaultGovernance module,
one 40/30/20/10 vault with the default parameters and a 1-day max age per double feed) on the
network brownie is connected to, and write deployments/<chain-id>.json.

    brownie run scripts/deploy_local.py                  # brownie's development network (Anvil)
    brownie run scripts/deploy_local.py --network NAME   # any node whose tokens may be doubles

accounts[0] deploys and owns, accounts[1] is the keeper, accounts[2] the guardian.
"""

from pathlib import Path

from brownie import accounts, web3

from offchain.chain.manifest import manifest_path, save_manifest
from offchain.chain.node import Sender
from offchain.devnet.localstack import deploy_local_stack


def main(out_dir: str = "deployments") -> dict:
    sender = Sender(web3, accounts[0].address)
    stack = deploy_local_stack(sender, keeper=accounts[1].address, guardian=accounts[2].address)
    manifest = stack.manifest()
    path = save_manifest(manifest, manifest_path(manifest["chain_id"], Path(out_dir)))
    print(f"vault {stack.vault.address} deployed; manifest written to {path}")
    return manifest
