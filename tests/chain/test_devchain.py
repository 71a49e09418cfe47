"""The one EVM-version setting (``offchain.chain.node.evm_version``), revert reasons as Anvil and
Ganache word them, and which local node ``BALLAST_CHAIN`` picks (``offchain.chain.devchain``)."""

from __future__ import annotations

import pytest

from offchain.chain import devchain, node
from offchain.core.errors import ConfigError


@pytest.fixture
def config(tmp_path, monkeypatch):
    """A brownie-config.yaml of the test's own, read by ``evm_version``."""
    path = tmp_path / "brownie-config.yaml"
    monkeypatch.setattr(node, "BROWNIE_CONFIG", path)
    node.evm_version.cache_clear()
    yield path
    node.evm_version.cache_clear()


def test_the_repo_setting_is_prague_unless_the_variable_says_otherwise(monkeypatch):
    node.evm_version.cache_clear()
    try:
        monkeypatch.delenv("BALLAST_EVM_VERSION", raising=False)
        assert node.evm_version() == "prague"
        node.evm_version.cache_clear()
        monkeypatch.setenv("BALLAST_EVM_VERSION", "shanghai")
        assert node.evm_version() == "shanghai"
        node.evm_version.cache_clear()
        monkeypatch.setenv("BALLAST_EVM_VERSION", "")  # empty is unset, as brownie expands it
        assert node.evm_version() == "prague"
    finally:
        node.evm_version.cache_clear()


def test_the_compiler_block_is_read_not_another_evm_version_line(config, monkeypatch):
    monkeypatch.delenv("BALLAST_EVM_VERSION", raising=False)
    config.write_text(
        "networks:\n  ganache-cli:\n    cmd_settings:\n      evm_version: istanbul\n"
        "compiler:\n  # a comment\n  evm_version: cancun\n  vyper:\n    version: 0.4.3\n"
    )
    assert node.evm_version() == "cancun"


def test_an_unknown_evm_version_is_one_clear_error(config, monkeypatch):
    config.write_text("compiler:\n  evm_version: ${BALLAST_EVM_VERSION:-prague}\n")
    monkeypatch.setenv("BALLAST_EVM_VERSION", "london")
    with pytest.raises(
        ConfigError, match=r"'london' \(from \$BALLAST_EVM_VERSION\).*set BALLAST_EVM_VERSION"
    ):
        node.evm_version()


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("execution reverted: vault: stale price", "vault: stale price"),
        ("execution reverted", "reverted without reason"),
        (
            "execution reverted: VM Exception while processing transaction: revert vault: out of bounds",
            "vault: out of bounds",
        ),
        ("VM Exception while processing transaction: revert", "reverted without reason"),
        ("connection refused", "connection refused"),
    ],
)
def test_revert_reasons_as_anvil_and_ganache_word_them(message, reason):
    assert node.revert_reason(Exception(message)) == reason


@pytest.mark.parametrize(
    ("answer", "unsupported"),
    [
        ({"error": {"code": -32601, "message": "Method not found"}}, True),
        (
            {
                "error": {
                    "code": -32700,
                    "message": "The method evm_setNextBlockTimestamp does not exist/is not available",
                }
            },
            True,
        ),
        ({"error": {"code": -32000, "message": "Timestamp error: 5 is lower than previous block's"}}, False),
        ({"result": None}, False),
    ],
)
def test_only_an_unknown_method_falls_back_to_the_other_nodes_way(answer, unsupported):
    assert devchain._unsupported(answer) is unsupported


def test_ballast_chain_picks_the_node(monkeypatch):
    monkeypatch.setenv("BALLAST_CHAIN", "ganache")
    assert isinstance(devchain.local_node(), devchain.Ganache)
    monkeypatch.setenv("BALLAST_CHAIN", "Anvil ")
    node_ = devchain.local_node()
    assert type(node_) is devchain.Anvil
    monkeypatch.setenv("BALLAST_CHAIN", "hardhat")
    with pytest.raises(ConfigError, match="BALLAST_CHAIN='hardhat' is not one of anvil, ganache"):
        devchain.local_node()
