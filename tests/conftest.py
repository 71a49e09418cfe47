"""Settings every suite shares: hypothesis profiles (fixed seeds in CI).

Suites by room: ``contracts/`` (brownie's chain: unit, integration, stateful; fixtures in its
conftest), ``core``, ``quant`` and ``chain`` (pure Python, or their own node), ``keeper``, ``audit``
and ``deploy`` (each starts its own Anvil through ``offchain.chain.node.Anvil``).
"""

from __future__ import annotations

import gc
import os

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
