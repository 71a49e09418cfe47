"""An audit's progress on disk, so that ``ballast audit --resume`` continues after any failure.

One JSON file, keyed by chain id + vault + block range: the raw logs read so far (and the last block
they cover), then each later stage's raw answers (block timestamps, receipts and transactions, the
historical state of each rebalance, the mid-block findings). Everything the verdict depends on is
re-derived from these raw answers exactly as in a run without a checkpoint, so a resumed audit
reaches the same verdict as a clean one. It is written atomically (temporary file + rename), at
most every ``every`` seconds while a stage runs, at the end of each stage and on any failure;
``remove()`` deletes it once the audit has finished.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from offchain.audit.decode import Event
from offchain.audit.history import Tick, VaultMeta, _midblock, _noop, fetch_blocks, fetch_events, fetch_states
from offchain.audit.logs import LogStats
from offchain.chain.rpc import Rpc
from offchain.core.errors import InputError

__all__ = ["Checkpoint", "events_stage", "blocks_stage", "states_stage", "midblock_stage"]

log = logging.getLogger(__name__)

VERSION = 1


class Checkpoint:
    """``Checkpoint(path, resume=True)`` loads ``path`` if it exists; ``bind(...)`` fixes the key."""

    def __init__(self, path: Path, *, resume: bool = False, every: float = 2.0):
        self.path = Path(path)
        self.every = every
        self.data: dict[str, Any] = {}
        self.resumed = False
        self._saved = 0.0
        if resume and self.path.exists():
            try:
                self.data = json.loads(self.path.read_text())
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot read the checkpoint {self.path}: {exc}") from exc
            if self.data.get("version") != VERSION or not isinstance(self.data.get("key"), dict):
                raise InputError(f"{self.path} is not a ballast audit checkpoint (version {VERSION})")
            self.resumed = True
        elif resume:
            log.info("no checkpoint at %s: starting from the first block", self.path)

    # ---- the key ----

    @property
    def key(self) -> dict[str, Any]:
        return dict(self.data.get("key") or {})

    def range_for(
        self, chain_id: int, vault: str, from_block: int | None, to_block: int | str | None
    ) -> tuple[int | None, int | str | None]:
        """The range to audit when resuming: the checkpoint's (the head has moved on since), after
        checking that it is for this chain and vault and that any range asked for is the same."""
        if not self.resumed:
            return from_block, to_block
        k = self.key
        if k.get("chain_id") != chain_id or str(k.get("vault", "")).lower() != vault.lower():
            raise InputError(
                f"the checkpoint {self.path} is for vault {k.get('vault')} on chain {k.get('chain_id')}, "
                f"not {vault} on chain {chain_id}: drop --resume or use another --checkpoint"
            )
        for name, asked, stored in (
            ("--from-block", from_block, k.get("from_block")),
            ("--to-block", to_block, k.get("to_block")),
        ):
            if isinstance(asked, int) and asked != stored:
                raise InputError(
                    f"{name} {asked} differs from the checkpoint's {stored} ({self.path}): "
                    "drop --resume or ask for the same range"
                )
        return int(k["from_block"]), int(k["to_block"])

    def bind(self, chain_id: int, vault: str, from_block: int, to_block: int, how: str) -> None:
        key = {"chain_id": chain_id, "vault": vault, "from_block": from_block, "to_block": to_block}
        if self.resumed and {k: self.key.get(k) for k in key} == key:
            self.data["key"]["how"] = self.data["key"].get("how") or how
            return
        self.resumed = False
        self.data = {"version": VERSION, "key": {**key, "how": how}, "stages": {}}

    # ---- stages ----

    def get(self, stage: str) -> Any:
        return (self.data.get("stages") or {}).get(stage)

    def put(self, stage: str, value: Any, *, final: bool = True) -> None:
        """Record ``stage``'s raw answers; written now when ``final``, else at most every ``every`` s."""
        self.data.setdefault("stages", {})[stage] = value
        self.save(force=final)

    def save(self, force: bool = True) -> None:
        if not self.data or (not force and time.monotonic() - self._saved < self.every):
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data))
        os.replace(tmp, self.path)
        self._saved = time.monotonic()

    def remove(self) -> None:
        for p in (self.path, self.path.with_name(self.path.name + ".tmp")):
            p.unlink(missing_ok=True)


# ---- the stages, each taken from the checkpoint when it has it (``ckpt`` None: no checkpoint) ----


def events_stage(
    rpc: Rpc,
    ckpt: Checkpoint | None,
    address: str,
    from_block: int,
    to_block: int,
    *,
    span: int,
    max_logs: int,
    tick: Tick = _noop,
) -> tuple[list[Event], LogStats]:
    """The vault's events; the logs read so far are kept page by page (``{"done": block, "raws"}``)."""
    if ckpt is None:
        return fetch_events(rpc, address, from_block, to_block, span=span, max_logs=max_logs, tick=tick)
    done = ckpt.get("logs") or {"done": from_block - 1, "raws": []}
    raws: list[dict[str, Any]] = list(done["raws"])
    start = int(done["done"]) + 1

    def keep(end: int, page: list[dict[str, Any]]) -> None:
        raws.extend(page)
        ckpt.put("logs", {"done": end, "raws": raws}, final=False)

    events, stats = fetch_events(
        rpc, address, from_block, to_block, span=span, max_logs=max_logs, tick=tick,
        raws=list(raws), start=start, on_logs=keep,
    )  # fmt: skip
    ckpt.put("logs", {"done": to_block, "raws": raws})
    return events, stats


def blocks_stage(
    rpc: Rpc, ckpt: Checkpoint | None, events: list[Event], rebal_events: list[Event]
) -> tuple[dict[int, int], dict[str, Any], dict[str, Any]]:
    got = ckpt.get("blocks") if ckpt else None
    if got:
        return {int(b): t for b, t in got["timestamps"].items()}, got["receipts"], got["txs"]
    timestamps, receipts, txs = fetch_blocks(rpc, events, rebal_events)
    if ckpt:
        ckpt.put("blocks", {"timestamps": timestamps, "receipts": receipts, "txs": txs})
    return timestamps, receipts, txs


def states_stage(
    rpc: Rpc,
    ckpt: Checkpoint | None,
    meta: VaultMeta,
    rebal_events: list[Event],
    *,
    workers: int,
    tick: Tick = _noop,
) -> dict[str, dict[str, Any]]:
    """Historical state of each rebalance; the raw answers kept part by part."""
    if ckpt is None:
        return fetch_states(rpc, meta, rebal_events, workers=workers, tick=tick)
    raw: dict[str, list[Any]] = ckpt.get("state") or {}
    ckpt.put("state", raw, final=False)
    hist = fetch_states(
        rpc, meta, rebal_events, workers=workers, tick=tick, raw=raw, on_part=lambda: ckpt.save(False)
    )
    ckpt.put("state", raw)
    return hist


def midblock_stage(
    rpc: Rpc,
    ckpt: Checkpoint | None,
    meta: VaultMeta,
    events: list[Event],
    rebal_events: list[Event],
    receipts: dict[str, Any],
) -> dict[str, str]:
    got = ckpt.get("midblock") if ckpt else None
    if got is not None:
        return dict(got)
    out = _midblock(rpc, meta, events, rebal_events, receipts)
    if ckpt:
        ckpt.put("midblock", out)
    return out
