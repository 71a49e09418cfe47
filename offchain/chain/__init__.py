"""Talking to a node: everything that knows JSON-RPC, ABIs and transactions.

* ``node``: Anvil processes, artifacts, the brownie-free ``Sender``;
* ``rpc``: the one JSON-RPC client (retries, batches, revert decoding);
* ``vault``: the lens decoder (``LensCodec``) and the one trade builder (``build_trades``);
* ``manifest``: deployment records; ``deploy``: vault deployment from a config (``deploy_config``:
  the config file, ``preflight``: the read-only checks before anything is sent).
"""
