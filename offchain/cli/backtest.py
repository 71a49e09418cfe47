"""``ballast backtest``: replay a daily price table under several rebalancing policies and compare them.

Every option has an environment-variable equivalent ``BALLAST_BACKTEST_<NAME>`` (shown in its help),
used when the flag is absent; the flag wins. ``--policy`` may be repeated; its variable takes several
specs separated by ``;``. Bad input raises a ``BallastError``, which ``offchain.cli`` prints as one
line with exit code 2. The shared cost/output options live here and are reused by ``simulate``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from offchain.cli import COMMANDS
from offchain.cli._args import argtype, number
from offchain.cli.options import Options
from offchain.core.errors import InputError
from offchain.core.lazy import LazyModule
from offchain.quant.costs import CostModel
from offchain.quant.policies import POLICY_HELP, Policy, parse_policy

pd = LazyModule("pandas")

__all__ = [
    "register",
    "run",
    "add_cost_arguments",
    "add_output_arguments",
    "cost_model",
    "parse_weights",
    "progress_bar",
    "emit",
]

log = logging.getLogger(__name__)

DEFAULT_POLICIES = ("buy-and-hold", "calendar:monthly", "threshold:500bps")
PROGRESS_MIN_WORK = 20_000_000  # asset-steps; below this a run takes well under a second


_number = number
_policy_arg = argtype(parse_policy)


def add_cost_arguments(opts: Options) -> None:
    """Cost-model flags (defaults: 0.3 % fee, $10M pools, 120k + 90k gas, 20 gwei, $3,000)."""
    d = CostModel()
    specs: list[tuple[str, Callable[[str], float], float, str]] = [
        ("--fee-bps", _number("fee", nonneg=True), d.fee_bps, "AMM swap fee in bps"),
        (
            "--pool-liquidity",
            _number("pool liquidity", positive=True, allow_inf=True),
            d.pool_liquidity_usd,
            "USD per side of each constant-product pool (price impact); 'inf' for none",
        ),
        (
            "--gas-per-rebalance",
            _number("gas", nonneg=True),
            d.gas_per_rebalance,
            "gas units per rebalance call",
        ),
        ("--gas-per-swap", _number("gas", nonneg=True), d.gas_per_swap, "gas units per swap"),
        ("--gas-price", _number("gas price", nonneg=True), d.gas_price_gwei, "gas price in gwei"),
        (
            "--native-price",
            _number("native price", nonneg=True),
            d.native_price_usd,
            "USD price of the chain's native token",
        ),
        (
            "--max-trade-bps",
            _number("max trade", nonneg=True),
            d.max_trade_bps,
            "cap on value sold per rebalance, bps of vault value (10000 = none)",
        ),
        ("--min-trade", _number("min trade", nonneg=True), d.min_trade_usd, "skip swaps below this many USD"),
    ]
    for flag, conv, default, text in specs:
        opts.add(flag, group="costs", type=conv, default=str(default), help=f"{text} (default {default:g})")
    opts.add(
        "--no-costs",
        group="costs",
        action="store_true",
        help="frictionless run: no fee, impact, gas or haircut (trades land exactly on target)",
    )


def add_output_arguments(opts: Options) -> None:
    """``--out``, ``--json``, ``--no-report``, ``--no-progress`` (the report of ``opts.command``)."""
    opts.add(
        "--out",
        group="output",
        type=Path,
        help="directory for the PNG plots, report.html and results.json "
        f"(default reports/{opts.command}-<UTC timestamp>)",
    )
    opts.add(
        "--json",
        group="output",
        action="store_true",
        help="print machine-readable JSON to stdout instead of the table",
    )
    opts.add("--no-report", group="output", action="store_true", help="skip the PNG/HTML report (faster)")
    opts.add(
        "--no-progress",
        group="output",
        action="store_true",
        help="never show the progress bar (shown on stderr for long runs)",
    )


def cost_model(args: argparse.Namespace) -> CostModel:
    if args.no_costs:
        return CostModel.zero()
    return CostModel(
        fee_bps=args.fee_bps,
        pool_liquidity_usd=args.pool_liquidity,
        gas_per_rebalance=args.gas_per_rebalance,
        gas_per_swap=args.gas_per_swap,
        gas_price_gwei=args.gas_price,
        native_price_usd=args.native_price,
        max_trade_bps=args.max_trade_bps,
        min_trade_usd=args.min_trade,
    )


def parse_weights(text: Any, assets: Sequence[str]) -> np.ndarray:
    """Target weights from ``'A=0.6,B=0.4'``, ``'0.6,0.4'``, ``'6000,4000'`` (bps), ``'equal'``, a list
    or a mapping; fractions summing to 1 or integer bps summing to 10_000. Returns fractions."""
    from offchain.quant.data import validate_weights  # noqa: PLC0415

    if text is None or (isinstance(text, str) and not text.strip()):
        raise InputError("no target weights given; use --weights 'A=0.6,B=0.4', '6000,4000' or 'equal'")
    if isinstance(text, str):
        t = text.strip()
        if t.lower() == "equal":
            return np.full(len(assets), 1.0 / len(assets))
        parts = [x.strip() for x in t.split(",") if x.strip()]
        if parts and all("=" in x for x in parts):
            mapping: dict[str, float] = {}
            for x in parts:
                k, _, v = x.partition("=")
                try:
                    mapping[k.strip()] = float(v)
                except ValueError:
                    raise InputError(f"weight for {k.strip()!r} is not a number: {v!r}") from None
            missing = [a for a in assets if a not in mapping]
            if missing and len(mapping) < len(assets):
                log.debug("assets without a weight get 0: %s", missing)
            return validate_weights(mapping, list(assets))
        if any("=" in x for x in parts):
            raise InputError("mix of 'NAME=weight' and bare weights; use one form for all assets")
        try:
            nums = [float(x) for x in parts]
        except ValueError:
            raise InputError(f"weights must be numbers or NAME=number pairs; got {text!r}") from None
        return validate_weights(nums, list(assets))
    return validate_weights(text, list(assets))


@contextmanager
def progress_bar(
    total: int, work: float, disabled: bool, label: str
) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on stderr when ``work`` (asset-steps) is large; yields the advance callback."""
    if disabled or work < PROGRESS_MIN_WORK:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as prog:
        task = prog.add_task(label, total=total)
        yield lambda k: prog.advance(task, k)


def emit(
    results: Sequence[Any],
    args: argparse.Namespace,
    command: str,
    title: str,
    notes: list[str],
    extra: dict[str, Any],
) -> int:
    """Write the report (unless --no-report) and print the table or the JSON."""
    from offchain.report.backtest import comparison_table, default_out_dir, to_json, write_report  # noqa: PLC0415

    files: dict[str, Path] = {}
    if not args.no_report:
        out = args.out if args.out is not None else default_out_dir(command)
        files = write_report(results, Path(out), title, notes, extra)
    if args.json:
        doc = to_json(results, extra)
        doc["files"] = {k: str(v) for k, v in files.items()}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return 0
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = Console(width=max(console.width, 160))
    console.print(comparison_table(results, title))
    for n in notes:
        console.print(f"[dim]{n}[/dim]")
    if files:
        console.print(f"report: {files['html']}")
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Add the ``backtest`` sub-command to the ``ballast`` parser."""
    p = sub.add_parser(
        "backtest",
        help=COMMANDS["backtest"],
        description=(
            "Replay a daily price table (CSV, or 'sp500' for the bundled sample) under one or more "
            "rebalancing policies, with AMM fees, constant-product price impact and gas, and print a "
            "comparison table (annualised return, vol, Sharpe, max drawdown, tracking error, turnover, "
            "costs, rebalances). Writes PNG plots and one self-contained HTML report into --out. Each "
            "option can also be set by the environment variable shown in its help; a flag wins."
        ),
    )
    opts = Options(p, "backtest")
    opts.add(
        "prices",
        env="PRICES",
        metavar="PRICES",
        nargs="?",
        help="CSV of daily prices: a 'date' column + one column per asset (.gz ok), or 'sp500'",
    )
    opts.add(
        "--weights",
        help="target weights: 'AAPL=0.6,MSFT=0.4', '0.6,0.4' (column order), '6000,4000' (bps) or 'equal'",
    )
    opts.add(
        "--policy",
        dest="policies",
        action="append",
        type=_policy_arg,
        default=None,
        help=f"rebalancing policy, repeatable: {POLICY_HELP} (default: {', '.join(DEFAULT_POLICIES)})",
    )
    opts.add("--assets", help="comma-separated columns to use, in this order (default: all)")
    opts.add("--start", help="first date, YYYY-MM-DD")
    opts.add("--end", help="last date, YYYY-MM-DD")
    opts.add(
        "--initial-value",
        type=_number("initial value", positive=True),
        default="1000000",
        help="starting vault value in USD (default 1000000)",
    )
    opts.add(
        "--risk-free",
        type=_number("risk-free rate"),
        default="0",
        help="annual risk-free rate for the Sharpe ratio, a fraction (default 0)",
    )
    add_cost_arguments(opts)
    add_output_arguments(opts)
    p.set_defaults(func=run)
    return p


def _load(args: argparse.Namespace) -> pd.DataFrame:
    from offchain.quant.data import load_prices, sp500  # noqa: PLC0415

    if not args.prices:
        raise InputError(
            "no price file given; pass PRICES (a CSV path or 'sp500') or set BALLAST_BACKTEST_PRICES"
        )
    assets = [a.strip() for a in args.assets.split(",") if a.strip()] if args.assets else None
    if str(args.prices).strip().lower() == "sp500":
        px = sp500()
        if assets:
            unknown = [a for a in assets if a not in px.columns]
            if unknown:
                raise InputError(
                    f"sp500 has no column(s) {', '.join(unknown)}; it has {', '.join(px.columns)}"
                )
            px = px[assets]
    else:
        px = load_prices(args.prices, assets=assets)
    try:
        start = pd.Timestamp(args.start) if args.start else None
        end = pd.Timestamp(args.end) if args.end else None
    except ValueError as exc:
        raise InputError(f"bad --start/--end date: {exc}; use YYYY-MM-DD") from exc
    px = px.loc[start:end]
    if len(px) < 2:
        raise InputError("fewer than two dates of prices in the selected range; widen --start/--end")
    return px


def run(args: argparse.Namespace) -> int:
    from offchain.quant.backtest import backtest  # noqa: PLC0415

    policies: list[Policy] = args.policies or [parse_policy(s) for s in DEFAULT_POLICIES]
    costs = cost_model(args)
    px = _load(args)
    weights = parse_weights(args.weights, list(px.columns))
    T, n = px.shape
    t = time.perf_counter()
    with progress_bar(T * len(policies), T * n * len(policies), args.no_progress, "backtest") as adv:
        results = backtest(
            px,
            weights,
            policies,
            costs,
            initial_value=args.initial_value,
            risk_free=args.risk_free,
            progress=adv,
        )
    elapsed = time.perf_counter() - t
    title = f"Backtest {px.index[0].date()} .. {px.index[-1].date()}: {n} assets, {T} days"
    notes = [
        f"costs: {'none' if args.no_costs else costs_text(costs)}",
        f"targets: {', '.join(f'{a} {w:.2%}' for a, w in zip(px.columns, weights, strict=True))}",
        f"{len(policies)} policies simulated in {elapsed * 1000:.0f} ms",
    ]
    extra = {"command": "backtest", "prices": str(args.prices), "costs": costs_dict(costs)}
    return emit(results, args, "backtest", title, notes, extra)


def costs_text(c: CostModel) -> str:
    return (
        f"fee {c.fee_bps:g} bps, pools ${c.pool_liquidity_usd:,.0f}/side, gas {c.gas_per_rebalance:,.0f} + "
        f"{c.gas_per_swap:,.0f}/swap at {c.gas_price_gwei:g} gwei x ${c.native_price_usd:,.0f}"
        if np.ndim(c.pool_liquidity_usd) == 0
        else f"fee {c.fee_bps:g} bps, per-pair pools, gas {c.gas_per_rebalance:,.0f} + "
        f"{c.gas_per_swap:,.0f}/swap"
    )


def costs_dict(c: CostModel) -> dict[str, Any]:
    liq = c.pool_liquidity_usd
    return {
        "fee_bps": c.fee_bps,
        "pool_liquidity_usd": (None if math.isinf(float(liq)) else float(liq))
        if np.ndim(liq) == 0
        else "matrix",
        "gas_per_rebalance": c.gas_per_rebalance,
        "gas_per_swap": c.gas_per_swap,
        "gas_price_gwei": c.gas_price_gwei,
        "native_price_usd": c.native_price_usd,
        "max_trade_bps": c.max_trade_bps,
        "min_trade_usd": c.min_trade_usd,
    }
