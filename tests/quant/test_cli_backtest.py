"""``ballast backtest``: outputs, env-var equivalents, and one clear line + exit 2 for every bad input."""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from offchain.cli import build_parser, main


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _prices(days: int = 300, n: int = 3, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0004, 0.02, size=(days - 1, n))
    p = 50 * np.exp(np.vstack([np.zeros(n), np.cumsum(r, axis=0)]))
    idx = pd.bdate_range("2020-01-01", periods=days, name="date")
    return pd.DataFrame(p, index=idx, columns=["ETH", "BTC", "USDC"][:n])


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "prices.csv"
    _prices().to_csv(path)
    return path


def test_backtest_writes_table_plots_html_json(
    csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rep"
    code, stdout, err = _run(
        [
            "backtest",
            str(csv),
            "--weights",
            "ETH=0.5,BTC=0.3,USDC=0.2",
            "--policy",
            "threshold:500bps",
            "--policy",
            "calendar:monthly",
            "--policy",
            "band-edge:300bps",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0, err
    assert "threshold:500bps" in stdout and "calendar:monthly" in stdout and "tracking error" in stdout
    for name in ("value.png", "weights.png", "drift.png", "costs.png", "report.html", "results.json"):
        assert (out / name).stat().st_size > 0, name
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4
    assert 'src="http' not in page and '.png"' not in page  # self-contained
    first = page.split("data:image/png;base64,")[1].split('"')[0]
    assert base64.b64decode(first)[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads((out / "results.json").read_text())
    assert [p["policy"] for p in doc["policies"]] == [
        "threshold:500bps",
        "calendar:monthly",
        "band-edge:300bps",
    ]


def test_backtest_json_and_env_vars(
    csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BALLAST_BACKTEST_PRICES", str(csv))
    monkeypatch.setenv("BALLAST_BACKTEST_WEIGHTS", "5000,3000,2000")
    monkeypatch.setenv("BALLAST_BACKTEST_POLICY", "threshold:300bps;calendar:quarterly")
    monkeypatch.setenv("BALLAST_BACKTEST_NO_COSTS", "1")
    monkeypatch.setenv("BALLAST_BACKTEST_JSON", "1")
    monkeypatch.setenv("BALLAST_BACKTEST_OUT", str(tmp_path / "envrep"))
    code, stdout, err = _run(["backtest"], capsys)
    assert code == 0, err
    doc = json.loads(stdout)
    assert [p["policy"] for p in doc["policies"]] == ["threshold:300bps", "calendar:quarterly"]
    assert doc["policies"][0]["targets"] == [0.5, 0.3, 0.2]
    assert doc["policies"][0]["summary"]["costs"]["p50"] == 0.0  # --no-costs via env
    assert doc["costs"]["fee_bps"] == 0.0
    assert Path(doc["files"]["html"]).exists()
    # a flag beats its variable
    code, stdout, _ = _run(["backtest", "--policy", "buy-and-hold", "--no-report"], capsys)
    assert code == 0 and [p["policy"] for p in json.loads(stdout)["policies"]] == ["buy-and-hold"]


def test_every_option_has_help_and_env_var() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name in ("backtest", "simulate"):
        for action in sub.choices[name]._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help and "BALLAST_" in action.help, (name, action.dest)


def _write(tmp_path: Path, text: str, name: str = "bad.csv") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


BAD_CSV = {
    "no date column": "day_x,ETH,BTC\n2020-01-01,1,2\n2020-01-02,1,2\n",
    "misaligned row": "date,ETH,BTC\n2020-01-01,1,2\n2020-01-02,1,2,3\n",
    "short row": "date,ETH,BTC\n2020-01-01,1,2\n2020-01-02,1\n2020-01-03,1,2\n",
    "duplicate column": "date,ETH,ETH\n2020-01-01,1,2\n2020-01-02,1,2\n",
    "no price columns": "date\n2020-01-01\n2020-01-02\n",
    "NaN price": "date,ETH,BTC\n2020-01-01,1,2\n2020-01-02,nan,2\n2020-01-03,1,2\n",
    "empty price": "date,ETH,BTC\n2020-01-01,1,2\n2020-01-02,,2\n2020-01-03,1,2\n",
    "zero price": "date,ETH,BTC\n2020-01-01,1,2\n2020-01-02,0,2\n",
    "negative price": "date,ETH,BTC\n2020-01-01,1,2\n2020-01-02,-1,2\n",
    "text price": "date,ETH,BTC\n2020-01-01,1,2\n2020-01-02,abc,2\n",
    "bad date": "date,ETH,BTC\n2020-01-01,1,2\nyesterday,1,2\n",
    "one row": "date,ETH,BTC\n2020-01-01,1,2\n",
}


@pytest.mark.parametrize("case", list(BAD_CSV), ids=list(BAD_CSV))
def test_bad_price_files_exit_2_with_one_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, BAD_CSV[case])
    code, stdout, err = _run(["backtest", path, "--weights", "0.5,0.5", "--no-report"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ballast: error:"), err
    assert "Traceback" not in err and stdout == ""


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--weights", "0.5,0.3,0.1"], "sum"),  # fractions not summing to 1
        (["--weights", "5000,3000,1000"], "sum"),  # bps not summing to 10000
        (["--weights", "0.5,0.5"], "3 weights"),  # one weight missing (misaligned with the columns)
        (["--weights", "ETH=0.5,DOGE=0.5"], "DOGE"),  # unknown column
        (["--weights", "ETH=0.5,BTC=abc,USDC=0.5"], "number"),
        (["--weights", "0.6,-0.1,0.5"], "negative"),
        ([], "weights"),  # no weights at all
        (["--weights", "equal", "--policy", "rebalance-sometimes"], "unknown policy"),
        (["--weights", "equal", "--policy", "threshold:lots"], "basis points"),
        (["--weights", "equal", "--policy", "dynamic:21,max-happiness"], "objective"),
        (["--weights", "equal", "--fee-bps", "abc"], "fee"),
        (["--weights", "equal", "--gas-price", "-3"], "gas price"),
        (["--weights", "equal", "--assets", "ETH,DOGE"], "DOGE"),
        (["--weights", "equal", "--start", "2031-01-01"], "fewer than two"),
        (["--weights", "equal", "--start", "not-a-date"], "date"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    extra: list[str], needle: str, csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, err = _run(["backtest", str(csv), "--no-report", *extra], capsys)
    assert code == 2, (extra, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ballast: error:"), err
    assert needle.lower() in lines[0].lower(), lines[0]


def test_missing_file_and_bad_env(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = _run(["backtest", str(tmp_path / "nope.csv"), "--weights", "equal"], capsys)
    assert code == 2 and "not found" in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(["backtest", "--weights", "equal"], capsys)
    assert code == 2 and "no price file" in err
    monkeypatch.setenv("BALLAST_BACKTEST_POLICY", "threshold:500bps;wobble")
    code, _, err = _run(["backtest", "sp500", "--weights", "equal", "--no-report"], capsys)
    assert code == 2 and "BALLAST_BACKTEST_POLICY" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["backtest", "simulate"])
def test_help_renders(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run([command, "--help"], capsys)
    assert code == 0 and "BALLAST_" in out and "--json" in out and "--out" in out
