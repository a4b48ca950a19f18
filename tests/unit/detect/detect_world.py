"""A small hand-made world for rule tests: one honest and one suspect of each kind."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from pausebutton.detect.registry import Chip, Facility, License, Owner, Registry
from pausebutton.detect.signals import EnergyReading

T0 = datetime(2026, 1, 1, tzinfo=UTC)
H100 = "NVIDIA H100 SXM5 80GB"


def t(day: float) -> datetime:
    return T0 + timedelta(days=day)


def registry(n_chips: int = 100, licensed_flop: float = 0.0) -> Registry:
    owners = [Owner("o1", "Owner One", "NL"), Owner("o2", "Owner Two", "DE")]
    facs = [
        Facility("f1", "o1", "NL", 20e6),
        Facility("f2", "o2", "DE", 20e6),
    ]
    chips = [Chip(f"f1-{i}", H100, "f1", "o1", "fab-a") for i in range(n_chips)]
    chips += [Chip(f"f2-{i}", H100, "f2", "o2", "fab-a") for i in range(n_chips)]
    lic = [License("L1", "o1", licensed_flop, t(0), t(90), "f1")] if licensed_flop else []
    return Registry.build(owners, facs, chips, lic)


def energy(
    site: str,
    days: int = 60,
    base_w: float = 5e6,
    plateau: tuple[float, float, float] | None = None,
    seed: int = 1,
    step_h: int = 6,
) -> list[EnergyReading]:
    """Readings every ``step_h`` hours; ``plateau`` = (start day, end day, extra W)."""
    rng = random.Random(seed)
    out = []
    for i in range(days * 24 // step_h):
        d = i * step_h / 24
        p = base_w * (1 + rng.gauss(0, 0.02))
        if plateau and plateau[0] <= d < plateau[1]:
            p += plateau[2]
        out.append(EnergyReading(site, t((i + 1) * step_h / 24), p, step_h * 3600))
    return out
