"""The vault's state just before the audited window: where the replay starts.

From the deployment (or block 0) everything starts at zero; a window that starts later reads the
vault's own views at ``from_block - 1``.
"""

from __future__ import annotations

from offchain.audit.history import VaultMeta, _call, node_failed
from offchain.chain.rpc import Rpc
from offchain.core import model

__all__ = ["_initial_holdings", "_initial_loss_used", "_initial_pending"]


def _no_state_before(rpc: Rpc, address: str, from_block: int, meta: VaultMeta) -> bool:
    """The window starts at the vault's deployment (or block 0): nothing to read at ``from_block - 1``."""
    return (
        from_block == 0 or meta.deploy_block == from_block or rpc.code(address, from_block - 1) in ("0x", "")
    )


def _initial_holdings(rpc: Rpc, address: str, from_block: int, meta: VaultMeta) -> list[int]:
    """Zero from the deployment, else the vault's own view (``get_holdings()``) at ``from_block - 1``."""
    if from_block > 0 and not _no_state_before(rpc, address, from_block, meta):
        # the window starts after deployment: start from the vault's own view at from_block - 1
        (h0,) = _call(rpc, address, "get_holdings()", ["uint256[]"], from_block - 1)
        return list(h0)
    return [0] * meta.n


def _initial_loss_used(rpc: Rpc, address: str, from_block: int, meta: VaultMeta) -> int:
    """The loss-budget use the vault stored at its last rebalance before ``from_block`` (0 from the
    deployment): rebuilt from ``loss_budget_used()`` at ``from_block - 1`` plus the drain since."""
    if not meta.has_params or _no_state_before(rpc, address, from_block, meta):
        return 0
    blk = from_block - 1
    (used,) = _call(rpc, address, "loss_budget_used()", ["uint256"], blk)
    (last,) = _call(rpc, address, "last_rebalance()", ["uint256"], blk)
    (raw,) = _call(rpc, address, "get_params()", ["uint256[10]"], blk)
    p = model.Params.from_list(raw)
    (head,) = rpc.batch([("eth_getBlockByNumber", [hex(blk), False])], strict=True, non_null=True)
    ts = int(head["timestamp"], 16)
    return used + (ts - last) * p.loss_budget_bps * model.BPS_TO_LOSS // p.loss_window


def _initial_pending(rpc: Rpc, address: str, from_block: int, meta: VaultMeta) -> dict[int, tuple[int, int]]:
    """Changes queued before the audited window (``pending_changes()`` at ``from_block - 1``)."""
    if not meta.has_params or _no_state_before(rpc, address, from_block, meta):
        return {}
    try:
        (rows,) = _call(rpc, address, "pending_changes()", ["(uint256,uint256,uint256)[]"], from_block - 1)
    except Exception as exc:  # noqa: BLE001 - no such view: nothing known to be queued
        if node_failed(exc):
            raise
        return {}
    return {int(k): (int(v), int(eta)) for k, v, eta in rows}
