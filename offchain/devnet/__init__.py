"""A local world to run the product in: only scripts, tests and benchmarks import it.

* ``localstack``: tokens, feeds, pools, vault and lens on a local node;
* ``market``: the actors that move prices and arbitrage pools;
* ``sandbox``: a vault deployed for an audit rehearsal.
"""
