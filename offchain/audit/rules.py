"""The vault's rules as the auditor checks them: one function per invariant, pure (no chain access).

Rules (the vault's invariants I1-I9, ``contracts/RebalancingVault.vy``), each with ``offchain.core.model``:

* ``I0-access`` (``rule_access``): ``paused()`` false and ``is_keeper(keeper)`` true at ``B - 1``.
* ``I1-trigger`` (``rule_trigger``): ``model.trigger(drift_before_wad, ts(B), last_rebalance, params)
  != NONE``.
* ``I2-prices`` (``rule_prices``): ``model.feed_status(...) == FEED_OK`` for every feed (answers at ``B - 1``,
  ``max_age`` from ``get_max_ages()``, now = ``ts(B)``).
* ``I3-slippage`` (``rule_assets``, ``rule_holdings``, ``rule_slippage``): per swap, sell != buy, both
  vault assets, ``amount_in <= holdings[sell]`` (running),
  ``amount_out >= model.min_acceptable_out(model.oracle_out(...), max_slippage_bps)``,
  and the same bound for the trade's ``min_amount_out`` (decoded from the transaction input when
  the keeper called the vault directly; ``eth_getTransactionByHash``).
* ``I4-size`` (``rule_size``): running sum of ``ceil(amount_in * price_sell / 10**dec_sell)`` (each
  trade rounded up, the vault's favour) ``<= value_before * max_trade_bps // 10_000``, as the vault checks it.
* ``I5-away`` / ``I5-overshoot`` (``rule_away``, ``rule_overshoot``): per touched asset,
  ``|w_after - t| <= |w_before - t|`` (WAD); if it crossed its target,
  ``|w_after - t| <= tolerance_bps * 1e14``.
* ``I6-drift`` (``rule_drift``): ``drift_after_wad < drift_before_wad``.
* ``I7-value`` (``rule_value``): ``value_after + allowance >= value_before``, the allowance being
  ``floor(amount_in * price_sell / unit)`` summed, times ``max_slippage_bps // 10_000``.
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
* ``EVENT`` (``rule_trade_count``, ``rule_event_swap``, ``rule_event``): the vault's events equal the
  recomputation (see ``offchain.audit.history``).
* ``MIDBLOCK`` (``rule_midblock``): see ``offchain.audit.history``.
* ``ACCOUNTING`` (``rule_accounting``): at sampled blocks, holdings rebuilt from events == ``get_holdings()``.
* ``SOLVENCY`` (``rule_solvency``): at sampled blocks, ``balanceOf(vault) >= holdings`` for every asset.

``SURPLUS`` (``balanceOf(vault) > holdings``: donations or anything else sent outside the vault's
accounting) is a *finding*, not a violation: the vault ignores such tokens by design.

A rule function returns its violation's detail (``str | None``) or details (``list[str]``); the caller
(``offchain.audit.verify``) records them under the rule's name, in the order the checks run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from offchain.audit.decode import Event
from offchain.audit.history import HoldingsCheck, VaultMeta
from offchain.core import model

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

FEED_STATUS_NAMES = {1: "non-positive", 2: "stale", 3: "incomplete", 4: "unusable"}


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


@dataclass(frozen=True)
class Snapshot:
    """Holdings valued at fixed prices: per-asset values, total, weights and drift (WAD)."""

    values: list[int]
    value: int
    weights: list[int]
    drift: int

    @classmethod
    def of(cls, holdings: list[int], prices: list[int], decimals: list[int], targets: list[int]) -> Snapshot:
        values = model.asset_values(holdings, prices, decimals)
        weights = model.weights_wad(values)
        return cls(values, sum(values), weights, model.drift_wad(weights, targets))


@dataclass
class Ledger:
    """What a rebalance has done so far, trade by trade, as the vault keeps count."""

    cur: list[int]  # running holdings
    touched: list[bool]
    cap: int  # I4: value_before * max_trade_bps // BPS
    room: list[int]  # I8: sell/buy room per asset, used up trade by trade
    over: int  # I8: mask of assets above target
    under: int  # I8: mask of assets below target
    sold_up: int = 0  # each trade rounded up: the size cap (I4)
    sold_down: int = 0  # each trade rounded down: the loss allowance (I7)
    slip_value: int = 0
    sold_mask: int = 0
    bought_mask: int = 0
    size_flagged: bool = False

    @classmethod
    def start(
        cls, n: int, holdings: list[int], before: Snapshot, targets: list[int], params: model.Params
    ) -> Ledger:
        room, over, under = model.trade_rooms(before.values, targets, params.tolerance_bps)
        cap = before.value * params.max_trade_bps // model.BPS
        return cls(list(holdings), [False] * n, cap, room, over, under)


def _dist(a: int, b: int) -> int:
    return abs(a - b)


# ---- before trading ----


def rule_midblock(midblock: str | None) -> str | None:
    """MIDBLOCK: no earlier transaction in the block touched the feeds or the configuration."""
    return midblock or None


def rule_access(h: dict[str, Any], keeper: str) -> list[str]:
    """I0-access: the vault was not paused and the caller held the keeper role (at block - 1)."""
    out = []
    if h["paused"]:
        out.append("vault was paused")
    if not h["is_keeper"]:
        out.append(f"{keeper} did not hold the keeper role")
    return out


def rule_prices(meta: VaultMeta, h: dict[str, Any], ts: int) -> tuple[list[int], str | None]:
    """I2-prices: the sequencer up (if any) and every feed usable at ``ts``. Returns the prices the
    vault read (0 for an unusable feed) and the violation, if any."""
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
            name = FEED_STATUS_NAMES[st]
            stat_txt.append(f"feed {meta.feeds[i]} {name} (updatedAt {updated}, max_age {h['max_ages'][i]})")
    return prices, ("; ".join(stat_txt) if stat_txt else None)


def rule_trigger(
    drift_before: int, ts: int, last_rebalance: int, params: model.Params
) -> tuple[int, str | None]:
    """I1-trigger: not within the cooldown, THRESHOLD or CALENDAR held before trading. Returns the
    reason the vault computed and the violation, if any."""
    reason = model.trigger(drift_before, ts, last_rebalance, params)
    if reason != model.REASON_NONE:
        return reason, None
    if ts < last_rebalance + params.cooldown:
        return reason, f"cooldown: {ts - last_rebalance} s since last rebalance < {params.cooldown} s"
    return reason, (
        f"drift {drift_before / model.BPS_TO_WAD:.2f} bps "
        f"< threshold {params.drift_threshold_bps} bps"
        + (
            f" and calendar not due ({ts - last_rebalance} s < {params.rebalance_period} s)"
            if ts < last_rebalance + params.rebalance_period
            else f" and < min drift {params.min_drift_bps} bps for CALENDAR"
        )
    )


def rule_trade_count(min_outs: list[int] | None, swaps: list[Event]) -> str | None:
    """EVENT: as many ``Swapped`` events as trades in the call (when the call is decodable)."""
    if min_outs is not None and len(min_outs) != len(swaps):
        return f"{len(min_outs)} trades in the call but {len(swaps)} Swapped events"
    return None


# ---- per trade ----


def rule_assets(s: int | None, b: int | None, a: dict[str, Any]) -> str | None:
    """I3-slippage: a swap sells one vault asset for another."""
    if s is None or b is None or s == b:
        return f"swap {a['sell']} -> {a['buy']}: not two distinct vault assets"
    return None


def rule_holdings(s: int, amount_in: int, held: int) -> str | None:
    """I3-slippage: a swap sells something, and no more than the vault holds (running)."""
    if amount_in == 0 or amount_in > held:
        return f"swap sells {amount_in} of asset {s} holding {held}"
    return None


def rule_event_swap(s: int, b: int, expected_out: int, expected: int) -> str | None:
    """EVENT: ``Swapped.expected_out`` equals the oracle-implied output at block - 1 prices."""
    if expected != expected_out:
        return f"swap {s}->{b}: expected_out {expected_out} != oracle-implied {expected} at block-1 prices"
    return None


def rule_slippage(
    s: int, b: int, a: dict[str, Any], expected: int, min_out: int | None, params: model.Params
) -> list[str]:
    """I3-slippage: the output, and the trade's ``min_amount_out`` (when known), at least the
    oracle-implied output less ``max_slippage_bps``; a sale worth less than one unit bought is refused."""
    out = []
    floor = model.min_acceptable_out(expected, params.max_slippage_bps)
    if expected == 0:
        out.append(f"swap {s}->{b}: sells {a['amount_in']}, worth less than one unit bought")
    if min_out is not None and min_out < floor:
        out.append(f"swap {s}->{b}: min_amount_out {min_out} < bound {floor}")
    if a["amount_out"] < floor:
        gap = (expected - a["amount_out"]) * model.BPS / expected if expected else float("inf")
        out.append(
            f"swap {s}->{b}: out {a['amount_out']} < bound {floor} "
            f"({gap:.1f} bps below oracle; max {params.max_slippage_bps} bps)"
        )
    return out


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


def rule_size(sold_up: int, cap: int, max_trade_bps: int) -> str | None:
    """I4-size: the running value sold (each trade rounded up) within the cap."""
    if sold_up > cap:
        return f"value sold {sold_up / 1e18:,.2f} > cap {cap / 1e18:,.2f} ({max_trade_bps} bps)"
    return None


# ---- after trading ----


def rule_overshoot(i: int, w_before: int, w_after: int, target_bps: int, tolerance_bps: int) -> str | None:
    """I5-overshoot: a touched asset that crossed its target ends within ``tolerance_bps`` of it."""
    t = target_bps * model.BPS_TO_WAD
    da = _dist(w_after, t)
    crossed = (w_before > t > w_after) or (w_before < t < w_after)
    if crossed and da > tolerance_bps * model.BPS_TO_WAD:
        return (
            f"asset {i} crossed its target {target_bps} bps by {da / model.BPS_TO_WAD:.2f} bps "
            f"> tolerance {tolerance_bps} bps"
        )
    return None


def rule_away(i: int, w_before: int, w_after: int, target_bps: int) -> str | None:
    """I5-away: a touched asset ends no further from its target than it started."""
    t = target_bps * model.BPS_TO_WAD
    db, da = _dist(w_before, t), _dist(w_after, t)
    if da > db:
        return (
            f"asset {i} moved away from target: {db / model.BPS_TO_WAD:.2f} -> "
            f"{da / model.BPS_TO_WAD:.2f} bps"
        )
    return None


def rule_drift(drift_before: int, drift_after: int) -> str | None:
    """I6-drift: drift strictly fell (WAD)."""
    if drift_after >= drift_before:
        return f"drift {drift_before / model.BPS_TO_WAD:.2f} -> {drift_after / model.BPS_TO_WAD:.2f} bps"
    return None


def rule_value(value_before: int, value_after: int, sold_down: int, max_slippage_bps: int) -> str | None:
    """I7-value: the value lost within the value sold (rounded down) times ``max_slippage_bps``."""
    allowance = sold_down * max_slippage_bps // model.BPS
    if value_after + allowance < value_before:
        return (
            f"value {value_before / 1e18:,.2f} -> {value_after / 1e18:,.2f}: lost "
            f"{(value_before - value_after) / 1e18:,.2f} > allowance {allowance / 1e18:,.2f}"
        )
    return None


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


def rule_event(ev: dict[str, Any], reason: int, before: Snapshot, after: Snapshot) -> str | None:
    """EVENT: every number of ``Rebalanced`` equals the recomputation at block - 1 state."""
    mism = []
    for name, got, want in (
        ("reason", ev["reason"], reason),
        ("drift_before", ev["drift_before"], before.drift // model.BPS_TO_WAD),
        ("drift_after", ev["drift_after"], after.drift // model.BPS_TO_WAD),
        ("value_before", ev["value_before"], before.value),
        ("value_after", ev["value_after"], after.value),
        ("weights_before", list(ev["weights_before"]), [w // model.BPS_TO_WAD for w in before.weights]),
        ("weights_after", list(ev["weights_after"]), [w // model.BPS_TO_WAD for w in after.weights]),
    ):
        if got != want:
            mism.append(f"{name} {got} != {want}")
    if mism:
        return "Rebalanced differs from the recomputation at block-1 state: " + "; ".join(mism)
    return None


# ---- over the whole history ----


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


def rule_accounting(c: HoldingsCheck) -> str | None:
    """ACCOUNTING: holdings rebuilt from events equal ``get_holdings()`` at a sampled block."""
    if c.reported != c.rebuilt:
        diff = [r - x for r, x in zip(c.reported, c.rebuilt, strict=True)]
        return f"get_holdings() {c.reported} != rebuilt from events {c.rebuilt} (diff {diff})"
    return None


def rule_solvency(
    meta: VaultMeta, c: HoldingsCheck, surplus_seen: dict[int, int]
) -> tuple[list[str], list[Finding]]:
    """SOLVENCY: every asset's ``balanceOf(vault)`` covers its holdings at a sampled block. A balance
    above the holdings is a ``SURPLUS`` finding (once per asset and amount; ``surplus_seen`` keeps count)."""
    out: list[str] = []
    findings: list[Finding] = []
    for i, (bal, held) in enumerate(zip(c.balances, c.reported, strict=True)):
        if bal < held:
            out.append(f"asset {meta.assets[i]}: balanceOf {bal} < holdings {held}")
        elif bal > held and surplus_seen.get(i) != bal - held:
            surplus_seen[i] = bal - held
            findings.append(
                Finding(
                    "SURPLUS",
                    c.block,
                    f"asset {meta.assets[i]}: balanceOf exceeds holdings by {bal - held} token units "
                    "(donation or transfer outside the vault's accounting; ignored by the vault)",
                    meta.assets[i],
                    bal - held,
                )
            )
    return out, findings
