"""The auditor against a real chain (its own Anvil): a clean history of the real vault audits to
0 violations; crafted bad histories (a permissive double of the vault, a feed changed mid-block in
the rebalance's own block, an accounting hole) are each flagged with the rule they break; the CLI's
outputs and exit codes (0 clean, 1 violations, 2 bad input)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from offchain.audit.verify import RULES, audit
from offchain.chain.devchain import local_node, mine_blocks, set_automine
from offchain.chain.node import Sender, connect
from offchain.chain.rpc import Rpc
from offchain.core import model
from offchain.devnet.localstack import DEFAULT_WEIGHTS
from offchain.devnet.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
HAVE_PYARROW = importlib.util.find_spec("pyarrow") is not None


def _read_table(data: Path, name: str) -> pd.DataFrame:
    """Parquet when pyarrow is installed (the pinned dependency), else the CSV, big ints as text."""
    if HAVE_PYARROW:
        return pd.read_parquet(data / f"{name}.parquet")
    return pd.read_csv(data / f"{name}.csv", dtype=str)


MAX_UINT = 2**256 - 1
# the bench_gas one-swap move: WBTC +20 %, WETH -30 %; total value unchanged, USDC and LINK on target
ONE_SWAP = {1: (120, 100), 2: (70, 100)}


def moved(base: list[int], moves: dict[int, tuple[int, int]]) -> list[int]:
    return [p * moves[i][0] // moves[i][1] if i in moves else p for i, p in enumerate(base)]


class Crafter:
    """Fresh PermissiveVaultDouble per scenario, at target weights, prices reset to base."""

    def __init__(self, sb: Sandbox):
        self.sb = sb
        self.base = [s.price for s in sb.stack.specs]

    def fresh(self) -> Any:
        sb = self.sb
        sb.set_prices(self.base)
        st = sb.stack
        double = sb.owner.deploy(
            "PermissiveVaultDouble",
            [t.address for t in st.tokens],
            [f.address for f in st.feeds],
            list(DEFAULT_WEIGHTS),
            st.router.address,
            sb.keeper.address,
        )
        sb.deposit(1_000_000, vault=double, args=(sb.investor.address,))
        sb.advance(2 * 3_600)  # past the 1 h cooldown
        sb.refresh_feeds()
        return double

    def floor(self, double: Any, sell: str, buy: str, amount: int) -> int:
        """The vault's bound on a trade's output at the current feed prices (max slippage 100 bps)."""
        assets = double.functions.get_assets().call()
        s, b = assets.index(sell), assets.index(buy)
        p = [x * 10**10 for x in self.sb.prices]
        d = [x.decimals for x in self.sb.stack.specs]
        return model.min_acceptable_out(model.oracle_out(amount, p[s], d[s], p[b], d[b]), 100)

    def plan(
        self, double: Any, scale: tuple[int, int] = (1, 1), min_out: bool = True
    ) -> list[tuple[str, str, int, int]]:
        """``plan_trades`` from the double's holdings; ``min_amount_out`` at the vault's bound (or 0)."""
        holdings = double.functions.get_holdings().call()
        assets = double.functions.get_assets().call()
        prices = [p * 10**10 for p in self.sb.prices]
        decimals = [s.decimals for s in self.sb.stack.specs]
        # the double's tolerance (25 bps): sales stop at the vault's sell line, target + tolerance
        planned = model.plan_trades(
            holdings, prices, decimals, list(DEFAULT_WEIGHTS), band_bps=10, tolerance_bps=25
        )
        out = []
        for t in planned:
            sell, buy, amount = assets[t.sell], assets[t.buy], t.amount_in * scale[0] // scale[1]
            out.append((sell, buy, amount, self.floor(double, sell, buy, amount) if min_out else 0))
        return out

    def rebalance(
        self, double: Any, trades: list[tuple[str, str, int, int]], sender: Sender | None = None
    ) -> str:
        receipt = (sender or self.sb.keeper).transact(
            double.functions.rebalance(trades, 2**40), label="rebalance"
        )
        return receipt["transactionHash"].to_0x_hex()


@pytest.fixture(scope="module")
def chain():
    with local_node() as node:
        w3 = connect(node.url)
        sb = Sandbox.create(w3)
        yield node, w3, sb


@pytest.fixture(scope="module")
def clean(chain):
    """The demo's market on the real vault, plus every other kind of event and a donation."""
    node, w3, sb = chain
    vault = sb.vault
    owner, guardian = sb.owner, Sender(w3, w3.eth.accounts[2])
    txs = []
    for k, moves in enumerate(({1: (135, 100), 3: (75, 100)}, {1: (80, 100), 2: (125, 100)}, ONE_SWAP)):
        sb.advance(2 * 86_400)
        sb.set_prices(moved(sb.prices, moves))
        txs.append(sb.rebalance()["transactionHash"].to_0x_hex())
        if k == 0:
            shares = vault.functions.balanceOf(sb.investor.address).call()
            sb.investor.transact(
                vault.functions.redeem(shares // 10, [0, 0, 0, 0], sb.investor.address, sb.investor.address)
            )
            sb.deposit(50_000)
    # issue 9: loosenings are queued (ChangeQueued) and applied after the delay; tightenings are
    # immediate (ParameterChanged at once); a queued keeper is cancelled by the guardian
    owner.transact(vault.functions.set_cooldown(1_800))
    owner.transact(vault.functions.set_drift_threshold_bps(400))
    owner.transact(vault.functions.queue_target_weights([3_000, 4_000, 2_000, 1_000]))
    owner.transact(vault.functions.set_keeper(w3.eth.accounts[5], True))
    guardian.transact(vault.functions.cancel_change(model.KIND_KEEPER))
    guardian.transact(vault.functions.set_max_slippage_bps(90))  # tighter: now
    sb.advance(86_400 + 60)
    for kind in (model.PARAM_KINDS.index("cooldown"), model.PARAM_KINDS.index("drift_threshold_bps")):
        owner.transact(vault.functions.apply_change(kind))
    owner.transact(vault.functions.apply_target_weights())
    guardian.transact(vault.functions.pause())
    owner.transact(vault.functions.unpause())
    sb.refresh_feeds()
    txs.append(sb.rebalance()["transactionHash"].to_0x_hex())  # toward the new targets
    # a donation: tokens sent straight to the vault, outside its accounting
    owner.transact(sb.stack.tokens[0].functions.mint(vault.address, 12_345 * 10**6))
    return vault.address, txs


@pytest.fixture(scope="module")
def crafted(chain, clean):
    """Each crafted bad history: scenario -> (vault address, tx hash or None)."""
    node, w3, sb = chain
    c = Crafter(sb)
    out: dict[str, tuple[str, str | None]] = {}

    # I1: drift ~160 bps < 500 bps threshold, calendar not due; a correct trade otherwise
    d = c.fresh()
    sb.set_prices(moved(c.base, {1: (108, 100)}))
    out["I1-trigger"] = (d.address, c.rebalance(d, c.plan(d)))

    # I1 (cooldown): a second, otherwise valid rebalance right after a first one
    d = c.fresh()
    sb.set_prices(moved(c.base, ONE_SWAP))
    c.rebalance(d, c.plan(d, (1, 2)))
    out["I1-cooldown"] = (d.address, c.rebalance(d, c.plan(d)))

    # I2: USDC's feed two days stale (its asset is not even traded)
    d = c.fresh()
    sb.set_prices(moved(c.base, ONE_SWAP))
    now = w3.eth.get_block("latest")["timestamp"]
    sb.owner.transact(sb.stack.feeds[0].functions.set_answer_at(c.base[0], now - 2 * 86_400))
    out["I2-prices"] = (d.address, c.rebalance(d, c.plan(d)))

    # I3 + I7: feeds move but nobody arbitrages the pools: the swap fills ~40 % below the oracle
    d = c.fresh()
    sb.set_prices(moved(c.base, ONE_SWAP), arbitrage=False)
    out["I3-slippage"] = (d.address, c.rebalance(d, c.plan(d, min_out=False)))
    sb.arbitrage()

    # I4: max_trade_bps lowered to 1 %; the ~6 % trade is otherwise valid
    d = c.fresh()
    sb.owner.transact(d.functions.set_param("max_trade_bps", 100))
    sb.set_prices(moved(c.base, ONE_SWAP))
    out["I4-size"] = (d.address, c.rebalance(d, c.plan(d)))

    # I5 + I6: trade the wrong way (sell underweight WETH for overweight WBTC)
    d = c.fresh()
    sb.set_prices(moved(c.base, ONE_SWAP))
    ((sell, buy, amount, _),) = c.plan(d)
    weth = d.functions.get_holdings().call()[2] // 10
    out["I5-away"] = (d.address, c.rebalance(d, [(buy, sell, weth, c.floor(d, buy, sell, weth))]))

    # I3 (min_amount_out): a valid trade whose min_amount_out of 0 is below the vault's bound
    d = c.fresh()
    sb.set_prices(moved(c.base, ONE_SWAP))
    out["I3-min-out"] = (d.address, c.rebalance(d, c.plan(d, min_out=False)))

    # I5 overshoot: the right trade, 1.8 times too big: both assets cross their targets by ~4.8 %
    d = c.fresh()
    sb.set_prices(moved(c.base, ONE_SWAP))
    out["I5-overshoot"] = (d.address, c.rebalance(d, c.plan(d, (9, 5))))

    # I8 round trip: the right sale, then part of what it bought sold back (WETH was underweight)
    d = c.fresh()
    sb.set_prices(moved(c.base, ONE_SWAP))
    ((sell, buy, amount, floor),) = c.plan(d)
    back = c.floor(d, sell, buy, amount) // 4
    out["I8-roundtrip"] = (
        d.address,
        c.rebalance(d, [(sell, buy, amount, floor), (buy, sell, back, c.floor(d, buy, sell, back))]),
    )

    # I8 caps: the right pair, selling WBTC's whole excess plus 20 bps of vault value: WBTC ends
    # within tolerance_bps (25) past its target (I5 holds), but above its sell room
    d = c.fresh()
    sb.set_prices(moved(c.base, ONE_SWAP))
    ((sell, buy, _amount, _floor),) = c.plan(d)
    prices = [p * 10**10 for p in sb.prices]
    decimals = [x.decimals for x in sb.stack.specs]
    values = model.asset_values(d.functions.get_holdings().call(), prices, decimals)
    room, _over, _under = model.trade_rooms(values, list(DEFAULT_WEIGHTS), 25)
    s_i = d.functions.get_assets().call().index(sell)
    amount = (room[s_i] + sum(values) * 20 // model.BPS) * 10 ** decimals[s_i] // prices[s_i]
    out["I8-caps"] = (d.address, c.rebalance(d, [(sell, buy, amount, c.floor(d, sell, buy, amount))]))

    # I0: a valid rebalance sent by an account without the keeper role
    d = c.fresh()
    sb.set_prices(moved(c.base, ONE_SWAP))
    out["I0-access"] = (d.address, c.rebalance(d, c.plan(d), sender=sb.investor))

    # ACCOUNTING: holdings lowered without any event
    d = c.fresh()
    sb.owner.transact(d.functions.skim(0, 1_000))
    out["ACCOUNTING"] = (d.address, None)

    # MIDBLOCK on the REAL vault: a feed update lands in the rebalance's own block, before it
    sb.set_prices(c.base)
    st = sb.stack
    v2 = sb.owner.deploy(
        "RebalancingVault",
        "mid",
        "MID",
        [t.address for t in st.tokens],
        [f.address for f in st.feeds],
        list(DEFAULT_WEIGHTS),
        [s.heartbeat for s in st.specs],
        st.vault.functions.get_params().call(),
        st.router.address,
        st.governance,
        sb.keeper.address,
        "0x" + "00" * 20,
        "0x" + "00" * 20,
        0,
    )
    sb.deposit(1_000_000, vault=v2)
    sb.advance(2 * 3_600)
    sb.set_prices(moved(c.base, ONE_SWAP))
    trades = sb.trades(v2)
    set_automine(w3, False)
    try:
        feed_tx = (
            st.feeds[3]
            .functions.set_answer(c.base[3] * 99 // 100)
            .transact(
                {
                    "from": sb.owner.address,
                    "gas": 200_000,
                    "maxPriorityFeePerGas": 10**10,
                    "maxFeePerGas": 10**11,
                }
            )
        )
        reb_tx = v2.functions.rebalance(trades, 2**40).transact(
            {
                "from": sb.keeper.address,
                "gas": 3_000_000,
                "maxPriorityFeePerGas": 10**9,
                "maxFeePerGas": 10**11,
            }
        )
        w3.provider.make_request("evm_mine", [])
    finally:
        set_automine(w3, True)
    r_feed, r_reb = w3.eth.get_transaction_receipt(feed_tx), w3.eth.get_transaction_receipt(reb_tx)
    assert r_reb["status"] == 1 and r_feed["blockNumber"] == r_reb["blockNumber"]
    assert r_feed["transactionIndex"] < r_reb["transactionIndex"]
    out["MIDBLOCK"] = (v2.address, reb_tx.to_0x_hex())
    sb.refresh_feeds()
    return out


def rules_of(res: Any, tx: str | None) -> set[str]:
    return {v.rule for v in res.violations if v.tx_hash == tx}


def test_clean_history_has_no_violation(chain, clean):
    node, w3, sb = chain
    address, txs = clean
    res = audit(Rpc(w3), address)
    assert res.violations == []  # incl. I8-*, I9-budget and TIMELOCK
    assert [c.tx_hash for c in res.rebalances] == txs
    # the governance the timelock rule saw: queued, cancelled, applied after the eta, tightened now
    kinds = [
        (e.name, e.args.get("kind")) for e in res.events if e.name in ("ChangeQueued", "ParameterChanged")
    ]
    cooldown = model.PARAM_KINDS.index("cooldown")
    assert ("ChangeQueued", cooldown) in kinds and ("ParameterChanged", cooldown) in kinds
    # the loss budget replay: what the vault reports now is the last rebalance's use, drained
    last = res.rebalances[-1]
    now = w3.eth.get_block("latest")["timestamp"]
    p = last.params
    assert sb.vault.functions.loss_budget_used().call() == model.loss_used_now(
        last.loss_used, last.timestamp, now, p.loss_budget_bps, p.loss_window
    )
    names = {e.name for e in res.events}
    for name in (
        "Deposited",
        "Redeemed",
        "Rebalanced",
        "Swapped",
        "ParameterChanged",
        "ChangeQueued",
        "ChangeCancelled",
        "TargetWeightsQueued",
        "TargetWeightsApplied",
        "Paused",
        "Unpaused",
        "KeeperSet",
        "OwnershipTransferred",
        "Transfer",
    ):
        assert name in names, name
    # the recomputation agrees with what the vault itself reported (the EVENT rule did not fire)
    assert all(c.drift_after_wad < c.drift_before_wad for c in res.rebalances)
    # the new targets and threshold are the ones in force for the last rebalance
    assert res.rebalances[-1].targets == [3_000, 4_000, 2_000, 1_000]
    assert res.rebalances[-1].params.drift_threshold_bps == 400
    assert (res.rebalances[-1].params.cooldown, res.rebalances[-1].params.max_slippage_bps) == (1_800, 90)
    assert res.rebalances[0].params == model.Params()
    # the donation is a finding, not a violation
    assert [(f.kind, f.amount) for f in res.findings] == [("SURPLUS", 12_345 * 10**6)]
    # holdings rebuilt from events equal the vault's own view at every sampled block
    assert all(h.rebuilt == h.reported for h in res.holdings_checks)
    assert res.holdings_checks[-1].reported == sb.vault.functions.get_holdings().call()


def test_only_standard_json_rpc_methods(chain, clean):
    """Nothing Anvil-specific: the audit works against any JSON-RPC node."""
    node, w3, sb = chain
    seen: list[str] = []
    rpc = Rpc(w3)
    single, batch = rpc.provider.make_request, rpc.provider.make_batch_request

    def record(method, params):
        seen.append(method)
        return single(method, params)

    def record_batch(reqs):
        seen.extend(m for m, _ in reqs)
        return batch(reqs)

    rpc.provider = SimpleNamespace(make_request=record, make_batch_request=record_batch)
    res = audit(rpc, clean[0])
    assert res.violations == [] and len(res.rebalances) == 4
    assert set(seen) <= {
        "eth_blockNumber",
        "eth_getCode",
        "eth_call",
        "eth_getLogs",
        "eth_getBlockByNumber",
        "eth_getTransactionReceipt",
        "eth_getTransactionByHash",
    }, set(seen)
    assert res.rpc_calls == len(seen)


def test_window_starting_before_deployment(chain, clean):
    node, w3, sb = chain
    res = audit(Rpc(w3), clean[0], from_block=0)
    assert res.violations == [] and len(res.rebalances) == 4


def test_clean_history_in_a_block_window(chain, clean):
    node, w3, sb = chain
    address, txs = clean
    receipt = w3.eth.get_transaction_receipt(txs[1])
    res = audit(Rpc(w3), address, from_block=receipt["blockNumber"] - 1)
    assert res.violations == []
    assert [c.tx_hash for c in res.rebalances] == txs[1:]


@pytest.mark.parametrize(
    "scenario, expected",
    [
        ("I1-trigger", {"I1-trigger"}),
        ("I1-cooldown", {"I1-trigger"}),
        ("I2-prices", {"I2-prices"}),
        ("I3-slippage", {"I3-slippage", "I7-value"}),
        ("I3-min-out", {"I3-slippage"}),
        ("I4-size", {"I4-size"}),
        ("I5-away", {"I5-away", "I6-drift", "I8-direction"}),
        ("I5-overshoot", {"I5-overshoot", "I8-caps"}),
        ("I8-roundtrip", {"I8-roundtrip", "I8-direction"}),
        ("I8-caps", {"I8-caps"}),
        ("I0-access", {"I0-access"}),
        ("MIDBLOCK", {"MIDBLOCK", "EVENT"}),
    ],
)
def test_crafted_history_is_flagged_with_its_rule(chain, crafted, scenario, expected):
    node, w3, sb = chain
    address, tx = crafted[scenario]
    res = audit(Rpc(w3), address)
    assert rules_of(res, tx) == expected, [v for v in res.violations]
    # nothing else in that vault's history is flagged (the other rebalances, the holdings)
    assert {v.tx_hash for v in res.violations} == {tx}
    if scenario == "I1-cooldown":
        assert "cooldown" in next(v.detail for v in res.violations)
    if scenario == "I3-min-out":
        assert all("min_amount_out" in v.detail for v in res.violations)


def test_accounting_hole_is_flagged(chain, crafted):
    node, w3, sb = chain
    address, _ = crafted["ACCOUNTING"]
    res = audit(Rpc(w3), address)
    assert {v.rule for v in res.violations} == {"ACCOUNTING"}
    # the tokens are still there: balanceOf above holdings is also reported as surplus
    assert [f.kind for f in res.findings] == ["SURPLUS"]


def finalize(w3: Any) -> None:
    """Mine past the node's finalized block (Anvil: head - 64): the CLI's default range ends there."""
    mine_blocks(w3, 65)


def ballast(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "offchain.cli", "audit", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_cli_clean_exit_0_and_outputs(chain, clean, tmp_path):
    node, w3, sb = chain
    address, txs = clean
    finalize(w3)
    r = ballast("--vault", address, "--rpc-url", node.url, "--out", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["violations"] == 0 and summary["rebalances"] == len(txs)
    for name in (
        "weights.png",
        "drift.png",
        "costs.png",
        "cumulative_costs.png",
        "keepers.png",
        "report.html",
    ):
        assert (tmp_path / name).stat().st_size > 1_000, name
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html and "0 violations" in html
    # the issue-9 rules are each named in the report
    for rule in ("I8-roundtrip", "I8-direction", "I8-caps", "I9-budget", "TIMELOCK"):
        assert rule in RULES and rule in html, rule
    for table in (
        "events",
        "rebalances",
        "swaps",
        "deposits",
        "redeems",
        "parameters",
        "targets",
        "pauses",
        "roles",
        "rebalance_checks",
        "violations",
        "findings",
        "keepers",
    ):
        csv = pd.read_csv(tmp_path / "data" / f"{table}.csv")
        if HAVE_PYARROW:
            pq = pd.read_parquet(tmp_path / "data" / f"{table}.parquet")
            assert len(csv) == len(pq), table
    checks = pd.read_csv(tmp_path / "data" / "rebalance_checks.csv")
    assert list(checks["tx_hash"]) == txs
    assert (checks["gas_used"] > 100_000).all() and (checks["gas_paid_eth"] > 0).all()
    rebs = _read_table(tmp_path / "data", "rebalances")
    # 1e18-scaled values survive exactly as decimal strings (beyond int64 and float precision)
    vb = [int(x) for x in rebs["value_before"]]
    assert vb[0] > 2**63
    assert [abs(a / 1e18 - b) < 1e-6 * b for a, b in zip(vb, checks["value_before"], strict=True)] == [
        True
    ] * len(vb)


def test_cli_violations_exit_1(chain, crafted, tmp_path):
    node, w3, sb = chain
    address, tx = crafted["I3-slippage"]
    finalize(w3)
    r = ballast("--vault", address, "--rpc-url", node.url, "--out", str(tmp_path), "--no-plots")
    assert r.returncode == 1, r.stderr
    assert "I3-slippage" in r.stdout
    v = pd.read_csv(tmp_path / "data" / "violations.csv")
    assert set(v["rule"]) == {"I3-slippage", "I7-value"} and set(v["tx_hash"]) == {tx}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--vault", "0x1234", "--rpc-url", "URL"], "not an address"),
        (["--vault", "0x" + "ab" * 20, "--rpc-url", "URL"], "no contract code"),
        (["--vault", "VAULT", "--rpc-url", "http://127.0.0.1:9"], "no JSON-RPC node"),
        (
            ["--vault", "VAULT", "--rpc-url", "URL", "--from-block", "9", "--to-block", "3"],
            "after --to-block",
        ),
        (["--vault", "VAULT", "--rpc-url", "URL", "--to-block", "99999999"], "past the node's latest"),
        (["--vault", "TOKEN", "--rpc-url", "URL"], "does not look like a RebalancingVault"),
        (["--vault", "VAULT", "--rpc-url", "URL", "--from-block", "-4"], "block number must be >= 0"),
    ],
)
def test_cli_bad_input_exit_2(chain, clean, args, message):
    node, w3, sb = chain
    subst = {"URL": node.url, "VAULT": clean[0], "TOKEN": sb.stack.tokens[0].address}
    r = ballast(*[subst.get(a, a) for a in args])
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
