"""Reports for ``ballast backtest`` / ``ballast simulate``: a rich comparison table, PNG plots, one
self-contained HTML file (PNGs embedded as base64) and a JSON document.

Conventions: metrics as in ``offchain.quant.metrics`` (annualised fractions, USD totals); weights and drift
plotted as percentages. Plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from rich.table import Table  # noqa: E402

from offchain.core.errors import InputError  # noqa: E402
from offchain.quant.backtest import SimResult  # noqa: E402
from offchain.quant.metrics import METRICS  # noqa: E402
from offchain.quant.policies import BandEdge, Calendar, Dynamic, Hybrid, Threshold  # noqa: E402
from offchain.report import page  # noqa: E402

__all__ = [
    "fmt",
    "comparison_table",
    "write_plots",
    "write_html",
    "to_json",
    "write_report",
    "default_out_dir",
]

log = logging.getLogger(__name__)

_COLOURS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def default_out_dir(command: str) -> Path:
    """``reports/<command>-<UTC timestamp>``."""
    return Path("reports") / f"{command}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def fmt(value: float, kind: str) -> str:
    """Format a metric value by kind (usd / pct / num / int)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if kind == "usd":
        return f"${value:,.0f}"
    if kind == "pct":
        return f"{100 * value:.2f}%"
    if kind == "int":
        return f"{value:,.0f}"
    return f"{value:.3f}"


def _cell(r: SimResult, key: str) -> str:
    kind = METRICS[key][1]
    s = r.summary[key]
    if r.n_paths == 1:
        return fmt(s["p50"], kind)
    return f"{fmt(s['p50'], kind)}\n[dim]{fmt(s['p5'], kind)} … {fmt(s['p95'], kind)}[/dim]"


def comparison_table(results: Sequence[SimResult], title: str) -> Table:
    """One column per policy, one row per metric (multi-path: median, with 5th … 95th percentile)."""
    multi = any(r.n_paths > 1 for r in results)
    table = Table(title=title, show_lines=multi)
    table.add_column("metric", style="bold")
    for r in results:
        table.add_column(r.name, justify="right")
    for key, (label, _kind) in METRICS.items():
        table.add_row(label, *(_cell(r, key) for r in results))
    if multi:
        table.caption = "median, and 5th … 95th percentile across paths"
    return table


def _band(r: SimResult) -> float | None:
    p = r.policy
    if isinstance(p, Threshold | BandEdge):
        return p.band_bps / 10_000
    if isinstance(p, Hybrid):
        return p.threshold_bps / 10_000
    if isinstance(p, Dynamic) and p.band_bps:
        return p.band_bps / 10_000
    if isinstance(p, Calendar) and p.min_drift_bps:
        return p.min_drift_bps / 10_000
    return None


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def write_plots(results: Sequence[SimResult], out: Path) -> dict[str, Path]:
    """cumulative value, weights vs target, drift with band, cost breakdown -> ``out/*.png``."""
    if not results or results[0].values is None or results[0].weights is None:
        raise InputError("nothing recorded to plot; run the simulation with record=True")
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    dates = results[0].dates

    fig, ax = plt.subplots(figsize=(10, 4.5))
    for i, r in enumerate(results):
        assert r.values is not None
        c = _COLOURS[i % len(_COLOURS)]
        if r.values.shape[1] > 1:
            ax.plot(dates, r.values[:, 1:], color=c, alpha=0.08, lw=0.6)
            ax.plot(
                dates, np.median(r.values, axis=1), color=c, lw=1.6, label=f"{r.name} (median of shown paths)"
            )
        else:
            ax.plot(dates, r.values[:, 0], color=c, lw=1.3, label=r.name)
    ax.set_yscale("log")
    ax.set_ylabel("vault value (USD, log scale)")
    ax.set_title("Cumulative value" + (" (first paths)" if results[0].n_paths > 1 else ""))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    files["value"] = _save(fig, out / "value.png")

    n = len(results)
    fig, axes = plt.subplots(n, 1, figsize=(10, 2.6 * n), sharex=True, squeeze=False)
    for ax, r in zip(axes[:, 0], results, strict=True):
        assert r.weights is not None and r.targets is not None
        dev = np.abs(r.weights - r.targets).max(axis=0)
        show = np.argsort(-dev)[: min(8, len(r.assets))]
        for k, a in enumerate(sorted(show)):
            c = _COLOURS[k % len(_COLOURS)]
            ax.plot(dates, 100 * r.weights[:, a], color=c, lw=0.9, label=r.assets[a])
            ax.plot(dates, 100 * r.targets[:, a], color=c, lw=0.8, ls="--")
        ax.set_ylabel("weight %")
        ax.set_title(f"{r.name}: weights (solid) vs target (dashed), path 0", fontsize=9)
        ax.legend(fontsize=7, ncol=min(8, len(show)), loc="upper left")
        ax.grid(alpha=0.3)
    files["weights"] = _save(fig, out / "weights.png")

    fig, axes = plt.subplots(n, 1, figsize=(10, 2.2 * n), sharex=True, squeeze=False)
    for ax, r in zip(axes[:, 0], results, strict=True):
        assert r.drift is not None
        ax.plot(dates, 100 * r.drift, lw=0.8, color=_COLOURS[0], label="drift max|w - target|")
        band = _band(r)
        if band is not None:
            ax.axhline(100 * band, color="red", lw=0.9, ls="--", label=f"band {100 * band:g}%")
        ev = [e.step for e in r.events]
        if ev:
            ax.plot(dates[ev], 100 * r.drift[ev], "v", ms=3, color="black", label="rebalance")
        ax.set_ylabel("drift %")
        ax.set_title(f"{r.name}: drift, path 0", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    files["drift"] = _save(fig, out / "drift.png")

    fig, ax = plt.subplots(figsize=(max(6, 1.4 * n + 2), 4))
    names = [r.name for r in results]
    bottom = np.zeros(n)
    for key, c in (("fees", _COLOURS[0]), ("impact", _COLOURS[1]), ("gas", _COLOURS[2])):
        vals = np.array([r.summary[key]["mean"] for r in results])
        ax.bar(names, vals, bottom=bottom, color=c, label=key)
        bottom += vals
    ax.set_ylabel("USD over the run (mean across paths)")
    ax.set_title("Cost breakdown")
    ax.legend()
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    ax.grid(alpha=0.3, axis="y")
    files["costs"] = _save(fig, out / "costs.png")
    return files


def _html_table(results: Sequence[SimResult]) -> str:
    head = "".join(f"<th>{page.escape(label)}</th>" for label, _ in METRICS.values())
    rows = []
    for r in results:
        cells = []
        for key, (_, kind) in METRICS.items():
            s = r.summary[key]
            txt = fmt(s["p50"], kind)
            if r.n_paths > 1:
                txt += f"<br><small>{fmt(s['p5'], kind)} … {fmt(s['p95'], kind)}</small>"
            cells.append(f"<td>{txt}</td>")
        rows.append(f"<tr><th>{page.escape(r.name)}</th>{''.join(cells)}</tr>")
    return f"<table><tr><th>policy</th>{head}</tr>{''.join(rows)}</table>"


def write_html(
    results: Sequence[SimResult], images: dict[str, Path], path: Path, title: str, notes: Sequence[str] = ()
) -> Path:
    """One self-contained HTML file (``offchain.report.page``): the comparison table and every PNG."""
    body = f"""{page.bullets(notes)}
{_html_table(results)}
<p><small>Multi-path runs: median, with the 5th … 95th percentile across paths below it.</small></p>
{page.figures(images.items())}"""
    return page.write(path, title, body)


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def to_json(results: Sequence[SimResult], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Machine-readable results: summary statistics per policy (and per-path values for one path)."""
    doc: dict[str, Any] = dict(extra or {})
    doc["policies"] = [
        {
            "policy": r.name,
            "paths": r.n_paths,
            "steps": len(r.dates) - 1,
            "start": str(r.dates[0].date()),
            "end": str(r.dates[-1].date()),
            "assets": r.assets,
            "targets": [float(t) for t in r.initial_targets],
            "initial_value": r.initial_value,
            "summary": {k: {q: _clean(v) for q, v in s.items()} for k, s in r.summary.items()},
            "rebalances_path0": [
                {
                    "date": str(e.date.date()),
                    "reason": e.reason,
                    "swaps": e.swaps,
                    "sold": e.sold,
                    "fees": e.fees,
                    "impact": e.impact,
                    "gas": e.gas,
                }
                for e in r.events
            ]
            if r.n_paths == 1
            else None,
        }
        for r in results
    ]
    return doc


def write_report(
    results: Sequence[SimResult],
    out: Path,
    title: str,
    notes: Sequence[str] = (),
    extra: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """PNGs + ``report.html`` + ``results.json`` into ``out``; returns the files written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output directory {out}: {exc.strerror or exc}") from exc
    files = write_plots(results, out)
    files["html"] = write_html(results, files, out / "report.html", title, notes)
    data = to_json(results, extra)
    (out / "results.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    files["json"] = out / "results.json"
    log.debug("report written to %s", out)
    return files
