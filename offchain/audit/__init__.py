"""``ballast audit``: verify a vault's whole rebalance history from the chain alone.

* ``logs``: paged ``eth_getLogs`` whose block range shrinks when the node refuses a range or returns
  too many logs, and grows again after.
* ``decode``: vault events -> pandas DataFrames (CSV and Parquet export).
* ``history``: logs -> events -> the historical state of every rebalance (``eth_call`` at block - 1,
  mid-block transactions, the state before the window), holdings replayed from events and read back
  at sampled blocks.
* ``rules``: one pure function per rule of the vault (I0-I9, TIMELOCK, EVENT, MIDBLOCK, ACCOUNTING,
  SOLVENCY), with the reference model ``offchain.core.model``; ``RULES``.
* ``verify``: ``audit()``: every rebalance re-checked against the rules with its historical state;
  holdings reconstructed from events and checked against ``get_holdings()`` and ``balanceOf`` at
  sampled blocks (``AuditResult``; every name it defined before the split still imports from it).
* ``report``: terminal summary, PNG plots, one self-contained HTML file.

The JSON-RPC client is ``offchain.chain.rpc``; the rehearsal sandbox is ``offchain.devnet.sandbox``.
"""
