"""Benchmark: max-Sharpe on the bundled 20-stock S&P 500 sample, ballast vs PyPortfolioOpt, same run.

Builds ``--problems`` rolling estimation windows (``--window`` days, stepping ``--step`` days) of annualised
mean returns and Ledoit-Wolf covariances, then times

* ballast ``optimize_batch`` on all of them at once (the backtester's path),
* ballast one problem per call (``optimize_batch`` with a batch of 1),
* PyPortfolioOpt 1.6.0 ``EfficientFrontier.max_sharpe`` (cvxpy; default solver and CLARABEL) per problem,

and reports per-solve times and the largest weight difference.
Run: ``.venv/bin/python bench/bench_optimize.py [--problems 1000 --max-weight 0.25 ...]``.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np

from offchain.quant.data import sp500
from offchain.quant.estimators import covariance_from_returns, expected_returns_from_returns
from offchain.quant.optimize import optimize_batch


def windows(n: int, length: int, step: int, cov: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    prices = sp500()
    p = prices.to_numpy()
    r = p[1:] / p[:-1] - 1.0
    last = len(r) - length
    starts = last - step * np.arange(n)[::-1]
    if starts[0] < 0:
        raise SystemExit(f"{n} windows of {length} days every {step} days do not fit in {len(r)} returns")
    mu = np.stack([expected_returns_from_returns(r[s : s + length]) for s in starts])
    S = np.stack([covariance_from_returns(r[s : s + length], cov) for s in starts])
    return mu, S, list(prices.columns)


def best_of(repeats: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=1000, help="number of max-Sharpe problems (default 1000)")
    ap.add_argument("--window", type=int, default=504, help="estimation window in trading days (default 504)")
    ap.add_argument("--step", type=int, default=5, help="days between windows (default 5)")
    ap.add_argument("--cov", default="ledoit-wolf", help="covariance estimator (default ledoit-wolf)")
    ap.add_argument("--risk-free", type=float, default=0.0, help="annual risk-free rate (default 0)")
    ap.add_argument("--max-weight", type=float, default=1.0, help="upper bound per asset (default 1)")
    ap.add_argument("--ref-problems", type=int, default=100, help="problems solved one by one (default 100)")
    ap.add_argument("--repeats", type=int, default=3, help="best-of repeats for ballast timings (default 3)")
    args = ap.parse_args()

    mu, S, names = windows(args.problems, args.window, args.step, args.cov)
    B, n = mu.shape
    k = min(args.ref_problems, B)
    bounds = (0.0, args.max_weight)
    kw = {"bounds": bounds, "risk_free_rate": args.risk_free, "on_error": "nan"}
    print(f"max-Sharpe, {n} assets, {B} problems ({args.window}-day windows, {args.cov} covariance)")
    print(f"bounds {bounds}, risk-free {args.risk_free}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")

    optimize_batch(mu[:8], S[:8], "max-sharpe", **kw)  # warm-up (imports, BLAS threads)
    W = optimize_batch(mu, S, "max-sharpe", **kw)
    t_batch = best_of(args.repeats, lambda: optimize_batch(mu, S, "max-sharpe", **kw))
    t_single = best_of(
        args.repeats,
        lambda: [optimize_batch(mu[i : i + 1], S[i : i + 1], "max-sharpe", **kw) for i in range(k)],
    )
    failed = int(np.isnan(W[:, 0]).sum())

    from pypfopt import EfficientFrontier

    def ref(solver: str | None) -> tuple[float, np.ndarray]:
        out = np.full((k, n), np.nan)
        t0 = time.perf_counter()
        for i in range(k):
            extra = {"solver": solver} if solver else {}
            ef = EfficientFrontier(mu[i], S[i], weight_bounds=bounds, **extra)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ef.max_sharpe(risk_free_rate=args.risk_free)
            except Exception:  # noqa: BLE001 - infeasible windows are skipped, like ours
                continue
            out[i] = np.asarray(list(ef.weights))
        return time.perf_counter() - t0, out

    t_ref, R = ref(None)
    t_ref_cl, R_cl = ref("CLARABEL")
    ok = ~np.isnan(R[:, 0]) & ~np.isnan(W[:k, 0])
    diff = float(np.abs(W[:k][ok] - R[ok]).max()) if ok.any() else float("nan")
    ok_cl = ~np.isnan(R_cl[:, 0]) & ~np.isnan(W[:k, 0])
    diff_cl = float(np.abs(W[:k][ok_cl] - R_cl[ok_cl]).max()) if ok_cl.any() else float("nan")

    rows = [
        ("ballast optimize_batch (batched)", B, t_batch),
        ("ballast, one problem per call", k, t_single),
        ("PyPortfolioOpt max_sharpe (default solver)", k, t_ref),
        ("PyPortfolioOpt max_sharpe (CLARABEL)", k, t_ref_cl),
    ]
    ref_per = t_ref / k
    print(f"\n{'method':46s} {'solves':>7s} {'total s':>9s} {'ms/solve':>9s} {'vs PyPortfolioOpt':>18s}")
    for name, count, total in rows:
        per = total / count
        print(f"{name:46s} {count:7d} {total:9.3f} {per * 1e3:9.3f} {ref_per / per:17.1f}x")
    print(f"\ninfeasible windows (NaN rows): {failed} of {B}")
    print(f"max |w_ballast - w_pypfopt| over {int(ok.sum())} problems: default solver {diff:.2e}, ", end="")
    print(f"CLARABEL {diff_cl:.2e}")


if __name__ == "__main__":
    main()
