"""The keeper's JSON-RPC client against a scripted fake node: backoff on HTTP errors and rate limits,
no retry of reverts, batch answers in order, revert data decoded."""

from __future__ import annotations

import http.server
import json
import threading

import pytest
from eth_abi import encode

from offchain.chain.rpc import Rpc, RpcError, RpcUnavailable, decode_revert


class FakeNode:
    def __init__(self, script: list[object]):
        self.script = list(script)
        self.calls = 0
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.calls += 1
                step = outer.script.pop(0) if outer.script else "ok"
                if isinstance(step, int):
                    self.send_response(step)
                    self.end_headers()
                    return
                if step == "ok":
                    ans: object = (
                        [{"jsonrpc": "2.0", "id": r["id"], "result": r["method"]} for r in reversed(req)]
                        if isinstance(req, list)
                        else {"jsonrpc": "2.0", "id": req["id"], "result": "0x1"}
                    )
                else:
                    ans = {"jsonrpc": "2.0", "id": req["id"], "error": step}
                body = json.dumps(ans).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a: object) -> None:
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"

    def close(self) -> None:
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def sleeps():
    return []


def test_http_errors_and_rate_limits_are_retried_with_exponential_backoff(sleeps):
    node = FakeNode([503, 502, {"code": -32005, "message": "limit exceeded"}, "ok"])
    try:
        rpc = Rpc(node.url, retries=5, backoff=0.1, sleep=sleeps.append)
        assert rpc.call("eth_chainId") == "0x1"
    finally:
        node.close()
    assert sleeps == [0.1, 0.2, 0.1]  # transport backoff, then a fresh backoff for the JSON-RPC retry
    assert node.calls == 4


def test_reverts_are_not_retried_and_carry_their_reason(sleeps):
    data = "0x08c379a0" + encode(["string"], ["vault: cooldown"]).hex()
    node = FakeNode([{"code": 3, "message": "execution reverted", "data": data}])
    try:
        rpc = Rpc(node.url, retries=5, backoff=0.1, sleep=sleeps.append)
        with pytest.raises(RpcError) as exc:
            rpc.call("eth_call", [{}])
    finally:
        node.close()
    assert exc.value.reason == "vault: cooldown" and sleeps == [] and node.calls == 1


def test_gives_up_after_the_retries_with_one_clear_error(sleeps):
    rpc = Rpc("http://127.0.0.1:1", retries=3, backoff=0.01, sleep=sleeps.append)
    with pytest.raises(RpcUnavailable, match="after 4 attempts"):
        rpc.call("eth_chainId")
    assert sleeps == [0.01, 0.02, 0.04]


def test_batch_answers_are_matched_by_id():
    node = FakeNode(["ok"])
    try:
        out = Rpc(node.url).batch([("a", []), ("b", []), ("c", [])])
    finally:
        node.close()
    assert out == ["a", "b", "c"]  # the fake answers in reverse order


def test_decode_revert():
    assert decode_revert("0x4e487b71" + encode(["uint256"], [0x11]).hex()) == "panic 0x11"
    assert decode_revert("0x") is None and decode_revert(None) is None
