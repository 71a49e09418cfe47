"""The Python reference model (`offchain.core.model`) equals the vault's views on many random states.

For five baskets (2-5 assets, 6/8/18-decimal tokens in different orders, different targets) a
fixed-seed walk of random actions - deposits off target, price moves, short and long time warps
(stale feeds, CALENDAR periods), parameter changes, timelocked new targets, pauses, broken feed
rounds, redeems and keeper rebalances - produces 14 states per basket, then every kind of unusable
feed, a retarget and a CALENDAR state are visited on purpose (~22 per basket, ~110 in all). In each
state, everything is recomputed from raw chain data (feed rounds, token decimals, holdings,
targets, parameters, block time) with `offchain.core.model` and compared, exactly, with
  * `current_weights()`, `drift()`, `total_value()` (or their revert reason when a feed is unusable),
  * `needs_rebalance()` and `checkUpkeep()`,
  * every field of `state()`.
  * issue 9: `oracle_state()` (prices, statuses incl. 4 "unusable" for a huge answer, updatedAt) against
    `model.read_feed` on the raw `latestRoundData` bytes; `loss_budget_used()` against the model's
    replay of the leaky bucket (`loss_used_now` from the use `check_rebalance` says each rebalance
    stored); `pending_changes()` against the changes the walk queued (loosenings go through the
    timelock: queued, visible, applied after the eta);
  * issue 9 trade rules: random trade lists (round trips, wrong directions, oversized sells and buys,
    on distinct pools so the router's quotes are exact) - `model.check_trades` with the quoted
    outputs gives exactly the vault's revert reason (or success), by `eth_call`.
Whenever the trigger holds, the vault's accept/reject boundary for `min_amount_out` is probed with
`eth_call` on the keeper's first proposed trade and on random trades: `min_acceptable_out - 1`
reverts "vault: min out below bound", `min_acceptable_out` passes that check. The keeper's
rebalance is then sent with its first trade at exactly the bound, and every `Swapped.expected_out`
and the `Rebalanced` event are compared with the model.
"""

from __future__ import annotations

import os
import random
from types import SimpleNamespace

import brownie
import pytest
from brownie.exceptions import VirtualMachineError
from brownie.test import given
from eth_abi import encode
from hypothesis import settings
from hypothesis import strategies as st

from offchain.chain.vault import lens_contract, read_state
from offchain.core import model
from offchain.core.errors import ChainError

STATES_PER_BASKET = 14  # random-walk states; the fixed coverage steps add ~8 more
FEED_DECIMALS = 8

BASKETS = [
    # (decimals, USD prices, target weights in bps)
    ((6, 8, 18, 18), (1, 60_000, 3_000, 15), (4_000, 3_000, 2_000, 1_000)),
    ((6, 18), (1, 2_000), (5_000, 5_000)),
    ((18, 8, 6), (3, 45_000, 1), (3_334, 3_333, 3_333)),
    ((18, 6, 18, 8, 6), (2_500, 1, 40, 30_000, 2), (2_000, 1_500, 2_500, 3_000, 1_000)),
    ((8, 8, 18, 6), (90_000, 7, 1, 1), (1_000, 2_000, 3_000, 4_000)),
]

FEED_REASONS = model.FEED_REVERT_REASONS
LATEST_ROUND = "0xfeaf968c"  # latestRoundData()
TRADE_PROBES = 6  # random trade lists per rebalance attempt


class Walk:
    """One basket's random walk, with counters of what it checked."""

    def __init__(self, basket, users, guardian, rng):
        self.b = basket
        self.vault = basket.vault
        self.users = users
        self.guardian = guardian
        self.rng = rng
        self.states = 0
        self.min_out_probes = 0
        self.rebalances = 0
        self.reasons_seen = set()
        self.pending = None  # (weights, eta) queued and not yet applied
        self.pending_changes = {}  # kind -> (value, eta), what the walk queued and not yet applied
        self.loss_stored = 0  # loss budget use the vault stored at its last rebalance (model replay)
        self.statuses_seen = set()
        self.trade_probes = 0
        self.trade_reasons = set()

    # ---- the reference model, from raw chain data only ----

    def reference(self):
        v, b = self.vault, self.b
        now = b.chain[-1].timestamp
        decimals = [int(t.decimals()) for t in b.tokens]
        feed_decimals = [int(f.decimals()) for f in b.feeds]
        rounds = [f.latestRoundData() for f in b.feeds]
        max_ages = list(v.get_max_ages())
        raws = [bytes(b.web3.eth.call({"to": f.address, "data": LATEST_ROUND})) for f in b.feeds]
        readings = [
            model.read_feed(raw, fd, age, now)
            for raw, fd, age in zip(raws, feed_decimals, max_ages, strict=True)
        ]
        prices = [r[0] for r in readings]
        statuses = [r[1] for r in readings]
        # the scalar getters and get_params() agree
        params = model.Params.from_list(v.get_params())
        assert params.cooldown == v.cooldown() and params.loss_window == v.loss_window()
        m = model.VaultModel(
            balances=list(v.get_holdings()),
            prices=prices,
            decimals=decimals,
            targets_bps=list(v.get_target_weights()),
            last_rebalance=v.last_rebalance(),
            params=params,
            paused=v.paused(),
            feeds_ok=all(s == model.FEED_OK for s in statuses),
            loss_used=model.loss_used_now(
                self.loss_stored, v.last_rebalance(), now, params.loss_budget_bps, params.loss_window
            ),
            loss_stored=self.loss_stored,
        )
        return m, now, rounds, statuses, feed_decimals, max_ages, readings

    def check(self, label):
        """Every view and every `state()` field against the reference model."""
        v, b = self.vault, self.b
        m, now, rounds, statuses, feed_decimals, max_ages, readings = self.reference()
        needed, reason = m.needs_rebalance(now)
        where = f"[{label}] state {self.states}"

        st = b.state()
        assert st.timestamp == now, where
        assert [a.lower() for a in st.assets] == [t.address.lower() for t in b.tokens], where
        assert [f.lower() for f in st.feeds] == [f.address.lower() for f in b.feeds], where
        assert st.decimals == m.decimals == b.decimals, where
        assert st.feed_decimals == feed_decimals == [FEED_DECIMALS] * b.n, where
        assert st.holdings == m.balances, where
        assert st.prices == m.prices, where
        assert st.price_updated_at == [r[3] for r in rounds], where
        assert st.feed_status == statuses, where
        assert [list(x) for x in v.oracle_state()] == [list(c) for c in zip(*readings, strict=True)], where
        assert (st.loss_budget_bps, st.loss_window) == (m.params.loss_budget_bps, m.params.loss_window), where
        assert st.loss_budget_used == v.loss_budget_used() == m.loss_used, where
        queued = dict(self.pending_changes)
        if self.pending is not None:
            queued[model.KIND_TARGETS] = (
                sum(w << (14 * i) for i, w in enumerate(self.pending[0])),
                self.pending[1],
            )
        assert {c[0]: (c[1], c[2]) for c in st.pending_changes} == queued, where
        assert [tuple(c) for c in v.pending_changes()] == [tuple(c) for c in st.pending_changes], where
        assert st.max_ages == max_ages, where
        assert st.target_weights == m.targets_bps, where
        if m.feeds_ok:
            assert st.current_weights == m.current_weights(), where
            assert st.total_value == m.total_value(), where
            assert st.drift == m.drift(), where
        else:  # the lens reports no weights/value/drift while a feed is unusable (documented)
            assert (st.current_weights, st.total_value, st.drift) == ([], 0, 0), where
        assert (st.needs_rebalance, st.reason) == (needed, reason), where
        assert st.params == m.params, where
        assert st.last_rebalance == m.last_rebalance, where
        assert st.paused == m.paused, where
        assert st.router.lower() == b.router.address.lower(), where
        assert st.total_supply == v.totalSupply(), where
        if self.pending is None:
            # nothing queued: no eta, and no weights (an empty list, or zeros from a packed slot)
            assert st.pending_eta == 0 and not any(st.pending_weights), where
        else:
            assert (st.pending_weights, st.pending_eta) == self.pending, where

        assert tuple(v.needs_rebalance()) == (needed, reason), where
        upkeep = v.checkUpkeep(b"")
        if needed:
            assert upkeep[0] and bytes(upkeep[1]) == encode(["uint8", "uint256"], [reason, m.drift()]), where
        else:
            assert not upkeep[0] and bytes(upkeep[1]) == b"", where

        if m.feeds_ok:
            assert list(v.current_weights()) == m.current_weights(), where
            assert v.drift() == m.drift(), where
            assert v.total_value() == m.total_value(), where
        else:
            first_bad = next(s for s in statuses if s != model.FEED_OK)
            for view in (v.current_weights, v.drift, v.total_value):
                with brownie.reverts(FEED_REASONS[first_bad]):
                    view()
        self.states += 1
        self.reasons_seen.add(reason)
        self.statuses_seen.update(statuses)
        return m

    # ---- actions ----

    def deposit(self):
        user = self.rng.choice(self.users)
        usd = int(10 ** self.rng.uniform(0, 6.5))
        if self.vault.totalSupply() == 0:
            self.b.refresh_feeds()  # the first deposit is priced off the feeds
        weights = [self.rng.randint(1, 100) for _ in range(self.b.n)]
        weights = [w * 10_000 // sum(weights) for w in weights]
        amounts = self.b.basket_for_usd(usd, weights)
        self.b.fund(user, amounts)
        try:
            self.vault.deposit(amounts, 0, user, {"from": user})
        except VirtualMachineError as exc:
            assert exc.revert_msg == "vault: zero shares", exc.revert_msg
        self.check("deposit")

    def redeem(self):
        holders = [u for u in self.users if self.vault.balanceOf(u) > 0]
        if not holders:
            return self.deposit()
        user = self.rng.choice(holders)
        shares = self.vault.balanceOf(user) * self.rng.randint(1, 9_000) // 10_000
        if shares:
            self.vault.redeem(shares, [0] * self.b.n, user, user, {"from": user})
        self.check("redeem")

    def move(self):
        i = self.rng.randrange(self.b.n)
        factor = self.rng.choice([self.rng.randint(5_000, 8_500), self.rng.randint(11_500, 20_000)])
        self.b.move(i, factor, warp=self.rng.randint(0, 2 * 86_400))
        self.check("move")

    def warp(self):
        kind = self.rng.choice(["short", "stale", "calendar"])
        if kind == "short":
            self.b.warp(self.rng.randint(1, 7_200))
        elif kind == "stale":  # feeds not refreshed: some or all go stale
            self.b.warp(self.rng.randint(86_000, 3 * 86_400))
        else:  # past the CALENDAR period, heartbeats refreshed
            self.b.warp(self.rng.randint(30 * 86_400, 40 * 86_400))
            self.b.refresh_feeds()
        self.check("warp " + kind)

    def govern(self, setter, value):
        """Call a setter: a tightening applies now; a loosening is queued (visible in
        `pending_changes()`), then applied by anyone once its eta has passed."""
        v = self.vault
        tx = getattr(v, setter)(value, {"from": self.b.owner})
        if "ChangeQueued" not in tx.events:
            return
        q = tx.events["ChangeQueued"][-1]
        self.pending_changes[q["kind"]] = (q["value"], q["eta"])
        self.check("queued " + setter)
        with brownie.reverts("vault: timelock"):
            v.apply_change(q["kind"], {"from": self.users[0]})
        self.b.warp(q["eta"] - self.b.chain[-1].timestamp)
        self.b.refresh_feeds()
        v.apply_change(q["kind"], {"from": self.users[0]})
        del self.pending_changes[q["kind"]]

    def params(self):
        threshold = self.rng.randint(50, 1_500)
        self.govern("set_min_drift_bps", 1)
        self.govern("set_drift_threshold_bps", threshold)
        self.govern("set_min_drift_bps", self.rng.randint(1, threshold))
        self.govern("set_cooldown", self.rng.randint(0, 2 * 86_400))
        self.govern("set_max_slippage_bps", self.rng.randint(30, 400))
        self.govern("set_rebalance_period", self.rng.randint(86_400, 60 * 86_400))
        self.govern("set_loss_budget_bps", self.rng.randint(5, 300))
        self.govern("set_loss_window", self.rng.randint(86_400, 14 * 86_400))
        self.check("params")

    def retarget(self):
        """Queue random target weights, check the pending state, wait out the timelock, apply."""
        v, owner = self.vault, self.b.owner
        cuts = sorted(self.rng.sample(range(1, 10_000), self.b.n - 1))
        weights = [hi - lo for lo, hi in zip([0, *cuts], [*cuts, 10_000], strict=True)]
        tx = v.queue_target_weights(weights, {"from": owner})
        self.pending = (weights, tx.timestamp + v.target_delay())
        self.check("queued targets")
        self.b.warp(v.target_delay())
        self.b.refresh_feeds()
        v.apply_target_weights({"from": owner})
        self.pending = None
        assert list(v.get_target_weights()) == weights
        self.check("new targets")

    def pause(self):
        self.vault.pause({"from": self.guardian})
        self.check("paused")
        self.vault.unpause({"from": self.b.owner})

    def broken_feed(self, kind=None):
        i = self.rng.randrange(self.b.n)
        feed, good = self.b.feeds[i], int(self.b.feeds[i].latestAnswer())
        kind = kind or self.rng.choice(["zero", "negative", "incomplete", "future", "huge"])
        now = self.b.chain[-1].timestamp
        if kind == "huge":  # above MAX_PRICE once scaled to 18 decimals: unusable
            feed.set_answer(10**36 // 10 ** (18 - FEED_DECIMALS) + 1, {"from": self.b.owner})
        elif kind == "zero":
            feed.set_answer(0, {"from": self.b.owner})
        elif kind == "negative":
            feed.set_answer(-good, {"from": self.b.owner})
        elif kind == "incomplete":
            round_id = int(feed.latest_round()) + 1
            feed.set_round(round_id, good, now, now, round_id - 1, {"from": self.b.owner})
        else:
            feed.set_answer_at(good, now + 3_600, {"from": self.b.owner})
        self.check("feed " + kind)
        feed.set_answer(good, {"from": self.b.owner})

    # ---- rebalancing: the min-out boundary and the executed trades ----

    def rebalance(self):
        m, now, *_ = self.reference()  # this state was checked by the action that made it
        if m.feeds_ok and not m.paused:
            for _ in range(TRADE_PROBES):
                self.probe_trades(m)
        if not m.needs_rebalance(now)[0]:
            return False
        try:
            trades = self.b.propose()
        except ChainError:
            return False
        if not trades:
            return False
        first = trades[0]
        self.probe_min_out(m, first[0], first[1], first[2])
        # random trades the direction rules (I8, checked before the bound) allow: over -> under
        _room, over, under = model.trade_rooms(m.values(), m.targets_bps, m.params.tolerance_bps)
        sellers = [i for i in range(self.b.n) if (over >> i) & 1]
        buyers = [i for i in range(self.b.n) if (under >> i) & 1]
        for _ in range(3 if sellers and buyers else 0):
            s, t = self.rng.choice(sellers), self.rng.choice(buyers)
            held = m.balances[s]
            if held:
                amount = max(1, int(held * 10 ** self.rng.uniform(-6, -0.5)))
                self.probe_min_out(m, self.b.tokens[s].address, self.b.tokens[t].address, amount)
        # the keeper's rebalance, its first trade accepting exactly the bound
        idx = self.index()
        s, t = idx[first[0].lower()], idx[first[1].lower()]
        bound = self.bound(m, s, t, first[2])
        trades[0] = (first[0], first[1], first[2], bound)
        try:
            tx = self.b.rebalance(trades)
        except VirtualMachineError as exc:
            assert exc.revert_msg and exc.revert_msg.startswith("vault: "), exc.revert_msg
            assert exc.revert_msg != "vault: min out below bound"
            return True
        self.check_rebalance_events(m, tx)
        self.rebalances += 1
        # the model's replay of the whole rebalance: what the vault stored in its loss budget
        idx = self.index()
        swaps = [
            model.SwapResult(
                idx[e["sell"].lower()], idx[e["buy"].lower()], e["amount_in"], 0, e["amount_out"]
            )
            for e in tx.events["Swapped"]
        ]
        for k, sw in enumerate(swaps):
            swaps[k] = model.SwapResult(sw.sell, sw.buy, sw.amount_in, trades[k][3], sw.received)
        replay = model.check_rebalance(m, swaps, tx.timestamp, loss_used=self.loss_stored)
        assert replay.reason is None, replay
        self.loss_stored = replay.loss_used
        self.check("after rebalance")
        return True

    def probe_trades(self, m):
        """A random trade list on distinct pools: `model.check_trades` with the router's quotes says
        exactly what the vault says (by eth_call)."""
        n, rng = self.b.n, self.rng
        pairs = [(a, b) for a in range(n) for b in range(n) if a != b]
        rng.shuffle(pairs)
        trades, used = [], set()
        values = m.values()
        room, over, under = model.trade_rooms(values, m.targets_bps, m.params.tolerance_bps)
        size = rng.randint(1, 3)
        for s, t in pairs:
            if len(trades) == size:
                break
            if frozenset((s, t)) in used:
                continue
            used.add(frozenset((s, t)))
            unit = 10 ** m.decimals[s]
            kind = rng.choice(["room", "over", "tiny", "any"])
            if kind == "room" and room[s]:  # exactly the sell room, or one wei of value more
                amount = (room[s] + rng.choice([0, 0, m.prices[s] // unit + 1])) * unit // m.prices[s]
            elif kind == "over" and room[s]:
                amount = room[s] * rng.randint(11_000, 30_000) // 10_000 * unit // m.prices[s]
            elif kind == "tiny":
                amount = rng.randint(1, max(1, m.balances[s] // 10**6))
            else:
                amount = m.balances[s] * rng.randint(1, 3_000) // 10_000
            amount = max(1, min(amount, m.balances[s]))
            trades.append((s, t, amount, self.bound(m, s, t, amount)))
        if not trades:
            return
        if rng.random() < 0.25 and n >= 3:  # a round trip on purpose, on two different pools
            s, t, a, _ = trades[0]
            u = next(x for x in range(n) if x not in (s, t))
            back = max(1, min(m.balances[t], self.bound(m, s, t, a) // 3))
            trades = [trades[0], (t, u, back, self.bound(m, t, u, back))]
        router = self.b.router
        tok = self.b.tokens
        received = [router.getAmountsOut(a, [tok[s].address, tok[t].address])[-1] for s, t, a, _ in trades]
        if 0 in received:  # the pool itself refuses a swap with no output, before the vault's checks
            return
        if len({frozenset((s, t)) for s, t, _, _ in trades}) < len(trades):
            return  # a round trip on one pool: the second quote would not be exact; skip the compare
        want = model.check_trades(m, trades, received, self.b.chain[-1].timestamp)
        call = [(tok[s].address, tok[t].address, a, mo) for s, t, a, mo in trades]
        try:
            self.vault.rebalance.call(call, self.b.deadline(), {"from": self.b.keeper})
            got = None
        except VirtualMachineError as exc:
            got = exc.revert_msg
        if want == "vault: output below bound" and got and not got.startswith("vault: "):
            got = want  # the router's own amountOutMin check fires first
        assert got == want, (trades, received, got, want)
        self.trade_probes += 1
        self.trade_reasons.add(want)

    def index(self):
        return {t.address.lower(): i for i, t in enumerate(self.b.tokens)}

    def bound(self, m, s, t, amount):
        expected = model.oracle_out(amount, m.prices[s], m.decimals[s], m.prices[t], m.decimals[t])
        return model.min_acceptable_out(expected, m.params.max_slippage_bps)

    def probe_min_out(self, m, sell, buy, amount):
        idx = self.index()
        bound = self.bound(m, idx[sell.lower()], idx[buy.lower()], amount)
        if bound == 0:
            return
        call = self.vault.rebalance.call
        deadline, keeper = self.b.deadline(), {"from": self.b.keeper}
        with brownie.reverts("vault: min out below bound"):
            call([(sell, buy, amount, bound - 1)], deadline, keeper)
        try:
            call([(sell, buy, amount, bound)], deadline, keeper)
        except VirtualMachineError as exc:  # a later check may refuse it, but not this one
            assert exc.revert_msg != "vault: min out below bound", (sell, buy, amount, bound)
        self.min_out_probes += 1

    def check_rebalance_events(self, m, tx):
        idx = self.index()
        holdings = list(m.balances)
        swaps = [ev for ev in tx.events["Swapped"] if ev.address == self.vault.address]
        assert swaps
        for ev in swaps:
            s, t = idx[ev["sell"].lower()], idx[ev["buy"].lower()]
            assert ev["expected_out"] == model.oracle_out(
                ev["amount_in"], m.prices[s], m.decimals[s], m.prices[t], m.decimals[t]
            )
            holdings[s] -= ev["amount_in"]
            holdings[t] += ev["amount_out"]
        ev = tx.events["Rebalanced"][0]
        values_before = model.asset_values(m.balances, m.prices, m.decimals)
        values_after = model.asset_values(holdings, m.prices, m.decimals)
        drift_before = model.drift_wad(model.weights_wad(values_before), m.targets_bps)
        assert ev["reason"] == model.trigger(drift_before, tx.timestamp, m.last_rebalance, m.params)
        assert ev["value_before"] == sum(values_before)
        assert ev["value_after"] == sum(values_after)
        assert ev["drift_before"] == model.drift_bps(values_before, m.targets_bps)
        assert ev["drift_after"] == model.drift_bps(values_after, m.targets_bps)
        assert list(ev["weights_before"]) == model.weights_bps(values_before)
        assert list(ev["weights_after"]) == model.weights_bps(values_after)
        assert list(self.vault.get_holdings()) == holdings


@pytest.mark.parametrize("config", range(len(BASKETS)), ids=lambda i: "-".join(map(str, BASKETS[i][0])))
def test_model_equals_vault_views(make_basket, alice, bob, guardian, config):
    decimals, prices, weights = BASKETS[config]
    basket = make_basket(decimals=decimals, prices=prices, weights=weights, pool_usd=200_000_000)
    walk = Walk(basket, [alice, bob], guardian, random.Random(1234 + config))
    walk.check("empty vault")
    walk.deposit()
    basket.warp(2 * 3_600)
    basket.refresh_feeds()
    actions = [
        walk.deposit,
        walk.redeem,
        walk.move,
        walk.move,
        walk.warp,
        walk.params,
        walk.retarget,
        walk.pause,
        walk.broken_feed,
    ]
    while walk.states < STATES_PER_BASKET:
        walk.rng.choice(actions)()
        if walk.rng.random() < 0.5:
            walk.rebalance()
    # every kind of unusable feed, once per basket
    for kind in ("zero", "negative", "incomplete", "future", "huge"):
        walk.broken_feed(kind)
    # new targets through the timelock (queued, then applied), once per basket
    walk.retarget()
    # a CALENDAR state: period elapsed, drift between min_drift and a high threshold
    walk.govern("set_min_drift_bps", 1)
    walk.govern("set_drift_threshold_bps", 5_000)
    walk.govern("set_rebalance_period", 86_400)
    basket.move(walk.rng.randrange(basket.n), 10_700, warp=2 * 86_400)
    walk.check("calendar")
    walk.rebalance()
    # at least one state per basket where the trigger held: force one if the walk found none
    walk.govern("set_drift_threshold_bps", 500)
    for _ in range(4):
        if walk.min_out_probes:
            break
        basket.move(walk.rng.randrange(basket.n), 20_000)
        walk.check("forced trigger")
        walk.rebalance()

    print(
        f"\n{decimals}: {walk.states} states, {walk.min_out_probes} min-out probes, "
        f"{walk.rebalances} rebalances, reasons {sorted(walk.reasons_seen)}, "
        f"feed statuses {sorted(walk.statuses_seen)}, {walk.trade_probes} trade-rule probes "
        f"({sorted(map(str, walk.trade_reasons))})"
    )
    assert walk.trade_probes >= 10
    assert model.FEED_UNUSABLE in walk.statuses_seen
    assert walk.states >= STATES_PER_BASKET + 7
    assert walk.min_out_probes >= 1
    assert {model.FEED_NON_POSITIVE, model.FEED_STALE, model.FEED_INCOMPLETE} <= walk.statuses_seen
    assert model.REASON_CALENDAR in walk.reasons_seen


# ---- issue 9, on random states (hypothesis, the project's seeded profile) ----
# Each test below is one behaviour: the model's answer equals the vault's on states hypothesis
# draws. Every example runs in its own chain snapshot (brownie.test.given).

PROFILE = settings.get_profile(os.environ.get("BALLAST_HYPOTHESIS_PROFILE", "dev"))
ORACLE_DECIMALS = (8, 18, 0)  # the faulty feeds' decimals: scaling up by 1e10, 1 and 1e18
GRACE = 3_600
MAX_AGE = 3_600
U80 = 2**80 - 1


def _raw(web3, address):
    """latestRoundData()'s raw return bytes, or None when the call reverts."""
    try:
        return bytes(web3.eth.call({"to": address, "data": LATEST_ROUND}))
    except Exception:  # noqa: BLE001 - any revert: the vault's raw staticcall fails too
        return None


def _sequencer_model(raw, now, grace):
    """model.sequencer_up from the uptime feed's raw answer (None: reverted or short)."""
    if raw is None or len(raw) < 160:
        return model.sequencer_up(None, 0, now, grace)
    answer = int.from_bytes(raw[32:64], "big")
    return model.sequencer_up(answer, int.from_bytes(raw[64:96], "big"), now, grace)


@pytest.fixture(scope="module")
def oracle_rig(
    owner,
    keeper,
    guardian,
    governance,
    amm,
    lens,
    make_vault_args,
    FaultyAggregatorDouble,
    SequencerUptimeFeedDouble,
    ERC20Double,
    RebalancingVault,
    now,
):
    """A 3-asset vault on three FaultyAggregatorDoubles (8, 18 and 0 decimals) and an L2 sequencer
    uptime feed (grace 1 h), with a small deposit so its values are not zero."""
    tokens = [ERC20Double.deploy(f"O{i}", f"O{i}", 18, {"from": owner}) for i in range(3)]
    feeds = [
        FaultyAggregatorDouble.deploy(d, f"O{i} / USD", 10**d, {"from": owner})
        for i, d in enumerate(ORACLE_DECIMALS)
    ]
    seq = SequencerUptimeFeedDouble.deploy(now() - 10 * 86_400, {"from": owner})
    args = make_vault_args(
        tokens,
        feeds,
        [3_000, 3_000, 4_000],
        amm[1],
        governance,
        keeper=keeper,
        guardian=guardian,
        params=model.Params(cooldown=0),
        max_ages=MAX_AGE,
        sequencer=seq,
        sequencer_grace=GRACE,
    )
    vault = RebalancingVault.deploy(*args, {"from": owner})
    for tk in tokens:
        tk.mint(owner, 10**21, {"from": owner})
        tk.approve(vault, 10**21, {"from": owner})
    vault.deposit([10**20] * 3, 0, owner, {"from": owner})
    return SimpleNamespace(vault=vault, tokens=tokens, feeds=feeds, seq=seq, lens=lens)


def _answer():
    near = [10**36 // 10 ** (18 - d) for d in ORACLE_DECIMALS]
    return st.one_of(
        st.integers(1, 10**12),  # normal
        st.integers(-(2**255), 0),  # zero / negative
        st.sampled_from([x + k for x in near for k in (-1, 0, 1)] + [10**36, 10**36 + 1]),  # bound
        st.integers(10**36, 2**255 - 1),  # huge
    )


@st.composite
def feed_behaviour(draw):
    mode = draw(st.sampled_from(["round", "round", "round", "revert", "short", "raw", "empty"]))
    if mode == "round":
        rid = draw(st.integers(1, U80))
        air = draw(st.sampled_from([rid, rid, max(0, rid - 1), min(U80, rid + 1)]))
        updated = draw(st.one_of(st.just(None), st.integers(-2 * MAX_AGE, 600), st.integers(-5, 5)))
        return mode, (rid, draw(_answer()), updated, air)
    if mode == "short":
        return mode, draw(st.integers(0, 159))
    if mode == "raw":  # five full words, out-of-range uint80 fields included, any length
        words = draw(st.lists(st.integers(0, 2**256 - 1), min_size=5, max_size=6))
        data = b"".join(w.to_bytes(32, "big") for w in words)
        return mode, data[: draw(st.sampled_from([len(data), 160, 159, 96]))]
    return mode, None


SEQUENCER_STATES = ["up", "up", "up", "grace-edge", "down", "started-0", "future", "revert", "short"]


@given(
    behaviours=st.lists(feed_behaviour(), min_size=3, max_size=3),
    seq_state=st.sampled_from(SEQUENCER_STATES),
    edge=st.integers(-3, 3),
)
@settings(PROFILE, max_examples=40)
def test_oracle_state_equals_model_read_feed_on_raw_answers(
    oracle_rig, owner, keeper, chain, web3, now, behaviours, seq_state, edge
):
    """oracle_state() == model.read_feed(raw latestRoundData bytes) for normal, stale, incomplete,
    non-positive, huge, reverting, short and garbled answers, with the sequencer up, in grace,
    down or broken (model.sequencer_up); the views never revert, and rebalance refuses with the
    model's reason (check_trades with the statuses)."""
    r, tx = oracle_rig, {"from": owner}
    t0 = now()
    for feed, (mode, arg) in zip(r.feeds, behaviours, strict=True):
        if mode == "round":
            rid, answer, updated, air = arg
            at = 0 if updated is None else t0 + updated - (MAX_AGE if abs(updated) <= 5 else 0)
            feed.set_round(rid, answer, at, max(0, at), air, tx)
            feed.set_mode(0, tx)
        elif mode == "short":
            feed.set_short_length(arg, tx)
        elif mode == "raw":
            feed.set_raw_response(arg, tx)
        else:
            feed.set_mode({"revert": 1, "empty": 4}[mode], tx)
    seq = r.seq
    seq.set_mode({"revert": 1, "short": 2}.get(seq_state, 0), tx)
    started = {
        "up": t0 - 10 * GRACE,
        "grace-edge": t0 - GRACE + edge,
        "down": t0 - 10 * GRACE,
        "started-0": 0,
        "future": t0 + 10_000,
    }.get(seq_state, t0 - 10 * GRACE)
    seq.set_round(1 if seq_state == "down" else 0, started, t0, tx)
    chain.mine()

    now = chain[-1].timestamp
    seq_up = _sequencer_model(_raw(web3, seq.address), now, GRACE)
    readings = [
        model.read_feed(_raw(web3, f.address), d, MAX_AGE, now, sequencer_up=seq_up)
        for f, d in zip(r.feeds, ORACLE_DECIMALS, strict=True)
    ]
    got = [list(x) for x in r.vault.oracle_state()]
    assert got == [list(c) for c in zip(*readings, strict=True)], (behaviours, seq_state)
    statuses = [s for _p, s, _u in readings]
    # the views answer whatever the feeds do
    needed, _reason = r.vault.needs_rebalance()
    if any(s != model.FEED_OK for s in statuses):
        assert not needed and not r.vault.checkUpkeep(b"")[0]
    assert read_state(r.vault.address, lens_contract(web3, r.lens.address)).feed_status == statuses
    if seq_up and all(s == model.FEED_OK for s in statuses):
        return
    # rebalance refuses with the model's reason: the sequencer first, then the first bad feed
    m = model.VaultModel(
        [10**20] * 3, [10**18] * 3, [18] * 3, [3_000, 3_000, 4_000], 0, model.Params(cooldown=0)
    )
    want = model.check_trades(m, [(0, 1, 1, 0)], [0], now, statuses=statuses, sequencer_up=seq_up)
    call = [(r.tokens[0], r.tokens[1], 1, 0)]
    with brownie.reverts(want):
        r.vault.rebalance.call(call, now + 600, {"from": keeper})


# -- rebalances through a router that pays exactly min_amount_out (a colluding keeper's worst fill)

HOSTILE_PARAMS = model.Params(
    drift_threshold_bps=10,
    min_drift_bps=1,
    cooldown=0,
    max_slippage_bps=200,
    tolerance_bps=25,
    loss_budget_bps=40,
    loss_window=86_400,
)


@pytest.fixture(scope="module")
def hostile_rig(make_basket, owner, alice, HostileRouterDouble):
    """6/18/8-decimal vault trading through HostileRouterDouble.pay_min_out, $1M at target."""
    router = HostileRouterDouble.deploy({"from": owner})
    b = make_basket(
        decimals=(6, 18, 8),
        prices=(1, 3_000, 60_000),
        weights=(3_000, 3_000, 4_000),
        vault_router=router,
        params=HOSTILE_PARAMS,
        pool_usd=1_000_000,
    )
    router.pay_min_out(True, {"from": owner})
    for i, tk in enumerate(b.tokens):
        tk.mint(router, b.units_for_usd(i, 10**9), {"from": owner})
    b.deposit_usd(alice, 1_000_000)
    b.warp(60)
    b.refresh_feeds()
    return b


def _chain_model(b):
    """The vault's state as the model sees it, from raw chain data (fresh feeds assumed)."""
    v = b.vault
    now = b.chain[-1].timestamp
    params = model.Params.from_list(v.get_params())
    last = v.last_rebalance()
    stored = model.loss_stored(v.loss_budget_used(), last, now, params.loss_budget_bps, params.loss_window)
    prices = [int(a) * 10 ** (18 - FEED_DECIMALS) for a in b.prices]  # the feeds, fresh
    m = model.VaultModel(
        list(v.get_holdings()),
        prices,
        list(b.decimals),
        list(v.get_target_weights()),
        last,
        params,
        paused=v.paused(),
        loss_stored=stored,
    )
    return m, now, stored


def _trade_amount(m, s, kind, frac):
    values = m.values()
    room, _over, _under = model.trade_rooms(values, m.targets_bps, m.params.tolerance_bps)
    unit, price = 10 ** m.decimals[s], m.prices[s]
    if kind == "room":  # the most the sell room allows (the value rounded up still fits)
        amount = room[s] * unit // price
    elif kind == "room+1":  # one token unit more
        amount = room[s] * unit // price + 1
    elif kind == "tiny":
        amount = 1
    else:
        amount = m.balances[s] * frac // 10_000
    return max(1, min(amount, m.balances[s] + (1 if kind == "room+1" else 0)))


trade_spec = st.tuples(
    st.integers(0, 2),
    st.integers(0, 2),
    st.sampled_from(["room", "room+1", "tiny", "frac", "frac"]),
    st.integers(1, 6_000),
    st.sampled_from([0, 0, 0, -1, 1, 50, 400]),
)


@given(
    steps=st.lists(
        st.tuples(
            st.integers(0, 2 * 86_400),
            st.lists(st.integers(8_000, 12_500), min_size=3, max_size=3),
            st.lists(trade_spec, min_size=1, max_size=4),
            st.booleans(),
        ),
        min_size=1,
        max_size=3,
    ),
    later=st.integers(1, 3 * 86_400),
)
@settings(PROFILE, max_examples=25)
def test_check_rebalance_reason_equals_vault_with_hostile_router(hostile_rig, steps, later):
    """model.check_rebalance's reason == the vault's revert reason for random trade lists (round
    trips, wrong directions, same asset, over-room sells and buys, bounds off by one, valid plans)
    when the router pays exactly min_amount_out; on success the holdings, the Rebalanced and Swapped
    events and loss_budget_used() equal the model's, and after time travel loss_budget_used() ==
    model.loss_used_now."""
    b = hostile_rig
    v, keeper = b.vault, {"from": b.keeper}
    for warp, factors, specs, send in steps:
        b.warp(warp)
        answers = b.prices
        for i, f in enumerate(factors):
            b.set_price(i, answers[i] * f // 10_000)
        m, now, stored = _chain_model(b)
        trades, received = [], []
        for s, t, kind, frac, delta in specs:
            amount = _trade_amount(m, s, kind, frac)
            bound = model.min_acceptable_out(
                model.oracle_out(amount, m.prices[s], m.decimals[s], m.prices[t], m.decimals[t]),
                m.params.max_slippage_bps,
            )
            min_out = max(0, bound + (delta if abs(delta) <= 1 else bound * delta // 10_000))
            trades.append((s, t, amount, min_out))
            received.append(min_out)  # pay_min_out: the router pays exactly the bound asked for
        swaps = [model.SwapResult(s, t, a, mo, mo) for s, t, a, mo in trades]
        want = model.check_rebalance(m, swaps, now, loss_used=stored).reason
        call = [(b.tokens[s], b.tokens[t], a, mo) for s, t, a, mo in trades]
        try:
            v.rebalance.call(call, b.deadline(), keeper)
            got = None
        except VirtualMachineError as exc:
            got = exc.revert_msg
        assert got == want, (trades, got, want)
        if want is not None or not send:
            continue
        tx = v.rebalance(call, b.deadline(), keeper)
        res = model.check_rebalance(m, swaps, tx.timestamp, loss_used=stored)
        assert res.reason is None, res
        assert tuple(v.get_holdings()) == res.balances_after
        assert v.loss_budget_used() == res.loss_used
        ev = tx.events["Rebalanced"][0]
        values0 = model.asset_values(m.balances, m.prices, m.decimals)
        values1 = model.asset_values(list(res.balances_after), m.prices, m.decimals)
        assert (ev["reason"], ev["value_before"], ev["value_after"]) == (
            res.reason_code,
            res.value_before,
            res.value_after,
        )
        assert (ev["drift_before"], ev["drift_after"]) == (
            res.drift_before // model.BPS_TO_WAD,
            res.drift_after // model.BPS_TO_WAD,
        )
        assert list(ev["weights_before"]) == model.weights_bps(values0)
        assert list(ev["weights_after"]) == model.weights_bps(values1)
        assert [(e["amount_in"], e["amount_out"], e["expected_out"]) for e in tx.events["Swapped"]] == [
            (a, mo, model.oracle_out(a, m.prices[s], m.decimals[s], m.prices[t], m.decimals[t]))
            for s, t, a, mo in trades
        ]
        b.warp(later)
        p = res
        now = b.chain[-1].timestamp
        assert v.loss_budget_used() == model.loss_used_now(
            p.loss_used, tx.timestamp, now, m.params.loss_budget_bps, m.params.loss_window
        )
        b.refresh_feeds()


# -- the planner's trades, on Uniswap V2: always accepted

PLANNER_PARAMS = model.Params(
    drift_threshold_bps=10, min_drift_bps=1, cooldown=0, loss_budget_bps=15, loss_window=86_400
)


@pytest.fixture(scope="module")
def planner_rig(make_basket, alice):
    b = make_basket(params=PLANNER_PARAMS, pool_usd=200_000_000)
    b.deposit_usd(alice, 1_000_000)
    b.warp(60)
    b.refresh_feeds()
    return b


@given(
    steps=st.lists(
        st.tuples(
            st.integers(60, 2 * 86_400),
            st.lists(st.integers(7_000, 14_000), min_size=4, max_size=4),
            st.sampled_from([0, 0, 25, 100]),  # band_bps
            st.booleans(),  # cap the plan by the loss budget left
        ),
        min_size=1,
        max_size=3,
    )
)
@settings(PROFILE, max_examples=15)
def test_plan_trades_always_pass_check_rebalance_and_the_vault(planner_rig, steps):
    """model.plan_trades (with and without loss_room) on random price moves: the vault accepts every
    plan (or, uncapped, refuses only on the loss budget), model.check_rebalance with the router's
    actual outputs passes and says what the vault stored; a capped plan never hits the budget."""
    b = planner_rig
    v = b.vault
    for warp, factors, band, capped in steps:
        b.warp(warp)
        answers = b.prices
        b.refresh_feeds()
        for i, f in enumerate(factors):
            b.set_price(i, answers[i] * f // 10_000)
        b.arbitrage()
        m, now, stored = _chain_model(b)
        p = m.params
        used = model.loss_used_now(stored, m.last_rebalance, now, p.loss_budget_bps, p.loss_window)
        room = model.loss_room_value(used, p.loss_budget_bps, m.total_value()) if capped else None
        plan = model.plan_trades(
            m.balances,
            m.prices,
            m.decimals,
            m.targets_bps,
            band_bps=band,
            fee_bps=30,
            max_trade_bps=p.max_trade_bps,
            loss_room=room,
            tolerance_bps=p.tolerance_bps,
        )
        if not plan or not m.needs_rebalance(now)[0]:
            continue
        call = [
            (
                b.tokens[x.sell],
                b.tokens[x.buy],
                x.amount_in,
                model.min_acceptable_out(x.expected_out, p.max_slippage_bps),
            )
            for x in plan
        ]
        try:
            tx = v.rebalance(call, b.deadline(), {"from": b.keeper})
        except VirtualMachineError as exc:
            assert not capped and exc.revert_msg == "vault: loss budget", (plan, exc.revert_msg)
            continue
        swaps = [
            model.SwapResult(x.sell, x.buy, x.amount_in, c[3], e["amount_out"])
            for x, c, e in zip(plan, call, tx.events["Swapped"], strict=True)
        ]
        res = model.check_rebalance(m, swaps, tx.timestamp, loss_used=stored)
        assert res.reason is None, (plan, res)
        assert tuple(v.get_holdings()) == res.balances_after
        assert v.loss_budget_used() == res.loss_used
        ev = tx.events["Rebalanced"][0]
        assert (ev["value_before"], ev["value_after"]) == (res.value_before, res.value_after)
