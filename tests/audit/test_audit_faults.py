"""The auditor under faults (issue 11): never a false verdict.

Between the auditor and Anvil sits the seeded fault proxy (``offchain.devnet.faultproxy``): drops,
delays, HTTP 500/429, ``-32603``, truncated bodies, answers lost, stale ``eth_blockNumber``, null
receipts, reordered or duplicated batch answers. Whatever it does, ``ballast audit`` gives the verdict
of a run without faults (0 clean, 1 violations) or says it could not finish (3): never a false clean,
never 1 for a crash, never a range shortened without saying so; ``--resume`` after a failure reaches
the same verdict. The histories are those of ``test_audit_chain.py`` (its clean vault, and its crafted
I3-slippage double)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import test_audit_chain as _chain_tests
from test_audit_chain import ONE_SWAP, Crafter, moved
from web3 import Web3

from offchain.audit import verify
from offchain.audit.verify import audit
from offchain.chain.devchain import chain_kind, mine_blocks
from offchain.chain.rpc import Rpc
from offchain.cli import main
from offchain.core.errors import ChainError
from offchain.devnet.faultproxy import FaultProxy

chain = _chain_tests.chain  # its fixtures: one Anvil with the sandbox, and the clean history
clean = _chain_tests.clean
FAST = ["--no-plots", "--no-parquet", "--no-progress", "--workers", "1", "--backoff", "0.02"]


def run_cli(*args: str) -> SimpleNamespace:
    """``ballast audit ARGS`` in this process: exit code, stderr, and summary.json (when written)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["audit", *args])
    summary = None
    if "--out" in args:
        path = Path(args[args.index("--out") + 1]) / "summary.json"
        if path.exists():
            summary = json.loads(path.read_text())
            path.unlink()  # a later run in the same directory must write its own
    return SimpleNamespace(code=code, stderr=err.getvalue(), stdout=out.getvalue(), summary=summary)


def verdict(r: SimpleNamespace) -> tuple[Any, ...]:
    s = r.summary
    return (r.code, s["from_block"], s["to_block"], s["rebalances"], s["violations_by_rule"])


def over_web3(url: str) -> Rpc:
    """The CLI's transport (a Web3 HTTPProvider), fast backoff."""
    return Rpc(Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30})), backoff=0.01, max_backoff=0.05)


@pytest.fixture(scope="module")
def vaults(chain, clean):
    """The clean vault, a crafted I3-slippage vault, then 70 empty blocks: Anvil's finalized block
    (head - 64) is past both histories, so the CLI's default range holds every event."""
    node, w3, sb = chain
    c = Crafter(sb)
    d = c.fresh()
    sb.set_prices(moved(c.base, ONE_SWAP), arbitrage=False)
    bad_tx = c.rebalance(d, c.plan(d, min_out=False))
    sb.arbitrage()
    mine_blocks(w3, 70)
    return SimpleNamespace(clean=clean[0], bad=d.address, bad_tx=bad_tx, n_clean=len(clean[1]))


@pytest.fixture(scope="module")
def baseline(chain, vaults, tmp_path_factory):
    """Each vault's verdict without faults, through the CLI."""
    node = chain[0]
    out = {}
    for name in ("clean", "bad"):
        d = tmp_path_factory.mktemp(f"base-{name}")
        r = run_cli("--vault", getattr(vaults, name), "--rpc-url", node.url, "--out", str(d), *FAST)
        out[name] = r
    assert out["clean"].code == 0 and out["clean"].summary["rebalances"] == vaults.n_clean
    assert out["bad"].code == 1 and set(out["bad"].summary["violations_by_rule"]) == {
        "I3-slippage",
        "I7-value",
    }
    assert "finalized" in out["clean"].summary["to_block_how"]
    return out


def faulty(
    chain, vault, tmp, *, seed, rate, kinds=None, extra=(), **kw
) -> tuple[SimpleNamespace, FaultProxy]:
    with FaultProxy(chain[0].url, seed=seed, rate=rate, kinds=kinds, max_delay=0.05, **kw) as proxy:
        r = run_cli("--vault", vault, "--rpc-url", proxy.url, "--out", str(tmp), *FAST, *extra)
    return r, proxy


def _recording(fn: Any, asked: list[str]) -> Any:
    def wrapper(self: Rpc, first: Any, *a: Any, **k: Any) -> Any:
        asked.extend([first] if isinstance(first, str) else [m for m, _ in first])
        return fn(self, first, *a, **k)

    return wrapper


def one_line(stderr: str) -> None:
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr, stderr


# ---- bug 7: a null receipt crashed the mid-block check (TypeError, exit 1) ----


def test_null_receipts_are_asked_again_not_a_crash(chain, vaults, baseline, tmp_path):
    for seed in range(1, 9):  # the first seed whose draws hit a receipt (few requests ask for one)
        r, proxy = faulty(chain, vaults.clean, tmp_path, seed=seed, rate=0.6, kinds=["null_receipt"])
        if proxy.injected["null_receipt"]:
            break
    assert proxy.injected["null_receipt"] > 0
    assert verdict(r) == verdict(baseline["clean"]), r.stderr


def test_a_node_that_never_has_the_receipt_is_exit_3(chain, vaults, tmp_path):
    r, _ = faulty(
        chain, vaults.clean, tmp_path, seed=1, rate=1.0, kinds=["null_receipt"], extra=("--retries", "2")
    )
    assert r.code == 3 and "could not finish" in r.stderr and "null answer" in r.stderr
    one_line(r.stderr)


def test_an_unexpected_crash_is_exit_3_never_1(chain, vaults, tmp_path, monkeypatch):
    def boom(*a: Any, **k: Any) -> Any:
        raise TypeError("'NoneType' object is not subscriptable")

    monkeypatch.setattr(verify, "_replay", boom)
    r = run_cli("--vault", vaults.bad, "--rpc-url", chain[0].url, "--out", str(tmp_path), *FAST)
    assert r.code == 3 and "TypeError" in r.stderr and "--resume" in r.stderr
    one_line(r.stderr)


# ---- bug 8: batch answers matched by id on the Web3 transport ----


@pytest.mark.parametrize("kind", ["batch_duplicate", "batch_reorder"])
def test_batch_answers_are_matched_by_id_over_web3(chain, kind):
    node, w3, _ = chain
    head = w3.eth.block_number
    reqs = [("eth_getBlockByNumber", [hex(b), False]) for b in range(head - 20, head)]
    want = [b["hash"] for b in Rpc(node.url).batch(reqs, strict=True)]
    with FaultProxy(node.url, seed=5, rate=1.0, kinds=[kind]) as proxy:
        got = over_web3(proxy.url).batch(reqs, strict=True)
    assert proxy.injected[kind] == 1
    assert [b["hash"] for b in got] == want


def test_a_provider_answer_missing_an_item_is_asked_again():
    answers = iter([[{"id": 7, "result": "a"}], [{"id": 9, "result": "b"}, {"id": 8, "result": "a"}]])
    provider = SimpleNamespace(make_batch_request=lambda reqs: next(answers))
    rpc = Rpc(SimpleNamespace(provider=provider), sleep=lambda s: None)
    assert rpc.batch([("a", []), ("b", [])], strict=True) == ["a", "b"]


def test_audit_under_batch_faults_keeps_its_verdict(chain, vaults, baseline, tmp_path):
    kinds = ["batch_duplicate", "batch_reorder", "http_500"]
    r, proxy = faulty(chain, vaults.bad, tmp_path, seed=3, rate=0.5, kinds=kinds)
    assert proxy.injected["batch_duplicate"] > 0
    assert verdict(r) == verdict(baseline["bad"]), r.stderr


# ---- bug 9: one -32603 aborted everything; --resume ----


def test_internal_errors_are_retried(chain, vaults, baseline, tmp_path):
    r, proxy = faulty(chain, vaults.clean, tmp_path, seed=2, rate=0.3, kinds=["rpc_error"])
    assert proxy.injected["rpc_error"] > 0
    assert verdict(r) == verdict(baseline["clean"]), r.stderr


def test_resume_continues_where_the_failure_stopped(chain, vaults, baseline, tmp_path, monkeypatch):
    url = chain[0].url
    args = ("--vault", vaults.bad, "--rpc-url", url, "--out", str(tmp_path), *FAST)
    real = verify._replay

    def node_gone(*a: Any, **k: Any) -> Any:
        raise ChainError("no answer from the node (simulated)")

    monkeypatch.setattr(verify, "_replay", node_gone)  # every read stage done, then the failure
    r = run_cli(*args)
    assert r.code == 3 and r.summary is None
    one_line(r.stderr)
    ckpt = json.loads((tmp_path / "checkpoint.json").read_text())
    assert set(ckpt["stages"]) == {"logs", "blocks", "state", "midblock"}
    assert ckpt["key"]["to_block"] == baseline["bad"].summary["to_block"]
    monkeypatch.setattr(verify, "_replay", real)
    asked: list[str] = []
    for name in ("call", "request", "batch"):  # record every method asked from here on
        monkeypatch.setattr(Rpc, name, _recording(getattr(Rpc, name), asked))
    w3 = chain[1]
    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        mine_blocks(w3, 5)  # the head moves on meanwhile
        r2 = run_cli(*args, "--resume")
    finally:
        w3.provider.make_request("evm_revert", [snap])
    assert verdict(r2) == verdict(baseline["bad"]), r2.stderr  # the same range, the same verdict
    assert r2.summary["resumed"] is True and "resumed" in r2.summary["to_block_how"]
    # what the checkpoint holds is not read again: no logs, receipts or transactions
    assert asked and not {"eth_getLogs", "eth_getTransactionReceipt", "eth_getTransactionByHash"} & set(asked)
    assert not (tmp_path / "checkpoint.json").exists()  # finished: removed


def test_resume_after_failures_under_faults_reaches_the_same_verdict(chain, vaults, baseline, tmp_path):
    """A run with no retries, faults on eth_getLogs only and small log pages stops in the middle of
    the logs (the first seed that does); --resume under every kind of fault (15 %, one retry) then
    continues from there, as often as needed, to the clean verdict."""
    ckpt = tmp_path / "checkpoint.json"
    pages = ("--log-span", "1", "--max-logs", "4")  # a page per block with logs: many pages
    only_logs = (
        "evm_",
        "anvil_",
        "eth_chainId",
        "eth_blockNumber",
        "eth_getBlockByNumber",
        "eth_getCode",
        "eth_call",
    )
    stopped_at = None
    for seed in range(100, 110):
        extra = ("--retries", "0", *pages)
        r, _ = faulty(chain, vaults.clean, tmp_path, seed=seed, rate=0.5, exempt=only_logs, extra=extra)
        logs = json.loads(ckpt.read_text())["stages"].get("logs") if ckpt.exists() else None
        if r.code == 3 and logs and logs["done"] > baseline["clean"].summary["from_block"]:
            stopped_at = logs["done"]
            break
    assert stopped_at is not None and "rerun with --resume" in r.stderr
    one_line(r.stderr)
    codes = []
    for seed in range(200, 210):
        extra = ("--retries", "1", "--resume", *pages)
        r, _ = faulty(chain, vaults.clean, tmp_path, seed=seed, rate=0.15, extra=extra)
        codes.append(r.code)
        if r.code != 3:
            break
        one_line(r.stderr)
    assert codes[-1] == 0 and r.summary["resumed"] is True, codes
    assert verdict(r) == verdict(baseline["clean"])


# ---- bug 10: a stale eth_blockNumber shortened the audit silently ----


def test_a_stale_head_never_shortens_the_range(chain, vaults, baseline, tmp_path):
    node, w3, _ = chain
    head = w3.eth.block_number
    with FaultProxy(node.url, seed=4, rate=1.0, kinds=["stale_block"]) as proxy:
        res = audit(over_web3(proxy.url), vaults.clean)  # the library's default: the head
        r = run_cli("--vault", vaults.clean, "--rpc-url", proxy.url, "--out", str(tmp_path), *FAST)
        args = ("--vault", vaults.clean, "--rpc-url", proxy.url, "--out", str(tmp_path))
        r2 = run_cli(*args, "--to-block", str(head), *FAST)
    assert proxy.injected["stale_block"] >= 3
    assert res.to_block == head and len(res.rebalances) == vaults.n_clean
    assert verdict(r) == verdict(baseline["clean"])  # pinned to the finalized block, stale or not
    assert r2.code == 0 and r2.summary["to_block"] == head and r2.summary["rebalances"] == vaults.n_clean
    if chain_kind() == "ganache":  # Ganache's 'finalized' block is its head: the head is final there
        assert "not final" not in r2.summary["to_block_how"] and "not final" not in r2.stdout
    else:  # past the pinned (finalized) block: stated, in the summary and on the console
        assert "not final" in r2.summary["to_block_how"] and "not final" in r2.stdout


# ---- everything at once, several seeds ----


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_verdict_under_faults_is_the_clean_one_or_exit_3(chain, vaults, baseline, tmp_path, seed):
    for name in ("clean", "bad"):
        r, proxy = faulty(chain, getattr(vaults, name), tmp_path / name, seed=seed, rate=0.3)
        assert sum(proxy.injected.values()) >= 5, proxy.injected
        if r.code == 3:
            one_line(r.stderr)
            continue
        assert verdict(r) == verdict(baseline[name]), (r.stderr, proxy.injected)
