"""``ballast optimize``: estimate annualised returns/covariance from daily prices and print target weights.

Every option has an environment-variable equivalent (``BALLAST_OPTIMIZE_<NAME>``; the first release's
``BALLAST_<NAME>`` is still read when the new one is unset) used when the flag is absent;
the flag wins. Bad input (missing file, bad columns, NaN prices, unknown objective, infeasible bounds)
raises a ``BallastError`` that ``offchain.cli`` turns into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from offchain.cli import COMMANDS
from offchain.cli._args import argtype, number
from offchain.cli.options import Options
from offchain.core.errors import InputError
from offchain.core.lazy import LazyModule
from offchain.quant.data import load_prices, sp500, validate_weights
from offchain.quant.estimators import COV_METHODS, RETURN_METHODS, TRADING_DAYS, covariance, expected_returns
from offchain.quant.optimize import OBJECTIVES, Portfolio, normalise_objective, optimize, parse_bounds

pd = LazyModule("pandas")

__all__ = ["register", "run", "parse_current", "parse_exclude"]

log = logging.getLogger(__name__)


def _choice(options: tuple[str, ...], what: str) -> Any:
    def convert(text: str) -> str:
        key = text.strip().lower().replace("_", "-")
        if key == "lw":
            key = "ledoit-wolf"
        if key not in options:
            raise argparse.ArgumentTypeError(f"unknown {what} {text!r}; choose one of {', '.join(options)}")
        return key

    return convert


_objective = argtype(normalise_objective)
_number = number


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Add the ``optimize`` sub-command to the ``ballast`` parser."""
    p = sub.add_parser(
        "optimize",
        help=COMMANDS["optimize"],
        description=(
            "Estimate annualised expected returns and covariance from a daily price table and solve a "
            "long-only mean-variance problem. Prints weights as fractions and as vault basis points "
            "(sum exactly 10000) plus expected return, volatility and Sharpe ratio. Each option can also "
            "be set by the environment variable shown in its help; a flag on the command line wins."
        ),
    )
    opts = Options(p, "optimize", legacy_prefix="BALLAST_")  # the first release's BALLAST_<NAME> too
    _add_data_arguments(opts)
    _add_portfolio_arguments(opts)
    _add_window_arguments(opts)
    p.set_defaults(func=run)
    return p


def _add_data_arguments(opts: Options) -> None:
    """PRICES and the estimators: ``--objective``, ``--returns``, ``--cov``."""
    opts.add(
        "prices",
        env="PRICES",
        metavar="PRICES",
        nargs="?",
        help="CSV of daily prices (a 'date' column + one column per asset; .gz ok), or the word 'sp500' "
        "for the bundled S&P 500 sample",
    )
    opts.add(
        "--objective",
        type=_objective,
        default="max-sharpe",
        help=f"one of {', '.join(OBJECTIVES)} (default max-sharpe)",
    )
    opts.add(
        "--returns",
        type=_choice(RETURN_METHODS, "return estimator"),
        default="mean",
        help="expected-return estimator: mean (arithmetic), geometric (CAGR) or ewma (default mean)",
    )
    opts.add(
        "--cov",
        type=_choice(COV_METHODS, "covariance estimator"),
        default="sample",
        help="covariance estimator: sample, ewma or ledoit-wolf (default sample)",
    )


def _add_portfolio_arguments(opts: Options) -> None:
    """The portfolio problem: bounds, exclusions, risk-free rate, targets, current weights."""
    opts.add(
        "--bounds",
        help="weight bounds as fractions: 'lo:hi' for all assets and/or 'NAME=lo:hi,...' per asset, "
        "e.g. '0:0.4' or '0:0.25,AAPL=0.05:0.4' (default 0:1)",
    )
    opts.add(
        "--exclude",
        help="tickers to hold at 0, e.g. an ESG exclusion list: 'XOM,CVX', or '@FILE' with one ticker "
        "per line",
    )
    opts.add(
        "--risk-free",
        type=_number("risk-free rate"),
        default="0",
        help="annual risk-free rate as a fraction, for max-sharpe and the reported Sharpe (default 0)",
    )
    opts.add(
        "--target-vol",
        type=_number("target volatility", positive=True),
        help="annual volatility target for --objective target-volatility, e.g. 0.15",
    )
    opts.add(
        "--target-return",
        type=_number("target return"),
        help="annual return target for --objective target-return, e.g. 0.10",
    )
    opts.add(
        "--risk-aversion",
        type=_number("risk aversion", positive=True),
        default="1",
        help="δ for quadratic-utility: maximise mu'w - δ/2 w'Σw (λ = 1/δ in min ½w'Σw - λ mu'w; default 1)",
    )
    opts.add(
        "--current",
        help="current weights, fractions or bps: 'AAPL=0.5,MSFT=0.5' or '5000,5000' in column order",
    )
    opts.add(
        "--turnover-penalty",
        type=_number("turnover penalty", nonneg=True),
        default="0",
        help="cost per unit of turnover |w - current| added to the objective (needs --current; e.g. 0.001 = "
        "10 bps)",
    )


def _add_window_arguments(opts: Options) -> None:
    """Annualisation, EWMA spans, the estimation window and the output format."""
    opts.add(
        "--trading-days",
        type=_number("trading days per year", positive=True),
        default=str(TRADING_DAYS),
        help=f"trading days per year used to annualise (default {TRADING_DAYS})",
    )
    opts.add(
        "--returns-span",
        type=_number("EWMA span", positive=True),
        default="500",
        help="EWMA span in days for --returns ewma (default 500)",
    )
    opts.add(
        "--cov-span",
        type=_number("EWMA span", positive=True),
        default="180",
        help="EWMA span in days for --cov ewma (default 180)",
    )
    opts.add(
        "--start",
        help="first date of the estimation window, YYYY-MM-DD (default: first row)",
    )
    opts.add(
        "--end",
        help="last date of the estimation window, YYYY-MM-DD (default: last row)",
    )
    opts.add(
        "--json",
        action="store_true",
        help="print machine-readable JSON instead of a table",
    )


def parse_current(text: str, assets: list[str]) -> np.ndarray:
    """Parse ``--current``: ``'NAME=w,...'`` (unnamed assets 0) or plain numbers in column order;
    fractions summing to 1 or bps summing to 10_000. Returns fractions; ``InputError`` otherwise."""
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise InputError("--current is empty; give e.g. 'AAPL=0.5,MSFT=0.5' or '5000,5000'")
    try:
        if all("=" in t for t in items):
            mapping: dict[str, float] = {}
            for t in items:
                name, _, value = t.partition("=")
                if name.strip() in mapping:
                    raise InputError(f"--current names {name.strip()!r} twice")
                mapping[name.strip()] = float(value)
            return validate_weights(mapping, assets)
        if any("=" in t for t in items):
            raise InputError("--current mixes NAME=w and plain numbers; use one form")
        return validate_weights([float(t) for t in items], assets)
    except ValueError as exc:
        raise InputError(f"--current must hold numbers, got {text!r}") from exc


def parse_exclude(text: str | None) -> list[str]:
    """``--exclude``: comma-separated tickers, or ``@FILE`` naming a text file with tickers separated by
    commas/newlines (``#`` starts a comment), e.g. an ESG exclusion list. Returns unique tickers in order."""
    if text is None or not str(text).strip():
        return []
    raw = str(text).strip()
    if raw.startswith("@"):
        path = Path(raw[1:]).expanduser()
        try:
            content = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(
                f"cannot read exclusion list {path} ({exc.__class__.__name__}); check the path"
            ) from exc
        raw = ",".join(line.split("#", 1)[0] for line in content.splitlines())
    out: list[str] = []
    for item in raw.replace("\n", ",").split(","):
        name = item.strip()
        if name and name not in out:
            out.append(name)
    return out


def _load(source: str | None) -> tuple[pd.DataFrame, str]:
    if source is None or not str(source).strip():
        raise InputError("no price data given; pass PRICES.csv (or 'sp500'), or set BALLAST_OPTIMIZE_PRICES")
    src = str(source).strip()
    if src.lower() == "sp500" and not Path(src).exists():
        return sp500(), "sp500 (bundled skfolio sample)"
    return load_prices(src), src


def _window(prices: pd.DataFrame, start: str | None, end: str | None) -> pd.DataFrame:
    def ts(text: str | None, flag: str) -> pd.Timestamp | None:
        if text is None or not str(text).strip():
            return None
        try:
            return pd.Timestamp(str(text).strip())
        except (ValueError, TypeError) as exc:
            raise InputError(f"{flag} {text!r} is not a date; use YYYY-MM-DD") from exc

    lo, hi = ts(start, "--start"), ts(end, "--end")
    if lo is not None and hi is not None and lo > hi:
        raise InputError(f"--start {lo.date()} is after --end {hi.date()}; swap them")
    out = prices.loc[lo:hi]
    if len(out) < 3:
        first, last = prices.index[0].date(), prices.index[-1].date()
        raise InputError(
            f"only {len(out)} price row(s) between --start and --end (data covers {first} to {last}); "
            f"widen the window"
        )
    return out


def run(args: argparse.Namespace) -> int:
    """Execute ``ballast optimize``; returns the exit code (0 on success)."""
    prices, label = _load(args.prices)
    prices = _window(prices, args.start, args.end)
    assets = [str(c) for c in prices.columns]
    mu = expected_returns(prices, args.returns, frequency=args.trading_days, span=args.returns_span)
    cov = covariance(prices, args.cov, frequency=args.trading_days, span=args.cov_span)
    bounds = parse_bounds(args.bounds, assets) if args.bounds else None
    exclude = parse_exclude(args.exclude)
    current = parse_current(args.current, assets) if args.current else None
    if args.turnover_penalty > 0 and current is None:
        raise InputError("--turnover-penalty needs --current (the weights you hold now)")
    pf = optimize(
        mu,
        cov,
        args.objective,
        bounds=bounds,
        exclude=exclude,
        risk_free_rate=args.risk_free,
        target_volatility=args.target_vol,
        target_return=args.target_return,
        risk_aversion=args.risk_aversion,
        current_weights=current,
        turnover_penalty=args.turnover_penalty,
    )
    meta = {
        "prices": label,
        "start": prices.index[0].date().isoformat(),
        "end": prices.index[-1].date().isoformat(),
        "observations": int(len(prices)),
        "returns_method": args.returns,
        "cov_method": args.cov,
        "trading_days": int(args.trading_days)
        if float(args.trading_days).is_integer()
        else args.trading_days,
        "excluded": exclude,
    }
    try:
        if args.json:
            payload = {**meta, **pf.as_dict()}
            if current is not None:
                payload["current"] = dict(zip(assets, map(float, current), strict=True))
            print(json.dumps(payload, indent=2))
        else:
            _print_table(pf, meta, current, set(exclude))
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. `ballast optimize ... | head`: the reader left, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _print_table(pf: Portfolio, meta: dict[str, Any], current: np.ndarray | None, excluded: set[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    console.print(f"[bold]ballast optimize[/bold]: {pf.objective}")
    console.print(
        f"data: {meta['prices']}, {meta['start']} .. {meta['end']} ({meta['observations']} days); "
        f"returns={meta['returns_method']}, cov={meta['cov_method']}, {meta['trading_days']} trading days/yr",
        markup=False,
    )
    table = Table()
    table.add_column("asset")
    table.add_column("weight", justify="right")
    table.add_column("bps", justify="right")
    if current is not None:
        table.add_column("current", justify="right")
    for i, (name, w) in enumerate(pf.weights.items()):
        row = [name + (" (excluded)" if name in excluded else ""), f"{w:.4%}", str(int(pf.bps[name]))]
        if current is not None:
            row.append(f"{current[i]:.2%}")
        table.add_row(*row)
    table.add_section()
    total = ["total", f"{pf.weights.sum():.4%}", str(int(pf.bps.sum()))]
    table.add_row(*(total + ([f"{current.sum():.2%}"] if current is not None else [])))
    console.print(table)
    console.print(f"expected return  {pf.expected_return:.4%} / yr")
    console.print(f"volatility       {pf.volatility:.4%} / yr")
    console.print(f"Sharpe ratio     {pf.sharpe:.4f}  (risk-free {pf.risk_free_rate:.4%})")
    if pf.turnover is not None:
        console.print(f"turnover         {pf.turnover:.4%} (sum |w - current|)")
