"""The demo's year: the whole product on a local chain, one step per day (``make demo``;
``scripts/demo.py`` is only its command line).

Anvil starts, the local stack is deployed (``localstack``), an investor deposits, then each day:

1. the feeds move: WBTC, WETH and LINK follow the simulator's correlated GBM
   (``offchain.quant.scenarios.GBMScenario``) calibrated to three stocks of the bundled real S&P 500
   sample (AMD, RRC and GE over its last 1,260 days; stand-ins, not crypto data), or with ``replay``
   the last ``days`` days of those stocks' actual prices (``HistoricalScenario``); USDC stays at $1;
2. an arbitrageur trades every pool back to the feed prices, in the same block
   (``market.OneBlockMarket``);
3. chain time is one day on, and the keeper (``offchain.keeper``, the code ``ballast keeper run``
   runs) does one cycle, rebalancing when the vault allows it.

Afterwards every rebalance is read back from the vault's events with the auditor's log reader and
decoder, and compared with buy-and-hold of the same deposit.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from offchain.audit.decode import EventDecoder
from offchain.audit.logs import fetch_logs
from offchain.chain.node import (
    Anvil,
    Sender,
    chain_kind,
    connect,
    gas_multiplier,
    local_node,
    set_next_timestamp,
)
from offchain.chain.rpc import Rpc, RpcError
from offchain.core import model
from offchain.core.errors import BallastError, InputError
from offchain.devnet.localstack import FEED_DECIMALS, LocalStack, deploy_local_stack
from offchain.devnet.market import OneBlockMarket
from offchain.keeper.config import KeeperConfig
from offchain.keeper.keys import load_signer
from offchain.keeper.runner import Keeper

DAY = 86_400
STAND_INS = {"WBTC": "AMD", "WETH": "RRC", "LINK": "GE"}  # columns of the bundled S&P 500 sample
CALIBRATION_DAYS = 1_260
PERIODS_PER_YEAR = 252
# Anvil's well-known development key #1 (the keeper): a local chain only, never printed.
DEV_KEEPER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
KEY_ENV = "BALLAST_DEMO_KEEPER_KEY"
# the keeper's transaction lands one 12 s slot after the market's block
KEEPER_SLOT_S = 12


@dataclass(frozen=True)
class YearConfig:
    """What the demo plays (``scripts/demo.py`` maps its options onto these fields)."""

    days: int = 365
    seed: int = 7
    replay: bool = False
    deposit_usd: int = 1_000_000
    threshold_bps: int = 500
    period_days: int = 30
    min_drift_bps: int = 100
    policy: str | None = None
    zero_drift: bool = False
    vol_scale: float = 1.0

    def check(self) -> None:
        if not 1 <= self.days <= 2_000:
            raise InputError("--days must be between 1 and 2000")
        if not self.vol_scale > 0:
            raise InputError("--vol-scale must be positive")
        if self.deposit_usd <= 0:
            raise InputError("--deposit-usd must be positive")
        if self.policy is not None:
            from offchain.quant.policies.spec import parse_policy  # noqa: PLC0415

            parse_policy(self.policy)  # a bad spec is one line before Anvil starts, not after

    def params(self) -> model.Params:
        """The vault's trigger parameters (constructor arguments: a loosening setter would be queued)."""
        params = model.Params(
            drift_threshold_bps=self.threshold_bps,
            min_drift_bps=self.min_drift_bps,
            rebalance_period=self.period_days * DAY,
        )
        problems = params.violations()
        if problems:
            raise InputError("demo: " + "; ".join(problems))
        return params


def price_paths(cfg: YearConfig) -> tuple[np.ndarray, str]:
    """``(days + 1, 3)`` price multipliers for WBTC, WETH and LINK (row 0 is all ones) and a
    one-line description, from the simulator's own scenarios."""
    from offchain.quant.data import sp500  # noqa: PLC0415  (pandas: only when the demo runs)
    from offchain.quant.scenarios import GBMScenario, HistoricalScenario  # noqa: PLC0415

    names = list(STAND_INS.values())
    prices = sp500()[names]
    if cfg.replay:
        if cfg.days > CALIBRATION_DAYS:
            raise InputError(f"--replay has {CALIBRATION_DAYS} days of returns; ask for fewer --days")
        levels = HistoricalScenario(prices.iloc[-cfg.days - 1 :]).levels()
        log_steps = np.diff(np.log(levels), axis=0)
        mean = log_steps.mean(axis=0)  # --vol-scale widens the moves about their mean
        log_steps = mean + (log_steps - mean) * cfg.vol_scale
        first = prices.index[-cfg.days - 1].date()
        desc = f"replay of {', '.join(names)} daily returns from {first} (bundled S&P 500 data)"
        return np.exp(np.vstack([np.zeros(3), np.cumsum(log_steps, axis=0)])), desc
    r = np.diff(np.log(prices.to_numpy(dtype=float)), axis=0)[-CALIBRATION_DAYS:]
    cov = np.cov(r, rowvar=False) * cfg.vol_scale**2
    sd = np.sqrt(np.diag(cov))
    vol = sd * np.sqrt(PERIODS_PER_YEAR)
    # GBM's arithmetic drift whose log drift is the sample's mean (zero-drift: no expected return)
    drift = np.zeros(3) if cfg.zero_drift else r.mean(axis=0) * PERIODS_PER_YEAR + vol**2 / 2
    scenario = GBMScenario(
        list(STAND_INS),
        drift,
        vol,
        cov / np.outer(sd, sd),
        n_steps=cfg.days,
        periods_per_year=PERIODS_PER_YEAR,
    )
    gross = np.concatenate(list(scenario.chunks(1, seed=cfg.seed)), axis=0)[:, :, 0].astype(float)
    desc = (
        f"correlated GBM (seed {cfg.seed}{', zero drift' if cfg.zero_drift else ''}) calibrated to "
        f"{', '.join(names)} over the S&P 500 sample's last {CALIBRATION_DAYS} days; annual vol "
        + ", ".join(f"{s} {v:.0%}" for s, v in zip(STAND_INS, vol, strict=True))
    )
    return np.vstack([np.ones(3), np.cumprod(gross, axis=0)]), desc


@dataclass
class Series:
    """One row per day: values (USD), drifts (bps) and the vault's weights (bps)."""

    symbols: list[str]
    day: list[int] = field(default_factory=list)
    vault: list[float] = field(default_factory=list)
    hold: list[float] = field(default_factory=list)
    drift_vault: list[int] = field(default_factory=list)
    drift_hold: list[int] = field(default_factory=list)
    weights: list[list[int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class YearResult:
    """What a played year leaves: the daily series, every rebalance read back from the chain, the
    vault vs buy-and-hold comparison (label, vault, buy-and-hold) and the notes for the report."""

    series: Series
    rows: list[dict[str, Any]]
    summary: list[tuple[str, str, str]]
    notes: list[str]


# (day, status line, the keeper's log line when it rebalanced that day)
DayHook = Callable[[int, str, str | None], None]


class Year:
    """A year being played on one Anvil. ``play`` does it all; the steps are methods so each stays
    short and testable."""

    def __init__(self, cfg: YearConfig, say: Callable[[str], None] = print):
        cfg.check()
        self.cfg, self.say = cfg, say
        self.mult, self.desc = price_paths(cfg)

    def play(self, on_day: DayHook | None = None) -> YearResult:
        with local_node() as node, tempfile.TemporaryDirectory(prefix="ballast-demo-") as tmp:
            self._deploy(node)
            keeper = self._keeper(node.url, Path(tmp))
            try:
                series = self._days(keeper, on_day or (lambda *_: None))
                rows, gas_eth = self._rebalances()
            finally:
                keeper.close()
        return self._result(series, rows, gas_eth)

    def _deploy(self, node: Anvil) -> None:
        cfg = self.cfg
        self.w3 = w3 = connect(node.url)
        owner, keeper_addr, guardian, investor = w3.eth.accounts[:4]
        self.say(
            f"[bold]{chain_kind().capitalize()}[/] {node.url} (chain id {w3.eth.chain_id}); "
            "deploying the local stack..."
        )
        deployer = Sender(w3, owner)
        stack: LocalStack = deploy_local_stack(
            deployer, keeper=keeper_addr, guardian=guardian, params=cfg.params()
        )
        self.stack, self.symbols = stack, [s.symbol for s in stack.specs]
        v = stack.vault.functions
        self.targets = v.get_target_weights().call()
        self.amounts = [
            stack.amount_for_usd(i, cfg.deposit_usd * w // 10_000) for i, w in enumerate(self.targets)
        ]
        inv = Sender(w3, investor)
        for token, amount in zip(stack.tokens, self.amounts, strict=True):
            deployer.transact(token.functions.mint(investor, amount), label="mint")
            inv.transact(token.functions.approve(stack.vault.address, amount), label="approve")
        inv.transact(v.deposit(self.amounts, 0, investor), label="deposit")
        self.say(
            f"Vault {stack.vault.address}: {'/'.join(self.symbols)} at "
            f"{'/'.join(str(t // 100) for t in self.targets)}; deposited ${cfg.deposit_usd:,}. "
            f"Prices: {self.desc}."
        )
        self.rpc = Rpc(node.url, retries=2)
        self.market = OneBlockMarket(self.rpc, stack, owner)  # the owner plays arbitrageur and oracle

    def _keeper(self, rpc_url: str, tmp: Path) -> Keeper:
        manifest = tmp / "manifest.json"
        manifest.write_text(json.dumps(self.stack.manifest()))
        cfg = KeeperConfig(
            manifest=str(manifest),
            rpc_url=rpc_url,
            private_key_env=KEY_ENV,
            journal=str(tmp / "journal.sqlite"),
            policy=self.cfg.policy,
            receipt_timeout=10,
            poll=0.02,
            interval=0,
            gas_multiplier=gas_multiplier(self.w3),  # more on Ganache (offchain.chain.devchain)
        )
        self.keeper_log: list[str] = []
        os.environ[KEY_ENV] = DEV_KEEPER_KEY  # the keeper reads its key the way it does in production
        signer = load_signer(chain_id=31337, private_key_env=KEY_ENV)
        return Keeper(cfg, signer=signer, out=self.keeper_log.append)

    def day_prices(self, day: int) -> list[int]:
        p0 = [s.price for s in self.stack.specs]
        return [p0[0]] + [int(p0[i] * self.mult[day, i - 1]) for i in range(1, 4)]

    def _days(self, keeper: Keeper, on_day: DayHook) -> Series:
        """Every day: market block (feeds + arbitrage) at ``start + day``, the keeper's cycle one slot
        later (deterministic timestamps, so calendar triggers never depend on wall-clock time)."""
        vault, market, rpc = self.stack.vault, self.market, self.rpc
        self.start_ts = int(self.w3.eth.get_block("latest")["timestamp"])
        decimals = [s.decimals for s in self.stack.specs]
        series = Series(symbols=self.symbols)
        reserves = rpc.batch(market.reserve_calls())
        market.approve_all()
        self.arb_swaps, rebalances = 0, 0
        for day in range(1, self.cfg.days + 1):
            prices = self.day_prices(day)
            self.arb_swaps += market.day(prices, reserves, self.start_ts + day * DAY)
            seen = len(self.keeper_log)
            set_next_timestamp(self.w3, self.start_ts + day * DAY + KEEPER_SLOT_S)
            keeper.run_cycle()
            done = [x for x in self.keeper_log[seen:] if " rebalanced" in x]
            rebalances += len(done)
            res = rpc.batch([keeper.state_call(vault.address), *market.reserve_calls()])
            st, reserves = keeper.decode_state(res[0]), res[1:]
            if isinstance(st, RpcError):
                raise BallastError(f"cannot read the vault: {st.reason}")
            hold = model.asset_values(
                self.amounts, [p * 10 ** (18 - FEED_DECIMALS) for p in prices], decimals
            )
            series.day.append(day)
            series.vault.append(st.total_value / 1e18)
            series.hold.append(sum(hold) / 1e18)
            series.drift_vault.append(st.drift)
            series.drift_hold.append(model.drift_bps(hold, self.targets))
            series.weights.append(list(st.current_weights))
            on_day(day, f"drift {st.drift:>4} bps, rebalances {rebalances}", done[-1] if done else None)
        self.last_prices = prices
        return series

    def _rebalances(self) -> tuple[list[dict[str, Any]], float]:
        """Every rebalance, read back from the vault's events with the auditor's paged log reader and
        decoder (one reader of the vault's events), and the keeper's gas in ETH."""
        w3, vault = self.w3, self.stack.vault
        raw = fetch_logs(self.rpc, vault.address, self.stack.blocks["vault"], w3.eth.block_number)
        events = EventDecoder().decode_all(raw)
        swaps: dict[str, int] = {}
        for ev in events:
            if ev.name == "Swapped":
                swaps[ev.tx_hash] = swaps.get(ev.tx_hash, 0) + 1
        rows, gas_eth = [], 0.0
        for ev in (e for e in events if e.name == "Rebalanced"):
            a = ev.args
            receipt = w3.eth.get_transaction_receipt(ev.tx_hash)
            ts = w3.eth.get_block(ev.block)["timestamp"]
            gas_eth += receipt["gasUsed"] * receipt["effectiveGasPrice"] / 1e18
            rows.append(
                {
                    "day": (ts - self.start_ts) // DAY,
                    "block": ev.block,
                    "reason": model.REASON_NAMES[a["reason"]],
                    "drift_before": a["drift_before"],
                    "drift_after": a["drift_after"],
                    "swaps": swaps.get(ev.tx_hash, 0),
                    "value_before": a["value_before"] / 1e18,
                    "cost": (a["value_before"] - a["value_after"]) / 1e18,
                    "gas": receipt["gasUsed"],
                }
            )
        return rows, gas_eth

    def _result(self, series: Series, rows: list[dict[str, Any]], gas_eth: float) -> YearResult:
        cfg = self.cfg
        gas_usd = gas_eth * self.last_prices[2] / 10**FEED_DECIMALS  # WETH's feed
        fv, fh = series.vault[-1], series.hold[-1]
        summary = [
            ("final value", f"${fv:,.2f}", f"${fh:,.2f}"),
            ("return", f"{fv / cfg.deposit_usd - 1:+.2%}", f"{fh / cfg.deposit_usd - 1:+.2%}"),
            ("final drift", f"{series.drift_vault[-1]} bps", f"{series.drift_hold[-1]} bps"),
            ("max drift", f"{max(series.drift_vault)} bps", f"{max(series.drift_hold)} bps"),
            ("mean drift", f"{np.mean(series.drift_vault):.0f} bps", f"{np.mean(series.drift_hold):.0f} bps"),
            ("rebalances", str(len(rows)), "0"),
            (
                "swap costs (fees + impact, at oracle prices)",
                f"${sum(r['cost'] for r in rows):,.2f}",
                "$0.00",
            ),
            ("keeper gas", f"{sum(r['gas'] for r in rows):,} gas = {gas_eth:.6f} ETH (${gas_usd:,.2f})", "0"),
        ]
        notes = [
            f"{cfg.days} daily steps; prices: {self.desc}.",
            f"vault trigger: threshold {cfg.threshold_bps} bps, calendar {cfg.period_days} d with min "
            f"drift {cfg.min_drift_bps} bps; keeper policy: {cfg.policy or 'the vault trigger'}.",
            f"arbitrageur swaps: {self.arb_swaps}; deposit ${cfg.deposit_usd:,}; pools $100M per side.",
            "Buy-and-hold: the deposited amounts held unchanged, valued at the same feed prices.",
        ]
        return YearResult(series, rows, summary, notes)
