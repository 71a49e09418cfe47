"""A fix for brownie's false "Tx dropped without known replacement" on a loaded machine (issue 10).

The cause: brownie's confirmation thread (``TransactionReceipt._await_confirmation``) reads the
sender's nonce, then polls the receipt once per second; if the nonce is already past the
transaction's and that one poll finds no receipt, it marks the transaction *dropped* (status -2)
and ``Account._make_transaction`` raises ``TransactionError``. With Anvil's automine the nonce of
``latest`` can run ahead of the receipt index for a moment when both cores are busy, so a mined
transaction is declared dropped. Nothing was dropped: the receipt shows up milliseconds later.

The fix keeps brownie's logic and adds the missing check: before a "dropped" verdict is published,
the receipt is polled for up to ``GRACE_S`` seconds; if it appears, confirmation runs again and
finds it. A transaction that really vanished is still reported as dropped, just later.

A second path to the same false verdict was seen after that fix (fresh clone, issue 11 merge):
when a receipt confirms, brownie marks every *other* history entry with the same (sender, nonce)
dropped, and evm_revert (the tests' isolation) reuses nonces. So the account-level wait is guarded
too: before "Tx dropped without known replacement" is raised, the chain is asked for the
transaction's own receipt, and a mined transaction is confirmed and returned. Both causes are
inferred from brownie 1.22.2's code; neither was reproduced on demand.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from brownie.exceptions import TransactionError
from brownie.network.account import _PrivateKeyAccount
from brownie.network.transaction import Status, TransactionReceipt
from brownie.network.web3 import web3
from web3.exceptions import TransactionNotFound

GRACE_S = 10.0
_original = TransactionReceipt._await_confirmation


def _receipt_visible(txid: str) -> bool:
    try:
        receipt = web3.eth.get_transaction_receipt(txid)
    except TransactionNotFound:
        return False
    return receipt is not None and receipt["blockHash"] is not None


def _await_confirmation(self: TransactionReceipt, block_number: Any = None, required_confs: int = 1) -> None:
    published = self._confirmed
    deadline = time.monotonic() + GRACE_S
    while True:
        held = threading.Event()  # brownie sets this instead of the event the sender waits on
        self._confirmed = held
        try:
            _original(self, block_number, required_confs)
        finally:
            self._confirmed = published
        if self.status != Status.Dropped:
            break
        while time.monotonic() < deadline and not _receipt_visible(self.txid):
            time.sleep(0.1)
        if not _receipt_visible(self.txid):
            break  # really dropped: publish brownie's verdict
        self.status = Status.Pending
    if held.is_set():
        published.set()


_original_account_wait = _PrivateKeyAccount._await_confirmation


def _account_await_confirmation(
    self: _PrivateKeyAccount, receipt: TransactionReceipt, required_confs: int, *args: Any
) -> TransactionReceipt:
    """Brownie's account-level wait, with a second guard: a receipt can also be marked dropped by
    *another* receipt of the same (sender, nonce) confirming (brownie marks every other history entry
    with that nonce dropped), which happens when evm_revert (test isolation) reuses a nonce. Before
    "Tx dropped without known replacement" is raised, the chain is asked for this transaction's own
    receipt; if it was mined, its confirmation runs again and it is returned."""
    try:
        return _original_account_wait(self, receipt, required_confs, *args)
    except TransactionError as exc:
        if "dropped without known replacement" not in str(exc) or not _wait_visible(receipt.txid):
            raise
        receipt.status = Status.Pending
        receipt._confirmed = threading.Event()
        TransactionReceipt._await_confirmation(receipt, required_confs=max(1, required_confs))
        if receipt.status == Status.Dropped:
            raise
        return receipt


def _wait_visible(txid: str) -> bool:
    deadline = time.monotonic() + GRACE_S
    while not _receipt_visible(txid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def install() -> None:
    """Patch brownie once (idempotent)."""
    if TransactionReceipt._await_confirmation is not _await_confirmation:
        TransactionReceipt._await_confirmation = _await_confirmation
    if _PrivateKeyAccount._await_confirmation is not _account_await_confirmation:
        _PrivateKeyAccount._await_confirmation = _account_await_confirmation
