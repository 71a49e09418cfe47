"""EIP-1559 fees for the keeper: never above a cap; replacements bumped enough for nodes to accept them."""

from __future__ import annotations

from dataclasses import dataclass

GWEI = 10**9


@dataclass(frozen=True)
class FeePolicy:
    max_fee_gwei: float = 100.0  # hard cap on maxFeePerGas
    priority_fee_gwei: float = 1.0
    base_fee_multiplier: float = 2.0  # headroom for base-fee growth over the next blocks
    bump_pct: int = 15  # replacement bump (nodes want >= 10 %)

    @property
    def cap_wei(self) -> int:
        return int(self.max_fee_gwei * GWEI)

    @property
    def tip_wei(self) -> int:
        return int(self.priority_fee_gwei * GWEI)

    def fees(self, base_fee: int) -> tuple[int, int] | None:
        """(maxFeePerGas, maxPriorityFeePerGas) for the next block; None when the base fee is over the cap."""
        if base_fee > self.cap_wei:
            return None
        tip = min(self.tip_wei, self.cap_wei - base_fee)
        max_fee = min(self.cap_wei, int(base_fee * self.base_fee_multiplier) + tip)
        return max(max_fee, base_fee + tip), tip

    def bump(self, max_fee: int, tip: int, base_fee: int) -> tuple[int, int] | None:
        """Replacement fees (both raised by ``bump_pct``, covering ``base_fee``); None when over the cap."""
        new_tip = tip * (100 + self.bump_pct) // 100 + 1
        new_max = max(max_fee * (100 + self.bump_pct) // 100 + 1, base_fee * 2 + new_tip)
        if new_max > self.cap_wei:
            new_max = self.cap_wei
            if new_max < max_fee * (100 + 10) // 100 or new_max < base_fee + new_tip:
                return None
        return new_max, min(new_tip, new_max)
