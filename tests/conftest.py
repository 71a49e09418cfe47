"""Settings every suite shares: hypothesis profiles (fixed seeds in CI).

Suites by room: ``contracts/`` (brownie's chain: unit, integration, stateful; fixtures in its
conftest), ``core``, ``quant`` and ``chain`` (pure Python, or their own node), ``keeper``, ``audit``
and ``deploy`` (each starts its own Anvil through ``offchain.chain.node.Anvil``).
"""

from __future__ import annotations

import os

from hypothesis import settings

# Fixed seeds in CI (derandomize), random exploration locally.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("BALLAST_HYPOTHESIS_PROFILE", "dev"))
