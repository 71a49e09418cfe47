"""Keeper configuration: every option from a flag, an environment variable ``BALLAST_KEEPER_<NAME>``
or a TOML file's ``[keeper]`` table (``--config``; see ``examples/keeper.toml``), in that order of
precedence, over the defaults below. Unknown file keys are errors, so typos never pass silently.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from offchain.core.env import parse_flag  # the one boolean parser (1/0, true/false, ...)
from offchain.core.errors import ConfigError, InputError

ENV_PREFIX = "BALLAST_KEEPER_"


@dataclass
class KeeperConfig:
    manifest: str | None = None
    rpc_url: str | None = None
    submit_rpc_url: str | None = None  # e.g. a private-mempool endpoint; reads still use rpc_url
    vaults: list[str] = field(default_factory=list)  # empty: every vault in the manifest
    once: bool = False
    dry_run: bool = False
    interval: float = 12.0  # seconds between cycles
    log_json: bool = False
    policy: str | None = None  # None: the vault's own trigger (hybrid with its parameters)
    # keys (never logged)
    keystore: str | None = None
    password_file: str | None = None
    password_env: str | None = None
    private_key_env: str | None = None
    # fees and economics
    max_fee_gwei: float = 100.0
    priority_fee_gwei: float = 1.0
    bump_pct: int = 15
    stuck_after: float = 60.0  # seconds a sent transaction may stay unmined before a fee bump
    keeper_slippage_bps: int = 50
    fee_bps: int = 30
    benefit_factor: float = 0.01  # USD benefit per USD of (drift removed x vault value)
    min_benefit_ratio: float = 1.0  # send only when benefit >= ratio x (gas + swap fees + price impact)
    native_price_usd: float | None = None  # None: the manifest's WETH/ETH feed, else 3,000
    deadline: int = 300  # seconds from the current block for the rebalance's deadline
    gas_multiplier: float = 1.2
    # robustness
    journal: str | None = None  # default .ballast/keeper-<chain id>.sqlite
    confirmations: int = 6  # blocks a mined rebalance is watched for reorgs
    max_failures: int = 5  # consecutive failures before the circuit breaker stops the keeper
    receipt_timeout: float = 60.0
    poll: float = 0.2  # receipt polling interval, seconds
    rpc_timeout: float = 10.0
    rpc_retries: int = 6
    rpc_backoff: float = 0.25
    journal_retention: float = 30 * 86_400.0  # seconds settled journal rows are kept
    # many keepers
    shard: str | None = None  # "I/N": this keeper serves the vaults whose address hash is I mod N
    backup_after: float | None = None  # a backup: act only on vaults due and unserved this long
    # observability
    metrics_port: int | None = None
    low_balance_rebalances: int = 20  # warn when the balance covers fewer rebalances than this
    # strategist (section 3)
    targets_every: float | None = None  # seconds between target recomputations; None: off
    targets_source: str = "feeds"  # "feeds" (getRoundData history) or a CSV path
    targets_objective: str = "min-variance"
    targets_lookback: int = 90  # rounds / rows
    targets_min_change_bps: int = 50  # do not queue targets this close to the current ones


_BOOL = {"once", "dry_run", "log_json"}
_HELP = {
    "manifest": "deployment manifest (deployments/<chain-id>.json)",
    "rpc_url": "JSON-RPC URL for reads (and sends, unless --submit-rpc-url)",
    "submit_rpc_url": "separate URL for eth_sendRawTransaction, e.g. a private mempool (MEV protection)",
    "vaults": "vault address to watch (repeatable; default: every vault in the manifest)",
    "once": "run one cycle and exit",
    "dry_run": "do everything except send transactions",
    "interval": "seconds between cycles",
    "log_json": "one JSON object per decision instead of a human line",
    "policy": "keeper policy (threshold:500bps, band-edge:300bps, hybrid, calendar:monthly ...); "
    "default: the vault's own trigger",
    "keystore": "encrypted JSON keystore of the keeper key",
    "password_file": "file holding the keystore password",
    "password_env": "env var holding the keystore password",
    "private_key_env": "env var holding a raw private key (local chains only)",
    "max_fee_gwei": "cap on maxFeePerGas; above it the keeper waits",
    "priority_fee_gwei": "priority fee (tip)",
    "bump_pct": "fee bump for replacing a stuck transaction, %%",
    "stuck_after": "seconds before an unmined transaction is replaced with bumped fees",
    "keeper_slippage_bps": "keeper's own tolerance below the router quote",
    "fee_bps": "AMM swap fee assumed when sizing trades",
    "benefit_factor": "USD of benefit per USD of drift removed (drift fraction x vault value)",
    "min_benefit_ratio": "send only when benefit >= this x expected costs (gas + fees + impact)",
    "native_price_usd": "native token price for gas costs (default: WETH feed, else 3000)",
    "deadline": "rebalance deadline, seconds after the current block",
    "gas_multiplier": "gas limit = estimate x this",
    "journal": "SQLite journal path (default .ballast/keeper-<chain id>.sqlite)",
    "confirmations": "blocks a mined rebalance is watched for reorgs",
    "max_failures": "consecutive failures before the circuit breaker stops the keeper",
    "receipt_timeout": "seconds to wait for a receipt within a cycle",
    "poll": "receipt polling interval, seconds",
    "rpc_timeout": "HTTP timeout per JSON-RPC request, seconds",
    "rpc_retries": "retries (exponential backoff) on RPC transport errors",
    "rpc_backoff": "first retry delay, seconds",
    "journal_retention": "seconds settled journal rows (mined, reverted, dropped...) are kept before pruning",
    "shard": "I/N: serve only the vaults whose address hash is I modulo N (N keepers, one shard each); "
    "default: every vault",
    "backup_after": "run as a backup: act on a vault only once it has been due and unserved for this "
    "many seconds of chain time; default: off (a primary, acts at once)",
    "metrics_port": "serve Prometheus metrics on this port (127.0.0.1)",
    "low_balance_rebalances": "warn when the keeper's balance covers fewer rebalances than this",
    "targets_every": "recompute mean-variance targets every this many seconds (needs the owner key)",
    "targets_source": "'feeds' (Chainlink round history) or a CSV of prices",
    "targets_objective": "optimiser objective for targets",
    "targets_lookback": "rounds / rows of history for targets",
    "targets_min_change_bps": "queue new targets only if some weight moves at least this much",
}


def parse_shard(spec: str | None) -> tuple[int, int] | None:
    """``"I/N"`` as ``(I, N)`` with ``0 <= I < N`` (None: no sharding)."""
    if spec is None or str(spec).strip() == "":
        return None
    try:
        i, n = (int(x) for x in str(spec).split("/"))
    except ValueError:
        raise ConfigError(f"bad shard {spec!r}: expected I/N, e.g. 0/2") from None
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"bad shard {spec!r}: need 0 <= I < N")
    return i, n


def add_arguments(p: argparse.ArgumentParser) -> None:
    """One flag per field, default None (so the file and env can fill what the flags leave)."""
    p.add_argument("--config", help="TOML file with a [keeper] table (env BALLAST_KEEPER_CONFIG)")
    for f in fields(KeeperConfig):
        flag = "--" + ("vault" if f.name == "vaults" else f.name.replace("_", "-"))
        env = ENV_PREFIX + f.name.upper()
        shown = "" if f.default in (None, False, MISSING) else f" (default {f.default})"
        h = f"{_HELP.get(f.name, '')}{shown} (env {env})"
        if f.name in _BOOL:
            p.add_argument(flag, dest=f.name, action="store_const", const=True, default=None, help=h)
        elif f.name == "vaults":
            p.add_argument(flag, dest="vaults", action="append", default=None, metavar="ADDR", help=h)
        else:
            typ = _type(f)
            p.add_argument(flag, dest=f.name, type=typ, default=None, metavar=f.name.upper(), help=h)


def _type(f: Any) -> Any:
    t = str(f.type)
    if "float" in t:
        return float
    if "int" in t:
        return int
    return str


def _coerce(name: str, value: Any, where: str) -> Any:
    f = next(x for x in fields(KeeperConfig) if x.name == name)
    try:
        if name in _BOOL:
            return value if isinstance(value, bool) else parse_flag(str(value), where)
        if name == "vaults":
            if isinstance(value, str):
                return [v.strip() for v in value.replace(",", " ").split() if v.strip()]
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return list(value)
            raise ValueError(value)
        return _type(f)(value)
    except (TypeError, ValueError, InputError):
        raise ConfigError(f"{where}: bad value {value!r} for {name}") from None


def load_config(
    args: argparse.Namespace | None = None, environ: dict[str, str] | None = None
) -> KeeperConfig:
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = getattr(args, "config", None) or env.get(ENV_PREFIX + "CONFIG")
    names = {f.name for f in fields(KeeperConfig)}
    if path:
        p = Path(path)
        try:
            doc = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"keeper config file {p} not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p} is not valid TOML: {exc}") from None
        table = doc.get("keeper", doc)
        if not isinstance(table, dict):
            raise ConfigError(f"{p}: [keeper] must be a table")
        for k, v in table.items():
            key = k.replace("-", "_")
            key = "vaults" if key == "vault" else key
            if key not in names:
                raise ConfigError(f"{p}: unknown key {k!r} in [keeper]; allowed: {', '.join(sorted(names))}")
            values[key] = _coerce(key, v, str(p))
    for n in names:
        raw = env.get(ENV_PREFIX + n.upper())
        if raw is not None and raw != "":
            values[n] = _coerce(n, raw, f"env {ENV_PREFIX + n.upper()}")
    if args is not None:
        for n in names:
            v = getattr(args, n, None)
            if v is not None:
                values[n] = _coerce(n, v, "flag")
    cfg = KeeperConfig(**values)
    if cfg.interval < 0 or cfg.max_failures < 1 or cfg.rpc_retries < 0:
        raise ConfigError("interval must be >= 0, max-failures >= 1 and rpc-retries >= 0")
    parse_shard(cfg.shard)
    if cfg.backup_after is not None and cfg.backup_after < 0:
        raise ConfigError("backup-after must be >= 0 seconds")
    return cfg
