"""How much of the vault's loss budget an HONEST keeper uses: the evidence behind the default.

The vault charges every rebalance's loss against the oracle (value before - value after, as a fraction
of value before) to a leaky bucket that holds ``loss_budget_bps`` and refills at ``loss_budget_bps``
per ``loss_window`` (``contracts/RebalancingVault.vy``, I9). An honest keeper on a real AMM loses the
swap fee and the price impact of what it trades, nothing more (gas is paid by the keeper, not the
vault). This script replays the bundled S&P 500 table (20 stocks, 1990-2022: the 2008 crash and
March 2020 included) with the simulator's cost model (``offchain.quant.costs.CostModel``: Uniswap V2 fee and
constant-product impact) for several baskets and policies, runs the vault's bucket over the
rebalances, and prints the peak use as a share of the budget. Pool depth is stated as a multiple of
the vault's value at each rebalance (a fixed-dollar pool would be dwarfed by a vault that grew 37x
over 33 years): the loss of a rebalance is the fee on the value sold plus the constant-product impact
of selling ``s`` into a pool side of depth ``D``, ``s * s / (D + s)``, an upper bound for a plan
split over several pools.

Run: ``.venv/bin/python bench/bench_loss_budget.py [--budget-bps 100] [--window-days 7] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from offchain.core.model import DEFAULT_PARAMS, Params  # noqa: E402
from offchain.quant.backtest import backtest  # noqa: E402
from offchain.quant.costs import CostModel  # noqa: E402
from offchain.quant.data import sp500  # noqa: E402
from offchain.quant.policies import Hybrid, Threshold  # noqa: E402

DAY = 86_400


def bucket_peak(times: np.ndarray, losses: np.ndarray, budget: float, window: float) -> tuple[float, float]:
    """Peak bucket use (fraction of value) and the largest loss in any rolling window, both as fractions.

    The bucket is the contract's: drained linearly at ``budget / window`` per second since the last
    rebalance, then charged with the rebalance's loss.
    """
    used, last, peak = 0.0, None, 0.0
    for t, loss in zip(times, losses, strict=True):
        if last is not None:
            used = max(0.0, used - (t - last) * budget / window)
        used += loss
        peak = max(peak, used)
        last = t
    rolling = 0.0
    j = 0
    acc = 0.0
    for i in range(len(times)):
        acc += losses[i]
        while times[i] - times[j] >= window:
            acc -= losses[j]
            j += 1
        rolling = max(rolling, acc)
    return peak, rolling


def run(args: argparse.Namespace) -> dict:
    prices = sp500()
    budget = args.budget_bps / 10_000
    window = args.window_days * DAY
    fee = 0.003
    p: Params = DEFAULT_PARAMS
    policies = [Hybrid.from_params(p), Threshold(200), Threshold(100)]
    rows = []
    for n in (2, 4, 8):  # the vault holds 2-8 assets
        table = prices.iloc[:, :n]
        weights = np.full(n, 1.0 / n)
        # frictionless replay gives the rebalance dates and values sold; costs are charged below
        for res in backtest(table, weights, policies, CostModel.zero(), initial_value=1_000_000.0):
            ev = res.events
            times = np.array([e.date.timestamp() for e in ev])
            value = np.array([e.value for e in ev])
            sold = np.array([e.sold for e in ev]) / value  # fraction of vault value sold
            for depth in args.depths:
                losses = fee * sold + sold * sold / (depth + sold)
                peak, rolling = bucket_peak(times, losses, budget, window)
                rows.append(
                    {
                        "assets": n,
                        "pool_depth_x_vault": depth,
                        "policy": res.policy.spec(),
                        "rebalances": len(ev),
                        "max_sold_pct": float(sold.max() * 100),
                        "max_loss_bps": float(losses.max() * 1e4),
                        "mean_loss_bps": float(losses.mean() * 1e4),
                        "max_window_loss_bps": float(rolling * 1e4),
                        "peak_bucket_pct_of_budget": float(peak / budget * 100),
                    }
                )
    return {"budget_bps": args.budget_bps, "window_days": args.window_days, "rows": rows}


def render(res: dict, console: Console) -> None:
    t = Table(
        title=(
            f"Honest keeper vs the loss budget ({res['budget_bps']} bps per {res['window_days']:g} days), "
            "bundled S&P 500 1990-2022, equal weights, fee 30 bps"
        )
    )
    cols = ("assets", "pool side", "policy", "rebal.", "max sold", "max loss", "max in a window", "peak use")
    for col in cols:
        t.add_column(col, justify="right")
    for r in res["rows"]:
        t.add_row(
            str(r["assets"]),
            f"{r['pool_depth_x_vault']:g}x vault",
            r["policy"],
            str(r["rebalances"]),
            f"{r['max_sold_pct']:.1f} %",
            f"{r['max_loss_bps']:.2f} bps",
            f"{r['max_window_loss_bps']:.2f} bps",
            f"{r['peak_bucket_pct_of_budget']:.1f} %",
        )
    console.print(t)
    worst = max(r["peak_bucket_pct_of_budget"] for r in res["rows"])
    console.print(f"Worst peak use of the budget by an honest keeper: {worst:.1f} % (refused above 100 %)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--budget-bps", type=int, default=DEFAULT_PARAMS.loss_budget_bps, help="default %(default)s"
    )
    ap.add_argument(
        "--window-days", type=float, default=DEFAULT_PARAMS.loss_window / DAY, help="default %(default)s"
    )
    ap.add_argument(
        "--depths",
        type=float,
        nargs="+",
        default=[5.0, 20.0, 100.0],
        help="pool side depth as multiples of vault value (default 5 20 100)",
    )
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    res = run(args)
    res["seconds"] = round(time.perf_counter() - t0, 2)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        console = Console()
        render(res, console)
        console.print(f"Took {res['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
