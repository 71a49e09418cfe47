"""The gas benchmark's tables (``bench/bench_gas.py`` measures; this prints what it measured)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from offchain.chain.node import EIP170_LIMIT


def g(runs: dict[str, Any]) -> str:
    """A figure's runs: one number, or min-max when they differ."""
    return f"{runs['min']:,}" if runs["min"] == runs["max"] else f"{runs['min']:,}-{runs['max']:,}"


def render_deployment(res: dict[str, Any], console: Console) -> None:
    d = res["deployment"]
    console.print(
        f"[bold]ballast gas benchmark[/]: 4-asset vault (USDC/WBTC/WETH/LINK 40/30/20/10), "
        f"{res['node']['anvil']}, hardfork {res['node']['hardfork']}, "
        f"{res['repeats']} run(s) per figure from one snapshot (min-max if runs differ)"
    )
    c = res["contract"]
    console.print(
        f"Vault source: {c['path']} at commit {c['commit'][:10]}"
        + (" [yellow]with uncommitted changes[/]" if c["modified"] else "")
        + f", sha256 {c['sha256'][:16]}"
    )
    t = Table(title="Vault deployment and code size")
    t.add_column("")
    t.add_column("value", justify="right")
    t.add_row("deployment gasUsed", f"{d['gas_used']:,}")
    t.add_row("runtime code (eth_getCode, incl. immutables)", f"{d['runtime_code_bytes']:,} bytes")
    t.add_row("EIP-170 limit", f"{d['eip170_limit_bytes']:,} bytes")
    t.add_row(
        "headroom", f"{d['headroom_bytes']:,} bytes ({d['runtime_code_bytes'] / EIP170_LIMIT:.1%} used)"
    )
    t.add_row("VaultGovernance module deployment gasUsed, once per chain", f"{d['governance_gas']:,}")
    t.add_row("VaultGovernance runtime code", f"{d['governance_code_bytes']:,} bytes")
    t.add_row(
        f"{d['chunks']} vault-initcode data contracts, gasUsed, once per chain",
        f"{d['chunks_gas']:,} ({d['chunk_code_bytes']:,} bytes each)",
    )
    t.add_row("VaultFactory deployment gasUsed, once per chain", f"{d['factory_gas']:,}")
    t.add_row("VaultFactory runtime code", f"{d['factory_code_bytes']:,} bytes")
    t.add_row(
        "factory's vault_initcode_hash (= keccak of the local build)", d["vault_initcode_hash"][:18] + "..."
    )
    t.add_row("[bold]per vault: factory.deploy_vault gasUsed[/]", f"{d['vault_via_factory_gas']:,}")
    console.print(t)


def render_sizes(res: dict[str, Any], console: Console) -> None:
    d = res["deployment"]
    t = Table(title="Compiled sizes (vyper -f bytecode,bytecode_runtime; runtime excludes immutables)")
    for col in ("contract", "evm version", "runtime", "initcode", "runtime fits EIP-170", "initcode fits"):
        t.add_column(col, justify="right" if col in ("runtime", "initcode") else "left")
    for row in d["sizes"]:
        t.add_row(
            row["contract"],
            row["evm_version"],
            f"{row['runtime_bytes']:,}",
            f"{row['initcode_bytes']:,}",
            "yes" if row["runtime_bytes"] <= EIP170_LIMIT else "[red]NO[/]",
            "one contract" if row["initcode_bytes"] <= EIP170_LIMIT else "needs the chunk route",
        )
    console.print(t)


def render_operations(res: dict[str, Any], console: Console) -> None:
    labels = {
        "deposit_first": "deposit, first (empty vault; reads 4 feeds)",
        "deposit_later_new_holder": "deposit, later, proportional (new shareholder)",
        "deposit_later_existing_holder": "deposit, later, proportional (existing shareholder)",
        "redeem_partial_receiver_holds_tokens": "redeem 25% (receiver holds all 4 tokens)",
        "redeem_partial_receiver_holds_none": "redeem 25% (receiver holds none of the 4 tokens)",
    }
    t = Table(title=f"Deposits and redeems (4 assets; ${res['deposit_usd']:,} first deposit, 10% later)")
    t.add_column("operation")
    t.add_column("gasUsed", justify="right")
    for k, label in labels.items():
        t.add_row(label, g(res["operations"][k]))
    console.print(t)


def render_rebalances(res: dict[str, Any], console: Console) -> None:
    t = Table(title="Rebalance: vault vs bare (same swaps, same state)")
    for col in (
        "swaps",
        "vault rebalance",
        "bare swap txs",
        "bare 4 feed reads",
        "bare total",
        "vault / bare",
    ):
        t.add_column(col, justify="right")
    for r in res["rebalances"].values():
        t.add_row(
            str(r["swaps"]),
            g(r["vault"]),
            g(r["bare_swaps"]),
            f"{r['bare_feed_reads']['gas']:,}",
            f"{r['bare_total']:,}",
            f"{r['ratio']:.3f}",
        )
    console.print(t)
    for r in res["rebalances"].values():
        trades = ", ".join(f"{x['sell']}->{x['buy']}" for x in r["trades"])
        console.print(f"  {r['swaps']} swap(s): {r['scenario']}; drift {r['drift_before_bps']} bps; {trades}")
    tgt = res["target"]
    verdict = "[green]met[/]" if tgt["met"] else "[red]missed[/]"
    console.print(
        f"Target vault / bare <= {tgt['target']} for 2 swaps: {tgt['ratio_2_swaps']:.3f} -> {verdict}"
    )
    console.print(
        "If each bare feed read also paid the 2,600 gas cold-account access a contract pays, the ratios "
        "would be "
        + ", ".join(
            f"{r['ratio_if_feed_reads_pay_cold_access']:.3f} ({r['swaps']} swap{'s' * (r['swaps'] > 1)})"
            for r in res["rebalances"].values()
        )
    )
    p = res["per_swap"]
    console.print(
        f"Per swap (2-swap minus 1-swap): vault {p['vault_marginal_gas_per_swap']:,}, bare swap tx "
        f"{p['bare_marginal_gas_per_swap']:,}; vault fixed part (1-swap minus one marginal swap) "
        f"{p['vault_fixed_gas']:,}"
    )


def render_breakdown(res: dict[str, Any], console: Console) -> None:
    r2 = res["rebalances"]["rebalance_2_swaps"]
    b = r2["breakdown"]
    t = Table(title="Where the 2-swap rebalance's gas goes (Anvil call tracer + struct logs)")
    t.add_column("part")
    t.add_column("count", justify="right")
    t.add_column("gas", justify="right")
    for k, v in b["rows"].items():
        t.add_row(k, str(v["count"]) if v["count"] else "", f"{v['gas']:,}")
    t.add_row("[bold]total[/] (receipt gasUsed)", "", f"{b['reconstructed']:,} ({b['gas_used']:,})")
    console.print(t)
    swap_row = b["rows"].get("router swapExactTokensForTokens: router + pair + token execution")
    if swap_row:
        bare_ex = [x["bare_swap_router_execution"] for x in r2["trades"]]
        console.print(
            f"Router execution per swap: inside the vault {swap_row['gas'] // swap_row['count']:,} "
            f"(callee only), bare tx {sum(bare_ex) // len(bare_ex):,} (gasUsed - 21,000 - calldata)"
        )
    console.print(
        "Definitions: gasUsed from receipts. Bare = the same swaps sent straight to the router's "
        "swapExactTokensForTokens by an EOA already holding the tokens with infinite approvals (not "
        "counted), one tx per swap incl. 21,000 intrinsic each, from the same snapshot as the vault; plus "
        "4 feed reads = Σ (eth_estimateGas(latestRoundData) - 21,000), i.e. the feed's execution and 64 gas "
        "of calldata, without the 2,600 gas cold-account access a contract would pay. "
        "Ratio = vault / (bare swaps + feed reads)."
    )


def render(res: dict[str, Any], console: Console) -> None:
    for part in (render_deployment, render_sizes, render_operations, render_rebalances, render_breakdown):
        part(res, console)
    console.print(f"Took {res['seconds']} s (own Anvil, started and stopped).")
