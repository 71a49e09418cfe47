"""Decode the vault's raw logs into rows and pandas DataFrames; export CSV and Parquet.

Every event of ``contracts/RebalancingVault.vy`` is decoded from the vault's own ABI
(``offchain.chain.load_artifact``). Integers are kept exact (Python ints, ``object`` columns in the
frames); on export, integers that may exceed 64 bits and per-asset arrays are written as decimal
strings (arrays joined with ``;``) so nothing is rounded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic, to_checksum_address

from offchain.chain.node import CONTRACTS, load_artifact

log = logging.getLogger(__name__)

__all__ = ["Event", "EventDecoder", "TABLES", "frames", "export"]


@dataclass(frozen=True)
class Event:
    block: int
    tx_hash: str
    tx_index: int
    log_index: int
    address: str
    name: str
    args: dict[str, Any]


def _norm(typ: str, value: Any) -> Any:
    if typ == "address":
        return to_checksum_address(value)
    if isinstance(value, tuple | list):
        return [_norm(typ[:-2] if typ.endswith("[]") else typ, v) for v in value]
    return value


def contract_abi(name: str = "RebalancingVault") -> list[dict[str, Any]]:
    """ABI of ``contracts/**/<name>.vy``, cached on disk by the source's SHA-256.

    ``load_artifact`` compiles with Vyper (~5 s for the vault) whenever brownie's ``build/`` is
    missing or older than the source; the audit only needs the ABI, so it is kept in
    ``$XDG_CACHE_HOME/ballast/abi`` (default ``~/.cache``) once computed.
    """
    matches = sorted(CONTRACTS.rglob(f"{name}.vy"))
    if not matches:
        return load_artifact(name).abi  # raises the usual ConfigError
    digest = hashlib.sha256(matches[0].read_bytes()).hexdigest()[:20]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ballast" / "abi"
    cached = base / f"{name}-{digest}.json"
    try:
        return json.loads(cached.read_text())
    except (OSError, ValueError):
        pass
    abi = load_artifact(name).abi
    try:
        base.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(abi))
        tmp.replace(cached)
    except OSError as exc:  # read-only home: just no cache
        log.debug("cannot cache ABI (%s)", exc)
    return abi


class EventDecoder:
    """topic0 -> event ABI for one contract; ``decode(raw_log)`` -> ``Event`` (None if unknown)."""

    def __init__(self, contract: str = "RebalancingVault"):
        self.by_topic: dict[str, dict[str, Any]] = {}
        for item in contract_abi(contract):
            if item.get("type") == "event":
                self.by_topic["0x" + event_abi_to_log_topic(item).hex()] = item

    def decode(self, raw: dict[str, Any]) -> Event | None:
        topics = raw.get("topics") or []
        if not topics:
            return None
        abi = self.by_topic.get(topics[0].lower())
        if abi is None:
            return None
        indexed = [i for i in abi["inputs"] if i.get("indexed")]
        plain = [i for i in abi["inputs"] if not i.get("indexed")]
        args: dict[str, Any] = {}
        for inp, topic in zip(indexed, topics[1:], strict=False):
            (val,) = abi_decode([inp["type"]], bytes.fromhex(topic[2:]))
            args[inp["name"]] = _norm(inp["type"], val)
        data = raw.get("data") or "0x"
        if plain:
            vals = abi_decode([i["type"] for i in plain], bytes.fromhex(data[2:]))
            for inp, val in zip(plain, vals, strict=True):
                args[inp["name"]] = _norm(inp["type"], val)
        return Event(
            block=int(raw["blockNumber"], 16),
            tx_hash=raw["transactionHash"],
            tx_index=int(raw["transactionIndex"], 16),
            log_index=int(raw["logIndex"], 16),
            address=to_checksum_address(raw["address"]),
            name=abi["name"],
            args=args,
        )

    def decode_all(self, raws: Iterable[dict[str, Any]]) -> list[Event]:
        out = []
        for raw in raws:
            ev = self.decode(raw)
            if ev is None:
                log.debug(
                    "unknown log topic %s in tx %s", (raw.get("topics") or ["-"])[0], raw["transactionHash"]
                )
                continue
            out.append(ev)
        return out


# table name -> the events it holds
TABLES: dict[str, tuple[str, ...]] = {
    "rebalances": ("Rebalanced",),
    "swaps": ("Swapped",),
    "deposits": ("Deposited",),
    "redeems": ("Redeemed",),
    "targets": ("TargetWeightsQueued", "TargetWeightsApplied", "TargetWeightsCancelled"),
    "parameters": ("ParameterChanged", "ChangeQueued", "ChangeCancelled"),
    "roles": (
        "KeeperSet",
        "GuardianChanged",
        "OwnershipTransferStarted",
        "OwnershipTransferred",
    ),
    "pauses": ("Paused", "Unpaused"),
    "shares": ("Transfer", "Approval"),
}


def frames(events: list[Event], timestamps: dict[int, int] | None = None) -> dict[str, pd.DataFrame]:
    """One DataFrame per table in ``TABLES`` plus ``events`` (all of them, args as text)."""
    timestamps = timestamps or {}
    base = ["block", "timestamp", "tx_hash", "tx_index", "log_index", "event"]

    def row(ev: Event) -> dict[str, Any]:
        return {
            "block": ev.block,
            "timestamp": timestamps.get(ev.block),
            "tx_hash": ev.tx_hash,
            "tx_index": ev.tx_index,
            "log_index": ev.log_index,
            "event": ev.name,
        }

    out: dict[str, pd.DataFrame] = {}
    out["events"] = pd.DataFrame(
        [{**row(e), "args": _text_args(e.args)} for e in events], columns=[*base, "args"]
    )
    for table, names in TABLES.items():
        rows = [{**row(e), **e.args} for e in events if e.name in names]
        out[table] = pd.DataFrame(rows) if rows else pd.DataFrame(columns=base)
    return out


def _text(v: Any) -> Any:
    if isinstance(v, list):
        return ";".join(str(x) for x in v)
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int) and not -(2**63) <= v < 2**63:
        return str(v)
    return v


def _text_args(args: dict[str, Any]) -> str:
    return " ".join(f"{k}={_text(v)}" for k, v in args.items())


def exportable(df: pd.DataFrame) -> pd.DataFrame:
    """Same frame with arrays joined by ';' and object columns of ints as exact decimal strings."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object:
            vals = out[col].tolist()
            if any(isinstance(v, list) for v in vals) or any(
                isinstance(v, int) and not isinstance(v, bool) and not -(2**63) <= v < 2**63 for v in vals
            ):
                out[col] = [
                    None if v is None else (";".join(map(str, v)) if isinstance(v, list) else str(v))
                    for v in vals
                ]
            elif all(isinstance(v, int) and not isinstance(v, bool) for v in vals) and vals:
                out[col] = pd.Series(vals, dtype="int64", index=out.index)
    return out


def export(tables: dict[str, pd.DataFrame], out_dir: Path, parquet: bool = True) -> dict[str, list[Path]]:
    """Write ``<name>.csv`` (and ``<name>.parquet``) per table under ``out_dir/data``."""
    data = out_dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    for name, df in tables.items():
        flat = exportable(df)
        paths = [data / f"{name}.csv"]
        flat.to_csv(paths[0], index=False)
        if parquet:
            try:
                flat.to_parquet(data / f"{name}.parquet", index=False)
                paths.append(data / f"{name}.parquet")
            except ImportError:  # pragma: no cover - pyarrow is a pinned dependency
                log.warning("pyarrow is not installed: Parquet export skipped")
                parquet = False
        written[name] = paths
    return written
