"""Price tables and weight vectors at the boundary: load, validate, fail with an actionable message.

Conventions
-----------
* A price table is a ``pd.DataFrame`` with a sorted, unique ``DatetimeIndex`` named ``"date"`` and one
  ``float64`` column per asset holding strictly positive *daily* prices (close or adjusted close).
  Estimators (``offchain.quant.estimators``) turn it into *annualised* expected returns and covariances.
* Weights are long-only. Library code uses **fractions** (``1.0 == 100 %``); the vault takes integer
  **basis points** (``10_000 == 100 %``, ``offchain.core.model.BPS``). ``validate_weights`` accepts either
  and always returns fractions; ``offchain.quant.optimize.to_bps`` converts back exactly.

Every problem with user input raises ``offchain.core.errors.InputError`` whose message says what is wrong
and what to do about it; nothing here ever lets a pandas/numpy trace escape.

Stable public API (imported by the backtester):

* ``load_prices(path, *, assets=None) -> pd.DataFrame``
* ``sp500() -> pd.DataFrame``
* ``validate_weights(weights, assets=None, *, n=None, tol=1e-6) -> np.ndarray``
"""

from __future__ import annotations

import csv
import functools
import gzip
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from offchain.core.errors import InputError
from offchain.core.lazy import LazyModule
from offchain.core.model import BPS

pd = LazyModule("pandas")

__all__ = [
    "DATA_DIR",
    "SP500_PATH",
    "DATE_COLUMNS",
    "load_prices",
    "sp500",
    "validate_prices",
    "validate_weights",
]

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
SP500_PATH = DATA_DIR / "sp500_dataset.csv.gz"
# Accepted (case-insensitive) names of the date column.
DATE_COLUMNS = ("date", "datetime", "timestamp", "time", "day")

_MISSING = frozenset({"", "nan", "na", "n/a", "null", "none", "#n/a"})
_FORMAT_HINT = (
    "expected a CSV with a header row, a 'date' column (YYYY-MM-DD) and one column of positive "
    "daily prices per asset"
)


def _show(values: Sequence[Any], limit: int = 5) -> str:
    items = [repr(v) for v in list(values)[:limit]]
    more = len(values) - limit
    return ", ".join(items) + (f" (and {more} more)" if more > 0 else "")


def _read_raw(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, data rows (all cells as text) and each row's line number; blank lines are skipped.

    Nothing is coerced or renamed here, so the checks below can name the exact offending line.
    """
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
            rows: list[list[str]] = []
            lines: list[int] = []
            reader = csv.reader(fh)
            for row in reader:
                if row and any(cell.strip() for cell in row):
                    rows.append(row)
                    lines.append(reader.line_num)
    except (UnicodeDecodeError, OSError, EOFError, csv.Error) as exc:
        raise InputError(
            f"cannot read price file {path} ({type(exc).__name__}: {exc}); give a plain or gzipped "
            f"UTF-8 CSV file"
        ) from exc
    if not rows:
        raise InputError(f"price file {path} is empty; {_FORMAT_HINT}")
    header, body = rows[0], rows[1:]
    width = len(header)
    for row, line in zip(body, lines[1:], strict=True):
        if len(row) != width:
            raise InputError(
                f"price file {path} line {line} has {len(row)} field(s) but the header has {width}; "
                f"every row needs a date and one price per column (misaligned or missing columns?)"
            )
    return header, body, lines[1:]


def load_prices(path: str | os.PathLike[str], *, assets: Sequence[str] | None = None) -> pd.DataFrame:
    """Load and validate a daily price table from a CSV file (plain or ``.gz``).

    The file needs a header row, a date column (named ``date``, ``Date``, ``timestamp``, ... see
    ``DATE_COLUMNS``; ISO dates) and one column per asset. Dates must be strictly increasing and
    unique; every price must be a finite number > 0. ``assets`` optionally selects (and orders)
    columns; naming a column the file does not have is an error.

    Returns a ``float64`` DataFrame indexed by a ``DatetimeIndex`` named ``"date"``, one column per
    asset (in file order, or in ``assets`` order). Raises ``InputError`` on any problem.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"price file {p} not found; check the path (or use 'sp500' for the bundled data)")
    if p.is_dir():
        raise InputError(f"price file {p} is a directory; give the path of a CSV file")
    header_raw, rows, line_no = _read_raw(p)
    header = [h.strip() for h in header_raw]
    where = f"price file {p}"
    dcol, asset_cols, names = _header_columns(header, where)
    if not rows:
        raise InputError(f"{where} has a header but no rows of prices; {_FORMAT_HINT}")
    table = np.array(rows, dtype=object)
    index = _parse_dates(table[:, dcol], line_no, where)
    frame = _parse_prices(table[:, asset_cols], names, index, line_no, where)
    if assets is not None:
        frame = _select_assets(frame, assets, names, where)
    return validate_prices(frame, source=where)


def _header_columns(header: list[str], where: str) -> tuple[int, list[int], list[str]]:
    """``(date column, price columns, asset names)`` from a stripped header row; ``InputError`` for a
    missing or repeated date column and for blank, duplicate or absent price columns."""
    date_cols = [i for i, h in enumerate(header) if h.lower() in DATE_COLUMNS]
    if not date_cols:
        raise InputError(f"{where} has no date column (header: {_show(header)}); name the date column 'date'")
    if len(date_cols) > 1:
        raise InputError(
            f"{where} has several date columns ({_show([header[i] for i in date_cols])}); keep exactly one"
        )
    dcol = date_cols[0]
    asset_cols = [i for i in range(len(header)) if i != dcol]
    names = [header[i] for i in asset_cols]
    blank = [i + 1 for i in asset_cols if not header[i]]
    if blank:
        raise InputError(
            f"{where} has a column without a name (column {_show(blank)}); give every price column a "
            f"ticker name in the header, or remove it"
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"{where} has duplicate column names {_show(dupes)}; each asset needs one column")
    if not names:
        raise InputError(f"{where} has a date column but no price columns; {_FORMAT_HINT}")
    return dcol, asset_cols, names


def _parse_dates(cells: np.ndarray, line_no: Sequence[int], where: str) -> pd.DatetimeIndex:
    """The date column parsed strictly (ISO 8601, time zones dropped); reports the first bad lines."""
    date_text = pd.Series(cells, dtype=object).str.strip()
    dates = pd.to_datetime(date_text, errors="coerce", format="ISO8601")
    bad = np.flatnonzero(dates.isna().to_numpy())
    if bad.size:
        shown = [f"line {line_no[k]}: {date_text.iloc[k]!r}" for k in bad[:3]]
        raise InputError(
            f"{where} has {bad.size} unparsable date(s) ({'; '.join(shown)}); use ISO dates like 2024-01-31"
        )
    index = pd.DatetimeIndex(dates.to_numpy(), name="date")
    if getattr(index, "tz", None) is not None:
        index = index.tz_convert(None)
    return index


def _parse_prices(
    cells: np.ndarray, names: list[str], index: pd.DatetimeIndex, line_no: Sequence[int], where: str
) -> pd.DataFrame:
    """The price cells as a ``float64`` frame (empty/NaN cells become NaN, for ``validate_prices`` to
    report); a non-numeric cell gets its own message."""
    values = pd.DataFrame(cells, columns=names)
    numeric = values.apply(pd.to_numeric, errors="coerce")
    frame = pd.DataFrame(numeric.to_numpy(dtype="float64"), index=index, columns=names)
    for r, c in np.argwhere(np.isnan(frame.to_numpy())):
        cell = str(values.iat[r, c]).strip()
        if cell.lower() not in _MISSING:
            raise InputError(
                f"{where} line {line_no[r]}, column {names[c]!r}: {cell!r} is not a number; "
                f"prices must be plain decimal numbers"
            )
    return frame


def _select_assets(frame: pd.DataFrame, assets: Sequence[str], names: list[str], where: str) -> pd.DataFrame:
    """The columns ``assets``, in that order; ``InputError`` for a missing or repeated name."""
    wanted = [str(a) for a in assets]
    missing = [a for a in wanted if a not in frame.columns]
    if missing:
        raise InputError(
            f"{where} has no column(s) {_show(missing)} (it has {_show(names, 8)}); "
            f"check the tickers or the file"
        )
    if len(set(wanted)) != len(wanted):
        raise InputError(f"asset list {_show(wanted)} names an asset twice; list each once")
    return frame[wanted]


def validate_prices(prices: pd.DataFrame, *, source: str = "price table") -> pd.DataFrame:
    """Check an in-memory price table against the conventions above; return a clean ``float64`` copy.

    Raises ``InputError`` for: a non-datetime, unsorted or duplicated index, no columns, duplicate
    column names, NaN/infinite or non-positive prices.
    """
    if not isinstance(prices, pd.DataFrame):
        raise InputError(f"{source} must be a pandas DataFrame, got {type(prices).__name__}")
    if prices.shape[1] == 0:
        raise InputError(f"{source} has no asset columns; {_FORMAT_HINT}")
    if prices.shape[0] == 0:
        raise InputError(f"{source} has no rows; {_FORMAT_HINT}")
    if not isinstance(prices.index, pd.DatetimeIndex):
        try:
            idx = pd.DatetimeIndex(pd.to_datetime(prices.index, format="ISO8601"))
        except (ValueError, TypeError) as exc:
            raise InputError(f"{source} index is not made of dates; index it by date") from exc
    else:
        idx = prices.index
    cols = [str(c) for c in prices.columns]
    dupes = sorted({c for c in cols if cols.count(c) > 1})
    if dupes:
        raise InputError(f"{source} has duplicate column names {_show(dupes)}; each asset needs one column")
    dup_dates = idx[idx.duplicated()]
    if len(dup_dates):
        raise InputError(
            f"{source} has duplicate dates ({_show([d.date().isoformat() for d in dup_dates])}); "
            f"keep one row per day"
        )
    if not idx.is_monotonic_increasing:
        pos = int(np.flatnonzero(np.diff(idx.asi8) < 0)[0]) + 1
        raise InputError(
            f"{source} dates are not in increasing order ({idx[pos - 1].date()} is followed by "
            f"{idx[pos].date()} at data row {pos + 1}); sort the rows by date (oldest first)"
        )
    try:
        arr = prices.to_numpy(dtype="float64", copy=True)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{source} has non-numeric prices; prices must be numbers") from exc
    bad = ~np.isfinite(arr)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        counts = bad.sum(axis=0)
        worst = [f"{cols[j]} ({int(counts[j])})" for j in np.flatnonzero(counts)]
        raise InputError(
            f"{source} has {int(bad.sum())} missing/NaN/infinite price(s), first on {idx[r].date()} in "
            f"column {cols[c]!r}; per column: {', '.join(worst[:8])}. Fill or drop those rows/columns "
            f"(e.g. restrict the date range) before optimising"
        )
    nonpos = arr <= 0
    if nonpos.any():
        r, c = np.argwhere(nonpos)[0]
        raise InputError(
            f"{source} has {int(nonpos.sum())} non-positive price(s), first {float(arr[r, c]):g} on "
            f"{idx[r].date()} in column {cols[c]!r}; prices must be > 0 (check units and missing data)"
        )
    out = pd.DataFrame(arr, index=pd.DatetimeIndex(idx, name="date"), columns=cols)
    return out


def sp500() -> pd.DataFrame:
    """The bundled real price table: 20 S&P 500 stocks, daily adjusted closes 1990-01-02..2022-12-28.

    Copied verbatim from the ``skfolio`` 1.12.2 wheel (BSD-3-Clause, see
    ``offchain/data/LICENSE-skfolio.txt`` and ``offchain/data/README.md``). 8,313 rows x 20 columns.
    """
    return _sp500_cached().copy()


@functools.lru_cache(maxsize=1)
def _sp500_cached() -> pd.DataFrame:
    if not SP500_PATH.exists():
        raise InputError(
            f"bundled price table {SP500_PATH} is missing; reinstall ballast (package data 'offchain/data')"
        )
    return load_prices(SP500_PATH)


def _is_integral(a: np.ndarray) -> bool:
    return bool(np.all(np.abs(a - np.round(a)) <= 1e-9))


def validate_weights(
    weights: Mapping[str, float] | pd.Series | Sequence[float] | np.ndarray,
    assets: Sequence[str] | None = None,
    *,
    n: int | None = None,
    tol: float = 1e-6,
) -> np.ndarray:
    """Validate long-only portfolio weights; return them as ``float64`` **fractions** summing to 1.

    Accepts either fractions summing to 1 (within ``tol``) or integer basis points summing to exactly
    ``10_000``. ``weights`` may be a sequence/array (in ``assets`` order), or a mapping / Series keyed
    by asset name; with a mapping and ``assets`` given, unnamed assets get 0 and unknown names are an
    error. ``n`` (or ``len(assets)``) fixes the expected length. Negative, NaN or infinite entries are
    errors. Fractions are renormalised to sum to exactly 1 (up to float rounding).

    Raises ``InputError`` otherwise.
    """
    names = [str(a) for a in assets] if assets is not None else None
    if isinstance(weights, Mapping | pd.Series):
        items = {str(k): v for k, v in dict(weights).items()}
        if names is not None:
            unknown = [k for k in items if k not in names]
            if unknown:
                raise InputError(
                    f"weights name unknown asset(s) {_show(unknown)}; known assets: {_show(names, 25)}"
                )
            raw = [items.get(a, 0.0) for a in names]
        else:
            raw = list(items.values())
    else:
        if isinstance(weights, str | bytes):
            raise InputError("weights must be numbers, not a string; e.g. [0.6, 0.4] or [6000, 4000]")
        raw = list(np.asarray(weights, dtype=object).ravel()) if not isinstance(weights, list) else weights
    try:
        arr = np.array([float(x) for x in raw], dtype="float64")
    except (TypeError, ValueError) as exc:
        raise InputError(f"weights must be numbers; got {_show(list(raw))}") from exc
    expected = n if n is not None else (len(names) if names is not None else None)
    if expected is not None and arr.size != expected:
        raise InputError(f"expected {expected} weights (one per asset), got {arr.size}")
    if arr.size == 0:
        raise InputError("no weights given; give one weight per asset")
    if not np.all(np.isfinite(arr)):
        raise InputError("weights contain NaN or infinity; give finite numbers")
    if np.any(arr < 0):
        raise InputError(
            f"weights must be non-negative (long-only vault); got {_show(arr[arr < 0].tolist())}"
        )
    total = float(arr.sum())
    if _is_integral(arr) and int(round(total)) == BPS:
        return np.round(arr) / BPS
    if math.isclose(total, 1.0, rel_tol=0.0, abs_tol=tol):
        return arr / total
    raise InputError(
        f"weights sum to {total:g}; give fractions summing to 1 or integer basis points summing to {BPS}"
    )
