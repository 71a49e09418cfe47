"""Helpers for the keeper tests under a fault proxy (issue 11): a ``FaultProxy`` that can also be
told to fault one method a given number of times, and the chain-side checks (Rebalanced events and
keeper transactions per trigger, the journal against the chain)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from keeper_env import Env

from offchain.devnet.faultproxy import FaultProxy
from offchain.keeper.journal import Journal

# two price moves that undo each other: every trigger drifts the vault well past its threshold
MOVES = ({1: 1.35, 3: 0.75}, {1: 1 / 1.35, 3: 1 / 0.75})


class ScriptedProxy(FaultProxy):
    """A ``FaultProxy`` whose ``script`` entries ``[method, kind, times]`` fault the next ``times``
    requests containing ``method`` with ``kind`` first; the seeded random faults come after."""

    def __init__(self, upstream: str, **kw: Any):
        kw.setdefault("rate", 0.0)
        super().__init__(upstream, **kw)
        self.script: list[list[Any]] = []

    def fault(self, method: str, kind: str, times: int = 1) -> None:
        self.script.append([method, kind, times])

    def draw(self, methods: Sequence[str], is_batch: bool) -> tuple[str | None, random.Random]:
        with self.lock:
            for entry in self.script:
                if entry[0] in methods and entry[2] > 0:
                    entry[2] -= 1
                    self.injected[entry[1]] += 1
                    self.log.append((entry[1], tuple(methods)))
                    return entry[1], random.Random(0)
        return super().draw(methods, is_batch)


def keeper_nonce(env: Env, addr: str | None = None) -> int:
    return env.w3.eth.get_transaction_count(addr or env.keeper_addr, "latest")


def rebalanced_between(env: Env, lo: int, hi: int) -> list[Any]:
    return list(env.stack.vault.events.Rebalanced().get_logs(from_block=lo, to_block=hi))


def due(env: Env) -> bool:
    return bool(env.stack.vault.functions.needs_rebalance().call()[0])


def journal_matches_chain(env: Env, journal: Journal) -> list[str]:
    """Disagreements between the journal and the chain (empty: none): every Rebalanced event is a
    journalled mined rebalance, every mined row's receipt is in its recorded block, nothing is open,
    and no dropped/expired row is on chain."""
    problems = []
    events = {
        e["transactionHash"].to_0x_hex() for e in env.stack.vault.events.Rebalanced().get_logs(from_block=0)
    }
    rows = journal.all()
    mined = {r.tx_hash for r in rows if r.status == "mined" and '"rebalance"' in r.trades}
    if events != mined:
        problems.append(
            f"events, not mined rows: {sorted(events - mined)}; mined, not events: {sorted(mined - events)}"
        )
    hashes = [r.tx_hash for r in rows]
    if len(hashes) != len(set(hashes)):
        problems.append("two rows with one hash")
    for r in rows:
        rc = env.w3.eth.get_transaction_receipt(r.tx_hash) if r.status in ("mined", "reverted") else None
        if r.status in ("signed", "sent"):
            problems.append(f"row {r.id} still {r.status}")
        elif rc is not None and rc["blockHash"].to_0x_hex() != r.block_hash:
            problems.append(
                f"row {r.id} recorded in block {r.block_hash}, chain says {rc['blockHash'].to_0x_hex()}"
            )
        elif r.status in ("dropped", "expired"):
            try:
                on_chain = env.w3.eth.get_transaction_receipt(r.tx_hash)
            except Exception:  # noqa: BLE001 - web3 raises TransactionNotFound
                on_chain = None
            if on_chain is not None:
                problems.append(f"row {r.id} is {r.status} but on chain")
    return problems
