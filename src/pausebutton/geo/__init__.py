"""Location verification: RTT bounds, calibration, feasible region and verdicts (pure),
plus the landmark server and chip responder at the I/O edge (server.py, responder.py).

See docs/geo.md.
"""

from pausebutton.geo.calibration import Calibration, Line, calibrate, fit
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

__all__ = [
    "C_KM_PER_MS",
    "FIBRE_KM_PER_MS",
    "Calibration",
    "Claim",
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
