"""P1 against a hostile keeper: 30 simulated days of oscillating prices, the keeper rebalancing
whenever the vault lets it with the worst trades the vault accepts (every fill at the oracle bound
through a router it colludes with, every trade as large as the rooms, the size cap and the loss
budget allow). At the defaults and at the loosest settable bounds, the test computes:

* the imbalance the market made: the sum, over rebalances, of the overweight excess at oracle
  prices just before each rebalance;
* the promised bound: max_slippage_bps x that imbalance (+ one unit of rounding per trade);
* the leaky bucket: over every interval of rebalances [t_i, t_j], the charged loss
  <= loss_budget * (1 + (t_j - t_i) / loss_window);

and asserts the keeper's total loss stays within both."""

import math

import pytest
from hostile import (
    BPS,
    LOSS_ONE,
    Record,
    Snap,
    bucket_violations,
    colluding_basket,
    loosen_fully,
    model_loss_used,
    promised_bound,
    rebalanced,
    worst_accepted,
)

DAY = 86_400
DAYS = 30
STEP = 12 * 3_600
AMPLITUDE_BPS = 2_500  # prices swing +-25 %
PERIODS = (5 * DAY, 3 * DAY, 7 * DAY, 4 * DAY)


def _answers(base: list[int], t: int) -> list[int]:
    return [
        b * (BPS + round(AMPLITUDE_BPS * math.sin(2 * math.pi * t / p + i))) // BPS
        for i, (b, p) in enumerate(zip(base, PERIODS))
    ]


def _hostile_run(b, keeper, per_step: int) -> tuple[list[Record], dict]:
    v = b.vault
    base = b.prices
    start, start_last = b.now(), v.last_rebalance()
    records: list[Record] = []
    stats = {"attempts": 0, "refused_all": 0}
    for step in range(1, DAYS * DAY // STEP + 1):
        b.warp(STEP)
        for feed, answer in zip(b.feeds, _answers(base, step * STEP)):
            feed.set_answer(answer, {"from": b.owner})
        for _ in range(per_step):
            if not v.needs_rebalance()[0]:
                break
            stats["attempts"] += 1
            snap = Snap.read(v)
            trades = worst_accepted(v, snap, b.deadline(), keeper)
            if not trades:
                stats["refused_all"] += 1
                break
            tx = v.rebalance(trades, b.deadline(), {"from": keeper})
            ev = rebalanced(tx, v)
            assert ev["value_before"] == snap.value()
            records.append(
                Record(
                    tx.timestamp,
                    ev["value_before"],
                    ev["value_after"],
                    snap.excess(),
                    snap.param("slippage"),
                    len(trades),
                )
            )
            b.chain.sleep(1)
    stats.update(start=start, start_last=start_last, end=b.now())
    return records, stats


def _check_promise(b, records, stats, label):
    v = b.vault
    budget_bps, window = v.loss_budget_bps(), v.loss_window()
    total_loss = sum(r.loss for r in records)
    bound = promised_bound(records)
    imbalance = sum(r.excess_before for r in records)
    charged = sum(-(-r.loss * LOSS_ONE // r.value_before) for r in records)
    elapsed = records[-1].timestamp - records[0].timestamp if records else 0
    print(
        f"\n[{label}] rebalances {len(records)} (attempts {stats['attempts']}), "
        f"market-made imbalance ${imbalance / 1e18:,.0f}, total loss ${total_loss / 1e18:,.2f}, "
        f"bound (slippage x imbalance) ${bound / 1e18:,.2f} ({total_loss / max(bound, 1):.1%} of it); "
        f"charged {charged / LOSS_ONE:.4%} of value over {elapsed / DAY:.1f} days, bucket bound "
        f"{budget_bps / BPS * (1 + elapsed / window):.4%}"
    )
    assert len(records) >= 5, stats
    assert total_loss > 0  # the keeper did hurt the vault: the bound is not vacuous
    # P1 per rebalance and in total: at most max_slippage_bps of the excess the market made
    for r in records:
        assert r.loss <= r.excess_before * r.slippage_bps // BPS + r.trades, r
    assert total_loss <= bound
    # P1, the leaky bucket, over every interval
    assert (
        bucket_violations([(r.timestamp, r.value_before, r.value_after) for r in records], budget_bps, window)
        == []
    )
    # the vault's own bucket agrees with the replay from its events
    b.chain.mine()
    now = b.now()  # the views run at the latest block's time
    assert v.loss_budget_used() == model_loss_used(records, budget_bps, window, stats["start_last"], now)
    return total_loss, bound


@pytest.fixture
def hostile(make_basket, owner, alice, HostileRouterDouble):
    b, router = colluding_basket(make_basket, owner, HostileRouterDouble)
    b.deposit_usd(alice, 1_000_000)
    b.warp(2 * 3_600)
    b.refresh_feeds()
    return b


def test_hostile_keeper_at_defaults_loses_within_the_promise(hostile, keeper):
    records, stats = _hostile_run(hostile, keeper, per_step=1)
    _check_promise(hostile, records, stats, "defaults")


def test_hostile_keeper_at_loosest_bounds_loses_within_the_promise(hostile, owner, attacker, keeper):
    loosen_fully(hostile, owner, attacker)
    hostile.refresh_feeds()
    records, stats = _hostile_run(hostile, keeper, per_step=3)
    _check_promise(hostile, records, stats, "loosest")
