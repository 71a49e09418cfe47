"""The demo's year (``offchain.devnet.year``, ``scripts/demo.py``): its prices come from the
simulator's scenarios, a short year on Anvil writes a report whose rebalances are the chain's, and
bad input is one line with exit code 2 before any node starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from offchain.chain.node import chain_kind
from offchain.core.errors import InputError
from offchain.devnet.year import CALIBRATION_DAYS, STAND_INS, YearConfig, price_paths
from offchain.quant.data import sp500

ROOT = Path(__file__).resolve().parents[2]


def test_gbm_paths_start_at_one_and_depend_only_on_the_seed():
    a, desc = price_paths(YearConfig(days=50, seed=3))
    b, _ = price_paths(YearConfig(days=50, seed=3))
    c, _ = price_paths(YearConfig(days=50, seed=4))
    assert a.shape == (51, 3) and np.all(a[0] == 1.0) and np.all(a > 0)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert "GBM (seed 3)" in desc and "AMD" in desc


def test_gbm_volatility_is_the_stand_ins_and_scales():
    days = 2_000
    r = np.diff(np.log(sp500()[list(STAND_INS.values())].to_numpy(float)), axis=0)[-CALIBRATION_DAYS:]
    want = r.std(axis=0, ddof=1)
    for scale in (1.0, 2.0):
        m, _ = price_paths(YearConfig(days=days, seed=11, vol_scale=scale))
        got = np.diff(np.log(m), axis=0).std(axis=0, ddof=1)
        # 2,000 daily draws: the sample sd is within ~5 % of the calibrated one (3.2 sigma is 5 %)
        np.testing.assert_allclose(got, want * scale, rtol=0.05)


def test_zero_drift_has_no_expected_simple_return():
    m, desc = price_paths(YearConfig(days=2_000, seed=5, zero_drift=True))
    simple = m[1:] / m[:-1] - 1
    sd = simple.std(axis=0)
    assert np.all(np.abs(simple.mean(axis=0)) < 4 * sd / np.sqrt(len(simple)))
    assert "zero drift" in desc


def test_replay_is_the_stand_ins_real_prices():
    days = 60
    m, desc = price_paths(YearConfig(days=days, replay=True))
    px = sp500()[list(STAND_INS.values())].to_numpy(float)[-days - 1 :]
    np.testing.assert_allclose(m, px / px[0], rtol=1e-12)
    assert desc.startswith("replay of AMD, RRC, GE")


def test_replay_longer_than_the_sample_is_refused():
    with pytest.raises(InputError, match="fewer --days"):
        price_paths(YearConfig(days=CALIBRATION_DAYS + 1, replay=True))


def demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_short_year_reports_the_rebalances_the_chain_holds(tmp_path):
    out = tmp_path / "demo"
    proc = demo("--days", "45", "--seed", "7", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "demo.json").read_text())
    html = (out / "report.html").read_text()
    assert f"{chain_kind().capitalize()} stopped" in proc.stdout  # Anvil, or Ganache (make test-ganache)
    assert doc["rebalances"], "45 days at seed 7 cross the calendar (30 d) at least once"
    assert f"Every rebalance ({len(doc['rebalances'])})" in proc.stdout
    summary = {row[0]: row[1:] for row in doc["summary"]}
    assert summary["rebalances"] == [str(len(doc["rebalances"])), "0"]
    for r in doc["rebalances"]:
        assert r["drift_after"] <= r["drift_before"] and r["swaps"] >= 1 and r["gas"] > 0
    assert html.count("data:image/png;base64,") == 3 and "<script" not in html


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--days", "0"], {}, "--days must be between 1 and 2000"),
        (["--days", "x"], {}, "argument --days: invalid int value"),
        ([], {"BALLAST_DEMO_DAYS": "abc"}, "BALLAST_DEMO_DAYS='abc' is not an integer"),
        (["--policy", "nonsense"], {}, "unknown policy 'nonsense'"),
        (["--vol-scale", "0"], {}, "--vol-scale must be positive"),
        (["--replay", "--days", "1300"], {}, "fewer --days"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, env, message):
    proc = demo(*args, env=env)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message in proc.stderr and "Traceback" not in proc.stderr
    assert "Anvil" not in proc.stdout  # refused before any node started
