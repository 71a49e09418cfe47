"""offchain.quant.data: the bundled real price table, CSV validation at the boundary, weight validation."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.core.errors import BallastError, InputError
from offchain.quant.data import DATA_DIR, SP500_PATH, load_prices, sp500, validate_prices, validate_weights

SP500_SHA256 = "ee21cac28befb1d0a739a9ceb22184f995394726aa0cfde9a21941d1ac04ac0d"
TICKERS = ["AAPL", "AMD", "BAC", "BBY", "CVX", "GE", "HD", "JNJ", "JPM", "KO"]
TICKERS += ["LLY", "MRK", "MSFT", "PEP", "PFE", "PG", "RRC", "UNH", "WMT", "XOM"]


# --- bundled data ----------------------------------------------------------------------------------


def test_sp500_is_the_verbatim_skfolio_file() -> None:
    assert hashlib.sha256(SP500_PATH.read_bytes()).hexdigest() == SP500_SHA256
    readme = (DATA_DIR / "README.md").read_text()
    assert SP500_SHA256 in readme and "1.12.2" in readme and "BSD" in readme
    licence = (DATA_DIR / "LICENSE-skfolio.txt").read_text()
    assert "BSD 3-Clause License" in licence and "The skfolio developers" in licence


def test_sp500_shape_and_values() -> None:
    df = sp500()
    assert df.shape == (8313, 20)
    assert list(df.columns) == TICKERS
    assert isinstance(df.index, pd.DatetimeIndex) and df.index.name == "date"
    assert df.index[0] == pd.Timestamp("1990-01-02") and df.index[-1] == pd.Timestamp("2022-12-28")
    assert df.index.is_monotonic_increasing and df.index.is_unique
    assert (df.dtypes == np.float64).all()
    assert np.isfinite(df.to_numpy()).all() and (df.to_numpy() > 0).all()
    # first and last rows exactly as in the file
    assert df.iloc[0]["AAPL"] == 0.264 and df.iloc[0]["XOM"] == 4.068
    assert df.iloc[-1]["AAPL"] == 125.674 and df.iloc[-1]["UNH"] == 524.422


def test_sp500_returns_a_copy() -> None:
    a = sp500()
    a.iloc[0, 0] = -1.0
    assert sp500().iloc[0, 0] == 0.264


# --- load_prices: good files -----------------------------------------------------------------------

GOOD = "date,AAA,BBB\n2024-01-02,10,20\n2024-01-03,10.5,19.5\n2024-01-04,11,19\n"


def _write(tmp_path: Path, text: str | bytes, name: str = "p.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_load_plain_and_gzip(tmp_path: Path) -> None:
    plain = load_prices(_write(tmp_path, GOOD))
    gz = tmp_path / "p.csv.gz"
    gz.write_bytes(gzip.compress(GOOD.encode()))
    zipped = load_prices(gz)
    pd.testing.assert_frame_equal(plain, zipped)
    assert list(plain.columns) == ["AAA", "BBB"]
    assert plain.loc["2024-01-03", "AAA"] == 10.5
    assert plain.index.name == "date"


def test_load_accepts_date_column_anywhere_and_other_names(tmp_path: Path) -> None:
    text = "AAA,Date,BBB\n10,2024-01-02,20\n11,2024-01-03,21\n"
    df = load_prices(_write(tmp_path, text))
    assert list(df.columns) == ["AAA", "BBB"] and df.iloc[1].tolist() == [11.0, 21.0]


def test_load_selects_and_orders_assets(tmp_path: Path) -> None:
    df = load_prices(_write(tmp_path, GOOD), assets=["BBB", "AAA"])
    assert list(df.columns) == ["BBB", "AAA"]
    with pytest.raises(InputError, match="no column.*'CCC'"):
        load_prices(_write(tmp_path, GOOD), assets=["AAA", "CCC"])


def test_load_skips_blank_lines_and_tolerates_bom_and_spaces(tmp_path: Path) -> None:
    text = "\ufeffdate, AAA ,BBB\n2024-01-02, 10 ,20\n\n2024-01-03,11,21\n"
    df = load_prices(_write(tmp_path, text))
    assert list(df.columns) == ["AAA", "BBB"] and len(df) == 2


# --- load_prices: every bad input is an InputError with an actionable message ----------------------

BAD_FILES = [
    ("empty", "", "is empty"),
    ("header only", "date,AAA\n", "no rows of prices"),
    ("no date column", "day0,AAA\n2024-01-02,1\n", "no date column"),
    ("two date columns", "date,Date,AAA\n2024-01-02,2024-01-02,1\n", "several date columns"),
    ("unparsable date", "date,AAA\n2024-01-02,1\n2024-13-45,2\n", r"unparsable date.*line 3.*'2024-13-45'"),
    ("unsorted dates", "date,AAA\n2024-01-03,1\n2024-01-02,2\n", "not in increasing order.*sort"),
    ("duplicate dates", "date,AAA\n2024-01-02,1\n2024-01-02,2\n", "duplicate dates.*2024-01-02"),
    ("duplicate columns", "date,AAA,AAA\n2024-01-02,1,2\n", "duplicate column names"),
    ("unnamed column", "date,AAA,\n2024-01-02,1,2\n", "without a name"),
    ("only a date column", "date\n2024-01-02\n", "no price columns"),
    ("short row", "date,AAA,BBB\n2024-01-02,1,2\n2024-01-03,1\n", r"line 3 has 2 field.*header has 3"),
    ("long row", "date,AAA,BBB\n2024-01-02,1,2,3\n", r"line 2 has 4 field.*header has 3"),
    ("empty cell", "date,AAA,BBB\n2024-01-02,1,2\n2024-01-03,,2\n", r"missing/NaN.*2024-01-03.*'AAA'"),
    ("NaN cell", "date,AAA,BBB\n2024-01-02,1,NaN\n", r"missing/NaN.*'BBB'"),
    ("inf cell", "date,AAA\n2024-01-02,inf\n", "missing/NaN/infinite"),
    ("text cell", "date,AAA\n2024-01-02,12.5x\n", r"line 2, column 'AAA': '12.5x' is not a number"),
    ("zero price", "date,AAA\n2024-01-02,0\n", "non-positive.*must be > 0"),
    ("negative price", "date,AAA\n2024-01-02,1\n2024-01-03,-3\n", r"non-positive price.*-3.*2024-01-03"),
]


@pytest.mark.parametrize(
    ("text", "pattern"), [(t, p) for _, t, p in BAD_FILES], ids=[n for n, _, _ in BAD_FILES]
)
def test_bad_csv_raises_input_error(tmp_path: Path, text: str, pattern: str) -> None:
    with pytest.raises(InputError, match=pattern) as info:
        load_prices(_write(tmp_path, text))
    assert isinstance(info.value, BallastError)
    assert "Traceback" not in str(info.value) and "\n" not in str(info.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_prices(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="is a directory"):
        load_prices(tmp_path)


def test_binary_and_corrupt_gzip(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_prices(_write(tmp_path, b"\x00\xff\xfe\xfa" * 10))
    with pytest.raises(InputError, match="cannot read"):
        load_prices(_write(tmp_path, b"not gzip at all", name="p.csv.gz"))


def test_validate_prices_in_memory() -> None:
    idx = pd.to_datetime(["2024-01-02", "2024-01-03"])
    ok = validate_prices(pd.DataFrame({"A": [1, 2]}, index=idx))
    assert ok.dtypes.iloc[0] == np.float64
    with pytest.raises(InputError, match="not in increasing order"):
        validate_prices(pd.DataFrame({"A": [1, 2]}, index=idx[::-1]))
    with pytest.raises(InputError, match="not made of dates"):
        validate_prices(pd.DataFrame({"A": [1, 2]}, index=["x", "y"]))
    with pytest.raises(InputError, match="no asset columns"):
        validate_prices(pd.DataFrame(index=idx))
    with pytest.raises(InputError, match="must be a pandas DataFrame"):
        validate_prices([[1, 2]])  # type: ignore[arg-type]


# --- validate_weights --------------------------------------------------------------------------------


def test_weights_fractions_and_bps() -> None:
    np.testing.assert_array_equal(validate_weights([0.25, 0.75]), [0.25, 0.75])
    np.testing.assert_array_equal(validate_weights([2500, 7500]), [0.25, 0.75])
    np.testing.assert_array_equal(validate_weights(np.array([10_000, 0])), [1.0, 0.0])
    np.testing.assert_array_equal(validate_weights([1, 0, 0]), [1.0, 0.0, 0.0])  # fractions, not bps
    w = validate_weights([0.3333333, 0.3333333, 0.3333334])
    assert abs(w.sum() - 1.0) < 1e-15


def test_weights_mapping_and_series() -> None:
    assets = ["A", "B", "C"]
    np.testing.assert_array_equal(validate_weights({"C": 0.5, "A": 0.5}, assets), [0.5, 0.0, 0.5])
    np.testing.assert_array_equal(validate_weights(pd.Series({"B": 10_000}), assets), [0.0, 1.0, 0.0])
    with pytest.raises(InputError, match="unknown asset.*'Z'"):
        validate_weights({"Z": 1.0}, assets)


@pytest.mark.parametrize(
    ("weights", "kwargs", "pattern"),
    [
        ([0.5, 0.4], {}, "sum to 0.9"),
        ([5000, 4000], {}, "basis points summing to 10000"),
        ([0.5, 0.5], {"n": 3}, "expected 3 weights"),
        ([0.5, 0.5], {"assets": ["A"]}, "expected 1 weights"),
        ([1.5, -0.5], {}, "non-negative"),
        ([float("nan"), 1.0], {}, "NaN"),
        ([], {}, "no weights"),
        (["x", 1], {}, "must be numbers"),
        ("0.5,0.5", {}, "not a string"),
        ([5000.5, 4999.5], {}, "sum to 10000"),  # not integral: neither fractions nor bps
    ],
)
def test_bad_weights(weights: object, kwargs: dict, pattern: str) -> None:
    with pytest.raises(InputError, match=pattern):
        validate_weights(weights, **kwargs)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=25))
def test_weights_bps_roundtrip(raw: list[int]) -> None:
    total = sum(raw)
    if total == 0:
        return
    # scale to integer bps summing to exactly 10_000
    bps = [x * 10_000 // total for x in raw]
    bps[0] += 10_000 - sum(bps)
    w = validate_weights(bps)
    np.testing.assert_allclose(w * 10_000, bps, atol=1e-9)
    assert abs(w.sum() - 1.0) < 1e-12
