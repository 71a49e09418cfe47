"""The README's demo command runs, on the chain it says: ``make demo`` and ``make demo CHAIN=ganache``
with their steps replaced by a line that prints the chain and EVM version they export. (A bad
variable in the Makefile shows only when a recipe runs: ``make -n`` does not catch it.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOW = "PY=sh -c 'echo chain=$$BALLAST_CHAIN evm=$${BALLAST_EVM_VERSION:-prague}'"

pytestmark = pytest.mark.skipif(
    shutil.which("make") is None or not (ROOT / ".venv" / ".installed").exists(),
    reason="needs make and an installed checkout (make install)",
)


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("BALLAST_EVM_VERSION", "BALLAST_CHAIN", "MAKEFLAGS")
    }
    return subprocess.run(
        ["make", "-s", "demo", "COMPILE=true", SHOW, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_make_demo_runs_on_anvil_for_prague():
    r = run_demo()
    assert r.returncode == 0, r.stderr
    assert "chain=anvil evm=prague" in r.stdout


def test_make_demo_chain_ganache_runs_on_ganache_for_shanghai():
    r = run_demo("CHAIN=ganache")
    assert r.returncode == 0, r.stderr
    assert "chain=ganache evm=shanghai" in r.stdout
