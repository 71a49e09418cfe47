"""Target weights from the keeper: queue new ones through the vault's timelock, apply them when due.

``due`` is the per-cycle check (``--targets-every``): apply a queued change whose eta passed, else
at most every ``targets_every`` seconds compute mean-variance targets (``strategist``) and queue
them when they moved by ``targets_min_change_bps``. ``queue``/``apply`` back the keeper's
``queue_targets``/``apply_targets`` (also ``ballast keeper targets``): estimate gas, then in a dry
run log ``would-send``, else send through the keeper's outbox.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from offchain.chain.rpc import RpcError
from offchain.chain.vault import VaultState
from offchain.core.errors import ChainError
from offchain.keeper.decide import Decision, _int, next_base_fee

if TYPE_CHECKING:
    from offchain.keeper.runner import Keeper


def due(keeper: Keeper, vault: str, st: VaultState, now: int) -> list[Decision]:
    """Apply, queue or leave ``vault``'s target weights this cycle."""
    from offchain.keeper import strategist  # noqa: PLC0415

    out: list[Decision] = []
    if keeper.journal.open(keeper.chain_id, vault):
        return out
    if st.pending_eta and now >= st.pending_eta:
        out.append(keeper.apply_targets(vault))
        return out
    last = keeper.last_targets_check.get(vault)
    if st.pending_eta or (last is not None and time.monotonic() - last < (keeper.cfg.targets_every or 0)):
        return out
    keeper.last_targets_check[vault] = time.monotonic()
    try:
        weights = strategist.compute_targets(keeper, st)
    except ChainError as exc:
        out.append(keeper._fail(vault, "targets", str(exc)))
        return out
    change = max(abs(a - b) for a, b in zip(weights, st.target_weights, strict=True))
    if change < keeper.cfg.targets_min_change_bps:
        out.append(keeper._skip(vault, "targets-unchanged", f"max change {change} bps", weights=weights))
        return out
    out.append(keeper.queue_targets(vault, weights))
    return out


def refresh_head(keeper: Keeper) -> dict[str, Any]:
    """Read the latest block (its base fee prices admin transactions) and return it."""
    keeper.head = keeper.rpc.call("eth_getBlockByNumber", ["latest", False])
    return keeper.head


def apply(keeper: Keeper, vault: str) -> Decision:
    """Send (or, dry, simulate) ``apply_target_weights`` on ``vault``."""
    return send_admin(keeper, vault, admin_tx(keeper, vault, "apply_target_weights", []), "apply-targets")


def queue(keeper: Keeper, vault: str, weights: list[int]) -> Decision:
    """Send (or, dry, simulate) ``queue_target_weights(weights)`` on ``vault``."""
    tx = admin_tx(keeper, vault, "queue_target_weights", [weights])
    return send_admin(keeper, vault, tx, "queue-targets", weights=weights)


def admin_tx(keeper: Keeper, vault: str, fn: str, args: list[Any]) -> dict[str, Any]:
    data = keeper.vault_c.encode_abi(fn, args=args)
    return {"to": vault, "data": data, "value": 0, "chainId": keeper.chain_id, "type": 2}


def send_admin(keeper: Keeper, vault: str, tx: dict[str, Any], kind: str, **data: Any) -> Decision:
    cfg = keeper.cfg
    call = {"from": keeper.address, "to": tx["to"], "data": tx["data"]}
    try:
        gas = _int(keeper.rpc.call("eth_estimateGas", [call]))
    except RpcError as exc:
        return keeper._fail(vault, "simulation", f"{kind} would revert: {exc.reason}")
    if cfg.dry_run:
        d = Decision(vault, "would-send", kind, data)
        keeper.emit(d)
        return d
    fees = keeper.fees.fees(next_base_fee(keeper.head))
    if fees is None:
        return keeper._skip(vault, "fee-cap", kind)
    tx = {**tx, "gas": int(gas * cfg.gas_multiplier) + 10_000}
    return keeper.submit(
        vault,
        tx,
        json.dumps({"kind": kind, **data}),
        fees[0],
        fees[1],
        _int(keeper.head["timestamp"]) + cfg.deadline,
        None,
        data,
    )
