"""Issue 11 (keeper half): never a second send, never a wedge. Each numbered bug has a focused test
with one scripted fault between the keeper and Anvil (``ScriptedProxy``, a seeded ``FaultProxy``);
then a soak: 30 due rebalances through 30 % seeded faults, 0 duplicate sends, 0 wedged vaults,
the journal equal to the chain."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from fault_env import MOVES, ScriptedProxy, due, journal_matches_chain, keeper_nonce, rebalanced_between
from keeper_env import KEY_ENV, ON_GANACHE, Env

from offchain.chain.devchain import set_automine
from offchain.chain.node import Anvil, Ganache, connect
from offchain.cli import main


@pytest.fixture
def proxy(env: Env) -> Iterator[ScriptedProxy]:
    p = ScriptedProxy(env.node.url, seed=11, max_delay=0.05).start()
    try:
        yield p
    finally:
        p.stop()


def _keeper(env: Env, proxy: ScriptedProxy, **kw):
    base = dict(rpc_url=proxy.url, rpc_retries=3, rpc_backoff=0.02, receipt_timeout=2.0, max_failures=1000)
    base.update(kw)
    return env.keeper(**base)


def _events(env: Env, action: str) -> list[dict]:
    return [e for e in env.events() if e["action"] == action]


def _make_due(env: Env, i: int = 0) -> None:
    env.advance(2 * 86_400)
    env.move(MOVES[i % 2])
    assert due(env)


def test_bug1_lost_send_answer_is_not_a_second_rebalance(env: Env, proxy: ScriptedProxy):
    """The node mines the rebalance, the answer is lost; the client's retry hears "nonce too low"."""
    k = _keeper(env, proxy)
    _make_due(env)
    proxy.fault("eth_sendRawTransaction", "lost_after")
    k.run_cycle()
    k.run_cycle()
    assert proxy.injected["lost_after"] == 1
    assert env.rebalance_count() == 1
    assert keeper_nonce(env) == 1, "a second transaction was signed for the same trigger"
    assert not _events(env, "failed"), _events(env, "failed")
    assert [r.status for r in k.journal.all()] == ["mined"]
    assert journal_matches_chain(env, k.journal) == []


def test_bug2_refused_send_then_identical_bytes_do_not_wedge_the_vault(env: Env, proxy: ScriptedProxy):
    """A send refused by a JSON-RPC error; the next cycle has the very same signed bytes."""
    k = _keeper(env, proxy)
    _make_due(env)
    proxy.fault("eth_sendRawTransaction", "rpc_error")
    for _ in range(4):
        k.run_cycle()
    assert env.rebalance_count() == 1 and keeper_nonce(env) == 1
    rows = k.journal.all()
    assert len({r.tx_hash for r in rows}) == len(rows) == 1
    assert [r.status for r in rows] == ["mined"]
    assert len(_events(env, "rebalanced")) == 1, "rebalanced logged more than once"
    assert k.metrics.rebalances == 1
    assert not any(e["action"] == "skip" and "in-flight" in e["detail"] for e in env.events()[-4:])


def test_bug3_failed_receipt_batch_is_not_a_missing_receipt(env: Env, proxy: ScriptedProxy):
    """The nonce moved on; the receipt query fails: not "nonce used by another transaction"."""
    k = _keeper(env, proxy, receipt_timeout=0.3, stuck_after=3600)
    _make_due(env)
    set_automine(env.w3, False)
    k.run_cycle()  # sent, no receipt within the cycle
    env.rpc("evm_mine")
    set_automine(env.w3, True)
    proxy.fault("eth_getTransactionReceipt", "rpc_error")
    k.run_cycle()
    k.run_cycle()
    nonce_fails = [e for e in _events(env, "failed") if e.get("kind") == "nonce"]
    assert nonce_fails == []
    assert [r.status for r in k.journal.all()] == ["mined"]
    assert len(_events(env, "rebalanced")) == 1
    assert k.metrics.failures.get("nonce", 0) == 0


def test_bug4_null_receipt_from_a_lagging_node_is_not_a_reorg(env: Env, proxy: ScriptedProxy):
    k = _keeper(env, proxy)
    _make_due(env)
    k.run_cycle()
    assert env.rebalance_count() == 1
    env.rpc("evm_mine")
    proxy.fault("eth_getTransactionReceipt", "null_receipt", times=5)
    k.run_cycle()
    k.run_cycle()
    assert _events(env, "reorg") == []
    assert [r.status for r in k.journal.all()] == ["mined"]
    assert k.metrics.failures.get("reorg", 0) == 0


def test_bug6_journal_knows_a_chain_by_its_genesis(env: Env):
    """A local chain reset (same chain id 31337, another genesis): no false reorg for the old chain's rows."""
    k = env.keeper()
    _make_due(env)
    k.cycle()
    assert [r.status for r in k.journal.all()] == ["mined"]
    k.close()
    env.node.stop()
    # the reset chain, still empty (a fresh Ganache's genesis is stamped now: another hash too)
    env.node = (Ganache() if ON_GANACHE else Anvil(extra_args=("--timestamp", "1000"))).start()
    env.w3 = connect(env.node.url)
    assert env.rpc("eth_getBlockByNumber", "0x0", False)["hash"] != k.genesis
    k2 = env.keeper(rpc_url=env.node.url)
    k2.cycle()  # the lens is not deployed yet: its read fails, but the journal is not this chain's
    assert _events(env, "reorg") == []
    assert [r.status for r in k2.journal.all()] == ["mined"]  # the old chain's row, untouched
    assert k2.journal.open(k2.chain_id) == [] and k2.journal.recent_mined(k2.chain_id, 0) == []
    k2.close()


def test_bug6_a_vault_address_that_is_not_a_vault_is_exit_2(env: Env, capsys):
    token = env.stack.tokens[0].address
    argv = ["keeper", "run", "--once", "--manifest", str(env.manifest), "--rpc-url", env.node.url,
            "--private-key-env", KEY_ENV, "--journal", str(env.tmp / "j.sqlite"),
            "--vault", token]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a vault" in err[0], err
    eoa = env.w3.eth.accounts[5]
    assert main([*argv[:-1], eoa]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no contract code" in err[0], err


def test_bug6_no_trigger_names_its_reason(env: Env):
    k = env.keeper()

    def last_skip() -> dict:
        return [e for e in env.events() if e["action"] == "skip"][-1]

    k.cycle()  # just deposited: the vault's cooldown runs
    assert last_skip()["detail"].startswith("no-trigger (cooldown until "), last_skip()
    env.advance(2 * 86_400)
    env.refresh_feeds()
    k.cycle()
    assert last_skip()["detail"].startswith("no-trigger (below threshold: drift "), last_skip()
    _make_due(env)
    k.cycle()
    assert env.rebalance_count() == 1
    env.move(MOVES[1])  # past the threshold again, within the cooldown: the line says so
    k.cycle()
    skip = last_skip()
    assert skip["detail"].startswith("no-trigger (cooldown until "), skip
    assert skip["drift_bps"] >= 500


def test_bug6_journal_is_indexed_and_pruned(env: Env):
    k = env.keeper(journal_retention=60.0)
    _make_due(env)
    k.cycle()
    (row,) = k.journal.all()
    k.journal.update(row.id, status="dropped")
    k.journal.db.execute("UPDATE submissions SET updated_at = ? WHERE id = ?", (time.time() - 120, row.id))
    plan = k.journal.db.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM submissions WHERE chain_id = ? AND genesis IS ? AND vault = ?"
        " AND status IN ('signed','sent') ORDER BY id",
        (31337, k.genesis, "x"),
    ).fetchall()
    assert any("USING INDEX" in str(p[-1]) for p in plan), plan
    assert k.prune() == 1
    assert k.journal.all() == []


def test_soak_30_due_rebalances_under_30_percent_faults(env: Env, proxy: ScriptedProxy):
    """At least 30 due rebalances through >= 25 % seeded faults (every kind): each done exactly once
    (one Rebalanced event, one keeper transaction per trigger), no wedged vault, journal == chain."""
    k = _keeper(env, proxy, rpc_retries=4)
    proxy.rate = 0.30
    triggers, per_trigger, cycles = 30, [], 0
    t0 = time.monotonic()
    for i in range(triggers):
        _make_due(env, i)
        lo, n0 = env.w3.eth.block_number + 1, keeper_nonce(env)
        for _ in range(60):
            k.run_cycle()
            cycles += 1
            if not due(env) and not k.journal.open(k.chain_id):
                break
        hi = env.w3.eth.block_number
        per_trigger.append((len(rebalanced_between(env, lo, hi)), keeper_nonce(env) - n0))
    proxy.rate = 0.0
    k.run_cycle()
    faults = sum(proxy.injected.values())
    figures = {
        "triggers_due": triggers,
        "rebalances_done": sum(e for e, _ in per_trigger),
        "keeper_txs": sum(s for _, s in per_trigger),
        "cycles": cycles,
        "requests": proxy.requests,
        "faults": faults,
        "fault_rate": round(faults / max(proxy.requests, 1), 3),
        "by_kind": dict(proxy.injected),
        "seconds": round(time.monotonic() - t0, 1),
    }
    print("SOAK", json.dumps(figures))
    assert set(proxy.injected) >= {"drop", "lost_after", "rpc_error", "null_receipt", "truncate"}
    assert faults / proxy.requests >= 0.25 * 0.9  # ~30 % of requests drawn, a few kinds do not apply
    assert per_trigger == [(1, 1)] * triggers, per_trigger  # 0 duplicates, every due rebalance done
    assert not due(env) and k.journal.open(k.chain_id) == []  # 0 wedged vaults
    assert journal_matches_chain(env, k.journal) == []
