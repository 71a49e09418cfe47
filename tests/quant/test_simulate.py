"""``ballast simulate``: the example scenario runs, scenario kinds, overrides, and bad configs exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from offchain.cli import main
from offchain.cli.backtest import progress_bar
from offchain.cli.simulate import load_config
from offchain.quant.scenarios import BootstrapScenario, GBMScenario

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scenario.toml"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_example_scenario_is_valid() -> None:
    cfg = load_config(EXAMPLE)
    assert isinstance(cfg.scenario, GBMScenario) and cfg.scenario.n_assets == 4
    assert cfg.weights.sum() == pytest.approx(1.0) and len(cfg.policies) >= 4
    assert cfg.paths >= 1000 and cfg.scenario.n_steps == 2520


def test_simulate_example_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sim"
    code, stdout, err = _run(
        ["simulate", "--config", str(EXAMPLE), "--paths", "40", "--steps", "300", "--out", str(out)], capsys
    )
    assert code == 0, err
    assert "threshold:500bps" in stdout and "percentile" in stdout
    for name in ("value.png", "weights.png", "drift.png", "costs.png", "report.html", "results.json"):
        assert (out / name).stat().st_size > 0
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 4


def test_simulate_json_is_deterministic(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BALLAST_SIMULATE_CONFIG", str(EXAMPLE))
    monkeypatch.setenv("BALLAST_SIMULATE_PATHS", "25")
    monkeypatch.setenv("BALLAST_SIMULATE_STEPS", "200")
    monkeypatch.setenv("BALLAST_SIMULATE_POLICY", "threshold:300bps;calendar:monthly")
    monkeypatch.setenv("BALLAST_SIMULATE_JSON", "1")
    monkeypatch.setenv("BALLAST_SIMULATE_NO_REPORT", "1")
    code, a, err = _run(["simulate"], capsys)
    assert code == 0, err
    code, b, _ = _run(["simulate"], capsys)
    da, db = json.loads(a), json.loads(b)
    assert da["policies"] == db["policies"]
    assert [p["policy"] for p in da["policies"]] == ["threshold:300bps", "calendar:monthly"]
    s = da["policies"][0]["summary"]
    assert s["final_value"]["p5"] <= s["final_value"]["p50"] <= s["final_value"]["p95"]
    assert da["paths"] == 25 and da["policies"][0]["paths"] == 25
    code, c, _ = _run(["simulate", "--seed", "99"], capsys)
    assert json.loads(c)["policies"] != da["policies"]


def _config(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(body)
    return p


GOOD = """
policies = ["threshold:500bps"]
[simulation]
paths = 10
steps = 100
[assets]
names = ["A", "B"]
weights = [0.5, 0.5]
[scenario]
kind = "gbm"
drift = [0.1, 0.0]
vol = [0.5, 0.1]
"""


def test_bootstrap_and_historical_configs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    px = pd.DataFrame(
        100 * np.exp(np.cumsum(rng.normal(0, 0.02, size=(260, 2)), axis=0)),
        index=pd.bdate_range("2021-01-01", periods=260, name="date"),
        columns=["A", "B"],
    )
    px.to_csv(tmp_path / "hist.csv")
    body = GOOD.replace(
        'kind = "gbm"\ndrift = [0.1, 0.0]\nvol = [0.5, 0.1]',
        'kind = "bootstrap"\nprices = "hist.csv"\nblock = 5',
    )
    cfg = load_config(_config(tmp_path, body))
    assert isinstance(cfg.scenario, BootstrapScenario) and cfg.scenario.n_steps == 100
    code, stdout, err = _run(
        ["simulate", "--config", str(tmp_path / "s.toml"), "--no-report", "--json"], capsys
    )
    assert code == 0, err and json.loads(stdout)["policies"][0]["paths"] == 10
    body = body.replace('kind = "bootstrap"', 'kind = "historical"').replace("block = 5", "")
    code, stdout, err = _run(
        ["simulate", "--config", str(_config(tmp_path, body)), "--no-report", "--json"], capsys
    )
    assert code == 0, err
    assert json.loads(stdout)["policies"][0]["paths"] == 1


BAD = {
    "invalid toml": "policies = [\n",
    "unknown top-level key": GOOD + "\nextra = 1\n",
    "unknown key in table": GOOD.replace("paths = 10", "pathz = 10"),
    "unknown policy": GOOD.replace("threshold:500bps", "sometimes"),
    "unknown objective": GOOD.replace("threshold:500bps", "dynamic:21,max-fun"),
    "weights sum": GOOD.replace("[0.5, 0.5]", "[0.5, 0.6]"),
    "weights count": GOOD.replace("[0.5, 0.5]", "[1.0]"),
    "vol count": GOOD.replace("vol = [0.5, 0.1]", "vol = [0.5]"),
    "bad correlation": GOOD + "correlation = [[1.0, 2.0], [2.0, 1.0]]\n",
    "bad kind": GOOD.replace('kind = "gbm"', 'kind = "levy"'),
    "negative paths": GOOD.replace("paths = 10", "paths = -1"),
    "string steps": GOOD.replace("steps = 100", 'steps = "many"'),
    "bad fee": GOOD + "[costs]\nfee_bps = -5\n",
    "unknown cost": GOOD + "[costs]\nfees = 5\n",
    "missing prices": GOOD.replace('kind = "gbm"', 'kind = "bootstrap"\nprices = "nope.csv"'),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_configs_exit_2_with_one_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, BAD[case])
    code, stdout, err = _run(["simulate", "--config", str(path), "--no-report"], capsys)
    assert code == 2, (case, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ballast: error:"), err
    assert stdout == ""


def test_bad_simulate_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _config(tmp_path, GOOD)
    for argv in (
        ["simulate"],
        ["simulate", "--config", str(tmp_path / "missing.toml")],
        ["simulate", "--config", str(good), "--paths", "0"],
        ["simulate", "--config", str(good), "--paths", "ten"],
        ["simulate", "--config", str(good), "--policy", "nope"],
    ):
        code, _, err = _run([*argv, "--no-report"], capsys)
        assert code == 2, argv
        assert len(err.strip().splitlines()) == 1 and err.startswith("ballast: error:"), err


def test_progress_bar_only_for_long_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar(10, 1_000, False, "x") as adv:
        assert adv is None
    with progress_bar(10, 10**9, True, "x") as adv:
        assert adv is None  # --no-progress
    with progress_bar(10, 10**9, False, "x") as adv:
        assert callable(adv)
        adv(10)
    assert capsys.readouterr().out == ""  # the bar never writes to stdout
