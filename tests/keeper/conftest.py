"""Keeper tests: each starts its own Anvil (free port) through ``offchain.chain.node.Anvil`` and drives it
with web3.py (no brownie chain, so they also run under plain pytest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from keeper_env import make_env


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    e = make_env(tmp_path, monkeypatch)
    try:
        yield e
    finally:
        e.node.stop()
