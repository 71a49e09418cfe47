"""``ballast audit``: verify a vault's whole rebalance history from the chain alone.

* ``logs``: paged ``eth_getLogs`` whose block range shrinks when the node refuses a range or returns
  too many logs, and grows again after.
* ``decode``: vault events -> pandas DataFrames (CSV and Parquet export).
* ``verify``: every rebalance re-checked against the vault's rules (I1-I9, TIMELOCK) with the reference model
  ``offchain.core.model`` and historical state; holdings reconstructed from events and checked against
  ``get_holdings()`` and ``balanceOf`` at sampled blocks.
* ``report``: terminal summary, PNG plots, one self-contained HTML file.

The JSON-RPC client is ``offchain.chain.rpc``; the rehearsal sandbox is ``offchain.devnet.sandbox``.
"""
