"""Feeds that misbehave (revert, short or garbled data, absurd answers) and an L2 sequencer that is
down or in its grace period: every view still answers (status 4 "unusable"), `rebalance` and the
first deposit refuse with a reason, redeem works."""

import dataclasses
import sys
from fractions import Fraction
from pathlib import Path

import brownie
import pytest

from offchain.core import model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from hostile import Snap, worst_trades  # noqa: E402

ZERO = "0x" + "00" * 20
DAY = 86_400
GRACE = 3_600
UNUSABLE = model.FEED_UNUSABLE
BROKEN = 2  # the asset whose feed misbehaves


def _deploy(basket, feeds, RebalancingVault, owner, keeper, guardian, sequencer=ZERO, grace=0):
    return RebalancingVault.deploy(
        "ballast faulty-feed basket",
        "bFAULT",
        basket.tokens,
        feeds,
        basket.targets,
        [3_600] * basket.n,
        model.Params().as_list(),
        basket.router,
        basket.vault.governance(),
        keeper,
        guardian,
        sequencer,
        grace,
        {"from": owner},
    )


@pytest.fixture(scope="module")
def rig(
    make_basket,
    FaultyAggregatorDouble,
    SequencerUptimeFeedDouble,
    RebalancingVault,
    owner,
    keeper,
    guardian,
    alice,
):
    """Two vaults on the same faulty feeds and sequencer feed: one funded and drifted (a
    rebalance is due), one empty (its first deposit reads the feeds)."""
    base = make_basket()
    feeds = [
        FaultyAggregatorDouble.deploy(8, f"TK{i} / USD", int(f.latestAnswer()), {"from": owner})
        for i, f in enumerate(base.feeds)
    ]
    sequencer = SequencerUptimeFeedDouble.deploy(base.now() - 10 * DAY, {"from": owner})
    funded_vault = _deploy(base, feeds, RebalancingVault, owner, keeper, guardian, sequencer, GRACE)
    empty_vault = _deploy(base, feeds, RebalancingVault, owner, keeper, guardian, sequencer, GRACE)
    b = dataclasses.replace(base, vault=funded_vault, feeds=feeds)
    b.deposit_usd(alice, 1_000_000)
    b.move(1, 14_000)
    assert b.vault.needs_rebalance()[0]
    trades = worst_trades(Snap.read(b.vault), Fraction(1, 2))
    empty = dataclasses.replace(b, vault=empty_vault)
    first = empty.basket_for_usd(10_000)
    empty.fund(alice, first)
    return b, empty, sequencer, trades, first


# name -> (how to break the feed, the reason `rebalance` and the first deposit give)
FAULTS = {
    "reverts": (lambda f, tx: f.set_mode(1, tx), "vault: feed unusable"),
    "returns_nothing": (lambda f, tx: f.set_mode(4, tx), "vault: feed unusable"),
    "short_96_bytes": (lambda f, tx: f.set_short_length(96, tx), "vault: feed unusable"),
    "short_159_bytes": (lambda f, tx: f.set_short_length(159, tx), "vault: feed unusable"),
    "garbled_odd_length": (
        lambda f, tx: f.set_raw_response(bytes(range(1, 101)), tx),
        "vault: feed unusable",
    ),
    "answer_2**255-1": (lambda f, tx: f.set_answer(2**255 - 1, tx), "vault: feed unusable"),
    "answer_above_1e36": (lambda f, tx: f.set_answer(10**36 + 1, tx), "vault: feed unusable"),
    # below MAX_PRICE as an answer, above it once scaled from 8 to 18 decimals
    "scaled_price_above_1e36": (lambda f, tx: f.set_answer(10**26 + 1, tx), "vault: feed unusable"),
}


def _apply(b, fault, owner):
    FAULTS[fault][0](b.feeds[BROKEN], {"from": owner})


def _check_views_answer(b, statuses_expected):
    v = b.vault
    assert tuple(v.needs_rebalance()) == (False, 0)
    needed, data = v.checkUpkeep(b"")
    assert not needed and bytes(data) == b""
    prices, statuses, _ = v.oracle_state()
    assert list(statuses) == statuses_expected
    state = b.lens.state(v)  # must not revert
    assert list(state["feed_status"]) == statuses_expected
    assert state["needs_rebalance"] is False


def _check_redeem_works(b, alice):
    held, supply = b.holdings(), b.vault.totalSupply()
    shares = b.vault.balanceOf(alice) // 3
    out = b.vault.redeem(shares, [0] * b.n, alice, alice, {"from": alice}).return_value
    assert list(out) == [h * shares // supply for h in held]


@pytest.mark.parametrize("fault", list(FAULTS))
def test_views_report_unusable_and_do_not_revert(rig, owner, fault):
    b = rig[0]
    _apply(b, fault, owner)
    expected = [0] * b.n
    expected[BROKEN] = UNUSABLE
    _check_views_answer(b, expected)
    # the strict views refuse with the reason
    with brownie.reverts(FAULTS[fault][1]):
        b.vault.total_value()


@pytest.mark.parametrize("fault", list(FAULTS))
def test_rebalance_refuses_an_unusable_feed(rig, owner, fault):
    b, _, _, trades, _ = rig
    _apply(b, fault, owner)
    with brownie.reverts(FAULTS[fault][1]):
        b.rebalance(trades)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_first_deposit_refuses_an_unusable_feed(rig, owner, alice, fault):
    _, empty, _, _, first = rig
    _apply(empty, fault, owner)
    with brownie.reverts(FAULTS[fault][1]):
        empty.vault.deposit(first, 0, alice, {"from": alice})


@pytest.mark.parametrize("fault", list(FAULTS))
def test_redeem_works_with_an_unusable_feed(rig, owner, alice, fault):
    b = rig[0]
    _apply(b, fault, owner)
    _check_redeem_works(b, alice)


def test_garbled_full_length_answer_is_non_positive_and_views_answer(rig, owner):
    """160 bytes of 0xff: every word out of range; the answer word reads as -1."""
    b, _, _, trades, _ = rig
    b.feeds[BROKEN].set_raw_response(b"\xff" * 160, {"from": owner})
    expected = [0] * b.n
    expected[BROKEN] = model.FEED_NON_POSITIVE
    _check_views_answer(b, expected)
    with brownie.reverts("vault: bad price"):
        b.rebalance(trades)


def test_the_healthy_feed_double_is_read_like_a_chainlink_feed(rig):
    """Control: in its honest mode the faulty double is an ordinary feed."""
    b = rig[0]
    prices, statuses, updated = b.vault.oracle_state()
    assert list(statuses) == [0] * b.n
    assert prices[BROKEN] == int(b.feeds[BROKEN].latestAnswer()) * 10**10


# ---- the L2 sequencer ----

SEQUENCER_FAULTS = {
    "down": lambda s, now, tx: s.update_status(True, now - 10, tx),
    "up_within_grace": lambda s, now, tx: (
        s.update_status(True, now - 2 * GRACE, tx),
        s.update_status(False, now - GRACE + 60, tx),
    ),
    "reverts": lambda s, now, tx: s.set_mode(1, tx),
    "short_data": lambda s, now, tx: s.set_mode(2, tx),
    "started_at_zero": lambda s, now, tx: s.set_round(0, 0, now, tx),
    "started_at_in_future": lambda s, now, tx: s.set_round(0, now + 600, now, tx),
    "odd_answer": lambda s, now, tx: s.set_round(2, now - 10 * DAY, now, tx),
}


def _apply_sequencer(b, sequencer, fault):
    SEQUENCER_FAULTS[fault](sequencer, b.now(), {"from": b.owner})


@pytest.mark.parametrize("fault", list(SEQUENCER_FAULTS))
def test_sequencer_fault_makes_every_feed_unusable_in_views(rig, fault):
    b, _, sequencer, _, _ = rig
    _apply_sequencer(b, sequencer, fault)
    _check_views_answer(b, [UNUSABLE] * b.n)


@pytest.mark.parametrize("fault", list(SEQUENCER_FAULTS))
def test_sequencer_fault_refuses_rebalance_and_first_deposit(rig, alice, fault):
    b, empty, sequencer, trades, first = rig
    _apply_sequencer(b, sequencer, fault)
    with brownie.reverts("vault: sequencer down"):
        b.rebalance(trades)
    with brownie.reverts("vault: sequencer down"):
        empty.vault.deposit(first, 0, alice, {"from": alice})
    _check_redeem_works(b, alice)


def test_sequencer_back_after_grace_restores_rebalance(rig, alice):
    b, _, sequencer, _, _ = rig
    now = b.now()
    sequencer.update_status(True, now - 2 * GRACE, {"from": b.owner})
    sequencer.update_status(False, now - GRACE + 30, {"from": b.owner})
    assert tuple(b.vault.needs_rebalance()) == (False, 0)
    b.warp(60)
    b.refresh_feeds()
    assert b.vault.needs_rebalance()[0]
    b.rebalance(worst_trades(Snap.read(b.vault), Fraction(1, 2)))


def test_sequencer_feed_and_grace_are_reported(rig):
    b, _, sequencer, _, _ = rig
    assert tuple(b.vault.sequencer()) == (sequencer.address, GRACE)


def test_sequencer_grace_above_a_day_is_refused(make_basket, RebalancingVault, owner, keeper, guardian):
    b = make_basket()
    with brownie.reverts("vault: out of bounds"):
        _deploy(b, b.feeds, RebalancingVault, owner, keeper, guardian, keeper, DAY + 1)
