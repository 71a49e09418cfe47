"""The vault's maths and the errors every room shares: imports nothing from the other rooms.

* ``model``: the contract's drift, trigger, trade-rule and loss-budget arithmetic, exact to the wei.
* ``errors``: ``BallastError`` and its kinds (config, input, chain, optimisation).
"""
