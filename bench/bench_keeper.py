"""Keeper benchmark: one keeper cycle over many vaults on a local Anvil.

Run: ``.venv/bin/python bench/bench_keeper.py [--vaults 100] [--repeats 5] [--json]``. It starts and stops
its own Anvil, deploys the local stack (``offchain.devnet.localstack``), then ``--vaults`` RebalancingVaults
over the same 4 tokens/feeds/pools and governance module with random target weights (default
parameters, the stack's max ages), and a $100k deposit in each (all set-up
transactions sent in JSON-RPC batches and mined a few blocks at a time). Then it times, with the
keeper's own code (``offchain.keeper.runner.Keeper``, dry run, no key):

* **batched read**: every vault's ``VaultLens.state`` in ONE JSON-RPC batch request, decoded;
* **unbatched read**: the same reads as one request per vault, for comparison;
* **check cycle**: a whole ``Keeper.cycle()`` (journal, head block, batched read, policy decision per
  vault) when no vault needs rebalancing: the steady state, target < 1 s for 100 vaults;
* **decision cycle**: a whole cycle after the feeds moved so that every vault needs rebalancing: per
  vault the keeper plans trades, quotes them (one batch) and simulates the rebalance (``eth_call`` +
  ``eth_estimateGas``, one batch); dry run, so nothing is sent.

Each figure is the median (and min) over ``--repeats`` runs, wall-clock, on a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from eth_abi import encode as abi_encode  # noqa: E402
from eth_utils.abi import get_abi_input_types  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from web3 import Web3  # noqa: E402

from offchain.chain.node import Anvil, Sender, connect, load_artifact  # noqa: E402
from offchain.chain.rpc import Rpc  # noqa: E402
from offchain.core import model  # noqa: E402
from offchain.devnet.localstack import MAX_UINT, deploy_local_stack  # noqa: E402
from offchain.keeper.config import KeeperConfig  # noqa: E402
from offchain.keeper.runner import Keeper  # noqa: E402

err = Console(stderr=True)


def send_all(rpc: Rpc, txs: list[dict[str, Any]], sender: str) -> list[dict[str, Any]]:
    """Send ``txs`` (explicit nonces, automine off) and mine until all are in; receipts in order."""
    nonce = int(rpc.call("eth_getTransactionCount", [sender, "pending"]), 16)
    for k, tx in enumerate(txs):
        tx.update({"from": sender, "nonce": hex(nonce + k)})
    rpc.call("evm_setAutomine", [False])
    try:
        hashes = []
        chunk: list[dict[str, Any]] = []
        for tx in [*txs, None]:  # batches of <= 200 transactions and ~1 MB of calldata
            if (
                tx is None
                or len(chunk) == 200
                or sum(len(c["data"]) for c in chunk) + len(tx["data"]) > 2**20
            ):
                if chunk:
                    hashes += rpc.batch([("eth_sendTransaction", [c]) for c in chunk])
                chunk = []
            if tx is not None:
                chunk.append(tx)
        bad = [h for h in hashes if not isinstance(h, str)]
        if bad:
            raise RuntimeError(f"send failed: {bad[0]}")
        receipts: list[Any] = [None] * len(hashes)
        for _ in range(10_000):
            rpc.call("evm_mine")
            todo = [i for i, r in enumerate(receipts) if r is None]
            for i, r in zip(
                todo, rpc.batch([("eth_getTransactionReceipt", [hashes[i]]) for i in todo]), strict=True
            ):
                receipts[i] = r
            if all(receipts):
                break
    finally:
        rpc.call("evm_setAutomine", [True])
    failed = [r for r in receipts if int(r["status"], 16) != 1]
    if failed:
        raise RuntimeError(f"{len(failed)} set-up transactions reverted")
    return receipts


def timed(fn: Any, repeats: int) -> tuple[float, float]:
    xs = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        xs.append(time.perf_counter() - t)
    return statistics.median(xs), min(xs)


def deploy_vaults(w3: Web3, rpc: Rpc, stack: Any, n: int, seed: int) -> tuple[list[str], list[list[int]]]:
    """``n`` vaults on the stack's tokens, feeds and router with random targets (every asset 5-85 %),
    deployed in one batch; their addresses and targets."""
    owner, keeper_addr, guardian = w3.eth.accounts[:3]
    rng = np.random.default_rng(seed)
    art = load_artifact("RebalancingVault")
    ctor_types = get_abi_input_types(next(x for x in art.abi if x["type"] == "constructor"))
    tokens = [t.address for t in stack.tokens]
    feeds = [f.address for f in stack.feeds]
    max_ages = [sp.heartbeat for sp in stack.specs]  # the stack's, as its own vault
    params = model.Params().as_list()
    weights, deploys = [], []
    for i in range(n):
        w = rng.dirichlet(np.ones(4)) * 8_000 + 500  # every asset 5 % .. 85 %
        bps = [int(x) for x in w]
        bps[0] += 10_000 - sum(bps)
        weights.append(bps)
        args = [f"bench {i}", f"bB{i}", tokens, feeds, bps, max_ages, params, stack.router.address]
        args += [stack.governance, keeper_addr, guardian, "0x" + "00" * 20, 3_600]
        data = art.bytecode + abi_encode(ctor_types, args).hex()
        deploys.append({"data": data, "gas": hex(8_000_000)})
    receipts = send_all(rpc, deploys, owner)
    return [Web3.to_checksum_address(r["contractAddress"]) for r in receipts], weights


def deposit_all(w3: Web3, rpc: Rpc, stack: Any, vaults: list[str], weights: list[list[int]]) -> None:
    """Mint to the investor, approve each vault, deposit $100k at its targets (three batches)."""
    owner, investor = w3.eth.accounts[0], w3.eth.accounts[3]
    vault_c = w3.eth.contract(abi=load_artifact("RebalancingVault").abi)
    per_vault = [[stack.amount_for_usd(k, 100_000 * bps[k] // 10_000) for k in range(4)] for bps in weights]
    mints = []
    for k, t in enumerate(stack.tokens):
        total = sum(v[k] for v in per_vault)
        mints.append(
            {"to": t.address, "data": t.encode_abi("mint", args=[investor, total]), "gas": hex(200_000)}
        )
    send_all(rpc, mints, owner)
    approvals = [
        {"to": t.address, "data": t.encode_abi("approve", args=[v, MAX_UINT]), "gas": hex(100_000)}
        for v in vaults
        for t in stack.tokens
    ]
    deposits = [
        {"to": v, "data": vault_c.encode_abi("deposit", args=[amounts, 0, investor]), "gas": hex(1_000_000)}
        for v, amounts in zip(vaults, per_vault, strict=True)
    ]
    send_all(rpc, approvals + deposits, investor)


def move_feeds(w3: Web3, rpc: Rpc, stack: Any, arbitrage: bool) -> None:
    """Two hours on (past the vaults' cooldown) the feeds move: WBTC +40 %, LINK -30 %, so every vault
    needs rebalancing. Without ``arbitrage`` the pools stay at the old prices (quotes are refused as
    off-price and the keeper skips); with it the pools follow and every vault is simulated."""
    owner = w3.eth.accounts[0]
    rpc.call("evm_increaseTime", [7_200])
    moves = []
    for f, k in zip(stack.feeds, (1.0, 1.4, 1.0, 0.7), strict=True):
        ans = f.functions.latestRoundData().call()[1]
        moves.append(
            {"to": f.address, "data": f.encode_abi("set_answer", args=[int(ans * k)]), "gas": hex(200_000)}
        )
    send_all(rpc, moves, owner)
    if not arbitrage:
        return
    from offchain.devnet.market import arbitrage_stack  # noqa: PLC0415

    arbitrage_stack(Sender(w3, owner), stack, [f.functions.latestRoundData().call()[1] for f in stack.feeds])


def print_figures(
    a: argparse.Namespace, setup_s: float, rows: list[tuple[str, tuple[float, float]]], skips: int
) -> None:
    n = a.vaults
    if a.json:
        print(
            json.dumps(
                {"vaults": n, "setup_s": setup_s, **{k: {"median_s": m, "min_s": lo} for k, (m, lo) in rows}}
            )
        )
        return
    t = Table(title=f"Keeper cycle over {n} vaults on Anvil 1.7.1 (median / min of {a.repeats})")
    for c in ("", "total", "per vault"):
        t.add_column(c, justify="right")
    for name, (m, lo) in rows:
        t.add_row(name, f"{m * 1000:,.0f} ms / {lo * 1000:,.0f} ms", f"{m / n * 1000:.2f} ms")
    Console().print(t)
    Console().print(
        f"check cycle: {skips // a.repeats} of {n} vaults decided no-trigger per cycle (target: 100 in < 1 s)"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vaults", type=int, default=100, help="vaults the keeper watches (default 100)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per figure (default 5)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the vaults' random targets (default 1)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--no-arbitrage", dest="arbitrage", action="store_false", help="leave pools off-price")
    a = ap.parse_args(argv)
    with Anvil() as node, tempfile.TemporaryDirectory() as tmp:
        w3 = connect(node.url)
        owner, keeper_addr, guardian = w3.eth.accounts[:3]
        rpc = Rpc(node.url, timeout=60)
        err.print(f"deploying the local stack and {a.vaults} vaults on {node.url}...")
        t0 = time.perf_counter()
        stack = deploy_local_stack(Sender(w3, owner), keeper=keeper_addr, guardian=guardian)
        vaults, weights = deploy_vaults(w3, rpc, stack, a.vaults, a.seed)
        deposit_all(w3, rpc, stack, vaults, weights)
        setup_s = time.perf_counter() - t0
        err.print(f"set-up took {setup_s:.1f} s")
        manifest = stack.manifest()
        manifest["vaults"] = [{"address": v} for v in vaults]
        mpath = Path(tmp) / "manifest.json"
        mpath.write_text(json.dumps(manifest))
        cfg = KeeperConfig(
            manifest=str(mpath), rpc_url=node.url, dry_run=True, journal=str(Path(tmp) / "j.db")
        )
        log: list[str] = []
        keeper = Keeper(cfg, out=log.append)
        keeper.address = keeper_addr  # dry run without a key, simulating as the vaults' keeper

        def unbatched() -> None:
            for v in vaults:
                keeper.decode_state(rpc.call(*keeper.state_call(v)))

        batched = timed(keeper.read_states, a.repeats)
        single = timed(unbatched, a.repeats)
        check = timed(keeper.cycle, a.repeats)
        skips = sum(1 for x in log if " skip: no-trigger" in x)
        move_feeds(w3, rpc, stack, a.arbitrage)
        log.clear()
        decide = timed(keeper.cycle, max(1, a.repeats // 2))
        would = sum(1 for x in log if "would-send" in x) // max(1, a.repeats // 2)
        offp = sum(1 for x in log if "off-price" in x) // max(1, a.repeats // 2)
        keeper.close()
    rows = [
        ("batched state read (1 request)", batched),
        ("unbatched state read (1 request per vault)", single),
        ("check cycle, no vault needs rebalancing", check),
        (
            f"decision cycle, every vault needs rebalancing (dry run, {would} simulated, {offp} off-price)",
            decide,
        ),
    ]
    print_figures(a, setup_s, rows, skips)
    return 0


if __name__ == "__main__":
    sys.exit(main())
