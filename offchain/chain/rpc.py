"""The one JSON-RPC client of ``offchain``, used by the keeper and the auditor.

- Transport failures (node down or restarting, timeouts, HTTP 5xx/429, garbage answers) are retried
  with exponential backoff, then raise ``RpcUnavailable``.
- JSON-RPC *errors* are answers: a revert, "nonce too low", "block range too large" raise ``RpcError``
  at once and are never retried blindly; only rate limits, ``-32603 internal error`` and "try again"
  errors are (``is_transient``).
- Batches are chunked (``batch_size``) and fall back to one request at a time when a node rejects
  JSON-RPC batching. Answers are matched to requests by id on both transports (duplicated or
  reordered answers are harmless); the items of a batch whose answer is missing, a transient error
  or (``non_null``) ``null`` are asked again, with backoff.
- ``calls`` counts JSON-RPC requests sent (a batch of n counts n), thread-safely.

Two transports: a URL (HTTP through ``requests``, one session per thread) or a ``Web3`` instance,
whose provider's ``make_request`` / ``make_batch_request`` are used (``rpc.provider``).
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import requests
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector

from offchain.core.errors import ChainError

log = logging.getLogger(__name__)

__all__ = [
    "Rpc",
    "RpcError",
    "RpcUnavailable",
    "decode_revert",
    "is_transient",
    "selector",
    "encode_call",
    "decode_result",
]

ERROR_SELECTOR = "08c379a0"  # Error(string)
PANIC_SELECTOR = "4e487b71"  # Panic(uint256)


class RpcError(ChainError):
    """The node answered with a JSON-RPC error (revert, bad nonce, underpriced, range too large...)."""

    def __init__(self, method: str, code: int, message: str, data: Any = None):
        self.method, self.code, self.message, self.data = method, code, message, data
        super().__init__(f"{method}: {message}")

    @classmethod
    def from_response(cls, method: str, error: Any) -> RpcError:
        """From a JSON-RPC ``error`` object (a dict; anything else becomes the message)."""
        if isinstance(error, dict):
            return cls(method, error.get("code", 0), str(error.get("message", "")), error.get("data"))
        return cls(method, 0, str(error))

    @property
    def reason(self) -> str:
        return decode_revert(self.data) or _reason_from_message(self.message)


class RpcUnavailable(ChainError):  # noqa: N818
    """The node did not answer after every retry (down, restarting, unreachable)."""

    @property
    def message(self) -> str:
        return str(self)


class _BatchRejected(Exception):  # noqa: N818 - internal signal: the node refuses JSON-RPC batches
    pass


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


# provider rate limits ("limit exceeded", "too many requests") and a node's "internal error"
TRANSIENT_CODES = {-32005, 429, -32603}
TRANSIENT_TEXT = (
    "rate limit",
    "too many requests",
    "header not found",
    "try again",
    "temporarily unavailable",
)
# -32005 is also "query returned more than N results": the same question gets the same answer
# (some nodes also answer a revert or a refused transaction with -32603: those are answers)
NOT_TRANSIENT_TEXT = (
    "returned more than",
    "block range",
    "too large",
    "response size",
    "revert",
    "nonce",
    "underpriced",
    "insufficient funds",
    "already known",
)


def is_transient(err: RpcError) -> bool:
    """JSON-RPC errors worth retrying (rate limits, a node still syncing a block); never reverts."""
    msg = err.message.lower()
    if any(t in msg for t in NOT_TRANSIENT_TEXT):
        return False
    return err.code in TRANSIENT_CODES or any(t in msg for t in TRANSIENT_TEXT)


# ---- call encoding ----


def selector(signature: str) -> bytes:
    return function_signature_to_4byte_selector(signature)


def encode_call(signature: str, arg_types: Sequence[str] = (), args: Sequence[Any] = ()) -> str:
    return "0x" + (selector(signature) + abi_encode(list(arg_types), list(args))).hex()


def decode_result(types: Sequence[str], data: str) -> tuple[Any, ...]:
    return abi_decode(list(types), bytes.fromhex(data[2:] if data.startswith("0x") else data))


def _http_status(exc: BaseException) -> int | None:
    resp = getattr(exc, "response", None)
    return getattr(resp, "status_code", None)


_TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.HTTPError, ValueError)
_MISSING = object()  # a batch item the answer did not include


class _IncompleteBatchError(ValueError):
    """A provider's batch answer that cannot be matched to the requests: retried like a bad body."""


def _provider_ids_to_ours(payload: list[dict[str, Any]], docs: Any) -> Any:
    """A provider numbers a batch's requests itself, increasing in request order: its answers, each
    once (duplicates dropped), sorted by its ids, are the requests in order; our ids are put back.
    An answer that does not have exactly one item per request is retried (``_IncompleteBatchError``)."""
    if not isinstance(docs, list):
        return docs  # one error object: the node does not batch
    items = [d for d in docs if isinstance(d, dict)]
    if items and all(d.get("id") is None for d in items):
        raise _BatchRejected("batch answer without ids")
    unique: dict[Any, dict[str, Any]] = {}
    for d in items:
        if d.get("id") is not None:
            unique.setdefault(d["id"], d)
    try:
        ordered = [unique[k] for k in sorted(unique)]
    except TypeError as exc:  # ids of mixed types
        raise _IncompleteBatchError(f"batch answer ids not comparable: {exc}") from exc
    if len(ordered) != len(payload):
        n, m = len(ordered), len(payload)
        raise _IncompleteBatchError(f"batch answer has {n} distinct items for {m} requests")
    return [{**d, "id": p["id"]} for p, d in zip(payload, ordered, strict=True)]


class Rpc:
    """JSON-RPC with retries, batching and request counting.

    ``endpoint``: an HTTP URL, or a ``Web3`` (its provider is used). ``on_retry(kind)`` is called on
    each retried failure (metrics); ``sleep`` is injectable for tests."""

    def __init__(
        self,
        endpoint: Any,
        *,
        timeout: float = 10.0,
        retries: int = 6,
        backoff: float = 0.25,
        max_backoff: float = 8.0,
        batch_size: int = 200,
        on_retry: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if isinstance(endpoint, str):
            self.url: str = endpoint
            self.w3: Any = None
            self.provider: Any = None
        else:
            self.w3 = endpoint
            self.provider = endpoint.provider
            self.url = str(getattr(self.provider, "endpoint_uri", None) or self.provider)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.batch_size = max(1, batch_size)
        self.on_retry = on_retry
        self.sleep = sleep
        self.calls = 0
        self._batching = True
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"Rpc({self.url})"

    # ---- transport ----

    def _count(self, n: int) -> None:
        with self._lock:
            self.calls += n

    def _session(self, fresh: bool = False) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None or fresh:
            if s is not None:
                s.close()
            s = self._local.session = requests.Session()
        return s

    def _send_once(self, payload: Any) -> Any:
        """One attempt: the JSON answer (a dict, or a list for a batch). Raises on transport failure;
        ``_BatchRejected`` when a batch is refused with HTTP 4xx (not 429) or by the provider."""
        is_batch = isinstance(payload, list)
        self._count(len(payload) if is_batch else 1)
        if self.provider is None:
            r = self._session().post(self.url, json=payload, timeout=self.timeout)
            if r.status_code == 429 or r.status_code >= 500:
                raise requests.HTTPError(f"HTTP {r.status_code}", response=r)
            if is_batch and r.status_code >= 400:
                raise _BatchRejected(f"HTTP {r.status_code}")
            r.raise_for_status()
            return r.json()
        if not is_batch:
            doc = self.provider.make_request(payload["method"], payload["params"])
            return {**doc, "id": payload["id"]} if isinstance(doc, dict) else doc
        try:
            docs = self.provider.make_batch_request([(p["method"], p["params"]) for p in payload])
        except (requests.ConnectionError, requests.Timeout, json.JSONDecodeError):
            raise  # down, slow or a truncated body: retried
        except requests.HTTPError as exc:
            status = _http_status(exc)
            if status is not None and status < 500 and status != 429:
                raise _BatchRejected(str(exc)) from exc
            raise
        except Exception as exc:  # noqa: BLE001 - a provider or node without batch support
            raise _BatchRejected(f"{type(exc).__name__}: {exc}") from exc
        return _provider_ids_to_ours(payload, docs)

    def _post(self, payload: Any, what: str) -> Any:
        """Send with retries and exponential backoff on transport failures; ``RpcUnavailable`` at the end."""
        delay = self.backoff
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                return self._send_once(payload)
            except _TRANSPORT_ERRORS as exc:
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
                if self.provider is None:
                    self._session(fresh=True)
        raise RpcUnavailable(
            f"no answer from {self.url} for {what} after {self.retries + 1} attempts ({type(last).__name__})"
        )

    # ---- requests ----

    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        """One request; its result. ``RpcError`` for a JSON-RPC error (transient ones are retried first)."""
        delay = self.backoff
        for attempt in range(self.retries + 1):
            doc = self._post(
                {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}, method
            )
            if not isinstance(doc, dict):
                raise RpcError(method, 0, f"unexpected answer {str(doc)[:80]}")
            if "error" not in doc:
                return doc.get("result")
            err = RpcError.from_response(method, doc["error"])
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

    request = call  # the auditor's name for it

    def batch(
        self, calls: Sequence[tuple[str, Sequence[Any]]], strict: bool = False, *, non_null: bool = False
    ) -> list[Any]:
        """Results in request order, one HTTP request per ``batch_size`` chunk. A failed call gives an
        ``RpcError`` instance in its place, or with ``strict`` raises the first one. Items whose answer
        is missing or a transient error (and with ``non_null`` a ``null`` result: a lagging node, for
        something known to exist) are asked again with backoff, up to ``retries`` times."""
        out: list[Any] = []
        for start in range(0, len(calls), self.batch_size):
            out.extend(self._batch_chunk(list(calls[start : start + self.batch_size]), non_null))
        if strict:
            for r in out:
                if isinstance(r, RpcError):
                    raise r
        return out

    def _batch_chunk(self, chunk: list[tuple[str, Sequence[Any]]], non_null: bool = False) -> list[Any]:
        out: list[Any] = [_MISSING] * len(chunk)
        todo = list(range(len(chunk)))
        delay = self.backoff
        for attempt in range(self.retries + 1):
            answers, retry_errors = self._ask([chunk[i] for i in todo])
            again = []
            for i, a in zip(todo, answers, strict=True):
                out[i] = a
                if (
                    a is _MISSING
                    or (non_null and a is None)
                    or (retry_errors and isinstance(a, RpcError) and is_transient(a))
                ):
                    again.append(i)
            if not again or attempt == self.retries:
                break
            if self.on_retry:
                self.on_retry("rpc")
            log.warning(
                "rpc batch: %d of %d answers missing, null or transient errors; retry %d/%d in %.2f s",
                len(again),
                len(chunk),
                attempt + 1,
                self.retries,
                delay,
            )
            self.sleep(delay)
            delay = min(delay * 2, self.max_backoff)
            todo = again
        for i, a in enumerate(out):
            if a is _MISSING:
                out[i] = RpcError(chunk[i][0], 0, "missing from batch answer")
            elif non_null and a is None:
                out[i] = RpcError(
                    chunk[i][0], 0, f"null answer after {self.retries + 1} tries (the node lags behind)"
                )
        return out

    def _ask(self, chunk: list[tuple[str, Sequence[Any]]]) -> tuple[list[Any], bool]:
        """One try at ``chunk``: its answers in order (``_MISSING`` where the batch answer has none)
        and whether transient errors among them are still worth asking again (batch answers; single
        requests were already retried by ``call``)."""
        if self._batching and len(chunk) > 1:
            ids = [next(self._ids) for _ in chunk]
            payload = [
                {"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)}
                for i, (m, p) in zip(ids, chunk, strict=True)
            ]
            try:
                docs = self._post(payload, f"batch of {len(chunk)}")
            except _BatchRejected as exc:
                log.debug("batch request rejected (%s); falling back to single requests", exc)
                docs = None
            if isinstance(docs, list):
                by_id = {d.get("id"): d for d in docs if isinstance(d, dict)}
                out: list[Any] = []
                for i, (m, _) in zip(ids, chunk, strict=True):
                    d = by_id.get(i)
                    if d is None:
                        out.append(_MISSING)
                    elif "error" in d:
                        out.append(RpcError.from_response(m, d["error"]))
                    else:
                        out.append(d.get("result"))
                return out, True
            log.debug("node does not batch (answer %s); falling back to single requests", str(docs)[:80])
            self._batching = False
        results: list[Any] = []
        for method, params in chunk:
            try:
                results.append(self.call(method, params))
            except RpcError as exc:
                results.append(exc)
        return results, False

    # ---- helpers ----

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber", []), 16)

    def code(self, address: str, block: int | str = "latest") -> str:
        tag = hex(block) if isinstance(block, int) else block
        return str(self.call("eth_getCode", [address, tag]))

    @staticmethod
    def call_req(to: str, data: str, block: int) -> tuple[str, list[Any]]:
        return ("eth_call", [{"to": to, "data": data}, hex(block)])
