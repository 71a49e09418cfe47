"""Benchmarks of the ballast simulator (prints figures; asserts nothing about time).

1. One historical path: the bundled S&P 500 sample (20 stocks, daily 1990-2022), equal weights, zero
   costs, threshold policy (absolute 500 bps band, and monthly calendar for reference): wall time of
   ``offchain.quant.backtest`` vs bt 1.4.1 in the same process, and both final values.
2. Monte Carlo throughput: 10,000 paths x 2,520 days x 4 assets (the GBM of examples/scenario.toml),
   threshold 500 bps, default costs; scenario generation included. Reports asset-steps per second.

Run: ``.venv/bin/python bench/bench_backtest.py`` (``--quick`` for a smaller Monte Carlo).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from offchain.cli.simulate import load_config  # noqa: E402
from offchain.quant.backtest import backtest, simulate  # noqa: E402
from offchain.quant.costs import CostModel  # noqa: E402
from offchain.quant.data import sp500  # noqa: E402
from offchain.quant.policies import Calendar, Policy, Threshold  # noqa: E402
from offchain.quant.scenarios import GBMScenario, HistoricalScenario  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _bt_run(prices, policy: Policy) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    import bt  # noqa: PLC0415

    class AbsoluteBand(bt.Algo):
        def __init__(self, band: float) -> None:
            super().__init__()
            self.band = band

        def __call__(self, target) -> bool:  # type: ignore[no-untyped-def]
            tw = target.temp["weights"]
            if not any(c in target.children for c in tw):
                return True
            return max(abs(target.children[c].weight - tw[c]) for c in tw) >= self.band

    n = prices.shape[1]
    w = {c: 1.0 / n for c in prices.columns}
    if isinstance(policy, Threshold):
        algos = [
            bt.algos.SelectAll(),
            bt.algos.WeighSpecified(**w),
            AbsoluteBand(policy.band_bps / 1e4),
            bt.algos.Rebalance(),
        ]
    else:
        algos = [
            bt.algos.RunMonthly(),
            bt.algos.SelectAll(),
            bt.algos.WeighSpecified(**w),
            bt.algos.Rebalance(),
        ]
    t = time.perf_counter()
    s = bt.Strategy("s", algos)
    test = bt.Backtest(s, prices, initial_capital=1_000_000.0, integer_positions=False, progress_bar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bt.run(test)
    return time.perf_counter() - t, float(res.backtests["s"].strategy.values.iloc[-1])


def bench_historical(repeat: int) -> None:
    px = sp500()
    n = px.shape[1]
    w = np.full(n, 1.0 / n)
    print(
        f"\n== single historical path: S&P 500 sample, {n} assets, "
        f"{px.index[0].date()}..{px.index[-1].date()}, {len(px)} days, zero costs =="
    )
    try:
        import bt  # noqa: F401, PLC0415

        have_bt = True
    except Exception as exc:  # noqa: BLE001
        print(f"bt not importable ({type(exc).__name__}: {exc}); ballast timings only")
        have_bt = False
    sc = HistoricalScenario(px)  # validated once, as `ballast backtest` does for all its policies
    for policy in (Threshold(500), Threshold(200), Calendar(align="monthly")):
        simulate(sc, w, policy, CostModel.zero(), record=False)  # warm-up
        engine, full = [], []
        for _ in range(repeat):
            t = time.perf_counter()
            r = simulate(sc, w, policy, CostModel.zero(), record=False)
            engine.append(time.perf_counter() - t)
            t = time.perf_counter()
            backtest(px, w, [policy], CostModel.zero(), record=False)
            full.append(time.perf_counter() - t)
        ours, ours_full = statistics.median(engine), statistics.median(full)
        print(
            f"{policy.spec():18s} ballast {ours * 1e3:7.2f} ms simulate() on a prepared scenario, "
            f"{ours_full * 1e3:7.2f} ms backtest() incl. validation (medians of {repeat})  "
            f"final ${r.final_value:,.2f}  rebalances {int(r.per_path['rebalances'][0])}"
        )
        if have_bt:
            bt_time, bt_value = _bt_run(px, policy)
            print(
                f"{'':18s} bt 1.4.1 {bt_time * 1e3:7.0f} ms   final ${bt_value:,.2f}   "
                f"|diff| ${abs(bt_value - r.final_value):.6f}   "
                f"speed-up x{bt_time / ours:,.0f} (x{bt_time / ours_full:,.0f} incl. validation)"
            )


def bench_mc(paths: int, steps: int) -> None:
    cfg = load_config(ROOT / "examples" / "scenario.toml")
    base = cfg.scenario
    assert isinstance(base, GBMScenario)
    sc = GBMScenario(
        base.assets, base.mu, base.sigma, base.corr, n_steps=steps, start=str(base.dates[0].date())
    )
    n = sc.n_assets
    policy = Threshold(500)
    print(
        f"\n== Monte Carlo: {paths:,} paths x {steps:,} days x {n} assets, {policy.spec()}, "
        f"GBM of examples/scenario.toml, default costs =="
    )
    simulate(sc, cfg.weights, policy, CostModel(), n_paths=min(paths, 200), seed=1, record=False)  # warm-up
    t = time.perf_counter()
    gen = sum(R.shape[0] for R in sc.chunks(paths, seed=1))
    t_gen = time.perf_counter() - t
    t = time.perf_counter()
    r = simulate(sc, cfg.weights, policy, CostModel(), n_paths=paths, seed=1, record=False)
    el = time.perf_counter() - t
    assert gen == steps
    work = paths * steps * n
    print(
        f"wall time {el:.3f} s (scenario generation alone: {t_gen:.3f} s)  ->  "
        f"{work / el / 1e6:,.1f}M asset-steps/s "
        f"({work:,} asset-steps)"
    )
    reb = r.summary["rebalances"]
    print(
        f"rebalances per path: median {reb['p50']:.0f} (p5 {reb['p5']:.0f}, p95 {reb['p95']:.0f}); "
        f"final value median ${r.summary['final_value']['p50']:,.0f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1,000 MC paths instead of 10,000")
    ap.add_argument("--repeat", type=int, default=20, help="ballast repetitions per historical policy")
    args = ap.parse_args()
    bench_historical(args.repeat)
    bench_mc(1_000 if args.quick else 10_000, 2_520)


if __name__ == "__main__":
    main()
