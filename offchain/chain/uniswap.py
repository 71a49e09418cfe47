"""The genuine Uniswap V2 contracts, from their published npm artifacts.

``package.json`` pins ``@uniswap/v2-core@1.0.1`` (``UniswapV2Factory``, ``UniswapV2Pair``) and
``@uniswap/v2-periphery@1.1.0-beta.0`` (``UniswapV2Router02``, ``WETH9``); ``npm ci`` puts them in
``node_modules``. No Uniswap bytecode is copied into this repository: it is read from there.
Both packages are GPL-3.0-or-later; ballast loads their build artifacts to deploy them on local and
test chains, and neither ships nor modifies them.

The router computes pair addresses from a hard-coded pair init-code hash (``PAIR_INIT_CODE_HASH``);
``check_init_code_hash`` (run by ``deploy_uniswap_v2``) checks that it equals the keccak of v2-core's
pair bytecode, so a factory and a router deployed from these artifacts work together as they do on
mainnet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eth_utils import keccak, to_checksum_address
from web3.contract import Contract

from offchain.chain.node import ROOT, Artifact, Sender
from offchain.core.errors import ConfigError

NODE_MODULES = ROOT / "node_modules"
PACKAGES = {"@uniswap/v2-core": "1.0.1", "@uniswap/v2-periphery": "1.1.0-beta.0"}
# where each contract's build lives
SOURCES = {
    "UniswapV2Factory": "@uniswap/v2-core",
    "UniswapV2Pair": "@uniswap/v2-core",
    "UniswapV2Router02": "@uniswap/v2-periphery",
    "WETH9": "@uniswap/v2-periphery",
}
PAIR_INIT_CODE_HASH = "96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f"


def _fn(name: str, inputs: str, outputs: str = "", view: bool = False) -> dict[str, Any]:
    """One ABI function entry from comma-separated Solidity types."""
    return {
        "name": name,
        "type": "function",
        "stateMutability": "view" if view else "nonpayable",
        "inputs": [{"name": "", "type": t} for t in inputs.split(",") if t],
        "outputs": [{"name": "", "type": t} for t in outputs.split(",") if t],
    }


# The part of Uniswap V2's interface ballast calls, declared here so that the keeper, preflight and
# auditor read a router, factory or pair without node_modules (tests/chain/test_uniswap_v2.py checks
# that every entry is in the npm artifact's ABI, with the same types).
ROUTER_ABI = [
    _fn("factory", "", "address", view=True),
    _fn("WETH", "", "address", view=True),
    _fn("getAmountsOut", "uint256,address[]", "uint256[]", view=True),
    _fn("swapExactTokensForTokens", "uint256,uint256,address[],address,uint256", "uint256[]"),
    _fn(
        "addLiquidity",
        "address,address,uint256,uint256,uint256,uint256,address,uint256",
        "uint256,uint256,uint256",
    ),
]
FACTORY_ABI = [
    _fn("getPair", "address,address", "address", view=True),
    _fn("allPairsLength", "", "uint256", view=True),
    _fn("createPair", "address,address", "address"),
]
PAIR_ABI = [
    _fn("getReserves", "", "uint112,uint112,uint32", view=True),
    _fn("token0", "", "address", view=True),
    _fn("token1", "", "address", view=True),
    _fn("factory", "", "address", view=True),
    _fn("sync", ""),
]


def _package_dir(package: str) -> Path:
    path = NODE_MODULES / package
    meta = path / "package.json"
    if not meta.exists():
        raise ConfigError(f"{package} is not installed in node_modules; run `npm ci` (or `make install`)")
    version = json.loads(meta.read_text()).get("version")
    if version != PACKAGES[package]:
        raise ConfigError(
            f"node_modules has {package}@{version}, ballast pins {PACKAGES[package]}; run `npm ci`"
        )
    return path


@cache
def uniswap_artifact(name: str) -> Artifact:
    """ABI and creation bytecode of one Uniswap V2 contract, from its pinned npm package."""
    if name not in SOURCES:
        raise ConfigError(f"no Uniswap V2 artifact named {name}; known: {', '.join(SOURCES)}")
    build = _package_dir(SOURCES[name]) / "build" / f"{name}.json"
    data = json.loads(build.read_text())
    bytecode = data.get("bytecode") or data.get("evm", {}).get("bytecode", {}).get("object", "")
    if not bytecode:
        raise ConfigError(f"{build} holds no bytecode")
    return Artifact(
        name=name, abi=data["abi"], bytecode=bytecode if bytecode.startswith("0x") else "0x" + bytecode
    )


def check_init_code_hash() -> None:
    """The router's hard-coded pair init-code hash is the keccak of the pair's creation code."""
    pair = keccak(hexstr=uniswap_artifact("UniswapV2Pair").bytecode).hex().removeprefix("0x")
    router = uniswap_artifact("UniswapV2Router02").bytecode
    if pair != PAIR_INIT_CODE_HASH or PAIR_INIT_CODE_HASH not in router:
        raise ConfigError(
            f"Uniswap V2 artifacts disagree: keccak(pair creation code) = 0x{pair}, the router expects "
            f"0x{PAIR_INIT_CODE_HASH}; reinstall with `npm ci`"
        )


def pair_address(factory: str, token_a: str, token_b: str) -> str:
    """The pair's CREATE2 address, as ``UniswapV2Library.pairFor`` computes it."""
    t0, t1 = sorted((bytes.fromhex(token_a[2:]), bytes.fromhex(token_b[2:])))
    salt = keccak(t0 + t1)
    raw = keccak(b"\xff" + bytes.fromhex(factory[2:]) + salt + bytes.fromhex(PAIR_INIT_CODE_HASH))
    return to_checksum_address(raw[12:])


@dataclass(frozen=True)
class UniswapV2:
    """A deployed Uniswap V2: WETH9, the factory and Router02 (web3 contracts)."""

    weth: Contract
    factory: Contract
    router: Contract

    def pair(self, token_a: str, token_b: str) -> Contract:
        w3: Any = self.factory.w3
        address = self.factory.functions.getPair(token_a, token_b).call()
        return w3.eth.contract(address=address, abi=uniswap_artifact("UniswapV2Pair").abi)


def deploy_uniswap_v2(sender: Sender, fee_to_setter: str | None = None) -> UniswapV2:
    """WETH9, ``UniswapV2Factory(fee_to_setter)`` and ``UniswapV2Router02(factory, weth)`` from the
    npm artifacts (the init-code hash checked first)."""
    check_init_code_hash()
    weth = sender.deploy_artifact(uniswap_artifact("WETH9"))
    factory = sender.deploy_artifact(uniswap_artifact("UniswapV2Factory"), fee_to_setter or sender.address)
    router = sender.deploy_artifact(uniswap_artifact("UniswapV2Router02"), factory.address, weth.address)
    return UniswapV2(weth=weth, factory=factory, router=router)
