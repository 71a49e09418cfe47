"""Benchmark of ``ballast audit``: verify N rebalances (default 1,000) of a vault on a local Anvil.

Run: ``.venv/bin/python bench/bench_audit.py [--rebalances 1000] [--assets 4] [--json]``.

Setup (not timed as the audit): start the pinned Anvil (keeping every historical state), deploy the
local stack (``offchain.devnet.localstack``: token and feed doubles, the genuine Uniswap V2, $100M
per side in every pool) with the first ``--assets`` tokens (USDC/WBTC/WETH/LINK, weights rescaled
from 40/30/20/10), with the vault's ``cooldown`` 0, ``target_delay`` at its minimum (1 h) and every
feed's max age 3 days, all passed to its constructor, deposit $1M, then repeat N times: queue target
weights with the first two assets' weights swapped (40/30 <-> 30/40: 1,000 bps of drift), let 1 h
pass (``evm_increaseTime``), apply them and rebalance with ``offchain.chain.vault.build_trades``
(no-trade band 30 bps; if the vault refuses the whole list, the largest trade alone). Prices stay
put, so no arbitrage is needed; the alternating trades keep the pools balanced; feeds are refreshed
every 40 rounds. (A price-driven market, as in the tests, costs ~8 transactions per rebalance
instead of 3.)

Timed: ``offchain.audit.verify.audit`` over the whole history (from the vault's deployment block,
found by binary search on ``eth_getCode``): paged ``eth_getLogs``, block headers and receipts,
``eth_call`` state at block - 1 of every rebalance (batched JSON-RPC), the checks, the holdings
checks at 50 sampled blocks; then the full CLI run as a user would (same audit plus tables, CSV +
Parquet, PNG plots, HTML), in a subprocess, wall clock. The ABI cache is warmed first (a cold
cache adds one Vyper compilation, ~5-9 s). Progress lines go to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from offchain.audit.decode import EventDecoder  # noqa: E402
from offchain.audit.verify import audit  # noqa: E402
from offchain.chain.node import Anvil, Sender, connect  # noqa: E402
from offchain.chain.rpc import Rpc  # noqa: E402
from offchain.core import model  # noqa: E402
from offchain.core.errors import ChainError  # noqa: E402
from offchain.devnet.localstack import DEFAULT_TOKENS, DEFAULT_WEIGHTS, deploy_local_stack  # noqa: E402
from offchain.devnet.sandbox import Sandbox  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def weights_for(n: int) -> tuple[int, ...]:
    w = list(DEFAULT_WEIGHTS[:n])
    scaled = [x * 10_000 // sum(w) for x in w]
    scaled[0] += 10_000 - sum(scaled)
    return tuple(scaled)


class FastSender(Sender):
    """Setup only: fixed gas (no estimate), receipt polled every 2 ms."""

    def _send(self, fn: Any, label: str, gas: int | None = None) -> Any:
        tx_hash = fn.transact({"from": self.address, "gas": gas or 2_000_000})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.002)
        if receipt["status"] != 1:
            raise ChainError(f"{label} reverted in block {receipt['blockNumber']}")
        return receipt


def build_history(node: Anvil, n_rebalances: int, n_assets: int) -> tuple[str, dict[str, float]]:
    w3 = connect(node.url)
    w3.provider.cache_allowed_requests = True  # setup only: eth_chainId once, not before every call
    t0 = time.perf_counter()
    base = weights_for(n_assets)
    # the other target set: the first two assets' weights swapped (1,000 bps drift for 40/30/20/10)
    other = (base[1], base[0], *base[2:])
    # no cooldown, a 1 h target timelock and 3-day max ages, at construction (issue 9: loosening
    # setters are timelocked); otherwise Sandbox.create's stack and $1M deposit
    specs = tuple(dataclasses.replace(s, heartbeat=3 * 86_400) for s in DEFAULT_TOKENS[:n_assets])
    owner, keeper, guardian, investor = w3.eth.accounts[:4]
    stack = deploy_local_stack(
        Sender(w3, owner),
        keeper=keeper,
        guardian=guardian,
        specs=specs,
        weights=base,
        params=model.Params(cooldown=0, target_delay=3_600),
    )
    sb = Sandbox(
        w3,
        stack,
        FastSender(w3, owner),
        FastSender(w3, keeper),
        Sender(w3, investor),
        [s.price for s in specs],
    )
    sb.deposit(1_000_000)
    v = sb.vault.functions
    done = failed = single = k = 0
    while done < n_rebalances:
        k += 1
        sb.owner.transact(v.queue_target_weights(list(other if k % 2 else base)))
        w3.provider.make_request("evm_increaseTime", [3_601])  # type: ignore[arg-type]
        sb.owner.transact(v.apply_target_weights())
        if k % 40 == 0:  # 40 h: refresh every feed well within its 3-day max age
            sb.refresh_feeds()
        trades = sb.trades(band_bps=30)
        try:
            sb.keeper.transact(v.rebalance(trades, sb.deadline()), label="rebalance")
            done += 1
        except ChainError:
            # the planner's small side trades sometimes fail the vault's checks once fees have moved
            # the untouched assets a little: the largest trade alone always takes drift down
            try:
                sb.keeper.transact(v.rebalance(trades[:1], sb.deadline()), label="rebalance")
                done += 1
                single += 1
            except ChainError as exc:
                failed += 1
                err(f"  round {k}: no rebalance ({exc})")
                if failed > n_rebalances // 10 + 10:
                    raise
        if done % 100 == 0 and done:
            err(f"  {done} rebalances ({time.perf_counter() - t0:.0f} s)")
    return sb.vault.address, {
        "setup_s": time.perf_counter() - t0,
        "skipped_rounds": failed,
        "single_trade_rounds": single,
        "blocks": w3.eth.block_number,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rebalances", type=int, default=1_000)
    p.add_argument("--assets", type=int, default=4, choices=(2, 3, 4))
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    EventDecoder()  # warm the ABI cache
    # every historical state in memory (by default Anvil keeps a few hundred in memory, then a few
    # thousand on disk, slower to read): the audit reads one per rebalance
    with Anvil(extra_args=("--prune-history", "100000")) as node:
        err(f"building {args.rebalances} rebalances on {node.url} ...")
        vault, setup = build_history(node, args.rebalances, args.assets)
        err(f"setup {setup['setup_s']:.0f} s; auditing ...")
        w3 = connect(node.url, timeout=60)
        rpc = Rpc(w3)
        t = time.perf_counter()
        res = audit(rpc, vault)
        audit_s = time.perf_counter() - t
        with tempfile.TemporaryDirectory() as out:
            t = time.perf_counter()
            r = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "offchain.cli",
                    "audit",
                    "--vault",
                    vault,
                    "--rpc-url",
                    node.url,
                    "--out",
                    out,
                    "--no-progress",
                ],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            cli_s = time.perf_counter() - t
    result = {
        "rebalances": len(res.rebalances),
        "swaps": sum(c.n_swaps for c in res.rebalances),
        "events": len(res.events),
        "assets": args.assets,
        "blocks": res.to_block - res.from_block + 1,
        "violations": len(res.violations),
        "rpc_requests": res.rpc_calls,
        "getlogs_requests": res.log_stats.requests,
        "audit_s": round(audit_s, 2),
        "audit_stages_s": {k: round(v, 2) for k, v in res.timings.items()},
        "cli_wall_s": round(cli_s, 2),
        "cli_exit": r.returncode,
        "setup_s": round(setup["setup_s"], 1),
        "skipped_rounds": setup["skipped_rounds"],
        "single_trade_rounds": setup["single_trade_rounds"],
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"audit of {result['rebalances']:,} rebalances ({result['swaps']:,} swaps, "
            f"{result['events']:,} events, {result['blocks']:,} blocks, {args.assets} assets): "
            f"{audit_s:.2f} s "
            f"({res.rpc_calls:,} JSON-RPC requests; stages {result['audit_stages_s']}); "
            f"full CLI incl. CSV/Parquet/plots/HTML: {cli_s:.2f} s wall (exit {r.returncode}); "
            f"violations {len(res.violations)}; setup {setup['setup_s']:.0f} s"
        )
    if r.returncode != 0:
        err(r.stdout[-2000:] + r.stderr[-2000:])
    return 0 if r.returncode == 0 and not res.violations else 1


if __name__ == "__main__":
    sys.exit(main())
