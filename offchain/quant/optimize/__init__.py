"""Long-only mean-variance optimiser with its own batched QP solver (numpy only, no cvxpy).

Conventions
-----------
* Inputs are **annualised**: expected returns ``mu`` (fractions per year) and covariance ``cov``
  (annual variance), e.g. from ``offchain.quant.estimators``. ``risk_free_rate``, ``target_return`` and
  ``target_volatility`` are annual too.
* Weights are **fractions** summing to 1, long-only, with per-asset bounds ``lo <= w <= hi``
  (``0 <= lo <= hi <= 1``). Excluded assets (e.g. an ESG exclusion list) get ``hi = 0`` and are
  removed from the problem. ``to_bps`` converts fractions to the integer basis points the vault takes
  (sum exactly ``10_000``).

Objectives (``OBJECTIVES``), all subject to ``sum(w) == 1`` and the bounds:

* ``min-variance``       minimise ``w'Σw``
* ``max-sharpe``         maximise ``(mu'w - rf) / sqrt(w'Σw)``, solved as the QP
  ``min y'Σy  s.t. (mu - rf)'y = 1, sum(y) = k, lo*k <= y <= hi*k, k >= 0`` and ``w = y / k``
* ``target-volatility``  maximise ``mu'w`` subject to ``sqrt(w'Σw) <= target_volatility``
* ``target-return``      minimise ``w'Σw`` subject to ``mu'w >= target_return``
* ``quadratic-utility``  maximise ``mu'w - (δ/2) w'Σw`` with ``δ = risk_aversion``; equivalently the
  issue's ``min ½ w'Σw - λ mu'w`` with ``λ = 1/δ``

These are exactly PyPortfolioOpt 1.6.0's ``EfficientFrontier`` problems (``min_volatility``,
``max_sharpe``, ``efficient_risk``, ``efficient_return``, ``max_quadratic_utility``); the tests
check agreement to 1e-4 per weight.

Turnover / transaction-cost penalty (cost-aware targets): with ``current_weights`` ``w0`` and
``turnover_penalty`` ``c`` the term ``c * ||w - w0||_1`` is added to the objective being minimised,
in that objective's units, as PyPortfolioOpt's ``transaction_cost`` objective does: ``w'Σw + c|Δw|``
for min-variance and target-return, ``-(mu'w - c|Δw|)`` for target-volatility and quadratic utility
(``c`` is then the proportional cost per unit traded, e.g. 0.001 = 10 bps). Max-Sharpe is not
homogeneous under a turnover term, so with ``c > 0`` it solves the quadratic-utility problem on
excess returns at the tangency portfolio's own risk aversion ``δ* = (mu'w* - rf) / w*'Σw*``, which
reproduces the tangency portfolio exactly when ``c == 0`` and trades less as ``c`` grows.

Solver: a Mehrotra predictor-corrector primal-dual interior-point method for small dense convex QPs,
vectorised over a batch (``solve_qp``), followed by an active-set polish that solves the identified
KKT system exactly (weights typically within 1e-12 of the true optimum). ``optimize_batch`` is the
entry point for backtests that re-optimise thousands of times (~0.2-0.3 ms per 20-asset max-Sharpe
solve in batches; see ``bench/bench_optimize.py``); it is vectorised, not warm-started. Target
volatility is a root-find on the quadratic-utility path (10-15 QP solves, vectorised over the batch).
Infeasible or degenerate problems raise ``offchain.core.errors.OptimisationError`` with a plain message
before any solver runs (or give NaN rows with ``optimize_batch(..., on_error="nan")``).

Stable public API: ``optimize``, ``optimize_batch``, ``to_bps``, ``portfolio_performance``,
``resolve_bounds``, ``parse_bounds``, ``normalise_objective``, ``OBJECTIVES``, ``Portfolio``,
``solve_qp``.

Modules: ``_qp`` (the batched QP solver), ``objectives`` (objective names and each objective's QP
set-up), ``bounds`` (``resolve_bounds``, ``parse_bounds``), ``feasibility`` (checks before solving),
``rounding`` (``to_bps``) and ``core`` (``optimize``, ``optimize_batch``, ``Portfolio``,
``portfolio_performance``). Every name this module had before it became a package, private helpers
included, is still importable from ``offchain.quant.optimize``; ``objectives`` calls ``solve_qp``
through this package, so replacing ``offchain.quant.optimize.solve_qp`` reaches every solve.
"""

from __future__ import annotations

from offchain.quant.optimize._qp import _CHUNK as _CHUNK
from offchain.quant.optimize._qp import QPSolution, solve_qp
from offchain.quant.optimize._qp import _bmv as _bmv
from offchain.quant.optimize._qp import _max_step as _max_step
from offchain.quant.optimize._qp import _newton as _newton
from offchain.quant.optimize._qp import _polish as _polish
from offchain.quant.optimize._qp import _solve as _solve
from offchain.quant.optimize.bounds import BoundsLike as BoundsLike
from offchain.quant.optimize.bounds import _check_bounds as _check_bounds
from offchain.quant.optimize.bounds import _pair as _pair
from offchain.quant.optimize.bounds import parse_bounds, resolve_bounds
from offchain.quant.optimize.core import Portfolio, optimize, optimize_batch, portfolio_performance
from offchain.quant.optimize.core import _as_batch as _as_batch
from offchain.quant.optimize.core import _free_groups as _free_groups
from offchain.quant.optimize.core import _snap as _snap
from offchain.quant.optimize.feasibility import _FEAS_TOL as _FEAS_TOL
from offchain.quant.optimize.feasibility import _check_batch as _check_batch
from offchain.quant.optimize.feasibility import _culprits as _culprits
from offchain.quant.optimize.objectives import _ALIASES as _ALIASES
from offchain.quant.optimize.objectives import OBJECTIVES, Objective, normalise_objective
from offchain.quant.optimize.objectives import Arr as Arr
from offchain.quant.optimize.objectives import _max_return as _max_return
from offchain.quant.optimize.objectives import _max_sharpe as _max_sharpe
from offchain.quant.optimize.objectives import _min_variance as _min_variance
from offchain.quant.optimize.objectives import _quad as _quad
from offchain.quant.optimize.objectives import _run as _run
from offchain.quant.optimize.objectives import _target_return as _target_return
from offchain.quant.optimize.objectives import _target_volatility as _target_volatility
from offchain.quant.optimize.objectives import _utility as _utility
from offchain.quant.optimize.objectives import _weight_qp as _weight_qp
from offchain.quant.optimize.rounding import to_bps

__all__ = [
    "OBJECTIVES",
    "Objective",
    "Portfolio",
    "QPSolution",
    "solve_qp",
    "optimize",
    "optimize_batch",
    "resolve_bounds",
    "parse_bounds",
    "to_bps",
    "portfolio_performance",
    "normalise_objective",
]
