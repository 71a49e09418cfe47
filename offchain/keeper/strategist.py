"""Mean-variance targets for a vault, from its feeds' own price history (Chainlink ``getRoundData``
walking back from the latest round, all rounds read in one JSON-RPC batch) or from a CSV of prices;
queued through the vault's timelock by the runner (owner key) and applied when due (anyone).

Feeds' rounds are aligned by round index from the latest (the local stack updates every feed once
per step); a real deployment with feeds on different heartbeats should use a CSV source instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from eth_abi import decode as abi_decode

from offchain.chain.rpc import RpcError
from offchain.chain.vault import VaultState
from offchain.core.errors import ChainError, InputError, OptimisationError

if TYPE_CHECKING:
    from offchain.keeper.runner import Keeper

ROUND_TYPES = ["uint80", "int256", "uint256", "uint256", "uint80"]
# latestRoundData() / getRoundData(uint80) selectors
LATEST = "0xfeaf968c"
GET_ROUND = "0x9a6fc8f5"


def feed_history(keeper: Keeper, feeds: list[str], lookback: int) -> np.ndarray:
    """(rounds, n_feeds) answers, oldest first, from the last ``lookback`` rounds of each feed."""
    latest = keeper.rpc.batch([("eth_call", [{"to": f, "data": LATEST}, "latest"]) for f in feeds])
    calls, ids = [], []
    for f, r in zip(feeds, latest, strict=True):
        if isinstance(r, RpcError):
            raise ChainError(f"feed {f}: latestRoundData reverted: {r.reason}")
        rid = abi_decode(ROUND_TYPES, bytes.fromhex(r[2:]))[0]
        first = max(1, rid - lookback + 1)
        ids.append(rid - first + 1)
        for k in range(first, rid + 1):
            calls.append(("eth_call", [{"to": f, "data": GET_ROUND + k.to_bytes(32, "big").hex()}, "latest"]))
    res = keeper.rpc.batch(calls)
    n = min(ids)
    cols, pos = [], 0
    for count in ids:
        chunk = res[pos : pos + count][-n:]
        pos += count
        col = []
        for r in chunk:
            if isinstance(r, RpcError) or r is None:
                continue
            col.append(abi_decode(ROUND_TYPES, bytes.fromhex(r[2:]))[1])
        cols.append(col[-n:])
    m = min(len(c) for c in cols)
    if m < 3:
        raise ChainError(f"feeds have only {m} usable rounds; need at least 3 for a covariance")
    return np.array([c[-m:] for c in cols], dtype=float).T


def csv_history(path: str, symbols: list[str], lookback: int) -> np.ndarray:
    from offchain.quant.data import load_prices  # noqa: PLC0415

    df = load_prices(path)
    missing = [s for s in symbols if s not in df.columns]
    if missing:
        raise InputError(f"{path} has no column(s) {', '.join(missing)} (vault assets: {', '.join(symbols)})")
    return df[symbols].to_numpy(dtype=float)[-lookback:]


def targets_from_prices(prices: np.ndarray, objective: str) -> list[int]:
    from offchain.quant.optimize import to_bps  # noqa: PLC0415
    from offchain.quant.policies import optimise_targets  # noqa: PLC0415

    if np.any(~np.isfinite(prices)) or np.any(prices <= 0):
        raise InputError("price history holds non-positive or missing prices")
    rets = prices[1:] / prices[:-1] - 1.0
    try:
        w = optimise_targets(rets[None, :, :], objective)[0]
    except OptimisationError as exc:
        raise ChainError(f"optimiser failed: {exc}") from None
    if not np.all(np.isfinite(w)):
        raise ChainError(f"optimiser found no {objective} solution for this history (degenerate covariance?)")
    w = np.clip(w, 0.0, None)
    return [int(x) for x in to_bps(w / w.sum())]


def compute_targets(keeper: Keeper, st: VaultState) -> list[int]:
    cfg = keeper.cfg
    if cfg.targets_source == "feeds":
        prices = feed_history(keeper, list(st.feeds), cfg.targets_lookback)
    else:
        syms = [keeper.symbols.get(a.lower(), a) for a in st.assets]
        prices = csv_history(cfg.targets_source, syms, cfg.targets_lookback)
    return targets_from_prices(prices, cfg.targets_objective)


def describe(weights: list[int], symbols: list[str]) -> dict[str, Any]:
    return {s: w for s, w in zip(symbols, weights, strict=True)}
