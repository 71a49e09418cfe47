"""VaultGovernance runs on the vault's storage (DELEGATECALL): both contracts must declare the same
storage layout, on every EVM version the project compiles for, and the constants they share must be
the same text. A drift here would make a governance call write the wrong slot or the wrong bits."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
VAULT = ROOT / "contracts" / "RebalancingVault.vy"
GOVERNANCE = ROOT / "contracts" / "VaultGovernance.vy"

# The constants the governance module needs to read and write the vault's packed words.
REQUIRED_SHARED = [
    "PARAM_LAYOUT",
    "PARAM_LO",
    "PARAM_HI",
    "K_THRESHOLD",
    "K_MIN_DRIFT",
    "K_SLIPPAGE",
    "K_TRADE",
    "K_TOLERANCE",
    "K_COOLDOWN",
    "K_PERIOD",
    "K_DELAY",
    "K_LOSS_BUDGET",
    "K_LOSS_WINDOW",
    "N_PARAMS",
    "K_KEEPER",
    "K_TARGETS",
    "K_MAX_AGE",
    "N_KINDS",
    "MAX_ASSETS",
    "BPS",
    "PAUSED_BIT",
    "OFF_LAST",
    "OFF_LOSS",
    "MASK14",
    "MASK18",
    "MASK40",
    "MASK53",
    "MASK48",
    "PENDING_VALUE",
    "OFF_ETA",
    "OFF_QUEUED",
    "WEIGHTS_MASK",
    "AGE_SHIFT",
    "MIN_MAX_AGE",
    "MAX_MAX_AGE",
]


def _layout(path: Path, evm: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "vyper", "-f", "layout", "--evm-version", evm, str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    layout = json.loads(out)
    layout.pop("code_layout", None)  # immutables live in each contract's own code
    return layout


def _constants(path: Path) -> dict[str, str]:
    """NAME -> the declaration's text (multi-line parenthesised values joined), comments dropped."""
    lines = path.read_text().splitlines()
    out: dict[str, str] = {}
    i = 0
    pattern = re.compile(r"^([A-Z][A-Z0-9_]*): constant\(")
    while i < len(lines):
        m = pattern.match(lines[i])
        if not m:
            i += 1
            continue
        text = [lines[i].split("#", 1)[0].rstrip()]
        depth = text[0].count("(") - text[0].count(")")
        while depth > 0:
            i += 1
            part = lines[i].split("#", 1)[0].rstrip()
            text.append(part)
            depth += part.count("(") - part.count(")")
        out[m.group(1)] = "\n".join(text)
        i += 1
    return out


@pytest.mark.parametrize("evm", ["prague", "shanghai"])
def test_governance_storage_layout_equals_vault(evm):
    vault, governance = _layout(VAULT, evm), _layout(GOVERNANCE, evm)
    assert vault["storage_layout"], "no storage layout emitted"
    assert governance == vault


def test_required_constants_are_declared_in_both():
    vault, governance = _constants(VAULT), _constants(GOVERNANCE)
    missing = [k for k in REQUIRED_SHARED if k not in vault or k not in governance]
    assert not missing, missing


def test_shared_constants_are_textually_identical():
    vault, governance = _constants(VAULT), _constants(GOVERNANCE)
    shared = sorted(set(vault) & set(governance))
    assert set(REQUIRED_SHARED) <= set(shared)
    different = {k: (vault[k], governance[k]) for k in shared if vault[k] != governance[k]}
    assert not different, different


def test_param_tables_agree_with_the_python_model():
    """The packed bounds table decodes to offchain.core.model's PARAM_BOUNDS / LOWER_LOOSENS."""
    from offchain.core import model

    env: dict[str, int] = {}
    for name in ("PARAM_LAYOUT", "PARAM_LO", "PARAM_HI"):
        expr = _constants(VAULT)[name].split("=", 1)[1].replace("_", "")
        env[name] = eval(expr, {"__builtins__": {}})  # integer literals, shifts and ors only
    for k, name in enumerate(model.PARAM_KINDS):
        lo = (env["PARAM_LO"] >> (17 * k)) & (2**17 - 1)
        hi = (env["PARAM_HI"] >> (25 * k)) & (2**25 - 1)
        width = (env["PARAM_LAYOUT"] >> (14 * k + 8)) & 31
        lower_loosens = (env["PARAM_LAYOUT"] >> (14 * k + 13)) & 1 == 1
        model_lo, model_hi = model.PARAM_BOUNDS[name]
        assert (lo, lower_loosens) == (model_lo, model.LOWER_LOOSENS[name]), name
        # min_drift's upper bound is drift_threshold_bps at run time; its static cap is the same 5_000
        assert hi == model_hi, name
        assert hi < 2**width, name
