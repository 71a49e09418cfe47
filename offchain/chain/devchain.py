"""Local development chains: start Anvil or Ganache, and the development-only RPCs (mine at a time,
automine, mine N blocks, set a balance) the demo, the devnet, the benchmarks and the tests use, on
either node. ``BALLAST_CHAIN`` (anvil, the default, or ganache) picks the node ``local_node`` starts.

Anvil's ``anvil_*``/``evm_set*`` methods are tried first; where Ganache 7.9.2 has no such method, its
own equivalent is used (``evm_setTime``, ``evm_mine`` with a timestamp or a block count,
``miner_start``/``miner_stop``, ``evm_setAccountBalance``).
"""

from __future__ import annotations

import logging
import os
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from web3 import Web3

from offchain.core.errors import ChainError, ConfigError

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
# gas limit = eth_estimateGas x this. 1.2 (the keeper's default ``gas_multiplier`` too) on Anvil and
# public nodes; Ganache 7.9.2's estimate falls ~30 % short of what a Uniswap V2 swap uses (measured:
# 109,245 estimated, 139,748 used, out of gas at 141,094), so on Ganache 1.6.
GAS_MULTIPLIER = 1.2
GANACHE_GAS_MULTIPLIER = 1.6


def anvil_binary() -> str:
    local = ROOT / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return str(local)
    found = shutil.which("anvil")
    if not found:
        raise ConfigError("anvil not found: run `make install` (it installs Anvil with npm ci)")
    return found


_LISTENING = re.compile(r"Listening on [0-9.]+:([0-9]+)")
CHAINS = ("anvil", "ganache")
# Anvil's default accounts; Ganache is started with the same mnemonic, so keys and addresses match
DEV_MNEMONIC = "test test test test test test test test test test test junk"


def chain_kind() -> str:
    """Which local node the tests, the demo and the devnet start: ``BALLAST_CHAIN`` (anvil, the
    default, or ganache)."""
    kind = (os.environ.get("BALLAST_CHAIN") or "anvil").strip().lower()
    if kind not in CHAINS:
        raise ConfigError(f"BALLAST_CHAIN={kind!r} is not one of {', '.join(CHAINS)}; unset it or pick one")
    return kind


def local_node(port: int | None = None, chain_id: int = 31337) -> Anvil:
    """A local node of ``chain_kind()``, not yet started (``with local_node() as node: ...``)."""
    return (
        Ganache(port=port, chain_id=chain_id)
        if chain_kind() == "ganache"
        else Anvil(port=port, chain_id=chain_id)
    )


def ganache_binary() -> str:
    local = ROOT / "node_modules" / ".bin" / "ganache"
    if local.exists():
        return str(local)
    raise ConfigError("ganache not found: run `make install` (it installs Ganache 7.9.2 with npm ci)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


class Ganache(Anvil):
    """A local Ganache 7.9.2 node (the pinned one from ``node_modules/.bin``) with Anvil's interface:
    shanghai (its newest fork: contracts must be built with ``BALLAST_EVM_VERSION=shanghai``), the
    same chain id, gas limit and accounts as ``Anvil``, and no per-request log. Ganache cannot bind
    port 0, so without a fixed port it takes a free one, and tries another if that one was taken
    meanwhile."""

    def start(self, timeout: float = 60.0) -> Ganache:
        fixed = self.port is not None
        for _attempt in range(1 if fixed else 3):
            port = self.port if fixed else _free_port()
            cmd = [
                ganache_binary(),
                "--logging.quiet",
                "--server.port",
                str(port),
                "--chain.chainId",
                str(self.chain_id),
                "--miner.blockGasLimit",
                "30000000",
                "--hardfork",
                "shanghai",
                "--wallet.mnemonic",
                DEV_MNEMONIC,
                "--wallet.totalAccounts",
                "10",
                "--wallet.defaultBalance",
                "10000",
                *self.extra_args,
            ]
            log.debug("starting %s", " ".join(cmd))
            self.port = port
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._answers(time.monotonic() + timeout):
                return self
            err = self._stderr() if self.proc and self.proc.poll() is not None else ""
            self.stop()
            if fixed or "EADDRINUSE" not in err:
                raise ChainError(f"ganache did not start on port {port}: {err or 'no answer'}")
            if not fixed:
                self.port = None
        raise ChainError("ganache did not start: no free port after 3 tries")

    def _answers(self, deadline: float) -> bool:
        w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 5}))
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                if w3.is_connected():
                    return True
            except Exception:  # noqa: BLE001 - still starting
                pass
            time.sleep(0.1)
        return False


def dev_rpc(w3: Web3, method: str, params: list[Any]) -> Any:
    """One development-node RPC (``evm_*``, ``anvil_*``, ``miner_*``); its error is a ``ChainError``."""
    answer = w3.provider.make_request(method, params)  # type: ignore[arg-type]
    if "error" in answer:
        raise ChainError(f"{method}: {answer['error']}")
    return answer.get("result")


def _unsupported(answer: dict[str, Any]) -> bool:
    """The answer says the node does not know the method (JSON-RPC -32601, or Ganache's "The method
    ... does not exist/is not available")."""
    error = answer.get("error") or {}
    if isinstance(error, dict) and error.get("code") == -32601:
        return True
    text = str(error.get("message", "") if isinstance(error, dict) else error).lower()
    return any(words in text for words in ("does not exist", "not available", "not supported", "not found"))


def _anvil(w3: Web3, method: str, params: list[Any]) -> bool:
    """Ask for Anvil's ``method``: True if the node did it, False if it does not know the method
    (the caller then uses Ganache's way); any other error is a ``ChainError``."""
    answer = w3.provider.make_request(method, params)  # type: ignore[arg-type]
    if "error" not in answer:
        return True
    if not _unsupported(answer):
        raise ChainError(f"{method}: {answer['error']}")
    return False


def mine_at(w3: Web3, at: int) -> int:
    """On a development node, mine one block at exactly ``at`` (Unix seconds) and return it; the
    node's clock goes on from there. Anvil: ``evm_setNextBlockTimestamp`` then ``evm_mine``; Ganache
    (which has no ``evm_setNextBlockTimestamp``): ``evm_setTime`` (milliseconds) then ``evm_mine`` at
    ``at``."""
    if _anvil(w3, "evm_setNextBlockTimestamp", [at]):
        dev_rpc(w3, "evm_mine", [])
    else:
        dev_rpc(w3, "evm_setTime", [at * 1000])
        dev_rpc(w3, "evm_mine", [at])
    return at


def set_next_timestamp(w3: Web3, at: int) -> None:
    """The next block's timestamp: exactly ``at`` on Anvil (``evm_setNextBlockTimestamp``); on
    Ganache, which has no such method, its clock is set to ``at`` (``evm_setTime``), so the next
    block lands at ``at`` plus the wall-clock seconds until it is mined."""
    if not _anvil(w3, "evm_setNextBlockTimestamp", [at]):
        dev_rpc(w3, "evm_setTime", [at * 1000])


def set_automine(w3: Web3, on: bool) -> None:
    """Mine each transaction as it arrives (``on``) or only on ``evm_mine``: Anvil's
    ``evm_setAutomine``, Ganache's ``miner_start``/``miner_stop``."""
    if not _anvil(w3, "evm_setAutomine", [on]):
        dev_rpc(w3, "miner_start" if on else "miner_stop", [])


def mine_after(w3: Web3, seconds: int) -> int:
    """On a development node (Anvil or Ganache): mine one block exactly ``seconds`` (at least 1) after
    the latest block, and return its timestamp; the node's clock goes on from there.

    Absolute on purpose, not ``evm_increaseTime``: blocks mined faster than one a second run ahead of
    the wall clock, and a relative increase counts from the wall clock, so it can land that many
    seconds short of a cooldown or timelock."""
    return mine_at(w3, int(w3.eth.get_block("latest")["timestamp"]) + max(1, int(seconds)))


def mine_blocks(w3: Web3, n: int) -> None:
    """Mine ``n`` empty blocks at once: ``anvil_mine``, or Ganache's ``evm_mine`` with a block count."""
    if not _anvil(w3, "anvil_mine", [hex(n)]):
        dev_rpc(w3, "evm_mine", [{"blocks": n}])


def set_balance(w3: Web3, address: str, wei: int) -> None:
    """Set an account's ether balance: ``anvil_setBalance``, or Ganache's ``evm_setAccountBalance``."""
    if not _anvil(w3, "anvil_setBalance", [address, hex(wei)]):
        dev_rpc(w3, "evm_setAccountBalance", [address, hex(wei)])


def is_ganache(w3: Web3) -> bool:
    """Whether ``w3`` talks to Ganache (``web3_clientVersion`` starts with "Ganache")."""
    try:
        return str(w3.client_version).lower().startswith("ganache")
    except Exception:  # noqa: BLE001 - a node without the method is not Ganache
        return False


def gas_multiplier(w3: Web3) -> float:
    """Gas limit = estimate x this on ``w3``'s node (see ``GAS_MULTIPLIER``)."""
    return GANACHE_GAS_MULTIPLIER if is_ganache(w3) else GAS_MULTIPLIER
