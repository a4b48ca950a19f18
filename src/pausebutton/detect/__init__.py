"""The verification engine: ten verification methods as data, fused into alerts.

Pure core (values in, values out, an explicit ``now``):

* :mod:`~pausebutton.detect.units`     explicit power/energy units
* :mod:`~pausebutton.detect.hardware`  Epoch AI's ML hardware table
* :mod:`~pausebutton.detect.estimate`  compute estimates with calibrated intervals
* :mod:`~pausebutton.detect.signals`   versioned schemas of the ten methods, CSV/JSON import
* :mod:`~pausebutton.detect.fields`    the types of one cell of a signal's row
* :mod:`~pausebutton.detect.registry`  the registry as input (owners, facilities, chips, licenses)
* :mod:`~pausebutton.detect.runs`      training-run detection in energy series (ruptures)
* :mod:`~pausebutton.detect.rules`     composable cross-check rules -> findings with evidence
                                       (a package: one module per family of signals)
* :mod:`~pausebutton.detect.fusion`    likelihood-ratio scores of sites and owners -> alerts
* :mod:`~pausebutton.detect.inspections` periodic, random and challenge inspections

Edges: :mod:`~pausebutton.detect.io` (files), :mod:`~pausebutton.detect.whistle`
(sealed whistleblower submissions, SQLite intake) and :mod:`~pausebutton.detect.api`
(FastAPI router). See docs/detect.md.
"""
