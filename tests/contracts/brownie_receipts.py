"""Three fixes for brownie 1.22's false "Tx dropped without known replacement" (issues 10 and 11).

Both follow from brownie's own code (``brownie/network/transaction.py`` and ``account.py``); both
were seen in fresh-clone runs on a loaded 2-core machine.

**1. The nonce runs ahead of the receipt.** The confirmation thread
(``TransactionReceipt._await_confirmation``) reads the sender's nonce, then polls the receipt once a
second; if the nonce is already past the transaction's and that one poll finds no receipt, it marks
the transaction *dropped* (status -2). With Anvil's automine the nonce of ``latest`` can run ahead of
the receipt index for a moment when both cores are busy. Fix: before a "dropped" verdict is
published, the receipt is polled for up to ``GRACE_S`` seconds; if it shows up, confirmation runs
again and finds it. A transaction that really vanished is still reported dropped, just later.

**2. A confirmation thread outlives its wait and marks a *later* transaction dropped.** The thread
sets the receipt's ``_confirmed`` event *first* and only then walks ``TxHistory`` marking every other
entry with the same (sender, nonce) dropped. The sender's wait returns at the event, so the test goes
on while the thread is still to walk the history. When the test ends, ``fn_isolation`` reverts the
chain (evm_revert), which hands the same nonces out again; if the late thread walks the history only
after the next test has sent its transaction with the reused nonce, it marks that fresh, pending
transaction dropped and sets its event, and brownie raises (the old receipt was reverted away, so
there is "no known replacement"), or returns a receipt that never confirmed (status -2, timestamp
None). Fix: a confirmation thread is *settled* (joined, so its history walk is done) before

- the sender's wait returns its receipt (``Account._await_confirmation``), and
- any other transaction enters the history, and
- brownie reverts or resets the chain (``Chain._revert``, ``Chain.reset``).

So no thread from before a revert can touch a transaction sent after it.

**3. What is left: the node's word wins.** With two xdist workers on 2 cores brownie still reported
"dropped" for mined transactions in long integration tests, with neither fix above firing. Before
that verdict reaches a test, the receipt is looked up (for up to ``GRACE_S``); if the node holds
it in a block, confirmation is run again from it and the receipt is returned (a line on stderr
says so). A transaction the node has no receipt for is still reported dropped. The patch changes no
verdict brownie reaches on a quiet machine; it only orders brownie's own steps.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from brownie.exceptions import TransactionError
from brownie.network.account import _PrivateKeyAccount
from brownie.network.state import Chain
from brownie.network.transaction import Status, TransactionReceipt
from brownie.network.web3 import web3
from web3.exceptions import TransactionNotFound

GRACE_S = 10.0
SETTLE_S = 60.0  # a confirmation thread on an automining node ends within a second or two

_original_receipt_wait = TransactionReceipt._await_confirmation
_original_account_wait = _PrivateKeyAccount._await_confirmation
_original_revert = Chain._revert
_original_reset = Chain.reset

_inflight: dict[threading.Thread, str] = {}  # running confirmation threads -> their txid
_inflight_lock = threading.Lock()


def _receipt_visible(txid: str) -> bool:
    try:
        receipt = web3.eth.get_transaction_receipt(txid)
    except TransactionNotFound:
        return False
    return receipt is not None and receipt["blockHash"] is not None


def _receipt_wait(self: TransactionReceipt, block_number: Any = None, required_confs: int = 1) -> None:
    me = threading.current_thread()
    with _inflight_lock:
        _inflight[me] = self.txid
    try:
        _confirm_with_grace(self, block_number, required_confs)
    finally:
        with _inflight_lock:
            _inflight.pop(me, None)


def _confirm_with_grace(self: TransactionReceipt, block_number: Any, required_confs: int) -> None:
    """Fix 1: brownie's confirmation, re-run while the receipt shows up within GRACE_S of a 'dropped'."""
    published = self._confirmed
    deadline = time.monotonic() + GRACE_S
    while True:
        held = threading.Event()  # brownie sets this instead of the event the sender waits on
        self._confirmed = held
        try:
            _original_receipt_wait(self, block_number, required_confs)
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


def settle(*, except_txid: str | None = None) -> None:
    """Fix 2: join every running confirmation thread (but the caller's own, and ``except_txid``'s)."""
    me = threading.current_thread()
    with _inflight_lock:
        threads = [t for t, txid in _inflight.items() if t is not me and txid != except_txid]
    for thread in threads:
        thread.join(SETTLE_S)


def _account_wait(self: _PrivateKeyAccount, receipt: TransactionReceipt, *args: Any) -> TransactionReceipt:
    settle(except_txid=receipt.txid)  # earlier threads finish their history walk before this tx joins it
    try:
        result = _original_account_wait(self, receipt, *args)
    except TransactionError as exc:
        if "dropped without known replacement" not in str(exc) or not _visible_within(receipt.txid, GRACE_S):
            raise  # the node has no receipt either: the transaction really is gone
        result = _reconfirm(self, receipt, args)
    settle()  # and this one's walk is done before the caller goes on (and maybe reverts)
    return result


def _visible_within(txid: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not _receipt_visible(txid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _reconfirm(account: _PrivateKeyAccount, receipt: TransactionReceipt, args: tuple) -> TransactionReceipt:
    """Fix 3: brownie said "dropped" but the node holds the receipt (a mined transaction, in a block).
    Seen with two xdist workers on 2 cores, where neither fix above had fired: the node's word wins.
    Confirmation is run again, in this thread, from the receipt; then brownie's own wait returns it."""
    receipt.status = Status.Pending
    receipt._confirmed = threading.Event()
    _original_receipt_wait(receipt, None, 1)
    sys.stderr.write(f"brownie_receipts: false 'dropped' for {receipt.txid} overruled: mined in block "
                     f"{receipt.block_number}\n")  # fmt: skip
    settle(except_txid=receipt.txid)
    return _original_account_wait(account, receipt, *args)


def _chain_revert(self: Chain, *args: Any, **kwargs: Any) -> Any:
    settle()
    return _original_revert(self, *args, **kwargs)


def _chain_reset(self: Chain, *args: Any, **kwargs: Any) -> Any:
    settle()
    return _original_reset(self, *args, **kwargs)


def install() -> None:
    """Patch brownie once (idempotent)."""
    TransactionReceipt._await_confirmation = _receipt_wait
    _PrivateKeyAccount._await_confirmation = _account_wait
    Chain._revert = _chain_revert
    Chain.reset = _chain_reset
