"""The shared types of the rules: findings with labelled evidence, the signal set, the
parameters and the context every rule reads. Pure.

A finding has a severity, a reason a person can read, the subject (site and/or owner,
or chip serials) and its evidence, each piece labelled:

* ``reported``   — a value as it came in (a meter reading, a customs record);
* ``calculated`` — arithmetic on reported values (a sum, a set difference);
* ``estimated``  — a model output with uncertainty (FLOP from energy).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from functools import cached_property
from typing import Any

from pausebutton.detect.estimate import Estimate
from pausebutton.detect.hardware import HardwareTable
from pausebutton.detect.registry import Registry
from pausebutton.detect.runs import CandidateRun, RunParams, detect_runs
from pausebutton.detect.signals import EnergyReading, Method, method_of, signal_time
from pausebutton.errors import DataError


class Severity(IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


LABELS = ("reported", "calculated", "estimated")


@dataclass(frozen=True)
class Evidence:
    label: str
    method: str
    """A verification method, or ``registry``."""
    source: str
    """Which record: a signal id, a registry table and key, or a rule's calculation."""
    text: str
    value: float | None = None
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise DataError(f"evidence label must be one of {LABELS}, not {self.label!r}")

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {
            "label": self.label,
            "method": self.method,
            "source": self.source,
            "text": self.text,
        }
        for k in ("value", "low", "high"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        return d


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    reason: str
    method: Method
    """The method whose signal triggered the rule (the fusion groups by it)."""
    evidence: tuple[Evidence, ...]
    time: datetime
    site: str = ""
    owner: str = ""
    chips: tuple[str, ...] = ()
    fab: str = ""
    """The fab a supply-chain finding is about (its subject, as a site is for energy)."""

    @property
    def methods(self) -> set[str]:
        return {e.method for e in self.evidence if e.method != "registry"} | {self.method.value}

    def to_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "severity": self.severity.name.lower(),
            "reason": self.reason,
            "method": self.method.value,
            "methods": sorted(self.methods),
            "site": self.site,
            "owner": self.owner,
            "chips": list(self.chips),
            "fab": self.fab,
            "time": self.time.isoformat(),
            "evidence": [e.to_dict() for e in self.evidence],
        }


@dataclass
class SignalSet:
    """Signals of every method, as lists by method (kept sorted by time on demand)."""

    by_method: dict[Method, list[Any]] = field(default_factory=lambda: defaultdict(list))
    is_sorted: bool = False

    @classmethod
    def of(cls, signals: Iterable[Any]) -> SignalSet:
        s = cls()
        s.extend(signals)
        return s

    def extend(self, signals: Iterable[Any]) -> None:
        for sig in signals:
            self.by_method[method_of(sig)].append(sig)
        self.is_sorted = False

    def get(self, method: Method) -> list[Any]:
        return self.by_method.get(method, [])

    def sort(self) -> None:
        """Sort every list by time (makes :meth:`until` a binary search)."""
        for v in self.by_method.values():
            v.sort(key=signal_time)
        self.is_sorted = True

    def until(self, t: datetime) -> SignalSet:
        """Only the signals known at ``t`` (sorts first if needed)."""
        if not self.is_sorted:
            self.sort()
        return SignalSet(
            defaultdict(
                list,
                {
                    m: v[: bisect.bisect_right(v, t, key=signal_time)]
                    for m, v in self.by_method.items()
                },
            ),
            True,
        )

    def only(self, methods: Iterable[Method]) -> SignalSet:
        keep = set(methods)
        return SignalSet(
            defaultdict(list, {m: v for m, v in self.by_method.items() if m in keep}),
            self.is_sorted,
        )

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_method.values())


@dataclass(frozen=True)
class Params:
    threshold_flop: float = 1e25
    """Frontier threshold: an unlicensed run above it is critical."""
    default_hardware: str = "NVIDIA H100 SXM5 80GB"
    """Assumed for sites without registered chips (labelled as an assumption)."""
    runs: RunParams = field(default_factory=RunParams)
    purchase_window_days: float = 120.0
    count_tolerance: float = 0.02
    thermal_factor: float = 1.3
    thermal_rise_factor: float = 1.5
    meter_gap_factor: float = 1.5
    unregistered_thermal_w: float = 5e6
    max_chips_per_wafer: int = 100
    chip_power_factor: float = 1.5
    """Power above this multiple of what the registered chips can draw is flagged."""
    transit_days: float = 45.0
    """An export with no import this long after it is a chip lost in transit."""


@dataclass
class Context:
    registry: Registry
    signals: SignalSet
    hardware: HardwareTable
    now: datetime
    params: Params = field(default_factory=Params)

    @cached_property
    def energy_by_site(self) -> dict[str, list[EnergyReading]]:
        out: dict[str, list[EnergyReading]] = defaultdict(list)
        for r in self.signals.get(Method.ENERGY):
            out[r.site].append(r)
        return out

    @cached_property
    def runs(self) -> dict[str, tuple[list[CandidateRun], list[EnergyReading], str]]:
        """site -> (candidate runs, implausible readings, hardware name assumed)."""
        out: dict[str, tuple[list[CandidateRun], list[EnergyReading], str]] = {}
        for site, readings in self.energy_by_site.items():
            hw_name = self.registry.hardware_at(site) or self.params.default_hardware
            hw = self.hardware.resolve(hw_name)
            fac = self.registry.facilities.get(site)
            runs, bad = detect_runs(
                readings,
                hw,
                declared_w=fac.declared_w if fac else None,
                params=self.params.runs,
            )
            out[site] = (runs, bad, hw_name)
        return out


Rule = Callable[[Context], list[Finding]]


def iso_minute(t: datetime) -> str:
    """A time as a finding's text shows it (to the minute)."""
    return t.strftime("%Y-%m-%d %H:%M")


def estimate_evidence(est: Estimate, text: str, source: str) -> Evidence:
    """An energy-based compute estimate as ``estimated`` evidence (value and interval)."""
    return Evidence("estimated", "energy", source, text, est.flop, est.low, est.high)
