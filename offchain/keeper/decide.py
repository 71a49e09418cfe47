"""The keeper's decision for one vault, without I/O of its own.

``decide`` takes a vault's ``VaultState`` through the shared policy (trigger), the one trade builder
(``offchain.chain.vault.build_trades``: plan, quotes, ``min_amount_out`` bounds), the model of the
vault's own checks and the economics (benefit against gas + swap costs, base fee against the cap),
and returns a ``Skip``, a ``Fail`` or a ``Rebalance`` for the outbox. Quotes come through the
``Quoter`` the caller passes in (the keeper's batched JSON-RPC one); nothing here logs, counts or
sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from offchain.chain.vault import OffPriceError, ProposedTrade, QuoteError, Quoter, VaultState, build_trades
from offchain.core import model
from offchain.keeper.config import KeeperConfig
from offchain.keeper.fees import GWEI, FeePolicy
from offchain.quant.policies import Hybrid, Policy


def _hex(n: int) -> str:
    return hex(int(n))


def _int(x: Any) -> int:
    return int(x, 16) if isinstance(x, str) else int(x)


def next_base_fee(block: dict[str, Any]) -> int:
    """EIP-1559 base fee of the block after ``block``."""
    base = _int(block.get("baseFeePerGas") or 0)
    used, limit = _int(block["gasUsed"]), _int(block["gasLimit"])
    target = max(limit // 2, 1)
    if used == target:
        return base
    if used > target:
        return base + max(base * (used - target) // target // 8, 1)
    return base - base * (target - used) // target // 8


@dataclass
class Decision:
    vault: str
    action: str  # rebalanced | sent | would-send | skip | failed | reverted | ...
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Skip:
    """Nothing to send: ``why`` is the metric label and the start of the log detail."""

    why: str
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    remember: tuple[Any, ...] | None = None  # a fingerprint for the revert guard, if it is to be set


@dataclass(frozen=True)
class Fail:
    kind: str
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rebalance:
    """Trades worth sending (before simulation): ``data`` carries the decision's log fields."""

    trades: list[tuple[str, str, int, int]]
    deadline: int
    max_fee: int
    tip: int
    data: dict[str, Any]


Outcome = Skip | Fail | Rebalance


def fingerprint(st: VaultState) -> tuple[Any, ...]:
    return (
        tuple(st.holdings),
        tuple(st.prices),
        tuple(st.price_updated_at),
        st.last_rebalance,
        tuple(st.target_weights),
        st.paused,
    )


def why_not(st: VaultState, now: int, policy: Policy) -> str:
    """Why ``policy`` does not fire on ``st`` at ``now``: the cooldown, the threshold, or the policy."""
    cooldown = int(getattr(policy, "cooldown_s", st.params.cooldown))
    until = st.last_rebalance + cooldown
    if now < until:
        return f"cooldown until {until} ({until - now} s from now; last rebalance {st.last_rebalance})"
    threshold = getattr(policy, "threshold_bps", None)
    if threshold is not None and st.drift < threshold:
        return f"below threshold: drift {st.drift} bps < {threshold} bps"
    return "the policy does not fire at this drift and time"


def decide(
    vault: str,
    st: VaultState,
    *,
    now: int,
    base_next: int,
    cfg: KeeperConfig,
    fees: FeePolicy,
    quote: Quoter,
    native_price_usd: float,
    policy: Policy | None = None,
    revert_guard: Mapping[str, tuple[Any, ...] | None] | None = None,
    symbols: Mapping[str, str] | None = None,
) -> Outcome:
    """What to do about ``vault`` in state ``st`` at block time ``now`` (next base fee ``base_next``)."""
    if st.paused:
        return Skip("paused")
    if any(s != model.FEED_OK for s in st.feed_status):
        # the vault refuses to rebalance on any of these; "unusable" also covers a down sequencer
        why = "feed-unusable" if model.FEED_UNUSABLE in st.feed_status else "feed"
        return Skip(why, "; ".join(st.feed_problems()), {"feed_status": list(st.feed_status)})
    vm = st.to_model()
    policy = policy or Hybrid.from_params(st.params)
    want, reason = policy.needs_rebalance(vm, now)
    data: dict[str, Any] = {"drift_bps": st.drift, "policy_reason": model.REASON_NAMES.get(reason, reason)}
    if not want:
        return Skip("no-trigger", f"{why_not(st, now, policy)}; policy {policy.spec()}", dict(data))
    if not st.needs_rebalance:
        why = f"the vault's own trigger does not hold: {why_not(st, now, Hybrid.from_params(st.params))}"
        return Skip("vault-says-no", why, dict(data))
    guard = revert_guard or {}
    fp = fingerprint(st)
    unseen = vault in guard and guard[vault] is None  # reverted, seen in reconcile: remember this state
    if unseen or guard.get(vault) == fp:
        why = "last submission reverted; waiting for the state to change"
        return Skip("after-revert", why, remember=fp if unseen else None)
    room = model.loss_room_value(st.loss_budget_used, st.loss_budget_bps, vm.total_value())
    if room == 0:
        return Skip(
            "loss-budget",
            f"the vault's loss budget is used up ({st.loss_budget_bps} bps per {st.loss_window} s); "
            "it refills over time",
            dict(data),
        )
    data["loss_room_usd"] = round(room / 1e18, 2)
    try:  # the one trade builder (offchain.chain.vault.build_trades), quotes batched over JSON-RPC
        proposed = build_trades(
            st, quote, policy=policy, fee_bps=cfg.fee_bps, keeper_slippage_bps=cfg.keeper_slippage_bps
        )
    except OffPriceError as exc:
        sym = symbols or {}
        return Skip(
            "off-price",
            f"pool {sym.get(exc.sell.lower(), exc.sell[:8])}/{sym.get(exc.buy.lower(), exc.buy[:8])} "
            f"quotes {exc.quoted} below the oracle bound {exc.floor} (possible sandwich)",
        )
    except QuoteError as exc:
        return Fail("quote", str(exc))
    if not proposed:
        data.pop("loss_room_usd")
        return Skip("no-trades", "", data)
    return _weigh(
        st, vm, proposed, data, now=now, base_next=base_next, cfg=cfg, fees=fees, usd=native_price_usd
    )


def _weigh(
    st: VaultState,
    vm: model.VaultModel,
    proposed: list[ProposedTrade],
    data: dict[str, Any],
    *,
    now: int,
    base_next: int,
    cfg: KeeperConfig,
    fees: FeePolicy,
    usd: float,
) -> Outcome:
    """The vault's own checks on the quoted trades, then the fee cap and benefit against cost."""
    trades = [t.as_tuple() for t in proposed]
    quoted_outs = [t.quoted_out for t in proposed]
    swap_cost = 0
    after = list(vm.balances)
    for t in proposed:
        swap_cost += t.value - t.quoted_out * vm.prices[t.buy_index] // 10 ** vm.decimals[t.buy_index]
        after[t.sell_index] -= t.amount_in
        after[t.buy_index] += t.quoted_out
    # the vault's own checks (I3-I9) on these trades if every swap pays its quote: never send a
    # rebalance the vault would refuse (round trip, direction, rooms, loss budget...)
    index = {a: i for i, a in enumerate(st.assets)}
    refused = model.check_trades(
        vm,
        [(index[a], index[b], x, y) for a, b, x, y in trades],
        quoted_outs,
        now,
    )
    if refused is not None:
        reason_data = {**data, "vault_reason": refused}
        if refused == "vault: loss budget":
            return Skip(
                "loss-budget",
                f"the quoted trades would overdraw the loss budget ({st.loss_budget_bps} bps per "
                f"{st.loss_window} s; {st.loss_budget_used / model.BPS_TO_LOSS:.2f} bps in use)",
                reason_data,
            )
        return Skip("model-says-no", f"the vault would revert: {refused}", reason_data)
    drift_after_wad = model.drift_wad(
        model.weights_wad(model.asset_values(after, vm.prices, vm.decimals)), vm.targets_bps
    )
    fee = fees.fees(base_next)
    data.update(swaps=len(trades), base_fee_gwei=round(base_next / GWEI, 3))
    if fee is None:
        return Skip(
            "fee-cap",
            f"base fee {base_next / GWEI:.2f} gwei above the cap {cfg.max_fee_gwei} gwei; waiting",
            dict(data),
        )
    max_fee, tip = fee
    gas_guess = model.REBALANCE_GAS_FIXED + model.REBALANCE_GAS_PER_SWAP * len(trades)
    value_usd = vm.total_value() / 1e18
    benefit = (vm.drift_wad() - drift_after_wad) / 1e18 * value_usd * cfg.benefit_factor
    cost = swap_cost / 1e18 + gas_guess * (base_next + tip) / 1e18 * usd
    data.update(benefit_usd=round(benefit, 2), cost_usd=round(cost, 2))
    if benefit < cfg.min_benefit_ratio * cost:
        return Skip("uneconomic", "expected benefit does not cover gas + swap costs", dict(data))
    return Rebalance(trades, now + cfg.deadline, max_fee, tip, data)
