"""The tests' one scripted JSON-RPC node: an HTTP server on 127.0.0.1 whose answers a test chooses.

``FakeJsonRpcNode(answer)`` calls ``answer(request)`` for each POST (``request`` is the decoded JSON:
a dict, or a list for a batch) and sends back what it returns: ``(status, body)``, where ``body``
is JSON-encoded, or ``(status, None)`` for an empty answer. It counts POSTs and their sizes.
Used by ``tests/chain/test_rpc.py`` and ``tests/keeper/test_keeper_rpc.py``; pytest puts ``tests/``
on ``sys.path`` (``tests/conftest.py``), so both import it as ``fake_jsonrpc``.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable
from typing import Any

Answer = Callable[[Any], tuple[int, Any]]


def result(req: dict[str, Any], value: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req["id"], "result": value}


def error(req: dict[str, Any] | None, err: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": None if req is None else req["id"], "error": err}


class FakeJsonRpcNode:
    def __init__(self, answer: Answer):
        self.posts: list[int] = []  # size of each POST (1 for a single request)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.posts.append(len(req) if isinstance(req, list) else 1)
                status, ans = answer(req)
                self.send_response(status)
                if ans is None:
                    self.end_headers()
                    return
                body = json.dumps(ans).encode()
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a: object) -> None:
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"

    @property
    def calls(self) -> int:
        return len(self.posts)

    def close(self) -> None:
        self.srv.shutdown()
        self.srv.server_close()

    def __enter__(self) -> FakeJsonRpcNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
