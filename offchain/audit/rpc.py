"""A thin JSON-RPC client for the auditor: plain methods, one at a time or batched.

Only standard methods are used (``eth_getLogs``, ``eth_call`` with a block number,
``eth_getBlockByNumber``, ``eth_getTransactionReceipt``, ``eth_getCode``, ``eth_blockNumber``,
``eth_chainId``), so it works against any Ethereum JSON-RPC node. Batches fall back to one request
at a time when a node rejects JSON-RPC batching.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3

from offchain.errors import ChainError

log = logging.getLogger(__name__)

__all__ = ["RpcError", "Rpc", "selector", "encode_call", "decode_result"]


class RpcError(ChainError):
    """A JSON-RPC error object returned by the node (``code``, ``message``)."""

    def __init__(self, method: str, error: Any):
        if isinstance(error, dict):
            self.code = error.get("code")
            self.message = str(error.get("message", error))
        else:
            self.code = None
            self.message = str(error)
        super().__init__(f"{method}: {self.message}")


def selector(signature: str) -> bytes:
    return function_signature_to_4byte_selector(signature)


def encode_call(signature: str, arg_types: Sequence[str] = (), args: Sequence[Any] = ()) -> str:
    return "0x" + (selector(signature) + abi_encode(list(arg_types), list(args))).hex()


def decode_result(types: Sequence[str], data: str) -> tuple[Any, ...]:
    return abi_decode(list(types), bytes.fromhex(data[2:] if data.startswith("0x") else data))


class Rpc:
    """JSON-RPC over web3.py's HTTP provider. ``calls`` counts requests sent (for the report).
    Thread-safe: web3.py keeps one HTTP session per thread."""

    def __init__(self, w3: Web3, batch_size: int = 200):
        self.w3 = w3
        self.provider = w3.provider
        self.batch_size = batch_size
        self.calls = 0
        self._batching = True
        self._lock = threading.Lock()

    def _count(self, n: int) -> None:
        with self._lock:
            self.calls += n

    def request(self, method: str, params: list[Any]) -> Any:
        self._count(1)
        try:
            resp = self.provider.make_request(method, params)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - transport failure, HTTP 4xx/5xx, timeout
            raise RpcError(method, f"{type(exc).__name__}: {exc}") from exc
        if "error" in resp:
            raise RpcError(method, resp["error"])
        return resp.get("result")

    def batch(self, requests: Sequence[tuple[str, list[Any]]], strict: bool = True) -> list[Any]:
        """Results in request order. ``strict``: raise the first error; else return RpcError items."""
        out: list[Any] = []
        for start in range(0, len(requests), self.batch_size):
            chunk = list(requests[start : start + self.batch_size])
            out.extend(self._batch_chunk(chunk))
        if strict:
            for r in out:
                if isinstance(r, RpcError):
                    raise r
        return out

    def _batch_chunk(self, chunk: list[tuple[str, list[Any]]]) -> list[Any]:
        if self._batching and len(chunk) > 1:
            self._count(len(chunk))
            try:
                resps = self.provider.make_batch_request(chunk)  # type: ignore[arg-type]
            except Exception as exc:  # noqa: BLE001 - node without batch support: go one by one
                log.debug("batch request failed (%s); falling back to single requests", exc)
                self._batching = False
                resps = None
            if isinstance(resps, list) and len(resps) == len(chunk):
                by_id = {}
                for r in resps:
                    by_id[r.get("id")] = r
                ordered = resps if None in by_id else sorted(resps, key=lambda r: r["id"])
                return [
                    RpcError(m, r["error"]) if "error" in r else r.get("result")
                    for (m, _p), r in zip(chunk, ordered, strict=True)
                ]
            if resps is not None:
                log.debug("unexpected batch response; falling back to single requests")
                self._batching = False
        results: list[Any] = []
        for method, params in chunk:
            try:
                results.append(self.request(method, params))
            except RpcError as exc:
                results.append(exc)
        return results

    # ---- helpers ----

    def block_number(self) -> int:
        return int(self.request("eth_blockNumber", []), 16)

    def code(self, address: str, block: int | str = "latest") -> str:
        tag = hex(block) if isinstance(block, int) else block
        return str(self.request("eth_getCode", [address, tag]))

    @staticmethod
    def call_req(to: str, data: str, block: int) -> tuple[str, list[Any]]:
        return ("eth_call", [{"to": to, "data": data}, hex(block)])
