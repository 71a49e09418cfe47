"""``ballast simulate``: Monte Carlo comparison of rebalancing policies from a TOML scenario file.

The file (see ``examples/scenario.toml``) has top-level ``policies = [...]`` and the tables
``[simulation]`` (paths, steps, seed, initial_value, start, risk_free, chunk), ``[assets]`` (names,
weights as fractions or bps), ``[scenario]`` (``kind = "gbm"`` with annualised ``drift``, ``vol``,
``correlation``, ``periods_per_year``; ``"bootstrap"`` with ``prices`` (CSV path relative to the file,
or ``"sp500"``) and ``block``; ``"historical"`` with ``prices``) and ``[costs]`` (``CostModel`` fields).
Unknown keys are errors, so typos do not pass silently. Flags override the file; every flag has an
environment variable ``BALLAST_SIMULATE_<NAME>``.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from offchain.cli import COMMANDS
from offchain.cli.backtest import (
    _policy_arg,
    add_output_arguments,
    costs_dict,
    costs_text,
    emit,
    parse_weights,
    progress_bar,
)
from offchain.cli.options import Options
from offchain.core.errors import ConfigError, InputError
from offchain.quant.costs import CostModel
from offchain.quant.policies import POLICY_HELP, Policy, parse_policy
from offchain.quant.scenarios import BootstrapScenario, GBMScenario, HistoricalScenario, Scenario

__all__ = ["register", "run", "SimulationConfig", "load_config"]

log = logging.getLogger(__name__)

_KEYS: dict[str, set[str]] = {
    "": {"policies", "simulation", "assets", "scenario", "costs"},
    "simulation": {"paths", "steps", "seed", "initial_value", "start", "risk_free", "chunk"},
    "assets": {"names", "weights"},
    "scenario": {"kind", "drift", "vol", "correlation", "periods_per_year", "prices", "block"},
    "costs": {
        "fee_bps",
        "pool_liquidity_usd",
        "gas_per_rebalance",
        "gas_per_swap",
        "gas_price_gwei",
        "native_price_usd",
        "sell_haircut_bps",
        "max_trade_bps",
        "min_trade_usd",
    },
}


@dataclass
class SimulationConfig:
    """A parsed scenario file."""

    scenario: Scenario
    weights: np.ndarray
    policies: list[Policy]
    costs: CostModel
    paths: int
    seed: int
    initial_value: float
    risk_free: float
    chunk: int
    source: Path


def _table(doc: dict[str, Any], name: str, where: Path) -> dict[str, Any]:
    t = doc.get(name, {})
    if not isinstance(t, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    unknown = sorted(set(t) - _KEYS[name])
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)} in [{name}]; "
            f"allowed: {', '.join(sorted(_KEYS[name]))}"
        )
    return t


def _num(
    t: dict[str, Any], key: str, default: Any, where: str, *, integer: bool = False, lo: float | None = None
) -> Any:
    v = t.get(key, default)
    if v is None:
        raise ConfigError(f"{where}: missing {key}")
    if isinstance(v, bool) or not isinstance(v, int | float) or (integer and not isinstance(v, int)):
        raise ConfigError(f"{where}: {key} must be {'an integer' if integer else 'a number'}; got {v!r}")
    if isinstance(v, float) and math.isnan(v):
        raise ConfigError(f"{where}: {key} is NaN")
    if lo is not None and v < lo:
        raise ConfigError(f"{where}: {key} must be >= {lo:g}; got {v!r}")
    return v


def _vector(t: dict[str, Any], key: str, n: int, where: str) -> list[float]:
    v = t.get(key)
    if (
        not isinstance(v, list)
        or len(v) != n
        or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
    ):
        raise ConfigError(f"{where}: {key} must be a list of {n} numbers (one per asset); got {v!r}")
    return [float(x) for x in v]


def _prices(spec: Any, base: Path, where: str) -> Any:
    from offchain.quant.data import load_prices, sp500  # noqa: PLC0415

    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"{where}: prices must be a CSV path (relative to the config file) or 'sp500'")
    if spec.strip().lower() == "sp500":
        return sp500()
    path = Path(spec)
    return load_prices(path if path.is_absolute() else base / path)


def load_config(path: str | Path) -> SimulationConfig:
    """Parse and validate a scenario TOML file; ``ConfigError`` (one line) on any problem."""
    p = Path(path)
    doc = _read(p)
    sim, assets, scen, costs_t = (_table(doc, k, p) for k in ("simulation", "assets", "scenario", "costs"))
    policies = _policies(doc, p)
    kind = scen.get("kind", "gbm")
    w_sim = f"{p} [simulation]"
    scenario = _scenario(kind, sim, assets, scen, p)

    raw_w = assets.get("weights", "equal")
    try:
        weights = parse_weights(raw_w if isinstance(raw_w, str) else list(raw_w), scenario.assets)
    except (InputError, TypeError) as exc:
        raise ConfigError(f"{p} [assets]: {exc}") from exc
    try:
        costs = CostModel(**costs_t)
    except InputError as exc:
        raise ConfigError(f"{p} [costs]: {exc}") from exc
    paths = _num(sim, "paths", 1000, w_sim, integer=True, lo=1)
    if kind == "historical":
        paths = 1
    return SimulationConfig(
        scenario=scenario,
        weights=weights,
        policies=policies,
        costs=costs,
        paths=paths,
        seed=_num(sim, "seed", 0, w_sim, integer=True, lo=0),
        initial_value=float(_num(sim, "initial_value", 1_000_000, w_sim, lo=1e-9)),
        risk_free=float(_num(sim, "risk_free", 0.0, w_sim)),
        chunk=_num(sim, "chunk", 126, w_sim, integer=True, lo=1),
        source=p,
    )


def _read(p: Path) -> dict[str, Any]:
    """The scenario file's TOML document, with no unknown top-level key."""
    if not p.is_file():
        raise ConfigError(f"config file {p} not found")
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p} is not valid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {p}: {exc}") from exc
    unknown = sorted(set(doc) - _KEYS[""])
    if unknown:
        raise ConfigError(
            f"{p}: unknown top-level key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_KEYS['']))}"
        )
    return doc


def _policies(doc: dict[str, Any], p: Path) -> list[Policy]:
    """The file's ``policies`` (default: buy-and-hold, monthly calendar, 500 bps threshold)."""
    specs = doc.get("policies", ["buy-and-hold", "calendar:monthly", "threshold:500bps"])
    if not isinstance(specs, list) or not specs or not all(isinstance(s, str) for s in specs):
        raise ConfigError(f"{p}: policies must be a non-empty list of policy specs ({POLICY_HELP})")
    try:
        return [parse_policy(s) for s in specs]
    except InputError as exc:
        raise ConfigError(f"{p}: {exc}") from exc


def _scenario(
    kind: Any, sim: dict[str, Any], assets: dict[str, Any], scen: dict[str, Any], p: Path
) -> Scenario:
    """The ``[scenario]`` of ``kind`` (gbm, bootstrap or historical) over the ``[assets]`` names."""
    w_sim = f"{p} [simulation]"
    steps = _num(sim, "steps", 2520, w_sim, integer=True, lo=1)
    start = sim.get("start", "2025-01-01")
    if not isinstance(start, str):
        start = str(start)
    names = assets.get("names")
    w_sc = f"{p} [scenario]"
    scenario: Scenario
    try:
        if kind == "gbm":
            if not isinstance(names, list) or not names or not all(isinstance(a, str) for a in names):
                raise ConfigError(
                    f"{p} [assets]: names must be a non-empty list of asset names for a gbm scenario"
                )
            n = len(names)
            corr = scen.get("correlation")
            if corr is not None and (
                not isinstance(corr, list)
                or len(corr) != n
                or not all(isinstance(r, list) and len(r) == n for r in corr)
            ):
                raise ConfigError(f"{w_sc}: correlation must be a {n}x{n} list of lists")
            scenario = GBMScenario(
                names,
                _vector(scen, "drift", n, w_sc),
                _vector(scen, "vol", n, w_sc),
                corr,
                n_steps=steps,
                periods_per_year=_num(scen, "periods_per_year", 252, w_sc, lo=1),
                start=start,
            )
        elif kind in ("bootstrap", "historical"):
            px = _prices(scen.get("prices"), p.parent, w_sc)
            if names is not None:
                if not isinstance(names, list) or not all(isinstance(a, str) for a in names):
                    raise ConfigError(f"{p} [assets]: names must be a list of column names")
                missing = [a for a in names if a not in px.columns]
                if missing:
                    raise ConfigError(f"{p} [assets]: price table has no column(s) {', '.join(missing)}")
                px = px[names]
            if kind == "bootstrap":
                scenario = BootstrapScenario(
                    px,
                    n_steps=steps if "steps" in sim else None,
                    block=_num(scen, "block", 20, w_sc, integer=True, lo=1),
                    start=sim.get("start"),
                )
            else:
                scenario = HistoricalScenario(px)
        else:
            raise ConfigError(f"{w_sc}: unknown kind {kind!r}; use gbm, bootstrap or historical")
    except ConfigError:
        raise
    except InputError as exc:
        raise ConfigError(f"{w_sc}: {exc}") from exc
    return scenario


def _int(kind: str) -> Any:
    def convert(text: str) -> int:
        try:
            v = int(str(text).replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{kind} must be a whole number, got {text!r}") from None
        if v < 1 and kind != "seed":
            raise argparse.ArgumentTypeError(f"{kind} must be >= 1, got {text!r}")
        if v < 0:
            raise argparse.ArgumentTypeError(f"{kind} must be >= 0, got {text!r}")
        return v

    return convert


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Add the ``simulate`` sub-command to the ``ballast`` parser."""
    p = sub.add_parser(
        "simulate",
        help=COMMANDS["simulate"],
        description=(
            "Simulate many price paths (correlated GBM, block bootstrap of a price table, or a historical "
            "replay) under several rebalancing policies with AMM fees, price impact and gas, and print a "
            "comparison table with medians and 5th-95th percentiles across paths. Writes PNG plots and one "
            "self-contained HTML report into --out. See examples/scenario.toml. Flags override the file; "
            "each can also be set by the environment variable shown in its help."
        ),
    )
    opts = Options(p, "simulate")
    opts.add("--config", type=Path, help="scenario TOML file, e.g. examples/scenario.toml")
    opts.add("--paths", type=_int("paths"), help="number of Monte Carlo paths (overrides [simulation] paths)")
    opts.add("--steps", type=_int("steps"), help="days per path (overrides [simulation] steps; gbm only)")
    opts.add("--seed", type=_int("seed"), help="random seed (overrides [simulation] seed)")
    opts.add(
        "--policy",
        dest="policies",
        action="append",
        type=_policy_arg,
        default=None,
        help=f"policy to simulate instead of the file's, repeatable: {POLICY_HELP}",
    )
    opts.add("--no-costs", action="store_true", help="frictionless run, ignoring [costs]")
    add_output_arguments(opts)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from offchain.quant.backtest import simulate  # noqa: PLC0415

    if args.config is None:
        raise InputError("no scenario file given; pass --config FILE.toml or set BALLAST_SIMULATE_CONFIG")
    cfg = load_config(args.config)
    if args.steps is not None:
        if not isinstance(cfg.scenario, GBMScenario):
            raise InputError("--steps only applies to gbm scenarios (set steps in the file for bootstrap)")
        sc = cfg.scenario
        cfg.scenario = GBMScenario(
            sc.assets,
            sc.mu,
            sc.sigma,
            sc.corr,
            n_steps=args.steps,
            periods_per_year=sc.periods_per_year(),
            start=str(sc.dates[0].date()),
        )
    paths = args.paths if args.paths is not None else cfg.paths
    seed = args.seed if args.seed is not None else cfg.seed
    policies = args.policies or cfg.policies
    costs = CostModel.zero() if args.no_costs else cfg.costs
    sc = cfg.scenario
    if sc.max_paths is not None and paths > sc.max_paths:
        raise InputError(f"a {type(sc).__name__} has {sc.max_paths} path(s); got --paths {paths}")
    work = paths * sc.n_steps * sc.n_assets * len(policies)
    t = time.perf_counter()
    results = []
    with progress_bar(sc.n_steps * len(policies), work, args.no_progress, f"simulating {paths} paths") as adv:
        for pol in policies:
            results.append(
                simulate(
                    sc,
                    cfg.weights,
                    pol,
                    costs,
                    n_paths=paths,
                    initial_value=cfg.initial_value,
                    seed=seed,
                    chunk=cfg.chunk,
                    record=not args.no_report,
                    risk_free=cfg.risk_free,
                    progress=adv,
                )
            )
    elapsed = time.perf_counter() - t
    kind = type(sc).__name__.replace("Scenario", "").lower()
    title = f"Simulation ({kind}): {paths} paths x {sc.n_steps} days, {sc.n_assets} assets"
    notes = [
        f"scenario file: {cfg.source}",
        f"costs: {'none' if args.no_costs else costs_text(costs)}",
        f"targets: {', '.join(f'{a} {w:.2%}' for a, w in zip(sc.assets, cfg.weights, strict=True))}",
        f"{len(policies)} policies in {elapsed:.2f} s "
        f"({work / max(elapsed, 1e-9) / 1e6:.0f}M asset-steps/s), seed {seed}",
    ]
    extra = {
        "command": "simulate",
        "config": str(cfg.source),
        "paths": paths,
        "seed": seed,
        "costs": costs_dict(costs),
    }
    return emit(results, args, "simulate", title, notes, extra)
