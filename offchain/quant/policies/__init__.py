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

Modules: ``base`` (the ``Policy`` interface, period keys, the vault's trigger in numpy, the contract's
setter bounds), ``rules`` (the policies), ``targets`` (the dynamic policy's optimiser adapter) and
``spec`` (``parse_policy`` and the CLI spelling). Every name is importable from
``offchain.quant.policies``.
"""

from __future__ import annotations

from offchain.quant.policies.base import _DAY as _DAY
from offchain.quant.policies.base import (
    ALIGNED_PERIODS,
    NEVER,
    Policy,
    period_key,
    setter_violations,
)
from offchain.quant.policies.base import DISABLED_BPS as DISABLED_BPS
from offchain.quant.policies.base import VAULT_MAX_COOLDOWN as VAULT_MAX_COOLDOWN
from offchain.quant.policies.base import VAULT_MAX_PERIOD as VAULT_MAX_PERIOD
from offchain.quant.policies.base import VAULT_MAX_THRESHOLD_BPS as VAULT_MAX_THRESHOLD_BPS
from offchain.quant.policies.base import VAULT_MIN_PERIOD as VAULT_MIN_PERIOD
from offchain.quant.policies.base import VAULT_MIN_THRESHOLD_BPS as VAULT_MIN_THRESHOLD_BPS
from offchain.quant.policies.base import _check_bps as _check_bps
from offchain.quant.policies.base import _fits as _fits
from offchain.quant.policies.base import _fmt_duration as _fmt_duration
from offchain.quant.policies.base import _vault_reason as _vault_reason
from offchain.quant.policies.rules import BandEdge, BuyAndHold, Calendar, Dynamic, Hybrid, Threshold
from offchain.quant.policies.spec import _DUR as _DUR
from offchain.quant.policies.spec import _DUR_UNITS as _DUR_UNITS
from offchain.quant.policies.spec import _PERIOD_ALIASES as _PERIOD_ALIASES
from offchain.quant.policies.spec import POLICY_HELP as POLICY_HELP
from offchain.quant.policies.spec import parse_bps, parse_duration, parse_policy
from offchain.quant.policies.targets import _NEEDS_PARAMS as _NEEDS_PARAMS
from offchain.quant.policies.targets import _optimize_module as _optimize_module
from offchain.quant.policies.targets import check_objective as check_objective
from offchain.quant.policies.targets import objectives as objectives
from offchain.quant.policies.targets import optimise_targets as optimise_targets

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
