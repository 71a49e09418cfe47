"""How the gas benchmark measures and explains gas (``bench/bench_gas.py`` runs it): repeated runs
from one snapshot (``Chain.measure``), calldata and feed-read gas, the call-tracer + struct-log
breakdown of a rebalance (``gas_breakdown``), compiled sizes per EVM version and the vault source's
provenance."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3

from offchain.chain.node import mine_after
from offchain.devnet.localstack import LocalStack

ROOT = Path(__file__).resolve().parents[1]
INTRINSIC_GAS = 21_000
SLOT_SECONDS = 12  # each measured run's first tx is mined this long after the state it starts from

SEL_BALANCE_OF = "0x70a08231"
SEL_APPROVE = "0x095ea7b3"
SEL_ALLOWANCE = "0xdd62ed3e"
SEL_SWAP = "0x38ed1739"


def check(ok: bool, msg: str) -> None:
    if not ok:
        raise RuntimeError(msg)


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
        mine_after(self.w3, seconds)

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
