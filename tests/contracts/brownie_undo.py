"""brownie's undo buffer is switched off for the contract suites.

After every transaction and deployment, brownie 1.22 starts a thread
(``Chain._add_to_undo_buffer``) that waits for the receipt, reads the latest block to resync its
clock and takes an ``evm_snapshot``, so that ``chain.undo()`` / ``chain.redo()`` (a console
convenience) can step back one transaction. No test here uses undo or redo: test isolation is
``fn_isolation``, whose snapshot brownie keeps apart (``Chain._snapshot_id``), and the tests read
time from the latest block (``conftest.chain_now``), never from brownie's clock. The thread costs two
requests per transaction and contends with snapshot/revert for brownie's undo lock.

With the patch the thread still waits for the receipt (so nothing that used to wait for it returns
sooner) and records nothing; ``chain.undo()`` then says its buffer is empty.
"""

from __future__ import annotations

from typing import Any

from brownie.network.state import Chain

_ORIGINAL = Chain._add_to_undo_buffer


def _wait_only(self: Chain, tx: Any, fn: Any, args: tuple, kwargs: dict) -> None:
    tx._confirmed.wait()


def install() -> None:
    """Replace ``Chain._add_to_undo_buffer`` (idempotent)."""
    Chain._add_to_undo_buffer = _wait_only


def uninstall() -> None:
    Chain._add_to_undo_buffer = _ORIGINAL
