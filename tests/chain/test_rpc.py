"""The merged JSON-RPC client (offchain.chain.rpc) against fake nodes, no chain: chunked batches, fallback
to single requests when a node refuses batching, request counting, both transports (URL, provider)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from eth_abi import encode
from fake_jsonrpc import FakeJsonRpcNode, error, result

from offchain.chain.rpc import (
    Rpc,
    RpcError,
    RpcUnavailable,
    decode_result,
    encode_call,
    is_transient,
    selector,
)
from offchain.core.errors import ChainError


def Node(batching: bool = True, batch_status: int = 200) -> FakeJsonRpcNode:  # noqa: N802
    """Answers ``eth_blockNumber`` with 0x10, ``boom`` with an error, anything else with its method name.
    ``batching=False``: a batch gets one error object (like nodes without batch support)."""

    def one(r: dict[str, Any]) -> dict[str, Any]:
        if r["method"] == "boom":
            return error(r, {"code": 3, "message": "execution reverted"})
        return result(r, "0x10" if r["method"] == "eth_blockNumber" else r["method"])

    def answer(req: Any) -> tuple[int, Any]:
        if not isinstance(req, list):
            return 200, one(req)
        if batch_status != 200:
            return batch_status, {"error": "no"}
        if batching:
            return 200, [one(r) for r in reversed(req)]
        return 200, error(None, {"code": -32600, "message": "no batch"})

    return FakeJsonRpcNode(answer)


@pytest.fixture
def node():
    n = Node()
    yield n
    n.close()


def test_batches_are_chunked_ordered_and_counted(node):
    rpc = Rpc(node.url, batch_size=3)
    calls = [(f"m{i}", []) for i in range(7)]
    assert rpc.batch(calls) == [f"m{i}" for i in range(7)]
    assert node.posts == [3, 3, 1] and rpc.calls == 7
    assert rpc.batch([]) == []


def test_errors_in_a_batch_are_items_or_raised_when_strict(node):
    rpc = Rpc(node.url)
    out = rpc.batch([("a", []), ("boom", []), ("c", [])])
    assert out[0] == "a" and out[2] == "c"
    assert isinstance(out[1], RpcError) and out[1].code == 3 and out[1].method == "boom"
    with pytest.raises(RpcError, match="boom: execution reverted"):
        rpc.batch([("a", []), ("boom", [])], strict=True)


@pytest.mark.parametrize("kw", [{"batching": False}, {"batch_status": 405}])
def test_falls_back_to_single_requests_when_the_node_refuses_batches(kw):
    n = Node(**kw)
    try:
        rpc = Rpc(n.url, retries=1, sleep=lambda s: None)
        assert rpc.batch([("a", []), ("b", [])]) == ["a", "b"]
        assert rpc.batch([("c", []), ("d", [])]) == ["c", "d"]  # no second try at batching
    finally:
        n.close()
    assert n.posts == [2, 1, 1, 1, 1]
    assert rpc.calls == 6


def test_helpers(node):
    rpc = Rpc(node.url)
    assert rpc.block_number() == 16
    assert rpc.code("0x" + "11" * 20, 5) == "eth_getCode"
    assert Rpc.call_req("0xabc", "0x12", 16) == ("eth_call", [{"to": "0xabc", "data": "0x12"}, "0x10"])
    data = encode_call("balanceOf(address)", ["address"], ["0x" + "22" * 20])
    assert data.startswith("0x" + selector("balanceOf(address)").hex()) and len(data) == 2 + 8 + 64
    assert decode_result(["uint256"], "0x" + encode(["uint256"], [7]).hex()) == (7,)


def test_request_count_is_thread_safe(node):
    rpc = Rpc(node.url, batch_size=5)
    with ThreadPoolExecutor(max_workers=4) as pool:
        outs = list(pool.map(lambda k: rpc.batch([(f"x{k}", []), ("y", [])]), range(40)))
    assert all(o == [f"x{k}", "y"] for k, o in enumerate(outs))
    assert rpc.calls == 80


def test_result_size_errors_are_not_retried():
    assert is_transient(RpcError("eth_getLogs", -32005, "limit exceeded"))
    assert is_transient(RpcError("eth_call", -32000, "header not found"))
    assert not is_transient(RpcError("eth_getLogs", -32005, "query returned more than 10000 results"))
    assert not is_transient(RpcError("eth_call", 3, "execution reverted"))
    assert issubclass(RpcError, ChainError) and issubclass(RpcUnavailable, ChainError)
    assert not issubclass(RpcUnavailable, RpcError)


class FakeProvider:
    """web3-provider-shaped: numbers requests itself, answers batches sorted by its own ids."""

    def __init__(self, batch: Any = "ok", fail: int = 0):
        self.batch_mode, self.fail = batch, fail
        self.sent: list[str] = []

    def make_request(self, method: str, params: list[Any]) -> dict[str, Any]:
        self.sent.append(method)
        if self.fail:
            self.fail -= 1
            raise requests.ConnectionError("down")
        if method == "boom":
            return {"jsonrpc": "2.0", "id": 99, "error": {"code": -32000, "message": "missing trie node"}}
        return {"jsonrpc": "2.0", "id": 99, "result": method}

    def make_batch_request(self, reqs: list[tuple[str, list[Any]]]) -> Any:
        self.sent.extend(m for m, _ in reqs)
        if self.batch_mode == "raise":
            raise ValueError("batch not supported")
        return [{"jsonrpc": "2.0", "id": 1000 + i, "result": m} for i, (m, _) in enumerate(reqs)]


def test_provider_transport_batches_counts_and_falls_back():
    p = FakeProvider()
    rpc = Rpc(SimpleNamespace(provider=p), batch_size=2)
    assert rpc.batch([("a", []), ("b", []), ("c", [])]) == ["a", "b", "c"]
    assert rpc.call("eth_chainId") == "eth_chainId"
    with pytest.raises(RpcError, match="missing trie node") as exc:
        rpc.request("boom", [])
    assert exc.value.code == -32000
    assert rpc.calls == len(p.sent) == 5

    p2 = FakeProvider(batch="raise")
    rpc2 = Rpc(SimpleNamespace(provider=p2))
    assert rpc2.batch([("a", []), ("b", [])]) == ["a", "b"]
    assert p2.sent == ["a", "b", "a", "b"] and rpc2.calls == 4


def test_provider_transport_failures_are_retried_then_unavailable():
    sleeps: list[float] = []
    p = FakeProvider(fail=2)
    rpc = Rpc(SimpleNamespace(provider=p), retries=3, backoff=0.1, sleep=sleeps.append)
    assert rpc.call("eth_chainId") == "eth_chainId"
    assert sleeps == [0.1, 0.2]
    p.fail = 10
    with pytest.raises(RpcUnavailable, match="after 4 attempts") as exc:
        rpc.call("eth_chainId")
    assert "ConnectionError" in exc.value.message
