"""scripts/deploy_local.py: deploys the local stack on the running node and writes a manifest
that the keeper and auditor can use; writing merges rather than overwrites."""

import importlib.util
import json
from pathlib import Path

import pytest

from offchain.manifest import load_manifest, save_manifest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "deploy_local.py"


@pytest.fixture(scope="module")
def deploy_script():
    spec = importlib.util.spec_from_file_location("deploy_local", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_deploy_local_writes_a_complete_manifest(deploy_script, tmp_path, RebalancingVault, accounts, web3):
    manifest = deploy_script.main(out_dir=str(tmp_path))
    path = tmp_path / f"{web3.eth.chain_id}.json"
    on_disk = json.loads(path.read_text())
    assert on_disk == manifest and on_disk["chain_id"] == web3.eth.chain_id
    assert [t["symbol"] for t in on_disk["tokens"]] == ["USDC", "WBTC", "WETH", "LINK"]
    assert [t["decimals"] for t in on_disk["tokens"]] == [6, 8, 18, 18]
    assert len(on_disk["pairs"]) == 6
    (entry,) = on_disk["vaults"]
    vault = RebalancingVault.at(entry["address"])
    assert entry["target_weights"] == [4_000, 3_000, 2_000, 1_000] == list(vault.get_target_weights())
    assert [a.lower() for a in entry["assets"]] == [t["address"].lower() for t in on_disk["tokens"]]
    assert vault.is_keeper(accounts[1]) and vault.guardian() == accounts[2] and vault.owner() == accounts[0]
    assert (
        entry["params"]["drift_threshold_bps"] == 500 and entry["deployment_block"] <= web3.eth.block_number
    )
    assert web3.eth.get_code(on_disk["lens"]) != b""


def test_manifest_keeps_earlier_vaults(deploy_script, tmp_path):
    first = deploy_script.main(out_dir=str(tmp_path))
    second = deploy_script.main(out_dir=str(tmp_path))
    merged = load_manifest(tmp_path / f"{first['chain_id']}.json")
    addresses = [v["address"] for v in merged["vaults"]]
    assert addresses == [first["vaults"][0]["address"], second["vaults"][0]["address"]]


def test_manifest_refuses_another_chain(tmp_path):
    path = tmp_path / "1.json"
    save_manifest({"chain_id": 1, "vaults": []}, path)
    with pytest.raises(Exception, match="is for chain 1"):
        save_manifest({"chain_id": 2, "vaults": []}, path)
