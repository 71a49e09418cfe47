"""ballast off-chain tooling: the vault's reference model, portfolio engine, keeper and auditor.

The stable public API (scripts and notebooks import these names from ``offchain``; each loads its
module on first use, so ``import offchain`` stays cheap):

* optimiser: ``optimize``, ``optimize_batch``, ``Portfolio``, ``OBJECTIVES``, ``expected_returns``,
  ``covariance``;
* simulator: ``backtest`` (historical), ``simulate`` (any ``Scenario``: Monte Carlo with
  ``GBMScenario`` / ``BootstrapScenario``, or ``HistoricalScenario``), ``SimResult``, ``summarise``;
* policies: ``BuyAndHold``, ``Calendar``, ``Threshold``, ``Hybrid``, ``BandEdge``, ``Dynamic``,
  ``Policy``, ``parse_policy``;
* costs and data: ``CostModel``, ``load_prices``, ``sp500``, ``validate_weights``;
* the vault model: ``VaultModel``, ``Params``, ``plan_trades``, ``check_trades`` (and the module
  ``offchain.core.model`` for the rest of the contract's maths);
* errors: ``BallastError`` and its kinds ``ConfigError``, ``InputError``, ``ChainError``,
  ``OptimisationError``.

Rooms (``ARCHITECTURE.md``): ``core`` (maths, errors) < ``quant`` (portfolio engine) <
``chain`` | ``report`` < ``keeper`` | ``audit`` < ``devnet`` < ``cli``.
"""

from __future__ import annotations

import importlib
from typing import Any

from offchain.core.errors import BallastError, ChainError, ConfigError, InputError, OptimisationError

__version__ = "0.1.0"

_LAZY = {
    "optimize": "offchain.quant.optimize",
    "optimize_batch": "offchain.quant.optimize",
    "Portfolio": "offchain.quant.optimize",
    "OBJECTIVES": "offchain.quant.optimize",
    "expected_returns": "offchain.quant.estimators",
    "covariance": "offchain.quant.estimators",
    "backtest": "offchain.quant.backtest",
    "simulate": "offchain.quant.backtest",
    "SimResult": "offchain.quant.backtest",
    "summarise": "offchain.quant.metrics",
    "Scenario": "offchain.quant.scenarios",
    "GBMScenario": "offchain.quant.scenarios",
    "BootstrapScenario": "offchain.quant.scenarios",
    "HistoricalScenario": "offchain.quant.scenarios",
    "Policy": "offchain.quant.policies",
    "BuyAndHold": "offchain.quant.policies",
    "Calendar": "offchain.quant.policies",
    "Threshold": "offchain.quant.policies",
    "Hybrid": "offchain.quant.policies",
    "BandEdge": "offchain.quant.policies",
    "Dynamic": "offchain.quant.policies",
    "parse_policy": "offchain.quant.policies",
    "CostModel": "offchain.quant.costs",
    "load_prices": "offchain.quant.data",
    "sp500": "offchain.quant.data",
    "validate_weights": "offchain.quant.data",
    "VaultModel": "offchain.core.model",
    "Params": "offchain.core.model",
    "plan_trades": "offchain.core.model",
    "check_trades": "offchain.core.model",
}

__all__ = [
    "BallastError",
    "ChainError",
    "ConfigError",
    "InputError",
    "OptimisationError",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'offchain' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this hook
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
