"""The outbox's reconciliation: what became of every journalled submission, found out before
anything new is signed.

Per nonce (a transaction and its replacements): a receipt settles it; a failed receipt query is not
a missing receipt (wait and ask again); a used nonce with no receipt is only "used by another
transaction" once the node, asked for each of our hashes, knows none of them; a ``signed`` row (the
send's answer lost, or the keeper killed before sending) goes again as the same bytes unless the
node already has it or its deadline passed; a stuck one is bumped (a cancel after its deadline).

The reorg watch: a mined rebalance is reorged out only when the block at its recorded height has
another hash (a null receipt from a lagging node proves nothing); it is then re-found, put back to
wait, re-broadcast or marked ``reorged``. Rows are watched for ``confirmations`` blocks.
"""

from __future__ import annotations

import json
import time
from typing import Any

from offchain.chain.rpc import RpcError
from offchain.core.errors import ChainError
from offchain.keeper.decide import Decision, _hex, _int, next_base_fee
from offchain.keeper.fees import GWEI
from offchain.keeper.journal import Submission

KNOWN, ABSENT, UNKNOWN = "known", "absent", "unknown"


class NonceConflict(ChainError):  # noqa: N818
    """The node refused a send because its nonce is used (by ours or by another transaction)."""


class Reconciler:
    """Mixed into ``Outbox`` (which holds the config, RPCs, journal, metrics and the send path)."""

    cfg: Any
    rpc: Any
    journal: Any
    metrics: Any
    chain_id: int
    fees: Any
    emit: Any
    _fail: Any

    def reconcile(self) -> list[Decision]:
        """Settle in-flight submissions (journal) and watch recent rebalances for reorgs."""
        out: list[Decision] = []
        rows = self.journal.open(self.chain_id)
        if rows:
            head = self.rpc.call("eth_getBlockByNumber", ["latest", False])
            now, base_next = _int(head["timestamp"]), next_base_fee(head)
            latest_nonce = self._chain_nonce("latest")  # type: ignore[attr-defined]
            groups: dict[tuple[str, int], list[Submission]] = {}
            for r in rows:
                groups.setdefault((r.sender, r.nonce), []).append(r)
            for (_, nonce), group in sorted(groups.items(), key=lambda kv: kv[0][1]):
                out += self._reconcile_nonce(nonce, group, latest_nonce, now, base_next)
        out += self._reorg_watch()
        return out

    def _whereabouts(self, hashes: list[str]) -> str:
        """Does the node know any of ``hashes`` (mined or pending)? ``known``, ``absent`` (every
        answer null) or ``unknown`` (some question went unanswered)."""
        try:
            answers = self.rpc.batch([("eth_getTransactionByHash", [h]) for h in hashes])
        except ChainError:
            return UNKNOWN
        if any(a and not isinstance(a, RpcError) for a in answers):
            return KNOWN
        return UNKNOWN if any(isinstance(a, RpcError) for a in answers) else ABSENT

    def _wait(self, row: Submission, why: str) -> Decision:
        d = Decision(row.vault, "waiting", why, {"tx": row.tx_hash, "nonce": row.nonce})
        self.emit(d)
        return d

    def _reconcile_nonce(
        self, nonce: int, group: list[Submission], latest_nonce: int, now: int, base_next: int
    ) -> list[Decision]:
        """One nonce's open submissions: mined, dropped, resent, expired, bumped or still waiting."""
        receipts = self.rpc.batch([("eth_getTransactionReceipt", [r.tx_hash]) for r in group])
        for r, rc in zip(group, receipts, strict=True):
            if rc and not isinstance(rc, RpcError):
                return [self._finalize(r, rc, None)]  # type: ignore[attr-defined]
        newest = group[-1]
        failed = any(isinstance(rc, RpcError) for rc in receipts)
        if latest_nonce > nonce:
            where = UNKNOWN if failed else self._whereabouts([r.tx_hash for r in group])
            if where != ABSENT:  # ours, its receipt not served yet (or the node could not say)
                return [self._wait(newest, f"nonce {nonce} used; receipt not served yet, asking again")]
            for r in group:
                self.journal.update(r.id, status="dropped", reason="nonce used by another transaction")
            return [
                self._fail(
                    newest.vault,
                    "nonce",
                    f"nonce {nonce} was used by another transaction; "
                    "submission dropped (state will be re-read)",
                )
            ]
        resent: list[Submission] = []
        for r in group:
            if r.status != "signed" and r is not newest:
                continue
            where = self._whereabouts([r.tx_hash])
            if where == KNOWN:
                if r.status == "signed":
                    self.journal.update(r.id, status="sent")
            elif where == ABSENT and now >= r.deadline:
                self.journal.update(r.id, status="expired", reason="deadline passed; the node never had it")
            elif where == ABSENT:  # journalled, maybe never broadcast, or the mempool lost it
                resent.append(r)
        out = [self._resend(r) for r in resent]
        if resent:
            rc = self._wait_receipt([r.tx_hash for r in group])  # type: ignore[attr-defined]
            if rc is not None:
                mined = next(r for r in group if r.tx_hash == rc["transactionHash"])
                out.append(self._finalize(mined, rc, None))  # type: ignore[attr-defined]
            return [d for d in out if d is not None]
        newest = self.journal.get(newest.id)
        if newest.status != "sent":
            return []
        age = time.time() - newest.updated_at
        if failed:
            return [self._wait(newest, "receipt query failed; asking again next cycle")]
        if age >= self.cfg.stuck_after:
            return [self._bump(newest, now, base_next)]
        return [self._wait(newest, f"tx pending for {age:.0f} s")]

    def _resend(self, r: Submission) -> Decision | None:
        """The same signed bytes again; None when it went (the receipt settles it)."""
        try:
            self._broadcast(r.id)  # type: ignore[attr-defined]
        except ChainError as exc:
            return self._fail(r.vault, "send", f"re-broadcast failed: {exc}")
        self.emit(
            Decision(
                r.vault,
                "resent",
                "journalled transaction broadcast again (same bytes)",
                {"tx": r.tx_hash, "nonce": r.nonce},
            )
        )
        return None

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
            tx = {"to": row.sender, "data": "0x", "value": 0, "gas": 21_000, "chainId": self.chain_id}
            tx["type"] = 2
            trades = json.dumps({"kind": "cancel"})
        sid = self._sign_record(  # type: ignore[attr-defined]
            row.vault, tx, trades, max_fee, tip, row.deadline, row.nonce, row.attempt + 1, row.id
        )
        try:
            self._broadcast(sid)  # type: ignore[attr-defined]
        except NonceConflict:
            return self._fail(row.vault, "nonce", "nonce already used while replacing; will re-read state")
        except RpcError as exc:
            return self._fail(row.vault, "replace", f"replacement rejected: {exc.message}")
        except ChainError as exc:
            return self._fail(row.vault, "replace", f"replacement unanswered ({exc}); reconciling")
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
        receipt = self._wait_receipt([new_row.tx_hash, row.tx_hash])  # type: ignore[attr-defined]
        if receipt is not None:
            self._finalize(new_row, receipt, None)  # type: ignore[attr-defined]
        return d

    # ------------------------------------------------------------------ reorgs
    def _reorg_watch(self) -> list[Decision]:
        """Mined rows within ``confirmations`` blocks whose block at the recorded height changed."""
        head_n = _int(self.rpc.call("eth_blockNumber"))
        recent = self.journal.recent_mined(self.chain_id, head_n - self.cfg.confirmations)
        if not recent:
            return []
        heights = sorted({int(r.block_number) for r in recent})
        blocks = dict(
            zip(
                heights,
                self.rpc.batch([("eth_getBlockByNumber", [_hex(h), False]) for h in heights]),
                strict=True,
            )
        )
        out = []
        for r in recent:
            b = blocks[int(r.block_number)]
            if not isinstance(b, dict) or b.get("hash") is None:
                continue  # unanswered, or a lagging node not at that height yet: nothing proven
            if b["hash"] != r.block_hash:
                d = self._reorged(r)
                if d is not None:
                    self.emit(d)
                    out.append(d)
        return out

    def _reorged(self, r: Submission) -> Decision | None:
        """``r``'s block was replaced: where is its transaction now? None: cannot tell yet."""
        try:
            rc = self.rpc.call("eth_getTransactionReceipt", [r.tx_hash])
            tx = None if rc else self.rpc.call("eth_getTransactionByHash", [r.tx_hash])
            if rc or tx:
                head, used = None, None
            else:
                head = self.rpc.call("eth_getBlockByNumber", ["latest", False])
                used = self._chain_nonce("latest")  # type: ignore[attr-defined]
        except ChainError:
            return None  # ask again next cycle
        self.metrics.inc("failures", "reorg")
        found = rc or (tx if tx and tx.get("blockHash") else None)
        if found:  # re-included in another block: still one rebalance
            self.journal.update(r.id, block_number=_int(found["blockNumber"]), block_hash=found["blockHash"])
            return Decision(r.vault, "reorg", "rebalance re-included in a new block", {"tx": r.tx_hash})
        if json.loads(r.trades).get("kind") == "rebalance":
            self.metrics.inc("rebalances", n=-1)
        if tx is not None:
            self.journal.update(r.id, status="sent", block_number=None, block_hash=None)
            msg = "mined rebalance dropped by a reorg; back in the mempool, waiting"
            return Decision(r.vault, "reorg", msg, {"tx": r.tx_hash})
        assert head is not None and used is not None
        if used <= r.nonce and _int(head["timestamp"]) < r.deadline:
            self.journal.update(
                r.id, status="signed", block_number=None, block_hash=None, reason="reorged out; re-broadcast"
            )
            try:
                self._broadcast(r.id)  # type: ignore[attr-defined]
                msg = "mined rebalance dropped by a reorg; same signed tx re-broadcast"
                return Decision(r.vault, "reorg", msg, {"tx": r.tx_hash})
            except ChainError as exc:
                return Decision(
                    r.vault, "reorg", f"dropped by a reorg; re-broadcast failed ({exc}); will retry"
                )
        self.journal.update(
            r.id, status="reorged", block_number=None, block_hash=None, reason="dropped by a reorg"
        )
        msg = "mined rebalance dropped by a reorg; will re-plan from fresh state"
        return Decision(r.vault, "reorg", msg, {"tx": r.tx_hash})
