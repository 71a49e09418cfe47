"""SQLite journal of every submission. A row is written (with the signed raw transaction) *before*
it is broadcast, and updated as it is sent, mined, replaced, reverted or reorged out; a keeper
killed at any point and restarted finds the row and reconciles it (re-broadcasts the same signed
bytes, waits for it, or confirms it) instead of submitting a second rebalance.

States: ``signed`` (written, maybe not broadcast) -> ``sent`` -> ``mined`` (status 1) | ``reverted``
(status 0) | ``dropped`` (its nonce was used by another transaction) | ``expired`` (deadline passed,
never mined) | ``reorged`` (mined then removed by a reorg and not re-included).
Open states are ``signed`` and ``sent``; ``mined`` rows stay watched for ``confirmations`` blocks.

A chain is known by its chain id *and* its genesis hash (block 0), so a journal never mixes a reset
local chain with the old one. A send is identified by (sender, nonce); one signed transaction is one
row (signing the same bytes again reopens that row instead of adding a twin with the same hash).
One keeper process per (chain, sender): ``lock`` takes an OS file lock next to the SQLite file.
Settled rows older than the retention period are pruned (``prune``); every query of a cycle is
served by an index.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offchain.core.errors import ConfigError

OPEN = ("signed", "sent")
SETTLED = ("mined", "reverted", "dropped", "expired", "reorged")
# statuses whose nonce the chain has consumed (or may still consume): the next nonce is above them
_HOLDS_NONCE = "('signed','sent','mined','reverted')"
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
    updated_at REAL NOT NULL,
    genesis TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# what each cycle asks: open rows (per vault), recent mined rows, rows by hash, nonces per sender
INDEXES = """
CREATE INDEX IF NOT EXISTS submissions_status ON submissions(status);
CREATE INDEX IF NOT EXISTS submissions_open ON submissions(chain_id, genesis, status, vault);
CREATE INDEX IF NOT EXISTS submissions_mined ON submissions(chain_id, genesis, status, block_number);
CREATE INDEX IF NOT EXISTS submissions_hash ON submissions(tx_hash);
CREATE INDEX IF NOT EXISTS submissions_nonce ON submissions(chain_id, genesis, sender, nonce);
CREATE INDEX IF NOT EXISTS submissions_updated ON submissions(status, updated_at);
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
    genesis: str | None = None


class Journal:
    """``genesis``: the chain's block-0 hash; every query is scoped to (chain id, genesis)."""

    def __init__(self, path: str | Path, genesis: str | None = None):
        self.path = str(path)
        self.genesis = genesis
        self._lock_fd: int | None = None
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        cols = {r[1] for r in self.db.execute("PRAGMA table_info(submissions)")}
        if "genesis" not in cols:  # a journal from before the genesis scope
            self.db.execute("ALTER TABLE submissions ADD COLUMN genesis TEXT")
        self.db.executescript(INDEXES)

    def adopt(self, chain_id: int) -> int:
        """Rows written before the genesis scope existed belong to this chain: tag them."""
        if self.genesis is None:
            return 0
        cur = self.db.execute(
            "UPDATE submissions SET genesis = ? WHERE genesis IS NULL AND chain_id = ?",
            (self.genesis, chain_id),
        )
        return cur.rowcount

    def lock(self, chain_id: int, sender: str) -> Path | None:
        """One keeper process per (chain, sender): an exclusive OS lock on a file next to the journal.
        Raises ``ConfigError`` (one line) when another process holds it; released on ``close`` (or
        by the OS when the process dies)."""
        if self.path == ":memory:":
            return None
        tag = (self.genesis or "0x")[2:14]
        path = Path(self.path).parent / f"keeper-{chain_id}-{tag}-{sender.lower()}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ConfigError(
                f"another keeper (pid {holder}) already runs with key {sender} on chain {chain_id} "
                f"(lock {path}); one process per key"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd
        return path

    def close(self) -> None:
        self.db.close()
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                os.close(self._lock_fd)
            self._lock_fd = None

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
        """The row of this signed transaction: a new ``signed`` row, or, for bytes signed before
        (same hash), that row, reopened as ``signed`` unless it is already mined or reverted."""
        twin = self.by_hash(tx_hash, chain_id)
        if twin is not None:
            if twin.status not in ("mined", "reverted"):
                self.update(twin.id, status="signed", reason=None)
            return twin.id
        now = time.time()
        cur = self.db.execute(
            "INSERT INTO submissions (vault, sender, chain_id, nonce, tx_hash, raw_tx, tx, max_fee,"
            " priority_fee, deadline, trades, status, attempt, replaces, created_at, updated_at,"
            " genesis) VALUES (?,?,?,?,?,?,?,?,?,?,?,'signed',?,?,?,?,?)",
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
                self.genesis,
            ),
        )
        return int(cur.lastrowid or 0)

    def update(self, sid: int, **fields: Any) -> None:
        fields["updated_at"] = time.time()
        cols = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE submissions SET {cols} WHERE id = ?", (*fields.values(), sid))  # noqa: S608

    def get(self, sid: int) -> Submission:
        return self._rows("SELECT * FROM submissions WHERE id = ?", (sid,))[0]

    def by_hash(self, tx_hash: str, chain_id: int | None = None) -> Submission | None:
        """The submission that sent ``tx_hash`` on this chain (None: not one of ours)."""
        if chain_id is None:
            rows = self._rows(
                "SELECT * FROM submissions WHERE tx_hash = ? AND genesis IS ? ORDER BY id",
                (tx_hash, self.genesis),
            )
        else:
            rows = self._rows(
                "SELECT * FROM submissions WHERE tx_hash = ? AND chain_id = ? AND genesis IS ? ORDER BY id",
                (tx_hash, chain_id, self.genesis),
            )
        return rows[0] if rows else None

    def open(self, chain_id: int, vault: str | None = None) -> list[Submission]:
        """Submissions still in flight (signed or sent), oldest first."""
        if vault is None:
            return self._rows(
                "SELECT * FROM submissions WHERE chain_id = ? AND genesis IS ?"
                " AND status IN ('signed','sent') ORDER BY id",
                (chain_id, self.genesis),
            )
        return self._rows(
            "SELECT * FROM submissions WHERE chain_id = ? AND genesis IS ? AND vault = ?"
            " AND status IN ('signed','sent') ORDER BY id",
            (chain_id, self.genesis, vault.lower()),
        )

    def recent_mined(self, chain_id: int, since_block: int) -> list[Submission]:
        return self._rows(
            "SELECT * FROM submissions WHERE chain_id = ? AND genesis IS ? AND status = 'mined'"
            " AND block_number >= ? ORDER BY id",
            (chain_id, self.genesis, since_block),
        )

    def all(self) -> list[Submission]:
        return self._rows("SELECT * FROM submissions ORDER BY id")

    def max_nonce(self, chain_id: int, sender: str) -> int | None:
        """The highest nonce this sender's journal has used (open, mined or reverted): a lagging
        node's pending nonce never makes the keeper sign at a nonce it already used."""
        row = self.db.execute(
            "SELECT MAX(nonce) FROM submissions WHERE chain_id = ? AND genesis IS ? AND sender = ?"
            f" AND status IN {_HOLDS_NONCE}",  # noqa: S608 - a constant
            (chain_id, self.genesis, sender.lower()),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def prune(self, older_than_s: float, now: float | None = None) -> int:
        """Delete settled rows (mined, reverted, dropped, expired, reorged) not updated for
        ``older_than_s`` seconds (any chain); open rows are never pruned. Returns the count."""
        cutoff = (time.time() if now is None else now) - older_than_s
        marks = ",".join("?" * len(SETTLED))
        cur = self.db.execute(
            f"DELETE FROM submissions WHERE status IN ({marks}) AND updated_at < ?",  # noqa: S608
            (*SETTLED, cutoff),
        )
        return cur.rowcount

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
