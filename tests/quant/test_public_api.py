"""The public API (``offchain/__init__.py``): every documented name resolves to its room's object,
``import offchain`` loads no heavy library, and the names work together end to end."""

from __future__ import annotations

import importlib
import subprocess
import sys

import numpy as np
import pytest

import offchain


def test_every_public_name_is_its_rooms_object():
    for name in offchain.__all__:
        value = getattr(offchain, name)
        module = offchain._LAZY.get(name)
        if module is not None:
            assert value is getattr(importlib.import_module(module), name), name


def test_import_offchain_loads_no_heavy_library():
    heavy = ("pandas", "web3", "matplotlib", "scipy")
    code = f"import sys, offchain; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        offchain.nope  # noqa: B018


def test_dir_lists_the_public_names():
    assert set(offchain.__all__) <= set(dir(offchain))


def test_optimise_then_backtest_through_the_public_names():
    prices = offchain.sp500().iloc[-500:, :5]
    mu, cov = offchain.expected_returns(prices), offchain.covariance(prices)
    pf = offchain.optimize(mu, cov, "min-volatility")
    assert isinstance(pf, offchain.Portfolio)
    assert abs(float(pf.weights.sum()) - 1.0) < 1e-9 and int(pf.bps.sum()) == 10_000
    results = offchain.backtest(
        prices,
        pf.weights.to_numpy(),
        [offchain.BuyAndHold(), offchain.Threshold(band_bps=300)],
        offchain.CostModel(),
    )
    assert [type(r) for r in results] == [offchain.SimResult] * 2
    assert all(np.isfinite(r.final_value) and r.final_value > 0 for r in results)
