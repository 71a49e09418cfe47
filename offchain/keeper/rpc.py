"""A small JSON-RPC client for the keeper: retries with exponential backoff on transport errors
(node down, restarting, timeouts, HTTP 5xx/429), JSON-RPC batch requests, and revert-reason decoding.

JSON-RPC *errors* (a revert, "nonce too low") are answers, not transport failures: they raise
``RpcError`` at once and are never retried here; the caller decides.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import requests
from eth_abi import decode as abi_decode

from offchain.errors import ChainError

log = logging.getLogger(__name__)

ERROR_SELECTOR = "08c379a0"  # Error(string)
PANIC_SELECTOR = "4e487b71"  # Panic(uint256)


class RpcError(ChainError):
    """The node answered with a JSON-RPC error (revert, bad nonce, underpriced...)."""

    def __init__(self, method: str, code: int, message: str, data: Any = None):
        self.method, self.code, self.message, self.data = method, code, message, data
        super().__init__(f"{method}: {message}")

    @property
    def reason(self) -> str:
        return decode_revert(self.data) or _reason_from_message(self.message)


class RpcUnavailable(ChainError):  # noqa: N818
    """The node did not answer after every retry (down, restarting, unreachable)."""


def _reason_from_message(msg: str) -> str:
    for prefix in ("execution reverted: ", "execution reverted"):
        if prefix in msg:
            return msg.split(prefix, 1)[1].strip(" :'\"") or "reverted without reason"
    return msg


def decode_revert(data: Any) -> str | None:
    """``Error(string)`` / ``Panic(uint256)`` revert data (hex) -> text; None when not decodable."""
    if isinstance(data, dict):
        data = data.get("data")
    if not isinstance(data, str) or not data.startswith("0x") or len(data) < 10:
        return None
    sel, body = data[2:10], bytes.fromhex(data[10:])
    try:
        if sel == ERROR_SELECTOR:
            return str(abi_decode(["string"], body)[0])
        if sel == PANIC_SELECTOR:
            return f"panic 0x{abi_decode(['uint256'], body)[0]:02x}"
    except Exception:  # noqa: BLE001 - malformed data
        return None
    return None


TRANSIENT_CODES = {-32005, 429}  # provider rate limits ("limit exceeded", "too many requests")
TRANSIENT_TEXT = (
    "rate limit",
    "too many requests",
    "header not found",
    "try again",
    "temporarily unavailable",
)


def is_transient(err: RpcError) -> bool:
    """JSON-RPC errors worth retrying (rate limits, a node still syncing a block); never reverts."""
    msg = err.message.lower()
    return err.code in TRANSIENT_CODES or any(t in msg for t in TRANSIENT_TEXT)


class Rpc:
    """JSON-RPC over HTTP with retries. ``on_retry(kind)`` is called on each retried failure (metrics)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        retries: int = 6,
        backoff: float = 0.25,
        max_backoff: float = 8.0,
        on_retry: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.on_retry = on_retry
        self.sleep = sleep
        self._ids = itertools.count(1)
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"Rpc({self.url})"

    def _post(self, payload: Any, what: str) -> Any:
        delay = self.backoff
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                r = self._session.post(self.url, json=payload, timeout=self.timeout)
                if r.status_code == 429 or r.status_code >= 500:
                    raise requests.HTTPError(f"HTTP {r.status_code}")
                r.raise_for_status()
                return r.json()
            except (requests.ConnectionError, requests.Timeout, requests.HTTPError, ValueError) as exc:
                last = exc
                if attempt == self.retries:
                    break
                if self.on_retry:
                    self.on_retry("rpc")
                log.warning(
                    "rpc %s failed (%s); retry %d/%d in %.2f s",
                    what,
                    type(exc).__name__,
                    attempt + 1,
                    self.retries,
                    delay,
                )
                self.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
                self._session.close()
                self._session = requests.Session()
        raise RpcUnavailable(
            f"no answer from {self.url} for {what} after {self.retries + 1} attempts ({type(last).__name__})"
        )

    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            doc = self._post(
                {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}, method
            )
            if "error" not in doc:
                return doc.get("result")
            e = doc["error"]
            err = RpcError(method, e.get("code", 0), e.get("message", ""), e.get("data"))
            if not is_transient(err) or attempt == self.retries:
                raise err
            if self.on_retry:
                self.on_retry("rpc")
            log.warning(
                "rpc %s: %s; retry %d/%d in %.2f s", method, err.message, attempt + 1, self.retries, delay
            )
            self.sleep(delay)
            delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """One HTTP request for many calls; each result in order, or an ``RpcError`` instance in its place."""
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        payload = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)}
            for i, (m, p) in zip(ids, calls, strict=True)
        ]
        docs = self._post(payload, f"batch of {len(calls)}")
        if not isinstance(docs, list):  # some nodes answer a batch with one error object
            e = docs.get("error", {}) if isinstance(docs, dict) else {}
            raise RpcError("batch", e.get("code", 0), e.get("message", "batch rejected"), e.get("data"))
        by_id = {d.get("id"): d for d in docs}
        out: list[Any] = []
        for i, (m, _) in zip(ids, calls, strict=True):
            d = by_id.get(i)
            if d is None:
                out.append(RpcError(m, 0, "missing from batch answer"))
            elif "error" in d:
                e = d["error"]
                out.append(RpcError(m, e.get("code", 0), e.get("message", ""), e.get("data")))
            else:
                out.append(d.get("result"))
        return out
