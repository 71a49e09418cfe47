"""Chain plumbing shared by the demo, benchmarks, keeper and auditor (web3.py only, no brownie).

* ``load_artifact(name)``: ABI + bytecode of a contract under ``contracts/``, from brownie's
  ``build/`` when it is up to date and built for ``evm_version()``, otherwise compiled with the
  Vyper compiler directly for that EVM version.
* ``evm_version()``: the one EVM-version setting, ``compiler.evm_version`` in brownie-config.yaml
  (``${BALLAST_EVM_VERSION:-prague}``: prague unless the variable says otherwise).
* ``Anvil``, ``Ganache``, ``local_node``, ``mine_after``...: the local chains and their development
  RPCs, in ``offchain.chain.devchain`` (re-exported here).
* ``Sender``: deploy contracts and send transactions from one account, with revert reasons
  surfaced as ``ChainError``. Local unlocked accounts or a private key held in memory only.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, TimeExhausted, Web3RPCError

# the local-chain launchers and development RPCs live in devchain; re-exported for existing callers
from offchain.chain.devchain import (  # noqa: E402,F401
    Anvil,
    Ganache,
    anvil_binary,
    chain_kind,
    dev_rpc,
    gas_multiplier,
    local_node,
    mine_after,
    mine_at,
    set_automine,
    set_next_timestamp,
)
from offchain.core.errors import ChainError, ConfigError

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
BUILD = ROOT / "build" / "contracts"
BROWNIE_CONFIG = ROOT / "brownie-config.yaml"
EVM_VERSIONS = ("shanghai", "cancun", "prague")  # what Vyper 0.4.3 and the vault support
ANVIL_VERSION = "1.7.1"


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str


def _source_path(name: str) -> Path:
    matches = sorted(CONTRACTS.rglob(f"{name}.vy"))
    if not matches:
        raise ConfigError(f"no contract source named {name}.vy under contracts/")
    return matches[0]


# brownie-config.yaml's top-level ``compiler:`` block, then its ``evm_version:`` line
_EVM_SETTING = re.compile(r"^compiler:\n(?:(?:[ \t].*)?\n)*?[ \t]+evm_version:[ \t]*(\S+)", re.MULTILINE)
_ENV_REFERENCE = re.compile(r"^\$\{(\w+)(?::-(\w*))?\}$")


@cache
def evm_version() -> str:
    """The EVM version every contract is compiled for: brownie-config.yaml's ``compiler.evm_version``,
    a name or ``${VAR:-default}`` expanded as brownie expands it (an unset or empty VAR gives the
    default). brownie, ``load_artifact`` and the factory's initcode all follow it."""
    found = _EVM_SETTING.search(BROWNIE_CONFIG.read_text()) if BROWNIE_CONFIG.exists() else None
    value = found.group(1) if found else "prague"
    ref = _ENV_REFERENCE.match(value)
    if ref:
        value = os.environ.get(ref.group(1)) or ref.group(2) or ""
    if value not in EVM_VERSIONS:
        source = f"${ref.group(1)}" if ref and os.environ.get(ref.group(1)) else "brownie-config.yaml"
        raise ConfigError(
            f"EVM version {value!r} (from {source}) is not one of {', '.join(EVM_VERSIONS)}; "
            "set BALLAST_EVM_VERSION to one of them"
        )
    return value


def built_evm_version(name: str = "RebalancingVault") -> str | None:
    """The EVM version brownie's build of ``name`` was compiled for (``None``: no build)."""
    built = BUILD / f"{name}.json"
    if not built.exists():
        return None
    return json.loads(built.read_text()).get("compiler", {}).get("evm_version")


def drop_stale_build() -> bool:
    """Remove brownie's contract build if it was compiled for another EVM version than
    ``evm_version()`` (brownie recompiles on source or compiler-version changes only). True if it
    removed one."""
    built = built_evm_version()
    if built is None or built == evm_version():
        return False
    log.warning("build/contracts was compiled for %s, the setting is %s: rebuilding", built, evm_version())
    shutil.rmtree(BUILD)
    return True


@cache
def load_artifact(name: str) -> Artifact:
    """ABI and deployment bytecode of ``contracts/**/<name>.vy``, for ``evm_version()``."""
    src = _source_path(name)
    built = BUILD / f"{name}.json"
    evm = evm_version()
    if built.exists() and built.stat().st_mtime >= src.stat().st_mtime:
        data = json.loads(built.read_text())
        if data.get("bytecode") and data.get("compiler", {}).get("evm_version") == evm:
            return Artifact(name, data["abi"], data["bytecode"])
    try:
        import vyper  # noqa: PLC0415 - heavy import, only when needed
        from vyper.compiler import compile_code  # noqa: PLC0415
        from vyper.compiler.settings import Settings  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - vyper ships with the pinned deps
        raise ConfigError("the Vyper compiler is not installed: run `make install`") from exc
    log.debug("compiling %s with vyper %s for %s", src, vyper.__version__, evm)
    out = compile_code(
        src.read_text(),
        output_formats=["abi", "bytecode"],
        contract_path=str(src),
        settings=Settings(evm_version=evm),
    )
    return Artifact(name, out["abi"], out["bytecode"])


EIP170_LIMIT = 24_576  # largest runtime code (EIP-170)
EIP3860_LIMIT = 49_152  # largest initcode (EIP-3860)

# The vault factory's data-contract route (contracts/VaultFactory.vy): the vault's initcode, too
# large for one contract's code, is split into N_CHUNKS pieces, each stored as the runtime code of a
# "data contract": 0x00 (STOP: calling it does nothing) + the piece zero-padded to CHUNK_SIZE bytes.
# Both constants must equal the factory's CHUNK_SIZE and N_CHUNKS.
CHUNK_SIZE = 16_384
N_CHUNKS = 2
# Minimal constructor returning the code that follows it: PUSH2 len, RETURNDATASIZE, DUP2,
# PUSH1 10, RETURNDATASIZE, CODECOPY, RETURN.
_COPY_CONSTRUCTOR = bytes.fromhex("3d81600a3d39f3")


def split_initcode(initcode: bytes, chunk_size: int = CHUNK_SIZE, n_chunks: int = N_CHUNKS) -> list[bytes]:
    """``initcode`` cut into ``n_chunks`` pieces of exactly ``chunk_size`` bytes (the last zero-padded)."""
    if not 0 < len(initcode) <= chunk_size * n_chunks:
        raise ConfigError(
            f"vault initcode is {len(initcode):,} bytes; the factory holds 1 to "
            f"{chunk_size * n_chunks:,} ({n_chunks} chunks of {chunk_size:,}): raise CHUNK_SIZE in "
            "contracts/VaultFactory.vy and offchain/chain/node.py"
        )
    padded = initcode.ljust(chunk_size * n_chunks, b"\x00")
    return [padded[i * chunk_size : (i + 1) * chunk_size] for i in range(n_chunks)]


def data_contract_deploy_code(chunk: bytes) -> bytes:
    """Deployment bytecode of a data contract whose runtime code is ``0x00 + chunk``."""
    code = b"\x00" + chunk
    if len(code) > EIP170_LIMIT:
        raise ConfigError(f"data contract code is {len(code):,} bytes, over EIP-170's {EIP170_LIMIT:,}")
    return b"\x61" + len(code).to_bytes(2, "big") + _COPY_CONSTRUCTOR + code


def connect(url: str, timeout: float = 10.0) -> Web3:
    """A Web3 connected to ``url``; one clear ChainError if the node does not answer.

    Only ``eth_chainId`` is cached (web3's request cache, limited to that method): web3's
    validation middleware asks it before every call, estimate and send, about half of all
    requests. A node's chain id is fixed; the keeper and the auditor check it once, at start.
    Nothing block- or state-dependent is cached."""
    w3 = Web3(
        Web3.HTTPProvider(
            url,
            request_kwargs={"timeout": timeout},
            cache_allowed_requests=True,
            cacheable_requests={"eth_chainId"},
        )
    )
    try:
        w3.eth.chain_id  # noqa: B018 - probe
    except Exception as exc:  # noqa: BLE001 - any transport failure
        raise ChainError(
            f"no JSON-RPC node answers at {url}: check --rpc-url and that the node runs"
        ) from exc
    return w3


def revert_reason(exc: BaseException) -> str:
    """The revert string out of a web3 exception ("vault: stale price"), else its message. Anvil says
    "execution reverted: <reason>"; Ganache "VM Exception while processing transaction: revert
    <reason>", which web3 prefixes with "execution reverted: " too."""
    msg = getattr(exc, "message", None) or str(exc)
    found = False
    for prefix in ("execution reverted", "VM Exception while processing transaction: revert"):
        if prefix in msg:
            msg, found = msg.split(prefix, 1)[1].strip(" :'\""), True
    return (msg or "reverted without reason") if found else msg


class Sender:
    """Sends transactions from one account: unlocked on a local node, or signed with a key."""

    def __init__(self, w3: Web3, address: str, private_key: str | None = None, signer: Any = None):
        """``signer``: an object with ``sign(tx) -> (raw_tx_hex, tx_hash_hex)`` that keeps its key
        (e.g. ``offchain.keeper.keys.Signer``); else ``private_key``; else the node signs (local)."""
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self._key = private_key  # never logged
        self._signer = signer
        self.last_receipt: Any = None  # receipt of the latest transaction sent (e.g. a deploy's gasUsed)
        self._gas_multiplier: float | None = None  # devchain.gas_multiplier, asked on first send

    def __repr__(self) -> str:  # never show the key
        return f"Sender({self.address})"

    def _multiplier(self) -> float:
        if self._gas_multiplier is None:
            self._gas_multiplier = gas_multiplier(self.w3)
        return self._gas_multiplier

    def deploy(self, name: str, *args: Any) -> Contract:
        """Deploy ``contracts/**/<name>.vy`` (``load_artifact``)."""
        return self.deploy_artifact(load_artifact(name), *args)

    def deploy_artifact(self, art: Artifact, *args: Any) -> Contract:
        """Deploy any ``Artifact`` (ours, or a published one such as Uniswap V2's)."""
        factory = self.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        receipt = self._send(factory.constructor(*args), label=f"deploy {art.name}")
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=art.abi)

    def deploy_code(self, data: bytes, label: str) -> Any:
        """Send a contract-creation transaction with raw ``data``; returns the receipt."""
        tx: dict[str, Any] = {"from": self.address, "data": "0x" + data.hex()}
        try:
            tx["gas"] = int(self.w3.eth.estimate_gas(tx) * self._multiplier()) + 10_000
        except (ContractLogicError, Web3RPCError, ValueError) as exc:
            raise ChainError(f"{label} would fail: {revert_reason(exc)}") from None
        return self._send_raw(tx, label=label)

    def transact(self, fn: Any, label: str | None = None, gas: int | None = None) -> Any:
        """Simulate with eth_call, then send and wait; ChainError carrying the revert reason on failure."""
        return self._send(fn, label=label or fn.fn_name, gas=gas)

    def _send(self, fn: Any, label: str, gas: int | None = None) -> Any:
        tx: dict[str, Any] = {"from": self.address}
        try:
            tx["gas"] = gas or int(fn.estimate_gas(tx) * self._multiplier()) + 10_000
        except (ContractLogicError, Web3RPCError, ValueError) as exc:
            raise ChainError(f"{label} would revert: {revert_reason(exc)}") from None
        if self._key is None and self._signer is None:
            return self._wait(fn.transact(tx), label)
        return self._send_raw(fn.build_transaction(tx), label)

    def _send_raw(self, tx: dict[str, Any], label: str) -> Any:
        """Send a built transaction: signed locally when a key is held, else by the node."""
        if self._key is None and self._signer is None:
            return self._wait(self.w3.eth.send_transaction(tx), label)
        tx = dict(tx)
        tx["nonce"] = self.w3.eth.get_transaction_count(self.address, "pending")
        tx["chainId"] = self.w3.eth.chain_id
        if "gasPrice" not in tx and "maxFeePerGas" not in tx:
            base = self.w3.eth.get_block("latest").get("baseFeePerGas", 0)
            tip = self.w3.eth.max_priority_fee
            tx["maxPriorityFeePerGas"] = tip
            tx["maxFeePerGas"] = 2 * base + tip
        tx.pop("from", None)
        if self._signer is not None:
            raw, _ = self._signer.sign(tx)
            return self._wait(self.w3.eth.send_raw_transaction(raw), label)
        signed = self.w3.eth.account.sign_transaction(tx, self._key)
        return self._wait(self.w3.eth.send_raw_transaction(signed.raw_transaction), label)

    def _wait(self, tx_hash: Any, label: str) -> Any:
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        except TimeExhausted as exc:
            raise ChainError(f"{label}: no receipt within 120 s") from exc
        if receipt["status"] != 1:
            raise ChainError(f"{label} reverted in block {receipt['blockNumber']}")
        self.last_receipt = receipt
        return receipt


@dataclass(frozen=True)
class FactoryStack:
    """The vault factory route, deployed once per chain (``deploy_vault_factory``)."""

    factory: Contract
    governance: str
    chunks: tuple[str, ...]
    initcode_hash: str  # 0x-hex keccak256 of the vault initcode the factory assembles
    gas: dict[str, int]  # gasUsed: "governance", "chunks" (all), "factory"


def vault_initcode() -> bytes:
    """The RebalancingVault initcode (``load_artifact``'s build) the factory's chunks hold."""
    return bytes.fromhex(load_artifact("RebalancingVault").bytecode.removeprefix("0x"))


def deploy_vault_factory(sender: Sender, governance: str | None = None) -> FactoryStack:
    """Deploy the VaultGovernance module (unless ``governance`` is given), the vault-initcode
    data contracts and a VaultFactory over them; checks the factory's ``vault_initcode_hash``
    against the local build."""
    gas = {"governance": 0, "chunks": 0, "factory": 0}
    if governance is None:
        module = sender.deploy("VaultGovernance")
        governance = module.address
        gas["governance"] = int(sender.last_receipt["gasUsed"])
    initcode = vault_initcode()
    chunks = []
    for i, chunk in enumerate(split_initcode(initcode)):
        receipt = sender.deploy_code(data_contract_deploy_code(chunk), label=f"deploy vault code chunk {i}")
        gas["chunks"] += int(receipt["gasUsed"])
        chunks.append(receipt["contractAddress"])
    factory = sender.deploy("VaultFactory", chunks, len(initcode), governance)
    gas["factory"] = int(sender.last_receipt["gasUsed"])
    expected = "0x" + Web3.keccak(initcode).hex().removeprefix("0x")
    got = "0x" + bytes(factory.functions.vault_initcode_hash().call()).hex()
    if got != expected:
        raise ChainError(f"factory {factory.address} assembles initcode {got}, the local build is {expected}")
    log.info("deployed vault factory %s (governance %s, chunks %s)", factory.address, governance, chunks)
    return FactoryStack(factory, Web3.to_checksum_address(governance), tuple(chunks), expected, gas)
