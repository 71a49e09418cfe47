"""Market scenarios for the simulator: correlated GBM, block bootstrap of a price table, historical replay.

Conventions
-----------
* A scenario has ``T = n_steps + 1`` observation dates (``dates``) and produces, chunk by chunk, the
  **gross daily returns** ``R[k, i, p] = price_{t+1} / price_t`` of asset ``i`` on path ``p`` for
  consecutive transitions, as arrays of shape ``(k, n_assets, n_paths)`` (time, asset, path: the
  layout the engine reduces fastest): ``float64`` for historical data, ``float32`` for GBM (the
  engine accumulates in ``float64``; float32 returns are exact to ~6e-8, far below MC noise).
* GBM parameters are **annualised**: ``drift`` (arithmetic, mu), ``vol`` (sigma), a correlation matrix;
  one step is ``1 / periods_per_year`` years; ``log R = (mu - sigma^2/2) dt + sigma sqrt(dt) Z``.
  Normal draws are made in ``float32`` by Box-Muller (fast; accumulation stays ``float64``), chunk ``c`` from
  its own ``SeedSequence(seed).spawn`` child, so results depend on ``seed`` and ``chunk`` only, never
  on threading. Two worker threads draw ahead while the engine runs (numpy releases the GIL).
* Synthetic scenarios get business-day dates from ``start`` so calendar policies work on them.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from offchain.core.errors import InputError
from offchain.core.lazy import LazyModule

pd = LazyModule("pandas")

__all__ = ["Scenario", "GBMScenario", "BootstrapScenario", "HistoricalScenario", "gross_returns"]

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 126


def gross_returns(prices: pd.DataFrame) -> np.ndarray:
    """``(T-1, n)`` gross returns ``p_t / p_{t-1}`` of a validated price table."""
    p = prices.to_numpy(dtype=float)
    return p[1:] / p[:-1]


def _validated(prices: pd.DataFrame, source: str) -> pd.DataFrame:
    from offchain.quant.data import validate_prices  # noqa: PLC0415  (part A's validator)

    out = validate_prices(prices, source=source)
    if len(out) < 2:
        raise InputError(f"{source} needs at least two dates of prices")
    return out


class Scenario(ABC):
    """A source of gross-return paths on a fixed calendar."""

    assets: list[str]
    dates: pd.DatetimeIndex

    @property
    def n_assets(self) -> int:
        return len(self.assets)

    @property
    def n_steps(self) -> int:
        return len(self.dates) - 1

    @property
    def max_paths(self) -> int | None:
        """Largest number of paths the scenario can produce (``None``: unlimited)."""
        return None

    def times(self) -> np.ndarray:
        """Observation times as unix seconds (int64, UTC midnight of each date)."""
        idx = pd.DatetimeIndex(self.dates)
        if idx.tz is not None:
            idx = idx.tz_convert("UTC").tz_localize(None)
        return (idx.as_unit("s").asi8).astype(np.int64)

    def periods_per_year(self) -> float:
        """Observations per year, from the calendar (252 for US trading days)."""
        days = (self.dates[-1] - self.dates[0]).days
        if days <= 0:
            return 252.0
        return self.n_steps / (days / 365.25)

    @abstractmethod
    def chunks(self, n_paths: int, seed: int = 0, chunk: int = DEFAULT_CHUNK) -> Iterator[np.ndarray]:
        """Yield ``(k, n_assets, n_paths)`` gross-return blocks covering all ``n_steps`` transitions."""


def _bdates(start: str | pd.Timestamp, n: int) -> pd.DatetimeIndex:
    try:
        return pd.bdate_range(pd.Timestamp(start), periods=n, name="date")
    except (ValueError, TypeError) as exc:
        raise InputError(f"bad start date {start!r}; use YYYY-MM-DD") from exc


def _normals(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normals in float32 by Box-Muller (2x faster than numpy's float32 ziggurat here).

    Exact in distribution up to float32 resolution (|z| <= 5.77 since uniforms have 24 bits).
    """
    size = int(np.prod(shape))
    h = (size + 1) // 2
    u = rng.random(2 * h, dtype=np.float32)
    r = np.subtract(np.float32(1.0), u[:h])  # (0, 1]
    np.log(r, out=r)
    r *= np.float32(-2.0)
    np.sqrt(r, out=r)
    a = u[h:]
    a *= np.float32(2.0 * math.pi)
    z = np.empty(2 * h, dtype=np.float32)
    np.cos(a, out=z[:h])
    np.sin(a, out=z[h:])
    z[:h] *= r
    z[h:] *= r
    return z[:size].reshape(shape)


class GBMScenario(Scenario):
    """Correlated geometric Brownian motion (annualised ``drift``/``vol``, correlation ``corr``)."""

    def __init__(
        self,
        assets: Sequence[str],
        drift: Sequence[float],
        vol: Sequence[float],
        corr: Sequence[Sequence[float]] | np.ndarray | None = None,
        *,
        n_steps: int = 2520,
        periods_per_year: float = 252.0,
        start: str = "2025-01-01",
    ) -> None:
        n = len(assets)
        self.assets = [str(a) for a in assets]
        self.mu = np.asarray(drift, dtype=float)
        self.sigma = np.asarray(vol, dtype=float)
        c = np.eye(n) if corr is None else np.asarray(corr, dtype=float)
        if self.mu.shape != (n,) or self.sigma.shape != (n,):
            raise InputError(
                f"GBM needs one drift and one vol per asset ({n}); got {self.mu.size} and {self.sigma.size}"
            )
        if c.shape != (n, n):
            raise InputError(f"correlation matrix must be {n}x{n}; got {'x'.join(map(str, c.shape))}")
        if not (np.all(np.isfinite(self.mu)) and np.all(np.isfinite(self.sigma)) and np.all(np.isfinite(c))):
            raise InputError("GBM drift, vol and correlation must be finite numbers")
        if np.any(self.sigma < 0):
            raise InputError("GBM vols must be non-negative")
        if (
            not np.allclose(c, c.T, atol=1e-12)
            or not np.allclose(np.diag(c), 1.0)
            or np.any(np.abs(c) > 1 + 1e-12)
        ):
            raise InputError(
                "correlation matrix must be symmetric with a unit diagonal and entries in [-1, 1]"
            )
        try:
            self.chol = np.linalg.cholesky(c + 1e-12 * np.eye(n))
        except np.linalg.LinAlgError as exc:
            raise InputError("correlation matrix is not positive semi-definite") from exc
        if n_steps < 1 or periods_per_year <= 0:
            raise InputError("GBM needs n_steps >= 1 and periods_per_year > 0")
        self.corr = c
        self._ppy = float(periods_per_year)
        self.dates = _bdates(start, n_steps + 1)

    def periods_per_year(self) -> float:
        return self._ppy

    def _block(self, seed_seq: np.random.SeedSequence, k: int, n_paths: int) -> np.ndarray:
        rng = np.random.default_rng(seed_seq)
        n = self.n_assets
        dt = 1.0 / self._ppy
        z = _normals(rng, (k, n, n_paths))
        y = np.matmul(self.chol.astype(np.float32), z)
        scale = (self.sigma * math.sqrt(dt)).astype(np.float32)[:, None]
        loc = ((self.mu - 0.5 * self.sigma**2) * dt).astype(np.float32)[:, None]
        y *= scale
        y += loc
        np.exp(y, out=y)
        return y

    def chunks(self, n_paths: int, seed: int = 0, chunk: int = DEFAULT_CHUNK) -> Iterator[np.ndarray]:
        sizes = [min(chunk, self.n_steps - s) for s in range(0, self.n_steps, chunk)]
        seqs = np.random.SeedSequence(seed).spawn(len(sizes))
        with ThreadPoolExecutor(max_workers=2) as pool:
            pending: list[Future[np.ndarray]] = []
            nxt = 0
            for _ in range(len(sizes)):
                while nxt < len(sizes) and len(pending) < 3:
                    pending.append(pool.submit(self._block, seqs[nxt], sizes[nxt], n_paths))
                    nxt += 1
                yield pending.pop(0).result()


class BootstrapScenario(Scenario):
    """Fixed-length block bootstrap of a historical price table's daily gross returns.

    Each path is a concatenation of blocks of ``block`` consecutive historical return rows (all
    assets together, so cross-correlation and short-range autocorrelation survive) starting at
    uniformly drawn rows.
    """

    def __init__(
        self,
        prices: pd.DataFrame,
        *,
        n_steps: int | None = None,
        block: int = 20,
        start: str | None = None,
    ) -> None:
        px = _validated(prices, "bootstrap price table")
        self.assets = [str(c) for c in px.columns]
        self.hist = gross_returns(px)
        h = len(self.hist)
        if not 1 <= block <= h:
            raise InputError(
                f"bootstrap block must be between 1 and {h} (the history's return count); got {block}"
            )
        self.block = int(block)
        steps = h if n_steps is None else int(n_steps)
        if steps < 1:
            raise InputError("bootstrap needs n_steps >= 1")
        hist_ppy = (len(px) - 1) / max((px.index[-1] - px.index[0]).days / 365.25, 1e-9)
        self._ppy = hist_ppy
        self.dates = _bdates(start or px.index[0], steps + 1)

    def periods_per_year(self) -> float:
        return self._ppy

    def chunks(self, n_paths: int, seed: int = 0, chunk: int = DEFAULT_CHUNK) -> Iterator[np.ndarray]:
        rng = np.random.default_rng(seed)
        n_blocks = -(-self.n_steps // self.block)
        starts = rng.integers(0, len(self.hist) - self.block + 1, size=(n_blocks, n_paths))
        for s in range(0, self.n_steps, chunk):
            t = np.arange(s, min(s + chunk, self.n_steps))
            rows = starts[t // self.block] + (t % self.block)[:, None]  # (k, P)
            yield np.ascontiguousarray(self.hist[rows].transpose(0, 2, 1))


class HistoricalScenario(Scenario):
    """A price table replayed as is: one path, its own dates."""

    def __init__(self, prices: pd.DataFrame) -> None:
        px = _validated(prices, "price table")
        self.assets = [str(c) for c in px.columns]
        self.prices = px
        self.dates = pd.DatetimeIndex(px.index)
        self._levels = px.to_numpy(dtype=float)
        self.hist = self._levels[1:] / self._levels[:-1]

    @property
    def max_paths(self) -> int | None:
        return 1

    def levels(self) -> np.ndarray:
        """``(T, n)`` price levels: the engine's cumulative growth, without re-multiplying returns."""
        return self._levels

    def chunks(self, n_paths: int = 1, seed: int = 0, chunk: int = DEFAULT_CHUNK) -> Iterator[np.ndarray]:
        if n_paths != 1:
            raise InputError("a historical replay has exactly one path")
        # One block: the engine is fastest on a single path when it sees the whole history at once.
        yield self.hist[:, :, None]
