"""Expected-return and covariance estimators: **daily prices in, annualised figures out**.

Every estimator takes a validated price table (``offchain.quant.data``: date index, one column per asset,
positive daily prices), turns it into simple daily returns ``r_t = p_t / p_{t-1} - 1`` and annualises
with ``frequency`` trading days per year (default ``TRADING_DAYS = 252``):

Expected returns (``pd.Series`` indexed by asset, annual fractions, e.g. 0.08 == 8 %/yr):

* ``"mean"``       arithmetic mean: ``mean(r) * frequency``
* ``"geometric"``  compound annual growth rate: ``prod(1 + r) ** (frequency / T) - 1``
* ``"ewma"``       exponentially weighted mean of daily returns (pandas ``ewm(span)``, ``adjust=True``),
  times ``frequency`` (``compounding=True`` gives ``(1 + m) ** frequency - 1`` instead)

Covariances (``pd.DataFrame`` asset x asset, annual variance units):

* ``"sample"``       unbiased sample covariance (``ddof=1``) times ``frequency``
* ``"ewma"``         exponentially weighted covariance of returns demeaned by their full-sample mean,
  weights ``(1 - a) ** age`` with ``a = 2 / (span + 1)``, normalised to sum to 1, times ``frequency``
* ``"ledoit-wolf"``  Ledoit & Wolf (2004) shrinkage towards ``mu * I`` (``mu`` = mean sample variance),
  optimal intensity estimated from the data; maximum-likelihood (``ddof=0``) covariance of
  demeaned returns, times ``frequency``

These definitions match PyPortfolioOpt 1.6.0 (``mean_historical_return``, ``ema_historical_return``,
``sample_cov``, ``exp_cov``, ``CovarianceShrinkage.ledoit_wolf``) to floating-point precision, which
the tests check. The ``*_from_returns`` variants take a ``(T, n)`` numpy array of daily returns and
return numpy arrays; they are what the backtester should call in tight loops.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np

from offchain.core.errors import InputError
from offchain.core.lazy import LazyModule
from offchain.quant.data import validate_prices

pd = LazyModule("pandas")

__all__ = [
    "TRADING_DAYS",
    "RETURN_METHODS",
    "COV_METHODS",
    "ReturnMethod",
    "CovMethod",
    "returns_from_prices",
    "mean_return",
    "geometric_return",
    "ewma_return",
    "sample_cov",
    "ewma_cov",
    "ledoit_wolf_cov",
    "ledoit_wolf_shrinkage",
    "expected_returns",
    "covariance",
    "expected_returns_from_returns",
    "covariance_from_returns",
]

log = logging.getLogger(__name__)

TRADING_DAYS = 252
ReturnMethod = Literal["mean", "geometric", "ewma"]
CovMethod = Literal["sample", "ewma", "ledoit-wolf"]
RETURN_METHODS: tuple[str, ...] = ("mean", "geometric", "ewma")
COV_METHODS: tuple[str, ...] = ("sample", "ewma", "ledoit-wolf")
DEFAULT_RETURN_SPAN = 500  # days, as PyPortfolioOpt's ema_historical_return
DEFAULT_COV_SPAN = 180  # days, as PyPortfolioOpt's exp_cov


def _check_frequency(frequency: float) -> float:
    if not np.isfinite(frequency) or frequency <= 0:
        raise InputError(f"frequency (trading days per year) must be a positive number, got {frequency!r}")
    return float(frequency)


def _check_span(span: float) -> float:
    if not np.isfinite(span) or span < 1:
        raise InputError(f"EWMA span must be a number >= 1 (days), got {span!r}")
    return float(span)


def _check_returns(r: np.ndarray, need: int = 1) -> np.ndarray:
    r = np.asarray(r, dtype=np.float64)
    if r.ndim != 2:
        raise InputError(f"returns must be a 2-D (days x assets) array, got shape {r.shape}")
    if r.shape[0] < need:
        raise InputError(
            f"need at least {need} daily return(s) ({need + 1} price rows), got {r.shape[0]}; "
            f"use a longer price history"
        )
    if r.shape[1] == 0:
        raise InputError("no assets: the price table has no columns")
    if not np.all(np.isfinite(r)):
        raise InputError("returns contain NaN or infinity; check the price data for gaps and zeros")
    return r


def returns_from_prices(prices: pd.DataFrame) -> pd.DataFrame:
    """Simple daily returns ``p_t / p_{t-1} - 1`` (first row dropped) of a validated price table."""
    prices = validate_prices(prices)
    if len(prices) < 2:
        raise InputError(f"need at least 2 price rows to compute returns, got {len(prices)}")
    arr = prices.to_numpy()
    rets = arr[1:] / arr[:-1] - 1.0
    return pd.DataFrame(rets, index=prices.index[1:], columns=prices.columns)


# --- numpy cores (returns in, annualised numpy out) -------------------------------------------------


def _ewm_weights(T: int, span: float) -> np.ndarray:
    """pandas ``ewm(span=span, adjust=True)`` weights of the last row: ``(1-a)**age``, normalised."""
    alpha = 2.0 / (span + 1.0)
    w = (1.0 - alpha) ** np.arange(T - 1, -1, -1, dtype=np.float64)
    return w / w.sum()


def expected_returns_from_returns(
    returns: np.ndarray,
    method: str = "mean",
    *,
    frequency: float = TRADING_DAYS,
    span: float = DEFAULT_RETURN_SPAN,
    compounding: bool = False,
) -> np.ndarray:
    """Annualised expected returns (shape ``(n,)``) from a ``(T, n)`` array of simple daily returns.

    ``compounding`` only affects ``"ewma"`` (``"geometric"`` always compounds, ``"mean"`` never does).
    """
    r = _check_returns(returns)
    f = _check_frequency(frequency)
    if method == "mean":
        return r.mean(axis=0) * f
    if method == "geometric":
        growth = np.log1p(r).sum(axis=0)
        return np.expm1(growth * (f / r.shape[0]))
    if method == "ewma":
        m = _ewm_weights(r.shape[0], _check_span(span)) @ r
        return np.expm1(f * np.log1p(m)) if compounding else m * f
    raise InputError(f"unknown expected-return method {method!r}; choose one of {', '.join(RETURN_METHODS)}")


def ledoit_wolf_shrinkage(returns: np.ndarray) -> float:
    """Ledoit-Wolf optimal shrinkage intensity in ``[0, 1]`` towards ``mu * I`` (daily returns in)."""
    r = _check_returns(returns, need=1)
    X = r - r.mean(axis=0)
    T, n = X.shape
    X2 = X * X
    emp_var = X2.sum(axis=0) / T
    mu = emp_var.sum() / n
    beta_ = float(np.sum(X2.T @ X2))
    delta_ = float(np.sum((X.T @ X) ** 2)) / T**2
    beta = (beta_ / T - delta_) / (n * T)
    delta = (delta_ - 2.0 * mu * emp_var.sum() + n * mu**2) / n
    beta = min(beta, delta)
    return 0.0 if beta == 0.0 else float(beta / delta)


def covariance_from_returns(
    returns: np.ndarray,
    method: str = "sample",
    *,
    frequency: float = TRADING_DAYS,
    span: float = DEFAULT_COV_SPAN,
) -> np.ndarray:
    """Annualised covariance matrix (shape ``(n, n)``) from a ``(T, n)`` array of daily returns."""
    f = _check_frequency(frequency)
    if method == "sample":
        r = _check_returns(returns, need=2)
        X = r - r.mean(axis=0)
        S = (X.T @ X) / (r.shape[0] - 1)
    elif method == "ewma":
        r = _check_returns(returns, need=2)
        X = r - r.mean(axis=0)
        w = _ewm_weights(r.shape[0], _check_span(span))
        S = (X * w[:, None]).T @ X
    elif method == "ledoit-wolf":
        r = _check_returns(returns, need=2)
        X = r - r.mean(axis=0)
        T, n = X.shape
        emp = (X.T @ X) / T
        shrink = ledoit_wolf_shrinkage(r)
        mu = np.trace(emp) / n
        S = (1.0 - shrink) * emp
        S.flat[:: n + 1] += shrink * mu
        log.debug("ledoit-wolf shrinkage %.4f", shrink)
    else:
        raise InputError(f"unknown covariance method {method!r}; choose one of {', '.join(COV_METHODS)}")
    S = 0.5 * (S + S.T) * f
    return S


# --- pandas front-ends (prices in) ---------------------------------------------------------------


def _returns_array(prices: pd.DataFrame) -> tuple[np.ndarray, pd.Index]:
    rets = returns_from_prices(prices)
    return rets.to_numpy(), rets.columns


def expected_returns(
    prices: pd.DataFrame,
    method: str = "mean",
    *,
    frequency: float = TRADING_DAYS,
    span: float = DEFAULT_RETURN_SPAN,
    compounding: bool = False,
) -> pd.Series:
    """Annualised expected returns per asset from daily prices; ``method`` in ``RETURN_METHODS``."""
    r, cols = _returns_array(prices)
    mu = expected_returns_from_returns(r, method, frequency=frequency, span=span, compounding=compounding)
    return pd.Series(mu, index=cols, name="expected_return")


def covariance(
    prices: pd.DataFrame,
    method: str = "sample",
    *,
    frequency: float = TRADING_DAYS,
    span: float = DEFAULT_COV_SPAN,
) -> pd.DataFrame:
    """Annualised covariance matrix from daily prices; ``method`` in ``COV_METHODS``."""
    r, cols = _returns_array(prices)
    S = covariance_from_returns(r, method, frequency=frequency, span=span)
    return pd.DataFrame(S, index=cols, columns=cols)


def mean_return(prices: pd.DataFrame, *, frequency: float = TRADING_DAYS) -> pd.Series:
    """Arithmetic mean daily return times ``frequency``."""
    return expected_returns(prices, "mean", frequency=frequency)


def geometric_return(prices: pd.DataFrame, *, frequency: float = TRADING_DAYS) -> pd.Series:
    """Compound annual growth rate ``prod(1 + r) ** (frequency / T) - 1``."""
    return expected_returns(prices, "geometric", frequency=frequency)


def ewma_return(
    prices: pd.DataFrame,
    *,
    span: float = DEFAULT_RETURN_SPAN,
    frequency: float = TRADING_DAYS,
    compounding: bool = False,
) -> pd.Series:
    """Exponentially weighted mean daily return, annualised (linearly, or compounded)."""
    return expected_returns(prices, "ewma", frequency=frequency, span=span, compounding=compounding)


def sample_cov(prices: pd.DataFrame, *, frequency: float = TRADING_DAYS) -> pd.DataFrame:
    """Unbiased sample covariance of daily returns times ``frequency``."""
    return covariance(prices, "sample", frequency=frequency)


def ewma_cov(
    prices: pd.DataFrame, *, span: float = DEFAULT_COV_SPAN, frequency: float = TRADING_DAYS
) -> pd.DataFrame:
    """Exponentially weighted covariance of daily returns times ``frequency``."""
    return covariance(prices, "ewma", frequency=frequency, span=span)


def ledoit_wolf_cov(prices: pd.DataFrame, *, frequency: float = TRADING_DAYS) -> pd.DataFrame:
    """Ledoit-Wolf shrunk covariance (target: scaled identity) of daily returns times ``frequency``."""
    return covariance(prices, "ledoit-wolf", frequency=frequency)
