"""The portfolio engine, free of any chain library (no web3, eth_* or brownie).

* ``data``: price tables (bundled S&P sample, validated CSV);
* ``estimators``: expected returns and covariances;
* ``optimize``: mean-variance optimisation (objectives, bounds, bps rounding);
* ``scenarios``: GBM, historical and bootstrap price paths;
* ``costs``: AMM fee, price impact and gas;
* ``policies``: the rebalancing rules (buy-and-hold, calendar, threshold, hybrid, band-edge, dynamic);
* ``backtest`` and ``metrics``: vectorised simulation over paths, and its statistics.
"""
