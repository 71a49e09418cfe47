"""offchain.quant.optimize: agreement with PyPortfolioOpt 1.6.0 for every objective, the batched API,
cost-aware targets, infeasible/degenerate inputs, and exact basis-point rounding."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.core.errors import BallastError, InputError, OptimisationError
from offchain.quant import estimators as est
from offchain.quant.data import sp500
from offchain.quant.optimize import (
    OBJECTIVES,
    normalise_objective,
    optimize,
    optimize_batch,
    parse_bounds,
    portfolio_performance,
    resolve_bounds,
    solve_qp,
    to_bps,
)

pypfopt = pytest.importorskip("pypfopt")
from pypfopt import EfficientFrontier  # noqa: E402
from pypfopt import objective_functions as ref_obj  # noqa: E402

TOL = 1e-4  # the agreement tolerance, per weight
# PyPortfolioOpt is run with cvxpy's CLARABEL (interior point). Its *default* QP solver, OSQP, stops at
# ~1e-4 relative accuracy and lands up to ~4e-4 per weight from the true optimum on these inputs, so it
# cannot serve as a 1e-4 reference for anything exact; a tightly converged CLARABEL run checks 1e-6.
TIGHT = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "tol_ktratio": 1e-10}


@pytest.fixture(scope="module")
def inputs() -> dict[str, tuple[pd.Series, pd.DataFrame]]:
    p = sp500()
    recent, older = p.iloc[-1260:], p.loc["2003-01-01":"2007-12-31"]
    return {
        "recent-sample": (est.expected_returns(recent, "mean"), est.covariance(recent, "sample")),
        "older-lw": (est.expected_returns(older, "geometric"), est.covariance(older, "ledoit-wolf")),
        "recent-ewma": (est.expected_returns(recent, "ewma"), est.covariance(recent, "ewma")),
    }


# objective name -> (our kwargs, the same problem in PyPortfolioOpt given those kwargs)
CASES: dict[str, tuple[dict, Callable[[EfficientFrontier, dict], object]]] = {
    "min-variance": ({}, lambda ef, kw: ef.min_volatility()),
    "max-sharpe": (
        {"risk_free_rate": 0.02},
        lambda ef, kw: ef.max_sharpe(risk_free_rate=kw["risk_free_rate"]),
    ),
    "target-volatility": (
        {"target_volatility": 0.22},
        lambda ef, kw: ef.efficient_risk(kw["target_volatility"]),
    ),
    "target-return": ({"target_return": 0.15}, lambda ef, kw: ef.efficient_return(kw["target_return"])),
    "quadratic-utility": (
        {"risk_aversion": 4.0},
        lambda ef, kw: ef.max_quadratic_utility(risk_aversion=kw["risk_aversion"]),
    ),
}
BOUNDS = {
    "long-only": ((0.0, 1.0), None),
    "cap-15%": ((0.0, 0.15), None),
    # per-asset bounds + an ESG-style exclusion list
    "per-asset+exclusions": (
        {"*": (0.0, 0.3), "AAPL": (0.02, 0.1), "MSFT": (0.05, 0.25)},
        ["XOM", "CVX", "RRC"],
    ),
}


def _reference(
    mu: pd.Series,
    S: pd.DataFrame,
    bounds: object,
    exclude: list[str] | None,
    call: Callable[[EfficientFrontier, dict], object],
    kwargs: dict,
    *,
    tight: bool = False,
    default_solver: bool = False,
    extra: Callable[[EfficientFrontier], None] | None = None,
) -> np.ndarray:
    lo, hi = resolve_bounds(bounds, list(mu.index))  # type: ignore[arg-type]
    for name in exclude or []:
        hi[list(mu.index).index(name)] = 0.0
    wb = list(zip(lo, hi, strict=True))
    solver_kw: dict = {"solver": "CLARABEL"}
    if tight:
        solver_kw["solver_options"] = TIGHT
    elif default_solver:
        solver_kw = {}
    ef = EfficientFrontier(mu, S, weight_bounds=wb, **solver_kw)
    if extra is not None:
        extra(ef)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        call(ef, kwargs)
    return np.array([ef.weights[i] for i in range(len(mu))])


@pytest.mark.parametrize("bounds_name", list(BOUNDS))
@pytest.mark.parametrize("objective", list(CASES))
@pytest.mark.parametrize("data", ["recent-sample", "older-lw", "recent-ewma"])
def test_agrees_with_pypfopt(inputs: dict, data: str, objective: str, bounds_name: str) -> None:
    mu, S = inputs[data]
    kwargs, call = CASES[objective]
    if objective == "target-return":  # keep the target attainable under every bound set
        kwargs = {"target_return": float(0.5 * mu.clip(lower=0).mean() + 0.5 * np.median(mu))}
    bounds, exclude = BOUNDS[bounds_name]
    pf = optimize(mu, S, objective, bounds=bounds, exclude=exclude or (), **kwargs)
    ref = _reference(mu, S, bounds, exclude, call, kwargs)
    assert np.abs(pf.weights.to_numpy() - ref).max() <= TOL
    # against a tightly converged reference we agree far more closely than the issue asks
    # (the conic target-volatility reference stays ~1e-6 off even then; we are checked to dominate it)
    tight = _reference(mu, S, bounds, exclude, call, kwargs, tight=True)
    assert np.abs(pf.weights.to_numpy() - tight).max() <= (1e-5 if objective == "target-volatility" else 1e-6)
    if objective == "target-volatility":
        target = kwargs["target_volatility"]
        assert pf.volatility <= target + 1e-12
        assert pf.expected_return >= float(tight @ mu.to_numpy()) - 1e-9
    # outputs are consistent
    assert pf.weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert int(pf.bps.sum()) == 10_000
    for name in exclude or []:
        assert pf.weights[name] == 0.0 and pf.bps[name] == 0
    lo, hi = resolve_bounds(bounds, list(mu.index))  # type: ignore[arg-type]
    assert np.all(pf.weights.to_numpy() >= lo - 1e-12)
    ret, vol, sharpe = portfolio_performance(
        pf.weights.to_numpy(), mu.to_numpy(), S.to_numpy(), pf.risk_free_rate
    )
    assert (pf.expected_return, pf.volatility, pf.sharpe) == pytest.approx((ret, vol, sharpe))


@pytest.mark.parametrize(
    "objective", ["min-variance", "quadratic-utility", "target-return", "target-volatility"]
)
@pytest.mark.parametrize("cost", [0.0005, 0.005, 0.02])
def test_turnover_penalty_agrees_with_pypfopt_transaction_cost(
    inputs: dict, objective: str, cost: float
) -> None:
    mu, S = inputs["recent-sample"]
    n = len(mu)
    w0 = np.full(n, 1.0 / n)
    kwargs, call = CASES[objective]
    pf = optimize(mu, S, objective, bounds=(0, 0.3), current_weights=w0, turnover_penalty=cost, **kwargs)

    def add_cost(ef: EfficientFrontier) -> None:
        ef.add_objective(ref_obj.transaction_cost, w_prev=w0, k=cost)

    ref = _reference(mu, S, (0, 0.3), None, call, kwargs, extra=add_cost, tight=True)
    assert np.abs(pf.weights.to_numpy() - ref).max() <= TOL
    assert pf.turnover == pytest.approx(np.abs(pf.weights.to_numpy() - w0).sum())


def test_cost_aware_max_sharpe(inputs: dict) -> None:
    mu, S = inputs["recent-sample"]
    n = len(mu)
    w0 = np.full(n, 1.0 / n)
    plain = optimize(mu, S, "max-sharpe", bounds=(0, 0.3), risk_free_rate=0.01)
    zero = optimize(mu, S, "max-sharpe", bounds=(0, 0.3), risk_free_rate=0.01, current_weights=w0)
    np.testing.assert_allclose(zero.weights, plain.weights, atol=1e-9)
    turnovers = []
    for c in [0.0, 0.001, 0.01, 0.05, 1.0]:
        pf = optimize(
            mu, S, "max-sharpe", bounds=(0, 0.3), risk_free_rate=0.01, current_weights=w0, turnover_penalty=c
        )
        turnovers.append(pf.turnover)
        assert pf.sharpe <= plain.sharpe + 1e-9
    assert turnovers[0] == pytest.approx(np.abs(plain.weights.to_numpy() - w0).sum(), abs=1e-7)
    assert all(a >= b - 1e-9 for a, b in zip(turnovers, turnovers[1:], strict=False))
    assert turnovers[-1] < 1e-6  # a prohibitive cost keeps the current portfolio


def test_current_weights_in_bps_equal_fractions(inputs: dict) -> None:
    mu, S = inputs["recent-sample"]
    n = len(mu)
    bps = [500] * n
    a = optimize(mu, S, "min-variance", current_weights=bps, turnover_penalty=0.01)
    b = optimize(mu, S, "min-variance", current_weights=np.full(n, 0.05), turnover_penalty=0.01)
    np.testing.assert_allclose(a.weights, b.weights, atol=1e-12)


def test_target_volatility_is_hit_exactly(inputs: dict) -> None:
    mu, S = inputs["recent-sample"]
    for target in [0.18, 0.22, 0.3]:
        pf = optimize(mu, S, "target-volatility", target_volatility=target, bounds=(0, 0.25))
        assert pf.volatility == pytest.approx(target, abs=1e-9)


def test_target_volatility_above_max_return_vol_returns_max_return(inputs: dict) -> None:
    mu, S = inputs["recent-sample"]
    pf = optimize(mu, S, "target-volatility", target_volatility=5.0, bounds=(0, 0.25))
    top = np.sort(mu.to_numpy())[::-1][:4]
    assert pf.expected_return == pytest.approx(0.25 * top.sum(), abs=1e-9)


def test_target_return_below_min_variance_return_gives_min_variance(inputs: dict) -> None:
    mu, S = inputs["recent-sample"]
    mv = optimize(mu, S, "min-variance")
    tr = optimize(mu, S, "target-return", target_return=mv.expected_return - 0.05)
    np.testing.assert_allclose(tr.weights, mv.weights, atol=1e-7)


def test_fixed_weight_and_objective_aliases(inputs: dict) -> None:
    mu, S = inputs["recent-sample"]
    pf = optimize(mu, S, "min_volatility", bounds={"AAPL": (0.2, 0.2)})
    assert pf.objective == "min-variance"
    assert pf.weights["AAPL"] == pytest.approx(0.2, abs=1e-10)
    assert pf.bps["AAPL"] == 2000
    assert [normalise_objective(o) for o in OBJECTIVES] == list(OBJECTIVES)
    assert normalise_objective("Max_Sharpe") == "max-sharpe"


def test_plain_arrays_and_asset_names(inputs: dict) -> None:
    mu, S = inputs["recent-sample"]
    a = optimize(mu.to_numpy(), S.to_numpy(), "max-sharpe", assets=list(mu.index))
    b = optimize(mu, S, "max-sharpe")
    pd.testing.assert_series_equal(a.weights, b.weights)
    # covariance given in another column order is realigned by name
    c = optimize(mu, S.iloc[::-1, ::-1], "max-sharpe")
    np.testing.assert_allclose(c.weights, b.weights, atol=1e-12)
    d = optimize(mu, S, "max-sharpe").as_dict()
    assert sum(d["bps"].values()) == 10_000 and set(d) >= {
        "weights",
        "expected_return",
        "volatility",
        "sharpe",
    }


# --- batched API -----------------------------------------------------------------------------------


def _rolling(n_windows: int, length: int = 504, step: int = 21) -> tuple[np.ndarray, np.ndarray]:
    p = sp500().to_numpy()
    r = p[1:] / p[:-1] - 1.0
    starts = np.arange(len(r) - length - (n_windows - 1) * step, len(r) - length + 1, step)
    mu = np.stack([est.expected_returns_from_returns(r[s : s + length]) for s in starts])
    S = np.stack([est.covariance_from_returns(r[s : s + length], "ledoit-wolf") for s in starts])
    return mu, S


@pytest.mark.parametrize("objective", list(CASES))
def test_batch_equals_single_solves(objective: str) -> None:
    mu, S = _rolling(12)
    kwargs = dict(CASES[objective][0])
    if objective == "target-return":
        kwargs["target_return"] = np.quantile(mu, 0.7, axis=1)  # per-problem targets
    if objective == "target-volatility":
        kwargs["target_volatility"] = 0.3
    if objective == "max-sharpe":
        kwargs["risk_free_rate"] = -1.0  # keep every window solvable (some have all-negative means)
    W = optimize_batch(mu, S, objective, bounds=(0, 0.2), **kwargs)
    assert W.shape == mu.shape
    np.testing.assert_allclose(W.sum(axis=1), 1.0, atol=1e-12)
    for i in range(len(mu)):
        one = {k: (v[i] if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}
        single = optimize(mu[i], S[i], objective, bounds=(0, 0.2), **one).weights.to_numpy()
        np.testing.assert_allclose(W[i], single, atol=1e-9)


def test_batch_per_problem_bounds_and_on_error_nan() -> None:
    mu, S = _rolling(6)
    n = mu.shape[1]
    lo = np.zeros((6, n))
    hi = np.full((6, n), 0.5)
    hi[1, :10] = 0.0  # problem 1 excludes the first 10 assets
    hi[3] = 0.04  # problem 3 cannot reach 100 %
    mu = mu.copy()
    mu[4] = -1.0  # problem 4: nothing beats the risk-free rate
    W = optimize_batch(mu, S, "max-sharpe", bounds=(lo, hi), on_error="nan")
    assert np.isnan(W[3]).all() and np.isnan(W[4]).all()
    ok = [0, 1, 2, 5]
    assert np.all(np.isfinite(W[ok]))
    assert np.all(W[1, :10] == 0.0)
    np.testing.assert_allclose(W[ok].sum(axis=1), 1.0, atol=1e-12)
    with pytest.raises(OptimisationError, match="problem 3: bounds are infeasible"):
        optimize_batch(mu, S, "max-sharpe", bounds=(lo, hi))


def test_batched_max_sharpe_is_fast() -> None:
    import time

    mu, S = _rolling(200, step=5)
    optimize_batch(mu[:8], S[:8], "max-sharpe", risk_free_rate=-1.0)  # warm up
    t0 = time.perf_counter()
    W = optimize_batch(mu, S, "max-sharpe", risk_free_rate=-1.0)
    per_solve = (time.perf_counter() - t0) / len(mu)
    assert np.all(np.isfinite(W))
    assert per_solve < 5e-3  # typically ~0.3 ms; generous for slow CI machines (bench/ measures it)


def test_solve_qp_on_a_known_problem() -> None:
    # min ½|x - c|² s.t. sum x = 1, 0 <= x <= 0.6: projection of c onto the capped simplex
    c = np.array([[0.9, 0.5, -0.2], [0.2, 0.2, 0.2]])
    B, n = c.shape
    P = np.broadcast_to(np.eye(n), (B, n, n))
    G = np.broadcast_to(np.vstack([np.eye(n), -np.eye(n)]), (B, 2 * n, n))
    h = np.broadcast_to(np.r_[np.full(n, 0.6), np.zeros(n)], (B, 2 * n))
    res = solve_qp(P, -c, np.ones((B, 1, n)), np.ones((B, 1)), G, h)
    assert res.converged.all()
    np.testing.assert_allclose(res.x[0], [0.6, 0.4, 0.0], atol=1e-12)
    np.testing.assert_allclose(res.x[1], [1 / 3, 1 / 3, 1 / 3], atol=1e-12)


# --- infeasible / degenerate inputs ----------------------------------------------------------------


def test_no_asset_beats_risk_free(inputs: dict) -> None:
    mu, S = inputs["recent-sample"]
    with pytest.raises(
        OptimisationError, match="no allowed portfolio has an expected return above the risk-free"
    ):
        optimize(mu, S, "max-sharpe", risk_free_rate=float(mu.max()) + 0.01)
    # with a cap, the best *portfolio* return is below the best asset's: also caught
    with pytest.raises(OptimisationError, match="risk-free"):
        optimize(mu, S, "max-sharpe", bounds=(0, 0.1), risk_free_rate=float(mu.max()) - 1e-6)


def test_singular_covariance(inputs: dict) -> None:
    mu, S = inputs["recent-sample"]
    names = [*mu.index, "AAPL2"]
    mu2 = pd.Series([*mu.to_numpy(), mu["AAPL"]], index=names)
    S2 = np.zeros((len(names), len(names)))
    S2[:-1, :-1] = S.to_numpy()
    S2[-1, :-1] = S2[:-1, -1] = S.loc["AAPL"].to_numpy()
    S2[-1, -1] = S.loc["AAPL", "AAPL"]
    S2 = pd.DataFrame(S2, index=names, columns=names)
    for objective in CASES:
        kw = dict(CASES[objective][0])
        if objective == "target-return":
            kw["target_return"] = float(mu.median())
        with pytest.raises(OptimisationError, match="singular"):
            optimize(mu2, S2, objective, **kw)
    # excluding the duplicate makes it solvable again
    assert optimize(mu2, S2, "min-variance", exclude=["AAPL2"]).weights["AAPL2"] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"bounds": (0, 0.04)}, "upper bounds of the allowed assets sum to 0.8 < 1"),
        ({"bounds": (0.06, 1)}, "lower bounds sum to 1.2 > 1"),
        ({"bounds": (0, 0.5), "exclude": list(sp500().columns[:19])}, "upper bounds .* sum to 0.5"),
        (
            {"objective": "target-volatility", "target_volatility": 0.01},
            "below the minimum achievable volatility",
        ),
        (
            {"objective": "target-return", "target_return": 5.0},
            "above the highest achievable expected return",
        ),
    ],
)
def test_infeasible_problems(inputs: dict, kwargs: dict, pattern: str) -> None:
    mu, S = inputs["recent-sample"]
    kwargs = {"objective": "max-sharpe", **kwargs}
    with pytest.raises(OptimisationError, match=pattern) as info:
        optimize(mu, S, **kwargs)
    assert isinstance(info.value, BallastError)
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)


def test_nan_inputs(inputs: dict) -> None:
    mu, S = inputs["recent-sample"]
    bad = mu.copy()
    bad.iloc[3] = np.nan
    with pytest.raises(OptimisationError, match="NaN"):
        optimize(bad, S, "min-variance")


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"objective": "max-return"}, "unknown objective 'max-return'"),
        ({"bounds": (-0.1, 1)}, "long-only"),
        ({"bounds": (0.5, 0.2)}, "inverted"),
        ({"bounds": {"NOPE": (0, 1)}}, "unknown asset"),
        ({"exclude": ["NOPE"]}, "cannot exclude unknown asset"),
        ({"exclude": ["AAPL"], "bounds": {"AAPL": (0.1, 0.2)}}, "excluded but has a minimum weight"),
        ({"objective": "target-volatility"}, "needs a target volatility"),
        ({"objective": "target-return"}, "needs a target return"),
        ({"objective": "target-volatility", "target_volatility": -0.1}, "must be > 0"),
        ({"objective": "quadratic-utility", "risk_aversion": 0.0}, "risk aversion must be > 0"),
        ({"current_weights": [0.5, 0.5]}, "expected 20 weights"),
        ({"current_weights": np.full(20, 0.05), "turnover_penalty": -1.0}, "turnover_penalty must be >= 0"),
    ],
)
def test_bad_arguments(inputs: dict, kwargs: dict, pattern: str) -> None:
    mu, S = inputs["recent-sample"]
    kwargs = {"objective": "max-sharpe", **kwargs}
    with pytest.raises(InputError, match=pattern):
        optimize(mu, S, **kwargs)


def test_parse_bounds() -> None:
    assets = ["A", "B", "C"]
    lo, hi = parse_bounds("0:0.4", assets)
    assert lo.tolist() == [0, 0, 0] and hi.tolist() == [0.4, 0.4, 0.4]
    lo, hi = parse_bounds("0:0.25, B=0.1:0.5, C=:0.3", assets)
    assert lo.tolist() == [0, 0.1, 0] and hi.tolist() == [0.25, 0.5, 0.3]
    lo, hi = parse_bounds("A=0.05:", assets)
    assert lo.tolist() == [0.05, 0, 0] and hi.tolist() == [1, 1, 1]
    for bad, pattern in [
        ("0-0.4", "not lo:hi"),
        ("a:b", "must be numbers"),
        ("Z=0:1", "unknown asset"),
        ("A=0:1,A=0:0.5", "given twice"),
        ("=0:1", "no asset name"),
        (",", "empty bounds"),
    ]:
        with pytest.raises(InputError, match=pattern):
            parse_bounds(bad, assets)


# --- basis points ----------------------------------------------------------------------------------


def test_to_bps_largest_remainder() -> None:
    assert to_bps([1 / 3, 1 / 3, 1 / 3]).tolist() == [3334, 3333, 3333]  # tie -> lowest index
    assert to_bps([0.12345, 0.54321, 0.33334]).tolist() == [1235, 5432, 3333]
    w = [0.00006, 0.00006, 0.99988]
    assert to_bps(w).tolist() == [1, 0, 9999]  # .8 first, then the .6 tie by index
    assert to_bps([0.2999999999999, 0.7000000000001]).tolist() == [3000, 7000]
    assert to_bps(np.array([[0.5, 0.5], [0.25, 0.75]])).tolist() == [[5000, 5000], [2500, 7500]]


def test_to_bps_respects_bounds_where_possible() -> None:
    # plain rounding would give [3334, 3333, 3333] but asset 0 is capped at 33.33 %
    assert to_bps([1 / 3, 1 / 3, 1 / 3], upper=[0.3333, 1, 1]).tolist() == [3333, 3334, 3333]
    # a floor of 0.01 % on a weight that rounds to 0
    assert to_bps([0.00004, 0.49998, 0.49998], lower=[0.0001, 0, 0]).tolist() == [1, 5000, 4999]
    # impossible bps bounds (lo = hi = 12.345 %): still sums to 10_000
    out = to_bps([0.12345, 0.87655], lower=[0.12345, 0], upper=[0.12345, 1])
    assert out.sum() == 10_000


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=0.0, max_value=1.0, allow_nan=False), min_size=1, max_size=30).filter(
        lambda v: sum(v) > 1e-6
    )
)
def test_to_bps_property(raw: list[float]) -> None:
    w = np.asarray(raw) / sum(raw)
    bps = to_bps(w)
    assert bps.dtype == np.int64 and int(bps.sum()) == 10_000 and np.all(bps >= 0)
    assert np.all(np.abs(bps - w * 10_000) < 1.0 + 1e-9)  # each within one bps of exact


def test_to_bps_rejects_bad_input() -> None:
    for bad, pattern in [
        ([0.5, 0.4], "sum to"),
        ([1.5, -0.5], "non-negative"),
        ([np.nan, 1], "finite"),
        ([], "non-empty"),
    ]:
        with pytest.raises(InputError, match=pattern):
            to_bps(bad)


def test_optimiser_bps_respect_bounds(inputs: dict) -> None:
    mu, S = inputs["recent-sample"]
    pf = optimize(mu, S, "max-sharpe", bounds=(0.01, 0.15))
    assert int(pf.bps.sum()) == 10_000
    assert pf.bps.min() >= 100 and pf.bps.max() <= 1500


def test_a_non_converging_problem_only_spoils_its_own_row(monkeypatch: pytest.MonkeyPatch) -> None:
    import offchain.quant.optimize as opt

    real = opt.solve_qp

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        res = real(*args, **kwargs)
        conv = res.converged.copy()
        conv[1] = False
        return opt.QPSolution(x=res.x, converged=conv, iterations=res.iterations)

    monkeypatch.setattr(opt, "solve_qp", flaky)
    mu, S = _rolling(4)
    W = optimize_batch(mu, S, "min-variance", on_error="nan")
    assert np.isnan(W[1]).all() and np.isfinite(W[[0, 2, 3]]).all()
    with pytest.raises(OptimisationError, match="problem 1: the min-variance solver did not converge"):
        optimize_batch(mu, S, "min-variance")


def test_singular_linear_system_is_isolated() -> None:
    from offchain.quant.optimize import _solve

    M = np.stack([np.eye(2), np.zeros((2, 2)), 2 * np.eye(2)])
    out = _solve(M, np.ones((3, 2)))
    np.testing.assert_array_equal(out[0], [1, 1])
    assert np.isnan(out[1]).all()
    np.testing.assert_array_equal(out[2], [0.5, 0.5])


def test_batch_broadcasts_shared_inputs() -> None:
    mu, S = _rolling(3)
    a = optimize_batch(mu, S[0], "min-variance")  # one covariance for every problem
    b = optimize_batch(mu[0], S, "max-sharpe")  # one return vector for every problem
    assert a.shape == b.shape == (3, mu.shape[1])
    np.testing.assert_allclose(a[0], a[2], atol=1e-12)  # min-variance ignores mu
    np.testing.assert_allclose(b[0], optimize_batch(mu[0], S[0], "max-sharpe")[0], atol=1e-12)
    with pytest.raises(InputError, match="does not match"):
        optimize_batch(mu, S[:2], "min-variance")
