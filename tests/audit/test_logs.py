"""Paged eth_getLogs: the block range shrinks when the node refuses or returns too many logs, grows
again after, and no log is lost or duplicated (a fake node, no chain)."""

from __future__ import annotations

from typing import Any

import pytest

from offchain.audit.logs import LogStats, fetch_logs
from offchain.chain.rpc import RpcError
from offchain.core.errors import ChainError


class FakeNode:
    """One log per block in [10, 5000) plus 50 logs in block 3000; refuses spans > max_span and
    answers more than ``cap`` logs over several blocks with an error like hosted nodes do (or
    truncates them, if ``truncate``)."""

    def __init__(self, max_span: int = 500, cap: int = 40, truncate: bool = False):
        self.max_span, self.cap, self.truncate = max_span, cap, truncate
        self.calls: list[tuple[int, int]] = []
        self.logs = []
        for b in range(10, 5_000):
            for k in range(51 if b == 3_000 else 1):
                self.logs.append({"blockNumber": hex(b), "logIndex": hex(k), "transactionHash": f"{b}-{k}"})

    def request(self, method: str, params: list[Any]) -> Any:
        assert method == "eth_getLogs"
        lo, hi = int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)
        self.calls.append((lo, hi))
        if hi - lo + 1 > self.max_span:
            raise RpcError(method, -32602, "block range too large")
        page = [lg for lg in self.logs if lo <= int(lg["blockNumber"], 16) <= hi]
        if len(page) > self.cap and hi > lo:  # like real nodes, one block is always served whole
            if self.truncate:
                return page[: self.cap]
            raise RpcError(method, -32005, "query returned more than 40 results")
        return page


@pytest.mark.parametrize("truncate", [False, True])
def test_adaptive_ranges_lose_nothing(truncate):
    node = FakeNode(truncate=truncate)
    stats = LogStats()
    got = fetch_logs(node, "0x" + "11" * 20, 0, 5_200, span=2_000, max_logs=40, stats=stats)  # type: ignore[arg-type]
    assert [lg["transactionHash"] for lg in got] == [lg["transactionHash"] for lg in node.logs]
    assert stats.refused + stats.too_many > 0  # it had to shrink
    assert stats.grown > 0  # and grew again
    # block 3000 alone holds 51 > 40 logs: accepted as a single-block page
    assert (3_000, 3_000) in node.calls
    # pages cover the range exactly once
    assert sum(stats.spans) == 5_201


def test_grows_back_after_shrinking():
    node = FakeNode(max_span=10_000, cap=10**9)
    stats = LogStats()
    fetch_logs(node, "0x" + "11" * 20, 0, 100_000, span=100, max_span=50_000, max_logs=10**6, stats=stats)  # type: ignore[arg-type]
    assert max(stats.spans) > 100  # doubled from the initial span


def test_single_block_refused_is_an_error():
    class Dead:
        def request(self, method, params):
            raise RpcError(method, -32000, "internal error")

    with pytest.raises(ChainError, match="single block"):
        fetch_logs(Dead(), "0x" + "11" * 20, 0, 100)  # type: ignore[arg-type]


def test_progress_ticker_runs_without_a_terminal():
    from offchain.cli.audit import _Ticker

    with _Ticker(True) as tick:
        for done in range(0, 101, 25):
            tick("logs", done, 100)
        tick("state", 3, 3)
    with _Ticker(False) as tick:
        tick("logs", 1, 2)  # disabled: a no-op
