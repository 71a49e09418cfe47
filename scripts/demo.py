"""`make demo`: a year of the whole product on a local chain (``offchain.devnet.year``).

Starts Anvil (``make demo CHAIN=ganache``: Ganache 7.9.2), deploys the local stack (4 token doubles,
Chainlink feed doubles, the genuine Uniswap V2 with deep pools, the vault and the lens), deposits,
then plays one step per day:

1. the feeds move: WBTC, WETH and LINK follow the simulator's correlated GBM calibrated to three
   stocks of the bundled real S&P 500 sample (AMD, RRC and GE over its last 1,260 days; stand-ins,
   not crypto data), or with ``--replay`` the last ``--days`` days of those stocks' actual prices;
   USDC stays at $1;
2. an arbitrageur trades every pool back to the feed prices, in the same block;
3. chain time moves a day, and the keeper (``offchain.keeper``, the same code as
   ``ballast keeper run``) runs one cycle and rebalances when the vault allows it.

It ends with every rebalance read back from the chain's events, a comparison with buy-and-hold
(value, drift, costs), an HTML report (``--out``), and stops the chain.
Every option is also an env var ``BALLAST_DEMO_<NAME>``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402

from offchain.chain.node import chain_kind  # noqa: E402
from offchain.core.errors import BallastError, InputError  # noqa: E402
from offchain.devnet.year import Year, YearConfig  # noqa: E402
from offchain.report.demo import REBALANCE_COLUMNS, rebalance_cells, write_report  # noqa: E402

console = Console()


TRUE = ("1", "true", "yes", "on")
# (field of YearConfig or "out", value type, help). Each is the flag --<field> and the env var
# BALLAST_DEMO_<FIELD>; the default is YearConfig's.
OPTIONS: list[tuple[str, type, str]] = [
    ("days", int, "daily steps (1-2000)"),
    ("seed", int, "random walk seed"),
    ("replay", bool, "replay the stand-ins' real last DAYS daily returns instead of a random walk"),
    ("deposit_usd", int, "first deposit, USD"),
    ("threshold_bps", int, "vault drift threshold, bps"),
    ("period_days", int, "vault calendar period, days"),
    ("min_drift_bps", int, "vault minimum drift for a calendar rebalance, bps"),
    (
        "policy",
        str,
        "keeper policy on top of the vault's trigger, e.g. band-edge:300bps (default: the vault's)",
    ),
    ("zero_drift", bool, "random walk without the stand-ins' mean return (volatility and correlation only)"),
    ("vol_scale", float, "scale the volatility"),
    ("out", str, "report directory"),
]
DEFAULT_OUT = "reports/demo"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"demo: error: {message} (see 'scripts/demo.py --help')\n")


def _default(name: str, kind: type) -> Any:
    """The option's env var if set (checked like the flag would be), else YearConfig's default."""
    env = f"BALLAST_DEMO_{name.upper()}"
    fallback = DEFAULT_OUT if name == "out" else getattr(YearConfig, name)
    text = os.environ.get(env)
    if text is None:
        return fallback
    if kind is bool:
        return text.strip().lower() in TRUE
    try:
        return kind(text.replace("_", "") if kind in (int, float) else text)
    except ValueError:
        raise InputError(
            f"{env}={text!r} is not {'an integer' if kind is int else 'a number'}; fix or unset it"
        ) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = _Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, kind, text in OPTIONS:
        flag, env, default = (
            "--" + name.replace("_", "-"),
            f"BALLAST_DEMO_{name.upper()}",
            _default(name, kind),
        )
        shown = (
            ""
            if default is None
            else f"default: {'on' if default is True else 'off' if default is False else default}; "
        )
        if kind is bool:
            p.add_argument(flag, action="store_true", default=default, help=f"{text} ({shown}env {env}=1)")
        else:
            p.add_argument(flag, type=kind, default=default, help=f"{text} ({shown}env {env})")
    return p.parse_args(argv)


def config(args: argparse.Namespace) -> YearConfig:
    return YearConfig(**{k: getattr(args, k) for k in YearConfig.__dataclass_fields__})


def _print_rebalances(rows: list[dict]) -> None:
    t = Table(title=f"Every rebalance ({len(rows)}), read back from the vault's Rebalanced/Swapped events")
    for col in REBALANCE_COLUMNS:
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(*rebalance_cells(r))
    console.print(t)


def _print_summary(summary: list[tuple[str, str, str]]) -> None:
    c = Table(title="Vault vs buy-and-hold of the same deposit")
    for col in ("", "vault", "buy-and-hold"):
        c.add_column(col, justify="right")
    for s in summary:
        c.add_row(*s)
    console.print(c)


def run(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    cfg = config(args)
    year = Year(cfg, say=console.print)
    with Progress(
        TextColumn("[bold]year on chain[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("days", total=cfg.days, status="")

        def on_day(day: int, status: str, rebalanced: str | None) -> None:
            if rebalanced:
                bar.console.print(f"day {day:>3}: keeper " + escape(rebalanced.split("keeper ", 1)[-1]))
            bar.update(task, advance=1, status=status)

        result = year.play(on_day)
    _print_rebalances(result.rows)
    _print_summary(result.summary)
    path = write_report(
        Path(args.out), result.series.as_dict(), result.rows, result.summary, result.notes, cfg.threshold_bps
    )
    console.print(f"Report: {path}")
    console.print(f"{chain_kind().capitalize()} stopped. Demo took {time.monotonic() - t0:.1f} s.")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(parse_args(argv))
    except BallastError as exc:  # one line on stderr, never wrapped
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("demo: interrupted; the local chain stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
