"""What people look at: the one self-contained HTML page writer and the reports built on it.

* ``page``: HTML escaping, tables, inlined PNG figures and the page shell (one style sheet) that
  every report uses: the backtest and simulate reports (``backtest``), the audit report
  (``offchain.audit.report``) and the demo's year (``demo``). No heavy imports.
* ``backtest``: the policy comparison (rich table, PNGs, ``report.html``, ``results.json``).
"""
