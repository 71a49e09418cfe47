"""The genuine Uniswap V2 from its pinned npm artifacts (``offchain.chain.uniswap``): the artifacts
are the pinned versions, the router's pair init-code hash is the pair's, ballast's declared
interface is theirs, and on Anvil a factory + Router02 + WETH9 deployed from them create pairs at
the CREATE2 address the router computes and swap exactly as the constant-product formula with its
0.3 % fee says."""

from __future__ import annotations

import json

import pytest

from offchain.chain import uniswap
from offchain.chain.node import Sender, connect, local_node
from offchain.core.errors import ConfigError


def test_artifacts_are_the_pinned_versions_and_agree_on_the_init_code_hash():
    for package, version in uniswap.PACKAGES.items():
        meta = json.loads((uniswap.NODE_MODULES / package / "package.json").read_text())
        assert meta["version"] == version
    uniswap.check_init_code_hash()  # raises if the router's hash is not keccak(pair creation code)
    for name in uniswap.SOURCES:
        art = uniswap.uniswap_artifact(name)
        assert art.bytecode.startswith("0x") and len(art.bytecode) > 1_000 and art.abi


@pytest.mark.parametrize(
    ("declared", "artifact"),
    [
        ("ROUTER_ABI", "UniswapV2Router02"),
        ("FACTORY_ABI", "UniswapV2Factory"),
        ("PAIR_ABI", "UniswapV2Pair"),
    ],
)
def test_the_declared_interface_is_the_npm_artifacts(declared, artifact):
    """Every function ballast declares for reading a router, factory or pair without node_modules is
    in the genuine artifact's ABI with the same input and output types and mutability."""

    def signature(entry):
        return (
            entry["name"],
            tuple(i["type"] for i in entry["inputs"]),
            tuple(o["type"] for o in entry["outputs"]),
            entry.get("stateMutability") in ("view", "pure"),
        )

    real = {signature(e) for e in uniswap.uniswap_artifact(artifact).abi if e.get("type") == "function"}
    for entry in getattr(uniswap, declared):
        assert signature(entry) in real, entry["name"]


def test_a_missing_package_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(uniswap, "NODE_MODULES", tmp_path)
    uniswap.uniswap_artifact.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"@uniswap/v2-core is not installed.*npm ci"):
            uniswap.uniswap_artifact("UniswapV2Pair")
    finally:
        uniswap.uniswap_artifact.cache_clear()


def _amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    with_fee = amount_in * 997
    return with_fee * reserve_out // (reserve_in * 1000 + with_fee)


def test_real_v2_pair_and_swap_on_anvil():
    with local_node() as node:
        w3 = connect(node.url)
        owner = Sender(w3, w3.eth.accounts[0])
        v2 = uniswap.deploy_uniswap_v2(owner)
        assert v2.router.functions.factory().call() == v2.factory.address
        assert v2.router.functions.WETH().call() == v2.weth.address
        a = owner.deploy("ERC20Double", "Token A", "TKA", 18)
        b = owner.deploy("ERC20Double", "Token B", "TKB", 6)
        ra, rb = 1_000 * 10**18, 3_000_000 * 10**6
        for token, amount in ((a, ra + 10**18), (b, rb)):
            owner.transact(token.functions.mint(owner.address, amount))
            owner.transact(token.functions.approve(v2.router.address, 2**256 - 1))
        owner.transact(
            v2.router.functions.addLiquidity(a.address, b.address, ra, rb, 0, 0, owner.address, 2**40)
        )
        pair = v2.pair(a.address, b.address)
        assert pair.address == uniswap.pair_address(v2.factory.address, a.address, b.address)
        amount_in = 10**18
        want = _amount_out(amount_in, ra, rb)
        quoted = v2.router.functions.getAmountsOut(amount_in, [a.address, b.address]).call()[-1]
        assert quoted == want
        before = b.functions.balanceOf(owner.address).call()
        owner.transact(
            v2.router.functions.swapExactTokensForTokens(
                amount_in, want, [a.address, b.address], owner.address, 2**40
            )
        )
        assert b.functions.balanceOf(owner.address).call() - before == want
        r0, r1, _ = pair.functions.getReserves().call()
        token0 = pair.functions.token0().call()
        reserves = {token0: r0, pair.functions.token1().call(): r1}
        assert reserves[a.address] == ra + amount_in and reserves[b.address] == rb - want
