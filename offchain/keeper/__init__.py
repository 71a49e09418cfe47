"""The keeper bot (``ballast keeper run``): watches vaults and submits the rebalances they allow.

Modules: ``config`` (flags / env / TOML), ``keys`` (keystore or local-chain env key, never logged),
``fees`` (EIP-1559 fees with a
cap and replacement bumps), ``journal`` (SQLite record of every submission, so a restarted keeper
never double-submits), ``metrics`` (Prometheus text over ``http.server``), ``runner`` (the ``Keeper``
loop and wiring), ``decide`` (the pure decision: state, policy, plan, bounds, economics),
``outbox`` (nonces, signing, sending, receipts, fee bumps, reorg watch, journal writes),
``targets`` (queue / apply target weights), ``strategist`` (mean-variance targets from feed
history or CSV, queued through the timelock).
The JSON-RPC client is ``offchain.chain.rpc``; trades come from ``offchain.chain.vault.build_trades``.
"""
