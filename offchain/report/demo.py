"""The demo's year as a page: ``report.html`` (value, drift and weight plots, every rebalance read
back from the chain, the vault vs buy-and-hold comparison) and ``demo.json`` beside it.

Input is plain data (``offchain.devnet.year.YearResult`` fields as dicts and lists), so this
module needs no chain library."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from offchain.report import page

REBALANCE_COLUMNS = (
    "day",
    "block",
    "reason",
    "drift before → after (bps)",
    "swaps",
    "value before",
    "cost (USD)",
    "gas",
)


def rebalance_cells(r: dict[str, Any]) -> list[str]:
    """One rebalance row as text, in ``REBALANCE_COLUMNS`` order (the console table uses it too)."""
    return [
        str(r["day"]),
        str(r["block"]),
        r["reason"],
        f"{r['drift_before']} → {r['drift_after']}",
        str(r["swaps"]),
        f"{r['value_before']:,.0f}",
        f"{r['cost']:,.2f}",
        f"{r['gas']:,}",
    ]


def _plots(
    series: dict[str, Any], rows: Sequence[dict[str, Any]], threshold_bps: int
) -> list[tuple[str, bytes]]:
    import matplotlib  # noqa: PLC0415  (only when a report is written)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    days, imgs = series["day"], []
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.plot(days, series["vault"], label="vault (keeper rebalancing)")
    ax.plot(days, series["hold"], label="buy-and-hold", linestyle="--")
    for r in rows:
        ax.axvline(r["day"], color="#bbb", linewidth=0.6, zorder=0)
    ax.set_xlabel("day")
    ax.set_ylabel("value, USD")
    ax.legend()
    ax.set_title("Value (grey lines: rebalances)")
    imgs.append(("Value", page.png_bytes(fig)))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.plot(days, series["drift_vault"], label="vault drift")
    ax.plot(days, series["drift_hold"], label="buy-and-hold drift", linestyle="--")
    ax.axhline(threshold_bps, color="red", linewidth=0.8, label="threshold")
    ax.set_xlabel("day")
    ax.set_ylabel("drift, bps")
    ax.legend()
    imgs.append(("Drift", page.png_bytes(fig)))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    w = np.array(series["weights"], dtype=float) / 100
    for k, s in enumerate(series["symbols"]):
        ax.plot(days, w[:, k], label=s)
    ax.set_ylabel("weight, %")
    ax.set_xlabel("day")
    ax.legend(ncol=4)
    imgs.append(("Vault weights", page.png_bytes(fig)))
    plt.close(fig)
    return imgs


def write_report(
    out: Path,
    series: dict[str, Any],
    rows: list[dict[str, Any]],
    summary: list[tuple[str, str, str]],
    notes: list[str],
    threshold_bps: int,
) -> Path:
    """Write ``out/report.html`` and ``out/demo.json``; the page's path."""
    out.mkdir(parents=True, exist_ok=True)
    reb = page.table(REBALANCE_COLUMNS, [rebalance_cells(r) for r in rows])
    comp = page.table(["", "vault", "buy-and-hold"], [list(s) for s in summary])
    figs = page.figures(_plots(series, rows, threshold_bps))
    body = f"""{page.bullets(notes)}
<h2>Vault vs buy-and-hold</h2>{comp}<h2>Every rebalance (read back from the chain's events)</h2>{reb}
{figs}"""
    path = page.write(
        out / "report.html", "ballast demo", body, heading="ballast demo: a year on a local chain"
    )
    (out / "demo.json").write_text(
        json.dumps({"rebalances": rows, "summary": summary, "notes": notes}, indent=1)
    )
    return path
