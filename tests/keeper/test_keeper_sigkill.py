"""Issue 11: SIGKILL at random points. A real ``ballast keeper run`` subprocess, talking to Anvil
through seeded faults (delays widen the windows between sign, journal, send and receipt; a block
every 0.7 s keeps sends in flight), is killed 20 times at seeded random moments; after each trigger
the survivor (a fresh keeper on the same journal) finishes the job. Every trigger ends with exactly
one Rebalanced event and one keeper transaction: no double send, and the journal equals the chain."""

from __future__ import annotations

import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from fault_env import MOVES, ScriptedProxy, due, journal_matches_chain, keeper_nonce, rebalanced_between
from keeper_env import DEV_KEY_1, KEY_ENV, Env

from offchain.chain.devchain import set_automine
from offchain.chain.node import connect

ROOT = Path(__file__).resolve().parents[2]
KILLS, TRIGGERS = 20, 10


def _reader(stream, q: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        q.put(line)
    q.put(None)


def _run_and_kill(cmd: list[str], wait: float) -> str:
    """Start the keeper; SIGKILL it ``wait`` seconds after its start line. What happened to it."""
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, KEY_ENV: DEV_KEY_1}, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    q: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, q), daemon=True).start()
    deadline = time.monotonic() + 60
    started = False
    try:
        while time.monotonic() < deadline and not started:
            try:
                line = q.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            started = '"action": "start"' in line
        if started:
            time.sleep(wait)
    finally:
        alive = proc.poll() is None
        if alive:
            proc.send_signal(signal.SIGKILL)  # no clean-up at all
            proc.wait(10)
    if alive:
        return "killed" if started else "killed before start"
    return f"exited {proc.returncode}"


def _mine_every(env: Env, seconds: float, stop: threading.Event) -> None:
    w3 = connect(env.node.url)  # its own connection: the test thread keeps env.w3
    while not stop.wait(seconds):
        try:
            w3.provider.make_request("evm_mine", [])
        except Exception:  # noqa: BLE001 - the node is going away with the test
            return


def _open_rows(journal: str) -> int:
    if not Path(journal).exists():
        return 0
    db = sqlite3.connect(journal)
    try:
        return int(
            db.execute("SELECT COUNT(*) FROM submissions WHERE status IN ('signed','sent')").fetchone()[0]
        )
    finally:
        db.close()


def test_twenty_sigkills_at_random_points_never_double_send(env: Env):
    rng = random.Random(20261203)
    proxy = ScriptedProxy(
        env.node.url, seed=5, rate=0.2, max_delay=0.3, kinds=("delay", "drop", "lost_after")
    )
    proxy.start()
    journal = str(env.tmp / "j.sqlite")
    cmd = [
        sys.executable, "-m", "offchain.cli", "keeper", "run", "--manifest", str(env.manifest),
        "--rpc-url", proxy.url, "--private-key-env", KEY_ENV, "--interval", "0.05", "--log-json",
        "--journal", journal, "--receipt-timeout", "2", "--rpc-retries", "4", "--rpc-backoff", "0.05",
        "--max-failures", "1000", "--poll", "0.05",
    ]  # fmt: skip
    outcomes: list[str] = []
    states: Counter[str] = Counter()  # where the kills landed
    per_trigger = []
    try:
        for i in range(TRIGGERS):
            env.advance(2 * 86_400)
            env.move(MOVES[i % 2])
            assert due(env)
            lo, n0 = env.w3.eth.block_number + 1, keeper_nonce(env)
            set_automine(env.w3, False)  # a block every 0.7 s: kills land with a send in flight
            stop = threading.Event()
            miner = threading.Thread(target=_mine_every, args=(env, 0.7, stop), daemon=True)
            miner.start()
            for _ in range(2 * KILLS // TRIGGERS):  # a start refused by a fault (exit 2) is tried again
                if outcomes.count("killed") >= (i + 1) * KILLS // TRIGGERS:
                    break
                was_due = due(env)
                outcomes.append(_run_and_kill(cmd, rng.uniform(0.0, 2.0)))
                if outcomes[-1] == "killed":
                    open_rows = _open_rows(journal)
                    states["in flight"] += open_rows > 0
                    states["before the send"] += was_due and open_rows == 0 and due(env)
                    states["after the rebalance"] += not due(env) and open_rows == 0
            k = env.keeper(
                rpc_url=proxy.url, journal=journal, rpc_retries=4, max_failures=1000, receipt_timeout=2.0
            )
            for _ in range(30):  # the survivor finishes whatever the killed ones left
                k.run_cycle()
                if not due(env) and not k.journal.open(k.chain_id):
                    break
            k.close()
            per_trigger.append(
                (len(rebalanced_between(env, lo, env.w3.eth.block_number)), keeper_nonce(env) - n0)
            )
        k = env.keeper(rpc_url=env.node.url, journal=journal)
        problems = journal_matches_chain(env, k.journal)
        k.close()
    finally:
        proxy.stop()
    print("SIGKILL", outcomes.count("killed"), "kills;", dict(states), per_trigger, dict(proxy.injected))
    assert outcomes.count("killed") >= KILLS, outcomes
    assert per_trigger == [(1, 1)] * TRIGGERS, per_trigger  # one rebalance, one transaction per trigger
    assert problems == []
