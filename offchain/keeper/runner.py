"""The keeper's cycle: the ``Keeper`` loop and its wiring.

Each cycle: reconcile the journal (receipts of in-flight submissions, fee bumps of stuck ones,
re-broadcasts after a node restart, reorg checks of recent rebalances); read the head block, the
keeper's balance and nonce and every vault's ``VaultLens.state`` in ONE JSON-RPC batch; then per
vault decide with the shared policy objects (``decide``: plan trades with ``plan_trades``, at most
n-1 direct swaps between vault assets, to target or to the band edge; quote them in one batch; bound
each ``min_amount_out`` by the oracle and the quote; weigh benefit against gas + swap costs; check
the base fee against the cap) and hand a rebalance to the ``outbox`` (simulate with ``eth_call`` +
``eth_estimateGas``, revert reason decoded; sign an EIP-1559 transaction, journal it, send it,
optionally to a separate submission RPC, and wait for its receipt). Target weights are queued and
applied by ``targets``. Every decision is one log line (human or JSON).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from eth_abi import decode as abi_decode
from web3 import Web3

from offchain.chain.manifest import load_manifest
from offchain.chain.node import load_artifact
from offchain.chain.rpc import Rpc, RpcError, RpcUnavailable
from offchain.chain.uniswap import ROUTER_ABI
from offchain.chain.vault import LensCodec, Quoter, VaultState
from offchain.core import model
from offchain.core.errors import ChainError, ConfigError
from offchain.keeper import fleet, targets
from offchain.keeper.config import KeeperConfig, parse_shard
from offchain.keeper.decide import (
    Decision,
    Fail,
    Rebalance,
    Skip,
    _hex,
    _int,
    decide,
    fingerprint,
    next_base_fee,
)
from offchain.keeper.fees import FeePolicy
from offchain.keeper.journal import Journal
from offchain.keeper.keys import Signer
from offchain.keeper.metrics import Metrics
from offchain.keeper.outbox import NonceConflict, Outbox
from offchain.quant.policies import Policy, parse_policy

in_shard = fleet.in_shard

__all__ = ["CircuitOpen", "in_shard", "Decision", "Keeper", "NonceConflict", "_hex", "_int", "next_base_fee"]

log = logging.getLogger(__name__)


class CircuitOpen(ChainError):  # noqa: N818
    """Too many consecutive failures: the keeper stops rather than keep failing."""


def _to_outbox(name: str) -> property:
    """A Keeper attribute that is the outbox's: reading it reads the outbox's, setting it (a test's
    stand-in for ``_broadcast``, a benchmark's ``address``...) sets the outbox's, which sends."""

    def get(self: Keeper) -> Any:
        return getattr(self.outbox, name)

    def set_(self: Keeper, value: Any) -> None:
        setattr(self.outbox, name, value)

    return property(get, set_)


def _vault_list(cfg: KeeperConfig, manifest: dict[str, Any]) -> list[str]:
    wanted = cfg.vaults or [v["address"] for v in manifest["vaults"]]
    vaults: list[str] = []
    for a in wanted:
        if not Web3.is_address(a):
            raise ConfigError(f"bad vault address {a!r}: expected 0x followed by 40 hex digits")
        vaults.append(Web3.to_checksum_address(a))
    if not vaults:
        raise ConfigError(f"manifest {cfg.manifest} lists no vaults and none were given with --vault")
    return vaults


class Keeper:
    fingerprint = staticmethod(fingerprint)
    address = _to_outbox("address")
    _next_nonce = _to_outbox("_next_nonce")
    _broadcast = _to_outbox("_broadcast")
    _wait_receipts = _to_outbox("_wait_receipts")

    def __init__(
        self,
        cfg: KeeperConfig,
        *,
        signer: Signer | None = None,
        rpc: Rpc | None = None,
        metrics: Metrics | None = None,
        out: Callable[[str], None] | None = None,
    ):
        if not cfg.manifest:
            raise ConfigError("no manifest: pass --manifest (or BALLAST_KEEPER_MANIFEST)")
        if not cfg.rpc_url:
            raise ConfigError("no RPC URL: pass --rpc-url (or BALLAST_KEEPER_RPC_URL)")
        self.cfg = cfg
        self.manifest = load_manifest(cfg.manifest)
        self.metrics = metrics or Metrics()
        self.out = out or (lambda line: print(line, flush=True))
        self.rpc = rpc or Rpc(
            cfg.rpc_url,
            timeout=cfg.rpc_timeout,
            retries=cfg.rpc_retries,
            backoff=cfg.rpc_backoff,
            on_retry=lambda kind: self.metrics.inc("failures", "rpc"),
        )
        self.submit_rpc = (
            Rpc(cfg.submit_rpc_url, timeout=cfg.rpc_timeout, retries=cfg.rpc_retries, backoff=cfg.rpc_backoff)
            if cfg.submit_rpc_url
            else self.rpc
        )
        self.chain_id = self._probe_chain_id()
        self.signer = signer
        if signer is None and not cfg.dry_run:
            raise ConfigError(
                "no keeper key: pass --keystore (with --password-file/--password-env) or --private-key-env"
            )
        self.fees = FeePolicy(cfg.max_fee_gwei, cfg.priority_fee_gwei, bump_pct=cfg.bump_pct)
        self.policy: Policy | None = parse_policy(cfg.policy) if cfg.policy else None
        try:
            self.lens = Web3.to_checksum_address(self.manifest["lens"])
        except (KeyError, ValueError):
            raise ConfigError(f"manifest {cfg.manifest} has no valid 'lens' address") from None
        self.shard = parse_shard(cfg.shard)
        self.vaults: list[str] = [v for v in _vault_list(cfg, self.manifest) if fleet.in_shard(v, self.shard)]
        self.symbols = {t["address"].lower(): t.get("symbol", "?") for t in self.manifest.get("tokens", [])}
        native = [
            t for t in self.manifest.get("tokens", []) if t.get("symbol", "").upper() in ("WETH", "ETH")
        ]
        self.native_token = native[0]["address"].lower() if native else None
        self.genesis = fleet.genesis(self.rpc, cfg.rpc_url)
        self.journal = self._open_journal(signer)
        self.backup = fleet.BackupClock(cfg.backup_after)
        self._last_prune = 0.0
        w3 = Web3()
        self.lens_c = w3.eth.contract(abi=load_artifact("VaultLens").abi)
        self.vault_c = w3.eth.contract(abi=load_artifact("RebalancingVault").abi)
        self.router_c = w3.eth.contract(abi=ROUTER_ABI)
        self.codec = LensCodec(self.lens_c.abi)
        self._stop = threading.Event()
        self.consecutive_failures = 0
        self.revert_guard: dict[str, tuple[Any, ...] | None] = {}
        self.last_targets_check: dict[str, float] = {}
        self.head: dict[str, Any] = {}
        self.native_price_usd = cfg.native_price_usd or 3_000.0
        self._low_balance_warned = False
        self._cycle_failures = 0
        self.outbox = Outbox(
            cfg,
            rpc=self.rpc,
            submit_rpc=self.submit_rpc,
            journal=self.journal,
            signer=signer,
            chain_id=self.chain_id,
            fees=self.fees,
            metrics=self.metrics,
            vault_c=self.vault_c,
            stop=self._stop,
            revert_guard=self.revert_guard,
            emit=self.emit,
            fail=self._fail,
        )

    def _probe_chain_id(self) -> int:
        cfg = self.cfg
        probe = Rpc(cfg.rpc_url, timeout=min(cfg.rpc_timeout, 5.0), retries=2, backoff=0.2)
        try:
            chain_id = _int(probe.call("eth_chainId"))
        except RpcUnavailable:
            raise ChainError(
                f"no JSON-RPC node answers at {cfg.rpc_url}: check --rpc-url and that the node runs"
            ) from None
        if int(self.manifest["chain_id"]) != chain_id:
            raise ConfigError(
                f"manifest {cfg.manifest} is for chain {self.manifest['chain_id']} but {cfg.rpc_url} is "
                f"chain {chain_id}"
            )
        return chain_id

    def _open_journal(self, signer: Signer | None) -> Journal:
        """The journal of this chain (chain id + genesis), locked for this key: one process per key."""
        journal = Journal(self.cfg.journal or f".ballast/keeper-{self.chain_id}.sqlite", genesis=self.genesis)
        journal.adopt(self.chain_id)
        if signer is not None:
            try:  # a second keeper on this key refuses to start
                journal.lock(self.chain_id, signer.address)
            except ConfigError:
                journal.close()
                raise
        return journal

    def check_vaults(self) -> None:
        """At start: a watched address that is not a vault is a ``ConfigError`` (exit 2)."""
        fleet.check_vaults(self)

    def prune(self, now: float | None = None) -> int:
        """Drop settled journal rows older than ``--journal-retention`` (at start, then hourly)."""
        now = time.time() if now is None else now
        self._last_prune = now
        return self.journal.prune(self.cfg.journal_retention, now)

    # ------------------------------------------------------------------ logging
    def emit(self, d: Decision) -> None:
        if self.cfg.log_json:
            doc = {"ts": round(time.time(), 3), "vault": d.vault, "action": d.action}
            if d.detail:
                doc["detail"] = d.detail
            doc.update(d.data)
            self.out(json.dumps(doc, default=str, sort_keys=False))
        else:
            extra = " ".join(f"{k}={v}" for k, v in d.data.items())
            short = d.vault[:10] + ".." if d.vault.startswith("0x") else d.vault
            self.out(
                f"{time.strftime('%H:%M:%S')} keeper {short} {d.action}"
                + (f": {d.detail}" if d.detail else "")
                + (f" [{extra}]" if extra else "")
            )

    def _fail(self, vault: str, kind: str, detail: str, **data: Any) -> Decision:
        self.metrics.inc("failures", kind)
        self._cycle_failures += 1
        d = Decision(vault, "failed", detail, {"kind": kind, **data})
        self.emit(d)
        return d

    def _skip(self, vault: str, why: str, detail: str = "", **data: Any) -> Decision:
        self.metrics.inc("skips", why)
        d = Decision(vault, "skip", f"{why}" + (f" ({detail})" if detail else ""), data)
        self.emit(d)
        return d

    # ------------------------------------------------------------------ encoding
    def decode_state(self, result: Any) -> VaultState | RpcError:
        """A ``lens.state`` result (or its ``RpcError``) as a ``VaultState``, or an ``RpcError``."""
        if isinstance(result, RpcError):
            return result
        try:
            return self.codec.decode(result)
        except ChainError:
            return RpcError(
                "eth_call", 0, f"lens {self.lens} returned no decodable state ({str(result)[:20]})"
            )

    def state_call(self, vault: str, block: str = "latest") -> tuple[str, list[Any]]:
        return self.codec.call(self.lens, vault, block)

    def _quoter(self, router: str) -> Quoter:
        """A batched ``Quoter``: every getAmountsOut of a plan in one JSON-RPC batch."""

        def quote(requests: list[tuple[int, list[str]]]) -> list[int | Exception]:
            res = self.rpc.batch(
                [
                    (
                        "eth_call",
                        [
                            {"to": router, "data": self.router_c.encode_abi("getAmountsOut", args=[a, p])},
                            "latest",
                        ],
                    )
                    for a, p in requests
                ]
            )
            return [
                r if isinstance(r, RpcError) else abi_decode(["uint256[]"], bytes.fromhex(r[2:]))[0][-1]
                for r in res
            ]

        return quote

    def read_states(self, block: str = "latest") -> list[VaultState | RpcError]:
        res = self.rpc.batch([self.state_call(v, block) for v in self.vaults])
        return [self.decode_state(r) for r in res]

    # ------------------------------------------------------------------ lifecycle
    def stop(self, *_: Any) -> None:
        self._stop.set()

    def close(self) -> None:
        self.journal.close()

    def run(self) -> int:
        """Cycles until stopped (SIGINT/SIGTERM), ``--once``, or the circuit breaker opens."""
        installed = []
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                installed.append((sig, signal.signal(sig, self.stop)))
        try:
            self.check_vaults()
            self.prune()
            self.emit(
                Decision(
                    "-",
                    "start",
                    f"watching {len(self.vaults)} vault(s) on chain {self.chain_id}",
                    {
                        "keeper": self.address or "none (dry run)",
                        "dry_run": self.cfg.dry_run,
                        "policy": self.policy.spec() if self.policy else "vault trigger",
                        "submit": "separate RPC" if self.submit_rpc is not self.rpc else "same RPC",
                        "shard": self.cfg.shard or "all",
                        "backup_after": self.cfg.backup_after,
                    },
                )
            )
            while not self._stop.is_set():
                started = time.monotonic()
                self.run_cycle()
                if self.cfg.once:
                    break
                self._stop.wait(max(0.0, self.cfg.interval - (time.monotonic() - started)))
            self.emit(Decision("-", "shutdown", "stopped cleanly" if self._stop.is_set() else "done"))
            return 0
        finally:
            for sig, old in installed:
                signal.signal(sig, old)
            self.close()

    def run_cycle(self) -> list[Decision]:
        """One cycle with failure accounting for the circuit breaker; raises ``CircuitOpen``."""
        self._cycle_failures = 0
        try:
            decisions = self.cycle()
        except RpcUnavailable as exc:
            decisions = [self._fail("-", "rpc", str(exc))]
        except ChainError as exc:
            decisions = [self._fail("-", "cycle", str(exc))]
        except Exception as exc:  # noqa: BLE001 - unattended: log, count, carry on (breaker decides)
            log.debug("cycle failed", exc_info=True)
            decisions = [self._fail("-", "internal", f"{type(exc).__name__}: {exc}")]
        if self._cycle_failures:
            self.consecutive_failures += 1
        else:
            self.consecutive_failures = 0
            self.metrics.last_success = time.time()
        self.metrics.inc("cycles")
        if self.consecutive_failures >= self.cfg.max_failures:
            raise CircuitOpen(
                f"circuit breaker open: {self.consecutive_failures} consecutive failed cycles "
                f"(last: {decisions[-1].detail if decisions else 'unknown'}); fix the cause and restart"
            )
        return decisions

    # ------------------------------------------------------------------ the cycle
    def cycle(self) -> list[Decision]:
        t0 = time.monotonic()
        decisions: list[Decision] = []
        self.outbox._awaiting = []  # a cycle cut short leaves its sends to reconcile, never twice
        if time.time() - self._last_prune >= 3600:
            self.prune()
        if self.signer:
            decisions += self.reconcile()
        calls: list[tuple[str, list[Any]]] = [("eth_getBlockByNumber", ["latest", False])]
        if self.address:
            calls += [
                ("eth_getBalance", [self.address, "latest"]),
                ("eth_getTransactionCount", [self.address, "pending"]),
            ]
        calls += [self.state_call(v) for v in self.vaults]
        res = self.rpc.batch(calls)
        for r in res[: len(calls) - len(self.vaults)]:
            if isinstance(r, RpcError):
                raise r
        self.head = res[0]
        k = 1
        if self.address:
            self.metrics.balance_wei = _int(res[1])
            k = 3
        states = [self.decode_state(r) for r in res[k:]]
        now = _int(self.head["timestamp"])
        base_next = next_base_fee(self.head)
        self._update_native_price(states)
        self._check_balance(base_next)
        self.outbox._defer = True
        try:
            decisions += self._vault_loop(states, now, base_next)
        finally:
            self.outbox._defer = False
        decisions += self.settle()
        self.emit(
            Decision(
                "-",
                "cycle",
                f"{len(self.vaults)} vault(s) in {time.monotonic() - t0:.3f} s",
                {"block": _int(self.head["number"])},
            )
        )
        return decisions

    def _vault_loop(self, states: list[Any], now: int, base_next: int) -> list[Decision]:
        decisions: list[Decision] = []
        for vault, st in zip(self.vaults, states, strict=True):
            self.metrics.inc("checks")
            if isinstance(st, RpcError):
                decisions.append(self._fail(vault, "read", f"lens.state reverted: {st.reason}"))
                continue
            try:
                decisions.append(self.decide_and_act(vault, st, now, base_next))
            except RpcUnavailable:
                raise
            except ChainError as exc:
                decisions.append(self._fail(vault, "vault", str(exc)))
            if self.cfg.targets_every and self.signer:
                decisions += targets.due(self, vault, st, now)
        return decisions

    def _update_native_price(self, states: list[Any]) -> None:
        if self.cfg.native_price_usd or not self.native_token:
            return
        for st in states:
            if isinstance(st, VaultState):
                for a, p in zip(st.assets, st.prices, strict=True):
                    if a.lower() == self.native_token and p:
                        self.native_price_usd = p / 1e18
                        return

    def _check_balance(self, base_next: int) -> None:
        bal = self.metrics.balance_wei
        if bal is None:
            return
        per = (model.REBALANCE_GAS_FIXED + 2 * model.REBALANCE_GAS_PER_SWAP) * min(
            self.fees.cap_wei, base_next * 2 + self.fees.tip_wei
        )
        covers = bal // max(per, 1)
        if covers < self.cfg.low_balance_rebalances:
            if not self._low_balance_warned:
                self.emit(
                    Decision(
                        "-",
                        "warn",
                        f"keeper balance {bal / 1e18:.6f} covers only ~{covers} rebalances "
                        f"(< {self.cfg.low_balance_rebalances}); top it up",
                        {"balance_wei": bal},
                    )
                )
            self._low_balance_warned = True
        else:
            self._low_balance_warned = False

    def decide_and_act(self, vault: str, st: VaultState, now: int, base_next: int) -> Decision:
        """Decide for ``vault`` (``decide``: no I/O but the quotes) and hand a rebalance to the outbox."""
        if self.signer and self.journal.open(self.chain_id, vault):
            return self._skip(vault, "in-flight", "a submission for this vault is not mined yet")
        verdict = decide(
            vault,
            st,
            now=now,
            base_next=base_next,
            cfg=self.cfg,
            fees=self.fees,
            quote=self._quoter(st.router),
            native_price_usd=self.native_price_usd,
            policy=self.policy,
            revert_guard=self.revert_guard,
            symbols=self.symbols,
        )
        if not isinstance(verdict, Rebalance):
            self.backup.served(vault)
        if isinstance(verdict, Skip):
            if verdict.remember is not None:
                self.revert_guard[vault] = verdict.remember
            return self._skip(vault, verdict.why, verdict.detail, **verdict.data)
        if isinstance(verdict, Fail):
            return self._fail(vault, verdict.kind, verdict.detail, **verdict.data)
        wait = self.backup.wait(vault, st, now)  # a backup leaves a due vault to the primary first
        if wait is not None:
            return self._skip(vault, "backup-wait", wait)
        return self.outbox.rebalance(vault, st, verdict)

    # ------------------------------------------------------------------ the outbox's, by name
    def submit(
        self,
        vault: str,
        tx: dict[str, Any],
        trades: str,
        max_fee: int,
        tip: int,
        deadline: int,
        st: VaultState | None,
        data: dict[str, Any],
    ) -> Decision:
        """Sign, journal and send (``Outbox.submit``)."""
        return self.outbox.submit(vault, tx, trades, max_fee, tip, deadline, st, data)

    def settle(self) -> list[Decision]:
        """Wait for and finalize everything sent this cycle (``Outbox.settle``)."""
        return self.outbox.settle()

    def reconcile(self) -> list[Decision]:
        """Settle in-flight submissions and watch recent rebalances for reorgs (``Outbox.reconcile``)."""
        return self.outbox.reconcile()

    # ------------------------------------------------------------------ targets
    def refresh_head(self) -> dict[str, Any]:
        """Read the latest block (its base fee prices admin transactions) and return it."""
        return targets.refresh_head(self)

    def apply_targets(self, vault: str) -> Decision:
        """Send (or, dry, simulate) ``apply_target_weights`` on ``vault``."""
        return targets.apply(self, vault)

    def queue_targets(self, vault: str, weights: list[int]) -> Decision:
        """Send (or, dry, simulate) ``queue_target_weights(weights)`` on ``vault``."""
        return targets.queue(self, vault, weights)
