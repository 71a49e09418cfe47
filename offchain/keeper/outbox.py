"""The keeper's outbox: everything between a decision to send and its settled receipt.

Simulation (``eth_call`` + ``eth_estimateGas``, revert reason decoded), nonces (chain and journal),
EIP-1559 signing, the journal row written before every broadcast (so a restarted keeper never
double-submits), sending (optionally to a separate submission RPC), receipts (one batch per poll),
fee bumps and replacements of stuck transactions (a cancel once the deadline passed), re-broadcasts
after a lost mempool, and the reorg watch of recent rebalances (those two in ``reconcile``).

A send is identified by (sender, nonce). An ambiguous answer to a send (none at all, an internal
error, "nonce too low") never leads straight to a new signature: the keeper first asks the node for
its own transaction by hash; only when the node does not know it is the nonce taken by another
transaction, and then the rebalance is simulated again on the fresh state before it is re-signed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic
from web3 import Web3

from offchain.chain.rpc import Rpc, RpcError, RpcUnavailable, decode_revert
from offchain.chain.vault import VaultState
from offchain.core import model
from offchain.core.errors import ChainError
from offchain.keeper.config import KeeperConfig
from offchain.keeper.decide import Decision, Rebalance, _hex, _int, fingerprint
from offchain.keeper.fees import GWEI, FeePolicy
from offchain.keeper.journal import Journal, Submission
from offchain.keeper.keys import Signer
from offchain.keeper.metrics import Metrics
from offchain.keeper.reconcile import ABSENT, KNOWN, NonceConflict, Reconciler

# the Rebalanced event's data (its non-indexed fields)
_REBALANCED_TYPES = ["uint8", "uint256", "uint256", "uint256", "uint256", "uint256[]", "uint256[]"]
_REBALANCED_FIELDS = ("reason", "drift_before", "drift_after", "value_before", "value_after")
_REBALANCED_FIELDS += ("weights_before", "weights_after")


# refusals that are final: the node will never take these bytes (anything else may have been taken)
_FINAL = ("insufficient funds", "underpriced", "intrinsic gas", "exceeds block gas limit", "invalid")
_FINAL += ("fee cap", "less than block base fee", "gas limit", "too low")
_KNOWN_TX = ("already known", "already imported", "known transaction")

__all__ = ["NonceConflict", "Outbox"]


class Outbox(Reconciler):
    """Sends for one keeper: shares its config, RPCs, journal, metrics, stop flag and revert guard."""

    fingerprint = staticmethod(fingerprint)

    def __init__(
        self,
        cfg: KeeperConfig,
        *,
        rpc: Rpc,
        submit_rpc: Rpc,
        journal: Journal,
        signer: Signer | None,
        chain_id: int,
        fees: FeePolicy,
        metrics: Metrics,
        vault_c: Any,
        stop: threading.Event,
        revert_guard: dict[str, tuple[Any, ...] | None],
        emit: Callable[[Decision], None],
        fail: Callable[..., Decision],
    ):
        self.cfg = cfg
        self.rpc = rpc
        self.submit_rpc = submit_rpc
        self.journal = journal
        self.signer = signer
        self.address = signer.address if signer else None
        self.chain_id = chain_id
        self.fees = fees
        self.metrics = metrics
        self.vault_c = vault_c
        self._stop = stop
        self.revert_guard = revert_guard
        self.emit = emit
        self._fail = fail
        ev = next(e for e in vault_c.abi if e.get("type") == "event" and e["name"] == "Rebalanced")
        self._rebalanced_topic = "0x" + event_abi_to_log_topic(ev).hex()
        self._awaiting: list[tuple[Submission, VaultState | None]] = []
        self._defer = False  # inside a cycle: send every vault's transaction, then settle them at once

    def rebalance(self, vault: str, st: VaultState, plan: Rebalance) -> Decision:
        """Simulate ``plan`` as ``rebalance(trades, deadline)``; unless dry, sign, journal, send it."""
        cfg, data, trades = self.cfg, plan.data, plan.trades
        calldata = self.vault_c.encode_abi("rebalance", args=[trades, plan.deadline])
        sender = self.address or "0x" + "00" * 20
        call = {"from": sender, "to": vault, "data": calldata}
        if not self.address:
            d = Decision(vault, "would-send", "dry run without a key: not simulated", data)
            self.emit(d)
            return d
        est = self._simulate(call)
        if isinstance(est, RpcError):
            return self._fail(vault, "simulation", f"simulation reverted: {est.reason}", **data)
        gas = int(est * cfg.gas_multiplier) + 10_000
        data.update(gas_estimate=est)
        if cfg.dry_run:
            d = Decision(vault, "would-send", f"{len(trades)} swap(s); simulation passed", data)
            self.emit(d)
            return d
        tx = {"to": vault, "data": calldata, "value": 0, "gas": gas, "chainId": self.chain_id, "type": 2}
        trade_doc = json.dumps(
            {"kind": "rebalance", "trades": [[a, b, str(x), str(y)] for a, b, x, y in trades]}
        )
        return self.submit(vault, tx, trade_doc, plan.max_fee, plan.tip, plan.deadline, st, data)

    def _simulate(self, call: dict[str, Any]) -> int | RpcError:
        """``eth_call`` + ``eth_estimateGas`` on the latest state: the gas estimate, or the error."""
        sim = self.rpc.batch([("eth_call", [call, "latest"]), ("eth_estimateGas", [call])])
        for r in sim:
            if isinstance(r, RpcError):
                return r
        return _int(sim[1])

    def _chain_nonce(self, tag: str = "pending") -> int:
        return _int(self.rpc.call("eth_getTransactionCount", [self.address, tag]))

    def _next_nonce(self) -> int:
        n = self._chain_nonce("pending")
        j = self.journal.max_nonce(self.chain_id, self.address or "")
        return max(n, (j + 1) if j is not None else 0)

    def _sign_record(
        self,
        vault: str,
        tx: dict[str, Any],
        trades: str,
        max_fee: int,
        tip: int,
        deadline: int,
        nonce: int,
        attempt: int = 0,
        replaces: int | None = None,
    ) -> int:
        assert self.signer is not None
        full = {**tx, "nonce": nonce, "maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip}
        raw, h = self.signer.sign(full)
        return self.journal.record(
            vault=vault,
            sender=self.signer.address,
            chain_id=self.chain_id,
            nonce=nonce,
            tx_hash=h,
            raw_tx=raw,
            tx=json.dumps(tx),
            max_fee=max_fee,
            priority_fee=tip,
            deadline=deadline,
            trades=trades,
            attempt=attempt,
            replaces=replaces,
        )

    def _broadcast(self, sid: int) -> None:
        """Send a journalled transaction. 'Already known' is sent; a used nonce raises
        ``NonceConflict`` and a final refusal marks the row ``dropped``; any other error, or no
        answer, leaves it ``signed``: the node may have it, and ``reconcile`` finds out."""
        row = self.journal.get(sid)
        try:
            self.submit_rpc.call("eth_sendRawTransaction", [row.raw_tx])
        except RpcError as exc:
            msg = exc.message.lower()
            if any(t in msg for t in _KNOWN_TX):
                pass
            elif "nonce too low" in msg or "nonce has already been used" in msg:
                raise NonceConflict(exc.message) from None
            elif any(t in msg for t in _FINAL):
                self.journal.update(sid, status="dropped", reason=f"rejected: {exc.message}")
                raise
            else:
                raise
        self.journal.update(sid, status="sent")

    def submit(
        self,
        vault: str,
        tx: dict[str, Any],
        trades: str,
        max_fee: int,
        tip: int,
        deadline: int,
        st: VaultState | None,
        data: dict[str, Any],
    ) -> Decision:
        """Sign, journal and send; inside a cycle the receipt is awaited with the others (``settle``)."""
        nonce = self._next_nonce()
        sid = self._sign_record(vault, tx, trades, max_fee, tip, deadline, nonce)
        if self.journal.get(sid).status in ("mined", "reverted"):  # these very bytes are on chain
            d = Decision(vault, "skip", "already-mined (the same signed transaction is on chain)", {})
            self.emit(d)
            return d
        try:
            self._broadcast(sid)
        except NonceConflict as exc:
            return self._after_conflict(sid, str(exc), st, data)
        except RpcUnavailable as exc:
            if self._whereabouts([self.journal.get(sid).tx_hash]) == KNOWN:  # the answer was lost
                self.journal.update(sid, status="sent")
                return self._sent(sid, st, data)
            return self._fail(
                vault, "send", f"no answer to the send ({exc}); reconciling before any new send"
            )
        except RpcError as exc:
            return self._fail(vault, "send", f"send rejected: {exc.message}")
        return self._sent(sid, st, data)

    def _sent(self, sid: int, st: VaultState | None, data: dict[str, Any]) -> Decision:
        row = self.journal.get(sid)
        sent = {"tx": row.tx_hash, "nonce": row.nonce, "max_fee_gwei": round(row.max_fee / GWEI, 3), **data}
        self.emit(Decision(row.vault, "sent", "", sent))
        self._awaiting.append((row, st))
        if self._defer:  # independent vaults: send them all, then wait for every receipt at once
            return Decision(row.vault, "sent", "", {"tx": row.tx_hash})
        return self.settle()[-1]

    def _after_conflict(self, sid: int, why: str, st: VaultState | None, data: dict[str, Any]) -> Decision:
        """ "Nonce too low": if the node knows our transaction, the first answer was lost and it is
        sent; if it cannot say, reconcile decides next cycle; if it does not know it, another
        transaction took the nonce: simulate again on the fresh state, then sign at the next nonce."""
        row = self.journal.get(sid)
        where = self._whereabouts([row.tx_hash])
        if where == KNOWN:
            self.journal.update(sid, status="sent")
            return self._sent(sid, st, data)
        if where != ABSENT:
            return self._fail(row.vault, "send", f"nonce {row.nonce} used ({why}); by which transaction "
                              "is unknown yet: reconciling before any new send")  # fmt: skip
        self.journal.update(
            sid, status="dropped", reason=f"rejected: {why}; nonce used by another transaction"
        )
        self.metrics.inc("failures", "nonce")
        self.emit(
            Decision(row.vault, "nonce-conflict", f"nonce {row.nonce} already used ({why}); re-signing", {})
        )
        tx = json.loads(row.tx)
        est = self._simulate({"from": row.sender, "to": tx["to"], "data": tx["data"]})
        if isinstance(est, RpcError):
            self.metrics.inc("skips", "superseded")
            d = Decision(row.vault, "skip", f"superseded: the rebalance no longer simulates ({est.reason}); "
                         "the state is re-read next cycle")  # fmt: skip
            self.emit(d)
            return d
        tx["gas"] = int(est * self.cfg.gas_multiplier) + 10_000
        nonce = self._next_nonce()
        sid2 = self._sign_record(
            row.vault, tx, row.trades, row.max_fee, row.priority_fee, row.deadline, nonce
        )
        try:
            self._broadcast(sid2)
        except ChainError as exc:
            return self._fail(row.vault, "send", f"send rejected after nonce refresh: {exc}")
        return self._sent(sid2, st, data)

    def settle(self) -> list[Decision]:
        """Wait (one batch of receipt queries per poll) for everything sent this cycle; finalize it."""
        todo, self._awaiting = self._awaiting, []
        if not todo:
            return []
        receipts = self._wait_receipts([[row.tx_hash] for row, _ in todo])
        out = []
        for (row, st), rc in zip(todo, receipts, strict=True):
            if rc is None:
                d = Decision(
                    row.vault, "pending", "no receipt yet; will reconcile next cycle", {"tx": row.tx_hash}
                )
                self.emit(d)
                out.append(d)
            else:
                out.append(self._finalize(row, rc, st))
        return out

    def _wait_receipt(self, hashes: list[str]) -> dict[str, Any] | None:
        """The first receipt found for any of ``hashes`` (one nonce: a transaction and its replacements)."""
        return self._wait_receipts([hashes])[0]

    def _wait_receipts(self, groups: list[list[str]]) -> list[dict[str, Any] | None]:
        deadline = time.monotonic() + self.cfg.receipt_timeout
        found: list[dict[str, Any] | None] = [None] * len(groups)
        while True:
            todo = [(i, h) for i, g in enumerate(groups) if found[i] is None for h in g]
            answers = self.rpc.batch([("eth_getTransactionReceipt", [h]) for _, h in todo])
            for (i, _), r in zip(todo, answers, strict=True):
                if r and not isinstance(r, RpcError) and found[i] is None:
                    found[i] = r
            if all(found) or time.monotonic() >= deadline or self._stop.is_set():
                return found
            time.sleep(self.cfg.poll)

    def _revert_reason(self, row: Submission, receipt: dict[str, Any]) -> str:
        """Why a mined transaction reverted: its call trace if the node has one, else a replay by eth_call."""
        try:
            tr = self.rpc.call(
                "debug_traceTransaction", [receipt["transactionHash"], {"tracer": "callTracer"}]
            )
            reason = tr.get("revertReason") or decode_revert(tr.get("output"))
            if reason:
                return str(reason)
        except RpcError:
            pass  # tracing not offered by this node
        tx = json.loads(row.tx)
        call = {"from": row.sender, "to": tx["to"], "data": tx["data"], "gas": _hex(tx["gas"])}
        for block in (_int(receipt["blockNumber"]), _int(receipt["blockNumber"]) - 1):
            try:
                self.rpc.call("eth_call", [call, _hex(block)])
            except RpcError as exc:
                return exc.reason
        return "reverted (reason not reproducible by eth_call)"

    def _finalize(self, row: Submission, receipt: dict[str, Any], st: VaultState | None) -> Decision:
        # every other open row with this nonce lost the race
        for other in self.journal.open(self.chain_id):
            if (
                other.nonce == row.nonce
                and other.sender == row.sender
                and other.tx_hash != receipt["transactionHash"]
            ):
                self.journal.update(
                    other.id, status="dropped", reason=f"replaced by {receipt['transactionHash']}"
                )
        mined = self.journal.by_hash(receipt["transactionHash"], self.chain_id) or row
        if mined.status in ("mined", "reverted") and mined.block_hash == receipt["blockHash"]:
            return Decision(mined.vault, "settled", "already recorded", {"tx": mined.tx_hash})
        gas_used = _int(receipt["gasUsed"])
        price = _int(receipt.get("effectiveGasPrice") or 0)
        self.metrics.inc("gas_used", n=gas_used)
        self.metrics.inc("gas_spent_wei", n=gas_used * price)
        fields = {
            "block_number": _int(receipt["blockNumber"]),
            "block_hash": receipt["blockHash"],
            "gas_used": gas_used,
        }
        kind = json.loads(mined.trades).get("kind", "rebalance")
        if _int(receipt["status"]) == 1:
            self.journal.update(mined.id, status="mined", **fields)
            data: dict[str, Any] = {"tx": mined.tx_hash, "block": fields["block_number"], "gas": gas_used}
            if kind == "rebalance":
                self.metrics.inc("rebalances")
                ev = self._rebalanced(receipt)
                if ev:
                    data.update(
                        reason=model.REASON_NAMES.get(ev["reason"], ev["reason"]),
                        drift=f"{ev['drift_before']}->{ev['drift_after']}bps",
                        cost_usd=round((ev["value_before"] - ev["value_after"]) / 1e18, 2),
                    )
                d = Decision(mined.vault, "rebalanced", "", data)
            else:
                d = Decision(mined.vault, kind, "mined", data)
            self.emit(d)
            return d
        reason = self._revert_reason(mined, receipt)
        self.journal.update(mined.id, status="reverted", reason=reason, **fields)
        # no blind retry: the vault is skipped until its state (holdings, prices, feeds...) changes
        self.revert_guard[Web3.to_checksum_address(mined.vault)] = self.fingerprint(st) if st else None
        return self._fail(
            mined.vault,
            "reverted",
            f"{kind} reverted on chain: {reason}; not retrying until the vault's state changes",
            tx=mined.tx_hash,
        )

    def _rebalanced(self, receipt: dict[str, Any]) -> dict[str, Any] | None:
        for lg in receipt.get("logs", []):
            if lg["topics"] and lg["topics"][0].lower() == self._rebalanced_topic:
                vals = abi_decode(_REBALANCED_TYPES, bytes.fromhex(lg["data"][2:]))
                return dict(zip(_REBALANCED_FIELDS, vals, strict=True))
        return None
