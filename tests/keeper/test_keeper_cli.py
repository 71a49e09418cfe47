"""The keeper's command line, keys, config, metrics, dry runs, economics and the strategist."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from eth_account import Account
from keeper_env import DEV_KEY_1, KEY_ENV, Env

from offchain.chain.devchain import set_automine, set_balance
from offchain.chain.vault import read_state
from offchain.cli import main
from offchain.core.errors import ConfigError
from offchain.keeper import strategist
from offchain.keeper.config import load_config
from offchain.keeper.keys import load_signer
from offchain.keeper.metrics import MetricsServer

ROOT = Path(__file__).resolve().parents[2]
DEV_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # Anvil dev key #0 (owner)


def _reader(stream, q: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        q.put(line)
    q.put(None)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_shuts_down_cleanly_and_metrics_are_served(env: Env, sig: int):
    cmd = [
        sys.executable, "-m", "offchain.cli", "keeper", "run", "--manifest", str(env.manifest),
        "--rpc-url", env.node.url, "--private-key-env", KEY_ENV, "--interval", "0.2",
        "--journal", str(env.tmp / "j.sqlite"), "--metrics-port", "0",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, KEY_ENV: DEV_KEY_1}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    q: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, q), daemon=True).start()
    lines: list[str] = []
    deadline = time.monotonic() + 60
    url = None
    try:
        while time.monotonic() < deadline and not any(" cycle" in x for x in lines):
            try:
                line = q.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            lines.append(line)
            if line.startswith("metrics on "):
                url = line.split("metrics on ", 1)[1].strip()
        assert any(" cycle" in x for x in lines), (
            lines,
            proc.stderr.read() if proc.poll() is not None else "",
        )
        assert url
        body = urllib.request.urlopen(url, timeout=5).read().decode()
        assert "ballast_keeper_checks_total" in body and "ballast_keeper_seconds_since_last_success" in body
        proc.send_signal(sig)
        rc = proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    rest = []
    while True:
        try:
            x = q.get(timeout=2)
        except queue.Empty:
            break
        if x is None:
            break
        rest.append(x)
    err = proc.stderr.read()
    assert rc == 0, err
    assert any("shutdown: stopped cleanly" in x for x in lines + rest)
    assert DEV_KEY_1[2:] not in "".join(lines + rest) + err


def test_bad_input_is_one_line_exit_2(env: Env, tmp_path: Path, capsys, monkeypatch):
    base = ["keeper", "run", "--once", "--journal", str(tmp_path / "j.sqlite")]
    cases = [
        ([*base, "--manifest", str(tmp_path / "missing.json"), "--rpc-url", env.node.url], "not found"),
        ([*base, "--manifest", str(env.manifest), "--rpc-url", "http://127.0.0.1:1"], "no JSON-RPC node"),
        ([*base, "--manifest", str(env.manifest), "--rpc-url", env.node.url], "no keeper key"),
        (
            [
                *base,
                "--manifest",
                str(env.manifest),
                "--rpc-url",
                env.node.url,
                "--private-key-env",
                "NOPE_X",
            ],
            "NOPE_X is not set",
        ),
        (
            [
                *base,
                "--manifest",
                str(env.manifest),
                "--rpc-url",
                env.node.url,
                "--private-key-env",
                KEY_ENV,
                "--vault",
                "0x1234",
            ],
            "bad vault address",
        ),  # fmt: skip
    ]
    for argv, want in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and want in err[0], (argv, err)
        assert DEV_KEY_1[2:] not in err[0]


def test_keystore_and_env_key_rules(tmp_path: Path, monkeypatch):
    ks = tmp_path / "keeper.json"
    ks.write_text(json.dumps(Account.encrypt(DEV_KEY_1, "s3cret", kdf="pbkdf2", iterations=1000)))
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    s = load_signer(chain_id=1, keystore=str(ks), password_file=str(pw))
    assert s.address == Account.from_key(DEV_KEY_1).address
    assert DEV_KEY_1[2:] not in repr(s) and DEV_KEY_1[2:] not in str(s)
    monkeypatch.setenv("KS_PW", "wrong")
    with pytest.raises(ConfigError, match="wrong password"):
        load_signer(chain_id=1, keystore=str(ks), password_env="KS_PW")
    monkeypatch.setenv(KEY_ENV, DEV_KEY_1)
    with pytest.raises(ConfigError, match="only accepted on local chains"):
        load_signer(chain_id=1, private_key_env=KEY_ENV)
    assert load_signer(chain_id=31337, private_key_env=KEY_ENV).address == s.address


def test_config_file_env_and_flags_precedence(tmp_path: Path):
    f = tmp_path / "k.toml"
    f.write_text('[keeper]\ninterval = 30\nmax-fee-gwei = 40\nvault = ["0xabc"]\nlog_json = true\n')
    cfg = load_config(None, {"BALLAST_KEEPER_CONFIG": str(f), "BALLAST_KEEPER_MAX_FEE_GWEI": "25"})
    assert cfg.interval == 30 and cfg.max_fee_gwei == 25 and cfg.vaults == ["0xabc"] and cfg.log_json
    f.write_text("[keeper]\nintervall = 3\n")
    with pytest.raises(ConfigError, match="unknown key 'intervall'"):
        load_config(None, {"BALLAST_KEEPER_CONFIG": str(f)})
    example = load_config(None, {"BALLAST_KEEPER_CONFIG": str(ROOT / "examples" / "keeper.toml")})
    assert example.rpc_url and example.max_fee_gwei > 0


def test_dry_run_simulates_but_sends_nothing(env: Env):
    env.advance(2 * 86_400)
    env.move({1: 1.35, 3: 0.75})
    k = env.keeper(dry_run=True)
    k.cycle()
    ev = [e for e in env.events() if e["action"] == "would-send"]
    assert len(ev) == 1 and ev[0]["gas_estimate"] > 0
    assert env.w3.eth.get_transaction_count(env.keeper_addr) == 0


def test_uneconomic_rebalance_is_skipped(env: Env):
    env.advance(2 * 86_400)
    env.move({1: 1.35, 3: 0.75})
    k = env.keeper(min_benefit_ratio=1e6)
    k.cycle()
    assert any(e["action"] == "skip" and e["detail"].startswith("uneconomic") for e in env.events())
    assert env.w3.eth.get_transaction_count(env.keeper_addr) == 0


def test_off_price_pool_is_refused(env: Env):
    env.advance(2 * 86_400)
    env.move({1: 1.35, 3: 0.75})
    # someone dumps WBTC into the WBTC/USDC pool, 5 % off the oracle (a sandwich's front-run)
    st, d = env.stack, env.deployer
    usdc, wbtc = st.tokens[0], st.tokens[1]
    amount = wbtc.functions.balanceOf(st.pairs[("USDC", "WBTC")]).call() // 20
    d.transact(wbtc.functions.mint(d.address, amount))
    d.transact(wbtc.functions.approve(st.router.address, amount))
    d.transact(
        st.router.functions.swapExactTokensForTokens(
            amount, 0, [wbtc.address, usdc.address], d.address, 2**40
        )
    )
    k = env.keeper()
    k.cycle()
    assert any(e["action"] == "skip" and e["detail"].startswith("off-price") for e in env.events()), env.lines
    assert env.rebalance_count() == 0


def test_metrics_after_a_rebalance(env: Env):
    env.advance(2 * 86_400)
    env.move({1: 1.35, 3: 0.75})
    k = env.keeper()
    server = MetricsServer(k.metrics, 0)
    try:
        k.run_cycle()
        body = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5).read().decode()
    finally:
        server.close()
    assert "ballast_keeper_rebalances_total 1" in body
    gas = next(x for x in body.splitlines() if x.startswith("ballast_keeper_gas_spent_wei_total"))
    assert int(gas.split()[1]) > 0


def test_low_balance_warning(env: Env):
    set_balance(env.w3, env.keeper_addr, 10**12)
    k = env.keeper(low_balance_rebalances=5)
    k.cycle()
    assert any(e["action"] == "warn" and "top it up" in e["detail"] for e in env.events())


def test_strategist_queues_targets_through_the_timelock_and_applies_them(
    env: Env, tmp_path: Path, monkeypatch
):
    # feed history: getRoundData walking back rounds gives the answers in order
    for f in (1.02, 0.97, 1.05, 0.99, 1.01):
        env.move({1: f, 2: 2 - f, 3: f * f})
    k0 = env.keeper()
    hist = strategist.feed_history(k0, [f.address for f in env.stack.feeds], 4)
    assert hist.shape == (4, 4)
    assert list(hist[-1]) == [f.functions.latestRoundData().call()[1] for f in env.stack.feeds]
    k0.close()
    # targets from a CSV (real data stand-ins), queued with the owner's key, applied when due
    from offchain.quant.data import sp500

    df = sp500()[["KO", "AMD", "RRC", "GE"]].iloc[-300:]
    df.columns = ["USDC", "WBTC", "WETH", "LINK"]
    csv = tmp_path / "prices.csv"
    df.to_csv(csv, index_label="date")
    monkeypatch.setenv(KEY_ENV, DEV_KEY_0)
    k = env.keeper(
        targets_every=0.001, targets_source=str(csv), targets_lookback=250, journal=str(tmp_path / "o.db")
    )
    k.cycle()
    queued = [e for e in env.events() if e["action"] == "queue-targets"]
    assert len(queued) == 1, env.lines
    pending = read_state(env.stack.vault, env.stack.lens).pending_weights
    assert sum(pending) == 10_000 and pending != env.stack.vault.functions.get_target_weights().call()
    k.cycle()  # not due yet: nothing
    assert not [e for e in env.events() if e["action"] == "apply-targets"]
    env.advance(86_400 + 60)
    env.refresh_feeds()
    k.cycle()
    assert [e for e in env.events() if e["action"] == "apply-targets"]
    assert env.stack.vault.functions.get_target_weights().call() == pending


def test_sigkill_after_send_then_restart_does_not_double_submit(env: Env):
    """A real SIGKILL of the keeper while its rebalance is pending; the restarted keeper waits for it."""
    env.advance(2 * 86_400)
    env.move({1: 1.35, 3: 0.75})
    set_automine(env.w3, False)
    cmd = [
        sys.executable, "-m", "offchain.cli", "keeper", "run", "--manifest", str(env.manifest),
        "--rpc-url", env.node.url, "--private-key-env", KEY_ENV, "--interval", "0.2", "--log-json",
        "--journal", str(env.tmp / "j.sqlite"), "--receipt-timeout", "30", "--stuck-after", "3600",
    ]  # fmt: skip
    run_env = {**os.environ, KEY_ENV: DEV_KEY_1}
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    q: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, q), daemon=True).start()
    deadline = time.monotonic() + 60
    sent = None
    try:
        while time.monotonic() < deadline and sent is None:
            try:
                line = q.get(timeout=1)
            except queue.Empty:
                continue
            if line and '"action": "sent"' in line:
                sent = json.loads(line)
    finally:
        proc.kill()  # SIGKILL: no clean-up at all
        proc.wait(10)
    assert sent is not None
    # restart: the journal shows the pending submission, so the keeper waits instead of sending again
    k = env.keeper(stuck_after=3600, receipt_timeout=0.3, journal=str(env.tmp / "j.sqlite"))
    k.cycle()
    assert any(e["action"] == "skip" and "in-flight" in e["detail"] for e in env.events())
    env.rpc("evm_mine")
    set_automine(env.w3, True)
    k.cycle()
    k.cycle()
    assert env.rebalance_count() == 1
    assert env.w3.eth.get_transaction_count(env.keeper_addr) == 1
    assert [e for e in env.events() if e["action"] == "rebalanced"][0]["tx"] == sent["tx"]


def test_separate_submission_rpc_gets_the_raw_transactions(env: Env):
    """--submit-rpc-url (e.g. a private mempool): sends go there, reads stay on --rpc-url."""
    import http.server

    seen: list[str] = []
    upstream = env.node.url

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            doc = json.loads(body)
            seen.extend(d["method"] for d in (doc if isinstance(doc, list) else [doc]))
            req = urllib.request.Request(upstream, data=body, headers={"Content-Type": "application/json"})
            out = urllib.request.urlopen(req, timeout=10).read()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *a: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        env.advance(2 * 86_400)
        env.move({1: 1.35, 3: 0.75})
        k = env.keeper(submit_rpc_url=f"http://127.0.0.1:{srv.server_address[1]}")
        k.cycle()
    finally:
        srv.shutdown()
        srv.server_close()
    assert seen == ["eth_sendRawTransaction"]
    assert env.rebalance_count() == 1


def test_cli_dry_run_once_without_a_key(env: Env, tmp_path: Path, capsys):
    env.advance(2 * 86_400)
    env.move({1: 1.35, 3: 0.75})
    argv = ["keeper", "run", "--once", "--dry-run", "--log-json", "--manifest", str(env.manifest)]
    argv += ["--rpc-url", env.node.url, "--journal", str(tmp_path / "j.sqlite")]
    assert main(argv) == 0
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert [e["action"] for e in out if e["vault"] != "-"] == ["would-send"]
    assert env.rebalance_count() == 0


def test_cli_targets_prints_proposed_weights(env: Env, tmp_path: Path, capsys):
    from offchain.quant.data import sp500

    df = sp500()[["KO", "AMD", "RRC", "GE"]].iloc[-200:]
    df.columns = ["USDC", "WBTC", "WETH", "LINK"]
    csv = tmp_path / "p.csv"
    df.to_csv(csv, index_label="date")
    argv = ["keeper", "targets", "--manifest", str(env.manifest), "--rpc-url", env.node.url, "--log-json"]
    argv += ["--targets-source", str(csv), "--journal", str(tmp_path / "j.sqlite")]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert sum(doc["proposed"].values()) == 10_000 and set(doc["proposed"]) == {
        "USDC",
        "WBTC",
        "WETH",
        "LINK",
    }
    assert env.stack.vault.functions.pending_changes().call() == []  # printed only, nothing queued


def test_a_check_cycle_costs_the_same_few_requests_for_any_number_of_vaults(env: Env):
    """Reads are JSON-RPC batches: 1 or 50 vaults, the steady-state cycle makes the same requests."""
    counts = {}
    for n in (1, 50):
        k = env.keeper(vaults=[env.stack.vault.address] * n, journal=str(env.tmp / f"j{n}.sqlite"))
        posts = []
        real = k.rpc._post

        def counting(payload, what, real=real, posts=posts):
            posts.append(len(payload) if isinstance(payload, list) else 1)
            return real(payload, what)

        k.rpc._post = counting  # type: ignore[method-assign]
        k.cycle()
        counts[n] = posts
        k.close()
    assert len(counts[1]) == len(counts[50]) <= 3
    assert max(counts[50]) >= 50  # one batch carried every vault's state
