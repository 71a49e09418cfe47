"""`make demo`: start Anvil, deploy the local stack, deposit, move prices past the vault's drift
threshold, let a keeper rebalance, print what happened, stop Anvil.

Options: --btc-move / --link-move (fractional price moves), --deposit-usd, --keep-anvil.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from offchain.chain import Anvil, Sender, connect  # noqa: E402
from offchain.errors import BallastError  # noqa: E402
from offchain.localstack import deploy_local_stack  # noqa: E402
from offchain.market import arbitrage_pair  # noqa: E402
from offchain.vault import build_trades, decode_rebalance, read_state  # noqa: E402

console = Console()
REASONS = {0: "none", 1: "THRESHOLD", 2: "CALENDAR"}


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--deposit-usd",
        type=int,
        default=int(os.environ.get("BALLAST_DEMO_DEPOSIT_USD", 1_000_000)),
        help="size of the first deposit in USD (env BALLAST_DEMO_DEPOSIT_USD, default 1,000,000)",
    )
    p.add_argument(
        "--btc-move",
        type=float,
        default=_env_float("BALLAST_DEMO_BTC_MOVE", 0.35),
        help="fractional WBTC price move, e.g. 0.35 for +35%% (env BALLAST_DEMO_BTC_MOVE)",
    )
    p.add_argument(
        "--link-move",
        type=float,
        default=_env_float("BALLAST_DEMO_LINK_MOVE", -0.25),
        help="fractional LINK price move (env BALLAST_DEMO_LINK_MOVE)",
    )
    return p.parse_args(argv)


def weights_table(title: str, symbols: list[str], rows: dict[str, list[int]]) -> Table:
    t = Table(title=title)
    t.add_column("")
    for s in symbols:
        t.add_column(s, justify="right")
    for label, values in rows.items():
        t.add_row(label, *[f"{v / 100:.2f}%" for v in values])
    return t


def run(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    with Anvil() as node:
        w3 = connect(node.url)
        owner, keeper, guardian, investor = w3.eth.accounts[:4]
        deployer = Sender(w3, owner)
        console.print(f"[bold]Anvil[/] {node.url} (chain id {w3.eth.chain_id})")
        stack = deploy_local_stack(deployer, keeper=keeper, guardian=guardian)
        vault = stack.vault
        symbols = [s.symbol for s in stack.specs]
        console.print(f"Deployed vault {vault.address}; router {stack.router.address}")

        # 1. an investor deposits a basket at target weights
        inv = Sender(w3, investor)
        targets = vault.functions.get_target_weights().call()
        amounts = [stack.amount_for_usd(i, args.deposit_usd * w // 10_000) for i, w in enumerate(targets)]
        for token, amount in zip(stack.tokens, amounts, strict=True):
            deployer.transact(token.functions.mint(investor, amount), label="mint")
            inv.transact(token.functions.approve(vault.address, amount), label="approve")
        receipt = inv.transact(vault.functions.deposit(amounts, 0, investor), label="deposit")
        shares = vault.functions.balanceOf(investor).call()
        console.print(
            f"Deposited ${args.deposit_usd:,} in kind for {shares / 1e18:,.2f} shares "
            f"(gas {receipt['gasUsed']:,})"
        )

        # 2. two days pass; WBTC and LINK move; arbitrageurs align the pools with the feeds
        w3.provider.make_request("evm_increaseTime", [2 * 86_400])
        w3.provider.make_request("evm_mine", [])
        prices = [s.price for s in stack.specs]
        prices[1] = int(prices[1] * (1 + args.btc_move))
        prices[3] = int(prices[3] * (1 + args.link_move))
        for feed, price in zip(stack.feeds, prices, strict=True):
            deployer.transact(feed.functions.set_answer(price), label="feed update")
        for i, j in itertools.combinations(range(len(symbols)), 2):
            pair = stack.pairs[(symbols[i], symbols[j])]
            arbitrage_pair(
                deployer, stack.router, pair, stack.tokens[i], stack.tokens[j], prices[i], prices[j]
            )
        before = read_state(vault, stack.lens)
        console.print(
            f"Prices moved: WBTC {args.btc_move:+.0%}, LINK {args.link_move:+.0%}. Drift {before.drift} bps "
            f"(threshold {before.drift_threshold_bps}); needs_rebalance = {before.needs_rebalance} "
            f"({REASONS[before.reason]})"
        )
        if not before.needs_rebalance:
            console.print("[yellow]The vault does not allow a rebalance at these prices; nothing to do.[/]")
            return 0

        # 3. the keeper proposes trades; the vault checks and executes them
        trades = build_trades(before, stack.router)
        deadline = w3.eth.get_block("latest")["timestamp"] + 600
        receipt = Sender(w3, keeper).transact(
            vault.functions.rebalance([t.as_tuple() for t in trades], deadline), label="rebalance"
        )
        result = decode_rebalance(vault, receipt)
        after = read_state(vault, stack.lens)

        sym = {a.lower(): s for a, s in zip(before.assets, symbols, strict=True)}
        dec = {a.lower(): d for a, d in zip(before.assets, before.decimals, strict=True)}
        trade_table = Table(title="Trades (checked by the vault against Chainlink prices)")
        for col in ("sell", "buy", "amount in", "amount out", "oracle-implied out", "vs oracle"):
            trade_table.add_column(col, justify="right")
        for s in result["swaps"]:
            sell, buy = s["sell"].lower(), s["buy"].lower()
            gap = (s["amount_out"] - s["expected_out"]) / s["expected_out"] * 10_000
            trade_table.add_row(
                sym[sell],
                sym[buy],
                f"{s['amount_in'] / 10 ** dec[sell]:,.6f}",
                f"{s['amount_out'] / 10 ** dec[buy]:,.6f}",
                f"{s['expected_out'] / 10 ** dec[buy]:,.6f}",
                f"{gap:+.1f} bps",
            )
        console.print(trade_table)
        ev = result["rebalanced"]
        console.print(
            weights_table(
                "Weights",
                symbols,
                {
                    "target": before.target_weights,
                    "before": list(ev["weights_before"]),
                    "after": list(ev["weights_after"]),
                },
            )
        )
        cost = ev["value_before"] - ev["value_after"]
        console.print(
            f"Rebalanced ({REASONS[ev['reason']]}): drift {ev['drift_before']} -> {ev['drift_after']} bps; "
            f"value ${ev['value_before'] / 1e18:,.2f} -> ${ev['value_after'] / 1e18:,.2f} "
            f"(cost ${cost / 1e18:,.2f} = {cost / ev['value_before'] * 10_000:.1f} bps); "
            f"gas {result['gas_used']:,} for {len(result['swaps'])} swaps; "
            f"needs_rebalance now = {after.needs_rebalance}"
        )
    console.print(f"Anvil stopped. Demo took {time.monotonic() - t0:.1f} s.")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(parse_args(argv))
    except BallastError as exc:
        console.print(f"[red]demo: error:[/] {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
