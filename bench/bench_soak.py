"""Soak: the keeper through the seeded fault proxy for hundreds of due rebalances (issue 11).

For each fault rate (``--rates``, default 10 %, 30 % and 60 % of requests, every fault kind), a fresh
Anvil + local stack, one keeper talking to Anvil only through ``offchain.devnet.faultproxy``, and
``--triggers`` price moves that each make the vault due. Per trigger it counts the vault's
Rebalanced events and the keeper's transactions (nonce delta): exactly (1, 1) is right; more is a
duplicate send, none is a missed rebalance. At the end it checks that no vault is left wedged (due,
or a journal row still open) and that the journal equals the chain. Memory (RSS) is sampled.
Run: ``.venv/bin/python bench/bench_soak.py [--triggers 100 --rates 0.1,0.3,0.6 --seed 11]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "keeper"))  # the keeper tests' local-stack helpers

from fault_env import MOVES, ScriptedProxy, due, journal_matches_chain, keeper_nonce, rebalanced_between  # noqa: E402
from keeper_env import make_env  # noqa: E402


class _Env:
    """What ``make_env`` needs of pytest's monkeypatch: ``setenv``."""

    @staticmethod
    def setenv(name: str, value: str) -> None:
        os.environ[name] = value


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def soak(rate: float, triggers: int, seed: int, tmp: Path) -> dict:
    env = make_env(tmp, _Env())
    proxy = ScriptedProxy(env.node.url, seed=seed, max_delay=0.05).start()
    try:
        k = env.keeper(
            rpc_url=proxy.url, rpc_retries=4, rpc_backoff=0.02, receipt_timeout=2.0, max_failures=10**6
        )
        proxy.rate = rate
        rss0, t0, cycles, per_trigger = rss_mb(), time.monotonic(), 0, []
        for i in range(triggers):
            env.advance(2 * 86_400)
            env.move(MOVES[i % 2])
            lo, n0 = env.w3.eth.block_number + 1, keeper_nonce(env)
            for _ in range(60):
                k.run_cycle()
                cycles += 1
                if not due(env) and not k.journal.open(k.chain_id):
                    break
            per_trigger.append(
                (len(rebalanced_between(env, lo, env.w3.eth.block_number)), keeper_nonce(env) - n0)
            )
            if (i + 1) % 25 == 0:
                print(f"  rate {rate:.0%}: {i + 1}/{triggers} triggers", file=sys.stderr)
        proxy.rate = 0.0
        k.run_cycle()
        faults = sum(proxy.injected.values())
        return {
            "rate": rate,
            "triggers_due": triggers,
            "rebalances_done": sum(1 for e, _ in per_trigger if e >= 1),
            "duplicate_sends": sum(max(0, s - 1) for _, s in per_trigger)
            + sum(max(0, e - 1) for e, _ in per_trigger),
            "missed": sum(1 for e, _ in per_trigger if e == 0),
            "wedged_vaults": int(due(env) or bool(k.journal.open(k.chain_id))),
            "journal_vs_chain": journal_matches_chain(env, k.journal),
            "cycles": cycles,
            "requests": proxy.requests,
            "faults": faults,
            "faults_by_kind": dict(sorted(proxy.injected.items())),
            "rss_mb_start": round(rss0, 1),
            "rss_mb_end": round(rss_mb(), 1),
            "seconds": round(time.monotonic() - t0, 1),
        }
    finally:
        proxy.stop()
        env.node.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--triggers", type=int, default=100, help="due rebalances per fault rate (default: 100)")
    ap.add_argument(
        "--rates", default="0.1,0.3,0.6", help="fault rates, comma-separated (default: 0.1,0.3,0.6)"
    )
    ap.add_argument("--seed", type=int, default=11, help="fault proxy seed (default: 11)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON (default: a table)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the retries are the point here: count them, do not print them
    rows = []
    for n, rate in enumerate(float(r) for r in args.rates.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(soak(rate, args.triggers, args.seed + n, Path(tmp)))
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    head = f"{'fault rate':>10} {'due':>5} {'done':>5} {'dup sends':>9} {'wedged':>6} {'journal=chain':>13}"
    head += f" {'cycles':>6} {'requests':>8} {'faults':>6} {'RSS MB start/end':>16} {'s':>6}"
    print(head)
    for r in rows:
        ok = "yes" if not r["journal_vs_chain"] else "NO"
        rss = f"{r['rss_mb_start']}/{r['rss_mb_end']}"
        print(
            f"{r['rate']:>10.0%} {r['triggers_due']:>5} {r['rebalances_done']:>5} {r['duplicate_sends']:>9} "
            f"{r['wedged_vaults']:>6} {ok:>13} {r['cycles']:>6} {r['requests']:>8} {r['faults']:>6} "
            f"{rss:>16} {r['seconds']:>6}"
        )
    bad = any(
        r["duplicate_sends"] or r["wedged_vaults"] or r["missed"] or r["journal_vs_chain"] for r in rows
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
