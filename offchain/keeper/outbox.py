"""The keeper's outbox: everything between a decision to send and its settled receipt.

Simulation (``eth_call`` + ``eth_estimateGas``, revert reason decoded), nonces (chain and journal),
EIP-1559 signing, the journal row written before every broadcast (so a restarted keeper never
double-submits), sending (optionally to a separate submission RPC), receipts (one batch per poll),
fee bumps and replacements of stuck transactions (a cancel once the deadline passed), re-broadcasts
after a lost mempool, and the reorg watch of recent rebalances.
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

from offchain.chain.rpc import Rpc, RpcError, decode_revert
from offchain.chain.vault import VaultState
from offchain.core import model
from offchain.core.errors import ChainError
from offchain.keeper.config import KeeperConfig
from offchain.keeper.decide import Decision, Rebalance, _hex, _int, fingerprint, next_base_fee
from offchain.keeper.fees import GWEI, FeePolicy
from offchain.keeper.journal import Journal, Submission
from offchain.keeper.keys import Signer
from offchain.keeper.metrics import Metrics

# the Rebalanced event's data (its non-indexed fields)
_REBALANCED_TYPES = ["uint8", "uint256", "uint256", "uint256", "uint256", "uint256[]", "uint256[]"]
_REBALANCED_FIELDS = ("reason", "drift_before", "drift_after", "value_before", "value_after")
_REBALANCED_FIELDS += ("weights_before", "weights_after")


class NonceConflict(ChainError):  # noqa: N818
    pass


class Outbox:
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
        sim = self.rpc.batch([("eth_call", [call, "latest"]), ("eth_estimateGas", [call])])
        for r in sim:
            if isinstance(r, RpcError):
                return self._fail(vault, "simulation", f"simulation reverted: {r.reason}", **data)
        gas = int(_int(sim[1]) * cfg.gas_multiplier) + 10_000
        data.update(gas_estimate=_int(sim[1]))
        if cfg.dry_run:
            d = Decision(vault, "would-send", f"{len(trades)} swap(s); simulation passed", data)
            self.emit(d)
            return d
        tx = {"to": vault, "data": calldata, "value": 0, "gas": gas, "chainId": self.chain_id, "type": 2}
        trade_doc = json.dumps(
            {"kind": "rebalance", "trades": [[a, b, str(x), str(y)] for a, b, x, y in trades]}
        )
        return self.submit(vault, tx, trade_doc, plan.max_fee, plan.tip, plan.deadline, st, data)

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
        """Send a journalled transaction; 'already known' is sent; a used nonce raises NonceConflict."""
        row = self.journal.get(sid)
        try:
            self.submit_rpc.call("eth_sendRawTransaction", [row.raw_tx])
        except RpcError as exc:
            msg = exc.message.lower()
            if "already known" in msg or "already imported" in msg or "known transaction" in msg:
                pass
            elif "nonce too low" in msg or "nonce has already been used" in msg:
                self.journal.update(sid, status="dropped", reason=f"rejected: {exc.message}")
                raise NonceConflict(exc.message) from None
            else:
                self.journal.update(sid, status="dropped", reason=f"rejected: {exc.message}")
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
        try:
            self._broadcast(sid)
        except NonceConflict as exc:
            self.metrics.inc("failures", "nonce")
            self.emit(
                Decision(vault, "nonce-conflict", f"nonce {nonce} already used ({exc}); re-signing", {})
            )
            nonce = self._chain_nonce("pending")
            sid = self._sign_record(vault, tx, trades, max_fee, tip, deadline, nonce)
            try:
                self._broadcast(sid)
            except RpcError as exc2:
                return self._fail(vault, "send", f"send rejected after nonce refresh: {exc2.message}")
        except RpcError as exc:
            return self._fail(vault, "send", f"send rejected: {exc.message}")
        row = self.journal.get(sid)
        sent = {"tx": row.tx_hash, "nonce": nonce, "max_fee_gwei": round(max_fee / GWEI, 3), **data}
        self.emit(Decision(vault, "sent", "", sent))
        self._awaiting.append((row, st))
        if self._defer:  # independent vaults: send them all, then wait for every receipt at once
            return Decision(vault, "sent", "", {"tx": row.tx_hash})
        return self.settle()[-1]

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
        mined = self.journal.by_hash(receipt["transactionHash"]) or row
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

    # ------------------------------------------------------------------ reconciliation
    def reconcile(self) -> list[Decision]:
        """Settle in-flight submissions (journal) and watch recent rebalances for reorgs."""
        out: list[Decision] = []
        rows = self.journal.open(self.chain_id)
        if rows:
            head = self.rpc.call("eth_getBlockByNumber", ["latest", False])
            now, base_next = _int(head["timestamp"]), next_base_fee(head)
            latest_nonce = self._chain_nonce("latest")
            groups: dict[int, list[Submission]] = {}
            for r in rows:
                groups.setdefault(r.nonce, []).append(r)
            for nonce, group in sorted(groups.items()):
                out += self._reconcile_nonce(nonce, group, latest_nonce, now, base_next)
        out += self._reorg_watch()
        return out

    def _reconcile_nonce(
        self, nonce: int, group: list[Submission], latest_nonce: int, now: int, base_next: int
    ) -> list[Decision]:
        """One nonce's open submissions (a transaction and its replacements): mined, dropped, resent,
        bumped or still waiting."""
        out: list[Decision] = []
        receipts = self.rpc.batch([("eth_getTransactionReceipt", [r.tx_hash]) for r in group])
        hit = next(
            ((r, rc) for r, rc in zip(group, receipts, strict=True) if rc and not isinstance(rc, RpcError)),
            None,
        )
        if hit:
            out.append(self._finalize(hit[0], hit[1], None))
            return out
        if latest_nonce > nonce:
            for r in group:
                self.journal.update(r.id, status="dropped", reason="nonce used by another transaction")
            out.append(
                self._fail(
                    group[-1].vault,
                    "nonce",
                    f"nonce {nonce} was used by another transaction; "
                    "submission dropped (state will be re-read)",
                )
            )
            return out
        newest = group[-1]
        resent = []
        for r in group:
            if r.status == "signed":  # journalled, maybe never broadcast (keeper killed)
                resent.append(r)
        if newest.status == "sent" and self.rpc.call("eth_getTransactionByHash", [newest.tx_hash]) is None:
            resent.append(newest)  # mempool lost (node restart, reorg): the same signed bytes again
        for r in resent:
            try:
                self._broadcast(r.id)
                self.emit(
                    Decision(
                        r.vault,
                        "resent",
                        "journalled transaction broadcast again (same bytes)",
                        {"tx": r.tx_hash, "nonce": r.nonce},
                    )
                )
            except ChainError as exc:
                out.append(self._fail(r.vault, "send", f"re-broadcast failed: {exc}"))
        if resent:
            rc = self._wait_receipt([r.tx_hash for r in group])
            if rc is not None:
                mined = next(r for r in group if r.tx_hash == rc["transactionHash"])
                out.append(self._finalize(mined, rc, None))
            return out
        age = time.time() - newest.updated_at
        if age >= self.cfg.stuck_after:
            out.append(self._bump(newest, now, base_next))
        else:
            d = Decision(newest.vault, "waiting", f"tx pending for {age:.0f} s", {"tx": newest.tx_hash})
            self.emit(d)
            out.append(d)
        return out

    def _bump(self, row: Submission, now: int, base_next: int) -> Decision:
        new = self.fees.bump(row.max_fee, row.priority_fee, base_next)
        if new is None:
            self.metrics.inc("skips", "bump-cap")
            d = Decision(
                row.vault,
                "stuck",
                f"tx {row.tx_hash[:12]}.. unmined; a bump would exceed the fee cap "
                f"{self.cfg.max_fee_gwei} gwei, waiting",
            )
            self.emit(d)
            return d
        max_fee, tip = new
        tx = json.loads(row.tx)
        trades = row.trades
        if now >= row.deadline:  # the rebalance can only revert now: cancel with a self-transfer instead
            tx = {
                "to": row.sender,
                "data": "0x",
                "value": 0,
                "gas": 21_000,
                "chainId": self.chain_id,
                "type": 2,
            }
            trades = json.dumps({"kind": "cancel"})
        sid = self._sign_record(
            row.vault,
            tx,
            trades,
            max_fee,
            tip,
            row.deadline,
            row.nonce,
            attempt=row.attempt + 1,
            replaces=row.id,
        )
        try:
            self._broadcast(sid)
        except NonceConflict:
            return self._fail(row.vault, "nonce", "nonce already used while replacing; will re-read state")
        except RpcError as exc:
            return self._fail(row.vault, "replace", f"replacement rejected: {exc.message}")
        new_row = self.journal.get(sid)
        d = Decision(
            row.vault,
            "replaced",
            f"stuck tx {row.tx_hash[:12]}.. replaced with bumped fees",
            {
                "tx": new_row.tx_hash,
                "nonce": row.nonce,
                "max_fee_gwei": round(max_fee / GWEI, 3),
                "kind": json.loads(trades)["kind"],
            },
        )
        self.emit(d)
        receipt = self._wait_receipt([new_row.tx_hash, row.tx_hash])
        if receipt is not None:
            self._finalize(new_row, receipt, None)
        return d

    def _reorg_watch(self) -> list[Decision]:
        out: list[Decision] = []
        head_n = _int(self.rpc.call("eth_blockNumber"))
        recent = self.journal.recent_mined(self.chain_id, head_n - self.cfg.confirmations)
        gone = []
        if recent:
            receipts = self.rpc.batch([("eth_getTransactionReceipt", [r.tx_hash]) for r in recent])
            for r, rc in zip(recent, receipts, strict=True):
                if isinstance(rc, RpcError):
                    continue
                if rc is None or rc["blockHash"] != r.block_hash:
                    gone.append((r, rc))
        for r, rc in gone:
            self.metrics.inc("failures", "reorg")
            if json.loads(r.trades).get("kind") == "rebalance":
                self.metrics.inc("rebalances", n=-1)
            if rc is not None:  # re-included in another block
                self.journal.update(r.id, block_number=_int(rc["blockNumber"]), block_hash=rc["blockHash"])
                out.append(
                    Decision(r.vault, "reorg", "rebalance re-included in a new block", {"tx": r.tx_hash})
                )
                continue
            known = self.rpc.call("eth_getTransactionByHash", [r.tx_hash])
            head = self.rpc.call("eth_getBlockByNumber", ["latest", False])
            if known is not None:
                self.journal.update(r.id, status="sent", block_number=None, block_hash=None)
                msg = "mined rebalance dropped by a reorg; back in the mempool, waiting"
                d = Decision(r.vault, "reorg", msg, {"tx": r.tx_hash})
            elif self._chain_nonce("latest") <= r.nonce and _int(head["timestamp"]) < r.deadline:
                self.journal.update(
                    r.id,
                    status="signed",
                    block_number=None,
                    block_hash=None,
                    reason="reorged out; re-broadcast",
                )
                try:
                    self._broadcast(r.id)
                    msg = "mined rebalance dropped by a reorg; same signed tx re-broadcast"
                    d = Decision(r.vault, "reorg", msg, {"tx": r.tx_hash})
                except ChainError as exc:
                    d = Decision(
                        r.vault, "reorg", f"dropped by a reorg; re-broadcast failed ({exc}); will re-plan"
                    )
            else:
                self.journal.update(
                    r.id, status="reorged", block_number=None, block_hash=None, reason="dropped by a reorg"
                )
                msg = "mined rebalance dropped by a reorg; will re-plan from fresh state"
                d = Decision(r.vault, "reorg", msg, {"tx": r.tx_hash})
            self.emit(d)
            out.append(d)
        return out
