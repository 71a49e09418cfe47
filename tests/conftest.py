"""Settings every suite shares: hypothesis profiles (fixed seeds in CI).

Suites by room: ``contracts/`` (brownie's chain: unit, integration, stateful; fixtures in its
conftest), ``core``, ``quant`` and ``chain`` (pure Python, or their own node), ``keeper``, ``audit``
and ``deploy`` (each starts its own Anvil through ``offchain.chain.node.Anvil``).
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

from hypothesis import settings

# Fixed seeds in CI (derandomize), random exploration locally.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("BALLAST_HYPOTHESIS_PROFILE", "dev"))


def pytest_collection_finish(session) -> None:
    """Move everything alive after collection (imported libraries, brownie's loaded project, the
    collected tests) into the GC's permanent generation (``gc.freeze``).

    brownie runs a full ``gc.collect()`` on every chain revert (``state._notify_registry``, so dead
    contract objects drop their weak references first), which is after every contract test under
    ``fn_isolation``. With the whole suite's heap in the young generations, each one scanned
    ~0.4 s of objects that can never be garbage. Frozen objects are still freed by reference
    counting; only cycles among them are never collected. No test's behaviour depends on this."""
    gc.collect()
    gc.freeze()


# Seconds each of the slowest files takes on a quiet 2-core machine (`brownie test tests/ -n 2
# --durations=0`, summed per file, December 2026). xdist hands whole files to its workers in
# collection order, so these go first, heaviest first (longest-processing-time-first); every other
# file keeps its place after them. Without it, xdist's default order (most tests first) left the
# one-test, 96 s SIGKILL file for last and one worker idle meanwhile. ``make test`` passes
# ``--no-loadscope-reorder`` so this order is the one xdist uses. Only the order changes.
SLOW_FILES = {
    "keeper/test_keeper_sigkill.py": 96,
    "contracts/integration/test_model_equivalence.py": 86,
    "contracts/stateful/test_vault_stateful.py": 63,
    "audit/test_audit_chain.py": 54,
    "audit/test_audit_faults.py": 41,
    "contracts/integration/test_adversarial.py": 37,
    "contracts/integration/test_hostile_keeper.py": 34,
    "keeper/test_keeper_fault_proxy.py": 32,
    "contracts/unit/test_rebalance.py": 31,
    "contracts/unit/test_governance.py": 20,
    "devnet/test_year.py": 20,
    "contracts/unit/test_admin.py": 18,
    "contracts/unit/test_trade_rules.py": 15,
    "contracts/unit/test_bad_feeds.py": 14,
}
TESTS = Path(__file__).resolve().parent


def _weight(item) -> int:
    try:
        rel = Path(str(item.path)).resolve().relative_to(TESTS).as_posix()
    except ValueError:
        return 0
    return SLOW_FILES.get(rel, 0)


def pytest_collection_modifyitems(session, config, items) -> None:
    """The slowest files first, heaviest first (see ``SLOW_FILES``); a stable sort, so the tests of a
    file stay together and in their order."""
    items.sort(key=lambda item: -_weight(item))
