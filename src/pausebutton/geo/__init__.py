"""Location verification: RTT bounds, calibration, feasible region and verdicts (pure),
plus the landmark server and chip responder at the I/O edge (server.py, responder.py).

The names below load their module on first use (PEP 562), so importing one module of
the package (say the landmark client) does not pull in numpy or scipy.

See docs/geo.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pausebutton.geo.calibration import Calibration, Line, calibrate, fit
    from pausebutton.geo.delay import DelayModel
    from pausebutton.geo.physics import (
        C_KM_PER_MS,
        FIBRE_KM_PER_MS,
        distance_km,
        fibre_max_distance_km,
        hard_max_distance_km,
    )
    from pausebutton.geo.region import Disk, Estimate, estimate
    from pausebutton.geo.verdict import (
        Claim,
        Landmark,
        LandmarkEvidence,
        Model,
        Policy,
        Verdict,
        VerdictKind,
        locate,
        verify_claim,
    )

_MODULE_OF = {
    "Calibration": "calibration",
    "Line": "calibration",
    "calibrate": "calibration",
    "fit": "calibration",
    "DelayModel": "delay",
    "C_KM_PER_MS": "physics",
    "FIBRE_KM_PER_MS": "physics",
    "distance_km": "physics",
    "fibre_max_distance_km": "physics",
    "hard_max_distance_km": "physics",
    "Disk": "region",
    "Estimate": "region",
    "estimate": "region",
    "Claim": "verdict",
    "Landmark": "verdict",
    "LandmarkEvidence": "verdict",
    "Model": "verdict",
    "Policy": "verdict",
    "Verdict": "verdict",
    "VerdictKind": "verdict",
    "locate": "verdict",
    "verify_claim": "verdict",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "C_KM_PER_MS",
    "FIBRE_KM_PER_MS",
    "Calibration",
    "Claim",
    "DelayModel",
    "Disk",
    "Estimate",
    "Landmark",
    "LandmarkEvidence",
    "Line",
    "Model",
    "Policy",
    "Verdict",
    "VerdictKind",
    "calibrate",
    "distance_km",
    "estimate",
    "fibre_max_distance_km",
    "fit",
    "hard_max_distance_km",
    "locate",
    "verify_claim",
]
