"""The ``Policy`` interface and what every rule shares: calendar period keys, the vault's trigger in
numpy (``_vault_reason``), the contract's setter bounds (``setter_violations``) and the bps /
duration helpers the rules validate and print their parameters with. Part of
``offchain.quant.policies`` (re-exported there)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
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


def _check_bps(what: str, v: int, lo: int) -> None:
    if not isinstance(v, int | np.integer) or isinstance(v, bool) or not lo <= v <= BPS:
        raise InputError(f"{what} must be an integer number of bps in [{lo}, {BPS}]; got {v!r}")


def _fmt_duration(s: int) -> str:
    for unit, size in (("w", 7 * _DAY), ("d", _DAY), ("h", 3600), ("min", 60)):
        if s and s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"
