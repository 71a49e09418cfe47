"""P2 + P1 against an owner colluding with a keeper, everything in ONE block (Anvil with automine
off): the owner tries to add a keeper and to set cooldown 0, slippage 10 %, trade cap 100 %,
threshold at its floor and loss budget 10 %; the keeper then fires 20 rebalances at the oracle
bound through a router it colludes with. The owner's powers are only queued, so the block loses
at most the loss budget in force (and at most max_slippage x the market-made excess). After the
delay the loosenings apply, and the colluders are still held to the budget per window."""

from fractions import Fraction

import pytest
from hostile import (
    BPS,
    BPS_TO_LOSS,
    LOSS_ONE,
    Snap,
    apply_fills,
    bucket_violations,
    charge,
    colluding_basket,
    worst_trades,
)
from web3.logs import DISCARD

from offchain.chain.node import set_automine
from offchain.core import model

DAY = 86_400
N_REBALANCES = 20
GAS = 1_000_000  # x 27 calls: within the 30M block gas limit, so all land in one block


def _slices(snap: Snap, n: int) -> list[list[tuple]]:
    """``n`` back-to-back rebalances, each taking 1/(n - k) of what is left of every room, planned
    on the holdings the previous ones leave (every fill at the oracle bound, as the router pays)."""
    out = []
    for k in range(n):
        trades = worst_trades(snap, Fraction(1, n - k))
        out.append(trades)
        if trades:
            snap = Snap(**{**snap.__dict__, "holdings": apply_fills(snap, trades)})
    return out


def _one_block(b, calls: list[tuple]) -> list:
    """Send ``calls`` [(sender, contract_fn, args)] unmined, then mine them in one block."""
    w3 = b.web3
    nonces: dict[str, int] = {}
    hashes = []
    set_automine(w3, False)
    try:
        for sender, fn, args in calls:
            nonce = nonces.setdefault(sender.address, w3.eth.get_transaction_count(sender.address))
            nonces[sender.address] += 1
            tx = {"from": sender.address, "to": fn._address, "data": fn.encode_input(*args)}
            hashes.append(w3.eth.send_transaction({**tx, "gas": GAS, "nonce": nonce}))
        w3.provider.make_request("evm_mine", [])
    finally:
        set_automine(w3, True)
    receipts = [w3.eth.get_transaction_receipt(h) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1
    return receipts


def _rebalanced(b, receipts) -> list:
    contract = b.web3.eth.contract(address=b.vault.address, abi=b.vault.abi)
    events = []
    for r in receipts:
        if r["status"] == 1:
            events.extend(contract.events.Rebalanced().process_receipt(r, errors=DISCARD))
    return [e["args"] for e in events]


@pytest.fixture
def colluders(make_basket, owner, alice, HostileRouterDouble):
    b, _ = colluding_basket(make_basket, owner, HostileRouterDouble)
    b.deposit_usd(alice, 1_000_000)
    b.warp(2 * 3_600)
    b.refresh_feeds()
    return b


def _crash(b, i: int, factor_bps: int):
    b.warp(2 * 3_600)
    b.refresh_feeds()
    b.set_price(i, b.prices[i] * factor_bps // BPS)


def _owner_powers(b, attacker):
    v = b.vault
    return [
        (b.owner, v.set_keeper, (attacker, True)),
        (b.owner, v.set_cooldown, (0,)),
        (b.owner, v.set_max_slippage_bps, (1_000,)),
        (b.owner, v.set_max_trade_bps, (10_000,)),
        (b.owner, v.set_drift_threshold_bps, (model.DEFAULT_PARAMS.min_drift_bps,)),  # the floor in force
        (b.owner, v.set_tolerance_bps, (200,)),
        (b.owner, v.set_loss_budget_bps, (1_000,)),
    ]


def test_owner_and_keeper_in_one_block_lose_at_most_the_budget(colluders, keeper, attacker):
    b, v = colluders, colluders.vault
    _crash(b, 1, 30_000)  # the market makes a large imbalance: asset 1 triples
    snap = Snap.read(v)
    params_before = list(v.get_params())
    value_before = snap.value()
    plans = _slices(snap, N_REBALANCES)
    deadline = b.deadline(3_600)
    calls = _owner_powers(b, attacker)
    calls += [(keeper, v.rebalance, (trades, deadline)) for trades in plans if trades]
    receipts = _one_block(b, calls)
    # every owner power was only queued: nothing changed, all of it is pending
    assert all(r["status"] == 1 for r in receipts[:7])
    assert list(v.get_params()) == params_before and not v.is_keeper(attacker)
    assert len(v.pending_changes()) == 7
    events = _rebalanced(b, receipts)
    assert len(events) == 1  # the cooldown in force stops the other 19 in the same block
    loss = value_before - Snap.read(v).value()
    budget = params_before[8] * BPS_TO_LOSS
    assert 0 < loss * LOSS_ONE <= budget * value_before
    assert loss <= snap.excess() * params_before[2] // BPS + sum(len(p) for p in plans)
    print(
        f"\none block, defaults in force: loss {loss / value_before:.4%} of value, "
        f"budget {budget / LOSS_ONE:.2%}"
    )


def test_after_the_delay_colluders_stay_within_the_budget_per_window(colluders, keeper, attacker):
    b, v = colluders, colluders.vault
    receipts = _one_block(b, _owner_powers(b, attacker))
    assert all(r["status"] == 1 for r in receipts)
    b.warp(v.target_delay())
    for kind, _, _ in list(v.pending_changes()):
        v.apply_change(kind, {"from": attacker})
    assert v.is_keeper(attacker) and v.cooldown() == 0 and v.max_slippage_bps() == 1_000
    assert v.loss_budget_bps() == 1_000 and v.max_trade_bps() == 10_000
    window, budget_bps = v.loss_window(), v.loss_budget_bps()
    records = []  # (timestamp, value_before, value_after)
    # every 12 hours for two windows the market swings hard and the colluders fire 20 rebalances
    # in one block, alternating keepers
    for step in range(2 * window // (12 * 3_600)):
        b.warp(12 * 3_600)
        b.refresh_feeds()
        i = step % b.n
        b.set_price(i, b.prices[i] * (30_000 if step % 2 == 0 else 3_333) // BPS)
        snap = Snap.read(v)
        if not v.needs_rebalance()[0]:
            continue
        deadline = b.deadline(3_600)
        plans = [p for p in _slices(snap, N_REBALANCES) if p]
        calls = [((keeper, attacker)[k % 2], v.rebalance, (p, deadline)) for k, p in enumerate(plans)]
        receipts = _one_block(b, calls)
        block = b.web3.eth.get_block(receipts[0]["blockNumber"])
        in_block = _rebalanced(b, receipts)
        for ev in in_block:
            records.append((block["timestamp"], ev["value_before"], ev["value_after"]))
        charged = sum(charge(ev["value_before"], ev["value_after"]) for ev in in_block)
        assert charged <= budget_bps * BPS_TO_LOSS  # one block: at most one full budget
    assert len(records) >= 10
    assert bucket_violations(records, budget_bps, window) == []
    charged = sum(charge(vb, va) for _, vb, va in records)
    elapsed = records[-1][0] - records[0][0]
    bound = budget_bps * BPS_TO_LOSS * (window + elapsed) // window
    print(
        f"\nafter the delay: {len(records)} rebalances over {elapsed / DAY:.1f} days charged "
        f"{charged / LOSS_ONE:.2%} of value; bucket bound {bound / LOSS_ONE:.2%}"
    )
    assert charged <= bound
