"""Many keepers, and the checks a keeper makes before its first cycle.

* ``in_shard``: ``--shard I/N`` serves the vaults whose address's keccak is ``I`` modulo ``N``, so
  N keepers (each its own key) split the vaults with no overlap.
* ``BackupClock``: ``--backup-after S`` makes a keeper a backup; it acts on a vault only once the
  vault has been due, and unserved, for S seconds of chain time: due since the backup first saw it
  due (reset whenever the vault's ``last_rebalance`` moves: somebody served it), and never earlier
  than the end of its cooldown.
* ``genesis``: block 0's hash, which with the chain id names a chain in the journal.
* ``check_vaults``: every watched address must be a vault (code, and a ``lens.state`` that
  decodes); one that is not is a ``ConfigError`` (exit 2) at start.
"""

from __future__ import annotations

from typing import Any

from web3 import Web3

from offchain.chain.rpc import Rpc, RpcError
from offchain.chain.vault import VaultState
from offchain.core.errors import ChainError, ConfigError


def in_shard(vault: str, shard: tuple[int, int] | None) -> bool:
    """Whether ``vault`` is in shard ``(i, n)``: keccak of its address, modulo ``n``, is ``i``."""
    if shard is None:
        return True
    i, n = shard
    return int.from_bytes(Web3.keccak(hexstr=vault.lower()), "big") % n == i


class BackupClock:
    """Per vault: (its last_rebalance, the block time it was first seen due since)."""

    def __init__(self, after: float | None):
        self.after = after
        self.seen: dict[str, tuple[int, int]] = {}

    def served(self, vault: str) -> None:
        """Not due (or not actionable) now: the clock starts again when it is."""
        self.seen.pop(vault, None)

    def wait(self, vault: str, st: VaultState, now: int) -> str | None:
        """None: act now (a primary, or due and unserved long enough); else why to wait."""
        if self.after is None:
            return None
        seen = self.seen.get(vault)
        if seen is None or seen[0] != st.last_rebalance:
            seen = self.seen[vault] = (st.last_rebalance, now)
        since = max(seen[1], st.last_rebalance + st.params.cooldown)
        if now - since >= self.after:
            return None
        return f"due since {since}; the primary has until {since + int(self.after)}"


def genesis(rpc: Rpc, url: str) -> str:
    """Block 0's hash (a few tries: a flaky RPC at start is not a configuration error)."""
    err: Exception | None = None
    for _ in range(5):
        try:
            block = rpc.call("eth_getBlockByNumber", ["0x0", False])
            if isinstance(block, dict) and block.get("hash"):
                return str(block["hash"])
        except RpcError as exc:
            err = exc
    raise ChainError(f"{url} does not serve block 0 ({err or 'no block'})")


def check_vaults(keeper: Any) -> None:
    """``ConfigError`` for the first watched address that is not a vault."""
    calls = [keeper.state_call(v) for v in keeper.vaults]
    calls += [("eth_getCode", [v, "latest"]) for v in keeper.vaults]
    res = keeper.rpc.batch(calls)
    n = len(keeper.vaults)
    for vault, st, code in zip(keeper.vaults, res[:n], res[n:], strict=True):
        if isinstance(code, str) and code in ("0x", "0x0", ""):
            raise ConfigError(f"{vault} is not a vault: no contract code there on chain {keeper.chain_id}")
        state = keeper.decode_state(st)
        if isinstance(state, RpcError):
            msg = state.message.lower()
            if "revert" in msg or "no decodable state" in msg:  # an answer, not a flaky transport
                raise ConfigError(f"{vault} is not a vault: lens.state reverted ({state.reason})")
