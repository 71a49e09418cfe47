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
"""

from __future__ import annotations

import threading
import time
from typing import Any

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


def install() -> None:
    """Patch brownie once (idempotent)."""
    if TransactionReceipt._await_confirmation is not _await_confirmation:
        TransactionReceipt._await_confirmation = _await_confirmation
