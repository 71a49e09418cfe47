"""scripts/deploy_local.py: deploys the local stack on the running node and writes a manifest
that the keeper and auditor can use; writing merges rather than overwrites."""

import importlib.util
import json
from pathlib import Path

import pytest

from offchain.chain.manifest import load_manifest, save_manifest
from offchain.core import model

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "deploy_local.py"


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
    assert entry["governance"] == on_disk["governance"] == vault.governance()
    assert entry["max_ages"] == [86_400] * 4 == list(vault.get_max_ages())  # the doubles' heartbeat
    assert entry["sequencer"] == ["0x" + "00" * 20, 3_600]
    assert list(entry["params"]) == list(model.PARAM_KINDS) and entry["params"]["loss_budget_bps"] == 100


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


DEPLOY = Path(__file__).resolve().parents[3] / "scripts" / "deploy.py"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_deploy_script_deploys_from_a_config_through_the_factory(
    deploy_script, tmp_path, monkeypatch, RebalancingVault, VaultFactory, accounts, web3
):
    stack = deploy_script.main(out_dir=str(tmp_path / "stack"))
    tokens = {t["symbol"]: t for t in stack["tokens"]}
    assets = "".join(
        f'[[vault.assets]]\nsymbol = "{s}"\ntoken = "{tokens[s]["address"]}"\nfeed = "{tokens[s]["feed"]}"\n'
        f"heartbeat = 3_600\nweight_bps = {w}\n\n"
        for s, w in (("USDC", 5_000), ("WETH", 5_000))
    )
    config = tmp_path / "local.toml"
    config.write_text(
        f'[network]\nname = "development"\nchain_id = {web3.eth.chain_id}\n\n'
        f'[vault]\nname = "scripted"\nsymbol = "bS"\nrouter = "{stack["router"]}"\nkeeper = "deployer"\n\n'
        f"{assets}[vault.params]\ndrift_threshold_bps = 300\n"
    )
    monkeypatch.chdir(tmp_path)
    out = _load(DEPLOY, "deploy_script_under_test").main(str(config), "yes")
    vault = RebalancingVault.at(out["vault"])
    assert vault.owner() == accounts[0] and vault.drift_threshold_bps() == 300
    assert vault.get_max_ages() == [3_600, 3_600]
    factory = VaultFactory.at(out["factory"])
    assert factory.is_vault(vault) and vault.governance() == factory.governance()
    assert vault.pending_changes() == []  # the parameter went to the constructor, no setter
    manifest = load_manifest(tmp_path / "deployments" / f"{web3.eth.chain_id}.json")
    assert manifest["vaults"][0]["address"] == out["vault"]


def test_deploy_script_refuses_a_bad_config_with_exit_2(deploy_script, tmp_path, monkeypatch, web3):
    config = tmp_path / "bad.toml"
    config.write_text(f'[network]\nchain_id = {web3.eth.chain_id + 1}\n[vault]\nrouter = "0x{"11" * 20}"\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        _load(DEPLOY, "deploy_script_bad").main(str(config), "yes")
    assert info.value.code == 2
