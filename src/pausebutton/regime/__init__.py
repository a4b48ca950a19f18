"""The regime simulator: a world fleet under the regime, on Dask, checked against the real code.

``scenario`` (TOML schema), ``world`` (Epoch AI facilities scaled to a stock), ``model``
(the vectorised chips x days shard model and the adversaries' Monte Carlo), ``truth``
(a sample of chips through the real firmware, agent enforcer and authority policy),
``engine`` (Dask: shards as tasks, resumable run directories), ``report`` (figures, PNG
plots, the self-contained HTML report). See docs/sim.md.
"""
