"""Re-check every rebalance of a vault from its logs plus historical state, with ``offchain.core.model``.

``audit()`` runs the stages in order, each timed in ``AuditResult.timings``:

1. ``logs``: the vault's events (``history.fetch_events``: paged ``eth_getLogs``, decoded);
2. ``blocks``: every event block's timestamp, every rebalance's receipt and transaction;
3. ``state``: what each rebalance read, at block - 1 (``history.fetch_states``, batched ``eth_call``);
4. ``midblock``: earlier transactions in a rebalance's own block (``history._midblock``);
5. ``verify``: the events replayed in log order (holdings rebuilt from them), every rebalance
   re-checked against the vault's rules (``_verify_rebalance``, one call per rule of
   ``offchain.audit.rules``), then ``TIMELOCK`` over the whole stream;
6. ``holdings``: the rebuilt holdings against ``get_holdings()`` and ``balanceOf`` at sampled blocks.

Which state a rebalance is checked against: ``offchain.audit.history``. The rules (I0-I9, TIMELOCK,
EVENT, MIDBLOCK, ACCOUNTING, SOLVENCY) and the SURPLUS finding: ``offchain.audit.rules``. Every name
of both that this module used to define is still importable from here.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3

from offchain.audit.checkpoint import Checkpoint, blocks_stage, events_stage, midblock_stage, states_stage
from offchain.audit.decode import Event
from offchain.audit.history import (  # noqa: F401 - re-exported: the names this module always had
    CONFIG_EVENTS,
    LEGACY_PARAMS,
    REBALANCE_SELECTOR,
    REBALANCE_SIG,
    SCALARS,
    HoldingsCheck,
    Tick,
    VaultMeta,
    _call,
    _hist_requests,
    _midblock,
    _min_outs,
    _noop,
    _parse_hist,
    _sample_blocks,
    apply_event,
    fetch_blocks,
    fetch_events,
    fetch_holdings,
    fetch_states,
    find_deploy_block,
    read_meta,
)
from offchain.audit.initial import _initial_holdings, _initial_loss_used, _initial_pending  # noqa: F401
from offchain.audit.logs import LogStats
from offchain.audit.rules import (  # noqa: F401 - re-exported, as above
    RULES,
    Finding,
    Ledger,
    Snapshot,
    Violation,
    _dist,
    check_timelock,
    rule_access,
    rule_accounting,
    rule_assets,
    rule_away,
    rule_budget,
    rule_caps,
    rule_direction,
    rule_drift,
    rule_event,
    rule_event_swap,
    rule_holdings,
    rule_midblock,
    rule_overshoot,
    rule_prices,
    rule_roundtrip,
    rule_size,
    rule_slippage,
    rule_solvency,
    rule_trade_count,
    rule_trigger,
    rule_value,
)
from offchain.audit.window import Window, _window
from offchain.chain.rpc import Rpc
from offchain.core import model

log = logging.getLogger(__name__)

__all__ = ["RULES", "Violation", "Finding", "RebalanceCheck", "AuditResult", "VaultMeta", "audit"]

Flags = list[tuple[str, str]]  # (rule, detail), in the order the checks ran


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
    window: Window | None = None  # how to_block was chosen (``offchain.audit.window``)

    @property
    def range_note(self) -> str:
        return self.window.how if self.window is not None else ""


# ---- the audit ----


def audit(
    rpc: Rpc,
    vault: str,
    from_block: int | None = None,
    to_block: int | str | None = None,
    *,
    samples: int = 50,
    log_span: int = 2_000,
    max_logs: int = 10_000,
    workers: int = 4,
    tick: Tick = _noop,
    confirmations: int | None = None,
    checkpoint: Checkpoint | None = None,
) -> AuditResult:
    """Audit ``vault`` over ``from_block .. to_block`` (``offchain.audit.window``: ``to_block`` None
    with ``confirmations`` None is the head; with ``confirmations``, the finalized block or head -
    confirmations). With ``checkpoint``, progress is stored as it goes (and on any failure) and a
    resumed checkpoint's stages are not read again."""
    t0 = time.perf_counter()
    meta, from_block, win = _window(rpc, vault, from_block, to_block, confirmations, checkpoint)
    try:
        res = _stages(rpc, meta, from_block, win, samples, log_span, max_logs, workers, tick, checkpoint)
    except BaseException:
        if checkpoint is not None:
            checkpoint.save()
        raise
    res.timings["total"] = time.perf_counter() - t0
    return res


def _stages(
    rpc: Rpc,
    meta: VaultMeta,
    from_block: int,
    win: Window,
    samples: int,
    log_span: int,
    max_logs: int,
    workers: int,
    tick: Tick,
    ckpt: Checkpoint | None,
) -> AuditResult:
    timings: dict[str, float] = {}
    address, to_block = meta.address, win.to_block
    t0 = time.perf_counter()
    # 1. logs
    events, stats = events_stage(
        rpc, ckpt, address, from_block, to_block, span=log_span, max_logs=max_logs, tick=tick
    )
    timings["logs"] = time.perf_counter() - t0
    # 2. timestamps of every block with an event, plus receipts of rebalance txs
    t1 = time.perf_counter()
    rebal_events = [e for e in events if e.name == "Rebalanced"]
    timestamps, receipts, txs = blocks_stage(rpc, ckpt, events, rebal_events)
    timings["blocks"] = time.perf_counter() - t1
    # 3. historical state before each rebalance (block - 1), batched
    t2 = time.perf_counter()
    hist = states_stage(rpc, ckpt, meta, rebal_events, workers=workers, tick=tick)
    timings["state"] = time.perf_counter() - t2
    # 4. mid-block: earlier transactions in the same block
    t3 = time.perf_counter()
    midblock = midblock_stage(rpc, ckpt, meta, events, rebal_events, receipts)
    timings["midblock"] = time.perf_counter() - t3
    # 5. replay events, verify each rebalance
    t4 = time.perf_counter()
    checks, violations, after_block, holdings = _replay(
        rpc, meta, from_block, events, hist, timestamps, receipts, txs, midblock
    )
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
        win,
    )


def _replay(
    rpc: Rpc,
    meta: VaultMeta,
    from_block: int,
    events: list[Event],
    hist: dict[str, dict[str, Any]],
    timestamps: dict[int, int],
    receipts: dict[str, Any],
    txs: dict[str, Any],
    midblock: dict[str, str],
) -> tuple[list[RebalanceCheck], list[Violation], dict[int, list[int]], list[int]]:
    """The events in log order: holdings rebuilt from them, each rebalance verified against the
    holdings it found and its historical state. Returns the checks, their violations, the holdings
    at the end of each event block and the final holdings."""
    holdings = _initial_holdings(rpc, meta.address, from_block, meta)
    loss_used = _initial_loss_used(rpc, meta.address, from_block, meta)
    index = {a: i for i, a in enumerate(meta.assets)}
    by_tx: dict[str, list[Event]] = {}
    for e in events:
        by_tx.setdefault(e.tx_hash, []).append(e)
    rebal_txs = {e.tx_hash for e in events if e.name == "Rebalanced"}
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
        else:
            if e.name == "Swapped":  # a swap outside any rebalance: the vault never does that
                violations.append(
                    Violation("EVENT", e.tx_hash, e.block, "Swapped without Rebalanced in the same tx")
                )
            holdings = apply_event(holdings, e, index)
        after_block[e.block] = list(holdings)
    return checks, violations, after_block, holdings


# ---- one rebalance ----


def _flag(flags: Flags, rule: str, *details: str | list[str] | None) -> None:
    """Record each detail (a rule function's answer: None, a detail or a list of them) under ``rule``."""
    for d in details:
        if isinstance(d, list):
            flags.extend((rule, x) for x in d)
        elif d:
            flags.append((rule, d))


def _check_swap(
    led: Ledger,
    index: dict[str, int],
    dec: list[int],
    prices: list[int],
    params: model.Params,
    sw: Event,
    min_out: int | None,
) -> Flags:
    """One ``Swapped`` event against I3, EVENT, I8 and I4, in the vault's order; ``led`` moves on."""
    flags: Flags = []
    a = sw.args
    s, b = index.get(a["sell"]), index.get(a["buy"])
    why = rule_assets(s, b, a)
    if s is None or b is None or why:
        _flag(flags, "I3-slippage", why)
        return flags
    _flag(flags, "I3-slippage", rule_holdings(s, a["amount_in"], led.cur[s]))
    unit_s, unit_b = 10 ** dec[s], 10 ** dec[b]
    expected = model.oracle_out(a["amount_in"], prices[s], dec[s], prices[b], dec[b]) if prices[b] else 0
    _flag(flags, "EVENT", rule_event_swap(s, b, a["expected_out"], expected))
    _flag(flags, "I3-slippage", rule_slippage(s, b, a, expected, min_out, params))
    value_up = -(-a["amount_in"] * prices[s] // unit_s)
    bought_up = -(-a["amount_out"] * prices[b] // unit_b)
    _flag(flags, "I8-roundtrip", rule_roundtrip(s, b, led.sold_mask, led.bought_mask))
    _flag(flags, "I8-direction", rule_direction(s, b, led.over, led.under))
    _flag(flags, "I8-caps", rule_caps(s, b, value_up, bought_up, led.room, led.over, led.under))
    led.sold_mask |= 1 << s
    led.bought_mask |= 1 << b
    led.sold_up += value_up
    led.sold_down += a["amount_in"] * prices[s] // unit_s
    # as the vault: running sum of each trade's value rounded up, at most the cap (flagged once)
    if not led.size_flagged:
        why = rule_size(led.sold_up, led.cap, params.max_trade_bps)
        led.size_flagged = why is not None
        _flag(flags, "I4-size", why)
    led.slip_value += (expected - a["amount_out"]) * prices[b] // unit_b
    led.cur[s] -= a["amount_in"]
    led.cur[b] += a["amount_out"]
    led.touched[s] = led.touched[b] = True
    return flags


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
    params, targets, dec, last = h["params"], h["targets"], meta.decimals, h["last_rebalance"]
    flags: Flags = []
    _flag(flags, "MIDBLOCK", rule_midblock(midblock))
    _flag(flags, "I0-access", rule_access(h, reb.args["keeper"]))
    prices, why = rule_prices(meta, h, ts)
    _flag(flags, "I2-prices", why)
    before = Snapshot.of(holdings, prices, dec, targets)
    reason, why = rule_trigger(before.drift, ts, last, params)
    _flag(flags, "I1-trigger", why)
    led = Ledger.start(meta.n, holdings, before, targets, params)
    _flag(flags, "EVENT", rule_trade_count(min_outs, swaps))
    for n_sw, sw in enumerate(swaps):
        min_out = min_outs[n_sw] if min_outs is not None and n_sw < len(min_outs) else None
        flags += _check_swap(led, index, dec, prices, params, sw, min_out)
    after = Snapshot.of([max(0, x) for x in led.cur], prices, dec, targets)
    for i in (i for i in range(meta.n) if led.touched[i]):
        wb, wa = before.weights[i], after.weights[i]
        _flag(flags, "I5-overshoot", rule_overshoot(i, wb, wa, targets[i], params.tolerance_bps))
        _flag(flags, "I5-away", rule_away(i, wb, wa, targets[i]))
    _flag(flags, "I6-drift", rule_drift(before.drift, after.drift))
    _flag(flags, "I7-value", rule_value(before.value, after.value, led.sold_down, params.max_slippage_bps))
    # I9: the loss budget, replayed (``loss_used`` is the use stored at the previous rebalance)
    used, over_budget = rule_budget(loss_used, last, ts, params, before.value, after.value)
    _flag(flags, "I9-budget", over_budget if meta.has_params else None)
    _flag(flags, "EVENT", rule_event(reb.args, reason, before, after))
    ev = reb.args
    return RebalanceCheck(
        tx_hash=reb.tx_hash,
        block=reb.block,
        tx_index=reb.tx_index,
        timestamp=ts,
        keeper=ev["keeper"],
        sender=Web3.to_checksum_address(receipt["from"]),
        reason=ev["reason"],
        params=params,
        last_rebalance=last,
        targets=list(targets),
        prices=prices,
        holdings_before=list(holdings),
        holdings_after=led.cur,
        drift_before_wad=before.drift,
        drift_after_wad=after.drift,
        value_before=before.value,
        value_after=after.value,
        weights_before=list(ev["weights_before"]),
        weights_after=list(ev["weights_after"]),
        sold_value=led.sold_down,
        slippage_value=led.slip_value,
        n_swaps=len(swaps),
        loss_used=used,
        gas_used=int(receipt["gasUsed"], 16),
        gas_price=int(receipt.get("effectiveGasPrice") or "0x0", 16),
        violations=[Violation(rule, reb.tx_hash, reb.block, d) for rule, d in flags],
    )


# ---- holdings at sampled blocks ----


def _check_holdings(
    rpc: Rpc,
    meta: VaultMeta,
    after_block: dict[int, list[int]],
    from_block: int,
    to_block: int,
    samples: int,
    final: list[int],
) -> tuple[list[HoldingsCheck], list[Violation], list[Finding]]:
    """ACCOUNTING and SOLVENCY (and SURPLUS findings) at up to ``samples`` blocks."""
    checks = fetch_holdings(rpc, meta, after_block, to_block, samples, final)
    viol: list[Violation] = []
    findings: list[Finding] = []
    surplus_seen: dict[int, int] = {}
    for c in checks:
        why = rule_accounting(c)
        if why:
            viol.append(Violation("ACCOUNTING", None, c.block, why))
        short, found = rule_solvency(meta, c, surplus_seen)
        viol += [Violation("SOLVENCY", None, c.block, d) for d in short]
        findings += found
    return checks, viol, findings
