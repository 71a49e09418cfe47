"""Chain plumbing shared by the demo, benchmarks, keeper and auditor (web3.py only, no brownie).

* ``load_artifact(name)``: ABI + bytecode of a contract under ``contracts/``, from brownie's
  ``build/`` when it is up to date, otherwise compiled with the Vyper compiler directly.
* ``Anvil``: start/stop a local Anvil node (the pinned one from ``node_modules/.bin``).
* ``Sender``: deploy contracts and send transactions from one account, with revert reasons
  surfaced as ``ChainError``. Local unlocked accounts or a private key held in memory only.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, TimeExhausted, Web3RPCError

from offchain.core.errors import ChainError, ConfigError

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
BUILD = ROOT / "build" / "contracts"
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


@cache
def load_artifact(name: str) -> Artifact:
    """ABI and deployment bytecode of ``contracts/**/<name>.vy``."""
    src = _source_path(name)
    built = BUILD / f"{name}.json"
    if built.exists() and built.stat().st_mtime >= src.stat().st_mtime:
        data = json.loads(built.read_text())
        if data.get("bytecode"):
            return Artifact(name, data["abi"], data["bytecode"])
    try:
        import vyper  # noqa: PLC0415 - heavy import, only when needed
        from vyper.compiler import compile_code  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - vyper ships with the pinned deps
        raise ConfigError("the Vyper compiler is not installed: run `make install`") from exc
    log.debug("compiling %s with vyper %s", src, vyper.__version__)
    out = compile_code(src.read_text(), output_formats=["abi", "bytecode"], contract_path=str(src))
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


def anvil_binary() -> str:
    local = ROOT / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return str(local)
    found = shutil.which("anvil")
    if not found:
        raise ConfigError("anvil not found: run `make install` (it installs Anvil with npm ci)")
    return found


_LISTENING = re.compile(r"Listening on [0-9.]+:([0-9]+)")


class Anvil:
    """A local Anvil node for the life of a ``with`` block (or ``start()``/``stop()``)."""

    def __init__(self, port: int | None = None, chain_id: int = 31337, extra_args: tuple[str, ...] = ()):
        self.port = port  # None: the OS picks one at start() (see start)
        self.chain_id = chain_id
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> Anvil:
        """Start the node and wait until it answers. Without a fixed port the node binds port 0 and
        reports the port the OS gave it ("Listening on ..."), so two processes starting nodes at the
        same moment (pytest-xdist workers) can never pick the same port or talk to each other's node."""
        fixed = self.port is not None
        cmd = [
            anvil_binary(),
            "--port",
            str(self.port if fixed else 0),
            "--chain-id",
            str(self.chain_id),
            "--gas-limit",
            "30000000",
            *(("--silent",) if fixed else ()),
            *self.extra_args,
        ]
        log.debug("starting %s", " ".join(cmd))
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL if fixed else subprocess.PIPE, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        if not fixed:
            self.port = self._bound_port(deadline)
        w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 5}))
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ChainError(f"anvil exited at start-up: {self._stderr()}")
            try:
                if w3.is_connected():
                    if not fixed:  # the banner is read; no per-request log lines from here on
                        w3.provider.make_request("anvil_setLoggingEnabled", [False])
                    return self
            except Exception:  # noqa: BLE001 - still starting
                pass
            time.sleep(0.05)
        self.stop()
        raise ChainError(f"anvil did not answer on {self.url} within {timeout:.0f} s")

    def _bound_port(self, deadline: float) -> int:
        """The port in anvil's "Listening on 127.0.0.1:PORT" line; its stdout is drained after it."""
        assert self.proc is not None and self.proc.stdout is not None
        found: queue.Queue[int | None] = queue.Queue()

        def read(stream: Any) -> None:
            for raw in iter(stream.readline, b""):
                match = _LISTENING.search(raw.decode(errors="replace"))
                if match:
                    found.put(int(match.group(1)))
            found.put(None)  # EOF: anvil exited before it listened (or after, harmlessly)

        threading.Thread(target=read, args=(self.proc.stdout,), daemon=True, name="anvil-stdout").start()
        try:
            port = found.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            port = None
        if port is None:
            err = self._stderr() if self.proc.poll() is not None else "no 'Listening on' line"
            self.stop()
            raise ChainError(f"anvil did not start: {err}")
        return port

    def _stderr(self) -> str:
        err = self.proc.stderr.read().decode() if self.proc and self.proc.stderr else ""
        return err.strip()[:300]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


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


def mine_after(w3: Web3, seconds: int) -> int:
    """On a development node (Anvil): mine one block exactly ``seconds`` (at least 1) after the latest
    block, and return its timestamp; the node's clock goes on from there.

    Absolute on purpose, not ``evm_increaseTime``: blocks mined faster than one a second run ahead of
    the wall clock, and a relative increase counts from the wall clock, so it can land that many
    seconds short of a cooldown or timelock."""
    at = int(w3.eth.get_block("latest")["timestamp"]) + max(1, int(seconds))
    for method, params in (("evm_setNextBlockTimestamp", [at]), ("evm_mine", [])):
        answer = w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in answer:
            raise ChainError(f"{method}: {answer['error']}")
    return at


def revert_reason(exc: BaseException) -> str:
    """The revert string out of a web3 exception ("vault: stale price"), else its message."""
    msg = getattr(exc, "message", None) or str(exc)
    for prefix in ("execution reverted: ", "execution reverted"):
        if prefix in msg:
            return msg.split(prefix, 1)[1].strip(" :'\"") or "reverted without reason"
    return msg


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

    def __repr__(self) -> str:  # never show the key
        return f"Sender({self.address})"

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
            tx["gas"] = int(self.w3.eth.estimate_gas(tx) * 1.2) + 10_000
        except (ContractLogicError, Web3RPCError, ValueError) as exc:
            raise ChainError(f"{label} would fail: {revert_reason(exc)}") from None
        return self._send_raw(tx, label=label)

    def transact(self, fn: Any, label: str | None = None, gas: int | None = None) -> Any:
        """Simulate with eth_call, then send and wait; ChainError carrying the revert reason on failure."""
        return self._send(fn, label=label or fn.fn_name, gas=gas)

    def _send(self, fn: Any, label: str, gas: int | None = None) -> Any:
        tx: dict[str, Any] = {"from": self.address}
        try:
            tx["gas"] = gas or int(fn.estimate_gas(tx) * 1.2) + 10_000
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
