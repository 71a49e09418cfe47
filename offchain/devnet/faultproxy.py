"""A seeded fault-injecting JSON-RPC proxy: what a flaky public RPC provider does, on demand.

It listens on 127.0.0.1 only and forwards JSON-RPC POSTs (single requests and batches) to an
upstream node. Each request draws once from a seeded ``random.Random``: with probability
``rate`` it suffers one fault among the enabled ``kinds`` that apply to it:

* ``drop``: the connection closes before the node sees the request;
* ``delay``: the answer comes ``0 .. max_delay`` seconds late;
* ``http_500`` / ``http_429``: an HTTP error instead of an answer (the node never sees it);
* ``rpc_error``: a JSON-RPC ``-32603 internal error`` for every request in the body;
* ``truncate``: the node acts, and the answer body is cut in half;
* ``lost_after``: the node acts, then the connection closes with no answer (a send that was
  mined, but whose answer was lost);
* ``stale_block``: ``eth_blockNumber`` answers 1..``stale_depth`` blocks behind;
* ``null_receipt``: ``eth_getTransactionReceipt`` answers ``null`` (a lagging node);
* ``batch_reorder`` / ``batch_duplicate``: a batch's answers come back shuffled, or with one
  answer twice.

Methods starting with an ``exempt`` prefix (``evm_``, ``anvil_`` by default: the test harness's
own time travel and mining) are never faulted. With one client sending one request at a time,
the same seed gives the same faults. ``injected`` counts each kind; ``log`` lists them in order.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["KINDS", "FaultProxy"]

KINDS = (
    "drop",
    "delay",
    "http_500",
    "http_429",
    "rpc_error",
    "truncate",
    "lost_after",
    "stale_block",
    "null_receipt",
    "batch_reorder",
    "batch_duplicate",
)
_NEEDS_METHOD = {"stale_block": "eth_blockNumber", "null_receipt": "eth_getTransactionReceipt"}
_NEEDS_BATCH = {"batch_reorder", "batch_duplicate"}


class FaultProxy:
    """``with FaultProxy(anvil.url, seed=7, rate=0.3) as proxy: ...`` then point clients at ``proxy.url``."""

    def __init__(
        self,
        upstream: str,
        *,
        seed: int = 0,
        rate: float = 0.25,
        kinds: Iterable[str] | None = None,
        exempt: Sequence[str] = ("evm_", "anvil_"),
        max_delay: float = 0.5,
        stale_depth: int = 3,
        port: int = 0,
        upstream_timeout: float = 30.0,
    ):
        chosen = tuple(kinds) if kinds is not None else KINDS
        unknown = sorted(set(chosen) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {', '.join(KINDS)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within 0..1, got {rate}")
        self.upstream = upstream
        self.rate = rate
        self.kinds = chosen
        self.exempt = tuple(exempt)
        self.max_delay = max_delay
        self.stale_depth = max(1, stale_depth)
        self.upstream_timeout = upstream_timeout
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        self.log: list[tuple[str, tuple[str, ...]]] = []  # (kind, methods of the faulted request)
        self.requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ---- life cycle ----

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- the draw ----

    def draw(self, methods: Sequence[str], is_batch: bool) -> tuple[str | None, random.Random]:
        """The fault for one request (``None``: none) and a generator for its details, both from
        the seeded stream, under the lock so concurrent requests cannot interleave a draw."""
        with self.lock:
            self.requests += 1
            roll = self.rng.random()
            detail = random.Random(self.rng.getrandbits(64))
            if not methods or any(m.startswith(self.exempt) for m in methods) or roll >= self.rate:
                return None, detail
            usable = [
                k
                for k in self.kinds
                if (k not in _NEEDS_METHOD or _NEEDS_METHOD[k] in methods)
                and (k not in _NEEDS_BATCH or is_batch)
            ]
            if not usable:
                return None, detail
            kind = usable[detail.randrange(len(usable))]
            self.injected[kind] += 1
            self.log.append((kind, tuple(methods)))
            return kind, detail

    # ---- forwarding ----

    def forward(self, body: bytes) -> bytes:
        req = urllib.request.Request(self.upstream, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=self.upstream_timeout) as resp:  # noqa: S310 - local node
            return resp.read()


def _error_body(payload: Any) -> bytes:
    def err(item: Any) -> dict[str, Any]:
        ident = item.get("id") if isinstance(item, dict) else None
        return {
            "jsonrpc": "2.0",
            "id": ident,
            "error": {"code": -32603, "message": "internal error (injected)"},
        }

    return json.dumps([err(i) for i in payload] if isinstance(payload, list) else err(payload)).encode()


def _rewrite(payload: Any, answer: bytes, kind: str, detail: random.Random, depth: int) -> bytes:
    """The node's ``answer`` with a content fault applied (stale block, null receipt, batch order)."""
    try:
        parsed = json.loads(answer)
    except ValueError:
        return answer
    requests = payload if isinstance(payload, list) else [payload]
    items = parsed if isinstance(parsed, list) else [parsed]
    by_id = {r.get("id"): r.get("method") for r in requests if isinstance(r, dict)}
    for item in items:
        if not isinstance(item, dict) or "result" not in item:
            continue
        method = by_id.get(item.get("id"))
        if kind == "stale_block" and method == "eth_blockNumber" and isinstance(item["result"], str):
            item["result"] = hex(max(0, int(item["result"], 16) - detail.randint(1, depth)))
        elif kind == "null_receipt" and method == "eth_getTransactionReceipt":
            item["result"] = None
    if kind == "batch_reorder" and isinstance(parsed, list):
        detail.shuffle(parsed)
    elif kind == "batch_duplicate" and isinstance(parsed, list) and parsed:
        parsed.insert(detail.randrange(len(parsed) + 1), parsed[detail.randrange(len(parsed))])
    return json.dumps(parsed).encode()


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            return

        def _send(self, code: int, body: bytes, extra: dict[str, str] | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _hang_up(self) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
            items = payload if isinstance(payload, list) else [payload]
            methods = [str(i.get("method", "")) for i in items if isinstance(i, dict)]
            kind, detail = proxy.draw(methods, isinstance(payload, list))
            if kind == "drop":
                return self._hang_up()
            if kind in ("http_500", "http_429"):
                code = 500 if kind == "http_500" else 429
                return self._send(code, b"injected", {"Retry-After": "0"} if code == 429 else None)
            if kind == "rpc_error":
                return self._send(200, _error_body(payload))
            if kind == "delay":
                time.sleep(detail.uniform(0, proxy.max_delay))
            try:
                answer = proxy.forward(body)
            except (urllib.error.URLError, OSError) as exc:
                return self._send(502, f"upstream: {exc}".encode())
            if kind == "lost_after":
                return self._hang_up()
            if kind == "truncate":
                return self._send(200, answer[: len(answer) // 2])
            if kind in ("stale_block", "null_receipt", "batch_reorder", "batch_duplicate"):
                answer = _rewrite(payload, answer, kind, detail, proxy.stale_depth)
            return self._send(200, answer)

    return Handler
