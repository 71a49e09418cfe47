"""Rebalancing policies: one set of objects for the simulator (vectorised floats) and the keeper
(``offchain.core.model.VaultModel``, exact integers).

Conventions
-----------
* Thresholds, bands and minimum drifts are given in **basis points** (``500`` == 5 %); the vectorised
  ``reason``/``fire`` take drift as a **fraction** (``max_i |w_i - target_i|`` with weights as
  fractions of vault value -- the vault's drift definition).
* Time is **unix seconds** (int64), as on chain; calendar-aligned periods are UTC calendar periods.
* Reason codes are the vault's: 0 none, 1 THRESHOLD, 2 CALENDAR.

Every policy answers the same question two ways, which must agree away from exact ties (tested):

* ``reason(drift, now, last, ...)`` -- numpy, any shape, used by ``offchain.quant.backtest``;
* ``needs_rebalance(vault, now)`` -- exact, for the keeper. For ``Threshold``, fixed-interval
  ``Calendar``, ``Hybrid``, ``BandEdge`` and ``BuyAndHold`` this *is* the vault's ``needs_rebalance()``
  evaluated with ``policy.params()`` (see ``offchain.core.model.trigger``); calendar-aligned periods and
  ``Dynamic`` have no on-chain equivalent and are decided off chain by the same rule as ``reason``.
  Only ``Hybrid`` (within the contract's bounds, ``setter_violations``) can be *enforced* by a deployed
  vault: the contract cannot switch its calendar or threshold rule off, so the pure rules' ``params()``
  use out-of-bounds sentinels (``settable`` is False) and the keeper applies them off chain.

A rebalance trades with ``offchain.core.model.plan_trades(..., band_bps=policy.trade_band_bps)``: back to
target, or (``BandEdge``) only back to the edge of the no-trade band.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
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
    PlannedTrade,
    VaultModel,
    plan_vault,
)

__all__ = [
    "NEVER",
    "ALIGNED_PERIODS",
    "Policy",
    "BuyAndHold",
    "Calendar",
    "Threshold",
    "Hybrid",
    "BandEdge",
    "Dynamic",
    "period_key",
    "parse_policy",
    "parse_bps",
    "parse_duration",
    "setter_violations",
]

log = logging.getLogger(__name__)

NEVER = 2**62  # seconds: a rebalance period that never elapses (no int64 overflow with real timestamps)
DISABLED_BPS = BPS + 1  # a drift threshold no vault can reach (drift <= 100 %)
ALIGNED_PERIODS = ("weekly", "monthly", "quarterly", "yearly")
_DAY = 86_400


def period_key(now: Any, period: str) -> np.ndarray:
    """Index of the UTC calendar period containing unix time(s) ``now`` (weeks start on Monday).

    Two times are in the same period iff their keys are equal, so "first trading day of the month"
    is "the key differs from the previous trading day's key" -- bt's ``RunMonthly`` rule.
    """
    days = np.floor_divide(np.asarray(now, dtype=np.int64), _DAY)
    if period == "weekly":
        return (days + 3) // 7  # 1970-01-01 was a Thursday
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    if period == "monthly":
        return months
    if period == "quarterly":
        return months // 3
    if period == "yearly":
        return months // 12
    raise InputError(f"unknown calendar period {period!r}; use one of {', '.join(ALIGNED_PERIODS)}")


class Policy(ABC):
    """A rebalancing rule. Subclasses are frozen dataclasses with their parameters in bps / seconds."""

    kind: ClassVar[str] = ""

    @property
    def name(self) -> str:
        return self.spec()

    @abstractmethod
    def spec(self) -> str:
        """The CLI spelling that ``parse_policy`` turns back into an equal policy."""

    @property
    def trade_band_bps(self) -> int:
        """No-trade band half-width used when trading (0: trade all the way to target)."""
        return 0

    @property
    def calendar_period(self) -> str | None:
        """Calendar-aligned period (``"monthly"`` ...) the rule needs keys for, else ``None``."""
        return None

    @property
    def on_chain(self) -> bool:
        """True when ``params()`` expresses the rule exactly in the vault's own trigger."""
        return True

    def params(self, base: Params = DEFAULT_PARAMS) -> Params:
        """Vault parameters whose ``needs_rebalance()`` implements this policy (the rest from ``base``).

        Exact for the reference model; rules the contract cannot switch off (no calendar, no threshold)
        use sentinels outside its setter bounds -- see ``settable``.
        """
        raise InputError(f"policy {self.spec()!r} has no on-chain equivalent")

    @property
    def settable(self) -> bool:
        """True when ``params()`` can be written to a deployed vault (``setter_violations`` is empty)."""
        return self.on_chain and not setter_violations(self.params())

    @abstractmethod
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
        """Vectorised trigger: reason code (int8) per element of the broadcast inputs.

        ``drift`` fraction; ``now`` and ``last`` (last rebalance) unix seconds; ``key``/``last_key``
        calendar keys of now / the last rebalance (computed from the times when omitted); ``step`` the
        index of the observation from the start of the run (used by ``Dynamic``).
        """

    def fire(self, drift: np.ndarray, now: np.ndarray, last: np.ndarray, **kw: Any) -> np.ndarray:
        """Boolean form of ``reason``."""
        return self.reason(drift, now, last, **kw) != REASON_NONE

    def needs_rebalance(self, vault: VaultModel, now: int) -> tuple[bool, int]:
        """Exact decision for the keeper: the vault's own rule evaluated with ``self.params()``."""
        model = replace(vault, params=self.params(vault.params))
        return model.needs_rebalance(now)

    def plan(self, vault: VaultModel, *, fee_bps: int = 30, min_value: int = 0) -> list[PlannedTrade]:
        """The keeper's trade list for this policy (``plan_trades`` with the policy's band), sized to
        the vault's loss budget left (``vault.loss_used``, as of the state read)."""
        return plan_vault(vault, band_bps=self.trade_band_bps, fee_bps=fee_bps, min_value=min_value)


# The contract's setter bounds (contracts/RebalancingVault.vy: MIN_/MAX_ constants).
VAULT_MIN_THRESHOLD_BPS = 10
VAULT_MAX_THRESHOLD_BPS = 5_000
VAULT_MIN_PERIOD = _DAY
VAULT_MAX_PERIOD = 366 * _DAY
VAULT_MAX_COOLDOWN = 30 * _DAY


def setter_violations(p: Params) -> list[str]:
    """Which of ``p``'s trigger parameters a deployed vault's setters would reject (empty: all settable)."""
    out = []
    if not VAULT_MIN_THRESHOLD_BPS <= p.drift_threshold_bps <= VAULT_MAX_THRESHOLD_BPS:
        out.append(
            f"drift_threshold_bps {p.drift_threshold_bps} outside "
            f"{VAULT_MIN_THRESHOLD_BPS}..{VAULT_MAX_THRESHOLD_BPS}"
        )
    if not VAULT_MIN_PERIOD <= p.rebalance_period <= VAULT_MAX_PERIOD:
        out.append(f"rebalance_period {p.rebalance_period} s outside {VAULT_MIN_PERIOD}..{VAULT_MAX_PERIOD}")
    if not 1 <= p.min_drift_bps <= p.drift_threshold_bps:
        out.append(f"min_drift_bps {p.min_drift_bps} outside 1..drift_threshold_bps")
    if not 0 <= p.cooldown <= VAULT_MAX_COOLDOWN:
        out.append(f"cooldown {p.cooldown} s outside 0..{VAULT_MAX_COOLDOWN}")
    return out


def _fits(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """True when an array of ``shape`` broadcasts to ``target`` without enlarging it."""
    return len(shape) <= len(target) and all(
        a in (1, b) for a, b in zip(shape[::-1], target[::-1], strict=False)
    )


def _vault_reason(
    drift: np.ndarray,
    now: np.ndarray,
    last: np.ndarray,
    threshold_bps: int,
    period: int,
    min_drift_bps: int,
    cooldown: int,
) -> np.ndarray:
    """``offchain.core.model.trigger`` in numpy (float drift fraction, int64 seconds)."""
    drift = np.asarray(drift, dtype=float)
    if cooldown == 0 and period >= NEVER:  # pure threshold: skip the clock (hot path of the simulator)
        out = (drift >= threshold_bps / BPS).astype(np.int8)
        if _fits(np.shape(now), drift.shape) and _fits(np.shape(last), drift.shape):
            return out
        return np.broadcast_to(out, np.broadcast_shapes(drift.shape, np.shape(now), np.shape(last))).copy()
    now = np.asarray(now, dtype=np.int64)
    last = np.asarray(last, dtype=np.int64)
    ok = now >= last + cooldown
    thr = drift >= threshold_bps / BPS
    cal = (now >= last + period) & (drift >= min_drift_bps / BPS)
    out = np.where(thr, REASON_THRESHOLD, np.where(cal, REASON_CALENDAR, REASON_NONE))
    return np.where(ok, out, REASON_NONE).astype(np.int8)


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


# ------------------------------------------------------------------------- optimiser adapter (part A)


def _optimize_module() -> Any:
    try:
        import offchain.quant.optimize as opt  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - part A ships it
        raise InputError(
            f"the dynamic policy needs offchain.quant.optimize, which cannot be imported ({exc})"
        ) from exc
    return opt


_NEEDS_PARAMS = ("target-volatility", "target-return")


def objectives() -> tuple[str, ...]:
    """Objective names the dynamic policy accepts (part A's ``OBJECTIVES`` that need no extra target)."""
    return tuple(o for o in _optimize_module().OBJECTIVES if o not in _NEEDS_PARAMS)


def check_objective(objective: str) -> str:
    """Canonical objective name; ``InputError`` unless the optimiser knows it and it needs no target."""
    name = _optimize_module().normalise_objective(objective)
    if name in _NEEDS_PARAMS:
        raise InputError(
            f"objective {objective!r} needs a target; the dynamic policy takes {', '.join(objectives())}"
        )
    return name


def optimise_targets(returns: np.ndarray, objective: str, periods_per_year: float = 252.0) -> np.ndarray:
    """New targets (fractions) for histories ``returns`` ``(m, lookback, n)`` of simple daily returns.

    Annualised sample mean and sample covariance (ddof=1) -- ``offchain.quant.estimators``' ``"mean"`` and
    ``"sample"`` estimators, batched -- fed to ``offchain.quant.optimize.optimize_batch``. Rows the optimiser
    cannot solve come back as NaN (the engine then keeps the old targets).
    """
    r = np.asarray(returns, dtype=float)
    m, T, n = r.shape
    mu = r.mean(axis=1) * periods_per_year
    x = r - r.mean(axis=1, keepdims=True)
    cov = np.einsum("mti,mtj->mij", x, x) / max(T - 1, 1) * periods_per_year
    opt = _optimize_module()
    w = opt.optimize_batch(mu, cov, check_objective(objective), on_error="nan")
    return np.asarray(w, dtype=float)


# ----------------------------------------------------------------------------------------- parsing

_DUR = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|min|h|d|w|y)?\s*$", re.IGNORECASE)
_DUR_UNITS = {"s": 1, "sec": 1, "min": 60, "h": 3600, "d": _DAY, "w": 7 * _DAY, "y": 365 * _DAY}
_PERIOD_ALIASES = {
    "weekly": "weekly",
    "week": "weekly",
    "w": "weekly",
    "monthly": "monthly",
    "month": "monthly",
    "m": "monthly",
    "quarterly": "quarterly",
    "quarter": "quarterly",
    "q": "quarterly",
    "yearly": "yearly",
    "annual": "yearly",
    "annually": "yearly",
    "year": "yearly",
    "y": "yearly",
}


def _check_bps(what: str, v: int, lo: int) -> None:
    if not isinstance(v, int | np.integer) or isinstance(v, bool) or not lo <= v <= BPS:
        raise InputError(f"{what} must be an integer number of bps in [{lo}, {BPS}]; got {v!r}")


def _fmt_duration(s: int) -> str:
    for unit, size in (("w", 7 * _DAY), ("d", _DAY), ("h", 3600), ("min", 60)):
        if s and s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def parse_bps(text: str) -> int:
    """``"500bps"``, ``"500"`` (bps) or ``"5%"`` -> 500. Raises ``InputError``."""
    t = text.strip().lower().replace("_", "")
    try:
        if t.endswith("bps"):
            v = float(t[:-3])
        elif t.endswith("bp"):
            v = float(t[:-2])
        elif t.endswith("%"):
            v = float(t[:-1]) * 100
        else:
            v = float(t)
    except ValueError as exc:
        raise InputError(f"cannot read {text!r} as basis points; write e.g. 500bps or 5%") from exc
    if v != round(v) or not 0 <= v <= BPS:
        raise InputError(f"{text!r} must be a whole number of basis points in [0, {BPS}]")
    return int(round(v))


def parse_duration(text: str) -> int:
    """``"30d"``, ``"12h"``, ``"90min"``, ``"2w"``, ``"3600"`` (seconds) -> seconds. Raises ``InputError``."""
    m = _DUR.match(text)
    if not m:
        raise InputError(f"cannot read {text!r} as a duration; write e.g. 30d, 12h, 90min, 2w or 3600s")
    secs = float(m.group(1)) * _DUR_UNITS[(m.group(2) or "s").lower()]
    if secs <= 0 or secs != int(secs):
        raise InputError(f"duration {text!r} must be a positive whole number of seconds")
    return int(secs)


POLICY_HELP = (
    "buy-and-hold | calendar:monthly|quarterly|yearly|weekly|30d[,MIN_DRIFTbps] | threshold:500bps | "
    "hybrid[:THRESHbps,PERIOD,MIN_DRIFTbps,COOLDOWN] | band-edge:500bps | "
    "dynamic:EVERY[,OBJECTIVE[,LOOKBACK[,BANDbps]]]"
)


def parse_policy(spec: str) -> Policy:
    """Parse a CLI policy spec (see ``POLICY_HELP``); raises ``InputError`` for anything unknown."""
    text = spec.strip()
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower().replace("_", "-")
    args = [a.strip() for a in rest.split(",")] if rest.strip() else []
    try:
        if kind in ("buy-and-hold", "hold", "none"):
            if args:
                raise InputError("buy-and-hold takes no arguments")
            return BuyAndHold()
        if kind == "threshold":
            if len(args) != 1:
                raise InputError("threshold takes one band, e.g. threshold:500bps")
            return Threshold(parse_bps(args[0]))
        if kind in ("band-edge", "bandedge", "leland"):
            if len(args) != 1:
                raise InputError("band-edge takes one band, e.g. band-edge:500bps")
            return BandEdge(parse_bps(args[0]))
        if kind == "calendar":
            if not 1 <= len(args) <= 2:
                raise InputError(
                    "calendar takes a period and an optional minimum drift, e.g. calendar:monthly"
                )
            md = parse_bps(args[1]) if len(args) == 2 else 0
            period = args[0].lower()
            if period in _PERIOD_ALIASES:
                return Calendar(align=_PERIOD_ALIASES[period], min_drift_bps=md)
            return Calendar(period_s=parse_duration(args[0]), min_drift_bps=md)
        if kind == "hybrid":
            if len(args) > 4:
                raise InputError("hybrid takes at most THRESHOLD,PERIOD,MIN_DRIFT,COOLDOWN")
            d = DEFAULT_PARAMS
            vals = [d.drift_threshold_bps, d.rebalance_period, d.min_drift_bps, d.cooldown]
            parsers = [
                parse_bps,
                parse_duration,
                parse_bps,
                lambda s: 0 if s.strip() == "0" else parse_duration(s),
            ]
            for i, a in enumerate(args):
                vals[i] = parsers[i](a)
            return Hybrid(*vals)
        if kind == "dynamic":
            if not 1 <= len(args) <= 4:
                raise InputError(
                    "dynamic takes EVERY[,OBJECTIVE[,LOOKBACK[,BAND]]], e.g. dynamic:63,min-variance"
                )
            try:
                every = int(args[0])
                lookback = int(args[2]) if len(args) > 2 else 252
            except ValueError as exc:
                raise InputError("dynamic EVERY and LOOKBACK are whole numbers of observations") from exc
            objective = args[1] if len(args) > 1 else "min-variance"
            band = parse_bps(args[3]) if len(args) > 3 else None
            return Dynamic(every=every, objective=objective, lookback=lookback, band_bps=band)
    except InputError as exc:
        raise InputError(f"bad policy {spec!r}: {exc}") from exc
    raise InputError(f"unknown policy {spec!r}; use {POLICY_HELP}")
