"""Constants, the governed kinds and the vault's ten parameters with their hard bounds.

Mirrors the contract's ``K_*`` constants, its bounds table and its constructor's checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BPS = 10_000  # 100 % in basis points
WAD = 10**18  # 100 % as a WAD fraction; also the quote-unit scale
BPS_TO_WAD = WAD // BPS  # 1 bps in WAD == 1e14

REASON_NONE = 0
REASON_THRESHOLD = 1
REASON_CALENDAR = 2
# Gas of a rebalance, the one place these figures live (keeper economics, simulator, backtest):
# measured by bench/bench_gas.py on the 4-asset vault (README, "Gas"): the fixed part is the 1-swap
# rebalance minus one marginal swap; per swap is the 2-swap minus the 1-swap rebalance.
REBALANCE_GAS_FIXED = 145_161
REBALANCE_GAS_PER_SWAP = 75_139
# The one table of trigger-reason names (the Rebalanced event's ``reason``); keeper, demo and audit use it.
REASON_NAMES = {REASON_NONE: "none", REASON_THRESHOLD: "THRESHOLD", REASON_CALENDAR: "CALENDAR"}

MAX_AGE_BOUNDS = (60, 3 * 86_400)  # seconds, a feed's max age
MAX_SEQUENCER_GRACE = 86_400  # seconds

# The contract's governed kinds, in its order (K_THRESHOLD .. K_LOSS_WINDOW, then the rest).
PARAM_KINDS: tuple[str, ...] = (
    "drift_threshold_bps",
    "min_drift_bps",
    "max_slippage_bps",
    "max_trade_bps",
    "tolerance_bps",
    "cooldown",
    "rebalance_period",
    "target_delay",
    "loss_budget_bps",
    "loss_window",
)
KIND_KEEPER = 10
KIND_TARGETS = 11
KIND_MAX_AGE = 12  # + asset index
N_KINDS = 20
# Hard bounds (inclusive) of each parameter, and whether LOWERING it loosens the vault (True) or
# raising it does (False): a loosening is timelocked, a tightening immediate.
PARAM_BOUNDS: dict[str, tuple[int, int]] = {
    "drift_threshold_bps": (10, 5_000),
    "min_drift_bps": (1, 5_000),
    "max_slippage_bps": (1, 1_000),
    "max_trade_bps": (100, 10_000),
    "tolerance_bps": (0, 200),
    "cooldown": (0, 30 * 86_400),
    "rebalance_period": (86_400, 366 * 86_400),
    "target_delay": (3_600, 30 * 86_400),
    "loss_budget_bps": (1, 1_000),
    "loss_window": (86_400, 365 * 86_400),
}
LOWER_LOOSENS: dict[str, bool] = {
    "drift_threshold_bps": True,
    "min_drift_bps": True,
    "max_slippage_bps": False,
    "max_trade_bps": False,
    "tolerance_bps": False,
    "cooldown": True,
    "rebalance_period": True,
    "target_delay": True,
    "loss_budget_bps": False,
    "loss_window": True,
}


def kind_name(kind: int) -> str:
    """Human name of a governed kind (``ParameterChanged``/``ChangeQueued`` events)."""
    if 0 <= kind < len(PARAM_KINDS):
        return PARAM_KINDS[kind]
    if kind == KIND_KEEPER:
        return "keeper"
    if kind == KIND_TARGETS:
        return "target_weights"
    if KIND_MAX_AGE <= kind < N_KINDS:
        return f"max_age[{kind - KIND_MAX_AGE}]"
    return f"kind {kind}"


def loosens(name: str, old: int, new: int) -> bool:
    """True when changing parameter ``name`` from ``old`` to ``new`` loosens the vault (timelocked)."""
    return new < old if LOWER_LOOSENS[name] else new > old


@dataclass(frozen=True)
class Params:
    """The vault's rebalancing parameters (names and defaults as in the contract)."""

    drift_threshold_bps: int = 500
    rebalance_period: int = 30 * 86_400  # seconds
    min_drift_bps: int = 100
    cooldown: int = 3_600  # seconds
    max_slippage_bps: int = 100
    max_trade_bps: int = 5_000
    tolerance_bps: int = 25
    target_delay: int = 86_400  # seconds: the timelock on every loosening
    # Loss budget: at most 1 % of vault value lost against the oracle at once, refilling at 1 % a
    # week. An honest keeper on a real AMM spends a few bps per rebalance (see the README).
    loss_budget_bps: int = 100
    loss_window: int = 7 * 86_400  # seconds

    def as_list(self) -> list[int]:
        """The ten values in the contract's kind order (its constructor's ``params``)."""
        return [getattr(self, k) for k in PARAM_KINDS]

    @classmethod
    def from_list(cls, values: Sequence[int]) -> Params:
        """Inverse of ``as_list`` (e.g. from the vault's ``get_params()``)."""
        return cls(**dict(zip(PARAM_KINDS, (int(v) for v in values), strict=True)))

    def violations(self) -> list[str]:
        """What the contract's constructor would refuse, one message each (empty: deployable)."""
        out = []
        for k in PARAM_KINDS:
            lo, hi = PARAM_BOUNDS[k]
            if not lo <= getattr(self, k) <= hi:
                out.append(f"{k} {getattr(self, k)} is outside [{lo}, {hi}]")
        if self.min_drift_bps > self.drift_threshold_bps:
            out.append(
                f"min_drift_bps {self.min_drift_bps} is above drift_threshold_bps {self.drift_threshold_bps}"
            )
        return out


DEFAULT_PARAMS = Params()
