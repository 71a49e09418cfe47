"""Paged ``eth_getLogs`` with adaptive block ranges.

Nodes limit ``eth_getLogs`` in different ways: a maximum block span, a maximum number of results
(some error, some may truncate), response size or time. ``fetch_logs`` asks for ``span`` blocks at a
time; when the node refuses a range (any JSON-RPC error or transport failure) or returns
``max_logs`` results or more (possibly truncated: discarded and re-asked), it halves the span and
retries the same start block; after a page with few results (< ``max_logs // 4``) it doubles the
span again, up to ``max_span``. A single block that still fails is a hard error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from offchain.chain.rpc import Rpc, RpcError, RpcUnavailable
from offchain.core.errors import ChainError

log = logging.getLogger(__name__)

__all__ = ["LogStats", "fetch_logs"]


@dataclass
class LogStats:
    requests: int = 0
    refused: int = 0  # node errors: range shrunk
    too_many: int = 0  # pages at or above max_logs: range shrunk
    grown: int = 0
    spans: list[int] = field(default_factory=list)  # span of every accepted page


def fetch_logs(
    rpc: Rpc,
    address: str | list[str],
    from_block: int,
    to_block: int,
    *,
    span: int = 2_000,
    max_span: int = 100_000,
    max_logs: int = 10_000,
    topics: list[Any] | None = None,
    stats: LogStats | None = None,
    on_page: Callable[[int, int], None] | None = None,
    on_logs: Callable[[int, list[dict[str, Any]]], None] | None = None,
) -> list[dict[str, Any]]:
    """Every log of ``address`` in ``[from_block, to_block]``, in chain order.

    ``on_page(last_block_done, n_logs)`` is called after each accepted page (progress bars),
    ``on_logs(last_block_done, page)`` with the page's logs (checkpoints).
    """
    stats = stats if stats is not None else LogStats()
    out: list[dict[str, Any]] = []
    cur = from_block
    span = max(1, span)
    while cur <= to_block:
        end = min(cur + span - 1, to_block)
        flt: dict[str, Any] = {"address": address, "fromBlock": hex(cur), "toBlock": hex(end)}
        if topics:
            flt["topics"] = topics
        stats.requests += 1
        try:
            page = rpc.request("eth_getLogs", [flt])
        except (RpcError, RpcUnavailable) as exc:  # refused, or timed out on a heavy range: shrink
            if end == cur:
                raise ChainError(f"eth_getLogs refused even a single block ({cur}): {exc.message}") from exc
            stats.refused += 1
            span = max(1, (end - cur + 1) // 2)
            log.debug("eth_getLogs %d-%d refused (%s): span -> %d", cur, end, exc.message, span)
            continue
        page = page or []
        if len(page) >= max_logs and end > cur:
            stats.too_many += 1
            span = max(1, (end - cur + 1) // 2)
            log.debug("eth_getLogs %d-%d returned %d logs: span -> %d", cur, end, len(page), span)
            continue
        out.extend(page)
        stats.spans.append(end - cur + 1)
        if on_page:
            on_page(end, len(page))
        if on_logs:
            on_logs(end, page)
        cur = end + 1
        if len(page) < max_logs // 4 and span < max_span:
            span = min(max_span, span * 2)
            stats.grown += 1
    out.sort(key=lambda lg: (int(lg["blockNumber"], 16), int(lg["logIndex"], 16)))
    return out
