"""Client for a deployed RebalancingVault (web3.py): one-call state reads, trade building, execution.

``read_state`` reads a vault through the stateless ``VaultLens`` (one ``eth_call``) into a
``VaultState``; ``to_model`` turns that
into the reference ``offchain.model.VaultModel``. ``build_trades`` is how a keeper proposes a
rebalance: ``offchain.model.plan_trades`` sizes the swaps, the router quotes them, and each
``min_amount_out`` is the larger of the vault's oracle bound and the quote less the keeper's own
tolerance. A quote below the oracle bound means the pool is off-price (e.g. sandwiched): the trade
is refused here rather than sent to revert on-chain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from offchain import model
from offchain.chain import load_artifact
from offchain.errors import ChainError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VaultState:
    """Decoded ``VaultLens.state(vault)``: field names and units exactly as in the lens's ``VaultState``.

    ``current_weights`` is empty and ``total_value``/``drift`` are 0 while any feed is unusable
    (``feed_status`` says which); the model can still value the vault from ``prices``.
    """

    assets: list[str]
    feeds: list[str]
    decimals: list[int]
    feed_decimals: list[int]
    holdings: list[int]
    prices: list[int]
    price_updated_at: list[int]
    feed_status: list[int]
    max_ages: list[int]
    target_weights: list[int]
    current_weights: list[int]
    total_value: int
    drift: int
    needs_rebalance: bool
    reason: int
    drift_threshold_bps: int
    rebalance_period: int
    min_drift_bps: int
    cooldown: int
    max_slippage_bps: int
    max_trade_bps: int
    tolerance_bps: int
    target_delay: int
    last_rebalance: int
    paused: bool
    router: str
    total_supply: int
    timestamp: int
    pending_weights: list[int]
    pending_eta: int
    loss_budget_bps: int
    loss_window: int  # seconds
    loss_budget_used: int  # now, in model.LOSS_ONE units (1e-15 of vault value)
    pending_changes: list[Any]  # (kind, value, eta) per queued change; kinds as model.PARAM_KINDS etc.

    @property
    def params(self) -> model.Params:
        return model.Params(**{k: getattr(self, k) for k in model.PARAM_KINDS})

    def to_model(self) -> model.VaultModel:
        return model.VaultModel(
            balances=list(self.holdings),
            prices=list(self.prices),
            decimals=list(self.decimals),
            targets_bps=list(self.target_weights),
            last_rebalance=self.last_rebalance,
            params=self.params,
            paused=self.paused,
            feeds_ok=all(s == model.FEED_OK for s in self.feed_status),
            loss_used=self.loss_budget_used,
            loss_stored=model.loss_stored(
                self.loss_budget_used,
                self.last_rebalance,
                self.timestamp,
                self.loss_budget_bps,
                self.loss_window,
            ),
        )

    def feed_problems(self) -> list[str]:
        """One line per feed whose status is not ok (empty: every feed usable), for logs."""
        return [
            f"feed {i} ({self.feeds[i]}) {model.FEED_STATUS_NAMES.get(s, s)}"
            for i, s in enumerate(self.feed_status)
            if s != model.FEED_OK
        ]


def vault_contract(w3: Web3, address: str) -> Contract:
    return w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=load_artifact("RebalancingVault").abi
    )


def router_contract(w3: Web3, address: str) -> Contract:
    return w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=load_artifact("UniswapV2RouterDouble").abi
    )


def lens_contract(w3: Web3, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact("VaultLens").abi)


def read_state(vault: Contract | str, lens: Contract, block: int | str = "latest") -> VaultState:
    """Everything about ``vault`` in one ``eth_call`` to ``lens.state(vault)``, decoded by field name."""
    address = vault if isinstance(vault, str) else vault.address
    raw = lens.functions.state(Web3.to_checksum_address(address)).call(block_identifier=block)
    abi = next(f for f in lens.abi if f.get("name") == "state")
    names = [c["name"] for c in abi["outputs"][0]["components"]]
    values = {k: (list(v) if isinstance(v, list | tuple) else v) for k, v in zip(names, raw, strict=True)}
    return VaultState(**values)


@dataclass(frozen=True)
class ProposedTrade:
    """A trade ready for ``rebalance``, with what the keeper expects of it."""

    sell: str
    buy: str
    amount_in: int
    min_amount_out: int
    expected_out: int  # oracle-implied
    quoted_out: int  # router quote at proposal time

    def as_tuple(self) -> tuple[str, str, int, int]:
        return (self.sell, self.buy, self.amount_in, self.min_amount_out)


def build_trades(
    state: VaultState,
    router: Contract,
    *,
    keeper_slippage_bps: int = 50,
    band_bps: int = 0,
    fee_bps: int = 30,
    block: int | str = "latest",
) -> list[ProposedTrade]:
    """Trades that take the vault toward target, each bounded by oracle and quote.

    ``min_amount_out = max(oracle bound, quote * (1 - keeper_slippage_bps))``. Raises
    ``ChainError`` when a quote falls below the vault's oracle bound (pool off-price).
    """
    planned = model.plan_trades(
        state.holdings,
        state.prices,
        state.decimals,
        state.target_weights,
        band_bps=band_bps,
        fee_bps=fee_bps,
        max_trade_bps=state.max_trade_bps,
        # the vault's tolerance: it sets where sells must stop (target + tolerance) and the buy cap
        tolerance_bps=state.tolerance_bps or 0,
        loss_room=model.loss_room_value(
            state.loss_budget_used,
            state.loss_budget_bps,
            sum(model.asset_values(state.holdings, state.prices, state.decimals)),
        ),
    )
    out: list[ProposedTrade] = []
    for t in planned:
        sell, buy = state.assets[t.sell], state.assets[t.buy]
        quoted = router.functions.getAmountsOut(t.amount_in, [sell, buy]).call(block_identifier=block)[-1]
        floor = model.min_acceptable_out(t.expected_out, state.max_slippage_bps)
        if quoted < floor:
            raise ChainError(
                f"pool {sell[:8]}../{buy[:8]}.. quotes {quoted} below the oracle bound {floor}: "
                "pool is off-price (possible sandwich); not trading"
            )
        mine = quoted * (model.BPS - keeper_slippage_bps) // model.BPS
        out.append(ProposedTrade(sell, buy, t.amount_in, max(floor, mine), t.expected_out, quoted))
    return out


def decode_rebalance(vault: Contract, receipt: Any) -> dict[str, Any]:
    """The ``Rebalanced`` event and the ``Swapped`` events of one receipt, as plain dicts."""
    rebalanced = vault.events.Rebalanced().process_receipt(receipt, errors=DISCARD)
    swaps = vault.events.Swapped().process_receipt(receipt, errors=DISCARD)
    if not rebalanced:
        raise ChainError(f"transaction {receipt['transactionHash'].hex()} has no Rebalanced event")
    return {
        "rebalanced": dict(rebalanced[0]["args"]),
        "swaps": [dict(s["args"]) for s in swaps],
        "gas_used": receipt["gasUsed"],
        "block": receipt["blockNumber"],
    }
