"""A local world to run the product in: only scripts, tests and benchmarks import it.

* ``localstack``: tokens, feeds, pools, vault and lens on a local node;
* ``market``: the actors that move prices and arbitrage pools (one at a time, or a whole market
  day in one block);
* ``year``: the demo's year (``make demo``; ``scripts/demo.py`` is only its command line);
* ``sandbox``: a vault deployed for an audit rehearsal.
"""
