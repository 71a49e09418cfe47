"""quant.estimators: annualised estimators agree with PyPortfolioOpt 1.6.0 and validate their input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from offchain.core.errors import InputError
from offchain.quant import estimators as est
from offchain.quant.data import sp500

pypfopt = pytest.importorskip("pypfopt")
from pypfopt import expected_returns as ref_er  # noqa: E402
from pypfopt import risk_models as ref_rm  # noqa: E402


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return sp500().iloc[-1500:]


def _quiet(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.mark.parametrize("frequency", [252, 365])
def test_expected_returns_match_pypfopt(prices: pd.DataFrame, frequency: int) -> None:
    cases = {
        "mean": _quiet(ref_er.mean_historical_return, prices, compounding=False, frequency=frequency),
        "geometric": _quiet(ref_er.mean_historical_return, prices, compounding=True, frequency=frequency),
        "ewma": _quiet(ref_er.ema_historical_return, prices, compounding=False, frequency=frequency),
    }
    for method, ref in cases.items():
        ours = est.expected_returns(prices, method, frequency=frequency)
        assert list(ours.index) == list(ref.index)
        np.testing.assert_allclose(ours.to_numpy(), ref.to_numpy(), rtol=1e-12, atol=1e-14, err_msg=method)
    ewma_c = est.expected_returns(prices, "ewma", frequency=frequency, span=250, compounding=True)
    ref_c = _quiet(ref_er.ema_historical_return, prices, compounding=True, span=250, frequency=frequency)
    np.testing.assert_allclose(ewma_c.to_numpy(), ref_c.to_numpy(), rtol=1e-11)


@pytest.mark.parametrize("frequency", [252, 365])
def test_covariances_match_pypfopt(prices: pd.DataFrame, frequency: int) -> None:
    cases = {
        "sample": _quiet(ref_rm.sample_cov, prices, frequency=frequency),
        "ewma": _quiet(ref_rm.exp_cov, prices, frequency=frequency),
        "ledoit-wolf": _quiet(ref_rm.CovarianceShrinkage(prices, frequency=frequency).ledoit_wolf),
    }
    for method, ref in cases.items():
        ours = est.covariance(prices, method, frequency=frequency)
        assert list(ours.index) == list(ref.index) == list(ours.columns)
        np.testing.assert_allclose(ours.to_numpy(), ref.to_numpy(), rtol=1e-11, atol=1e-15, err_msg=method)
        np.testing.assert_array_equal(ours.to_numpy(), ours.to_numpy().T)


def test_ewma_cov_span_matches_pypfopt(prices: pd.DataFrame) -> None:
    ours = est.covariance(prices, "ewma", span=60)
    ref = _quiet(ref_rm.exp_cov, prices, span=60)
    np.testing.assert_allclose(ours.to_numpy(), ref.to_numpy(), rtol=1e-11)


def test_ledoit_wolf_shrinkage_matches_sklearn(prices: pd.DataFrame) -> None:
    sk = pytest.importorskip("sklearn.covariance")
    r = est.returns_from_prices(prices).to_numpy()
    delta = est.ledoit_wolf_shrinkage(r)
    assert 0.0 <= delta <= 1.0
    assert delta == pytest.approx(sk.ledoit_wolf_shrinkage(r), rel=1e-12)
    # shrinkage pulls the condition number down
    lw = est.covariance(prices, "ledoit-wolf").to_numpy()
    s = est.covariance(prices, "sample").to_numpy()
    assert np.linalg.cond(lw) < np.linalg.cond(s)


def test_annualisation_is_linear_in_trading_days(prices: pd.DataFrame) -> None:
    for method in est.COV_METHODS:
        a = est.covariance(prices, method, frequency=252).to_numpy()
        b = est.covariance(prices, method, frequency=126).to_numpy()
        np.testing.assert_allclose(a, 2 * b, rtol=1e-14)
    np.testing.assert_allclose(
        est.mean_return(prices, frequency=252).to_numpy(),
        2 * est.mean_return(prices, frequency=126).to_numpy(),
    )


def test_returns_and_numpy_cores_agree(prices: pd.DataFrame) -> None:
    rets = est.returns_from_prices(prices)
    assert rets.shape == (len(prices) - 1, prices.shape[1])
    assert rets.index[0] == prices.index[1]
    np.testing.assert_allclose(rets.iloc[0].to_numpy(), (prices.iloc[1] / prices.iloc[0] - 1).to_numpy())
    r = rets.to_numpy()
    for m in est.RETURN_METHODS:
        np.testing.assert_array_equal(
            est.expected_returns_from_returns(r, m), est.expected_returns(prices, m).to_numpy()
        )
    for m in est.COV_METHODS:
        np.testing.assert_array_equal(est.covariance_from_returns(r, m), est.covariance(prices, m).to_numpy())
    # named helpers are the same estimators
    pd.testing.assert_series_equal(est.geometric_return(prices), est.expected_returns(prices, "geometric"))
    pd.testing.assert_series_equal(
        est.ewma_return(prices, span=100), est.expected_returns(prices, "ewma", span=100)
    )
    pd.testing.assert_frame_equal(est.sample_cov(prices), est.covariance(prices, "sample"))
    pd.testing.assert_frame_equal(est.ewma_cov(prices, span=90), est.covariance(prices, "ewma", span=90))
    pd.testing.assert_frame_equal(est.ledoit_wolf_cov(prices), est.covariance(prices, "ledoit-wolf"))


def test_geometric_on_a_known_series() -> None:
    # a price doubling every 252 days -> 100 % a year geometric
    idx = pd.bdate_range("2020-01-01", periods=253)
    p = pd.DataFrame({"X": 2.0 ** (np.arange(253) / 252)}, index=idx)
    assert est.geometric_return(p)["X"] == pytest.approx(1.0, rel=1e-12)
    assert est.mean_return(p)["X"] == pytest.approx(252 * (2 ** (1 / 252) - 1), rel=1e-12)


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda p: est.expected_returns(p, "median"), "unknown expected-return method"),
        (lambda p: est.covariance(p, "shrunk"), "unknown covariance method"),
        (lambda p: est.covariance(p, "sample", frequency=0), "frequency"),
        (lambda p: est.expected_returns(p, "ewma", span=0.5), "span"),
        (lambda p: est.covariance(p.iloc[:2], "sample"), "at least 2 daily return"),
        (lambda p: est.expected_returns(p.iloc[:1], "mean"), "at least 2 price rows"),
    ],
)
def test_estimator_errors(prices: pd.DataFrame, call, pattern: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=pattern):
        call(prices)


def test_estimators_validate_prices() -> None:
    idx = pd.bdate_range("2020-01-01", periods=4)
    bad = pd.DataFrame({"A": [1.0, np.nan, 1.2, 1.3]}, index=idx)
    with pytest.raises(InputError, match="missing/NaN"):
        est.expected_returns(bad)
    with pytest.raises(InputError, match="NaN or infinity"):
        est.covariance_from_returns(np.array([[0.1], [np.nan], [0.2]]))
