"""Helpers for the chip tests: a lab authority and simulated chips on temporary dirs."""

from __future__ import annotations

from pathlib import Path

from pausebutton.chip.lab import T0, Lab
from pausebutton.chip.simulated import SimulatedChip
from pausebutton.protocol.keys import PrivateKey

_counter = [0]


def new_sim(lab: Lab, directory: Path, **kwargs: object) -> SimulatedChip:
    """A fresh simulated chip under ``directory`` (deterministic device key)."""
    _counter[0] += 1
    device = PrivateKey.from_seed_material(lab.seed + b"/sim/%d" % _counter[0])
    opts: dict[str, object] = {"region": "NL", "owner": "owner-a"} | kwargs
    return SimulatedChip.create(
        directory,
        root=lab.root_bytes,
        vendor_key=lab.vendor,
        vendor="lab-vendor",
        issued_at=T0,
        device_key=device,
        **opts,  # type: ignore[arg-type]
    )


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file's bytes (to prove a rejection wrote nothing)."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}
