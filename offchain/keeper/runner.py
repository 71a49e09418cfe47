"""The keeper's cycle.

Each cycle: reconcile the journal (receipts of in-flight submissions, fee bumps of stuck ones,
re-broadcasts after a node restart, reorg checks of recent rebalances); read the head block, the
keeper's balance and nonce and every vault's ``VaultLens.state`` in ONE JSON-RPC batch; then per
vault decide with the shared policy objects, plan trades (``plan_trades``: at most n-1 direct swaps
between vault assets, to target or to the band edge), quote them in one batch, bound each
``min_amount_out`` by the oracle and the quote, weigh benefit against gas + swap costs, check the
base fee against the cap, simulate (``eth_call`` + ``eth_estimateGas``, revert reason decoded),
sign an EIP-1559 transaction, journal it, send it (optionally to a separate submission RPC) and
wait for its receipt. Every decision is one log line (human or JSON).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic
from web3 import Web3

from offchain.chain.manifest import load_manifest
from offchain.chain.node import load_artifact
from offchain.chain.rpc import Rpc, RpcError, RpcUnavailable, decode_revert
from offchain.chain.vault import LensCodec, OffPriceError, QuoteError, Quoter, VaultState, build_trades
from offchain.core import model
from offchain.core.errors import ChainError, ConfigError
from offchain.keeper.config import KeeperConfig
from offchain.keeper.fees import GWEI, FeePolicy
from offchain.keeper.journal import Journal, Submission
from offchain.keeper.keys import Signer
from offchain.keeper.metrics import Metrics
from offchain.quant.policies import Hybrid, Policy, parse_policy

log = logging.getLogger(__name__)


class CircuitOpen(ChainError):  # noqa: N818
    """Too many consecutive failures: the keeper stops rather than keep failing."""


class NonceConflict(ChainError):  # noqa: N818
    pass


def _hex(n: int) -> str:
    return hex(int(n))


def _int(x: Any) -> int:
    return int(x, 16) if isinstance(x, str) else int(x)


def next_base_fee(block: dict[str, Any]) -> int:
    """EIP-1559 base fee of the block after ``block``."""
    base = _int(block.get("baseFeePerGas") or 0)
    used, limit = _int(block["gasUsed"]), _int(block["gasLimit"])
    target = max(limit // 2, 1)
    if used == target:
        return base
    if used > target:
        return base + max(base * (used - target) // target // 8, 1)
    return base - base * (target - used) // target // 8


@dataclass
class Decision:
    vault: str
    action: str  # rebalanced | sent | would-send | skip | failed | reverted | ...
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class Keeper:
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
        probe = Rpc(cfg.rpc_url, timeout=min(cfg.rpc_timeout, 5.0), retries=1, backoff=0.2)
        try:
            self.chain_id = _int(probe.call("eth_chainId"))
        except RpcUnavailable:
            raise ChainError(
                f"no JSON-RPC node answers at {cfg.rpc_url}: check --rpc-url and that the node runs"
            ) from None
        if int(self.manifest["chain_id"]) != self.chain_id:
            raise ConfigError(
                f"manifest {cfg.manifest} is for chain {self.manifest['chain_id']} but {cfg.rpc_url} is "
                f"chain {self.chain_id}"
            )
        self.signer = signer
        if signer is None and not cfg.dry_run:
            raise ConfigError(
                "no keeper key: pass --keystore (with --password-file/--password-env) or --private-key-env"
            )
        self.address = signer.address if signer else None
        self.fees = FeePolicy(cfg.max_fee_gwei, cfg.priority_fee_gwei, bump_pct=cfg.bump_pct)
        self.policy: Policy | None = parse_policy(cfg.policy) if cfg.policy else None
        try:
            self.lens = Web3.to_checksum_address(self.manifest["lens"])
        except (KeyError, ValueError):
            raise ConfigError(f"manifest {cfg.manifest} has no valid 'lens' address") from None
        wanted = cfg.vaults or [v["address"] for v in self.manifest["vaults"]]
        self.vaults: list[str] = []
        for a in wanted:
            if not Web3.is_address(a):
                raise ConfigError(f"bad vault address {a!r}: expected 0x followed by 40 hex digits")
            self.vaults.append(Web3.to_checksum_address(a))
        if not self.vaults:
            raise ConfigError(f"manifest {cfg.manifest} lists no vaults and none were given with --vault")
        self.symbols = {t["address"].lower(): t.get("symbol", "?") for t in self.manifest.get("tokens", [])}
        native = [
            t for t in self.manifest.get("tokens", []) if t.get("symbol", "").upper() in ("WETH", "ETH")
        ]
        self.native_token = native[0]["address"].lower() if native else None
        self.journal = Journal(cfg.journal or f".ballast/keeper-{self.chain_id}.sqlite")
        w3 = Web3()
        self.lens_c = w3.eth.contract(abi=load_artifact("VaultLens").abi)
        self.vault_c = w3.eth.contract(abi=load_artifact("RebalancingVault").abi)
        self.router_c = w3.eth.contract(abi=load_artifact("UniswapV2RouterDouble").abi)
        self.codec = LensCodec(self.lens_c.abi)
        ev = next(e for e in self.vault_c.abi if e.get("type") == "event" and e["name"] == "Rebalanced")
        self._rebalanced_topic = "0x" + event_abi_to_log_topic(ev).hex()
        self._stop = threading.Event()
        self.consecutive_failures = 0
        self.revert_guard: dict[str, tuple[Any, ...] | None] = {}
        self.last_targets_check: dict[str, float] = {}
        self.head: dict[str, Any] = {}
        self.native_price_usd = cfg.native_price_usd or 3_000.0
        self._low_balance_warned = False
        self._cycle_failures = 0
        self._awaiting: list[tuple[Submission, VaultState | None]] = []
        self._defer = False

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
        self._defer = True
        try:
            decisions += self._vault_loop(states, now, base_next)
        finally:
            self._defer = False
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
                decisions += self._targets(vault, st, now)
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

    @staticmethod
    def fingerprint(st: VaultState) -> tuple[Any, ...]:
        return (
            tuple(st.holdings),
            tuple(st.prices),
            tuple(st.price_updated_at),
            st.last_rebalance,
            tuple(st.target_weights),
            st.paused,
        )

    def decide_and_act(self, vault: str, st: VaultState, now: int, base_next: int) -> Decision:
        cfg = self.cfg
        if self.signer and self.journal.open(self.chain_id, vault):
            return self._skip(vault, "in-flight", "a submission for this vault is not mined yet")
        if st.paused:
            return self._skip(vault, "paused")
        if any(s != model.FEED_OK for s in st.feed_status):
            # the vault refuses to rebalance on any of these; "unusable" also covers a down sequencer
            why = "feed-unusable" if model.FEED_UNUSABLE in st.feed_status else "feed"
            return self._skip(vault, why, "; ".join(st.feed_problems()), feed_status=list(st.feed_status))
        vm = st.to_model()
        policy = self.policy or Hybrid.from_params(st.params)
        want, reason = policy.needs_rebalance(vm, now)
        data = {"drift_bps": st.drift, "policy_reason": model.REASON_NAMES.get(reason, reason)}
        if not want:
            return self._skip(vault, "no-trigger", f"policy {policy.spec()}", **data)
        if not st.needs_rebalance:
            return self._skip(vault, "vault-says-no", "the vault's own trigger does not hold", **data)
        if vault in self.revert_guard and self.revert_guard[vault] is None:  # reverted, seen in reconcile
            self.revert_guard[vault] = self.fingerprint(st)
        if self.revert_guard.get(vault) == self.fingerprint(st):
            return self._skip(
                vault, "after-revert", "last submission reverted; waiting for the state to change"
            )
        room = model.loss_room_value(st.loss_budget_used, st.loss_budget_bps, vm.total_value())
        if room == 0:
            return self._skip(
                vault,
                "loss-budget",
                f"the vault's loss budget is used up ({st.loss_budget_bps} bps per {st.loss_window} s); "
                "it refills over time",
                **data,
            )
        data["loss_room_usd"] = round(room / 1e18, 2)
        try:  # the one trade builder (offchain.chain.vault.build_trades), quotes batched over JSON-RPC
            proposed = build_trades(
                st,
                self._quoter(st.router),
                policy=policy,
                fee_bps=cfg.fee_bps,
                keeper_slippage_bps=cfg.keeper_slippage_bps,
            )
        except OffPriceError as exc:
            return self._skip(
                vault,
                "off-price",
                f"pool {self._sym(exc.sell)}/{self._sym(exc.buy)} "
                f"quotes {exc.quoted} below the oracle bound {exc.floor} (possible sandwich)",
            )
        except QuoteError as exc:
            return self._fail(vault, "quote", str(exc))
        if not proposed:
            data.pop("loss_room_usd")
            return self._skip(vault, "no-trades", **data)
        trades = [t.as_tuple() for t in proposed]
        quoted_outs = [t.quoted_out for t in proposed]
        swap_cost = 0
        after = list(vm.balances)
        for t in proposed:
            swap_cost += t.value - t.quoted_out * vm.prices[t.buy_index] // 10 ** vm.decimals[t.buy_index]
            after[t.sell_index] -= t.amount_in
            after[t.buy_index] += t.quoted_out
        # the vault's own checks (I3-I9) on these trades if every swap pays its quote: never send a
        # rebalance the vault would refuse (round trip, direction, rooms, loss budget...)
        index = {a: i for i, a in enumerate(st.assets)}
        refused = model.check_trades(
            vm,
            [(index[a], index[b], x, y) for a, b, x, y in trades],
            quoted_outs,
            now,
        )
        if refused is not None:
            reason_data = {**data, "vault_reason": refused}
            if refused == "vault: loss budget":
                return self._skip(
                    vault,
                    "loss-budget",
                    f"the quoted trades would overdraw the loss budget ({st.loss_budget_bps} bps per "
                    f"{st.loss_window} s; {st.loss_budget_used / model.BPS_TO_LOSS:.2f} bps in use)",
                    **reason_data,
                )
            return self._skip(vault, "model-says-no", f"the vault would revert: {refused}", **reason_data)
        drift_after_wad = model.drift_wad(
            model.weights_wad(model.asset_values(after, vm.prices, vm.decimals)), vm.targets_bps
        )
        fees = self.fees.fees(base_next)
        data.update(swaps=len(trades), base_fee_gwei=round(base_next / GWEI, 3))
        if fees is None:
            return self._skip(
                vault,
                "fee-cap",
                f"base fee {base_next / GWEI:.2f} gwei above the cap {cfg.max_fee_gwei} gwei; waiting",
                **data,
            )
        max_fee, tip = fees
        gas_guess = model.REBALANCE_GAS_FIXED + model.REBALANCE_GAS_PER_SWAP * len(trades)
        value_usd = vm.total_value() / 1e18
        benefit = (vm.drift_wad() - drift_after_wad) / 1e18 * value_usd * cfg.benefit_factor
        cost = swap_cost / 1e18 + gas_guess * (base_next + tip) / 1e18 * self.native_price_usd
        data.update(benefit_usd=round(benefit, 2), cost_usd=round(cost, 2))
        if benefit < cfg.min_benefit_ratio * cost:
            return self._skip(vault, "uneconomic", "expected benefit does not cover gas + swap costs", **data)
        deadline = now + cfg.deadline
        calldata = self.vault_c.encode_abi("rebalance", args=[trades, deadline])
        sender = self.address or "0x" + "00" * 20
        call = {"from": sender, "to": vault, "data": calldata}
        if not self.address:
            d = Decision(vault, "would-send", "dry run without a key: not simulated", data)
            self.emit(d)
            return d
        sim = self.rpc.batch([("eth_call", [call, "latest"]), ("eth_estimateGas", [call])])
        for r in sim:
            if isinstance(r, RpcError):
                return self._fail(vault, "simulation", f"simulation reverted: {r.reason}", **data)
        gas = int(_int(sim[1]) * cfg.gas_multiplier) + 10_000
        data.update(gas_estimate=_int(sim[1]))
        if cfg.dry_run:
            d = Decision(vault, "would-send", f"{len(trades)} swap(s); simulation passed", data)
            self.emit(d)
            return d
        tx = {"to": vault, "data": calldata, "value": 0, "gas": gas, "chainId": self.chain_id, "type": 2}
        trade_doc = json.dumps(
            {"kind": "rebalance", "trades": [[a, b, str(x), str(y)] for a, b, x, y in trades]}
        )
        return self.submit(vault, tx, trade_doc, max_fee, tip, deadline, st, data)

    def _sym(self, addr: str) -> str:
        return self.symbols.get(addr.lower(), addr[:8])

    # ------------------------------------------------------------------ submission
    def _chain_nonce(self, tag: str = "pending") -> int:
        return _int(self.rpc.call("eth_getTransactionCount", [self.address, tag]))

    def _next_nonce(self) -> int:
        n = self._chain_nonce("pending")
        j = self.journal.max_nonce(self.chain_id, self.address or "")
        return max(n, (j + 1) if j is not None else 0)

    def _sign_record(
        self,
        vault: str,
        tx: dict[str, Any],
        trades: str,
        max_fee: int,
        tip: int,
        deadline: int,
        nonce: int,
        attempt: int = 0,
        replaces: int | None = None,
    ) -> int:
        assert self.signer is not None
        full = {**tx, "nonce": nonce, "maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip}
        raw, h = self.signer.sign(full)
        return self.journal.record(
            vault=vault,
            sender=self.signer.address,
            chain_id=self.chain_id,
            nonce=nonce,
            tx_hash=h,
            raw_tx=raw,
            tx=json.dumps(tx),
            max_fee=max_fee,
            priority_fee=tip,
            deadline=deadline,
            trades=trades,
            attempt=attempt,
            replaces=replaces,
        )

    def _broadcast(self, sid: int) -> None:
        """Send a journalled transaction; 'already known' is sent; a used nonce raises NonceConflict."""
        row = self.journal.get(sid)
        try:
            self.submit_rpc.call("eth_sendRawTransaction", [row.raw_tx])
        except RpcError as exc:
            msg = exc.message.lower()
            if "already known" in msg or "already imported" in msg or "known transaction" in msg:
                pass
            elif "nonce too low" in msg or "nonce has already been used" in msg:
                self.journal.update(sid, status="dropped", reason=f"rejected: {exc.message}")
                raise NonceConflict(exc.message) from None
            else:
                self.journal.update(sid, status="dropped", reason=f"rejected: {exc.message}")
                raise
        self.journal.update(sid, status="sent")

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
        """Sign, journal and send; inside a cycle the receipt is awaited with the others (``settle``)."""
        nonce = self._next_nonce()
        sid = self._sign_record(vault, tx, trades, max_fee, tip, deadline, nonce)
        try:
            self._broadcast(sid)
        except NonceConflict as exc:
            self.metrics.inc("failures", "nonce")
            self.emit(
                Decision(vault, "nonce-conflict", f"nonce {nonce} already used ({exc}); re-signing", {})
            )
            nonce = self._chain_nonce("pending")
            sid = self._sign_record(vault, tx, trades, max_fee, tip, deadline, nonce)
            try:
                self._broadcast(sid)
            except RpcError as exc2:
                return self._fail(vault, "send", f"send rejected after nonce refresh: {exc2.message}")
        except RpcError as exc:
            return self._fail(vault, "send", f"send rejected: {exc.message}")
        row = self.journal.get(sid)
        self.emit(
            Decision(
                vault,
                "sent",
                "",
                {"tx": row.tx_hash, "nonce": nonce, "max_fee_gwei": round(max_fee / GWEI, 3), **data},
            )
        )
        self._awaiting.append((row, st))
        if self._defer:  # independent vaults: send them all, then wait for every receipt at once
            return Decision(vault, "sent", "", {"tx": row.tx_hash})
        return self.settle()[-1]

    def settle(self) -> list[Decision]:
        """Wait (one batch of receipt queries per poll) for everything sent this cycle; finalize it."""
        todo, self._awaiting = self._awaiting, []
        if not todo:
            return []
        receipts = self._wait_receipts([[row.tx_hash] for row, _ in todo])
        out = []
        for (row, st), rc in zip(todo, receipts, strict=True):
            if rc is None:
                d = Decision(
                    row.vault, "pending", "no receipt yet; will reconcile next cycle", {"tx": row.tx_hash}
                )
                self.emit(d)
                out.append(d)
            else:
                out.append(self._finalize(row, rc, st))
        return out

    def _wait_receipt(self, hashes: list[str]) -> dict[str, Any] | None:
        """The first receipt found for any of ``hashes`` (one nonce: a transaction and its replacements)."""
        return self._wait_receipts([hashes])[0]

    def _wait_receipts(self, groups: list[list[str]]) -> list[dict[str, Any] | None]:
        deadline = time.monotonic() + self.cfg.receipt_timeout
        found: list[dict[str, Any] | None] = [None] * len(groups)
        while True:
            todo = [(i, h) for i, g in enumerate(groups) if found[i] is None for h in g]
            answers = self.rpc.batch([("eth_getTransactionReceipt", [h]) for _, h in todo])
            for (i, _), r in zip(todo, answers, strict=True):
                if r and not isinstance(r, RpcError) and found[i] is None:
                    found[i] = r
            if all(found) or time.monotonic() >= deadline or self._stop.is_set():
                return found
            time.sleep(self.cfg.poll)

    def _revert_reason(self, row: Submission, receipt: dict[str, Any]) -> str:
        """Why a mined transaction reverted: its call trace if the node has one, else a replay by eth_call."""
        try:
            tr = self.rpc.call(
                "debug_traceTransaction", [receipt["transactionHash"], {"tracer": "callTracer"}]
            )
            reason = tr.get("revertReason") or decode_revert(tr.get("output"))
            if reason:
                return str(reason)
        except RpcError:
            pass  # tracing not offered by this node
        tx = json.loads(row.tx)
        call = {"from": row.sender, "to": tx["to"], "data": tx["data"], "gas": _hex(tx["gas"])}
        for block in (_int(receipt["blockNumber"]), _int(receipt["blockNumber"]) - 1):
            try:
                self.rpc.call("eth_call", [call, _hex(block)])
            except RpcError as exc:
                return exc.reason
        return "reverted (reason not reproducible by eth_call)"

    def _finalize(self, row: Submission, receipt: dict[str, Any], st: VaultState | None) -> Decision:
        # every other open row with this nonce lost the race
        for other in self.journal.open(self.chain_id):
            if (
                other.nonce == row.nonce
                and other.sender == row.sender
                and other.tx_hash != receipt["transactionHash"]
            ):
                self.journal.update(
                    other.id, status="dropped", reason=f"replaced by {receipt['transactionHash']}"
                )
        mined = self.journal.by_hash(receipt["transactionHash"]) or row
        gas_used = _int(receipt["gasUsed"])
        price = _int(receipt.get("effectiveGasPrice") or 0)
        self.metrics.inc("gas_used", n=gas_used)
        self.metrics.inc("gas_spent_wei", n=gas_used * price)
        fields = {
            "block_number": _int(receipt["blockNumber"]),
            "block_hash": receipt["blockHash"],
            "gas_used": gas_used,
        }
        kind = json.loads(mined.trades).get("kind", "rebalance")
        if _int(receipt["status"]) == 1:
            self.journal.update(mined.id, status="mined", **fields)
            data: dict[str, Any] = {"tx": mined.tx_hash, "block": fields["block_number"], "gas": gas_used}
            if kind == "rebalance":
                self.metrics.inc("rebalances")
                ev = self._rebalanced(receipt)
                if ev:
                    data.update(
                        reason=model.REASON_NAMES.get(ev["reason"], ev["reason"]),
                        drift=f"{ev['drift_before']}->{ev['drift_after']}bps",
                        cost_usd=round((ev["value_before"] - ev["value_after"]) / 1e18, 2),
                    )
                d = Decision(mined.vault, "rebalanced", "", data)
            else:
                d = Decision(mined.vault, kind, "mined", data)
            self.emit(d)
            return d
        reason = self._revert_reason(mined, receipt)
        self.journal.update(mined.id, status="reverted", reason=reason, **fields)
        # no blind retry: the vault is skipped until its state (holdings, prices, feeds...) changes
        self.revert_guard[Web3.to_checksum_address(mined.vault)] = self.fingerprint(st) if st else None
        return self._fail(
            mined.vault,
            "reverted",
            f"{kind} reverted on chain: {reason}; not retrying until the vault's state changes",
            tx=mined.tx_hash,
        )

    def _rebalanced(self, receipt: dict[str, Any]) -> dict[str, Any] | None:
        for lg in receipt.get("logs", []):
            if lg["topics"] and lg["topics"][0].lower() == self._rebalanced_topic:
                vals = abi_decode(
                    ["uint8", "uint256", "uint256", "uint256", "uint256", "uint256[]", "uint256[]"],
                    bytes.fromhex(lg["data"][2:]),
                )
                names = [
                    "reason",
                    "drift_before",
                    "drift_after",
                    "value_before",
                    "value_after",
                    "weights_before",
                    "weights_after",
                ]
                return dict(zip(names, vals, strict=True))
        return None

    # ------------------------------------------------------------------ reconciliation
    def reconcile(self) -> list[Decision]:
        """Settle in-flight submissions (journal) and watch recent rebalances for reorgs."""
        out: list[Decision] = []
        rows = self.journal.open(self.chain_id)
        if rows:
            head = self.rpc.call("eth_getBlockByNumber", ["latest", False])
            now, base_next = _int(head["timestamp"]), next_base_fee(head)
            latest_nonce = self._chain_nonce("latest")
            groups: dict[int, list[Submission]] = {}
            for r in rows:
                groups.setdefault(r.nonce, []).append(r)
            for nonce, group in sorted(groups.items()):
                receipts = self.rpc.batch([("eth_getTransactionReceipt", [r.tx_hash]) for r in group])
                hit = next(
                    (
                        (r, rc)
                        for r, rc in zip(group, receipts, strict=True)
                        if rc and not isinstance(rc, RpcError)
                    ),
                    None,
                )
                if hit:
                    out.append(self._finalize(hit[0], hit[1], None))
                    continue
                if latest_nonce > nonce:
                    for r in group:
                        self.journal.update(
                            r.id, status="dropped", reason="nonce used by another transaction"
                        )
                    out.append(
                        self._fail(
                            group[-1].vault,
                            "nonce",
                            f"nonce {nonce} was used by another transaction; "
                            "submission dropped (state will be re-read)",
                        )
                    )
                    continue
                newest = group[-1]
                resent = []
                for r in group:
                    if r.status == "signed":  # journalled, maybe never broadcast (keeper killed)
                        resent.append(r)
                if (
                    newest.status == "sent"
                    and self.rpc.call("eth_getTransactionByHash", [newest.tx_hash]) is None
                ):
                    resent.append(newest)  # mempool lost (node restart, reorg): the same signed bytes again
                for r in resent:
                    try:
                        self._broadcast(r.id)
                        self.emit(
                            Decision(
                                r.vault,
                                "resent",
                                "journalled transaction broadcast again (same bytes)",
                                {"tx": r.tx_hash, "nonce": r.nonce},
                            )
                        )
                    except ChainError as exc:
                        out.append(self._fail(r.vault, "send", f"re-broadcast failed: {exc}"))
                if resent:
                    rc = self._wait_receipt([r.tx_hash for r in group])
                    if rc is not None:
                        mined = next(r for r in group if r.tx_hash == rc["transactionHash"])
                        out.append(self._finalize(mined, rc, None))
                    continue
                age = time.time() - newest.updated_at
                if age >= self.cfg.stuck_after:
                    out.append(self._bump(newest, now, base_next))
                else:
                    d = Decision(
                        newest.vault, "waiting", f"tx pending for {age:.0f} s", {"tx": newest.tx_hash}
                    )
                    self.emit(d)
                    out.append(d)
        out += self._reorg_watch()
        return out

    def _bump(self, row: Submission, now: int, base_next: int) -> Decision:
        new = self.fees.bump(row.max_fee, row.priority_fee, base_next)
        if new is None:
            self.metrics.inc("skips", "bump-cap")
            d = Decision(
                row.vault,
                "stuck",
                f"tx {row.tx_hash[:12]}.. unmined; a bump would exceed the fee cap "
                f"{self.cfg.max_fee_gwei} gwei, waiting",
            )
            self.emit(d)
            return d
        max_fee, tip = new
        tx = json.loads(row.tx)
        trades = row.trades
        if now >= row.deadline:  # the rebalance can only revert now: cancel with a self-transfer instead
            tx = {
                "to": row.sender,
                "data": "0x",
                "value": 0,
                "gas": 21_000,
                "chainId": self.chain_id,
                "type": 2,
            }
            trades = json.dumps({"kind": "cancel"})
        sid = self._sign_record(
            row.vault,
            tx,
            trades,
            max_fee,
            tip,
            row.deadline,
            row.nonce,
            attempt=row.attempt + 1,
            replaces=row.id,
        )
        try:
            self._broadcast(sid)
        except NonceConflict:
            return self._fail(row.vault, "nonce", "nonce already used while replacing; will re-read state")
        except RpcError as exc:
            return self._fail(row.vault, "replace", f"replacement rejected: {exc.message}")
        new_row = self.journal.get(sid)
        d = Decision(
            row.vault,
            "replaced",
            f"stuck tx {row.tx_hash[:12]}.. replaced with bumped fees",
            {
                "tx": new_row.tx_hash,
                "nonce": row.nonce,
                "max_fee_gwei": round(max_fee / GWEI, 3),
                "kind": json.loads(trades)["kind"],
            },
        )
        self.emit(d)
        receipt = self._wait_receipt([new_row.tx_hash, row.tx_hash])
        if receipt is not None:
            self._finalize(new_row, receipt, None)
        return d

    def _reorg_watch(self) -> list[Decision]:
        out: list[Decision] = []
        head_n = _int(self.rpc.call("eth_blockNumber"))
        recent = self.journal.recent_mined(self.chain_id, head_n - self.cfg.confirmations)
        gone = []
        if recent:
            receipts = self.rpc.batch([("eth_getTransactionReceipt", [r.tx_hash]) for r in recent])
            for r, rc in zip(recent, receipts, strict=True):
                if isinstance(rc, RpcError):
                    continue
                if rc is None or rc["blockHash"] != r.block_hash:
                    gone.append((r, rc))
        for r, rc in gone:
            self.metrics.inc("failures", "reorg")
            if json.loads(r.trades).get("kind") == "rebalance":
                self.metrics.inc("rebalances", n=-1)
            if rc is not None:  # re-included in another block
                self.journal.update(r.id, block_number=_int(rc["blockNumber"]), block_hash=rc["blockHash"])
                out.append(
                    Decision(r.vault, "reorg", "rebalance re-included in a new block", {"tx": r.tx_hash})
                )
                continue
            known = self.rpc.call("eth_getTransactionByHash", [r.tx_hash])
            head = self.rpc.call("eth_getBlockByNumber", ["latest", False])
            if known is not None:
                self.journal.update(r.id, status="sent", block_number=None, block_hash=None)
                d = Decision(
                    r.vault,
                    "reorg",
                    "mined rebalance dropped by a reorg; back in the mempool, waiting",
                    {"tx": r.tx_hash},
                )
            elif self._chain_nonce("latest") <= r.nonce and _int(head["timestamp"]) < r.deadline:
                self.journal.update(
                    r.id,
                    status="signed",
                    block_number=None,
                    block_hash=None,
                    reason="reorged out; re-broadcast",
                )
                try:
                    self._broadcast(r.id)
                    d = Decision(
                        r.vault,
                        "reorg",
                        "mined rebalance dropped by a reorg; same signed tx re-broadcast",
                        {"tx": r.tx_hash},
                    )
                except ChainError as exc:
                    d = Decision(
                        r.vault, "reorg", f"dropped by a reorg; re-broadcast failed ({exc}); will re-plan"
                    )
            else:
                self.journal.update(
                    r.id, status="reorged", block_number=None, block_hash=None, reason="dropped by a reorg"
                )
                d = Decision(
                    r.vault,
                    "reorg",
                    "mined rebalance dropped by a reorg; will re-plan from fresh state",
                    {"tx": r.tx_hash},
                )
            self.emit(d)
            out.append(d)
        return out

    # ------------------------------------------------------------------ targets
    def _targets(self, vault: str, st: VaultState, now: int) -> list[Decision]:
        from offchain.keeper import strategist  # noqa: PLC0415

        out: list[Decision] = []
        if self.journal.open(self.chain_id, vault):
            return out
        if st.pending_eta and now >= st.pending_eta:
            out.append(self.apply_targets(vault))
            return out
        last = self.last_targets_check.get(vault)
        if st.pending_eta or (last is not None and time.monotonic() - last < (self.cfg.targets_every or 0)):
            return out
        self.last_targets_check[vault] = time.monotonic()
        try:
            weights = strategist.compute_targets(self, st)
        except ChainError as exc:
            out.append(self._fail(vault, "targets", str(exc)))
            return out
        change = max(abs(a - b) for a, b in zip(weights, st.target_weights, strict=True))
        if change < self.cfg.targets_min_change_bps:
            out.append(self._skip(vault, "targets-unchanged", f"max change {change} bps", weights=weights))
            return out
        out.append(self.queue_targets(vault, weights))
        return out

    def refresh_head(self) -> dict[str, Any]:
        """Read the latest block (its base fee prices admin transactions) and return it."""
        self.head = self.rpc.call("eth_getBlockByNumber", ["latest", False])
        return self.head

    def apply_targets(self, vault: str) -> Decision:
        """Send (or, dry, simulate) ``apply_target_weights`` on ``vault``."""
        return self._send_admin(vault, self._admin_tx(vault, "apply_target_weights", []), "apply-targets")

    def queue_targets(self, vault: str, weights: list[int]) -> Decision:
        """Send (or, dry, simulate) ``queue_target_weights(weights)`` on ``vault``."""
        tx = self._admin_tx(vault, "queue_target_weights", [weights])
        return self._send_admin(vault, tx, "queue-targets", weights=weights)

    def _admin_tx(self, vault: str, fn: str, args: list[Any]) -> dict[str, Any]:
        data = self.vault_c.encode_abi(fn, args=args)
        return {"to": vault, "data": data, "value": 0, "chainId": self.chain_id, "type": 2}

    def _send_admin(self, vault: str, tx: dict[str, Any], kind: str, **data: Any) -> Decision:
        call = {"from": self.address, "to": tx["to"], "data": tx["data"]}
        try:
            gas = _int(self.rpc.call("eth_estimateGas", [call]))
        except RpcError as exc:
            return self._fail(vault, "simulation", f"{kind} would revert: {exc.reason}")
        if self.cfg.dry_run:
            d = Decision(vault, "would-send", kind, data)
            self.emit(d)
            return d
        fees = self.fees.fees(next_base_fee(self.head))
        if fees is None:
            return self._skip(vault, "fee-cap", kind)
        tx = {**tx, "gas": int(gas * self.cfg.gas_multiplier) + 10_000}
        return self.submit(
            vault,
            tx,
            json.dumps({"kind": kind, **data}),
            fees[0],
            fees[1],
            _int(self.head["timestamp"]) + self.cfg.deadline,
            None,
            data,
        )
