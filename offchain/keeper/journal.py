"""SQLite journal of every submission. A row is written (with the signed raw transaction) *before*
it is broadcast, and updated as it is sent, mined, replaced, reverted or reorged out; a keeper
killed at any point and restarted finds the row and reconciles it (re-broadcasts the same signed
bytes, waits for it, or confirms it) instead of submitting a second rebalance.

States: ``signed`` (written, maybe not broadcast) -> ``sent`` -> ``mined`` (status 1) | ``reverted``
(status 0) | ``dropped`` (its nonce was used by another transaction) | ``expired`` (deadline passed,
never mined) | ``reorged`` (mined then removed by a reorg and not re-included).
Open states are ``signed`` and ``sent``; ``mined`` rows stay watched for ``confirmations`` blocks.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OPEN = ("signed", "sent")
SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    vault TEXT NOT NULL,
    sender TEXT NOT NULL,
    chain_id INTEGER NOT NULL,
    nonce INTEGER NOT NULL,
    tx_hash TEXT NOT NULL,
    raw_tx TEXT NOT NULL,
    tx TEXT NOT NULL,
    max_fee INTEGER NOT NULL,
    priority_fee INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    trades TEXT NOT NULL,
    status TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    replaces INTEGER,
    block_number INTEGER,
    block_hash TEXT,
    gas_used INTEGER,
    reason TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS submissions_status ON submissions(status);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class Submission:
    id: int
    vault: str
    sender: str
    chain_id: int
    nonce: int
    tx_hash: str
    raw_tx: str
    tx: str
    max_fee: int
    priority_fee: int
    deadline: int
    trades: str
    status: str
    attempt: int
    replaces: int | None
    block_number: int | None
    block_hash: str | None
    gas_used: int | None
    reason: str | None
    created_at: float
    updated_at: float


class Journal:
    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[Submission]:
        cur = self.db.execute(sql, args)
        return [Submission(*row) for row in cur.fetchall()]

    def record(
        self,
        *,
        vault: str,
        sender: str,
        chain_id: int,
        nonce: int,
        tx_hash: str,
        raw_tx: str,
        tx: str,
        max_fee: int,
        priority_fee: int,
        deadline: int,
        trades: str,
        attempt: int = 0,
        replaces: int | None = None,
    ) -> int:
        now = time.time()
        cur = self.db.execute(
            "INSERT INTO submissions (vault, sender, chain_id, nonce, tx_hash, raw_tx, tx, max_fee,"
            " priority_fee, deadline, trades, status, attempt, replaces, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,'signed',?,?,?,?)",
            (
                vault.lower(),
                sender.lower(),
                chain_id,
                nonce,
                tx_hash,
                raw_tx,
                tx,
                max_fee,
                priority_fee,
                deadline,
                trades,
                attempt,
                replaces,
                now,
                now,
            ),
        )
        return int(cur.lastrowid or 0)

    def update(self, sid: int, **fields: Any) -> None:
        fields["updated_at"] = time.time()
        cols = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE submissions SET {cols} WHERE id = ?", (*fields.values(), sid))  # noqa: S608

    def get(self, sid: int) -> Submission:
        return self._rows("SELECT * FROM submissions WHERE id = ?", (sid,))[0]

    def by_hash(self, tx_hash: str) -> Submission | None:
        """The submission that sent ``tx_hash`` (None: not one of ours)."""
        rows = self._rows("SELECT * FROM submissions WHERE tx_hash = ?", (tx_hash,))
        return rows[0] if rows else None

    def open(self, chain_id: int, vault: str | None = None) -> list[Submission]:
        """Submissions still in flight (signed or sent), oldest first."""
        if vault is None:
            return self._rows(
                "SELECT * FROM submissions WHERE chain_id = ? AND status IN ('signed','sent') ORDER BY id",
                (chain_id,),
            )
        return self._rows(
            "SELECT * FROM submissions WHERE chain_id = ? AND vault = ?"
            " AND status IN ('signed','sent') ORDER BY id",
            (chain_id, vault.lower()),
        )

    def recent_mined(self, chain_id: int, since_block: int) -> list[Submission]:
        return self._rows(
            "SELECT * FROM submissions WHERE chain_id = ? AND status = 'mined'"
            " AND block_number >= ? ORDER BY id",
            (chain_id, since_block),
        )

    def all(self) -> list[Submission]:
        return self._rows("SELECT * FROM submissions ORDER BY id")

    def max_nonce(self, chain_id: int, sender: str) -> int | None:
        row = self.db.execute(
            "SELECT MAX(nonce) FROM submissions WHERE chain_id = ? AND sender = ?"
            " AND status IN ('signed','sent')",
            (chain_id, sender.lower()),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
