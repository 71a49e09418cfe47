"""``ballast audit``: verify a vault's whole rebalance history from the chain alone.

* ``rpc``: a thin JSON-RPC client over web3.py's HTTP provider (single and batched requests; plain
  methods only: ``eth_getLogs``, ``eth_call`` at a block number, ``eth_getBlockByNumber``,
  ``eth_getTransactionReceipt``, ``eth_getCode``), so the audit works against any node.
* ``logs``: paged ``eth_getLogs`` whose block range shrinks when the node refuses a range or returns
  too many logs, and grows again after.
* ``decode``: vault events -> pandas DataFrames (CSV and Parquet export).
* ``verify``: every rebalance re-checked against the vault's rules (I1-I7) with the reference model
  ``offchain.model`` and historical state; holdings reconstructed from events and checked against
  ``get_holdings()`` and ``balanceOf`` at sampled blocks.
* ``report``: terminal summary, PNG plots, one self-contained HTML file.
"""
