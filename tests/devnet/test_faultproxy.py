"""The fault-injecting JSON-RPC proxy does exactly the fault it draws, reproducibly from its seed,
on 127.0.0.1 only, and never faults the harness's own ``evm_``/``anvil_`` calls."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlparse

import pytest

from offchain.chain.node import local_node
from offchain.devnet.faultproxy import KINDS, FaultProxy


@pytest.fixture(scope="module")
def anvil():
    node = local_node().start()
    yield node
    node.stop()


def post(url: str, payload) -> tuple[int | None, bytes | None]:
    """(HTTP status, body), or (None, None) when the connection closed without an answer."""
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("POST", "/", body=json.dumps(payload), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (http.client.RemoteDisconnected, ConnectionError):
        return None, None
    finally:
        conn.close()


def call(method: str, params=None, ident: int = 1) -> dict:
    return {"jsonrpc": "2.0", "id": ident, "method": method, "params": params or []}


def only(anvil, kind: str, **kw) -> FaultProxy:
    return FaultProxy(anvil.url, seed=1, rate=1.0, kinds=[kind], **kw).start()


def test_no_faults_at_rate_zero_is_a_transparent_forwarder(anvil):
    with FaultProxy(anvil.url, rate=0.0) as proxy:
        status, body = post(proxy.url, call("eth_chainId"))
        assert status == 200 and json.loads(body)["result"] == hex(anvil.chain_id)
        assert proxy.injected == {} and proxy.requests == 1


def test_listens_on_loopback_only(anvil):
    with FaultProxy(anvil.url, rate=0.0) as proxy:
        assert urlparse(proxy.url).hostname == "127.0.0.1"


def test_drop_and_http_errors_never_reach_the_node(anvil):
    before = int(json.loads(post(anvil.url, call("eth_blockNumber"))[1])["result"], 16)
    for kind, expected in (("drop", None), ("http_500", 500), ("http_429", 429)):
        proxy = only(anvil, kind)
        try:
            status, _ = post(proxy.url, call("eth_chainId"))
            assert status == expected, kind
            # a mining call that is dropped or refused never mines
            status, _ = post(proxy.url, call("eth_sendTransaction", [{}]))
            assert status == expected, kind
        finally:
            proxy.stop()
    after = int(json.loads(post(anvil.url, call("eth_blockNumber"))[1])["result"], 16)
    assert after == before


def test_rpc_error_answers_every_request_of_a_batch(anvil):
    proxy = only(anvil, "rpc_error")
    try:
        status, body = post(proxy.url, [call("eth_chainId", ident=1), call("eth_blockNumber", ident=2)])
        answer = json.loads(body)
        assert status == 200 and [a["id"] for a in answer] == [1, 2]
        assert all(a["error"]["code"] == -32603 for a in answer)
    finally:
        proxy.stop()


def test_lost_after_the_node_acted(anvil):
    """The answer is lost, but the node mined: the case a keeper must resolve by nonce/receipt."""
    before = int(json.loads(post(anvil.url, call("eth_blockNumber"))[1])["result"], 16)
    proxy = only(anvil, "lost_after", exempt=())
    try:
        assert post(proxy.url, call("evm_mine")) == (None, None)
    finally:
        proxy.stop()
    after = int(json.loads(post(anvil.url, call("eth_blockNumber"))[1])["result"], 16)
    assert after == before + 1


def test_truncate_cuts_a_real_answer(anvil):
    proxy = only(anvil, "truncate")
    try:
        status, body = post(proxy.url, call("eth_getBlockByNumber", ["latest", False]))
        assert status == 200
        with pytest.raises(ValueError):
            json.loads(body)
        full = post(anvil.url, call("eth_getBlockByNumber", ["latest", False]))[1]
        assert full.startswith(body) and len(body) == len(full) // 2
    finally:
        proxy.stop()


def test_stale_block_number_lags_by_at_most_the_depth(anvil):
    for _ in range(5):
        post(anvil.url, call("evm_mine"))
    head = int(json.loads(post(anvil.url, call("eth_blockNumber"))[1])["result"], 16)
    proxy = only(anvil, "stale_block", stale_depth=3)
    try:
        for _ in range(10):
            got = int(json.loads(post(proxy.url, call("eth_blockNumber"))[1])["result"], 16)
            assert head - 3 <= got < head
        # a request without eth_blockNumber cannot draw this fault
        assert json.loads(post(proxy.url, call("eth_chainId"))[1])["result"] == hex(anvil.chain_id)
    finally:
        proxy.stop()


def test_null_receipt(anvil):
    proxy = only(anvil, "null_receipt")
    try:
        block = json.loads(post(anvil.url, call("eth_getBlockByNumber", ["latest", False]))[1])["result"]
        tx_hash = "0x" + "11" * 32 if not block["transactions"] else block["transactions"][0]
        answer = json.loads(post(proxy.url, call("eth_getTransactionReceipt", [tx_hash]))[1])
        assert answer["result"] is None
    finally:
        proxy.stop()


def test_batch_reorder_and_duplicate_keep_the_ids(anvil):
    batch = [call("eth_chainId", ident=i) for i in range(1, 9)]
    proxy = only(anvil, "batch_reorder")
    try:
        answer = json.loads(post(proxy.url, batch)[1])
        assert sorted(a["id"] for a in answer) == list(range(1, 9))
        assert [a["id"] for a in answer] != list(range(1, 9))  # seed 1 shuffles this batch
    finally:
        proxy.stop()
    proxy = only(anvil, "batch_duplicate")
    try:
        answer = json.loads(post(proxy.url, batch)[1])
        ids = [a["id"] for a in answer]
        assert len(ids) == 9 and set(ids) == set(range(1, 9))
        # a single request cannot draw a batch fault
        assert json.loads(post(proxy.url, call("eth_chainId"))[1])["result"] == hex(anvil.chain_id)
    finally:
        proxy.stop()


def test_the_harness_calls_are_exempt(anvil):
    proxy = FaultProxy(anvil.url, seed=3, rate=1.0).start()
    try:
        for _ in range(20):
            assert post(proxy.url, call("anvil_setAutomine", [True]))[0] == 200
        assert proxy.injected == {}
    finally:
        proxy.stop()


def test_the_seed_fixes_the_fault_sequence(anvil):
    def sequence(seed: int) -> list[str]:
        proxy = FaultProxy(
            anvil.url, seed=seed, rate=0.5, kinds=["http_500", "rpc_error", "delay"], max_delay=0.01
        )
        with proxy:
            for i in range(40):
                post(proxy.url, call("eth_chainId", ident=i))
        return [k for k, _ in proxy.log]

    first = sequence(42)
    assert first == sequence(42)
    assert first != sequence(43)
    assert 10 <= len(first) <= 30  # about half of 40


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultProxy("http://127.0.0.1:1", kinds=["gremlins"])
    with pytest.raises(ValueError, match="rate"):
        FaultProxy("http://127.0.0.1:1", rate=1.5)
    assert len(KINDS) == 11
