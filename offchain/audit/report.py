"""Audit report: DataFrames of the checks, a rich terminal summary, PNG plots and one
self-contained HTML file (PNGs inlined as base64).

Units: values and costs in the vault's quote units (1e18-scaled, shown as plain numbers, e.g. USD);
weights and drift in bps; gas paid in the chain's native unit (``gasUsed * effectiveGasPrice``,
shown in ETH). The swap fee is not in the vault's events: it is *estimated* as
``value sold * swap_fee_bps`` (default 30 bps, Uniswap V2); "price impact" is the slippage against
the oracle beyond that estimate.
"""

from __future__ import annotations

import html
import logging
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from rich.table import Table  # noqa: E402

from offchain.audit.decode import frames  # noqa: E402
from offchain.audit.verify import RULES, AuditResult  # noqa: E402
from offchain.core import model  # noqa: E402
from offchain.report import page  # noqa: E402

log = logging.getLogger(__name__)

__all__ = ["tables", "summary_tables", "write_plots", "write_html"]

Q = 1e18  # quote-unit scale


def _symbols(res: AuditResult, symbols: list[str] | None) -> list[str]:
    return symbols or [f"asset{i}:{a[:8]}" for i, a in enumerate(res.meta.assets)]


def tables(res: AuditResult, swap_fee_bps: int = 30) -> dict[str, pd.DataFrame]:
    """Event tables (``decode.frames``) plus ``rebalance_checks``, ``violations``, ``findings``,
    ``holdings_checks`` and ``keepers``."""
    out = frames(res.events, res.timestamps)
    rows = []
    for c in res.rebalances:
        fee = c.sold_value * swap_fee_bps // model.BPS
        rows.append(
            {
                "block": c.block,
                "timestamp": c.timestamp,
                "time": datetime.fromtimestamp(c.timestamp, UTC),
                "tx_hash": c.tx_hash,
                "keeper": c.keeper,
                "sender": c.sender,
                "reason": model.REASON_NAMES.get(c.reason, str(c.reason)),
                "n_swaps": c.n_swaps,
                "drift_before_bps": c.drift_before_wad / model.BPS_TO_WAD,
                "drift_after_bps": c.drift_after_wad / model.BPS_TO_WAD,
                "threshold_bps": c.params.drift_threshold_bps,
                "min_drift_bps": c.params.min_drift_bps,
                "max_slippage_bps": c.params.max_slippage_bps,
                "loss_budget_bps": c.params.loss_budget_bps,
                "loss_used_bps": c.loss_used / model.BPS_TO_LOSS,
                "value_before": c.value_before / Q,
                "value_after": c.value_after / Q,
                "value_change": (c.value_after - c.value_before) / Q,
                "sold_value": c.sold_value / Q,
                "slippage_vs_oracle": c.slippage_value / Q,
                "est_swap_fee": fee / Q,
                "price_impact": (c.slippage_value - fee) / Q,
                "gas_used": c.gas_used,
                "gas_price_wei": c.gas_price,
                "gas_paid_eth": c.gas_paid / 1e18,
                "weights_before": c.weights_before,
                "weights_after": c.weights_after,
                "targets": c.targets,
                "violations": ";".join(sorted({v.rule for v in c.violations})),
            }
        )
    out["rebalance_checks"] = pd.DataFrame(rows)
    out["violations"] = pd.DataFrame(
        [
            {"rule": v.rule, "block": v.block, "tx_hash": v.tx_hash, "detail": v.detail}
            for v in res.violations
        ],
        columns=["rule", "block", "tx_hash", "detail"],
    )
    out["findings"] = pd.DataFrame(
        [
            {"kind": f.kind, "block": f.block, "asset": f.asset, "amount": f.amount, "detail": f.detail}
            for f in res.findings
        ],
        columns=["kind", "block", "asset", "amount", "detail"],
    )
    out["holdings_checks"] = pd.DataFrame(
        [
            {"block": h.block, "rebuilt": h.rebuilt, "get_holdings": h.reported, "balanceOf": h.balances}
            for h in res.holdings_checks
        ]
    )
    rc = out["rebalance_checks"]
    if len(rc):
        k = rc.groupby("keeper").agg(
            rebalances=("tx_hash", "count"),
            gas_used=("gas_used", "sum"),
            gas_paid_eth=("gas_paid_eth", "sum"),
            first_block=("block", "min"),
            last_block=("block", "max"),
        )
        out["keepers"] = k.reset_index()
    else:
        out["keepers"] = pd.DataFrame(columns=["keeper", "rebalances", "gas_used", "gas_paid_eth"])
    return out


def summary_tables(res: AuditResult, t: dict[str, pd.DataFrame], max_rows: int = 20) -> list[Table]:
    counts = Counter(e.name for e in res.events)
    s = Table(title=f"ballast audit: vault {res.meta.address}", show_header=False)
    s.add_column("", style="bold")
    s.add_column("")
    note = getattr(res, "range_note", "")
    s.add_row("blocks", f"{res.from_block:,} .. {res.to_block:,}" + (f" (to {note})" if note else ""))
    s.add_row(
        "events", f"{len(res.events):,} (" + ", ".join(f"{k} {v}" for k, v in counts.most_common()) + ")"
    )
    rc = t["rebalance_checks"]
    s.add_row("rebalances verified", f"{len(res.rebalances):,}")
    if len(rc):
        s.add_row("value sold", f"{rc['sold_value'].sum():,.2f}")
        s.add_row(
            "slippage vs oracle",
            f"{rc['slippage_vs_oracle'].sum():,.2f} (est. swap fees {rc['est_swap_fee'].sum():,.2f}, "
            f"price impact {rc['price_impact'].sum():,.2f})",
        )
        s.add_row("gas", f"{int(rc['gas_used'].sum()):,} gas, {rc['gas_paid_eth'].sum():.6f} ETH paid")
        s.add_row("keepers", ", ".join(f"{r.keeper} ({r.rebalances})" for r in t["keepers"].itertuples()))
    s.add_row("holdings checked at", f"{len(res.holdings_checks)} blocks")
    by_rule = Counter(v.rule for v in res.violations)
    verdict = (
        "[green]0 violations[/]"
        if not res.violations
        else "[red]" + ", ".join(f"{r} x{n}" for r, n in sorted(by_rule.items())) + "[/]"
    )
    s.add_row("violations", verdict)
    s.add_row(
        "rules checked",
        ", ".join(f"{r} {'[red]x' + str(by_rule[r]) + '[/]' if by_rule.get(r) else 'ok'}" for r in RULES),
    )
    if len(rc):
        s.add_row(
            "loss budget",
            f"peak use {rc['loss_used_bps'].max():.4f} bps of {int(rc['loss_budget_bps'].iloc[-1])} bps "
            "(after a rebalance)",
        )
    s.add_row("findings", ", ".join(f"{f.kind} (block {f.block})" for f in res.findings) or "none")
    s.add_row("rpc requests", f"{res.rpc_calls:,} in {res.timings.get('total', 0):.2f} s")
    out = [s]
    if res.violations:
        v = Table(title=f"Violations ({len(res.violations)}; first {min(max_rows, len(res.violations))})")
        for col in ("rule", "block", "tx", "detail"):
            v.add_column(col)
        for x in res.violations[:max_rows]:
            v.add_row(x.rule, str(x.block), (x.tx_hash or "-")[:18] + "..", x.detail[:160])
        out.append(v)
    return out


# ---- plots ----


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _plot_weights(rc: pd.DataFrame, syms: list[str], path: Path) -> Path:
    """Weights vs targets: before -> after at each rebalance (a step path through time)."""
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    times = list(rc["time"])
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for i, sym in enumerate(syms):
        xs, ys, ts = [], [], []
        for tm, wb, wa, tg in zip(
            times, rc["weights_before"], rc["weights_after"], rc["targets"], strict=True
        ):
            xs += [tm, tm]
            ys += [wb[i] / 100, wa[i] / 100]
            ts.append(tg[i] / 100)
        c = colours[i % len(colours)]
        ax.plot(xs, ys, color=c, lw=1, label=f"{sym} weight")
        ax.step(times, ts, where="post", color=c, ls="--", lw=1, label=f"{sym} target")
    ax.set_ylabel("weight (%)")
    ax.set_title("Weights before and after each rebalance vs targets")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def _plot_drift(rc: pd.DataFrame, path: Path) -> Path:
    """Drift before/after each rebalance with the threshold band; violations circled."""
    times = list(rc["time"])
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.scatter(times, rc["drift_before_bps"], s=10, label="drift before", color="tab:red")
    ax.scatter(times, rc["drift_after_bps"], s=10, label="drift after", color="tab:green")
    ax.step(times, rc["threshold_bps"], where="post", color="k", ls="--", lw=1, label="threshold (in force)")
    ax.step(
        times, rc["min_drift_bps"], where="post", color="grey", ls=":", lw=1, label="min drift (CALENDAR)"
    )
    ax.fill_between(
        times, 0, rc["threshold_bps"], step="post", color="grey", alpha=0.1, label="no-trade band"
    )
    bad = rc[rc["violations"] != ""]
    if len(bad):
        ax.scatter(
            bad["time"], bad["drift_before_bps"], s=60, facecolors="none", edgecolors="k", label="violation"
        )
    ax.set_ylabel("drift (bps)")
    ax.set_title("Drift before/after each rebalance and the threshold")
    ax.legend(fontsize=7)
    return _save(fig, path)


def _plot_costs(rc: pd.DataFrame, path: Path) -> Path:
    """Per-rebalance costs: estimated fee, price impact and value lost; gas below."""
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    x = range(len(rc))
    ax1.bar(x, rc["est_swap_fee"], label="est. swap fee", color="tab:blue")
    ax1.bar(
        x,
        rc["price_impact"],
        bottom=rc["est_swap_fee"],
        label="price impact (slippage - fee)",
        color="tab:orange",
    )
    ax1.plot(x, -rc["value_change"], "k.", ms=3, label="value lost at oracle prices")
    ax1.set_ylabel("quote units")
    ax1.set_title("Cost of each rebalance (slippage vs oracle at that block)")
    ax1.legend(fontsize=7)
    ax2.bar(x, rc["gas_paid_eth"], color="tab:grey")
    ax2.set_ylabel("gas paid (ETH)")
    ax2.set_xlabel("rebalance #")
    return _save(fig, path)


def _plot_cumulative_costs(rc: pd.DataFrame, path: Path) -> Path:
    """Cumulative slippage, fees and value lost (left axis) and gas paid (right axis)."""
    times = list(rc["time"])
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(times, rc["slippage_vs_oracle"].cumsum(), label="slippage vs oracle")
    ax.plot(times, rc["est_swap_fee"].cumsum(), label="est. swap fees")
    ax.plot(times, (-rc["value_change"]).cumsum(), label="value lost at oracle prices", ls="--")
    ax.set_ylabel("quote units")
    ax3 = ax.twinx()
    ax3.plot(times, rc["gas_paid_eth"].cumsum(), color="tab:grey", label="gas paid (ETH, right)")
    ax3.set_ylabel("ETH")
    ax.set_title("Cumulative costs")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax3.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7)
    return _save(fig, path)


def _plot_keepers(k: pd.DataFrame, path: Path) -> Path:
    """Rebalances per keeper."""
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.5 * len(k)))
    ax.barh([a[:10] + ".." for a in k["keeper"]], k["rebalances"])
    ax.set_xlabel("rebalances")
    ax.set_title("Keepers involved")
    return _save(fig, path)


def write_plots(
    res: AuditResult, t: dict[str, pd.DataFrame], out: Path, symbols: list[str] | None = None
) -> dict[str, Path]:
    """One PNG per plot in ``out`` (none without a rebalance); title -> path, in page order."""
    out.mkdir(parents=True, exist_ok=True)
    rc = t["rebalance_checks"]
    imgs: dict[str, Path] = {}
    if not len(rc):
        return imgs
    imgs["Weights vs targets"] = _plot_weights(rc, _symbols(res, symbols), out / "weights.png")
    imgs["Drift and threshold"] = _plot_drift(rc, out / "drift.png")
    imgs["Costs per rebalance"] = _plot_costs(rc, out / "costs.png")
    imgs["Cumulative costs"] = _plot_cumulative_costs(rc, out / "cumulative_costs.png")
    imgs["Keepers"] = _plot_keepers(t["keepers"], out / "keepers.png")
    return imgs


def _df_html(df: pd.DataFrame, max_rows: int = 500) -> str:
    return page.frame(df, max_rows, rest=" in the CSV/Parquet files")


def write_html(
    res: AuditResult, t: dict[str, pd.DataFrame], images: dict[str, Path], path: Path, swap_fee_bps: int
) -> Path:
    by_rule = Counter(v.rule for v in res.violations)
    verdict = (
        '<p class="ok">0 violations: every rebalance followed the vault\'s rules.</p>'
        if not res.violations
        else f'<p class="bad">{len(res.violations)} violations: '
        + page.escape(", ".join(f"{r} x{n}" for r, n in sorted(by_rule.items())))
        + "</p>"
    )
    rules = page.table(
        ["rule", "what must hold", "violations"], [(k, v, by_rule.get(k, 0)) for k, v in RULES.items()]
    )
    rc = t["rebalance_checks"].drop(
        columns=["time", "weights_before", "weights_after", "targets"], errors="ignore"
    )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    note = html.escape(getattr(res, "range_note", ""))
    body = f"""<p>Blocks {res.from_block:,} .. {res.to_block:,}{f" (to {note})" if note else ""};
{len(res.events):,} events;
{len(res.rebalances):,} rebalances verified; holdings checked at {len(res.holdings_checks)} blocks;
{res.rpc_calls:,} JSON-RPC requests in {res.timings.get("total", 0):.2f} s.
Generated {generated}.</p>
{verdict}
<h2>Rules checked</h2>
{rules}
<p><small>Each rebalance is checked against state at block - 1 (parameters, targets, feeds, roles),
holdings rebuilt from events, and block time of its own block; see <code>offchain/audit/rules.py</code>.
Swap fees are estimated at {swap_fee_bps} bps of value sold.</small></p>
<h2>Violations</h2>{_df_html(t["violations"])}
<h2>Findings</h2>{_df_html(t["findings"])}
<h2>Keepers</h2>{_df_html(t["keepers"])}
{page.figures(images.items())}
<h2>Rebalances</h2>{_df_html(rc)}"""
    return page.write(
        path, f"ballast audit {res.meta.address}", body, heading=f"ballast audit: vault {res.meta.address}"
    )
