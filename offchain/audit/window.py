"""The audited block range, pinned before anything is read.

An audit that ends at "whatever ``eth_blockNumber`` said" ends short when one node behind a load
balancer lags, and may include blocks that are later reorganised away. So the last block is chosen
once, up front, and said in the summary (``Window.how``):

* ``--to-block N``: exactly ``N`` (an error past the node's head; stated when past the pinned head);
* ``--to-block latest``: the head;
* otherwise, with ``confirmations`` set (the CLI's default): the ``finalized`` block when the node
  has one (Anvil answers ``head - 64``), else ``head - confirmations``;
* otherwise (``audit()`` called from Python without either): the head.

The head is the highest of ``eth_blockNumber`` and ``eth_getBlockByNumber("latest")``: a lagging
answer to one of them cannot move the range back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from web3 import Web3

from offchain.audit.history import VaultMeta, find_deploy_block, read_meta
from offchain.chain.rpc import Rpc, RpcError, is_transient
from offchain.core.errors import InputError

if TYPE_CHECKING:
    from offchain.audit.checkpoint import Checkpoint

__all__ = ["Window", "head_number", "finalized_number", "pin"]

LATEST = "latest"


@dataclass
class Window:
    to_block: int
    head: int  # the node's head when the range was pinned
    how: str  # how to_block was chosen, for the summary
    pinned: int | None = None  # the finalized / confirmed block (None: no pinning asked for)

    @property
    def past_pinned(self) -> int:
        """Blocks of the range beyond the pinned (finalized or confirmed) block."""
        return max(0, self.to_block - self.pinned) if self.pinned is not None else 0


def head_number(rpc: Rpc) -> int:
    """The node's head: the higher of two reads (one stale answer cannot shorten the range)."""
    a = rpc.block_number()
    blk = rpc.call("eth_getBlockByNumber", [LATEST, False])
    b = int(blk["number"], 16) if isinstance(blk, dict) and blk.get("number") else 0
    return max(a, b)


def finalized_number(rpc: Rpc) -> int | None:
    """The node's ``finalized`` block; None when it has none (an unknown tag, or ``null``). A transient
    failure is raised, never read as "no finalized block" (that would change the range)."""
    try:
        blk = rpc.call("eth_getBlockByNumber", ["finalized", False])
    except RpcError as exc:
        if is_transient(exc):
            raise
        return None
    if not isinstance(blk, dict) or not blk.get("number"):
        return None
    return int(blk["number"], 16)


def pin(rpc: Rpc, to_block: int | str | None, confirmations: int | None) -> Window:
    """The last block to audit (see the module's doc); InputError past the node's head."""
    head = head_number(rpc)
    if to_block == LATEST or (to_block is None and confirmations is None):
        return Window(head, head, "the node's head (latest)")
    pinned, how = None, ""
    if confirmations is not None:
        fin = finalized_number(rpc)
        if fin is not None:
            pinned, how = min(fin, head), f"the finalized block (head {head:,})"
        else:
            pinned = max(0, head - confirmations)
            how = f"head {head:,} - {confirmations} confirmations (the node has no finalized block)"
    if to_block is None:
        assert pinned is not None
        return Window(pinned, head, how, pinned)
    if not isinstance(to_block, int):
        raise InputError(f"--to-block {to_block!r}: a block number or 'latest'")
    if to_block > head:
        raise InputError(f"--to-block {to_block} is past the node's latest block {head}")
    w = Window(to_block, head, "--to-block", pinned)
    if w.past_pinned:
        w.how += f", {w.past_pinned:,} blocks past the pinned block {pinned:,} ({how}): not final"
    return w


def _window(
    rpc: Rpc,
    vault: str,
    from_block: int | None,
    to_block: int | str | None,
    confirmations: int | None,
    ckpt: Checkpoint | None,
) -> tuple[VaultMeta, int, Window]:
    """The vault's immutables and the audited block range (from its deployment by default, to the
    block ``offchain.audit.window.pin`` chooses; a resumed audit keeps its checkpoint's range)."""
    address = Web3.to_checksum_address(vault)
    chain_id = int(rpc.call("eth_chainId"), 16) if ckpt is not None else 0
    if ckpt is not None:
        from_block, to_block = ckpt.range_for(chain_id, address, from_block, to_block)
    win = pin(rpc, to_block, confirmations)
    if ckpt is not None and ckpt.resumed:
        win.how = str(ckpt.key.get("how") or win.how) + " (resumed from a checkpoint)"
    try:
        meta = read_meta(rpc, address, win.to_block)
    except InputError:
        if (
            win.to_block == win.head
            or rpc.code(address, win.to_block) not in ("0x", "")
            or rpc.code(address, win.head) in ("0x", "")
        ):
            raise
        raise InputError(
            f"{address} has no code at block {win.to_block} ({win.how}), only later: its deployment is "
            "not final yet; wait, or pass --to-block latest"
        ) from None
    if from_block is None:
        from_block = find_deploy_block(rpc, address, win.to_block)
        meta.deploy_block = from_block
    if from_block > win.to_block:
        raise InputError(f"--from-block {from_block} is after --to-block {win.to_block} ({win.how})")
    if ckpt is not None:
        ckpt.bind(chain_id, address, from_block, win.to_block, win.how)
    return meta, from_block, win
