"""VaultFactory: deploys vaults from the EIP-5202 blueprint, registers them, emits VaultDeployed,
hands ownership to the deployer (two-step), and refuses what the vault itself refuses."""

from __future__ import annotations

import pytest

from offchain.chain import Anvil, Sender, blueprint_deploy_code, connect, load_artifact
from offchain.errors import ChainError
from offchain.localstack import deploy_local_stack


@pytest.fixture(scope="module")
def env():
    with Anvil() as node:
        w3 = connect(node.url)
        owner = Sender(w3, w3.eth.accounts[0])
        stack = deploy_local_stack(owner)
        blueprint = owner.deploy_blueprint("RebalancingVault")
        factory = owner.deploy("VaultFactory", blueprint)
        yield w3, stack, blueprint, factory


def _args(stack, weights=(4_000, 3_000, 2_000, 1_000)):
    zero = "0x" + "00" * 20
    return (
        "f",
        "F",
        [t.address for t in stack.tokens],
        [f.address for f in stack.feeds],
        list(weights),
        stack.router.address,
        zero,
        zero,
    )


def test_blueprint_holds_the_vault_initcode_behind_the_erc5202_preamble(env):
    w3, _, blueprint, factory = env
    code = w3.eth.get_code(blueprint)
    initcode = bytes.fromhex(load_artifact("RebalancingVault").bytecode[2:])
    assert code == b"\xfe\x71\x00" + initcode
    assert blueprint_deploy_code(initcode)[10:] == code
    assert factory.functions.VAULT_BLUEPRINT().call() == blueprint


def test_deploy_vault_registers_emits_and_hands_ownership_over(env):
    w3, stack, _, factory = env
    alice, bob = w3.eth.accounts[3], w3.eth.accounts[4]
    before = factory.functions.vault_count().call()
    receipt = Sender(w3, alice).transact(factory.functions.deploy_vault(*_args(stack)))
    (ev,) = factory.events.VaultDeployed().process_receipt(receipt)
    vault_addr = ev["args"]["vault"]
    assert ev["args"]["deployer"] == alice and ev["args"]["index"] == before
    assert ev["args"]["assets"] == [t.address for t in stack.tokens]
    assert ev["args"]["target_weights"] == [4_000, 3_000, 2_000, 1_000]
    assert factory.functions.vaults(before).call() == vault_addr
    assert factory.functions.vault_count().call() == before + 1
    assert factory.functions.is_vault(vault_addr).call() and not factory.functions.is_vault(alice).call()
    Sender(w3, bob).transact(factory.functions.deploy_vault(*_args(stack)))
    assert factory.functions.vaults_by(alice).call() == [vault_addr]
    vault = w3.eth.contract(address=vault_addr, abi=load_artifact("RebalancingVault").abi)
    assert vault.functions.owner().call() == factory.address  # until the deployer accepts
    assert vault.functions.pending_owner().call() == alice
    Sender(w3, alice).transact(vault.functions.accept_ownership())
    assert vault.functions.owner().call() == alice
    assert vault.functions.get_target_weights().call() == [4_000, 3_000, 2_000, 1_000]


def test_factory_refuses_what_the_vault_refuses(env):
    w3, stack, _, factory = env
    with pytest.raises(ChainError, match="would revert"):
        Sender(w3, w3.eth.accounts[3]).transact(
            factory.functions.deploy_vault(*_args(stack, (4_000, 3_000, 2_000, 999)))
        )


def test_factory_needs_a_blueprint(env):
    w3, _, _, _ = env
    with pytest.raises(ChainError, match="factory: no blueprint"):
        Sender(w3, w3.eth.accounts[0]).deploy("VaultFactory", w3.eth.accounts[5])
