"""A vault's history from the chain alone: logs -> events -> the historical state of every rebalance.

Which state a rebalance is checked against
------------------------------------------
A rebalance in transaction ``tx`` at index ``k`` of block ``B`` saw the state left by block ``B - 1``
plus the transactions ``0 .. k-1`` of block ``B``. Plain JSON-RPC only gives state at block
boundaries, so:

* **holdings** come from the event stream itself (exact, in log order, whatever else happened in
  the block): ``Deposited.amounts`` (+), ``Redeemed.amounts`` (-), ``Swapped`` (sell -amount_in,
  buy +amount_out), starting from zero at deployment (or ``get_holdings()`` at ``from_block - 1``);
* **parameters, targets, feed max ages, paused, keeper role, last_rebalance and feed answers** are
  read with ``eth_call`` at block ``B - 1``; the time is block ``B``'s timestamp;
* when ``k > 0`` the earlier transactions of block ``B`` are inspected (``eth_getBlockByNumber`` with
  full transactions and their receipts): one that was sent to, or emitted a log from, one of the
  vault's feeds (or the aggregator behind a Chainlink proxy feed, ``aggregator()`` at ``B - 1``),
  or that emitted a vault event changing parameters, targets, max ages, pause or roles, makes the
  ``B - 1`` state unreliable for that rebalance: rule ``MIDBLOCK``. A feed changed
  by an internal call that logs nothing is invisible without tracing (non-standard RPC); it is still
  caught whenever it changes what the vault computed, by ``EVENT``: every number of the
  ``Rebalanced`` and ``Swapped`` events (reason, drifts, values, weights, oracle-implied outputs) is
  recomputed from the ``B - 1`` state and must match exactly.

The rules themselves are in ``offchain.audit.rules``; ``offchain.audit.verify`` runs them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from web3 import Web3

from offchain.audit.decode import Event, EventDecoder
from offchain.audit.logs import LogStats, fetch_logs
from offchain.chain.rpc import (
    Rpc,
    RpcError,
    RpcUnavailable,
    decode_result,
    encode_call,
    is_transient,
    selector,
)
from offchain.core import model
from offchain.core.errors import ChainError, InputError

log = logging.getLogger(__name__)

# vault events that change what `rebalance` reads (besides holdings, which come from events)
CONFIG_EVENTS = {
    "ParameterChanged",
    "TargetWeightsApplied",
    "Paused",
    "Unpaused",
    "KeeperSet",
}

SCALARS = ("last_rebalance",)  # besides get_params(), which returns the ten parameters
# A vault without get_params() (a pre-issue-9 build or a permissive double): the parameters it has,
# read one by name; the others keep model.Params' defaults and I9 (no budget to check) is skipped.
LEGACY_PARAMS = model.PARAM_KINDS[:7]  # drift_threshold_bps .. rebalance_period

REBALANCE_SIG = "rebalance((address,address,uint256,uint256)[],uint256)"
REBALANCE_SELECTOR = "0x" + selector(REBALANCE_SIG).hex()


@dataclass
class VaultMeta:
    address: str
    assets: list[str]
    feeds: list[str]
    decimals: list[int]
    feed_decimals: list[int]
    deploy_block: int | None = None
    sequencer: str | None = None  # the L2 sequencer-uptime feed, if the vault has one
    sequencer_grace: int = 0
    has_params: bool = True  # get_params() (and the loss budget): False for a legacy vault ABI

    @property
    def n(self) -> int:
        return len(self.assets)


@dataclass
class HoldingsCheck:
    block: int
    rebuilt: list[int]
    reported: list[int]
    balances: list[int]


Tick = Callable[[str, int, int], None]  # (stage, done, total)


def _noop(_stage: str, _done: int, _total: int) -> None:
    return None


# ---- reading state ----


def node_failed(exc: BaseException) -> bool:
    """A failure of the node or the transport (after every retry), not an answer about the vault:
    it must stop the audit, never be read as "this view does not exist"."""
    return isinstance(exc, RpcUnavailable) or (isinstance(exc, RpcError) and is_transient(exc))


def _call(rpc: Rpc, to: str, sig: str, out: list[str], block: int, arg_types=(), args=()) -> tuple[Any, ...]:
    res = rpc.request("eth_call", [{"to": to, "data": encode_call(sig, arg_types, args)}, hex(block)])
    return decode_result(out, res)


def read_meta(rpc: Rpc, address: str, block: int) -> VaultMeta:
    """The vault's immutables (assets, feeds, decimals) at ``block``; InputError if not a vault."""
    if rpc.code(address, block) in ("0x", "", None):
        raise InputError(f"no contract code at {address} (block {block}): check --vault and --rpc-url")
    try:
        (assets,) = _call(rpc, address, "get_assets()", ["address[]"], block)
        (feeds,) = _call(rpc, address, "get_feeds()", ["address[]"], block)
    except Exception as exc:  # noqa: BLE001 - a revert or undecodable answer: not a vault
        if node_failed(exc):
            raise  # transport failure, not a revert
        raise InputError(
            f"{address} does not look like a RebalancingVault (get_assets/get_feeds failed)"
        ) from exc
    if not assets or len(assets) != len(feeds):
        raise InputError(f"{address} does not look like a RebalancingVault (no assets)")
    try:
        (config,) = _call(rpc, address, "get_asset_config()", ["uint256[]"], block)
        dec = [(c >> 160) & 255 for c in config]
        fdec = [(c >> 168) & 255 for c in config]
    except Exception as exc:  # noqa: BLE001 - a vault without get_asset_config(): ask the tokens and feeds
        if node_failed(exc):
            raise
        dec = [_call(rpc, a, "decimals()", ["uint8"], block)[0] for a in assets]
        fdec = [_call(rpc, f, "decimals()", ["uint8"], block)[0] for f in feeds]
    try:
        seq, grace = _call(rpc, address, "sequencer()", ["address", "uint256"], block)
    except Exception as exc:  # noqa: BLE001 - a vault without a sequencer view
        if node_failed(exc):
            raise
        seq, grace = None, 0
    try:
        _call(rpc, address, "get_params()", ["uint256[10]"], block)
        has_params = True
    except Exception as exc:  # noqa: BLE001 - a legacy vault: parameters by name
        if node_failed(exc):
            raise
        has_params = False
    zero = "0x" + "00" * 20
    return VaultMeta(
        Web3.to_checksum_address(address),
        [Web3.to_checksum_address(a) for a in assets],
        [Web3.to_checksum_address(f) for f in feeds],
        list(dec),
        list(fdec),
        sequencer=Web3.to_checksum_address(seq) if seq and seq.lower() != zero else None,
        sequencer_grace=int(grace),
        has_params=has_params,
    )


def find_deploy_block(rpc: Rpc, address: str, latest: int) -> int:
    """First block with code at ``address`` (binary search on eth_getCode); 0 if history is pruned."""
    lo, hi = 0, latest
    try:
        if rpc.code(address, 0) not in ("0x", ""):
            return 0
        while lo < hi:
            mid = (lo + hi) // 2
            if rpc.code(address, mid) in ("0x", ""):
                lo = mid + 1
            else:
                hi = mid
    except RpcError as exc:
        if is_transient(exc):
            raise
        log.warning("cannot read historical code (%s): scanning from block 0", exc.message)
        return 0
    return lo


def _hist_requests(meta: VaultMeta, block: int, keeper: str) -> list[tuple[str, list[Any]]]:
    v = meta.address
    reqs = [Rpc.call_req(v, encode_call(f"{name}()"), block) for name in SCALARS]
    if meta.has_params:
        reqs.append(Rpc.call_req(v, encode_call("get_params()"), block))
    else:
        reqs += [Rpc.call_req(v, encode_call(f"{name}()"), block) for name in LEGACY_PARAMS]
    reqs.append(Rpc.call_req(v, encode_call("paused()"), block))
    reqs.append(Rpc.call_req(v, encode_call("get_target_weights()"), block))
    reqs.append(Rpc.call_req(v, encode_call("get_max_ages()"), block))
    reqs.append(Rpc.call_req(v, encode_call("is_keeper(address)", ["address"], [keeper]), block))
    for f in meta.feeds:
        reqs.append(Rpc.call_req(f, encode_call("latestRoundData()"), block))
    if meta.sequencer:
        reqs.append(Rpc.call_req(meta.sequencer, encode_call("latestRoundData()"), block))
    return reqs


def _hist_size(meta: VaultMeta) -> int:
    """How many answers ``_hist_requests`` asks for."""
    params = 1 if meta.has_params else len(LEGACY_PARAMS)
    return len(SCALARS) + params + 4 + meta.n + (1 if meta.sequencer else 0)


def _parse_hist(meta: VaultMeta, res: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, name in enumerate(SCALARS):
        out[name] = decode_result(["uint256"], res[i])[0]
    k = len(SCALARS)
    if meta.has_params:
        out["params"] = model.Params.from_list(decode_result(["uint256[10]"], res[k])[0])
        k += 1
    else:
        named = {n: decode_result(["uint256"], res[k + j])[0] for j, n in enumerate(LEGACY_PARAMS)}
        out["params"] = model.Params(**named)
        k += len(LEGACY_PARAMS)
    out["paused"] = decode_result(["bool"], res[k])[0]
    out["targets"] = list(decode_result(["uint256[]"], res[k + 1])[0])
    out["max_ages"] = list(decode_result(["uint256[]"], res[k + 2])[0])
    out["is_keeper"] = decode_result(["bool"], res[k + 3])[0]
    # raw answers: decoded as the vault does (every word 256-bit), so a garbled feed is "unusable"
    out["rounds"] = [bytes.fromhex(str(r)[2:]) for r in res[k + 4 : k + 4 + meta.n]]
    if meta.sequencer:
        (answer, started) = decode_result(
            ["int256", "uint256"], "0x" + str(res[k + 4 + meta.n])[2 + 64 : 2 + 192]
        )
        out["sequencer"] = (answer, started)
    return out


# ---- the history, stage by stage ----


def fetch_events(
    rpc: Rpc,
    address: str,
    from_block: int,
    to_block: int,
    *,
    span: int,
    max_logs: int,
    tick: Tick = _noop,
    raws: list[dict[str, Any]] | None = None,
    start: int | None = None,
    on_logs: Callable[[int, list[dict[str, Any]]], None] | None = None,
) -> tuple[list[Event], LogStats]:
    """Every vault event in ``from_block .. to_block``, decoded, in log order. ``raws``: the raw logs
    of ``from_block .. start - 1``, already read (a checkpoint); ``on_logs(end, page)`` per page."""
    stats = LogStats()
    raws = list(raws or [])
    start = from_block if start is None else start
    if start <= to_block:
        raws += fetch_logs(
            rpc,
            address,
            start,
            to_block,
            span=span,
            max_logs=max_logs,
            stats=stats,
            on_page=lambda end, _n: tick("logs", end - from_block + 1, to_block - from_block + 1),
            on_logs=on_logs,
        )
    raws.sort(key=lambda lg: (int(lg["blockNumber"], 16), int(lg["logIndex"], 16)))
    return EventDecoder().decode_all(raws), stats


def fetch_blocks(
    rpc: Rpc, events: list[Event], rebal_events: list[Event]
) -> tuple[dict[int, int], dict[str, Any], dict[str, Any]]:
    """Timestamps of every block with an event, plus the receipt and transaction of every rebalance."""
    blocks = sorted({e.block for e in events})
    reqs: list[tuple[str, list[Any]]] = [("eth_getBlockByNumber", [hex(b), False]) for b in blocks]
    reqs += [("eth_getTransactionReceipt", [e.tx_hash]) for e in rebal_events]
    reqs += [("eth_getTransactionByHash", [e.tx_hash]) for e in rebal_events]
    # all of them exist (the logs name them): a null answer is a lagging node, asked again
    res = rpc.batch(reqs, strict=True, non_null=True)
    nb, nr = len(blocks), len(rebal_events)
    timestamps = {b: int(r["timestamp"], 16) for b, r in zip(blocks, res[:nb], strict=True)}
    receipts = dict(zip([e.tx_hash for e in rebal_events], res[nb : nb + nr], strict=True))
    txs = dict(zip([e.tx_hash for e in rebal_events], res[nb + nr :], strict=True))
    return timestamps, receipts, txs


def fetch_states(
    rpc: Rpc,
    meta: VaultMeta,
    rebal_events: list[Event],
    *,
    workers: int = 4,
    tick: Tick = _noop,
    raw: dict[str, list[Any]] | None = None,
    on_part: Callable[[], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """tx_hash -> the state each rebalance read (``eth_call`` at block - 1), batched. ``raw``: the
    answers already read (tx_hash -> raw results), filled in as parts arrive (``on_part()`` after
    each): a checkpoint."""
    raw = {} if raw is None else raw
    per = _hist_size(meta)
    chunk = max(1, rpc.batch_size // per)
    todo = [e for e in rebal_events if e.tx_hash not in raw]
    parts = [todo[i : i + chunk] for i in range(0, len(todo), chunk)]

    def fetch(part: list[Event]) -> list[Any]:
        reqs = [r for e in part for r in _hist_requests(meta, e.block - 1, e.args["keeper"])]
        try:
            return rpc.batch(reqs, strict=True)
        except RpcError as exc:
            if is_transient(exc):
                raise ChainError(f"the node kept failing on historical state: {exc.message}") from exc
            raise ChainError(
                f"the node cannot answer eth_call at historical blocks ({exc.message}): "
                "an archive node is needed"
            ) from exc

    done = len(rebal_events) - len(todo)
    # a few batches in flight at once: nodes answer concurrent requests in parallel
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for part, res in zip(parts, pool.map(fetch, parts), strict=True):
            for i, e in enumerate(part):
                raw[e.tx_hash] = res[i * per : (i + 1) * per]
            done += len(part)
            if on_part:
                on_part()
            tick("state", done, len(rebal_events))
    return {e.tx_hash: _parse_hist(meta, raw[e.tx_hash]) for e in rebal_events}


def _watched(meta: VaultMeta, blks: list[int], aggs: list[Any]) -> dict[int, dict[str, str]]:
    """Per block: the vault's feeds and the aggregator behind each (``aggregator()`` at block - 1)."""
    watched_by_block: dict[int, dict[str, str]] = {}
    for bi, b in enumerate(blks):
        watched = {f.lower(): f"feed {f}" for f in meta.feeds}
        for fi, f in enumerate(meta.feeds):
            r = aggs[bi * meta.n + fi]
            if isinstance(r, RpcError) and node_failed(r):
                raise r  # not "no aggregator": the feed's aggregator would go unwatched
            if isinstance(r, str) and len(r) == 66:
                agg = "0x" + r[-40:]
                if int(agg, 16):
                    watched.setdefault(agg.lower(), f"aggregator {Web3.to_checksum_address(agg)} of feed {f}")
        watched_by_block[b] = watched
    return watched_by_block


def _midblock(
    rpc: Rpc, meta: VaultMeta, events: list[Event], rebal_events: list[Event], receipts: dict[str, Any]
) -> dict[str, str]:
    """tx_hash -> why the block-1 state may not be what the rebalance saw (only when it may not).

    Watched addresses: the vault's feeds and, for Chainlink-style proxies, the aggregator each one
    pointed to at block - 1 (``aggregator()``; price updates are sent to the aggregator, not the proxy).
    """
    out: dict[str, str] = {}
    todo = [e for e in rebal_events if int(receipts[e.tx_hash]["transactionIndex"], 16) > 0]
    if not todo:
        return out
    blks = sorted({e.block for e in todo})
    blocks = rpc.batch([("eth_getBlockByNumber", [hex(b), True]) for b in blks], strict=True, non_null=True)
    txs_by_block = {int(b["number"], 16): b["transactions"] for b in blocks}
    agg_reqs = [Rpc.call_req(f, encode_call("aggregator()"), b - 1) for b in blks for f in meta.feeds]
    watched_by_block = _watched(meta, blks, rpc.batch(agg_reqs, strict=False))
    by_block: dict[int, list[Event]] = {}
    for x in events:
        if x.name in CONFIG_EVENTS:
            by_block.setdefault(x.block, []).append(x)
    for e in todo:
        watched = watched_by_block[e.block]
        k = int(receipts[e.tx_hash]["transactionIndex"], 16)
        reasons = [
            f"config event {x.name} in earlier tx {x.tx_hash}"
            for x in by_block.get(e.block, [])
            if x.tx_index < k
        ]
        earlier = [t for t in txs_by_block[e.block] if int(t["transactionIndex"], 16) < k]
        for t in earlier:
            to = (t.get("to") or "").lower()
            if to in watched:
                reasons.append(f"earlier tx {t['hash']} was sent to {watched[to]}")
        recs = rpc.batch(
            [("eth_getTransactionReceipt", [t["hash"]]) for t in earlier], strict=True, non_null=True
        )
        for t, r in zip(earlier, recs, strict=True):
            to = (t.get("to") or "").lower()
            for lg in r.get("logs") or []:
                addr = lg["address"].lower()
                if addr in watched and addr != to:
                    reasons.append(f"earlier tx {t['hash']} emitted a log from {watched[addr]}")
                    break
        if reasons:
            out[e.tx_hash] = "; ".join(dict.fromkeys(reasons))
    return out


def _min_outs(meta: VaultMeta, txn: dict[str, Any] | None) -> list[int] | None:
    """Each trade's ``min_amount_out`` from the transaction's input, when it called the vault
    directly (a call through another contract is not decodable without tracing: None)."""
    if not txn or (txn.get("to") or "").lower() != meta.address.lower():
        return None
    data = txn.get("input") or txn.get("data") or "0x"
    if not data.startswith(REBALANCE_SELECTOR):
        return None
    try:
        trades, _deadline = decode_result(
            ["(address,address,uint256,uint256)[]", "uint256"], "0x" + data[10:]
        )
    except Exception:  # noqa: BLE001 - malformed input: the vault would have reverted
        return None
    return [int(t[3]) for t in trades]


# ---- holdings replayed from events, and read back at sampled blocks ----


def apply_event(holdings: list[int], e: Event, index: dict[str, int]) -> list[int]:
    """Holdings after a ``Deposited``, ``Redeemed`` or ``Swapped`` event (any other: unchanged)."""
    if e.name == "Deposited":
        return [h + a for h, a in zip(holdings, e.args["amounts"], strict=True)]
    if e.name == "Redeemed":
        return [h - a for h, a in zip(holdings, e.args["amounts"], strict=True)]
    if e.name == "Swapped":
        s, b = index.get(e.args["sell"]), index.get(e.args["buy"])
        if s is not None and b is not None:
            holdings[s] -= e.args["amount_in"]
            holdings[b] += e.args["amount_out"]
    return holdings


def _sample_blocks(event_blocks: list[int], to_block: int, samples: int) -> list[int]:
    if len(event_blocks) <= samples:
        chosen = list(event_blocks)
    else:
        step = (len(event_blocks) - 1) / max(1, samples - 1)
        chosen = sorted({event_blocks[round(i * step)] for i in range(samples)})
    if to_block not in chosen:
        chosen.append(to_block)
    return chosen


def fetch_holdings(
    rpc: Rpc,
    meta: VaultMeta,
    after_block: dict[int, list[int]],
    to_block: int,
    samples: int,
    final: list[int],
) -> list[HoldingsCheck]:
    """At up to ``samples`` event blocks (and ``to_block``): the holdings rebuilt from events (as of
    the end of that block), ``get_holdings()`` and every asset's ``balanceOf(vault)``."""
    event_blocks = sorted(after_block)
    chosen = _sample_blocks(event_blocks, to_block, samples)
    reqs: list[tuple[str, list[Any]]] = []
    for b in chosen:
        reqs.append(Rpc.call_req(meta.address, encode_call("get_holdings()"), b))
        for a in meta.assets:
            reqs.append(Rpc.call_req(a, encode_call("balanceOf(address)", ["address"], [meta.address]), b))
    try:
        res = rpc.batch(reqs, strict=True)
    except RpcError as exc:
        raise ChainError(
            f"cannot read historical holdings ({exc.message}): an archive node is needed"
        ) from exc
    per = 1 + meta.n
    checks: list[HoldingsCheck] = []
    for k, b in enumerate(chosen):
        prior = [x for x in event_blocks if x <= b]
        rebuilt = after_block[prior[-1]] if prior else (final if not event_blocks else [0] * meta.n)
        reported = list(decode_result(["uint256[]"], res[k * per])[0])
        balances = [decode_result(["uint256"], r)[0] for r in res[k * per + 1 : (k + 1) * per]]
        checks.append(HoldingsCheck(b, list(rebuilt), reported, balances))
    return checks
