"""VaultFactory: assembles the vault's initcode from data contracts (its hash matches the local
build), deploys vaults with `raw_create`, fixes one VaultGovernance module, registers them, emits
VaultDeployed, hands ownership to the deployer (two-step), and refuses what the vault refuses."""

from __future__ import annotations

import pytest
from web3 import Web3
from web3.logs import DISCARD

from offchain.chain.node import (
    CHUNK_SIZE,
    EIP170_LIMIT,
    N_CHUNKS,
    Sender,
    connect,
    data_contract_deploy_code,
    deploy_vault_factory,
    load_artifact,
    local_node,
    split_initcode,
    vault_initcode,
)
from offchain.core import model
from offchain.core.errors import ChainError, ConfigError
from offchain.devnet.localstack import deploy_local_stack

ZERO = "0x" + "00" * 20


@pytest.fixture(scope="module")
def env():
    with local_node() as node:
        w3 = connect(node.url)
        owner = Sender(w3, w3.eth.accounts[0])
        stack = deploy_local_stack(owner)
        route = deploy_vault_factory(owner)
        yield w3, stack, route


def _args(
    stack, weights=(4_000, 3_000, 2_000, 1_000), params=None, max_ages=None, sequencer=ZERO, grace=3_600
):
    n = len(stack.tokens)
    return (
        "f",
        "F",
        [t.address for t in stack.tokens],
        [f.address for f in stack.feeds],
        list(weights),
        list(max_ages or [3_600] * n),
        (params or model.Params()).as_list(),
        stack.router.address,
        ZERO,
        ZERO,
        sequencer,
        grace,
    )


def test_chunks_hold_the_vault_initcode_after_a_stop_byte(env):
    w3, _, route = env
    factory = route.factory
    initcode = vault_initcode()
    assert len(initcode) > EIP170_LIMIT  # why the blueprint route no longer works
    assert factory.functions.CHUNK_SIZE().call() == CHUNK_SIZE
    assert factory.functions.N_CHUNKS().call() == N_CHUNKS
    assert factory.functions.vault_initcode_len().call() == len(initcode)
    codes = [w3.eth.get_code(factory.functions.vault_chunks(i).call()) for i in range(N_CHUNKS)]
    assert [factory.functions.vault_chunks(i).call() for i in range(N_CHUNKS)] == list(route.chunks)
    assert all(len(c) == CHUNK_SIZE + 1 <= EIP170_LIMIT and c[:1] == b"\x00" for c in codes)
    assert b"".join(c[1:] for c in codes)[: len(initcode)] == initcode
    assert codes == [b"\x00" + c for c in split_initcode(initcode)]


def test_initcode_hash_matches_the_local_build(env):
    _, _, route = env
    onchain = bytes(route.factory.functions.vault_initcode_hash().call())
    assert onchain == bytes(Web3.keccak(vault_initcode()))
    assert "0x" + onchain.hex() == route.initcode_hash


def test_factory_fixes_one_governance_module(env):
    w3, stack, route = env
    assert route.factory.functions.governance().call() == route.governance
    assert w3.eth.get_code(route.governance) != b""
    receipt = Sender(w3, w3.eth.accounts[6]).transact(route.factory.functions.deploy_vault(*_args(stack)))
    (ev,) = route.factory.events.VaultDeployed().process_receipt(receipt, errors=DISCARD)
    vault = w3.eth.contract(address=ev["args"]["vault"], abi=load_artifact("RebalancingVault").abi)
    assert vault.functions.governance().call() == route.governance


def test_deploy_vault_registers_emits_and_hands_ownership_over(env):
    w3, stack, route = env
    factory = route.factory
    alice, bob = w3.eth.accounts[3], w3.eth.accounts[4]
    before = factory.functions.vault_count().call()
    receipt = Sender(w3, alice).transact(factory.functions.deploy_vault(*_args(stack)))
    (ev,) = factory.events.VaultDeployed().process_receipt(receipt, errors=DISCARD)
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
    assert w3.eth.get_code(vault_addr) == w3.eth.get_code(factory.functions.vaults(0).call())
    assert vault.functions.owner().call() == factory.address  # until the deployer accepts
    assert vault.functions.pending_owner().call() == alice
    Sender(w3, alice).transact(vault.functions.accept_ownership())
    assert vault.functions.owner().call() == alice
    assert vault.functions.get_target_weights().call() == [4_000, 3_000, 2_000, 1_000]


def test_constructor_arguments_reach_the_vault(env):
    w3, stack, route = env
    params = model.Params(cooldown=0, max_slippage_bps=250, loss_budget_bps=300, loss_window=86_400)
    sequencer = Sender(w3, w3.eth.accounts[0]).deploy("SequencerUptimeFeedDouble", 1)
    args = _args(
        stack, params=params, max_ages=[60, 3_600, 86_400, 259_200], sequencer=sequencer.address, grace=7
    )
    receipt = Sender(w3, w3.eth.accounts[3]).transact(route.factory.functions.deploy_vault(*args))
    (ev,) = route.factory.events.VaultDeployed().process_receipt(receipt, errors=DISCARD)
    vault = w3.eth.contract(address=ev["args"]["vault"], abi=load_artifact("RebalancingVault").abi)
    assert model.Params.from_list(vault.functions.get_params().call()) == params
    assert vault.functions.get_max_ages().call() == [60, 3_600, 86_400, 259_200]
    assert vault.functions.sequencer().call() == [sequencer.address, 7]
    assert vault.functions.pending_changes().call() == []  # nothing was set after deployment


@pytest.mark.parametrize(
    "kw,reason",
    [
        ({"weights": (4_000, 3_000, 2_000, 999)}, "vault: weights must sum to 10000"),
        ({"max_ages": [59, 3_600, 3_600, 3_600]}, "vault: out of bounds"),
        ({"max_ages": [3_600, 3_600, 3_600, 259_201]}, "vault: out of bounds"),
        ({"params": model.Params(loss_budget_bps=0)}, "vault: out of bounds"),
        ({"params": model.Params(min_drift_bps=600)}, "vault: below min drift"),
        ({"grace": 86_401}, "vault: out of bounds"),
    ],
)
def test_factory_refuses_what_the_vault_refuses_with_its_reason(env, kw, reason):
    w3, stack, route = env
    with pytest.raises(ChainError, match=f"would revert: {reason}"):
        Sender(w3, w3.eth.accounts[3]).transact(route.factory.functions.deploy_vault(*_args(stack, **kw)))


def test_factory_refuses_bad_chunks_length_or_module(env):
    w3, _, route = env
    owner = Sender(w3, w3.eth.accounts[0])
    chunks = list(route.chunks)
    length = len(vault_initcode())
    short = owner.deploy_code(data_contract_deploy_code(b"\x01" * 100), "short chunk")["contractAddress"]
    no_stop = owner.deploy_code(
        b"\x61"
        + (CHUNK_SIZE + 1).to_bytes(2, "big")
        + bytes.fromhex("3d81600a3d39f3")
        + b"\xfe" * (CHUNK_SIZE + 1),
        "chunk without STOP",
    )["contractAddress"]
    cases = [
        ((chunks, length, w3.eth.accounts[5]), "factory: no governance module"),
        (([chunks[0], short], length, route.governance), "factory: bad chunk"),
        (([no_stop, chunks[1]], length, route.governance), "factory: bad chunk"),
        (([chunks[0], w3.eth.accounts[5]], length, route.governance), "factory: bad chunk"),
        ((chunks, 0, route.governance), "factory: bad initcode length"),
        ((chunks, N_CHUNKS * CHUNK_SIZE + 1, route.governance), "factory: bad initcode length"),
    ]
    for args, reason in cases:
        with pytest.raises(ChainError, match=reason):
            owner.deploy("VaultFactory", *args)


def test_split_refuses_initcode_above_capacity():
    with pytest.raises(ConfigError, match="raise CHUNK_SIZE"):
        split_initcode(b"\x01" * (N_CHUNKS * CHUNK_SIZE + 1))
    assert [len(c) for c in split_initcode(b"\x01" * 10)] == [CHUNK_SIZE] * N_CHUNKS
