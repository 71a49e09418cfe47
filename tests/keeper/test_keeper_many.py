"""Issue 11: many keepers. One process per key (the journal's lock); N keepers split the vaults by
``--shard I/N``; a backup (``--backup-after``) acts only on a vault left unserved. Through seeded
faults, two keepers never both send for one trigger."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from fault_env import MOVES, ScriptedProxy, due, keeper_nonce, rebalanced_between
from keeper_env import DEV_KEY_1, KEY_ENV, Env

from offchain.cli import main
from offchain.keeper.keys import load_signer
from offchain.keeper.runner import Keeper, in_shard

ROOT = Path(__file__).resolve().parents[2]
DEV_KEY_4 = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"  # Anvil dev key #4
KEY4_ENV = "BALLAST_TEST_KEEPER_KEY_4"
KEEPER_CHANGE = 10  # apply_change kind of a new keeper


@pytest.fixture
def proxy(env: Env) -> Iterator[ScriptedProxy]:
    p = ScriptedProxy(env.node.url, seed=23, max_delay=0.05).start()
    try:
        yield p
    finally:
        p.stop()


def _second_keeper_allowed(env: Env, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make Anvil's dev account #4 a keeper of the vault too (queued, then applied after the timelock)."""
    monkeypatch.setenv(KEY4_ENV, DEV_KEY_4)
    addr = Account.from_key(DEV_KEY_4).address
    vault = env.stack.vault
    env.deployer.transact(vault.functions.set_keeper(addr, True))  # the owner; waits for the receipt
    (eta,) = [int(c[2]) for c in vault.functions.pending_changes().call() if int(c[0]) == KEEPER_CHANGE]
    env.advance(2 * 86_400)
    latest = env.w3.eth.get_block("latest")["timestamp"]
    if latest < eta:  # the clock is not wall time + offset on every run: mine at the eta itself
        env.rpc("evm_setNextBlockTimestamp", eta)
        env.rpc("evm_mine")
    env.deployer.transact(vault.functions.apply_change(KEEPER_CHANGE))
    assert vault.functions.is_keeper(addr).call()
    return addr


def _keeper(env: Env, key_env: str, lines: list[str], **kw) -> Keeper:
    cfg = env.config(private_key_env=key_env, **kw)
    return Keeper(cfg, signer=load_signer(chain_id=31337, private_key_env=key_env), out=lines.append)


def test_second_process_on_the_same_key_refuses_to_start(env: Env, capsys):
    k = env.keeper()  # holds the lock on (chain, key)
    cmd = [sys.executable, "-m", "offchain.cli", "keeper", "run", "--once", "--manifest", str(env.manifest),
           "--rpc-url", env.node.url, "--private-key-env", KEY_ENV,
           "--journal", str(env.tmp / "journal.sqlite")]  # fmt: skip
    proc = subprocess.run(
        cmd, cwd=ROOT, env={**os.environ, KEY_ENV: DEV_KEY_1}, capture_output=True, text=True, timeout=120
    )
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1, (proc.returncode, err)
    assert "another keeper" in err[0] and f"pid {os.getpid()}" in err[0], err
    # another journal next to it, same key: refused as well (it would collide on nonces)
    assert main([*cmd[3:-1], str(env.tmp / "other.sqlite")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another keeper" in err[0], err
    k.close()  # released: now it starts
    assert main(cmd[3:]) == 0


def test_shards_split_the_vaults_exactly():
    addrs = [Account.create(f"s{i}").address for i in range(60)]
    for n in (1, 2, 3, 5):
        owners = [sum(in_shard(a, (i, n)) for i in range(n)) for a in addrs]
        assert owners == [1] * len(addrs)
    assert 10 < sum(in_shard(a, (0, 2)) for a in addrs) < 50


def _rounds(
    env: Env, keepers: list[Keeper], addrs: list[str], i: int, limit: int = 30
) -> tuple[int, list[int]]:
    """One trigger: cycle every keeper in turn until it is served; its Rebalanced events and each
    keeper's transactions."""
    env.advance(2 * 86_400)
    env.move(MOVES[i % 2])
    assert due(env)
    lo, n0 = env.w3.eth.block_number + 1, [keeper_nonce(env, a) for a in addrs]
    for _ in range(limit):
        for k in keepers:
            k.run_cycle()
        if not due(env) and not any(k.journal.open(k.chain_id) for k in keepers):
            break
    sent = [keeper_nonce(env, a) - n for a, n in zip(addrs, n0, strict=True)]
    return len(rebalanced_between(env, lo, env.w3.eth.block_number)), sent


def test_two_sharded_keepers_never_both_send(env: Env, proxy: ScriptedProxy, monkeypatch):
    addr4 = _second_keeper_allowed(env, monkeypatch)
    vault = env.stack.vault.address
    owner = 0 if in_shard(vault, (0, 2)) else 1
    kw = dict(rpc_url=proxy.url, rpc_retries=4, rpc_backoff=0.02, receipt_timeout=2.0, max_failures=1000)
    a = _keeper(env, KEY_ENV, [], shard="0/2", journal=str(env.tmp / "a.sqlite"), **kw)
    b = _keeper(env, KEY4_ENV, [], shard="1/2", journal=str(env.tmp / "b.sqlite"), **kw)
    assert [len(a.vaults), len(b.vaults)] == ([1, 0] if owner == 0 else [0, 1])
    proxy.rate = 0.25
    for i in range(4):
        events, sent = _rounds(env, [a, b], [env.keeper_addr, addr4], i)
        assert events == 1 and sent == ([1, 0] if owner == 0 else [0, 1]), (i, events, sent)
    assert sum(proxy.injected.values()) > 0


def test_backup_acts_only_when_the_primary_leaves_a_vault_unserved(
    env: Env, proxy: ScriptedProxy, monkeypatch
):
    addr4 = _second_keeper_allowed(env, monkeypatch)
    kw = dict(rpc_url=proxy.url, rpc_retries=4, rpc_backoff=0.02, receipt_timeout=2.0, max_failures=1000)
    blines: list[str] = []
    primary = _keeper(env, KEY_ENV, [], journal=str(env.tmp / "p.sqlite"), **kw)
    backup = _keeper(env, KEY4_ENV, blines, backup_after=600.0, journal=str(env.tmp / "b.sqlite"), **kw)
    proxy.rate = 0.25
    for i in range(3):  # the primary serves: the backup never sends
        events, sent = _rounds(env, [primary, backup], [env.keeper_addr, addr4], i)
        assert (events, sent) == (1, [1, 0]), (i, events, sent)
    primary.close()  # the primary dies
    for i in range(3, 5):
        env.advance(2 * 86_400)
        env.move(MOVES[i % 2])
        lo, n0 = env.w3.eth.block_number + 1, keeper_nonce(env, addr4)
        waited = 0
        for _ in range(30):
            backup.run_cycle()
            if not due(env) and not backup.journal.open(backup.chain_id):
                break
            env.advance(200)  # chain time passes while the vault stays due and unserved
            waited += 200
        assert len(rebalanced_between(env, lo, env.w3.eth.block_number)) == 1
        assert keeper_nonce(env, addr4) - n0 == 1
        assert waited >= 600, "the backup acted before --backup-after"
    assert any('"backup-wait' in x or "backup-wait" in x for x in blines)


def test_shard_and_backup_options_from_env_and_file(tmp_path: Path):
    from offchain.core.errors import ConfigError
    from offchain.keeper.config import load_config, parse_shard

    cfg = load_config(None, {"BALLAST_KEEPER_SHARD": "1/3", "BALLAST_KEEPER_BACKUP_AFTER": "600"})
    assert (parse_shard(cfg.shard), cfg.backup_after) == ((1, 3), 600.0)
    toml = tmp_path / "k.toml"
    toml.write_text('[keeper]\nshard = "0/2"\nbackup-after = 30\njournal-retention = 86400\n')
    cfg = load_config(None, {"BALLAST_KEEPER_CONFIG": str(toml)})
    assert (cfg.shard, cfg.backup_after, cfg.journal_retention) == ("0/2", 30.0, 86_400.0)
    for bad in ("2/2", "x", "1/0"):
        with pytest.raises(ConfigError, match="bad shard"):
            load_config(None, {"BALLAST_KEEPER_SHARD": bad})
