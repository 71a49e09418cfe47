"""Gas benchmark of the 4-asset RebalancingVault (USDC/WBTC/WETH/LINK, 40/30/20/10) on a local Anvil.

Run: ``.venv/bin/python bench/bench_gas.py [--json] [--repeats 3] [--deposit-usd 1000000]``.
It starts and stops its own Anvil (the pinned one from node_modules/.bin), deploys the local stack
(``offchain.devnet.localstack``: token, feed and Uniswap V2 doubles with $100M per side in every pool), and
prints gasUsed as measured by the node's receipts. Progress lines go to stderr.

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
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from web3 import Web3  # noqa: E402
from web3.logs import DISCARD  # noqa: E402

from offchain.chain.node import Anvil, Sender, anvil_binary, connect, deploy_vault_factory  # noqa: E402
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
from offchain.devnet.market import arbitrage_pair  # noqa: E402

EIP170_LIMIT = 24_576  # bytes of runtime code
INTRINSIC_GAS = 21_000
COLD_ACCOUNT_ACCESS = 2_600  # EIP-2929
SLOT_SECONDS = 12  # each measured run's first tx is mined this long after the state it starts from
TARGET_RATIO_2_SWAPS = 1.25
KEEPER_SLIPPAGE_BPS = 50  # as build_trades' default
DEADLINE_SLACK = 3_600  # seconds

SEL_BALANCE_OF = "0x70a08231"
SEL_APPROVE = "0x095ea7b3"
SEL_ALLOWANCE = "0xdd62ed3e"
SEL_SWAP = "0x38ed1739"


def check(ok: bool, msg: str) -> None:
    if not ok:
        raise RuntimeError(msg)


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


@dataclass
class Runs:
    """gasUsed of each run of one measurement."""

    runs: list[int] = field(default_factory=list)

    @property
    def lo(self) -> int:
        return min(self.runs)

    @property
    def hi(self) -> int:
        return max(self.runs)

    def as_dict(self) -> dict[str, Any]:
        return {"gas_used": self.lo, "min": self.lo, "max": self.hi, "runs": self.runs}


class Chain:
    """Snapshots and repeated measurements on one Anvil."""

    def __init__(self, w3: Web3):
        self.w3 = w3

    def rpc(self, method: str, params: list[Any]) -> Any:
        resp = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in resp:
            raise RuntimeError(f"{method}: {resp['error']}")
        return resp["result"]

    def snapshot(self) -> str:
        return str(self.rpc("evm_snapshot", []))

    def revert(self, snap: str) -> None:
        if not self.rpc("evm_revert", [snap]):
            raise RuntimeError(f"evm_revert {snap} failed")

    def advance(self, seconds: int) -> None:
        self.rpc("evm_increaseTime", [seconds])
        self.rpc("evm_mine", [])

    def measure(self, fn: Callable[[], int], repeats: int, keep_last: bool) -> Runs:
        """Run ``fn`` (returns gas) ``repeats`` times from one snapshot; keep the last run's state or not."""
        out = Runs()
        for r in range(repeats):
            snap = self.snapshot()
            # one mainnet slot later than the state it starts from: a pool's (or any) timestamp slot
            # is then always rewritten with a new value, as on a real chain, never with the same one
            latest = self.w3.eth.get_block("latest")["timestamp"]
            self.rpc("evm_setNextBlockTimestamp", [latest + SLOT_SECONDS])
            out.runs.append(fn())
            if not (keep_last and r == repeats - 1):
                self.revert(snap)
        return out


def calldata_gas(data: bytes) -> int:
    return sum(4 if b == 0 else 16 for b in data)


def feed_read_gas(w3: Web3, feed: Any, caller: str) -> int:
    """eth_estimateGas of ``latestRoundData()`` minus the 21,000 intrinsic gas."""
    return int(feed.functions.latestRoundData().estimate_gas({"from": caller})) - INTRINSIC_GAS


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


CALL_OPS = ("CALL", "STATICCALL", "DELEGATECALL", "CALLCODE")
TOKEN_SELECTORS = {SEL_BALANCE_OF: "balanceOf", SEL_APPROVE: "approve", SEL_ALLOWANCE: "allowance"}


def callee_label(call: dict[str, Any], stack: LocalStack) -> str:
    to, sel = call["to"].lower(), call["input"][:10]
    if to in {f.address.lower() for f in stack.feeds}:
        return "feed latestRoundData: feed execution"
    if to == stack.router.address.lower() and sel == SEL_SWAP:
        return "router swapExactTokensForTokens: router + pair + token execution"
    if to in {t.address.lower() for t in stack.tokens}:
        return f"token {TOKEN_SELECTORS.get(sel, sel)}: token execution"
    return f"call to {to} {sel}"


def gas_breakdown(chain: Chain, tx_hash: str, stack: LocalStack) -> dict[str, Any]:
    """Where one transaction's gas goes, from Anvil's call tracer and struct logs (``--steps-tracing``).

    Calls made by the top frame are split into the callee's own execution (call tracer ``gasUsed``)
    and what the caller pays around it (account access 2,600 cold / 100 warm, memory); the top
    frame's own opcodes are grouped (SLOAD cold/warm, SSTORE, LOG, TLOAD/TSTORE, the rest). The
    rows add up to gasUsed before refunds; the refund applied is the last row.
    """
    calls = chain.rpc("debug_traceTransaction", [tx_hash, {"tracer": "callTracer"}])
    steps = chain.rpc(
        "debug_traceTransaction",
        [tx_hash, {"disableStack": True, "disableMemory": True, "disableStorage": True}],
    )["structLogs"]
    tx = chain.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
    receipt = chain.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    rows: dict[str, list[int]] = {}

    def add(key: str, count: int, gas: int) -> None:
        row = rows.setdefault(key, [0, 0])
        row[0] += count
        row[1] += gas

    add("intrinsic 21,000 + calldata", 1, int(tx["gas"]) - steps[0]["gas"])
    children = iter(calls.get("calls", []))
    for idx, st in enumerate(steps):
        if st["depth"] != 1:
            continue
        op, cost = st["op"], st["gasCost"]
        if op in CALL_OPS:
            nxt = idx + 1
            while steps[nxt]["depth"] != 1:
                nxt += 1
            child = next(children)
            used = int(child["gasUsed"], 16)
            add(callee_label(child, stack), 1, used)
            add("calls: account access + memory, paid by the caller", 1, st["gas"] - steps[nxt]["gas"] - used)
        elif op == "SLOAD":
            add("SLOAD cold (2,100)" if cost >= 2_100 else "SLOAD warm (100)", 1, cost)
        elif op == "SSTORE":
            add("SSTORE", 1, cost)
        elif op.startswith("LOG"):
            add("LOG (events)", 1, cost)
        elif op in ("TLOAD", "TSTORE"):
            add("TLOAD/TSTORE (reentrancy lock)", 1, cost)
        else:
            add("other opcodes (arithmetic, memory, ABI, control flow)", 1, cost)
    gross = sum(g for _, g in rows.values())
    refund = min(steps[-1]["refund"], gross // 5)
    first = "intrinsic 21,000 + calldata"
    rows = {
        first: rows[first],
        **dict(sorted(((k, v) for k, v in rows.items() if k != first), key=lambda kv: -kv[1][1])),
    }
    rows["refund applied (e.g. allowances reset to 0)"] = [0, -refund]
    total = gross - refund
    return {
        "rows": {k: {"count": c, "gas": g} for k, (c, g) in rows.items()},
        "gas_used": int(receipt["gasUsed"]),
        "reconstructed": total,
    }


SIZE_CONTRACTS = ("RebalancingVault", "VaultGovernance", "VaultFactory", "VaultLens")
EVM_VERSIONS = ("prague", "shanghai")


def compiled_sizes() -> list[dict[str, Any]]:
    """Runtime and initcode sizes of the contracts, compiled by the pinned Vyper for each EVM
    version (``vyper --evm-version X -f bytecode,bytecode_runtime``)."""
    vyper = ROOT / ".venv" / "bin" / "vyper"
    out = []
    for name in SIZE_CONTRACTS:
        for evm in EVM_VERSIONS:
            proc = subprocess.run(
                [str(vyper), "--evm-version", evm, "-f", "bytecode,bytecode_runtime", f"contracts/{name}.vy"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            check(proc.returncode == 0, f"vyper failed on {name} for {evm}: {proc.stderr.strip()[-300:]}")
            initcode, runtime = proc.stdout.split()
            out.append(
                {
                    "contract": name,
                    "evm_version": evm,
                    "initcode_bytes": len(initcode.removeprefix("0x")) // 2,
                    "runtime_bytes": len(runtime.removeprefix("0x")) // 2,
                }
            )
    return out


def contract_provenance() -> dict[str, Any]:
    """Which vault source was measured: git commit, whether the file differs from it, its sha256."""
    rel = "contracts/RebalancingVault.vy"

    def git(*cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True, check=False)

    head = git("rev-parse", "HEAD")
    diff = git("diff", "--quiet", "HEAD", "--", rel)
    return {
        "path": rel,
        "commit": head.stdout.strip() if head.returncode == 0 else "?",
        "modified": diff.returncode != 0,
        "sha256": hashlib.sha256((ROOT / rel).read_bytes()).hexdigest(),
    }


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
        owner, keeper, guardian, alice, bob, trader, _, nobody = w3.eth.accounts[:8]
        deployer = Sender(w3, owner)
        node_info = chain.rpc("anvil_nodeInfo", [])
        version = subprocess.run([anvil_binary(), "--version"], capture_output=True, text=True, check=False)
        results["node"] = {
            "anvil": version.stdout.splitlines()[0] if version.stdout else "?",
            "hardfork": node_info.get("hardFork"),
        }
        progress(f"anvil {node.url} ({results['node']['hardfork']}); deploying the local stack")
        stack = deploy_local_stack(deployer, keeper=keeper, guardian=guardian)
        vault, tokens, feeds, router = stack.vault, stack.tokens, stack.feeds, stack.router
        symbols = [s.symbol for s in stack.specs]

        # deployment and code size
        block = w3.eth.get_block(stack.blocks["vault"])
        receipt = w3.eth.get_transaction_receipt(block["transactions"][-1])
        check(receipt["contractAddress"] == vault.address, "vault deployment tx not found")
        code = w3.eth.get_code(vault.address)
        results["deployment"] = {
            "gas_used": receipt["gasUsed"],
            "runtime_code_bytes": len(code),
            "eip170_limit_bytes": EIP170_LIMIT,
            "headroom_bytes": EIP170_LIMIT - len(code),
        }
        # the same vault through the factory (issue 9: data-contract route): the governance module,
        # the initcode chunks and the factory once per chain, then deploy_vault per vault
        route = deploy_vault_factory(deployer)
        factory = route.factory
        targets_for_factory = vault.functions.get_target_weights().call()
        via = deployer.transact(
            factory.functions.deploy_vault(
                "via factory",
                "bVF",
                [t.address for t in stack.tokens],
                [f.address for f in stack.feeds],
                targets_for_factory,
                vault.functions.get_max_ages().call(),
                vault.functions.get_params().call(),
                router.address,
                keeper,
                guardian,
                "0x" + "00" * 20,
                3_600,
            ),
            label="factory.deploy_vault",
        )
        check(len(targets_for_factory) == len(stack.tokens), "targets")
        via_vault = factory.events.VaultDeployed().process_receipt(via, errors=DISCARD)[0]["args"]["vault"]
        # same code; only the immutables appended to it differ (governance module, ...)
        check(
            len(w3.eth.get_code(via_vault)) == len(code),
            "the factory's vault has other code than the direct one",
        )
        results["deployment"].update(
            {
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
        )

        # accounts: depositors and the bare trader hold tokens and approved once (not measured)
        targets = vault.functions.get_target_weights().call()
        basket = [stack.amount_for_usd(i, args.deposit_usd * w // 10_000) for i, w in enumerate(targets)]
        later = [a // 10 for a in basket]
        for i, t in enumerate(tokens):
            deployer.transact(t.functions.mint(alice, 2 * basket[i]), label="mint")
            deployer.transact(t.functions.mint(bob, 2 * later[i]), label="mint")
            deployer.transact(t.functions.mint(trader, 10 * basket[i]), label="mint")
            for acct in (alice, bob):
                Sender(w3, acct).transact(t.functions.approve(vault.address, MAX_UINT), label="approve")
            Sender(w3, trader).transact(t.functions.approve(router.address, MAX_UINT), label="approve")

        progress("deposits and redeems")
        ops: dict[str, Any] = {}
        a_sender, b_sender = Sender(w3, alice), Sender(w3, bob)

        def tx(sender: Sender, fn: Any) -> Callable[[], int]:
            return lambda: int(sender.transact(fn)["gasUsed"])

        ops["deposit_first"] = chain.measure(
            tx(a_sender, vault.functions.deposit(basket, 0, alice)), args.repeats, keep_last=True
        )
        ops["deposit_later_new_holder"] = chain.measure(
            tx(b_sender, vault.functions.deposit(later, 0, bob)), args.repeats, keep_last=True
        )
        ops["deposit_later_existing_holder"] = chain.measure(
            tx(a_sender, vault.functions.deposit(later, 0, alice)), args.repeats, keep_last=True
        )
        shares = vault.functions.balanceOf(alice).call() // 4
        ops["redeem_partial_receiver_holds_tokens"] = chain.measure(
            tx(a_sender, vault.functions.redeem(shares, [0] * 4, alice, alice)), args.repeats, keep_last=False
        )
        ops["redeem_partial_receiver_holds_none"] = chain.measure(
            tx(a_sender, vault.functions.redeem(shares, [0] * 4, nobody, alice)),
            args.repeats,
            keep_last=False,
        )
        results["operations"] = {k: v.as_dict() for k, v in ops.items()}

        # rebalances: each scenario from the same state, two days after the deposits
        chain.advance(2 * 86_400)
        base = chain.snapshot()
        keeper_sender, trader_sender = Sender(w3, keeper), Sender(w3, trader)
        rebalances: dict[str, Any] = {}
        for sc in SCENARIOS:
            progress(f"{sc.key}: {sc.description}")
            chain.revert(base)
            base = chain.snapshot()
            prices = [s.price for s in stack.specs]
            for i, move in sc.moves.items():
                prices[i] = round(prices[i] * (1 + move))
            for feed, price in zip(feeds, prices, strict=True):
                deployer.transact(feed.functions.set_answer(price), label="feed update")
            for i in range(4):
                for j in range(i + 1, 4):
                    pair = stack.pairs[(symbols[i], symbols[j])]
                    arbitrage_pair(deployer, router, pair, tokens[i], tokens[j], prices[i], prices[j])
            state = read_state(vault, stack.lens)
            check(state.needs_rebalance, f"{sc.key}: trigger does not hold (drift {state.drift} bps)")
            trades = (
                proportional_trades(state, router)
                if sc.hand_built
                else build_trades(state, router, band_bps=1)
            )
            check(len(trades) == sc.swaps, f"{sc.key}: {len(trades)} trades, wanted {sc.swaps}")
            deadline = w3.eth.get_block("latest")["timestamp"] + DEADLINE_SLACK
            rebalance_fn = vault.functions.rebalance([t.as_tuple() for t in trades], deadline)
            traces: list[dict[str, Any]] = []

            def vault_run(
                fn: Any = rebalance_fn, traces: list[dict[str, Any]] = traces, trace: bool = sc.swaps == 2
            ) -> int:
                r = keeper_sender.transact(fn, label="rebalance")
                if trace and not traces:  # traced before the run is reverted
                    h = "0x" + r["transactionHash"].hex().removeprefix("0x")
                    traces.append(gas_breakdown(chain, h, stack))
                return int(r["gasUsed"])

            def bare_run(trades: list[ProposedTrade] = trades, deadline: int = deadline) -> int:
                gas = 0
                for t in trades:
                    fn = router.functions.swapExactTokensForTokens(
                        t.amount_in, t.min_amount_out, [t.sell, t.buy], trader, deadline
                    )
                    gas += int(trader_sender.transact(fn, label="bare swap")["gasUsed"])
                return gas

            vault_runs = chain.measure(vault_run, args.repeats, keep_last=False)
            bare_runs = chain.measure(bare_run, args.repeats, keep_last=False)
            per_swap = []  # one bare run, swap by swap, for the JSON
            snap = chain.snapshot()
            latest = w3.eth.get_block("latest")["timestamp"]
            chain.rpc("evm_setNextBlockTimestamp", [latest + SLOT_SECONDS])
            for t in trades:
                fn = router.functions.swapExactTokensForTokens(
                    t.amount_in, t.min_amount_out, [t.sell, t.buy], trader, deadline
                )
                r = trader_sender.transact(fn, label="bare swap")
                overhead = INTRINSIC_GAS + calldata_gas(
                    bytes(w3.eth.get_transaction(r["transactionHash"])["input"])
                )
                per_swap.append((int(r["gasUsed"]), int(r["gasUsed"]) - overhead))
            chain.revert(snap)
            feed_gas = [feed_read_gas(w3, f, trader) for f in feeds]
            bare_total = bare_runs.lo + sum(feed_gas)
            sym = {a.lower(): s for a, s in zip(state.assets, symbols, strict=True)}
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
            rebalances[sc.key] = entry
        results["rebalances"] = rebalances
        r1, r2 = rebalances["rebalance_1_swap"], rebalances["rebalance_2_swaps"]
        marginal = r2["vault"]["gas_used"] - r1["vault"]["gas_used"]
        bare_marginal = r2["bare_swaps"]["gas_used"] - r1["bare_swaps"]["gas_used"]
        results["per_swap"] = {
            "vault_marginal_gas_per_swap": marginal,
            "vault_fixed_gas": r1["vault"]["gas_used"] - marginal,
            "bare_marginal_gas_per_swap": bare_marginal,
        }
        ratio2 = r2["ratio"]
        results["target"] = {
            "ratio_2_swaps": ratio2,
            "target": TARGET_RATIO_2_SWAPS,
            "met": ratio2 <= TARGET_RATIO_2_SWAPS,
        }
    results["seconds"] = round(time.monotonic() - t0, 1)
    progress(f"done in {results['seconds']} s; Anvil stopped")
    return results


def render(res: dict[str, Any], console: Console) -> None:
    def g(runs: dict[str, Any]) -> str:
        return f"{runs['min']:,}" if runs["min"] == runs["max"] else f"{runs['min']:,}-{runs['max']:,}"

    d = res["deployment"]
    console.print(
        f"[bold]ballast gas benchmark[/]: 4-asset vault (USDC/WBTC/WETH/LINK 40/30/20/10), "
        f"{res['node']['anvil']}, hardfork {res['node']['hardfork']}, "
        f"{res['repeats']} run(s) per figure from one snapshot (min-max if runs differ)"
    )
    c = res["contract"]
    console.print(
        f"Vault source: {c['path']} at commit {c['commit'][:10]}"
        + (" [yellow]with uncommitted changes[/]" if c["modified"] else "")
        + f", sha256 {c['sha256'][:16]}"
    )
    t = Table(title="Vault deployment and code size")
    t.add_column("")
    t.add_column("value", justify="right")
    t.add_row("deployment gasUsed", f"{d['gas_used']:,}")
    t.add_row("runtime code (eth_getCode, incl. immutables)", f"{d['runtime_code_bytes']:,} bytes")
    t.add_row("EIP-170 limit", f"{d['eip170_limit_bytes']:,} bytes")
    t.add_row(
        "headroom", f"{d['headroom_bytes']:,} bytes ({d['runtime_code_bytes'] / EIP170_LIMIT:.1%} used)"
    )
    t.add_row("VaultGovernance module deployment gasUsed, once per chain", f"{d['governance_gas']:,}")
    t.add_row("VaultGovernance runtime code", f"{d['governance_code_bytes']:,} bytes")
    t.add_row(
        f"{d['chunks']} vault-initcode data contracts, gasUsed, once per chain",
        f"{d['chunks_gas']:,} ({d['chunk_code_bytes']:,} bytes each)",
    )
    t.add_row("VaultFactory deployment gasUsed, once per chain", f"{d['factory_gas']:,}")
    t.add_row("VaultFactory runtime code", f"{d['factory_code_bytes']:,} bytes")
    t.add_row(
        "factory's vault_initcode_hash (= keccak of the local build)", d["vault_initcode_hash"][:18] + "..."
    )
    t.add_row("[bold]per vault: factory.deploy_vault gasUsed[/]", f"{d['vault_via_factory_gas']:,}")
    console.print(t)

    t = Table(title="Compiled sizes (vyper -f bytecode,bytecode_runtime; runtime excludes immutables)")
    for col in ("contract", "evm version", "runtime", "initcode", "runtime fits EIP-170", "initcode fits"):
        t.add_column(col, justify="right" if col in ("runtime", "initcode") else "left")
    for row in d["sizes"]:
        t.add_row(
            row["contract"],
            row["evm_version"],
            f"{row['runtime_bytes']:,}",
            f"{row['initcode_bytes']:,}",
            "yes" if row["runtime_bytes"] <= EIP170_LIMIT else "[red]NO[/]",
            "one contract" if row["initcode_bytes"] <= EIP170_LIMIT else "needs the chunk route",
        )
    console.print(t)

    labels = {
        "deposit_first": "deposit, first (empty vault; reads 4 feeds)",
        "deposit_later_new_holder": "deposit, later, proportional (new shareholder)",
        "deposit_later_existing_holder": "deposit, later, proportional (existing shareholder)",
        "redeem_partial_receiver_holds_tokens": "redeem 25% (receiver holds all 4 tokens)",
        "redeem_partial_receiver_holds_none": "redeem 25% (receiver holds none of the 4 tokens)",
    }
    t = Table(title=f"Deposits and redeems (4 assets; ${res['deposit_usd']:,} first deposit, 10% later)")
    t.add_column("operation")
    t.add_column("gasUsed", justify="right")
    for k, label in labels.items():
        t.add_row(label, g(res["operations"][k]))
    console.print(t)

    t = Table(title="Rebalance: vault vs bare (same swaps, same state)")
    for col in (
        "swaps",
        "vault rebalance",
        "bare swap txs",
        "bare 4 feed reads",
        "bare total",
        "vault / bare",
    ):
        t.add_column(col, justify="right")
    for r in res["rebalances"].values():
        t.add_row(
            str(r["swaps"]),
            g(r["vault"]),
            g(r["bare_swaps"]),
            f"{r['bare_feed_reads']['gas']:,}",
            f"{r['bare_total']:,}",
            f"{r['ratio']:.3f}",
        )
    console.print(t)
    for r in res["rebalances"].values():
        trades = ", ".join(f"{x['sell']}->{x['buy']}" for x in r["trades"])
        console.print(f"  {r['swaps']} swap(s): {r['scenario']}; drift {r['drift_before_bps']} bps; {trades}")
    tgt = res["target"]
    verdict = "[green]met[/]" if tgt["met"] else "[red]missed[/]"
    console.print(
        f"Target vault / bare <= {tgt['target']} for 2 swaps: {tgt['ratio_2_swaps']:.3f} -> {verdict}"
    )
    console.print(
        "If each bare feed read also paid the 2,600 gas cold-account access a contract pays, the ratios "
        "would be "
        + ", ".join(
            f"{r['ratio_if_feed_reads_pay_cold_access']:.3f} ({r['swaps']} swap{'s' * (r['swaps'] > 1)})"
            for r in res["rebalances"].values()
        )
    )
    p = res["per_swap"]
    console.print(
        f"Per swap (2-swap minus 1-swap): vault {p['vault_marginal_gas_per_swap']:,}, bare swap tx "
        f"{p['bare_marginal_gas_per_swap']:,}; vault fixed part (1-swap minus one marginal swap) "
        f"{p['vault_fixed_gas']:,}"
    )

    r2 = res["rebalances"]["rebalance_2_swaps"]
    b = r2["breakdown"]
    t = Table(title="Where the 2-swap rebalance's gas goes (Anvil call tracer + struct logs)")
    t.add_column("part")
    t.add_column("count", justify="right")
    t.add_column("gas", justify="right")
    for k, v in b["rows"].items():
        t.add_row(k, str(v["count"]) if v["count"] else "", f"{v['gas']:,}")
    t.add_row("[bold]total[/] (receipt gasUsed)", "", f"{b['reconstructed']:,} ({b['gas_used']:,})")
    console.print(t)
    swap_row = b["rows"].get("router swapExactTokensForTokens: router + pair + token execution")
    if swap_row:
        bare_ex = [x["bare_swap_router_execution"] for x in r2["trades"]]
        console.print(
            f"Router execution per swap: inside the vault {swap_row['gas'] // swap_row['count']:,} "
            f"(callee only), bare tx {sum(bare_ex) // len(bare_ex):,} (gasUsed - 21,000 - calldata)"
        )
    console.print(
        "Definitions: gasUsed from receipts. Bare = the same swaps sent straight to the router's "
        "swapExactTokensForTokens by an EOA already holding the tokens with infinite approvals (not "
        "counted), one tx per swap incl. 21,000 intrinsic each, from the same snapshot as the vault; plus "
        "4 feed reads = Σ (eth_estimateGas(latestRoundData) - 21,000), i.e. the feed's execution and 64 gas "
        "of calldata, without the 2,600 gas cold-account access a contract would pay. "
        "Ratio = vault / (bare swaps + feed reads)."
    )
    console.print(f"Took {res['seconds']} s (own Anvil, started and stopped).")


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
