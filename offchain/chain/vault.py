"""Client for a deployed RebalancingVault (web3.py): one-call state reads, trade building, execution.

``read_state`` reads a vault through the stateless ``VaultLens`` (one ``eth_call``) into a
``VaultState``; ``to_model`` turns that
into the reference ``offchain.core.model.VaultModel``. ``build_trades`` is how a keeper proposes a
rebalance: ``offchain.core.model.plan_trades`` sizes the swaps, the router quotes them, and each
``min_amount_out`` is the larger of the vault's oracle bound and the quote less the keeper's own
tolerance. A quote below the oracle bound means the pool is off-price (e.g. sandwiched): the trade
is refused here rather than sent to revert on-chain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils.abi import get_abi_output_types
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from offchain.chain.node import load_artifact
from offchain.chain.uniswap import ROUTER_ABI
from offchain.core import model
from offchain.core.errors import ChainError

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
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=ROUTER_ABI)


def lens_contract(w3: Web3, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact("VaultLens").abi)


class LensCodec:
    """The one encoder of ``VaultLens.state`` calls and decoder of their result into ``VaultState``.

    The keeper (batched JSON-RPC), ``read_state`` (tests, benchmarks) and the demo all decode here.
    Addresses come back checksummed, arrays as lists.
    """

    def __init__(self, lens_abi: list[dict[str, Any]] | None = None) -> None:
        abi = lens_abi if lens_abi is not None else load_artifact("VaultLens").abi
        self._contract = Web3().eth.contract(abi=abi)
        state_abi = next(f for f in abi if f.get("name") == "state")
        self._types = get_abi_output_types(state_abi)
        self._names = [c["name"] for c in state_abi["outputs"][0]["components"]]

    def call(self, lens: str, vault: str, block: int | str = "latest") -> tuple[str, list[Any]]:
        """The ``eth_call`` (method, params) that reads ``vault`` through ``lens``."""
        data = self._contract.encode_abi("state", args=[Web3.to_checksum_address(vault)])
        tag = hex(block) if isinstance(block, int) else block
        return ("eth_call", [{"to": lens, "data": data}, tag])

    def decode(self, result: str | bytes) -> VaultState:
        """``VaultState`` from the call's return data; ``ChainError`` if it is not a lens state."""
        raw_bytes = bytes.fromhex(result[2:]) if isinstance(result, str) else bytes(result)
        try:
            raw = abi_decode(self._types, raw_bytes)[0]
        except Exception:  # noqa: BLE001 - "0x" (no code at the lens) or garbage
            raise ChainError(
                f"the lens returned no decodable state ({raw_bytes[:10].hex() or 'empty'})"
            ) from None
        values = {k: _checksummed(v) for k, v in zip(self._names, raw, strict=True)}
        return VaultState(**values)


def _checksummed(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return [_checksummed(x) for x in v]
    return Web3.to_checksum_address(v) if isinstance(v, str) else v


def read_state(vault: Contract | str, lens: Contract, block: int | str = "latest") -> VaultState:
    """Everything about ``vault`` in one ``eth_call`` to ``lens.state(vault)``, decoded by field name."""
    address = vault if isinstance(vault, str) else vault.address
    codec = LensCodec(lens.abi)
    _, (call, tag) = codec.call(lens.address, address, block)
    return codec.decode(lens.w3.eth.call(call, tag))


@dataclass(frozen=True)
class ProposedTrade:
    """A trade ready for ``rebalance``, with what the keeper expects of it."""

    sell: str
    buy: str
    amount_in: int
    min_amount_out: int
    expected_out: int  # oracle-implied
    quoted_out: int  # router quote at proposal time
    sell_index: int = -1  # positions in the vault's asset list (-1: not known)
    buy_index: int = -1
    value: int = 0  # 1e18 quote units sold, at oracle prices

    def as_tuple(self) -> tuple[str, str, int, int]:
        return (self.sell, self.buy, self.amount_in, self.min_amount_out)


class QuoteError(ChainError):
    """The router could not quote a planned swap (its ``getAmountsOut`` reverted or failed)."""


class OffPriceError(ChainError):
    """A pool quotes below the vault's oracle bound: it is off-price (possibly sandwiched)."""

    def __init__(self, sell: str, buy: str, quoted: int, floor: int) -> None:
        self.sell, self.buy, self.quoted, self.floor = sell, buy, quoted, floor
        super().__init__(
            f"pool {sell[:8]}../{buy[:8]}.. quotes {quoted} below the oracle bound {floor}: "
            "pool is off-price (possible sandwich); not trading"
        )


# A quoter answers getAmountsOut for many (amount_in, [sell, buy]) at once: the final output amount
# of each, or an exception for a swap the router cannot quote (the keeper batches them over JSON-RPC).
Quoter = Callable[[list[tuple[int, list[str]]]], list["int | Exception"]]


def router_quoter(router: Contract, block: int | str = "latest") -> Quoter:
    """A ``Quoter`` that calls ``router.getAmountsOut`` one swap at a time (tests, benchmarks)."""

    def quote(requests: list[tuple[int, list[str]]]) -> list[int | Exception]:
        out: list[int | Exception] = []
        for amount, path in requests:
            try:
                out.append(router.functions.getAmountsOut(amount, path).call(block_identifier=block)[-1])
            except Exception as exc:  # noqa: BLE001 - any failure of this quote is reported as one
                out.append(exc)
        return out

    return quote


def bound_trades(
    state: VaultState,
    planned: list[model.PlannedTrade],
    quotes: list[int | Exception],
    *,
    keeper_slippage_bps: int = 50,
) -> list[ProposedTrade]:
    """Each planned swap with its ``min_amount_out = max(oracle bound, quote * (1 - keeper_slippage))``.

    ``QuoteError`` if a quote failed, ``OffPriceError`` if one is below the vault's oracle bound.
    """
    out: list[ProposedTrade] = []
    for t, quoted in zip(planned, quotes, strict=True):
        sell, buy = state.assets[t.sell], state.assets[t.buy]
        if isinstance(quoted, Exception):
            raise QuoteError(f"getAmountsOut reverted: {getattr(quoted, 'reason', None) or quoted}")
        floor = model.min_acceptable_out(t.expected_out, state.max_slippage_bps)
        if quoted < floor:
            raise OffPriceError(sell, buy, quoted, floor)
        mine = quoted * (model.BPS - keeper_slippage_bps) // model.BPS
        out.append(
            ProposedTrade(
                sell, buy, t.amount_in, max(floor, mine), t.expected_out, quoted, t.sell, t.buy, t.value
            )
        )
    return out


def build_trades(
    state: VaultState,
    router: Contract | Quoter,
    *,
    keeper_slippage_bps: int = 50,
    band_bps: int = 0,
    fee_bps: int = 30,
    policy: Any = None,
    block: int | str = "latest",
) -> list[ProposedTrade]:
    """The one trade builder: trades that take the vault toward target, bounded by oracle and quote.

    The keeper's production path and the tests both call it. The plan is ``policy.plan`` (any
    ``offchain.quant.policies`` policy) or, without one, ``model.plan_vault`` with ``band_bps``; both
    respect the vault's rooms, tolerance and loss budget left. Quotes come from ``router`` (a
    contract, or a batched ``Quoter``); see ``bound_trades`` for ``min_amount_out`` and the errors.
    """
    vault = state.to_model()
    if policy is not None:
        planned = policy.plan(vault, fee_bps=fee_bps)
    else:
        planned = model.plan_vault(vault, band_bps=band_bps, fee_bps=fee_bps)
    if not planned:
        return []
    quoter = router if callable(router) and not isinstance(router, Contract) else router_quoter(router, block)
    quotes = quoter([(t.amount_in, [state.assets[t.sell], state.assets[t.buy]]) for t in planned])
    return bound_trades(state, planned, quotes, keeper_slippage_bps=keeper_slippage_bps)


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
