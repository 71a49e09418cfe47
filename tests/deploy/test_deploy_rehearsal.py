"""Rehearsal without internet: the deploy path against Anvil started with Sepolia's chain id, the
config's addresses replaced by locally deployed doubles. Preflight failures stop before any
transaction (the deployer's nonce does not move) with one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from offchain.chain.deploy import deploy, load_config, preflight, require_ok
from offchain.chain.manifest import load_manifest
from offchain.chain.node import Anvil, Sender, connect, load_artifact, vault_initcode
from offchain.core import model
from offchain.core.errors import ConfigError, InputError
from offchain.devnet.localstack import deploy_local_stack
from offchain.keeper.keys import load_signer

SEPOLIA = 11155111
CONFIG = Path(__file__).resolve().parents[2] / "configs" / "sepolia.toml"
TEST_KEY = "0x" + "5a" * 32  # a throwaway key for this test only, funded from Anvil's account 0


@pytest.fixture(scope="module")
def chain():
    with Anvil(chain_id=SEPOLIA) as node:
        w3 = connect(node.url)
        sender = Sender(w3, w3.eth.accounts[0])
        stack = deploy_local_stack(sender)
        yield w3, sender, stack


def _config(tmp_path: Path, stack, **edits) -> Path:
    """configs/sepolia.toml with every real address replaced by the local doubles."""
    text = CONFIG.read_text()
    real = load_config(CONFIG)
    by_symbol = {s.symbol: (t.address, f.address) for s, t, f in zip(stack.specs, stack.tokens, stack.feeds)}
    text = text.replace(real.router, stack.router.address)
    for a in real.assets:
        token, feed = by_symbol[a.symbol]
        text = text.replace(a.token, edits.get(f"{a.symbol}_token", token))
        text = text.replace(a.feed, edits.get(f"{a.symbol}_feed", feed))
    for old, new in edits.get("replace", []):
        text = text.replace(old, new)
    path = tmp_path / "rehearsal.toml"
    path.write_text(text)
    return path


def test_rehearsal_deploys_factory_and_vault_and_writes_manifest(chain, tmp_path):
    w3, sender, stack = chain
    cfg = load_config(_config(tmp_path, stack))
    result = preflight(w3, cfg)
    assert result.ok, result.errors
    assert [p["pair"] for p in result.pools] == ["USDC/WETH", "USDC/LINK", "WETH/LINK"]
    done = deploy(w3, sender, cfg, out_dir=tmp_path)
    manifest = load_manifest(tmp_path / f"{SEPOLIA}.json")
    (entry,) = manifest["vaults"]
    assert entry["address"] == done.vault and manifest["vault_factory"] == done.factory
    vault = w3.eth.contract(address=done.vault, abi=load_artifact("RebalancingVault").abi)
    assert vault.functions.owner().call() == sender.address  # ownership accepted from the factory
    assert vault.functions.get_target_weights().call() == [4_000, 4_000, 2_000]
    assert vault.functions.get_max_ages().call() == [90_000] * 3  # heartbeats, at construction
    assert vault.functions.governance().call() == manifest["vault_governance"] == done.governance
    assert vault.functions.pending_changes().call() == []  # no setter after deployment
    assert model.Params.from_list(vault.functions.get_params().call()) == cfg.vault_params()
    assert entry["params"] == dict(zip(model.PARAM_KINDS, cfg.vault_params().as_list(), strict=True))
    assert entry["params"]["loss_budget_bps"] == 100 and entry["params"]["loss_window"] == 7 * 86_400
    assert entry["deployment_gas"] == done.gas_used > 0
    assert vault.functions.is_keeper(sender.address).call()
    factory = w3.eth.contract(address=done.factory, abi=load_artifact("VaultFactory").abi)
    assert factory.functions.is_vault(done.vault).call() and factory.functions.vault_count().call() == 1
    assert factory.functions.vaults_by(sender.address).call() == [done.vault]
    assert manifest["vault_chunks"] == done.chunks and "vault_blueprint" not in manifest
    assert manifest["vault_initcode_hash"] == "0x" + bytes(Web3.keccak(vault_initcode())).hex()
    assert entry["params"]["drift_threshold_bps"] == 500 and entry["deployment_block"] == done.block


def test_second_deployment_reuses_factory_and_keeps_first_vault(chain, tmp_path):
    w3, sender, stack = chain
    cfg = load_config(_config(tmp_path, stack))
    first = deploy(w3, sender, cfg, out_dir=tmp_path)
    second = deploy(w3, sender, cfg, out_dir=tmp_path)
    manifest = load_manifest(tmp_path / f"{SEPOLIA}.json")
    assert second.factory == first.factory and second.vault != first.vault
    assert second.governance == first.governance and second.chunks == first.chunks
    assert [v["address"] for v in manifest["vaults"]] == [first.vault, second.vault]


def test_deploy_signs_with_an_encrypted_keystore(chain, tmp_path):
    w3, sender, stack = chain
    owner = Account.from_key(TEST_KEY).address
    w3.eth.send_transaction({"from": sender.address, "to": owner, "value": 10**19})
    keystore = tmp_path / "deployer.json"
    keystore.write_text(
        json.dumps(Account.encrypt(TEST_KEY, "correct horse", kdf="pbkdf2", iterations=1_000))
    )
    (tmp_path / "pw").write_text("correct horse\n")
    signer = load_signer(chain_id=SEPOLIA, keystore=str(keystore), password_file=str(tmp_path / "pw"))
    assert signer.address == owner and TEST_KEY[2:] not in repr(signer)
    cfg = load_config(_config(tmp_path, stack))
    done = deploy(w3, Sender(w3, signer.address, signer=signer), cfg, out_dir=tmp_path)
    vault = w3.eth.contract(address=done.vault, abi=load_artifact("RebalancingVault").abi)
    assert vault.functions.owner().call() == owner
    assert TEST_KEY[2:] not in (tmp_path / f"{SEPOLIA}.json").read_text()


def _fails_without_sending(w3, sender, cfg_path, match: str) -> None:
    nonce = w3.eth.get_transaction_count(sender.address)
    block = w3.eth.block_number
    result = preflight(w3, load_config(cfg_path))
    with pytest.raises(InputError, match=match) as info:
        require_ok(result)
    assert "\n" not in str(info.value)  # one line
    assert w3.eth.get_transaction_count(sender.address) == nonce and w3.eth.block_number == block


def test_preflight_stops_on_missing_feed(chain, tmp_path):
    w3, sender, stack = chain
    no_code = "0x" + "ab" * 20
    path = _config(tmp_path, stack, LINK_feed=no_code)
    _fails_without_sending(w3, sender, path, r"missing feed: no contract at 0x[aA][bB]")


def test_preflight_stops_on_dead_pair(chain, tmp_path):
    w3, sender, stack = chain
    lonely = sender.deploy("ERC20Double", "Lonely", "LNLY", 18)  # a token with no pool at all
    path = _config(tmp_path, stack, LINK_token=lonely.address)
    _fails_without_sending(w3, sender, path, r"dead pair: the router's factory has no USDC/LINK pool")


def test_preflight_stops_on_thin_pool(chain, tmp_path):
    w3, sender, stack = chain
    path = _config(
        tmp_path, stack, replace=[("min_pool_liquidity_usd = 1_000", "min_pool_liquidity_usd = 1e12")]
    )
    _fails_without_sending(
        w3, sender, path, r"dead pair: USDC/WETH pool .* under the \$1,000,000,000,000 minimum"
    )


def test_preflight_stops_on_bad_weights(chain, tmp_path):
    w3, sender, stack = chain
    path = _config(tmp_path, stack, replace=[("weight_bps = 2_000", "weight_bps = 1_999")])
    _fails_without_sending(w3, sender, path, r"bad weights: target weights sum to 9999 bps")


def test_preflight_stops_on_wrong_chain_id(chain, tmp_path):
    w3, sender, stack = chain
    path = _config(tmp_path, stack, replace=[("chain_id = 11155111", "chain_id = 1")])
    _fails_without_sending(
        w3, sender, path, r"wrong chain id: the node is chain 11155111, the config .* is for 1"
    )


def test_preflight_stops_on_stale_feed(chain, tmp_path):
    w3, sender, stack = chain
    path = _config(tmp_path, stack)
    w3.provider.make_request("evm_increaseTime", [100_000])
    w3.provider.make_request("evm_mine", [])
    try:
        _fails_without_sending(w3, sender, path, r"stale feed: USDC / USD .* over its heartbeat 90,000 s")
    finally:  # keep the module's feeds fresh for the other tests
        for feed, spec in zip(stack.feeds, stack.specs):
            sender.transact(feed.functions.set_answer(spec.price))


def test_bad_config_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[network]\nchain_id = 'x'\n[vault]\nassets = []\n")
    with pytest.raises(Exception, match=r"network.chain_id: 'x' is not an integer"):
        load_config(bad)
    with pytest.raises(Exception, match=r"not found"):
        load_config(tmp_path / "missing.toml")


def test_config_params_go_to_the_constructor(chain, tmp_path):
    w3, sender, stack = chain
    loose = [("cooldown = 3_600", "cooldown = 0"), ("max_slippage_bps = 100", "max_slippage_bps = 300")]
    loose += [
        ("loss_budget_bps = 100", "loss_budget_bps = 250"),
        ("loss_window = 604_800", "loss_window = 86_400"),
    ]
    cfg = load_config(_config(tmp_path, stack, replace=loose))
    assert preflight(w3, cfg).ok
    done = deploy(w3, sender, cfg, out_dir=tmp_path)
    vault = w3.eth.contract(address=done.vault, abi=load_artifact("RebalancingVault").abi)
    got = model.Params.from_list(vault.functions.get_params().call())
    assert (got.cooldown, got.max_slippage_bps, got.loss_budget_bps, got.loss_window) == (0, 300, 250, 86_400)
    assert vault.functions.pending_changes().call() == []  # applied at construction, nothing queued


def test_heartbeat_is_required_with_a_one_line_error(chain, tmp_path):
    _, _, stack = chain
    path = _config(
        tmp_path, stack, replace=[("heartbeat = 90_000\nweight_bps = 2_000", "weight_bps = 2_000")]
    )
    with pytest.raises(
        ConfigError, match=r"vault.assets\[2\] \(LINK\) lacks 'heartbeat'.*no default"
    ) as info:
        load_config(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("heartbeat", ["59", "259_201"])
def test_preflight_stops_on_heartbeat_outside_max_age_bounds(chain, tmp_path, heartbeat):
    w3, sender, stack = chain
    path = _config(
        tmp_path,
        stack,
        replace=[("heartbeat = 90_000\nweight_bps = 2_000", f"heartbeat = {heartbeat}\nweight_bps = 2_000")],
    )
    _fails_without_sending(w3, sender, path, r"bad heartbeat: LINK heartbeat \d+ s is outside \[60, 259200\]")


def test_preflight_stops_on_max_age_above_published_heartbeat(chain, tmp_path):
    w3, sender, stack = chain
    published = [
        (
            "heartbeat = 90_000\nweight_bps = 2_000",
            "heartbeat = 90_000\nfeed_heartbeat = 3_600\nweight_bps = 2_000",
        )
    ]
    path = _config(tmp_path, stack, replace=published)
    _fails_without_sending(
        w3,
        sender,
        path,
        r"bad heartbeat: LINK max age 90000 s is above the feed's published heartbeat 3600 s",
    )
    ok = [
        (
            "heartbeat = 90_000\nweight_bps = 2_000",
            "heartbeat = 3_900\nfeed_heartbeat = 3_600\nweight_bps = 2_000",
        )
    ]
    result = preflight(w3, load_config(_config(tmp_path, stack, replace=ok)))
    assert result.ok, result.errors
    assert not any("LINK: max age" in w for w in result.warnings)  # checked, so no warning
    assert any("USDC: max age 90000 s is not checked" in w for w in result.warnings)


def test_preflight_stops_on_bad_loss_budget(chain, tmp_path):
    w3, sender, stack = chain
    path = _config(tmp_path, stack, replace=[("loss_budget_bps = 100", "loss_budget_bps = 1_001")])
    _fails_without_sending(w3, sender, path, r"bad parameter: loss_budget_bps 1001 is outside \[1, 1000\]")


def test_unknown_parameter_is_refused(chain, tmp_path):
    _, _, stack = chain
    path = _config(
        tmp_path, stack, replace=[("loss_window = 604_800", "loss_window = 604_800\nloss_windows = 1")]
    )
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) \['loss_windows'\]"):
        load_config(path)
