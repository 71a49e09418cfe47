"""`make demo`: a year of the whole product on a local chain.

Starts Anvil, deploys the local stack (4 token doubles, Chainlink feed doubles, a Uniswap V2 double
with deep pools, the vault and the lens), deposits, then plays one step per day:

1. chain time advances one day;
2. the feeds move: WBTC, WETH and LINK follow a correlated random walk whose daily log-returns have
   the mean and covariance of three stocks of the bundled real S&P 500 sample (AMD, RRC and GE over
   its last 1,260 days; stand-ins, not crypto data), or with ``--replay`` the last ``--days`` days of
   those stocks' actual returns; USDC stays at $1;
3. an arbitrageur trades every pool back to the feed prices;
4. the keeper (``offchain.keeper``, the same code as ``ballast keeper run``) runs one cycle and
   rebalances when the vault allows it.

It ends with every rebalance read back from the chain's events, a comparison with buy-and-hold
(value, drift, costs), an HTML report (``--out``), and stops Anvil.
Every option is also an env var ``BALLAST_DEMO_<NAME>``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402

from offchain.audit.decode import EventDecoder  # noqa: E402
from offchain.audit.logs import fetch_logs  # noqa: E402
from offchain.chain.node import Anvil, Sender, connect  # noqa: E402
from offchain.chain.rpc import Rpc, RpcError  # noqa: E402
from offchain.core import model  # noqa: E402
from offchain.core.errors import BallastError, InputError  # noqa: E402
from offchain.devnet.localstack import FEED_DECIMALS, MAX_UINT, deploy_local_stack  # noqa: E402
from offchain.devnet.market import arbitrage_trade  # noqa: E402
from offchain.keeper.config import KeeperConfig  # noqa: E402
from offchain.keeper.keys import load_signer  # noqa: E402
from offchain.keeper.runner import Keeper  # noqa: E402
from offchain.report import page  # noqa: E402

console = Console()
DAY = 86_400
STAND_INS = {"WBTC": "AMD", "WETH": "RRC", "LINK": "GE"}  # columns of the bundled S&P 500 sample
CALIBRATION_DAYS = 1_260
# Anvil's well-known development key #1 (the keeper); a local chain only, never printed.
DEV_KEEPER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
KEY_ENV = "BALLAST_DEMO_KEEPER_KEY"


def _env(name: str, default: Any) -> Any:
    return os.environ.get(f"BALLAST_DEMO_{name}", default)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--days", type=int, default=int(_env("DAYS", 365)), help="daily steps (env BALLAST_DEMO_DAYS)"
    )
    p.add_argument(
        "--seed", type=int, default=int(_env("SEED", 7)), help="random walk seed (env BALLAST_DEMO_SEED)"
    )
    p.add_argument(
        "--replay",
        action="store_true",
        default=str(_env("REPLAY", "")).lower() in ("1", "true", "yes"),
        help="replay the stand-ins' real last DAYS daily returns (env BALLAST_DEMO_REPLAY)",
    )
    p.add_argument(
        "--deposit-usd", type=int, default=int(_env("DEPOSIT_USD", 1_000_000)), help="first deposit, USD"
    )
    p.add_argument(
        "--threshold-bps",
        type=int,
        default=int(_env("THRESHOLD_BPS", 500)),
        help="vault drift threshold, bps",
    )
    p.add_argument(
        "--period-days", type=int, default=int(_env("PERIOD_DAYS", 30)), help="vault calendar period, days"
    )
    p.add_argument(
        "--min-drift-bps",
        type=int,
        default=int(_env("MIN_DRIFT_BPS", 100)),
        help="vault minimum drift for a calendar rebalance, bps",
    )
    p.add_argument(
        "--policy",
        default=_env("POLICY", None),
        help="keeper policy on top of the vault's trigger (e.g. band-edge:300bps); default: the vault's",
    )
    p.add_argument(
        "--zero-drift",
        action="store_true",
        default=str(_env("ZERO_DRIFT", "")).lower() in ("1", "true", "yes"),
        help="random walk without the stand-ins' mean return (volatility and correlation only)",
    )
    p.add_argument(
        "--vol-scale", type=float, default=float(_env("VOL_SCALE", 1.0)), help="scale the volatility"
    )
    p.add_argument(
        "--out", default=_env("OUT", "reports/demo"), help="report directory (env BALLAST_DEMO_OUT)"
    )
    args = p.parse_args(argv)
    if not 1 <= args.days <= 2_000:
        raise InputError("--days must be between 1 and 2000")
    if args.vol_scale <= 0:
        raise InputError("--vol-scale must be positive")
    return args


def price_paths(args: argparse.Namespace, n_days: int) -> tuple[np.ndarray, str]:
    """(n_days + 1, 3) price multipliers for WBTC, WETH, LINK (row 0 = 1) and a description."""
    from offchain.quant.data import sp500

    df = sp500()[list(STAND_INS.values())]
    lr = np.log(df.to_numpy(dtype=float))
    r = np.diff(lr, axis=0)[-CALIBRATION_DAYS:]
    if args.replay:
        if n_days > len(r):
            raise InputError(f"--replay has {len(r)} days of returns; ask for fewer --days")
        steps = r[-n_days:]
        mu = steps.mean(axis=0)
        steps = mu + (steps - mu) * args.vol_scale
        first = df.index[-n_days - 1].date()
        desc = f"replay of {', '.join(STAND_INS.values())} daily returns from {first} (bundled S&P 500 data)"
    else:
        rng = np.random.default_rng(args.seed)
        mu, cov = r.mean(axis=0), np.cov(r, rowvar=False) * args.vol_scale**2
        if args.zero_drift:
            mu = -0.5 * np.diag(cov)  # zero expected simple return
        steps = rng.multivariate_normal(mu, cov, size=n_days)
        vol = np.sqrt(np.diag(cov) * 252)
        desc = (
            f"correlated random walk (seed {args.seed}{', zero drift' if args.zero_drift else ''}) "
            f"calibrated to {', '.join(STAND_INS.values())} "
            f"over the S&P 500 sample's last {CALIBRATION_DAYS} days; annual vol "
            + ", ".join(f"{s} {v:.0%}" for s, v in zip(STAND_INS, vol, strict=True))
        )
    return np.exp(np.vstack([np.zeros(3), np.cumsum(steps, axis=0)])), desc


class Market:
    """The market's side of a day in ONE block: feed updates, then an arbitrageur's mint + swap per
    pool, all from one unlocked dev account (nonce order is execution order), sent as one JSON-RPC
    batch with automine off and mined with ``evm_mine``."""

    def __init__(self, rpc: Rpc, stack: Any, actor: str):
        self.rpc, self.stack, self.actor = rpc, stack, actor
        self.syms = [s.symbol for s in stack.specs]
        self.units = [10**s.decimals for s in stack.specs]
        self.pairs = []
        for i, j in itertools.combinations(range(len(self.syms)), 2):
            addr = stack.pairs[(self.syms[i], self.syms[j])]
            pair = stack.sender.w3.eth.contract(address=addr, abi=_pair_abi())
            a_is_0 = pair.functions.token0().call().lower() == stack.tokens[i].address.lower()
            self.pairs.append((i, j, addr, pair, a_is_0))
        self.nonce = int(rpc.call("eth_getTransactionCount", [actor, "pending"]), 16)

    def tx(self, contract: Any, fn: str, *args: Any, gas: int = 300_000) -> dict[str, Any]:
        tx = {
            "from": self.actor,
            "to": contract.address,
            "data": contract.encode_abi(fn, args=list(args)),
            "gas": hex(gas),
            "nonce": hex(self.nonce),
        }
        self.nonce += 1
        return tx

    def reserve_calls(self) -> list[tuple[str, list[Any]]]:
        return [
            ("eth_call", [{"to": addr, "data": pair.encode_abi("getReserves")}, "latest"])
            for _, _, addr, pair, _ in self.pairs
        ]

    def mine(self, txs: list[dict[str, Any]], timestamp: int | None = None) -> None:
        """Send ``txs`` (pending) and mine them in one block; every one must succeed."""
        self.rpc.call("evm_setAutomine", [False])
        try:
            hashes = self.rpc.batch([("eth_sendTransaction", [tx]) for tx in txs])
            errs = [h for h in hashes if isinstance(h, RpcError)]
            if errs:
                raise BallastError(f"market transaction rejected: {errs[0].message}")
            if timestamp is not None:
                self.rpc.call("evm_setNextBlockTimestamp", [timestamp])
            self.rpc.call("evm_mine")
        finally:
            self.rpc.call("evm_setAutomine", [True])
        receipts = self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        bad = [(tx, r) for tx, r in zip(txs, receipts, strict=True) if not r or int(r["status"], 16) != 1]
        if bad:
            tx, r = bad[0]
            raise BallastError(
                f"{len(bad)} market transaction(s) failed; first to {tx['to']} ({tx['data'][:10]}): "
                f"{'not mined' if not r else 'reverted'}"
            )

    def approve_all(self) -> None:
        st = self.stack
        self.mine([self.tx(t, "approve", st.router.address, MAX_UINT, gas=100_000) for t in st.tokens])

    def day(self, prices: list[int], reserves: list[str], timestamp: int) -> int:
        """Feeds to ``prices``; every pool traded back to them (``reserves`` read before); swaps made."""
        st = self.stack
        txs = [self.tx(f, "set_answer", p, gas=200_000) for f, p in zip(st.feeds, prices, strict=True)]
        swaps = 0
        for (i, j, _, _, a_is_0), r in zip(self.pairs, reserves, strict=True):
            raw = bytes.fromhex(r[2:])
            r0, r1 = int.from_bytes(raw[0:32], "big"), int.from_bytes(raw[32:64], "big")
            ra, rb = (r0, r1) if a_is_0 else (r1, r0)
            trade = arbitrage_trade(ra, rb, self.units[i], self.units[j], prices[i], prices[j])
            if trade is None:
                continue
            a_in, amount = trade
            tin, tout = (i, j) if a_in else (j, i)
            path = [st.tokens[tin].address, st.tokens[tout].address]
            txs.append(self.tx(st.tokens[tin], "mint", self.actor, amount, gas=100_000))
            txs.append(self.tx(st.router, "swapExactTokensForTokens", amount, 0, path, self.actor, 2**40))
            swaps += 1
        self.mine(txs, timestamp)
        return swaps


def _pair_abi() -> list[dict[str, Any]]:
    from offchain.chain.node import load_artifact

    return load_artifact("UniswapV2PairDouble").abi


def write_report(
    out: Path,
    series: dict[str, Any],
    rows: list[dict[str, Any]],
    summary: list[tuple[str, str, str]],
    notes: list[str],
    threshold_bps: int,
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    days = series["day"]
    imgs = []
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.plot(days, series["vault"], label="vault (keeper rebalancing)")
    ax.plot(days, series["hold"], label="buy-and-hold", linestyle="--")
    for r in rows:
        ax.axvline(r["day"], color="#bbb", linewidth=0.6, zorder=0)
    ax.set_xlabel("day")
    ax.set_ylabel("value, USD")
    ax.legend()
    ax.set_title("Value (grey lines: rebalances)")
    imgs.append(("Value", page.png_bytes(fig)))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.plot(days, series["drift_vault"], label="vault drift")
    ax.plot(days, series["drift_hold"], label="buy-and-hold drift", linestyle="--")
    ax.axhline(threshold_bps, color="red", linewidth=0.8, label="threshold")
    ax.set_xlabel("day")
    ax.set_ylabel("drift, bps")
    ax.legend()
    imgs.append(("Drift", page.png_bytes(fig)))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    w = np.array(series["weights"], dtype=float) / 100
    for k, s in enumerate(series["symbols"]):
        ax.plot(days, w[:, k], label=s)
    ax.set_ylabel("weight, %")
    ax.set_xlabel("day")
    ax.legend(ncol=4)
    imgs.append(("Vault weights", page.png_bytes(fig)))
    plt.close(fig)

    reb = page.table(
        [
            "day",
            "block",
            "reason",
            "drift before → after (bps)",
            "swaps",
            "value before",
            "cost (USD)",
            "gas",
        ],
        [
            [
                r["day"],
                r["block"],
                r["reason"],
                f"{r['drift_before']} → {r['drift_after']}",
                r["swaps"],
                f"{r['value_before']:,.0f}",
                f"{r['cost']:,.2f}",
                f"{r['gas']:,}",
            ]
            for r in rows
        ],
    )
    comp = page.table(["", "vault", "buy-and-hold"], [list(s) for s in summary])
    figs = page.figures(imgs)
    body = f"""{page.bullets(notes)}
<h2>Vault vs buy-and-hold</h2>{comp}<h2>Every rebalance (read back from the chain's events)</h2>{reb}
{figs}"""
    heading = "ballast demo: a year on a local chain"
    path = page.write(out / "report.html", "ballast demo", body, heading=heading)
    (out / "demo.json").write_text(
        json.dumps({"rebalances": rows, "summary": summary, "notes": notes}, indent=1)
    )
    return path


def run(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    mult, desc = price_paths(args, args.days)
    os.environ[KEY_ENV] = DEV_KEEPER_KEY
    with Anvil() as node, tempfile.TemporaryDirectory(prefix="ballast-demo-") as tmp:
        w3 = connect(node.url)
        owner, keeper_addr, guardian, investor = w3.eth.accounts[:4]
        deployer = Sender(w3, owner)
        console.print(f"[bold]Anvil[/] {node.url} (chain id {w3.eth.chain_id}); deploying the local stack...")
        # the trigger parameters go to the vault's constructor (a loosening setter would be queued)
        params = model.Params(
            drift_threshold_bps=args.threshold_bps,
            min_drift_bps=args.min_drift_bps,
            rebalance_period=args.period_days * DAY,
        )
        problems = params.violations()
        if problems:
            raise SystemExit("demo: " + "; ".join(problems))
        stack = deploy_local_stack(deployer, keeper=keeper_addr, guardian=guardian, params=params)
        vault = stack.vault
        symbols = [s.symbol for s in stack.specs]
        v = vault.functions

        inv = Sender(w3, investor)
        targets = v.get_target_weights().call()
        amounts = [stack.amount_for_usd(i, args.deposit_usd * w // 10_000) for i, w in enumerate(targets)]
        for token, amount in zip(stack.tokens, amounts, strict=True):
            deployer.transact(token.functions.mint(investor, amount), label="mint")
            inv.transact(token.functions.approve(vault.address, amount), label="approve")
        inv.transact(v.deposit(amounts, 0, investor), label="deposit")
        console.print(
            f"Vault {vault.address}: {'/'.join(symbols)} at {'/'.join(str(t // 100) for t in targets)}; "
            f"deposited ${args.deposit_usd:,}. Prices: {desc}."
        )

        manifest = Path(tmp) / "manifest.json"
        manifest.write_text(json.dumps(stack.manifest()))
        cfg = KeeperConfig(
            manifest=str(manifest),
            rpc_url=node.url,
            private_key_env=KEY_ENV,
            journal=str(Path(tmp) / "journal.sqlite"),
            policy=args.policy,
            receipt_timeout=10,
            poll=0.02,
            interval=0,
        )
        keeper_log: list[str] = []
        keeper = Keeper(
            cfg, signer=load_signer(chain_id=31337, private_key_env=KEY_ENV), out=keeper_log.append
        )
        rpc = Rpc(node.url, retries=2)
        market = Market(rpc, stack, owner)  # the owner also plays the arbitrageur and the oracle
        reserves = rpc.batch(market.reserve_calls())

        p0 = [s.price for s in stack.specs]
        start_ts = w3.eth.get_block("latest")["timestamp"]
        series: dict[str, Any] = {
            "day": [],
            "vault": [],
            "hold": [],
            "drift_vault": [],
            "drift_hold": [],
            "weights": [],
            "symbols": symbols,
        }
        decimals = [s.decimals for s in stack.specs]
        arb_swaps = 0
        with Progress(
            TextColumn("[bold]year on chain[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("days"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            transient=False,
        ) as bar:
            task = bar.add_task("days", total=args.days, status="")
            for day in range(1, args.days + 1):
                prices = [p0[0]] + [int(p0[i] * mult[day, i - 1]) for i in range(1, 4)]
                if day == 1:
                    market.approve_all()
                arb_swaps += market.day(prices, reserves, start_ts + day * DAY)
                before = len([x for x in keeper_log if '"rebalanced"' in x or " rebalanced" in x])
                # the keeper's transaction lands one 12 s slot after the market's block (deterministic
                # timestamps, so calendar triggers do not depend on wall-clock time)
                rpc.call("evm_setNextBlockTimestamp", [start_ts + day * DAY + 12])
                keeper.run_cycle()
                after = [x for x in keeper_log if " rebalanced" in x]
                if len(after) > before:
                    bar.console.print(f"day {day:>3}: keeper " + escape(after[-1].split("keeper ", 1)[-1]))
                res = rpc.batch([keeper.state_call(vault.address), *market.reserve_calls()])
                st, reserves = keeper.decode_state(res[0]), res[1:]
                if isinstance(st, RpcError):
                    raise BallastError(f"cannot read the vault: {st.reason}")
                norm = [p * 10 ** (18 - FEED_DECIMALS) for p in prices]
                hold_vals = model.asset_values(amounts, norm, decimals)
                series["day"].append(day)
                series["vault"].append(st.total_value / 1e18)
                series["hold"].append(sum(hold_vals) / 1e18)
                series["drift_vault"].append(st.drift)
                series["drift_hold"].append(model.drift_bps(hold_vals, targets))
                series["weights"].append(list(st.current_weights))
                bar.update(task, advance=1, status=f"drift {st.drift:>4} bps, rebalances {len(after)}")

        # every rebalance, read back from the chain's events
        # (the auditor's own paged eth_getLogs and event decoder: one reader of the vault's events)
        raw = fetch_logs(rpc, vault.address, stack.blocks["vault"], w3.eth.block_number)
        events = EventDecoder().decode_all(raw)
        per_tx: dict[str, int] = {}
        for ev in events:
            if ev.name == "Swapped":
                per_tx[ev.tx_hash] = per_tx.get(ev.tx_hash, 0) + 1
        rows = []
        gas_eth = 0.0
        weth_price = prices[2] / 10**FEED_DECIMALS
        for ev in (e for e in events if e.name == "Rebalanced"):
            a = ev.args
            rc = w3.eth.get_transaction_receipt(ev.tx_hash)
            ts = w3.eth.get_block(ev.block)["timestamp"]
            gas_eth += rc["gasUsed"] * rc["effectiveGasPrice"] / 1e18
            rows.append(
                {
                    "day": (ts - start_ts) // DAY,
                    "block": ev.block,
                    "reason": model.REASON_NAMES[a["reason"]],
                    "drift_before": a["drift_before"],
                    "drift_after": a["drift_after"],
                    "swaps": per_tx.get(ev.tx_hash, 0),
                    "value_before": a["value_before"] / 1e18,
                    "cost": (a["value_before"] - a["value_after"]) / 1e18,
                    "gas": rc["gasUsed"],
                }
            )
        t = Table(
            title=f"Every rebalance ({len(rows)}), read back from the vault's Rebalanced/Swapped events"
        )
        for col in (
            "day",
            "block",
            "reason",
            "drift bps",
            "swaps",
            "value before",
            "cost (value lost)",
            "gas",
        ):
            t.add_column(col, justify="right")
        for r in rows:
            t.add_row(
                str(r["day"]),
                str(r["block"]),
                r["reason"],
                f"{r['drift_before']} → {r['drift_after']}",
                str(r["swaps"]),
                f"${r['value_before']:,.0f}",
                f"${r['cost']:,.2f}",
                f"{r['gas']:,}",
            )
        console.print(t)

        swap_cost = sum(r["cost"] for r in rows)
        gas_usd = gas_eth * weth_price
        fv, fh = series["vault"][-1], series["hold"][-1]
        summary = [
            ("final value", f"${fv:,.2f}", f"${fh:,.2f}"),
            ("return", f"{fv / args.deposit_usd - 1:+.2%}", f"{fh / args.deposit_usd - 1:+.2%}"),
            ("final drift", f"{series['drift_vault'][-1]} bps", f"{series['drift_hold'][-1]} bps"),
            ("max drift", f"{max(series['drift_vault'])} bps", f"{max(series['drift_hold'])} bps"),
            (
                "mean drift",
                f"{np.mean(series['drift_vault']):.0f} bps",
                f"{np.mean(series['drift_hold']):.0f} bps",
            ),
            ("rebalances", str(len(rows)), "0"),
            ("swap costs (fees + impact, at oracle prices)", f"${swap_cost:,.2f}", "$0.00"),
            ("keeper gas", f"{sum(r['gas'] for r in rows):,} gas = {gas_eth:.6f} ETH (${gas_usd:,.2f})", "0"),
        ]
        c = Table(title="Vault vs buy-and-hold of the same deposit")
        for col in ("", "vault", "buy-and-hold"):
            c.add_column(col, justify="right")
        for s in summary:
            c.add_row(*s)
        console.print(c)
        notes = [
            f"{args.days} daily steps; prices: {desc}.",
            f"vault trigger: threshold {args.threshold_bps} bps, calendar {args.period_days} d with min "
            f"drift {args.min_drift_bps} bps; keeper policy: {args.policy or 'the vault trigger'}.",
            f"arbitrageur swaps: {arb_swaps}; deposit ${args.deposit_usd:,}; pools $100M per side.",
            "Buy-and-hold: the deposited amounts held unchanged, valued at the same feed prices.",
        ]
        path = write_report(Path(args.out), series, rows, summary, notes, args.threshold_bps)
        console.print(f"Report: {path}")
        keeper.close()
    console.print(f"Anvil stopped. Demo took {time.monotonic() - t0:.1f} s.")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(parse_args(argv))
    except BallastError as exc:
        console.print(f"[red]demo: error:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]demo interrupted; Anvil stopped[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
