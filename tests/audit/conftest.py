"""Auditor tests: each module starts its own Anvil (``offchain.chain.Anvil``, free port) and talks to
it with web3.py, so the root conftest's brownie chain isolation is switched off here and these tests
also run under plain pytest (`pytest tests/audit -p no:pytest-brownie`)."""

import pytest


@pytest.fixture(autouse=True)
def isolation():
    """Overrides tests/conftest.py's chain snapshot fixture: these tests run their own node."""
    yield
