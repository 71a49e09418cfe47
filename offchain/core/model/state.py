"""``VaultModel``: a snapshot of a vault's state, enough to evaluate every view the contract offers."""

from __future__ import annotations

from dataclasses import dataclass, field

from offchain.core.model.drift import asset_values, drift_wad, trigger, weights_bps, weights_wad
from offchain.core.model.loss import loss_room_value
from offchain.core.model.params import BPS_TO_WAD, REASON_NONE, Params


@dataclass
class VaultModel:
    """Snapshot of a vault's state, enough to evaluate every view the contract offers."""

    balances: list[int]
    prices: list[int]  # 1e18 per whole token, already normalised
    decimals: list[int]
    targets_bps: list[int]
    last_rebalance: int
    params: Params = field(default_factory=Params)
    paused: bool = False
    feeds_ok: bool = True
    loss_used: int = 0  # loss budget in use at the time of the snapshot, LOSS_ONE units
    # the use the vault stored at ``last_rebalance`` (what it drains from); None: take ``loss_used``
    loss_stored: int | None = None

    def values(self) -> list[int]:
        return asset_values(self.balances, self.prices, self.decimals)

    def total_value(self) -> int:
        return sum(self.values())

    def current_weights(self) -> list[int]:
        return weights_bps(self.values())

    def drift_wad(self) -> int:
        return drift_wad(weights_wad(self.values()), self.targets_bps)

    def drift(self) -> int:
        return self.drift_wad() // BPS_TO_WAD

    def loss_room_value(self) -> int:
        """The largest loss (1e18 quote units) a rebalance may still make, as of the snapshot."""
        return loss_room_value(self.loss_used, self.params.loss_budget_bps, self.total_value())

    def needs_rebalance(self, now: int) -> tuple[bool, int]:
        """Mirror of ``needs_rebalance()``: never while paused or with any feed unusable."""
        if self.paused or not self.feeds_ok:
            return (False, REASON_NONE)
        reason = trigger(self.drift_wad(), now, self.last_rebalance, self.params)
        return (reason != REASON_NONE, reason)
