"""Moved to ``offchain.rpc`` (kept for scripts/demo.py)."""

from offchain.rpc import *  # noqa: F403
