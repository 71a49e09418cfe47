"""The keeper's happy path: one cycle that rebalances, dry runs, policies and skips."""

from __future__ import annotations

from keeper_env import Env

from offchain.chain.node import Sender
from offchain.core import model

ZERO = "0x" + "00" * 20


def test_once_rebalances_when_the_vault_allows(env: Env):
    k = env.keeper(once=True)
    env.advance(2 * 86_400)
    env.move({1: 1.35, 3: 0.75})
    assert k.run() == 0
    ev = env.events()
    done = [e for e in ev if e["action"] == "rebalanced"]
    assert len(done) == 1, ev
    assert done[0]["reason"] == "THRESHOLD"
    assert env.rebalance_count() == 1
    assert not env.stack.vault.functions.needs_rebalance().call()[0]


def test_one_cycle_rebalances_several_vaults_sending_before_waiting(env: Env):
    """Independent vaults: all rebalances are sent (consecutive nonces), then every receipt is awaited."""
    st, d = env.stack, env.deployer
    w3 = env.w3
    investor = w3.eth.accounts[3]
    second = d.deploy(
        "RebalancingVault", "second", "b2", [t.address for t in st.tokens], [f.address for f in st.feeds],
        [2_500, 2_500, 2_500, 2_500], [s.heartbeat for s in st.specs], model.Params().as_list(),
        st.router.address, st.governance, env.keeper_addr, w3.eth.accounts[2], ZERO, 0,
    )  # fmt: skip
    inv = Sender(w3, investor)
    amounts = [st.amount_for_usd(i, 250_000) for i in range(4)]
    for token, amount in zip(st.tokens, amounts, strict=True):
        d.transact(token.functions.mint(investor, amount))
        inv.transact(token.functions.approve(second.address, amount))
    inv.transact(second.functions.deposit(amounts, 0, investor))
    env.advance(2 * 86_400)
    env.move({1: 1.35, 3: 0.75})
    k = env.keeper(vaults=[st.vault.address, second.address])
    k.cycle()
    ev = env.events()
    acts = [e["action"] for e in ev if e["vault"] != "-"]
    assert acts == ["sent", "sent", "rebalanced", "rebalanced"], acts
    assert sorted(e["nonce"] for e in ev if e["action"] == "sent") == [0, 1]
    assert env.rebalance_count() == 1 and len(second.events.Rebalanced().get_logs(from_block=0)) == 1
