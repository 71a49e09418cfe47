"""Keeper tests: each starts its own Anvil (free port) through ``offchain.chain.Anvil`` and drives it
with web3.py; brownie's chain isolation (tests/conftest.py) is switched off here."""

from __future__ import annotations

from pathlib import Path

import pytest
from keeper_env import make_env


@pytest.fixture(autouse=True)
def isolation():
    """Overrides tests/conftest.py's brownie snapshot fixture: these tests run their own Anvil."""
    yield


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    e = make_env(tmp_path, monkeypatch)
    try:
        yield e
    finally:
        e.node.stop()
