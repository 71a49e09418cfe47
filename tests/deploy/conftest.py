"""Deployment rehearsals run their own Anvil (with Sepolia's chain id) through web3.py: the root
conftest's brownie chain isolation does not apply here."""

import pytest


@pytest.fixture(autouse=True)
def isolation():
    """Overrides tests/conftest.py's chain snapshot fixture: these tests bring their own node."""
    yield
