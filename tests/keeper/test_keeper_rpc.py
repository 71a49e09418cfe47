"""The keeper's JSON-RPC client against a scripted fake node: backoff on HTTP errors and rate limits,
no retry of reverts, batch answers in order, revert data decoded."""

from __future__ import annotations

import pytest
from eth_abi import encode
from fake_jsonrpc import FakeJsonRpcNode, error, result

from offchain.chain.rpc import Rpc, RpcError, RpcUnavailable, decode_revert


def FakeNode(script: list[object]) -> FakeJsonRpcNode:  # noqa: N802
    """A node that plays ``script``, one step per POST: an int is a bare HTTP status, "ok" answers
    (a batch in reverse order, each item with its method name), a dict is a JSON-RPC error."""
    steps = list(script)

    def answer(req: object) -> tuple[int, object]:
        step = steps.pop(0) if steps else "ok"
        if isinstance(step, int):
            return step, None
        if step != "ok":
            return 200, error(req, step)
        if isinstance(req, list):
            return 200, [result(r, r["method"]) for r in reversed(req)]
        return 200, result(req, "0x1")

    return FakeJsonRpcNode(answer)


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
