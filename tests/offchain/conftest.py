"""Pure-Python tests: no chain, so the root conftest's autouse chain isolation is switched off
here and these tests also run under plain pytest (`pytest tests/offchain -p no:pytest-brownie`)."""

import pytest


@pytest.fixture(autouse=True)
def isolation():
    """Overrides tests/conftest.py's chain snapshot fixture: nothing to isolate."""
    yield
