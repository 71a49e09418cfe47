"""Benchmark: start-up time of ``ballast`` and each sub-command's ``--help`` (target: <= 0.3 s).

Each command line runs ``--runs`` times as a fresh ``python -m offchain.cli`` process (what the
``ballast`` entry point runs); the table shows the median and worst wall time, and the ratio to a
bare ``python -c pass`` start in the same run (the floor no CLI can beat).
Run: ``.venv/bin/python bench/bench_cli.py [--runs 15]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 0.3
COMMANDS = [
    ["--help"],
    ["optimize", "--help"],
    ["backtest", "--help"],
    ["simulate", "--help"],
    ["keeper", "--help"],
    ["keeper", "run", "--help"],
    ["keeper", "targets", "--help"],
    ["audit", "--help"],
]


def timed(argv: list[str], runs: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(
            argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
        )
        out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15, help="runs per command line (default: 15)")
    args = ap.parse_args()
    machine = f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores"
    print(f"{machine}, {args.runs} runs each")
    bare = statistics.median(timed([sys.executable, "-c", "pass"], args.runs))
    print(f"bare `python -c pass`: {bare:.3f} s (median)\n")
    print(f"{'command':<28} {'median s':>9} {'worst s':>8} {'x bare':>7}  target <= {TARGET_S} s")
    worst_median = 0.0
    for cmd in COMMANDS:
        times = timed([sys.executable, "-m", "offchain.cli", *cmd], args.runs)
        med = statistics.median(times)
        worst_median = max(worst_median, med)
        label = "ballast " + " ".join(cmd)
        verdict = "met" if med <= TARGET_S else "NOT met"
        print(f"{label:<28} {med:>9.3f} {max(times):>8.3f} {med / bare:>7.1f}  {verdict}")
    print(f"\nslowest median: {worst_median:.3f} s ({'met' if worst_median <= TARGET_S else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
