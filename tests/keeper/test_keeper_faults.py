"""Every fault of issue #4 section 2, each on its own Anvil."""

from __future__ import annotations

import threading
import time

import pytest
from keeper_env import ON_GANACHE, Env, load_base, start_node

from offchain.chain.devchain import set_automine
from offchain.keeper.runner import CircuitOpen

GWEI = 10**9


class Killed(BaseException):
    """Stands in for SIGKILL at a chosen point of the keeper's code."""


def _actions(env: Env) -> list[str]:
    return [e["action"] for e in env.events()]


def _keeper_txs(env: Env) -> int:
    return env.w3.eth.get_transaction_count(env.keeper_addr, "latest")


def test_node_restart_mid_run_retries_with_backoff(env: Env):
    """Kill Anvil under a running keeper, restart it on the same port: the keeper retries and carries on."""
    k = env.keeper(interval=0.1, rpc_retries=12, rpc_backoff=0.1, max_failures=50)
    th = threading.Thread(target=k.run, daemon=True)
    th.start()
    try:
        time.sleep(0.8)
        state = None if ON_GANACHE else env.rpc("anvil_dumpState")  # Ganache keeps it in its database
        port = env.node.port
        env.node.stop()  # node gone: every request now fails at the transport level
        time.sleep(1.0)
        env.node = start_node(env.tmp, port=port)
        if state is not None:
            load_base(env.node)
            env.rpc("anvil_loadState", state)
        env.advance(2 * 86_400)
        env.move({1: 1.35, 3: 0.75})
        deadline = time.monotonic() + 20
        while "rebalanced" not in _actions(env) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        k.stop()
        th.join(10)
    assert not th.is_alive()
    assert "rebalanced" in _actions(env), env.lines[-5:]
    assert k.metrics.failures["rpc"] > 0  # retries happened
    assert env.rebalance_count() == 1


def test_reverted_transaction_is_logged_with_reason_and_not_retried_blindly(env: Env):
    k = env.keeper(receipt_timeout=0.3, stuck_after=3600)
    env.advance(2 * 86_400)
    env.move({1: 1.35, 3: 0.75})
    set_automine(env.w3, False)
    k.cycle()  # simulated fine, sent, not mined yet
    assert "sent" in _actions(env)
    # the guardian pauses the vault in front of the keeper's rebalance (higher tip), then unpauses after
    vault = env.stack.vault
    guardian = env.w3.eth.accounts[2]
    tip = {"maxPriorityFeePerGas": 50 * GWEI, "maxFeePerGas": 100 * GWEI, "gas": 200_000}
    vault.functions.pause().transact({"from": guardian, **tip})
    env.rpc("evm_mine")
    set_automine(env.w3, True)
    env.deployer.transact(vault.functions.unpause())  # the owner; waits for the receipt
    k.cycle()
    reverted = [e for e in env.events() if e["action"] == "failed" and e.get("kind") == "reverted"]
    assert len(reverted) == 1
    assert "vault: paused" in reverted[0]["detail"]
    sent_before = _keeper_txs(env)
    k.cycle()  # same state: no blind retry
    assert env.events()[-2]["action"] == "skip" and "after-revert" in env.events()[-2]["detail"]
    assert _keeper_txs(env) == sent_before
    env.advance(60)
    env.refresh_feeds()  # the state changed (new oracle rounds): the keeper tries again and succeeds
    k.cycle()
    assert env.rebalance_count() == 1, "\n".join(env.lines[-6:])
    assert "rebalanced" in _actions(env)


def test_nonce_conflict_is_resolved_by_re_signing(env: Env):
    k = env.keeper()
    env.advance(2 * 86_400)
    env.move({1: 1.35, 3: 0.75})
    real = k._next_nonce

    def racing_nonce() -> int:
        n = real()
        # another process with the same key takes this nonce first
        env.w3.eth.send_transaction({"from": env.keeper_addr, "to": env.keeper_addr, "value": 0})
        k._next_nonce = real  # only once
        return n

    k._next_nonce = racing_nonce  # type: ignore[method-assign]
    k.cycle()
    acts = _actions(env)
    assert "nonce-conflict" in acts and "rebalanced" in acts
    assert env.rebalance_count() == 1


@pytest.mark.skipif(ON_GANACHE, reason="Ganache cannot set a base fee (no anvil_setNextBlockBaseFeePerGas)")
def test_base_fee_above_cap_waits_instead_of_overpaying(env: Env):
    k = env.keeper(max_fee_gwei=5)
    env.advance(2 * 86_400)
    env.move({1: 1.35, 3: 0.75})
    env.rpc("anvil_setNextBlockBaseFeePerGas", hex(50 * GWEI))
    env.rpc("evm_mine")
    k.cycle()
    assert any(e["action"] == "skip" and "fee-cap" in e["detail"] for e in env.events())
    assert _keeper_txs(env) == 0
    for _ in range(25):  # empty blocks: the base fee falls 12.5 % per block
        env.rpc("evm_mine")
    env.refresh_feeds()
    k.cycle()
    done = [e for e in env.events() if e["action"] == "rebalanced"]
    assert len(done) == 1
    tx = env.w3.eth.get_transaction(done[0]["tx"])
    assert tx["maxFeePerGas"] <= 5 * GWEI


def test_stuck_transaction_is_replaced_with_a_bumped_fee(env: Env):
    k = env.keeper(receipt_timeout=0.3, stuck_after=0)
    env.advance(2 * 86_400)
    env.move({1: 1.35, 3: 0.75})
    set_automine(env.w3, False)
    k.cycle()
    first = next(e for e in env.events() if e["action"] == "sent")
    k.cycle()  # stuck: replaced (same nonce, higher fees)
    repl = next(e for e in env.events() if e["action"] == "replaced")
    assert repl["nonce"] == first["nonce"] and repl["max_fee_gwei"] > first["max_fee_gwei"]
    env.rpc("evm_mine")
    set_automine(env.w3, True)
    k.cycle()
    done = [e for e in env.events() if e["action"] == "rebalanced"]
    assert len(done) == 1 and done[0]["tx"] == repl["tx"]
    assert env.rebalance_count() == 1
    rows = {r.tx_hash: r.status for r in k.journal.all()}
    assert rows[first["tx"]] == "dropped" and rows[repl["tx"]] == "mined"


@pytest.mark.skipif(ON_GANACHE, reason="Ganache has no anvil_reorg (no way to replace mined blocks)")
def test_reorg_that_drops_a_mined_rebalance_is_detected_and_handled(env: Env):
    k = env.keeper()
    env.advance(2 * 86_400)
    env.move({1: 1.35, 3: 0.75})
    k.cycle()
    assert env.rebalance_count() == 1
    env.rpc("evm_mine")
    env.rpc("anvil_reorg", 3, [])  # the rebalance's block is replaced by empty blocks
    assert env.rebalance_count() == 0
    assert env.stack.vault.functions.needs_rebalance().call()[0]
    k.cycle()
    assert any(e["action"] == "reorg" for e in env.events())
    k.cycle()
    assert env.rebalance_count() == 1
    assert not env.stack.vault.functions.needs_rebalance().call()[0]
    assert _keeper_txs(env) == 1  # the same signed transaction, not a second one


@pytest.mark.parametrize("kill_at", ["before-broadcast", "before-receipt"])
def test_killed_keeper_restarted_never_double_submits(env: Env, kill_at: str):
    env.advance(2 * 86_400)
    env.move({1: 1.35, 3: 0.75})
    k = env.keeper(stuck_after=3600, receipt_timeout=0.3)
    if kill_at == "before-broadcast":

        def boom(sid: int) -> None:
            raise Killed

        k._broadcast = boom  # type: ignore[method-assign]
    else:
        set_automine(env.w3, False)

        def boom2(groups: list[list[str]]) -> None:
            raise Killed

        k._wait_receipts = boom2  # type: ignore[method-assign]
    with pytest.raises(Killed):
        k.cycle()
    k.journal.close()
    assert env.rebalance_count() == 0
    k2 = env.keeper(stuck_after=3600, receipt_timeout=0.3)
    k2.cycle()  # finds the journalled submission: re-broadcasts the same bytes or waits for it
    if kill_at == "before-receipt":
        assert any(e["action"] == "skip" and "in-flight" in e["detail"] for e in env.events())
        env.rpc("evm_mine")
        set_automine(env.w3, True)
        k2.cycle()
    k2.cycle()
    assert env.rebalance_count() == 1
    assert _keeper_txs(env) == 1
    assert [r.status for r in k2.journal.all()] == ["mined"]


def test_circuit_breaker_stops_after_consecutive_failures(env: Env):
    env.deployer.transact(env.stack.vault.functions.set_keeper(env.keeper_addr, False))
    env.advance(2 * 86_400)
    env.move({1: 1.35, 3: 0.75})
    k = env.keeper(max_failures=3)
    with pytest.raises(CircuitOpen, match=r"circuit breaker open: 3 consecutive.*vault: not keeper"):
        k.run()
    assert _keeper_txs(env) == 0


def test_stuck_transaction_is_not_bumped_past_the_fee_cap(env: Env):
    env.advance(2 * 86_400)
    env.move({1: 1.35, 3: 0.75})
    k = env.keeper(receipt_timeout=0.3, stuck_after=0, max_fee_gwei=1.0, priority_fee_gwei=1.0)
    set_automine(env.w3, False)
    k.cycle()
    sent = next(e for e in env.events() if e["action"] == "sent")
    assert sent["max_fee_gwei"] <= 1.0
    k.cycle()  # stuck, but a replacement would have to pay more than the cap: wait
    assert any(e["action"] == "stuck" and "exceed the fee cap" in e["detail"] for e in env.events())
    assert not any(e["action"] == "replaced" for e in env.events())
    env.rpc("evm_mine")
    set_automine(env.w3, True)
    k.cycle()
    assert [e["tx"] for e in env.events() if e["action"] == "rebalanced"] == [sent["tx"]]
