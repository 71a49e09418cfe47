"""Reference model of ``contracts/RebalancingVault.vy``: the vault's maths, once, in Python.

Every function here mirrors the contract *exactly*, in integer arithmetic with the same
rounding, so the tests, the keeper, the simulator and the auditor all decide the same way
the vault does. Conventions (identical to the contract):

* ``price``: 1e18-scaled quote units (e.g. USD) per *whole* token, i.e. the feed answer
  rescaled from the feed's decimals to 18 decimals.
* ``value`` of a holding: ``amount * price // 10**token_decimals`` (1e18 quote units, rounded down).
* weights: WAD fractions (1e18 == 100 %) for the maths, basis points (10_000 == 100 %) in views;
  both round down.
* drift: ``max_i |w_i - target_i|``, computed in WAD and reported in bps rounded down.
* trigger reasons: 0 none, 1 THRESHOLD, 2 CALENDAR.
* governed changes have a *kind* (``PARAM_KINDS`` for the ten parameters, then ``KIND_KEEPER``,
  ``KIND_TARGETS`` and ``KIND_MAX_AGE + i``), as the contract's ``K_*`` constants.
* the loss budget is kept in units of 1e-15 of vault value (``LOSS_ONE`` == 100 %).

The modules: ``params`` (constants, governed kinds, ``Params`` and its bounds), ``feeds`` (oracle
reads), ``drift`` (values, weights, drift, trigger), ``loss`` (the loss budget), ``trades`` (I8 trade
rules and trade records), ``state`` (``VaultModel``), ``check`` (``check_rebalance``,
``check_trades``) and ``planner`` (``plan_trades``, ``plan_vault``). Every name is re-exported here.
"""

from __future__ import annotations

from offchain.core.model.check import RebalanceCheck, check_rebalance, check_trades
from offchain.core.model.drift import asset_values, drift_bps, drift_wad, trigger, weights_bps, weights_wad
from offchain.core.model.feeds import (
    FEED_INCOMPLETE,
    FEED_NON_POSITIVE,
    FEED_OK,
    FEED_REVERT_REASONS,
    FEED_STALE,
    FEED_STATUS_NAMES,
    FEED_UNUSABLE,
    MAX_PRICE,
    feed_status,
    normalise_price,
    read_feed,
    sequencer_up,
)
from offchain.core.model.loss import (
    BPS_TO_LOSS,
    LOSS_ONE,
    loss_charge,
    loss_room_value,
    loss_stored,
    loss_used_now,
)
from offchain.core.model.params import (
    BPS,
    BPS_TO_WAD,
    DEFAULT_PARAMS,
    KIND_KEEPER,
    KIND_MAX_AGE,
    KIND_TARGETS,
    LOWER_LOOSENS,
    MAX_AGE_BOUNDS,
    MAX_SEQUENCER_GRACE,
    N_KINDS,
    PARAM_BOUNDS,
    PARAM_KINDS,
    REASON_CALENDAR,
    REASON_NAMES,
    REASON_NONE,
    REASON_THRESHOLD,
    REBALANCE_GAS_FIXED,
    REBALANCE_GAS_PER_SWAP,
    WAD,
    Params,
    kind_name,
    loosens,
)
from offchain.core.model.planner import (
    _bought_up,  # noqa: F401 - private helpers, still importable from here as before the split
    _fit_rooms,  # noqa: F401
    plan_trades,
    plan_vault,
)
from offchain.core.model.state import VaultModel
from offchain.core.model.trades import (
    PlannedTrade,
    SwapResult,
    min_acceptable_out,
    oracle_out,
    trade_rooms,
)

__all__ = [
    "BPS",
    "WAD",
    "BPS_TO_WAD",
    "REASON_NONE",
    "REASON_THRESHOLD",
    "REASON_CALENDAR",
    "REASON_NAMES",
    "REBALANCE_GAS_FIXED",
    "REBALANCE_GAS_PER_SWAP",
    "FEED_OK",
    "FEED_NON_POSITIVE",
    "FEED_STALE",
    "FEED_INCOMPLETE",
    "FEED_UNUSABLE",
    "FEED_STATUS_NAMES",
    "FEED_REVERT_REASONS",
    "MAX_PRICE",
    "LOSS_ONE",
    "BPS_TO_LOSS",
    "MAX_AGE_BOUNDS",
    "MAX_SEQUENCER_GRACE",
    "PARAM_KINDS",
    "PARAM_BOUNDS",
    "LOWER_LOOSENS",
    "KIND_KEEPER",
    "KIND_TARGETS",
    "KIND_MAX_AGE",
    "N_KINDS",
    "kind_name",
    "loosens",
    "Params",
    "DEFAULT_PARAMS",
    "normalise_price",
    "feed_status",
    "read_feed",
    "sequencer_up",
    "trade_rooms",
    "loss_used_now",
    "loss_charge",
    "loss_room_value",
    "loss_stored",
    "SwapResult",
    "RebalanceCheck",
    "check_rebalance",
    "check_trades",
    "asset_values",
    "weights_wad",
    "weights_bps",
    "drift_wad",
    "drift_bps",
    "trigger",
    "oracle_out",
    "min_acceptable_out",
    "VaultModel",
    "PlannedTrade",
    "plan_trades",
    "plan_vault",
]
