"""``ballast optimize``: output, env-var equivalents, and one clear stderr line + exit 2 for bad input."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from offchain.cli import build_parser, main
from offchain.quant import estimators as est
from offchain.quant.data import sp500
from offchain.quant.optimize import optimize


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("BALLAST_") and key != "BALLAST_HYPOTHESIS_PROFILE":
            monkeypatch.delenv(key)


WINDOW = ["--start", "2019-01-01", "--end", "2022-12-28"]


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert main(argv) == 0
    out = capsys.readouterr().out
    return json.loads(out)


def _fail(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as info:
        code = main(argv)
        raise SystemExit(code)
    assert info.value.code == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("ballast: error: ")
    assert "Traceback" not in err
    return lines[0]


def test_json_output_matches_library(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["optimize", "sp500", *WINDOW, "--cov", "ledoit-wolf", "--bounds", "0:0.3", "--risk-free", "0.02"]
    data = _json(capsys, [*argv, "--json"])
    assert data["objective"] == "max-sharpe" and data["cov_method"] == "ledoit-wolf"
    assert data["start"] == "2019-01-02" and data["end"] == "2022-12-28"
    assert sum(data["bps"].values()) == 10_000
    assert sum(data["weights"].values()) == pytest.approx(1.0, abs=1e-12)
    prices = sp500().loc["2019-01-01":"2022-12-28"]
    pf = optimize(
        est.expected_returns(prices),
        est.covariance(prices, "ledoit-wolf"),
        "max-sharpe",
        bounds=(0, 0.3),
        risk_free_rate=0.02,
    )
    assert data["weights"] == pytest.approx(pf.weights.to_dict(), abs=1e-12)
    assert data["bps"] == {k: int(v) for k, v in pf.bps.items()}
    assert data["sharpe"] == pytest.approx(pf.sharpe)


def test_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["optimize", "sp500", *WINDOW, "--exclude", "XOM,CVX", "--bounds", "0:0.25"]) == 0
    out = capsys.readouterr().out
    for text in ["max-sharpe", "AAPL", "XOM (excluded)", "10000", "expected return", "volatility", "Sharpe"]:
        assert text in out


@pytest.mark.parametrize(
    ("extra", "objective"),
    [
        (["--objective", "min-variance"], "min-variance"),
        (["--objective", "target-volatility", "--target-vol", "0.25"], "target-volatility"),
        (["--objective", "target-return", "--target-return", "0.2"], "target-return"),
        (["--objective", "quadratic-utility", "--risk-aversion", "3"], "quadratic-utility"),
        (["--objective", "max_sharpe", "--returns", "ewma", "--cov", "ewma"], "max-sharpe"),
        (["--objective", "min-vol", "--returns", "geometric", "--trading-days", "260"], "min-variance"),
    ],
)
def test_each_objective_runs(capsys: pytest.CaptureFixture[str], extra: list[str], objective: str) -> None:
    data = _json(capsys, ["optimize", "sp500", *WINDOW, "--json", *extra])
    assert data["objective"] == objective and sum(data["bps"].values()) == 10_000


def test_per_asset_bounds_exclusions_and_turnover(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(
        capsys,
        [
            "optimize",
            "sp500",
            *WINDOW,
            "--json",
            "--bounds",
            "0:0.2,AAPL=0.1:0.3",
            "--exclude",
            "XOM, CVX",
            "--current",
            "AAPL=5000,MSFT=5000",
            "--turnover-penalty",
            "0.002",
        ],
    )
    assert data["weights"]["XOM"] == 0 and data["weights"]["CVX"] == 0
    assert 0.1 - 1e-12 <= data["weights"]["AAPL"] <= 0.3 + 1e-12
    assert data["bps"]["AAPL"] >= 1000
    assert max(v for k, v in data["weights"].items() if k != "AAPL") <= 0.2 + 1e-12
    assert data["current"]["MSFT"] == 0.5 and data["turnover"] > 0
    assert data["excluded"] == ["XOM", "CVX"]


def test_csv_file_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "prices.csv"
    sp500().loc["2021-01-01":, ["AAPL", "KO", "PG", "JNJ"]].to_csv(path)
    data = _json(capsys, ["optimize", str(path), "--objective", "min-variance", "--json"])
    assert list(data["weights"]) == ["AAPL", "KO", "PG", "JNJ"]
    assert data["prices"] == str(path)


def test_env_var_equivalents(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    flags = _json(
        capsys,
        ["optimize", "sp500", *WINDOW, "--json", "--objective", "target-volatility", "--target-vol", "0.2"]
        + ["--cov", "ewma", "--bounds", "0:0.3", "--exclude", "AMD", "--risk-free", "0.01"],
    )
    env = {
        "PRICES": "sp500",
        "START": "2019-01-01",
        "END": "2022-12-28",
        "JSON": "1",
        "OBJECTIVE": "target-volatility",
        "TARGET_VOL": "0.2",
        "COV": "ewma",
        "BOUNDS": "0:0.3",
        "EXCLUDE": "AMD",
        "RISK_FREE": "0.01",
    }
    for key, value in env.items():
        monkeypatch.setenv(f"BALLAST_{key}", value)
    from_env = _json(capsys, ["optimize"])
    assert from_env == flags
    # a flag on the command line wins over the environment
    monkeypatch.setenv("BALLAST_OBJECTIVE", "nonsense")
    data = _json(capsys, ["optimize", "--objective", "min-variance"])
    assert data["objective"] == "min-variance"


def test_every_option_has_help_and_env_var() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    opt = sub.choices["optimize"]
    for action in opt._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and len(action.help) > 15, action.dest
        assert "[env: BALLAST_" in action.help, action.dest
    names = {s for a in opt._actions for s in a.option_strings}
    for flag in [
        "--objective",
        "--cov",
        "--returns",
        "--bounds",
        "--exclude",
        "--risk-free",
        "--target-vol",
        "--target-return",
        "--risk-aversion",
        "--current",
        "--turnover-penalty",
        "--json",
        "--trading-days",
    ]:
        assert flag in names


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "no-date": "px,AAA\n1,2\n",
        "nan": "date,AAA,BBB\n2024-01-02,1,2\n2024-01-03,NaN,2\n2024-01-04,1,2\n",
        "misaligned": "date,AAA,BBB\n2024-01-02,1,2\n2024-01-03,1\n",
        "unsorted": "date,AAA\n2024-01-03,1\n2024-01-02,2\n2024-01-04,2\n",
        "negative": "date,AAA\n2024-01-02,1\n2024-01-03,-2\n2024-01-04,2\n",
    }
    out = {}
    for name, text in files.items():
        out[name] = tmp_path / f"{name}.csv"
        out[name].write_text(text)
    return out


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (["optimize", "{tmp}/missing.csv"], "not found"),
        (["optimize", "{no-date}"], "no date column"),
        (["optimize", "{nan}"], "missing/NaN"),
        (["optimize", "{misaligned}"], "has 2 field"),
        (["optimize", "{unsorted}"], "not in increasing order"),
        (["optimize", "{negative}"], "non-positive"),
        (["optimize"], "no price data given"),
        (["optimize", "sp500", "--objective", "max-return"], "unknown objective 'max-return'"),
        (["optimize", "sp500", "--cov", "robust"], "unknown covariance estimator"),
        (["optimize", "sp500", "--returns", "median"], "unknown return estimator"),
        (["optimize", "sp500", "--bounds", "0:0.04"], "bounds are infeasible"),
        (["optimize", "sp500", "--bounds", "0.1:1"], "lower bounds sum to 2 > 1"),
        (["optimize", "sp500", "--bounds", "0..0.4"], "not lo:hi"),
        (["optimize", "sp500", "--bounds", "ZZZ=0:0.4"], "unknown asset"),
        (["optimize", "sp500", "--exclude", "ZZZ"], "cannot exclude unknown asset"),
        (["optimize", "sp500", "--risk-free", "abc"], "risk-free rate must be a number"),
        (["optimize", "sp500", "--risk-free", "5"], "no allowed portfolio has an expected return above"),
        (["optimize", "sp500", "--objective", "target-volatility"], "needs a target volatility"),
        (
            ["optimize", "sp500", "--objective", "target-volatility", "--target-vol", "0.01"],
            "minimum achievable",
        ),
        (["optimize", "sp500", "--objective", "target-return", "--target-return", "3"], "highest achievable"),
        (["optimize", "sp500", "--target-vol", "-1"], "must be > 0"),
        (["optimize", "sp500", "--turnover-penalty", "0.01"], "needs --current"),
        (["optimize", "sp500", "--current", "0.5,0.5"], "expected 20 weights"),
        (["optimize", "sp500", "--current", "AAPL=0.5"], "sum to 0.5"),
        (["optimize", "sp500", "--current", "AAPL=x"], "must hold numbers"),
        (["optimize", "sp500", "--start", "2030-01-01"], "widen the window"),
        (["optimize", "sp500", "--start", "yesterday-ish"], "not a date"),
        (["optimize", "sp500", "--trading-days", "0"], "must be > 0"),
        (["optimize", "sp500", "--frobnicate"], "unrecognized arguments"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], pattern: str
) -> None:
    files = {k: str(v) for k, v in _bad_files(tmp_path).items()}
    argv = [a.format(tmp=tmp_path, **files) for a in argv]
    line = _fail(capsys, argv)
    assert pattern in line, line


@pytest.mark.parametrize(
    ("key", "value", "pattern"),
    [
        ("OBJECTIVE", "bogus", "unknown objective 'bogus'"),
        ("RISK_FREE", "1e", "risk-free rate must be a number"),
        ("JSON", "maybe", "BALLAST_JSON"),
        ("COV", "nope", "unknown covariance estimator"),
    ],
)
def test_bad_env_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], key: str, value: str, pattern: str
) -> None:
    monkeypatch.setenv(f"BALLAST_{key}", value)
    assert pattern in _fail(capsys, ["optimize", "sp500", *WINDOW])


def test_singular_covariance_from_duplicate_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = sp500().loc["2021-01-01":, ["AAPL", "KO", "PG"]].copy()
    prices["AAPL_COPY"] = prices["AAPL"] * 2.0
    path = tmp_path / "dup.csv"
    prices.to_csv(path)
    line = _fail(capsys, ["optimize", str(path), "--objective", "min-variance"])
    assert "singular" in line and "ledoit-wolf" in line and "AAPL~AAPL_COPY" in line
    # shrinkage fixes it
    data = _json(
        capsys, ["optimize", str(path), "--objective", "min-variance", "--cov", "ledoit-wolf", "--json"]
    )
    assert np.isclose(sum(data["weights"].values()), 1.0)


def test_constant_price_column_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prices = sp500().loc["2022-01-01":, ["KO", "PG"]].copy()
    prices["STABLE"] = 1.0
    path = tmp_path / "const.csv"
    prices.to_csv(path)
    line = _fail(capsys, ["optimize", str(path), "--objective", "min-variance"])
    assert "constant (zero-variance) price series STABLE" in line
    # excluding it is the fix
    data = _json(
        capsys, ["optimize", str(path), "--objective", "min-variance", "--exclude", "STABLE", "--json"]
    )
    assert data["weights"]["STABLE"] == 0.0 and data["bps"]["STABLE"] == 0


def test_exclusion_list_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    esg = tmp_path / "esg.txt"
    esg.write_text("# fossil fuels\nXOM\nCVX  # integrated oil\n\nRRC\n")
    data = _json(capsys, ["optimize", "sp500", *WINDOW, "--exclude", f"@{esg}", "--json"])
    assert data["excluded"] == ["XOM", "CVX", "RRC"]
    assert all(data["bps"][t] == 0 for t in ["XOM", "CVX", "RRC"])
    line = _fail(capsys, ["optimize", "sp500", "--exclude", f"@{tmp_path}/missing.txt"])
    assert "cannot read exclusion list" in line


def test_command_prefixed_env_vars_win_over_the_legacy_names(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``BALLAST_OPTIMIZE_<NAME>`` (the scheme every sub-command uses) sets an option; the first
    release's ``BALLAST_<NAME>`` still works alone, and loses when both are set."""
    base = ["optimize", "sp500", *WINDOW, "--json"]
    monkeypatch.setenv("BALLAST_OPTIMIZE_OBJECTIVE", "min-variance")
    assert _json(capsys, base)["objective"] == "min-variance"
    monkeypatch.setenv("BALLAST_OBJECTIVE", "max-sharpe")
    assert _json(capsys, base)["objective"] == "min-variance"
    monkeypatch.delenv("BALLAST_OPTIMIZE_OBJECTIVE")
    assert _json(capsys, base)["objective"] == "max-sharpe"
    monkeypatch.setenv("BALLAST_OPTIMIZE_JSON", "maybe")
    assert main(["optimize", "sp500", *WINDOW]) == 2
    assert "BALLAST_OPTIMIZE_JSON='maybe' is not a boolean" in capsys.readouterr().err
