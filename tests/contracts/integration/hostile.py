"""A hostile keeper's toolkit, in the vault's own integer arithmetic (I8/I9 of ``rebalance``).

Everything is read straight from the vault (``oracle_state``, ``get_holdings``, ``get_params``...),
not through the lens or the keeper's planner, so these tests check the contract against an
independent statement of its rules:

* ``Snap``: holdings, prices, decimals, targets, parameters at one moment;
* ``rooms``: per asset the value it may still sell (overweight) or buy (underweight);
* ``excess``: the overweight value at oracle (the imbalance a rebalance may undo);
* ``worst_trades``: the largest-loss trade list the rules allow, every fill at the oracle bound
  (a router colluding with the keeper, ``HostileRouterDouble.pay_min_out``);
* ``apply_fills``: the holdings after those fills (what the hostile router will do, exactly);
* ``bucket_violations``: the leaky-bucket bound checked over every interval of rebalances;
* ``storage_words``: every storage word of the vault outside its mappings, read raw (``eth_getStorageAt``),
  so "a refused call changes nothing" compares what is stored, not views that move with the block
  time (``loss_budget_used()`` drains every second, and a refused transaction still mines a block).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from offchain.core import model

BPS = 10_000
WAD = 10**18
BPS_TO_WAD = 10**14
LOSS_ONE = 10**15
BPS_TO_LOSS = 10**11
K = {
    "threshold": 0,
    "min_drift": 1,
    "slippage": 2,
    "trade": 3,
    "tolerance": 4,
    "cooldown": 5,
    "period": 6,
    "delay": 7,
    "loss_budget": 8,
    "loss_window": 9,
}
# The loosest values every parameter may take (each one a loosening of the defaults).
LOOSEST = {
    "set_drift_threshold_bps": 10,
    "set_min_drift_bps": 1,
    "set_max_slippage_bps": 1_000,
    "set_max_trade_bps": 10_000,
    "set_tolerance_bps": 200,
    "set_cooldown": 0,
    "set_rebalance_period": 86_400,
    "set_target_delay": 3_600,
    "set_loss_budget_bps": 1_000,
    "set_loss_window": 86_400,
}
LOOSEST_MAX_AGE = 3 * 86_400


def up(num: int, den: int) -> int:
    return -(-num // den)


@dataclass
class Snap:
    assets: list[str]
    holdings: list[int]
    prices: list[int]
    statuses: list[int]
    decimals: list[int]
    targets: list[int]
    params: list[int]

    @classmethod
    def read(cls, vault) -> Snap:
        prices, statuses, _ = vault.oracle_state()
        token_decimals = [(c >> 160) & 255 for c in vault.get_asset_config()]
        return cls(
            assets=[str(a) for a in vault.get_assets()],
            holdings=[int(h) for h in vault.get_holdings()],
            prices=[int(p) for p in prices],
            statuses=[int(s) for s in statuses],
            decimals=[int(d) for d in token_decimals],
            targets=[int(t) for t in vault.get_target_weights()],
            params=[int(p) for p in vault.get_params()],
        )

    @property
    def n(self) -> int:
        return len(self.assets)

    def param(self, name: str) -> int:
        return self.params[K[name]]

    def values(self, holdings: list[int] | None = None) -> list[int]:
        h = self.holdings if holdings is None else holdings
        return [x * p // 10**d for x, p, d in zip(h, self.prices, self.decimals)]

    def value(self, holdings: list[int] | None = None) -> int:
        return sum(self.values(holdings))

    def weights(self, holdings: list[int] | None = None) -> list[int]:
        vals = self.values(holdings)
        total = sum(vals)
        return [v * WAD // total if total else 0 for v in vals]

    def drift_wad(self, holdings: list[int] | None = None) -> int:
        w = self.weights(holdings)
        if not any(w):
            return 0
        return max(abs(x - t * BPS_TO_WAD) for x, t in zip(w, self.targets))

    def rooms(self) -> tuple[list[int], list[int]]:
        """(sell room, buy room) per asset in 1e18 quote units, as the vault computes them
        (``model.trade_rooms``: sells stop at target + tolerance, buys at target + tolerance)."""
        room, over, under = model.trade_rooms(self.values(), self.targets, self.param("tolerance"))
        sell = [r if (over >> i) & 1 else 0 for i, r in enumerate(room)]
        buy = [r if (under >> i) & 1 else 0 for i, r in enumerate(room)]
        return sell, buy

    def sellable(self, i: int) -> bool:
        return bool((model.trade_rooms(self.values(), self.targets, self.param("tolerance"))[1] >> i) & 1)

    def buyable(self, i: int) -> bool:
        return bool((model.trade_rooms(self.values(), self.targets, self.param("tolerance"))[2] >> i) & 1)

    def excess(self) -> int:
        """Overweight value at oracle: sum over assets of max(0, value - target value)."""
        vals = self.values()
        total = sum(vals)
        return sum(max(0, v * BPS - t * total) for v, t in zip(vals, self.targets)) // BPS

    def expected_out(self, s: int, b: int, amount: int) -> int:
        p, d = self.prices, self.decimals
        return amount * p[s] * 10 ** d[b] // (p[b] * 10 ** d[s])

    def min_out(self, s: int, b: int, amount: int) -> int:
        return up(self.expected_out(s, b, amount) * (BPS - self.param("slippage")), BPS)

    def trade(self, s: int, b: int, amount: int) -> tuple:
        """(sell, buy, amount_in, min_amount_out) with min_amount_out at the vault's oracle bound."""
        return (self.assets[s], self.assets[b], amount, self.min_out(s, b, amount))

    def amount_for_value(self, i: int, value: int) -> int:
        """Largest amount of asset i whose value (rounded up) is <= ``value``."""
        return value * 10 ** self.decimals[i] // self.prices[i]


def worst_trades(snap: Snap, fraction: Fraction = Fraction(1)) -> list[tuple]:
    """The trades losing the most the rules allow, scaled by ``fraction``: every overweight asset
    sold by up to its whole sell room into the underweight ones' buy rooms, within the size cap,
    each fill at exactly the oracle bound (the router pays ``min_amount_out``)."""
    sell_room, buy_room = snap.rooms()
    total = snap.value()
    cap = total * snap.param("trade") // BPS * fraction.numerator // fraction.denominator
    sellers = sorted((i for i in range(snap.n) if snap.sellable(i)), key=lambda i: -sell_room[i])
    buyers = sorted((i for i in range(snap.n) if snap.buyable(i)), key=lambda i: -buy_room[i])
    keep = BPS - snap.param("slippage")
    trades, sold_up = [], 0
    for s in sellers:
        left = sell_room[s] * fraction.numerator // fraction.denominator
        for b in buyers:
            if left <= 0 or sold_up >= cap or buy_room[b] <= 0:
                continue
            # the sold value whose bound-rate fill fits b's buy room (rounded up on both sides)
            value = min(left, cap - sold_up, buy_room[b] * BPS // keep)
            amount = snap.amount_for_value(s, value)
            while amount > 0:
                got = snap.min_out(s, b, amount)
                got_up = up(got * snap.prices[b], 10 ** snap.decimals[b])
                if got_up <= buy_room[b]:
                    break
                amount = amount * 999 // 1_000
            if amount == 0 or snap.min_out(s, b, amount) == 0:
                continue
            value_up = up(amount * snap.prices[s], 10 ** snap.decimals[s])
            got = snap.min_out(s, b, amount)
            buy_room[b] -= up(got * snap.prices[b], 10 ** snap.decimals[b])
            left -= value_up
            sold_up += value_up
            trades.append(snap.trade(s, b, amount))
    return trades


def apply_fills(snap: Snap, trades: list[tuple]) -> list[int]:
    """Holdings after ``trades`` when every fill is exactly ``min_amount_out``."""
    idx = {a.lower(): i for i, a in enumerate(snap.assets)}
    held = list(snap.holdings)
    for sell, buy, amount, min_out in trades:
        held[idx[str(sell).lower()]] -= amount
        held[idx[str(buy).lower()]] += min_out
    return held


def charge(value_before: int, value_after: int) -> int:
    """What one rebalance charges to the loss budget, LOSS_ONE units (I9)."""
    if value_after >= value_before:
        return 0
    return up((value_before - value_after) * LOSS_ONE, value_before)


def bucket_violations(events: list[tuple[int, int, int]], budget_bps: int, window: int) -> list:
    """``events``: (timestamp, value_before, value_after) per rebalance, in order. Returns every
    interval [i, j] whose charged loss exceeds budget * (1 + (t_j - t_i) / window)."""
    budget = budget_bps * BPS_TO_LOSS
    bad = []
    for i in range(len(events)):
        total = 0
        for j in range(i, len(events)):
            total += charge(events[j][1], events[j][2])
            elapsed = events[j][0] - events[i][0]
            if total * window > budget * window + elapsed * budget:
                bad.append((i, j, total, elapsed))
    return bad


def rebalanced(tx, vault) -> dict:
    return dict(next(ev for ev in tx.events["Rebalanced"] if ev.address == vault.address))


# ---- the hostile actors ----


def colluding_basket(make_basket, owner, HostileRouterDouble, inventory_usd: int = 1_000_000_000):
    """A basket whose vault trades through a router that fills every trade at exactly the
    vault's oracle bound (the worst fill the vault accepts), stocked with every token."""
    router = HostileRouterDouble.deploy({"from": owner})
    b = make_basket(vault_router=router)
    for i, token in enumerate(b.tokens):
        token.mint(router, b.units_for_usd(i, inventory_usd), {"from": owner})
    router.pay_min_out(True, {"from": owner})
    return b, router


def queue_loosest(vault, feeds, owner) -> list[int]:
    """The owner queues every loosening the hard bounds allow (threshold last: it may not go below
    the min drift in force). Returns the kinds queued."""
    kinds = []
    for setter, value in LOOSEST.items():
        if setter == "set_drift_threshold_bps":
            continue
        tx = getattr(vault, setter)(value, {"from": owner})
        kinds.append(int(tx.events["ChangeQueued"]["kind"]))
    for feed in feeds:
        tx = vault.set_max_age(feed, LOOSEST_MAX_AGE, {"from": owner})
        kinds.append(int(tx.events["ChangeQueued"]["kind"]))
    return kinds


def apply_all(vault, kinds, who):
    for kind in kinds:
        vault.apply_change(kind, {"from": who})


def loosen_fully(basket, owner, attacker):
    """Queue, wait out the delay, apply: every bound at its loosest (two rounds, see queue_loosest)."""
    v = basket.vault
    kinds = queue_loosest(v, basket.feeds, owner)
    basket.warp(v.target_delay())
    apply_all(v, kinds, attacker)
    tx = v.set_drift_threshold_bps(LOOSEST["set_drift_threshold_bps"], {"from": owner})
    basket.warp(v.target_delay())
    v.apply_change(int(tx.events["ChangeQueued"]["kind"]), {"from": attacker})
    params = list(v.get_params())
    for setter, value in LOOSEST.items():
        assert params[_kind_of(setter)] == value, setter
    assert list(v.get_max_ages()) == [LOOSEST_MAX_AGE] * basket.n


def _kind_of(setter: str) -> int:
    from offchain.core import model

    return model.PARAM_KINDS.index(setter[4:])


def passes(vault, trades, deadline, keeper) -> str | None:
    """None if ``rebalance(trades)`` would succeed now (eth_call), else its revert reason."""
    from brownie.exceptions import VirtualMachineError

    try:
        vault.rebalance.call(trades, deadline, {"from": keeper})
    except VirtualMachineError as exc:
        return exc.revert_msg or "?"
    return None


def worst_accepted(vault, snap: Snap, deadline, keeper, steps: int = 8) -> list[tuple] | None:
    """The largest scaling of ``worst_trades`` the vault accepts now (bisection on the fraction)."""
    full = worst_trades(snap)
    if full and passes(vault, full, deadline, keeper) is None:
        return full
    lo, hi, best = Fraction(0), Fraction(1), None
    for _ in range(steps):
        mid = (lo + hi) / 2
        trades = worst_trades(snap, mid)
        if trades and passes(vault, trades, deadline, keeper) is None:
            lo, best = mid, trades
        else:
            hi = mid
    return best


@dataclass
class Record:
    timestamp: int
    value_before: int
    value_after: int
    excess_before: int
    slippage_bps: int
    trades: int

    @property
    def loss(self) -> int:
        return max(0, self.value_before - self.value_after)


def promised_bound(records: list[Record]) -> int:
    """max_slippage_bps x the overweight excess before each rebalance, plus one unit of rounding
    per trade (each trade's value is rounded once)."""
    return sum(r.excess_before * r.slippage_bps // BPS + r.trades for r in records)


def model_loss_used(records: list[Record], budget_bps: int, window: int, start_last: int, now: int) -> int:
    """The vault's I9 bucket replayed from the events, drained to ``now``."""
    budget = budget_bps * BPS_TO_LOSS
    used, last = 0, start_last
    for r in records:
        used -= min(used, (r.timestamp - last) * budget // window)
        used += charge(r.value_before, r.value_after)
        last = r.timestamp
    return used - min(used, (now - last) * budget // window)


@functools.cache
def _storage_slots(name: str = "RebalancingVault") -> tuple[int, ...]:
    """The storage slots of ``contracts/<name>.vy`` outside its HashMaps, from Vyper's own layout."""
    import vyper

    source = (Path(__file__).resolve().parents[3] / "contracts" / f"{name}.vy").read_text()
    layout = vyper.compile_code(source, output_formats=["layout"])["layout"]["storage_layout"]
    return tuple(
        sorted(
            slot
            for var in layout.values()
            if not var["type"].startswith("HashMap")
            for slot in range(var["slot"], var["slot"] + var["n_slots"])
        )
    )


def storage_words(web3, address: str, name: str = "RebalancingVault") -> list[bytes]:
    """Every non-mapping storage word of the contract at ``address`` at the latest block."""
    return [bytes(web3.eth.get_storage_at(address, slot)) for slot in _storage_slots(name)]
