"""The rebalancing rules: ``BuyAndHold``, ``Threshold``, ``BandEdge``, ``Calendar``, ``Hybrid`` and
``Dynamic`` (see ``offchain.quant.policies`` for the conventions). Part of ``offchain.quant.policies``
(re-exported there)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from offchain.core.errors import InputError
from offchain.core.model import (
    BPS,
    DEFAULT_PARAMS,
    REASON_CALENDAR,
    REASON_NONE,
    REASON_THRESHOLD,
    Params,
    VaultModel,
)
from offchain.quant.policies.base import (
    ALIGNED_PERIODS,
    DISABLED_BPS,
    NEVER,
    Policy,
    _check_bps,
    _fits,
    _fmt_duration,
    _vault_reason,
    period_key,
)
from offchain.quant.policies.targets import check_objective


@dataclass(frozen=True)
class BuyAndHold(Policy):
    """Never rebalance after the initial allocation."""

    kind: ClassVar[str] = "buy-and-hold"

    def spec(self) -> str:
        return "buy-and-hold"

    def params(self, base: Params = DEFAULT_PARAMS) -> Params:
        return replace(
            base, drift_threshold_bps=DISABLED_BPS, rebalance_period=NEVER, min_drift_bps=0, cooldown=0
        )

    def reason(
        self,
        drift: np.ndarray,
        now: np.ndarray,
        last: np.ndarray,
        *,
        key: np.ndarray | None = None,
        last_key: np.ndarray | None = None,
        step: np.ndarray | None = None,
    ) -> np.ndarray:
        shape = np.broadcast_shapes(np.shape(drift), np.shape(now), np.shape(last))
        return np.zeros(shape, dtype=np.int8)


@dataclass(frozen=True)
class Threshold(Policy):
    """Rebalance (to target) when drift ``max_i |w_i - t_i| >= band_bps`` -- the vault's THRESHOLD rule."""

    band_bps: int = 500
    kind: ClassVar[str] = "threshold"

    def __post_init__(self) -> None:
        _check_bps("threshold band", self.band_bps, lo=1)

    def spec(self) -> str:
        return f"threshold:{self.band_bps}bps"

    def fire(self, drift: np.ndarray, now: np.ndarray, last: np.ndarray, **kw: Any) -> np.ndarray:
        d = np.asarray(drift, dtype=float)
        out = d >= self.band_bps / BPS  # the simulator's hot path: no clock, no reason codes
        if _fits(np.shape(now), d.shape) and _fits(np.shape(last), d.shape):
            return out
        return np.broadcast_to(out, np.broadcast_shapes(d.shape, np.shape(now), np.shape(last))).copy()

    def params(self, base: Params = DEFAULT_PARAMS) -> Params:
        return replace(
            base, drift_threshold_bps=self.band_bps, rebalance_period=NEVER, min_drift_bps=0, cooldown=0
        )

    def reason(
        self,
        drift: np.ndarray,
        now: np.ndarray,
        last: np.ndarray,
        *,
        key: np.ndarray | None = None,
        last_key: np.ndarray | None = None,
        step: np.ndarray | None = None,
    ) -> np.ndarray:
        return _vault_reason(drift, now, last, self.band_bps, NEVER, 0, 0)


@dataclass(frozen=True)
class BandEdge(Threshold):
    """Cost-aware threshold (Leland): trigger like ``Threshold`` but trade only back to the band's edge."""

    kind: ClassVar[str] = "band-edge"

    def spec(self) -> str:
        return f"band-edge:{self.band_bps}bps"

    @property
    def trade_band_bps(self) -> int:
        return self.band_bps


@dataclass(frozen=True)
class Calendar(Policy):
    """Rebalance on a calendar, if drift is at least ``min_drift_bps`` (0: always).

    Either a fixed interval ``period_s`` (seconds since the last rebalance -- the vault's CALENDAR rule)
    or ``align`` in ``ALIGNED_PERIODS``: the first observation of each UTC week / month / quarter / year
    (bt's ``RunMonthly`` etc.), implemented as "the period key of now differs from that of the last
    rebalance", which needs no extra state and agrees with bt whenever every trigger is acted on.
    """

    period_s: int | None = None
    align: str | None = None
    min_drift_bps: int = 0
    kind: ClassVar[str] = "calendar"

    def __post_init__(self) -> None:
        if (self.period_s is None) == (self.align is None):
            raise InputError("a calendar policy needs exactly one of a fixed interval or an aligned period")
        if self.align is not None and self.align not in ALIGNED_PERIODS:
            raise InputError(
                f"unknown calendar period {self.align!r}; use one of {', '.join(ALIGNED_PERIODS)}"
            )
        if self.period_s is not None and self.period_s <= 0:
            raise InputError(f"calendar interval must be positive; got {self.period_s} s")
        _check_bps("minimum drift", self.min_drift_bps, lo=0)

    def spec(self) -> str:
        base = f"calendar:{self.align}" if self.align else f"calendar:{_fmt_duration(self.period_s or 0)}"
        return base + (f",{self.min_drift_bps}bps" if self.min_drift_bps else "")

    @property
    def calendar_period(self) -> str | None:
        return self.align

    @property
    def on_chain(self) -> bool:
        return self.align is None

    def params(self, base: Params = DEFAULT_PARAMS) -> Params:
        if self.align is not None:
            return super().params(base)
        return replace(
            base,
            drift_threshold_bps=DISABLED_BPS,
            rebalance_period=int(self.period_s or 0),
            min_drift_bps=self.min_drift_bps,
            cooldown=0,
        )

    def reason(
        self,
        drift: np.ndarray,
        now: np.ndarray,
        last: np.ndarray,
        *,
        key: np.ndarray | None = None,
        last_key: np.ndarray | None = None,
        step: np.ndarray | None = None,
    ) -> np.ndarray:
        if self.align is None:
            return _vault_reason(
                drift, now, last, DISABLED_BPS, int(self.period_s or 0), self.min_drift_bps, 0
            )
        k = period_key(now, self.align) if key is None else np.asarray(key)
        lk = period_key(last, self.align) if last_key is None else np.asarray(last_key)
        hit = (k != lk) & (np.asarray(drift, dtype=float) >= self.min_drift_bps / BPS)
        return np.where(hit, REASON_CALENDAR, REASON_NONE).astype(np.int8)

    def needs_rebalance(self, vault: VaultModel, now: int) -> tuple[bool, int]:
        if self.align is None:
            return super().needs_rebalance(vault, now)
        if vault.paused or not vault.feeds_ok:
            return (False, REASON_NONE)
        new_period = int(period_key(now, self.align)) != int(period_key(vault.last_rebalance, self.align))
        hit = new_period and vault.drift_wad() >= self.min_drift_bps * (10**18 // BPS)
        return (True, REASON_CALENDAR) if hit else (False, REASON_NONE)


@dataclass(frozen=True)
class Hybrid(Policy):
    """The vault's full rule: threshold, or calendar interval with a minimum drift, never within cooldown."""

    threshold_bps: int = DEFAULT_PARAMS.drift_threshold_bps
    period_s: int = DEFAULT_PARAMS.rebalance_period
    min_drift_bps: int = DEFAULT_PARAMS.min_drift_bps
    cooldown_s: int = DEFAULT_PARAMS.cooldown
    kind: ClassVar[str] = "hybrid"

    def __post_init__(self) -> None:
        _check_bps("threshold", self.threshold_bps, lo=1)
        _check_bps("minimum drift", self.min_drift_bps, lo=0)
        if self.period_s <= 0 or self.cooldown_s < 0:
            raise InputError("hybrid policy needs a positive period and a non-negative cooldown")

    @classmethod
    def from_params(cls, p: Params) -> Hybrid:
        return cls(p.drift_threshold_bps, p.rebalance_period, p.min_drift_bps, p.cooldown)

    def spec(self) -> str:
        return (
            f"hybrid:{self.threshold_bps}bps,{_fmt_duration(self.period_s)},"
            f"{self.min_drift_bps}bps,{_fmt_duration(self.cooldown_s)}"
        )

    def params(self, base: Params = DEFAULT_PARAMS) -> Params:
        return replace(
            base,
            drift_threshold_bps=self.threshold_bps,
            rebalance_period=self.period_s,
            min_drift_bps=self.min_drift_bps,
            cooldown=self.cooldown_s,
        )

    def reason(
        self,
        drift: np.ndarray,
        now: np.ndarray,
        last: np.ndarray,
        *,
        key: np.ndarray | None = None,
        last_key: np.ndarray | None = None,
        step: np.ndarray | None = None,
    ) -> np.ndarray:
        return _vault_reason(
            drift, now, last, self.threshold_bps, self.period_s, self.min_drift_bps, self.cooldown_s
        )


@dataclass(frozen=True)
class Dynamic(Policy):
    """Re-optimise the targets every ``every`` observations and rebalance to them.

    Targets come from ``offchain.quant.optimize`` (objective ``objective``) fitted on the trailing
    ``lookback`` observations; until that much history exists the initial targets stay. With
    ``band_bps`` set it also rebalances in between when drift from the current targets reaches it.
    """

    every: int = 21
    objective: str = "min-variance"
    lookback: int = 252
    band_bps: int | None = None
    kind: ClassVar[str] = "dynamic"

    def __post_init__(self) -> None:
        if self.every < 1 or self.lookback < 2:
            raise InputError("dynamic policy needs every >= 1 and lookback >= 2 observations")
        if self.band_bps is not None:
            _check_bps("dynamic band", self.band_bps, lo=1)
        object.__setattr__(self, "objective", check_objective(self.objective))

    def spec(self) -> str:
        s = f"dynamic:{self.every},{self.objective},{self.lookback}"
        return s + (f",{self.band_bps}bps" if self.band_bps else "")

    @property
    def on_chain(self) -> bool:
        return False

    def reason(
        self,
        drift: np.ndarray,
        now: np.ndarray,
        last: np.ndarray,
        *,
        key: np.ndarray | None = None,
        last_key: np.ndarray | None = None,
        step: np.ndarray | None = None,
    ) -> np.ndarray:
        if step is None:
            raise InputError("the dynamic policy needs the observation index (step)")
        st = np.asarray(step)
        sched = (st > 0) & (st % self.every == 0)
        out = np.where(sched, REASON_CALENDAR, REASON_NONE)
        if self.band_bps is not None:
            thr = np.asarray(drift, dtype=float) >= self.band_bps / BPS
            out = np.where(thr, REASON_THRESHOLD, out)
        shape = np.broadcast_shapes(np.shape(drift), np.shape(now), np.shape(last), st.shape)
        return np.broadcast_to(out, shape).astype(np.int8)

    def needs_rebalance(self, vault: VaultModel, now: int) -> tuple[bool, int]:
        raise InputError(
            "the dynamic policy is decided by the simulator's schedule, not from a vault snapshot"
        )
