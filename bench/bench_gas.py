"""Gas benchmark of the 4-asset RebalancingVault (USDC/WBTC/WETH/LINK, 40/30/20/10) on a local Anvil.

Run: ``.venv/bin/python bench/bench_gas.py [--json] [--repeats 3] [--deposit-usd 1000000]``.
It starts and stops its own Anvil (the pinned one from node_modules/.bin), deploys the local stack
(``offchain.devnet.localstack``: token and feed doubles, the genuine Uniswap V2 with $100M per side
in every pool), and prints gasUsed as measured by the node's receipts. Progress lines go to stderr.

What is measured (every figure is a receipt's ``gasUsed`` unless said otherwise):

* Vault deployment gas, and the vault's runtime code size as ``len(eth_getCode(vault))``: that
  includes the immutables Vyper appends to the runtime code; compared with the EIP-170 limit
  (24,576 bytes).
* The factory route (issue 9: the vault's initcode is over 24,576 bytes, so no EIP-5202 blueprint):
  one-time gasUsed of the VaultGovernance module, the vault-initcode data contracts and the
  VaultFactory, then the per-vault cost, ``factory.deploy_vault``'s gasUsed (assembling the
  initcode from the chunks + ``raw_create``).
* Compiled sizes (runtime, initcode) of the vault, governance module, factory and lens for
  ``prague`` and ``shanghai``, from ``vyper --evm-version X -f bytecode,bytecode_runtime``.
* Deposit, first: into the empty vault (reads the 4 feeds, every storage slot written from zero).
* Deposit, later: proportional, all 4 assets, by a new shareholder and by an existing one. Depositors
  hold more of each token than they deposit and approved the vault once with an infinite allowance
  (not counted), so neither allowance nor token balance slots are written to or from zero.
* Redeem, partial: 25 % of the first depositor's shares, paid to a receiver that already holds all 4
  tokens, and to one that holds none of them (4 token balance slots written from zero).
* Vault rebalance with exactly 1, 2 and 4 swaps (THRESHOLD trigger): gasUsed of the keeper's
  ``rebalance`` transaction. Each scenario starts from the same post-deposit state (two days later),
  sets all 4 feeds (price moves below), lets an arbitrageur bring all 6 pools to the new feed prices,
  then builds the trades:
    - 1 swap: WBTC +20 %, WETH -30 %, USDC and LINK unchanged. Total value is unchanged, so USDC and
      LINK stay on target: WBTC overweight, WETH underweight. Trades from
      ``offchain.chain.vault.build_trades``
      (``model.plan_trades``; band 1 bps to drop rounding dust): WBTC->WETH.
    - 2 swaps: WBTC +20 %, WETH -20 %, LINK -20 %, USDC unchanged (total unchanged, USDC on target):
      one overweight asset sold into two underweight ones, again ``build_trades``: WBTC->WETH,
      WBTC->LINK.
    - 4 swaps: WBTC +40 %, WETH +40 %: two assets overweight (WBTC, WETH), two underweight (USDC,
      LINK). ``plan_trades`` never plans more than n-1 = 3 swaps, so the 4 trades are hand-built: each
      overweight asset's excess (at oracle prices, less 1 bps) is split across both underweight
      assets in proportion to their deficits: WBTC->USDC, WBTC->LINK, WETH->USDC, WETH->LINK; four
      distinct pools, no trade split in two. Same ``min_amount_out`` rule as ``build_trades``.
  ``min_amount_out`` = max(vault's oracle bound, router quote - 0.5 %). Every trade passes every vault
  check (oracle bound, size cap, toward target without overshoot, drift falls, value loss).
* Bare: the same swaps (same pairs, amounts and ``amountOutMin``) against the same pool and token
  state (``evm_snapshot``/``evm_revert`` around each run), sent straight to the router's
  ``swapExactTokensForTokens`` by an EOA that already holds all 4 tokens and has approved the router
  with infinite allowances (one-time approvals not counted): one transaction per swap, Σ gasUsed,
  including 21,000 intrinsic gas per transaction. Plus reading the 4 feeds: for each feed,
  ``eth_estimateGas`` of a ``latestRoundData()`` call minus the 21,000 intrinsic gas. That keeps the
  feed's execution (cold storage reads) and 64 gas of calldata, and leaves out the 2,600 gas a
  contract would pay to touch each cold feed account.
* Ratio = vault rebalance gasUsed / (Σ bare swap transactions' gasUsed + feed reads). Target: <= 1.25
  for 2 swaps.

Each measurement is run ``--repeats`` times from the same snapshot; every run starts its own
transaction, so storage is cold at the start of each. Each run's first transaction is mined 12 s (one
mainnet slot) after the block it starts from: Anvil can otherwise mine it in the same second as the
arbitrage that last touched a pool, and the pool's timestamp write then costs 100 instead of 2,900 gas
(a run-to-run difference of 2,800 gas per swap). Figures are min and max over the runs (equal when the
runs agree). The 2-swap rebalance is also traced (``debug_traceTransaction``: call tracer and
struct logs, hence Anvil runs with ``--steps-tracing``) to show where the vault's gas goes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gas_probe import (  # noqa: E402  (bench/gas_probe.py and gas_report.py, beside this script)
    INTRINSIC_GAS,
    SLOT_SECONDS,
    Chain,
    Runs,
    calldata_gas,
    check,
    compiled_sizes,
    contract_provenance,
    feed_read_gas,
    gas_breakdown,
)
from gas_report import render  # noqa: E402
from rich.console import Console  # noqa: E402
from web3 import Web3  # noqa: E402
from web3.logs import DISCARD  # noqa: E402

from offchain.chain.node import EIP170_LIMIT, Anvil, Sender, anvil_binary, connect, deploy_vault_factory  # noqa: E402
from offchain.chain.vault import (  # noqa: E402
    ProposedTrade,
    VaultState,
    bound_trades,
    build_trades,
    read_state,
    router_quoter,
)
from offchain.core import model  # noqa: E402
from offchain.devnet.localstack import MAX_UINT, LocalStack, deploy_local_stack  # noqa: E402
from offchain.devnet.market import arbitrage_stack  # noqa: E402

COLD_ACCOUNT_ACCESS = 2_600  # EIP-2929
TARGET_RATIO_2_SWAPS = 1.25
KEEPER_SLIPPAGE_BPS = 50  # as build_trades' default
DEADLINE_SLACK = 3_600  # seconds


def progress(msg: str) -> None:
    print(f"bench_gas: {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Scenario:
    key: str
    swaps: int
    moves: dict[int, float]  # asset index -> fractional feed move
    description: str
    hand_built: bool  # True: proportional transport over all (over, under) pairs


SCENARIOS = (
    Scenario(
        "rebalance_1_swap",
        1,
        {1: 0.20, 2: -0.30},
        "WBTC +20%, WETH -30% (total value unchanged): WBTC->WETH, from build_trades",
        hand_built=False,
    ),
    Scenario(
        "rebalance_2_swaps",
        2,
        {1: 0.20, 2: -0.20, 3: -0.20},
        "WBTC +20%, WETH -20%, LINK -20% (total unchanged): 1 overweight into 2 underweight, "
        "from build_trades",
        hand_built=False,
    ),
    Scenario(
        "rebalance_4_swaps",
        4,
        {1: 0.40, 2: 0.40},
        "WBTC +40%, WETH +40%: 2 overweight (WBTC, WETH) x 2 underweight (USDC, LINK), "
        "hand-built proportional split, 4 distinct pools",
        hand_built=True,
    ),
)


def proportional_trades(state: VaultState, router: Any) -> list[ProposedTrade]:
    """Every overweight asset sold into every underweight one, in proportion to the deficits.

    Values at oracle prices; assets within 1 bps of target count as on target; each sell is trimmed
    by 1 bps so rounding never carries an asset past target. ``min_amount_out`` as ``build_trades``.
    """
    values = model.asset_values(state.holdings, state.prices, state.decimals)
    total = sum(values)
    dust = total // model.BPS
    excess = [v - t * total // model.BPS for v, t in zip(values, state.target_weights, strict=True)]
    # a sale stops at target + tolerance, as the vault's rooms say (I8)
    room, over_mask, _ = model.trade_rooms(values, state.target_weights, state.tolerance_bps)
    excess = [room[i] if (over_mask >> i) & 1 else min(e, 0) for i, e in enumerate(excess)]
    over = [i for i, e in enumerate(excess) if e > dust]
    under = [i for i, e in enumerate(excess) if e < -dust]
    deficit = sum(-excess[j] for j in under)
    planned = []
    for s in over:
        for b in under:
            value = excess[s] * -excess[b] // deficit * (model.BPS - 1) // model.BPS
            amount_in = value * 10 ** state.decimals[s] // state.prices[s]
            expected = model.oracle_out(
                amount_in, state.prices[s], state.decimals[s], state.prices[b], state.decimals[b]
            )
            planned.append(model.PlannedTrade(s, b, amount_in, expected, value))
    # the keeper's own bounds (oracle floor, quote less keeper slippage; off-price pools refused)
    quotes = router_quoter(router)(
        [(t.amount_in, [state.assets[t.sell], state.assets[t.buy]]) for t in planned]
    )
    return bound_trades(state, planned, quotes, keeper_slippage_bps=KEEPER_SLIPPAGE_BPS)


@dataclass
class Bench:
    """The measured world: one Anvil with the local stack, the named dev accounts, the bench's
    options, and the results as they are filled in (phase by phase: ``run``)."""

    args: argparse.Namespace
    w3: Web3
    chain: Chain
    deployer: Sender
    stack: LocalStack
    accounts: dict[str, str]
    results: dict[str, Any]

    @property
    def symbols(self) -> list[str]:
        return [s.symbol for s in self.stack.specs]


def run(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.monotonic()
    results: dict[str, Any] = {
        "repeats": args.repeats,
        "deposit_usd": args.deposit_usd,
        "contract": contract_provenance(),
    }
    with Anvil(extra_args=("--steps-tracing",)) as node:
        w3 = connect(node.url)
        chain = Chain(w3)
        names = ("owner", "keeper", "guardian", "alice", "bob", "trader", "_", "nobody")
        accounts = dict(zip(names, w3.eth.accounts[:8], strict=True))
        deployer = Sender(w3, accounts["owner"])
        node_info = chain.rpc("anvil_nodeInfo", [])
        version = subprocess.run([anvil_binary(), "--version"], capture_output=True, text=True, check=False)
        results["node"] = {
            "anvil": version.stdout.splitlines()[0] if version.stdout else "?",
            "hardfork": node_info.get("hardFork"),
        }
        progress(f"anvil {node.url} ({results['node']['hardfork']}); deploying the local stack")
        stack = deploy_local_stack(deployer, keeper=accounts["keeper"], guardian=accounts["guardian"])
        bench = Bench(args, w3, chain, deployer, stack, accounts, results)
        results["deployment"] = measure_deployment(bench)
        basket = fund_accounts(bench)
        results["operations"] = measure_operations(bench, basket)
        results["rebalances"] = measure_rebalances(bench)
        results.update(summarize(results["rebalances"]))
    results["seconds"] = round(time.monotonic() - t0, 1)
    progress(f"done in {results['seconds']} s; Anvil stopped")
    return results


def measure_deployment(bench: Bench) -> dict[str, Any]:
    """The vault deployed directly (gas, runtime size, EIP-170 headroom), then the same vault
    through the factory (issue 9: data-contract route): the governance module, the initcode chunks
    and the factory once per chain, then ``deploy_vault`` per vault."""
    w3, stack, deployer, acc = bench.w3, bench.stack, bench.deployer, bench.accounts
    vault = stack.vault
    block = w3.eth.get_block(stack.blocks["vault"])
    receipt = w3.eth.get_transaction_receipt(block["transactions"][-1])
    check(receipt["contractAddress"] == vault.address, "vault deployment tx not found")
    code = w3.eth.get_code(vault.address)
    route = deploy_vault_factory(deployer)
    factory = route.factory
    targets = vault.functions.get_target_weights().call()
    check(len(targets) == len(stack.tokens), "targets")
    via = deployer.transact(
        factory.functions.deploy_vault(
            "via factory",
            "bVF",
            [t.address for t in stack.tokens],
            [f.address for f in stack.feeds],
            targets,
            vault.functions.get_max_ages().call(),
            vault.functions.get_params().call(),
            stack.router.address,
            acc["keeper"],
            acc["guardian"],
            "0x" + "00" * 20,
            3_600,
        ),
        label="factory.deploy_vault",
    )
    via_vault = factory.events.VaultDeployed().process_receipt(via, errors=DISCARD)[0]["args"]["vault"]
    # same code; only the immutables appended to it differ (governance module, ...)
    check(
        len(w3.eth.get_code(via_vault)) == len(code), "the factory's vault has other code than the direct one"
    )
    return {
        "gas_used": receipt["gasUsed"],
        "runtime_code_bytes": len(code),
        "eip170_limit_bytes": EIP170_LIMIT,
        "headroom_bytes": EIP170_LIMIT - len(code),
        "governance_gas": route.gas["governance"],
        "governance_code_bytes": len(w3.eth.get_code(route.governance)),
        "chunks_gas": route.gas["chunks"],
        "chunks": len(route.chunks),
        "chunk_code_bytes": len(w3.eth.get_code(route.chunks[0])),
        "factory_gas": route.gas["factory"],
        "factory_code_bytes": len(w3.eth.get_code(factory.address)),
        "vault_initcode_hash": route.initcode_hash,
        "vault_via_factory_gas": via["gasUsed"],
        "sizes": compiled_sizes(),
    }


def fund_accounts(bench: Bench) -> list[int]:
    """Depositors and the bare trader hold tokens and have approved once (not measured); the first
    deposit's amounts at target weights."""
    w3, stack, deployer, acc = bench.w3, bench.stack, bench.deployer, bench.accounts
    vault, router = stack.vault, stack.router
    targets = vault.functions.get_target_weights().call()
    basket = [stack.amount_for_usd(i, bench.args.deposit_usd * w // 10_000) for i, w in enumerate(targets)]
    for i, t in enumerate(stack.tokens):
        deployer.transact(t.functions.mint(acc["alice"], 2 * basket[i]), label="mint")
        deployer.transact(t.functions.mint(acc["bob"], 2 * (basket[i] // 10)), label="mint")
        deployer.transact(t.functions.mint(acc["trader"], 10 * basket[i]), label="mint")
        for who in ("alice", "bob"):
            Sender(w3, acc[who]).transact(t.functions.approve(vault.address, MAX_UINT), label="approve")
        Sender(w3, acc["trader"]).transact(t.functions.approve(router.address, MAX_UINT), label="approve")
    return basket


def measure_operations(bench: Bench, basket: list[int]) -> dict[str, Any]:
    """Deposits (first, later by a new and an existing holder) and redeems (receiver holding the
    tokens already or not)."""
    progress("deposits and redeems")
    w3, chain, acc, repeats = bench.w3, bench.chain, bench.accounts, bench.args.repeats
    v = bench.stack.vault.functions
    alice, bob, nobody = acc["alice"], acc["bob"], acc["nobody"]
    a_sender, b_sender = Sender(w3, alice), Sender(w3, bob)
    later = [a // 10 for a in basket]

    def tx(sender: Sender, fn: Any) -> Callable[[], int]:
        return lambda: int(sender.transact(fn)["gasUsed"])

    ops: dict[str, Runs] = {}
    ops["deposit_first"] = chain.measure(tx(a_sender, v.deposit(basket, 0, alice)), repeats, keep_last=True)
    ops["deposit_later_new_holder"] = chain.measure(
        tx(b_sender, v.deposit(later, 0, bob)), repeats, keep_last=True
    )
    ops["deposit_later_existing_holder"] = chain.measure(
        tx(a_sender, v.deposit(later, 0, alice)), repeats, keep_last=True
    )
    shares = v.balanceOf(alice).call() // 4
    ops["redeem_partial_receiver_holds_tokens"] = chain.measure(
        tx(a_sender, v.redeem(shares, [0] * 4, alice, alice)), repeats, keep_last=False
    )
    ops["redeem_partial_receiver_holds_none"] = chain.measure(
        tx(a_sender, v.redeem(shares, [0] * 4, nobody, alice)), repeats, keep_last=False
    )
    return {k: r.as_dict() for k, r in ops.items()}


def measure_rebalances(bench: Bench) -> dict[str, Any]:
    """Every scenario from the same state, two days after the deposits."""
    bench.chain.advance(2 * 86_400)
    base = bench.chain.snapshot()
    rebalances: dict[str, Any] = {}
    for sc in SCENARIOS:
        progress(f"{sc.key}: {sc.description}")
        bench.chain.revert(base)
        base = bench.chain.snapshot()
        rebalances[sc.key] = measure_scenario(bench, sc)
    return rebalances


def move_market(bench: Bench, sc: Scenario) -> None:
    """The scenario's feed moves, then every pool arbitraged to the new prices."""
    stack, deployer = bench.stack, bench.deployer
    prices = [s.price for s in stack.specs]
    for i, move in sc.moves.items():
        prices[i] = round(prices[i] * (1 + move))
    for feed, price in zip(stack.feeds, prices, strict=True):
        deployer.transact(feed.functions.set_answer(price), label="feed update")
    arbitrage_stack(deployer, stack, prices)


def bare_swaps(bench: Bench, trades: list[ProposedTrade], deadline: int) -> Callable[[], int]:
    """The same trades sent straight to the router by an EOA: the bare-swap peer (total gas)."""
    router, trader = bench.stack.router, bench.accounts["trader"]
    trader_sender = Sender(bench.w3, trader)

    def bare_run() -> int:
        gas = 0
        for t in trades:
            fn = router.functions.swapExactTokensForTokens(
                t.amount_in, t.min_amount_out, [t.sell, t.buy], trader, deadline
            )
            gas += int(trader_sender.transact(fn, label="bare swap")["gasUsed"])
        return gas

    return bare_run


def bare_per_swap(bench: Bench, trades: list[ProposedTrade], deadline: int) -> list[tuple[int, int]]:
    """One bare run, swap by swap (gas used, router execution without intrinsic + calldata gas),
    reverted afterwards."""
    w3, chain, router, trader = bench.w3, bench.chain, bench.stack.router, bench.accounts["trader"]
    trader_sender = Sender(w3, trader)
    per_swap = []
    snap = chain.snapshot()
    latest = w3.eth.get_block("latest")["timestamp"]
    chain.rpc("evm_setNextBlockTimestamp", [latest + SLOT_SECONDS])
    for t in trades:
        fn = router.functions.swapExactTokensForTokens(
            t.amount_in, t.min_amount_out, [t.sell, t.buy], trader, deadline
        )
        r = trader_sender.transact(fn, label="bare swap")
        overhead = INTRINSIC_GAS + calldata_gas(bytes(w3.eth.get_transaction(r["transactionHash"])["input"]))
        per_swap.append((int(r["gasUsed"]), int(r["gasUsed"]) - overhead))
    chain.revert(snap)
    return per_swap


def measure_scenario(bench: Bench, sc: Scenario) -> dict[str, Any]:
    """One rebalance scenario: the vault's rebalance against the bare swaps plus feed reads."""
    w3, chain, stack = bench.w3, bench.chain, bench.stack
    vault, router, feeds = stack.vault, stack.router, stack.feeds
    move_market(bench, sc)
    state = read_state(vault, stack.lens)
    check(state.needs_rebalance, f"{sc.key}: trigger does not hold (drift {state.drift} bps)")
    trades = proportional_trades(state, router) if sc.hand_built else build_trades(state, router, band_bps=1)
    check(len(trades) == sc.swaps, f"{sc.key}: {len(trades)} trades, wanted {sc.swaps}")
    deadline = w3.eth.get_block("latest")["timestamp"] + DEADLINE_SLACK
    rebalance_fn = vault.functions.rebalance([t.as_tuple() for t in trades], deadline)
    keeper_sender = Sender(w3, bench.accounts["keeper"])
    traces: list[dict[str, Any]] = []

    def vault_run() -> int:
        r = keeper_sender.transact(rebalance_fn, label="rebalance")
        if sc.swaps == 2 and not traces:  # traced before the run is reverted
            h = "0x" + r["transactionHash"].hex().removeprefix("0x")
            traces.append(gas_breakdown(chain, h, stack))
        return int(r["gasUsed"])

    vault_runs = chain.measure(vault_run, bench.args.repeats, keep_last=False)
    bare_runs = chain.measure(bare_swaps(bench, trades, deadline), bench.args.repeats, keep_last=False)
    per_swap = bare_per_swap(bench, trades, deadline)
    feed_gas = [feed_read_gas(w3, f, bench.accounts["trader"]) for f in feeds]
    bare_total = bare_runs.lo + sum(feed_gas)
    sym = {a.lower(): s for a, s in zip(state.assets, bench.symbols, strict=True)}
    entry: dict[str, Any] = {
        "swaps": sc.swaps,
        "scenario": sc.description,
        "drift_before_bps": state.drift,
        "trades": [
            {
                "sell": sym[t.sell.lower()],
                "buy": sym[t.buy.lower()],
                "amount_in": t.amount_in,
                "min_amount_out": t.min_amount_out,
                "bare_swap_gas_used": g,
                "bare_swap_router_execution": ex,
            }
            for t, (g, ex) in zip(trades, per_swap, strict=True)
        ],
        "vault": vault_runs.as_dict(),
        "bare_swaps": bare_runs.as_dict(),
        "bare_feed_reads": {"gas": sum(feed_gas), "per_feed": feed_gas},
        "bare_total": bare_total,
        "ratio": vault_runs.lo / bare_total,
        "ratio_if_feed_reads_pay_cold_access": vault_runs.lo
        / (bare_total + COLD_ACCOUNT_ACCESS * len(feeds)),
    }
    if traces:
        entry["breakdown"] = traces[0]
    return entry


def summarize(rebalances: dict[str, Any]) -> dict[str, Any]:
    """The marginal gas per swap (2 swaps - 1 swap) and the 2-swap ratio against its target."""
    r1, r2 = rebalances["rebalance_1_swap"], rebalances["rebalance_2_swaps"]
    marginal = r2["vault"]["gas_used"] - r1["vault"]["gas_used"]
    bare_marginal = r2["bare_swaps"]["gas_used"] - r1["bare_swaps"]["gas_used"]
    ratio2 = r2["ratio"]
    return {
        "per_swap": {
            "vault_marginal_gas_per_swap": marginal,
            "vault_fixed_gas": r1["vault"]["gas_used"] - marginal,
            "bare_marginal_gas_per_swap": bare_marginal,
        },
        "target": {
            "ratio_2_swaps": ratio2,
            "target": TARGET_RATIO_2_SWAPS,
            "met": ratio2 <= TARGET_RATIO_2_SWAPS,
        },
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    ap.add_argument(
        "--repeats", type=int, default=3, help="runs per measurement from one snapshot (default 3)"
    )
    ap.add_argument(
        "--deposit-usd", type=int, default=1_000_000, help="first deposit in USD (default 1,000,000)"
    )
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    res = run(args)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        render(res, Console() if sys.stdout.isatty() else Console(width=120))
    return 0


if __name__ == "__main__":
    sys.exit(main())
