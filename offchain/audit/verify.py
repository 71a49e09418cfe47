"""Re-check every rebalance of a vault from its logs plus historical state, with ``offchain.core.model``.

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

Rules (the vault's invariants I1-I9, ``contracts/RebalancingVault.vy``), each with ``offchain.core.model``:

* ``I0-access``: ``paused()`` false and ``is_keeper(keeper)`` true at ``B - 1``.
* ``I1-trigger``: ``model.trigger(drift_before_wad, ts(B), last_rebalance, params) != NONE``.
* ``I2-prices``: ``model.feed_status(...) == FEED_OK`` for every feed (answers at ``B - 1``,
  ``max_age`` from ``get_max_ages()``, now = ``ts(B)``).
* ``I3-slippage``: per swap, sell != buy, both vault assets, ``amount_in <= holdings[sell]``
  (running), ``amount_out >= model.min_acceptable_out(model.oracle_out(...), max_slippage_bps)``,
  and the same bound for the trade's ``min_amount_out`` (decoded from the transaction input when
  the keeper called the vault directly; ``eth_getTransactionByHash``).
* ``I4-size``: running sum of ``ceil(amount_in * price_sell / 10**dec_sell)`` (each trade rounded
  up, the vault's favour) ``<= value_before * max_trade_bps // 10_000``, as the vault checks it.
* ``I5-away`` / ``I5-overshoot``: per touched asset, ``|w_after - t| <= |w_before - t|`` (WAD); if
  it crossed its target, ``|w_after - t| <= tolerance_bps * 1e14``.
* ``I6-drift``: ``drift_after_wad < drift_before_wad``.
* ``I7-value``: ``value_after + floor(amount_in * price_sell / unit) summed * max_slippage_bps // 10_000
  >= value_before``.
* ``I8-roundtrip`` (``rule_roundtrip``): no asset both sold and bought in one rebalance.
* ``I8-direction`` (``rule_direction``): only assets above target (exact, at the oracle values before
  the rebalance, ``model.trade_rooms``) sold, only assets below target bought.
* ``I8-caps`` (``rule_caps``): per asset, the value sold (each trade rounded up) within its sell room
  ``v - ceil(target value)``, the value bought (rounded up) within ``floor(target value) - v +
  floor(V * tolerance_bps / 10_000)``, both used up trade by trade as the vault does.
* ``I9-budget`` (``rule_budget``): the loss budget replayed from history: the use stored at the
  previous rebalance (``loss_budget_used()`` before the window, or 0 from deployment), drained since
  at ``loss_budget_bps / loss_window``, plus ``model.loss_charge``, within ``loss_budget_bps``.
* ``TIMELOCK`` (``check_timelock``): every ``ParameterChanged`` that loosened (``model.loosens``; a
  larger max age), every ``KeeperSet(enabled=True)`` after the deployment and every
  ``TargetWeightsApplied`` matches a ``ChangeQueued`` of the same kind and value (not cancelled) whose
  eta is <= the change's block time; a tightening may be immediate.
* ``EVENT``: the vault's events equal the recomputation (see above).
* ``MIDBLOCK``: see above.
* ``ACCOUNTING``: at sampled blocks, holdings rebuilt from events == ``get_holdings()``.
* ``SOLVENCY``: at sampled blocks, ``balanceOf(vault) >= holdings`` for every asset.

``SURPLUS`` (``balanceOf(vault) > holdings``: donations or anything else sent outside the vault's
accounting) is a *finding*, not a violation: the vault ignores such tokens by design.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3

from offchain.audit.decode import Event, EventDecoder
from offchain.audit.logs import LogStats, fetch_logs
from offchain.chain.rpc import Rpc, RpcError, RpcUnavailable, decode_result, encode_call, selector
from offchain.core import model
from offchain.core.errors import ChainError, InputError

log = logging.getLogger(__name__)

__all__ = ["RULES", "Violation", "Finding", "RebalanceCheck", "AuditResult", "VaultMeta", "audit"]

RULES: dict[str, str] = {
    "I0-access": "caller held the keeper role and the vault was not paused",
    "I1-trigger": "trigger held before trading (cooldown, THRESHOLD or CALENDAR)",
    "I2-prices": "every feed fresh, complete and positive",
    "I3-slippage": "each swap's output >= oracle-implied output less max_slippage_bps",
    "I4-size": "value sold <= max_trade_bps of vault value",
    "I5-away": "no touched asset ended further from its target",
    "I5-overshoot": "no touched asset crossed its target by more than tolerance_bps",
    "I6-drift": "drift strictly fell",
    "I7-value": "value lost <= value sold * max_slippage_bps",
    "I8-roundtrip": "no asset was both sold and bought in one rebalance",
    "I8-direction": "only assets above target were sold and only assets below target bought (oracle, before)",
    "I8-caps": "per asset: value sold <= its excess over target, value bought <= shortfall + tolerance",
    "I9-budget": "the loss against the oracle fits the leaky-bucket loss budget (replayed from history)",
    "TIMELOCK": "every loosening, new keeper and new target set applied no sooner than its queued eta",
    "EVENT": "the vault's events match the recomputation from historical state",
    "MIDBLOCK": "no earlier transaction in the same block touched the vault's feeds or configuration",
    "ACCOUNTING": "holdings rebuilt from events equal get_holdings()",
    "SOLVENCY": "token balances cover the holdings",
}

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
LEGACY_PARAMS = (
    "drift_threshold_bps",
    "min_drift_bps",
    "max_slippage_bps",
    "max_trade_bps",
    "tolerance_bps",
    "cooldown",
    "rebalance_period",
)


@dataclass(frozen=True)
class Violation:
    rule: str
    tx_hash: str | None
    block: int
    detail: str


@dataclass(frozen=True)
class Finding:
    kind: str
    block: int
    detail: str
    asset: str = ""
    amount: int = 0


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
class RebalanceCheck:
    """One rebalance, recomputed: everything the report needs, plus its violations."""

    tx_hash: str
    block: int
    tx_index: int
    timestamp: int
    keeper: str
    sender: str
    reason: int
    params: model.Params
    last_rebalance: int
    targets: list[int]
    prices: list[int]
    holdings_before: list[int]
    holdings_after: list[int]
    drift_before_wad: int
    drift_after_wad: int
    value_before: int
    value_after: int
    weights_before: list[int]  # bps, as the event
    weights_after: list[int]
    sold_value: int  # 1e18 quote units, rounded down
    slippage_value: int  # sum over swaps of (expected - out) valued at the buy price (1e18 quote units)
    n_swaps: int
    loss_used: int  # loss budget in use after this rebalance, model.LOSS_ONE units
    gas_used: int
    gas_price: int  # effectiveGasPrice, wei
    violations: list[Violation] = field(default_factory=list)

    @property
    def gas_paid(self) -> int:
        return self.gas_used * self.gas_price


@dataclass
class HoldingsCheck:
    block: int
    rebuilt: list[int]
    reported: list[int]
    balances: list[int]


@dataclass
class AuditResult:
    meta: VaultMeta
    from_block: int
    to_block: int
    events: list[Event]
    timestamps: dict[int, int]
    rebalances: list[RebalanceCheck]
    holdings_checks: list[HoldingsCheck]
    violations: list[Violation]
    findings: list[Finding]
    log_stats: LogStats
    rpc_calls: int
    timings: dict[str, float] = field(default_factory=dict)


Tick = Callable[[str, int, int], None]  # (stage, done, total)


def _noop(_stage: str, _done: int, _total: int) -> None:
    return None


# ---- reading state ----


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
        if isinstance(exc, RpcUnavailable):
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
    except Exception:  # noqa: BLE001 - a vault without get_asset_config(): ask the tokens and feeds
        dec = [_call(rpc, a, "decimals()", ["uint8"], block)[0] for a in assets]
        fdec = [_call(rpc, f, "decimals()", ["uint8"], block)[0] for f in feeds]
    try:
        seq, grace = _call(rpc, address, "sequencer()", ["address", "uint256"], block)
    except Exception:  # noqa: BLE001 - a vault without a sequencer view
        seq, grace = None, 0
    try:
        _call(rpc, address, "get_params()", ["uint256[10]"], block)
        has_params = True
    except Exception as exc:  # noqa: BLE001 - a legacy vault: parameters by name
        if isinstance(exc, RpcUnavailable):
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


# ---- the audit ----


def audit(
    rpc: Rpc,
    vault: str,
    from_block: int | None = None,
    to_block: int | None = None,
    *,
    samples: int = 50,
    log_span: int = 2_000,
    max_logs: int = 10_000,
    workers: int = 4,
    tick: Tick = _noop,
) -> AuditResult:
    import time  # noqa: PLC0415

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    latest = rpc.block_number()
    to_block = latest if to_block is None else to_block
    if to_block > latest:
        raise InputError(f"--to-block {to_block} is past the node's latest block {latest}")
    address = Web3.to_checksum_address(vault)
    meta = read_meta(rpc, address, to_block)
    if from_block is None:
        from_block = find_deploy_block(rpc, address, to_block)
        meta.deploy_block = from_block
    if from_block > to_block:
        raise InputError(f"--from-block {from_block} is after --to-block {to_block}")

    # 1. logs
    stats = LogStats()
    raws = fetch_logs(
        rpc,
        address,
        from_block,
        to_block,
        span=log_span,
        max_logs=max_logs,
        stats=stats,
        on_page=lambda end, _n: tick("logs", end - from_block + 1, to_block - from_block + 1),
    )
    events = EventDecoder().decode_all(raws)
    timings["logs"] = time.perf_counter() - t0

    # 2. timestamps of every block with an event, plus receipts of rebalance txs
    t1 = time.perf_counter()
    blocks = sorted({e.block for e in events})
    rebal_events = [e for e in events if e.name == "Rebalanced"]
    reqs: list[tuple[str, list[Any]]] = [("eth_getBlockByNumber", [hex(b), False]) for b in blocks]
    reqs += [("eth_getTransactionReceipt", [e.tx_hash]) for e in rebal_events]
    reqs += [("eth_getTransactionByHash", [e.tx_hash]) for e in rebal_events]
    res = rpc.batch(reqs, strict=True)
    nb, nr = len(blocks), len(rebal_events)
    timestamps = {b: int(r["timestamp"], 16) for b, r in zip(blocks, res[:nb], strict=True)}
    receipts = dict(zip([e.tx_hash for e in rebal_events], res[nb : nb + nr], strict=True))
    txs = dict(zip([e.tx_hash for e in rebal_events], res[nb + nr :], strict=True))
    timings["blocks"] = time.perf_counter() - t1

    # 3. historical state before each rebalance (block - 1), batched
    t2 = time.perf_counter()
    hist: dict[str, dict[str, Any]] = {}
    per = (
        len(SCALARS)
        + (1 if meta.has_params else len(LEGACY_PARAMS))
        + 4
        + meta.n
        + (1 if meta.sequencer else 0)
    )
    chunk = max(1, rpc.batch_size // per)
    parts = [rebal_events[i : i + chunk] for i in range(0, len(rebal_events), chunk)]

    def fetch(part: list[Event]) -> list[Any]:
        reqs = [r for e in part for r in _hist_requests(meta, e.block - 1, e.args["keeper"])]
        try:
            return rpc.batch(reqs, strict=True)
        except RpcError as exc:
            raise ChainError(
                f"the node cannot answer eth_call at historical blocks ({exc.message}): "
                "an archive node is needed"
            ) from exc

    done = 0
    # a few batches in flight at once: nodes answer concurrent requests in parallel
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for part, res in zip(parts, pool.map(fetch, parts), strict=True):
            for i, e in enumerate(part):
                hist[e.tx_hash] = _parse_hist(meta, res[i * per : (i + 1) * per])
            done += len(part)
            tick("state", done, len(rebal_events))
    timings["state"] = time.perf_counter() - t2

    # 4. mid-block: earlier transactions in the same block
    t3 = time.perf_counter()
    midblock = _midblock(rpc, meta, events, rebal_events, receipts)
    timings["midblock"] = time.perf_counter() - t3

    # 5. replay events, verify each rebalance
    t4 = time.perf_counter()
    holdings = [0] * meta.n
    if (
        from_block > 0
        and meta.deploy_block != from_block
        and rpc.code(address, from_block - 1) not in ("0x", "")
    ):
        # the window starts after deployment: start from the vault's own view at from_block - 1
        (h0,) = _call(rpc, address, "get_holdings()", ["uint256[]"], from_block - 1)
        holdings = list(h0)
    loss_used = _initial_loss_used(rpc, address, from_block, meta)
    index = {a: i for i, a in enumerate(meta.assets)}
    by_tx: dict[str, list[Event]] = {}
    for e in events:
        by_tx.setdefault(e.tx_hash, []).append(e)
    rebal_txs = {e.tx_hash for e in rebal_events}
    checks: list[RebalanceCheck] = []
    violations: list[Violation] = []
    after_block: dict[int, list[int]] = {}  # holdings at the end of each event block
    done_tx: set[str] = set()
    for e in events:
        if e.tx_hash in rebal_txs:
            if e.tx_hash not in done_tx:
                done_tx.add(e.tx_hash)
                chk = _verify_rebalance(
                    meta,
                    index,
                    by_tx[e.tx_hash],
                    holdings,
                    hist[e.tx_hash],
                    timestamps[e.block],
                    receipts[e.tx_hash],
                    midblock.get(e.tx_hash),
                    txs[e.tx_hash],
                    loss_used,
                )
                loss_used = chk.loss_used
                checks.append(chk)
                violations.extend(chk.violations)
                holdings = list(chk.holdings_after)
        elif e.name == "Deposited":
            holdings = [h + a for h, a in zip(holdings, e.args["amounts"], strict=True)]
        elif e.name == "Redeemed":
            holdings = [h - a for h, a in zip(holdings, e.args["amounts"], strict=True)]
        elif e.name == "Swapped":  # a swap outside any rebalance: the vault never does that
            violations.append(
                Violation("EVENT", e.tx_hash, e.block, "Swapped without Rebalanced in the same tx")
            )
            s, b = index.get(e.args["sell"]), index.get(e.args["buy"])
            if s is not None and b is not None:
                holdings[s] -= e.args["amount_in"]
                holdings[b] += e.args["amount_out"]
        after_block[e.block] = list(holdings)
    if meta.has_params:  # a legacy vault has no timelock to check
        violations.extend(
            check_timelock(events, timestamps, _initial_pending(rpc, address, from_block, meta))
        )
    timings["verify"] = time.perf_counter() - t4

    # 6. holdings vs get_holdings() and balanceOf at sampled blocks
    t5 = time.perf_counter()
    hchecks, hviol, findings = _check_holdings(
        rpc, meta, after_block, from_block, to_block, samples, holdings
    )
    violations.extend(hviol)
    timings["holdings"] = time.perf_counter() - t5
    timings["total"] = time.perf_counter() - t0
    violations.sort(key=lambda v: (v.block, v.tx_hash or "", v.rule))
    return AuditResult(
        meta,
        from_block,
        to_block,
        events,
        timestamps,
        checks,
        hchecks,
        violations,
        findings,
        stats,
        rpc.calls,
        timings,
    )


def _initial_loss_used(rpc: Rpc, address: str, from_block: int, meta: VaultMeta) -> int:
    """The loss-budget use the vault stored at its last rebalance before ``from_block`` (0 from the
    deployment): rebuilt from ``loss_budget_used()`` at ``from_block - 1`` plus the drain since."""
    if (
        not meta.has_params
        or from_block == 0
        or meta.deploy_block == from_block
        or rpc.code(address, from_block - 1) in ("0x", "")
    ):
        return 0
    blk = from_block - 1
    (used,) = _call(rpc, address, "loss_budget_used()", ["uint256"], blk)
    (last,) = _call(rpc, address, "last_rebalance()", ["uint256"], blk)
    (raw,) = _call(rpc, address, "get_params()", ["uint256[10]"], blk)
    p = model.Params.from_list(raw)
    ts = int(rpc.request("eth_getBlockByNumber", [hex(blk), False])["timestamp"], 16)
    return used + (ts - last) * p.loss_budget_bps * model.BPS_TO_LOSS // p.loss_window


def _initial_pending(rpc: Rpc, address: str, from_block: int, meta: VaultMeta) -> dict[int, tuple[int, int]]:
    """Changes queued before the audited window (``pending_changes()`` at ``from_block - 1``)."""
    if (
        not meta.has_params
        or from_block == 0
        or meta.deploy_block == from_block
        or rpc.code(address, from_block - 1) in ("0x", "")
    ):
        return {}
    try:
        (rows,) = _call(rpc, address, "pending_changes()", ["(uint256,uint256,uint256)[]"], from_block - 1)
    except Exception as exc:  # noqa: BLE001 - no such view: nothing known to be queued
        if isinstance(exc, RpcUnavailable):
            raise
        return {}
    return {int(k): (int(v), int(eta)) for k, v, eta in rows}


def check_timelock(
    events: list[Event],
    timestamps: dict[int, int],
    pending: dict[int, tuple[int, int]] | None = None,
) -> list[Violation]:
    """TIMELOCK: every change that loosened a bound, added a keeper or set new targets was announced by
    a ``ChangeQueued`` of the same kind and value, not cancelled, and applied at or after its eta.
    Tightening changes (and the deployment's own keeper) may be immediate. ``pending``: kind ->
    (value, eta) already queued before the first event (``pending_changes()`` before the window)."""
    pending = dict(pending or {})  # kind -> (value, eta)
    deploy_txs = {
        e.tx_hash
        for e in events
        if e.name == "OwnershipTransferred" and int(e.args["previous_owner"], 16) == 0
    }
    out: list[Violation] = []

    def applied(e: Event, kind: int, value: int, what: str) -> None:
        ts = timestamps.get(e.block, 0)
        q = pending.pop(kind, None)
        if q is None or q[0] != value:
            out.append(Violation("TIMELOCK", e.tx_hash, e.block, f"{what} applied without being queued"))
        elif ts < q[1]:
            out.append(
                Violation("TIMELOCK", e.tx_hash, e.block, f"{what} applied at {ts}, before its eta {q[1]}")
            )

    for e in events:
        a = e.args
        if e.name == "ChangeQueued":
            pending[a["kind"]] = (a["value"], a["eta"])
        elif e.name == "ChangeCancelled":
            pending.pop(a["kind"], None)
        elif e.name == "ParameterChanged":
            kind, old, new = a["kind"], a["old_value"], a["new_value"]
            name = model.kind_name(kind)
            looser = model.loosens(name, old, new) if kind < len(model.PARAM_KINDS) else new > old
            if looser:
                applied(e, kind, new, f"{name} {old} -> {new} (a loosening)")
            elif kind in pending and pending[kind][0] == new:
                pending.pop(kind)  # a queued change that is no longer a loosening when applied
        elif e.name == "KeeperSet" and a["enabled"] and e.tx_hash not in deploy_txs:
            applied(e, model.KIND_KEEPER, int(a["account"], 16), f"keeper {a['account']} added")
        elif e.name == "TargetWeightsApplied":
            packed = sum(w << (14 * i) for i, w in enumerate(a["weights"]))
            applied(e, model.KIND_TARGETS, packed, f"target weights {list(a['weights'])}")
    return out


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
    blocks = rpc.batch([("eth_getBlockByNumber", [hex(b), True]) for b in blks], strict=True)
    txs_by_block = {int(b["number"], 16): b["transactions"] for b in blocks}
    agg_reqs = [Rpc.call_req(f, encode_call("aggregator()"), b - 1) for b in blks for f in meta.feeds]
    aggs = rpc.batch(agg_reqs, strict=False)
    watched_by_block: dict[int, dict[str, str]] = {}
    for bi, b in enumerate(blks):
        watched = {f.lower(): f"feed {f}" for f in meta.feeds}
        for fi, f in enumerate(meta.feeds):
            r = aggs[bi * meta.n + fi]
            if isinstance(r, str) and len(r) == 66:
                agg = "0x" + r[-40:]
                if int(agg, 16):
                    watched.setdefault(agg.lower(), f"aggregator {Web3.to_checksum_address(agg)} of feed {f}")
        watched_by_block[b] = watched
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
        recs = rpc.batch([("eth_getTransactionReceipt", [t["hash"]]) for t in earlier], strict=True)
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


REBALANCE_SIG = "rebalance((address,address,uint256,uint256)[],uint256)"
REBALANCE_SELECTOR = "0x" + selector(REBALANCE_SIG).hex()


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


def _dist(a: int, b: int) -> int:
    return abs(a - b)


def rule_roundtrip(s: int, b: int, sold_mask: int, bought_mask: int) -> str | None:
    """I8-roundtrip: an asset sold earlier in the rebalance is not bought, one bought is not sold."""
    if (bought_mask >> s) & 1:
        return f"asset {s} sold after it was bought"
    if (sold_mask >> b) & 1:
        return f"asset {b} bought after it was sold"
    return None


def rule_direction(s: int, b: int, over: int, under: int) -> list[str]:
    """I8-direction: only an asset above target (oracle values before the rebalance, exact) is sold,
    only one below target is bought (``over``/``under`` from ``model.trade_rooms``)."""
    out = []
    if not (over >> s) & 1:
        out.append(f"sold asset {s}, which was not above its target")
    if not (under >> b) & 1:
        out.append(f"bought asset {b}, which was not below its target")
    return out


def rule_caps(
    s: int, b: int, value_up: int, bought_up: int, room: list[int], over: int, under: int
) -> list[str]:
    """I8-caps: the trade's value sold (rounded up) fits what is left of the sell room of ``s``, and
    its value bought (rounded up) what is left of the buy room of ``b``; ``room`` is then used up."""
    out = []
    if (over >> s) & 1 and value_up > room[s]:
        out.append(f"sold {value_up / 1e18:,.2f} of asset {s}, above its excess {room[s] / 1e18:,.2f}")
    if (under >> b) & 1 and bought_up > room[b]:
        out.append(
            f"bought {bought_up / 1e18:,.2f} of asset {b}, "
            f"above its shortfall + tolerance {room[b] / 1e18:,.2f}"
        )
    room[s] = max(0, room[s] - value_up)
    room[b] = max(0, room[b] - bought_up)
    return out


def rule_budget(
    stored: int, last_rebalance: int, ts: int, params: model.Params, value_before: int, value_after: int
) -> tuple[int, str | None]:
    """I9-budget: the use stored at the previous rebalance, drained to ``ts``, plus this rebalance's
    charge, within the budget. Returns the use the vault stored and the violation, if any."""
    drained = model.loss_used_now(stored, last_rebalance, ts, params.loss_budget_bps, params.loss_window)
    charge = model.loss_charge(value_before, value_after)
    used = drained + charge
    if used > params.loss_budget_bps * model.BPS_TO_LOSS:
        return used, (
            f"loss budget use {drained / model.BPS_TO_LOSS:.4f} bps (drained to now) + charge "
            f"{charge / model.BPS_TO_LOSS:.4f} bps > budget {params.loss_budget_bps} bps "
            f"(window {params.loss_window} s)"
        )
    return used, None


def _verify_rebalance(
    meta: VaultMeta,
    index: dict[str, int],
    tx_events: list[Event],
    holdings: list[int],
    h: dict[str, Any],
    ts: int,
    receipt: dict[str, Any],
    midblock: str | None,
    txn: dict[str, Any] | None = None,
    loss_used: int = 0,
) -> RebalanceCheck:
    reb = next(e for e in tx_events if e.name == "Rebalanced")
    min_outs = _min_outs(meta, txn)
    swaps = [e for e in tx_events if e.name == "Swapped" and e.log_index < reb.log_index]
    tx, blk = reb.tx_hash, reb.block
    viol: list[Violation] = []

    def bad(rule: str, detail: str) -> None:
        viol.append(Violation(rule, tx, blk, detail))

    params = h["params"]
    dec = meta.decimals
    targets = h["targets"]
    if midblock:
        bad("MIDBLOCK", midblock)

    # I0: access
    if h["paused"]:
        bad("I0-access", "vault was paused")
    if not h["is_keeper"]:
        bad("I0-access", f"{reb.args['keeper']} did not hold the keeper role")

    # I2: prices
    prices, stat_txt = [], []
    seq_up = True
    if meta.sequencer:
        seq_up = model.sequencer_up(*h["sequencer"], ts, meta.sequencer_grace)
        if not seq_up:
            stat_txt.append(f"sequencer {meta.sequencer} down or in its grace period")
    for i, raw in enumerate(h["rounds"]):
        price, st, updated = model.read_feed(raw, meta.feed_decimals[i], h["max_ages"][i], ts)
        prices.append(price)
        if st != model.FEED_OK and seq_up:
            name = {1: "non-positive", 2: "stale", 3: "incomplete", 4: "unusable"}[st]
            stat_txt.append(f"feed {meta.feeds[i]} {name} (updatedAt {updated}, max_age {h['max_ages'][i]})")
    if stat_txt:
        bad("I2-prices", "; ".join(stat_txt))

    # before
    values_b = model.asset_values(holdings, prices, dec)
    value_before = sum(values_b)
    w_before = model.weights_wad(values_b)
    drift_before = model.drift_wad(w_before, targets)

    # I1: trigger
    reason = model.trigger(drift_before, ts, h["last_rebalance"], params)
    if reason == model.REASON_NONE:
        if ts < h["last_rebalance"] + params.cooldown:
            why = f"cooldown: {ts - h['last_rebalance']} s since last rebalance < {params.cooldown} s"
        else:
            why = (
                f"drift {drift_before / model.BPS_TO_WAD:.2f} bps "
                f"< threshold {params.drift_threshold_bps} bps"
                + (
                    f" and calendar not due ({ts - h['last_rebalance']} s < {params.rebalance_period} s)"
                    if ts < h["last_rebalance"] + params.rebalance_period
                    else f" and < min drift {params.min_drift_bps} bps for CALENDAR"
                )
            )
        bad("I1-trigger", why)

    # swaps: I3, I4
    cur = list(holdings)
    touched = [False] * meta.n
    sold_up = 0  # each trade rounded up: the size cap (I4)
    sold_down = 0  # each trade rounded down: the loss allowance (I7)
    slip_value = 0
    cap = value_before * params.max_trade_bps // model.BPS
    size_flagged = False
    room, over, under = model.trade_rooms(values_b, targets, params.tolerance_bps)
    sold_mask = bought_mask = 0
    if min_outs is not None and len(min_outs) != len(swaps):
        bad("EVENT", f"{len(min_outs)} trades in the call but {len(swaps)} Swapped events")
    for n_sw, sw in enumerate(swaps):
        a = sw.args
        s, b = index.get(a["sell"]), index.get(a["buy"])
        if s is None or b is None or s == b:
            bad("I3-slippage", f"swap {a['sell']} -> {a['buy']}: not two distinct vault assets")
            continue
        if a["amount_in"] == 0 or a["amount_in"] > cur[s]:
            bad("I3-slippage", f"swap sells {a['amount_in']} of asset {s} holding {cur[s]}")
        unit_s, unit_b = 10 ** dec[s], 10 ** dec[b]
        expected = model.oracle_out(a["amount_in"], prices[s], dec[s], prices[b], dec[b]) if prices[b] else 0
        if expected != a["expected_out"]:
            bad(
                "EVENT",
                f"swap {s}->{b}: expected_out {a['expected_out']} != oracle-implied {expected} "
                "at block-1 prices",
            )
        floor = model.min_acceptable_out(expected, params.max_slippage_bps)
        if expected == 0:
            bad("I3-slippage", f"swap {s}->{b}: sells {a['amount_in']}, worth less than one unit bought")
        if min_outs is not None and n_sw < len(min_outs) and min_outs[n_sw] < floor:
            bad("I3-slippage", f"swap {s}->{b}: min_amount_out {min_outs[n_sw]} < bound {floor}")
        if a["amount_out"] < floor:
            gap = (expected - a["amount_out"]) * model.BPS / expected if expected else float("inf")
            bad(
                "I3-slippage",
                f"swap {s}->{b}: out {a['amount_out']} < bound {floor} "
                f"({gap:.1f} bps below oracle; max {params.max_slippage_bps} bps)",
            )
        value_up = -(-a["amount_in"] * prices[s] // unit_s)
        bought_up = -(-a["amount_out"] * prices[b] // unit_b)
        trip = rule_roundtrip(s, b, sold_mask, bought_mask)
        if trip:
            bad("I8-roundtrip", trip)
        for msg in rule_direction(s, b, over, under):
            bad("I8-direction", msg)
        for msg in rule_caps(s, b, value_up, bought_up, room, over, under):
            bad("I8-caps", msg)
        sold_mask |= 1 << s
        bought_mask |= 1 << b
        sold_up += value_up
        sold_down += a["amount_in"] * prices[s] // unit_s
        # as the vault: running sum of each trade's value rounded up, at most the cap
        if sold_up > cap and not size_flagged:
            size_flagged = True
            bad(
                "I4-size",
                f"value sold {sold_up / 1e18:,.2f} > cap {cap / 1e18:,.2f} ({params.max_trade_bps} bps)",
            )
        slip_value += (expected - a["amount_out"]) * prices[b] // unit_b
        cur[s] -= a["amount_in"]
        cur[b] += a["amount_out"]
        touched[s] = touched[b] = True

    values_a = model.asset_values([max(0, x) for x in cur], prices, dec)
    value_after = sum(values_a)
    w_after = model.weights_wad(values_a)
    drift_after = model.drift_wad(w_after, targets)

    # I5
    tol = params.tolerance_bps * model.BPS_TO_WAD
    for i in range(meta.n):
        if not touched[i]:
            continue
        t = targets[i] * model.BPS_TO_WAD
        db, da = _dist(w_before[i], t), _dist(w_after[i], t)
        crossed = (w_before[i] > t > w_after[i]) or (w_before[i] < t < w_after[i])
        if crossed and da > tol:
            bad(
                "I5-overshoot",
                f"asset {i} crossed its target {targets[i]} bps by {da / model.BPS_TO_WAD:.2f} bps "
                f"> tolerance {params.tolerance_bps} bps",
            )
        if da > db:
            bad(
                "I5-away",
                f"asset {i} moved away from target: {db / model.BPS_TO_WAD:.2f} -> "
                f"{da / model.BPS_TO_WAD:.2f} bps",
            )
    # I6
    if drift_after >= drift_before:
        bad(
            "I6-drift",
            f"drift {drift_before / model.BPS_TO_WAD:.2f} -> {drift_after / model.BPS_TO_WAD:.2f} bps",
        )
    # I7
    allowance = sold_down * params.max_slippage_bps // model.BPS
    if value_after + allowance < value_before:
        bad(
            "I7-value",
            f"value {value_before / 1e18:,.2f} -> {value_after / 1e18:,.2f}: lost "
            f"{(value_before - value_after) / 1e18:,.2f} > allowance {allowance / 1e18:,.2f}",
        )

    # I9: the loss budget, replayed (``loss_used`` is the use stored at the previous rebalance)
    used, over_budget = rule_budget(loss_used, h["last_rebalance"], ts, params, value_before, value_after)
    if over_budget and meta.has_params:
        bad("I9-budget", over_budget)

    # EVENT: every number the vault reported
    ev = reb.args
    mism = []
    for name, got, want in (
        ("reason", ev["reason"], reason),
        ("drift_before", ev["drift_before"], drift_before // model.BPS_TO_WAD),
        ("drift_after", ev["drift_after"], drift_after // model.BPS_TO_WAD),
        ("value_before", ev["value_before"], value_before),
        ("value_after", ev["value_after"], value_after),
        ("weights_before", list(ev["weights_before"]), [w // model.BPS_TO_WAD for w in w_before]),
        ("weights_after", list(ev["weights_after"]), [w // model.BPS_TO_WAD for w in w_after]),
    ):
        if got != want:
            mism.append(f"{name} {got} != {want}")
    if mism:
        bad("EVENT", "Rebalanced differs from the recomputation at block-1 state: " + "; ".join(mism))

    return RebalanceCheck(
        tx_hash=tx,
        block=blk,
        tx_index=reb.tx_index,
        timestamp=ts,
        keeper=ev["keeper"],
        sender=Web3.to_checksum_address(receipt["from"]),
        reason=ev["reason"],
        params=params,
        last_rebalance=h["last_rebalance"],
        targets=list(targets),
        prices=prices,
        holdings_before=list(holdings),
        holdings_after=cur,
        drift_before_wad=drift_before,
        drift_after_wad=drift_after,
        value_before=value_before,
        value_after=value_after,
        weights_before=list(ev["weights_before"]),
        weights_after=list(ev["weights_after"]),
        sold_value=sold_down,
        slippage_value=slip_value,
        n_swaps=len(swaps),
        loss_used=used,
        gas_used=int(receipt["gasUsed"], 16),
        gas_price=int(receipt.get("effectiveGasPrice") or "0x0", 16),
        violations=viol,
    )


def _sample_blocks(event_blocks: list[int], to_block: int, samples: int) -> list[int]:
    if len(event_blocks) <= samples:
        chosen = list(event_blocks)
    else:
        step = (len(event_blocks) - 1) / max(1, samples - 1)
        chosen = sorted({event_blocks[round(i * step)] for i in range(samples)})
    if to_block not in chosen:
        chosen.append(to_block)
    return chosen


def _check_holdings(
    rpc: Rpc,
    meta: VaultMeta,
    after_block: dict[int, list[int]],
    from_block: int,
    to_block: int,
    samples: int,
    final: list[int],
) -> tuple[list[HoldingsCheck], list[Violation], list[Finding]]:
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
    viol: list[Violation] = []
    findings: list[Finding] = []
    surplus_seen: dict[int, int] = {}
    for k, b in enumerate(chosen):
        prior = [x for x in event_blocks if x <= b]
        rebuilt = after_block[prior[-1]] if prior else (final if not event_blocks else [0] * meta.n)
        reported = list(decode_result(["uint256[]"], res[k * per])[0])
        balances = [decode_result(["uint256"], r)[0] for r in res[k * per + 1 : (k + 1) * per]]
        checks.append(HoldingsCheck(b, list(rebuilt), reported, balances))
        if reported != list(rebuilt):
            diff = [r - x for r, x in zip(reported, rebuilt, strict=True)]
            viol.append(
                Violation(
                    "ACCOUNTING",
                    None,
                    b,
                    f"get_holdings() {reported} != rebuilt from events {list(rebuilt)} (diff {diff})",
                )
            )
        for i, (bal, held) in enumerate(zip(balances, reported, strict=True)):
            if bal < held:
                viol.append(
                    Violation(
                        "SOLVENCY", None, b, f"asset {meta.assets[i]}: balanceOf {bal} < holdings {held}"
                    )
                )
            elif bal > held and surplus_seen.get(i) != bal - held:
                surplus_seen[i] = bal - held
                findings.append(
                    Finding(
                        "SURPLUS",
                        b,
                        f"asset {meta.assets[i]}: balanceOf exceeds holdings by {bal - held} token units "
                        "(donation or transfer outside the vault's accounting; ignored by the vault)",
                        meta.assets[i],
                        bal - held,
                    )
                )
    return checks, viol, findings
