"""Feed checks (stale, zero, negative, incomplete round, per-feed max age) and the views."""

import brownie
import pytest
from eth_abi import decode

from offchain.core import model

DAY = 86_400


@pytest.mark.parametrize("answer,reason", [(0, "vault: bad price"), (-5, "vault: bad price")])
def test_rebalance_rejects_non_positive_answers(drifted, answer, reason):
    trades = drifted.propose()
    drifted.set_price(2, answer)
    with brownie.reverts(reason):
        drifted.rebalance(trades)


def test_rebalance_rejects_stale_feed(drifted):
    trades = drifted.propose()
    feed = drifted.feeds[3]
    # issue 9: each feed's own max age from the deployment (no 24 h default): one second past it
    age = drifted.vault.get_max_ages()[3]
    feed.set_answer_at(drifted.prices[3], drifted.now() - age - 1, {"from": drifted.owner})
    with brownie.reverts("vault: stale price"):
        drifted.rebalance(trades)


def test_rebalance_rejects_future_timestamp(drifted):
    trades = drifted.propose()
    drifted.feeds[0].set_answer_at(drifted.prices[0], drifted.now() + 3_600, {"from": drifted.owner})
    with brownie.reverts("vault: stale price"):
        drifted.rebalance(trades)


def test_rebalance_rejects_incomplete_round(drifted):
    trades = drifted.propose()
    now = drifted.now()
    # answeredInRound < roundId: the answer was carried over from an earlier round
    drifted.feeds[1].set_round(100, drifted.prices[1], now, now, 99, {"from": drifted.owner})
    with brownie.reverts("vault: incomplete round"):
        drifted.rebalance(trades)


def test_rebalance_rejects_round_without_timestamp(drifted):
    trades = drifted.propose()
    drifted.feeds[1].set_round(100, drifted.prices[1], 0, 0, 100, {"from": drifted.owner})
    with brownie.reverts("vault: incomplete round"):
        drifted.rebalance(trades)


def test_per_feed_max_age_matches_heartbeat(drifted, owner):
    trades = drifted.propose()
    drifted.vault.set_max_age(drifted.feeds[2], 600, {"from": owner})
    drifted.warp(601)
    drifted.refresh_feeds()
    drifted.feeds[2].set_answer_at(drifted.prices[2], drifted.now() - 601, {"from": owner})
    with brownie.reverts("vault: stale price"):
        drifted.vault.rebalance(trades, drifted.deadline(), {"from": drifted.keeper})


def test_views_revert_on_bad_feeds_but_state_does_not(funded):
    funded.set_price(0, 0)
    with brownie.reverts("vault: bad price"):
        funded.vault.drift()
    with brownie.reverts("vault: bad price"):
        funded.vault.current_weights()
    with brownie.reverts("vault: bad price"):
        funded.vault.total_value()
    st = funded.state()
    assert st.feed_status[0] == model.FEED_NON_POSITIVE and st.prices[0] == 0
    assert funded.vault.needs_rebalance() == (False, 0)


def test_state_reports_stale_feed(funded):
    funded.warp(max(funded.vault.get_max_ages()) + 1)
    st = funded.state()
    assert st.feed_status == [model.FEED_STALE] * 4
    assert not st.needs_rebalance


def test_views_agree_with_each_other_and_the_model(drifted):
    v, st = drifted.vault, drifted.state()
    m = st.to_model()
    assert v.drift() == st.drift == m.drift()
    assert list(v.current_weights()) == st.current_weights == m.current_weights()
    assert v.total_value() == st.total_value == m.total_value()
    assert tuple(v.needs_rebalance()) == (st.needs_rebalance, st.reason) == m.needs_rebalance(st.timestamp)
    assert list(v.get_target_weights()) == st.target_weights
    assert [a.lower() for a in v.get_assets()] == [a.lower() for a in st.assets]
    assert [f.lower() for f in v.get_feeds()] == [f.address.lower() for f in drifted.feeds]
    assert st.decimals == drifted.decimals and st.feed_decimals == [8] * 4


def test_needs_rebalance_is_false_while_paused(drifted, guardian):
    assert drifted.vault.needs_rebalance()[0]
    drifted.vault.pause({"from": guardian})
    assert drifted.vault.needs_rebalance() == (False, 0)


def test_empty_vault_has_no_drift(basket):
    assert basket.vault.drift() == 0
    assert basket.vault.total_value() == 0
    assert basket.vault.needs_rebalance() == (False, 0)


def test_check_upkeep_when_needed(drifted):
    needed, data = drifted.vault.checkUpkeep(b"")
    assert needed
    reason, drift = decode(["uint8", "uint256"], bytes(data))
    assert (reason, drift) == (1, drifted.vault.drift())


def test_check_upkeep_when_not_needed(funded):
    needed, data = funded.vault.checkUpkeep(b"\x01\x02")
    assert not needed and bytes(data) == b""
