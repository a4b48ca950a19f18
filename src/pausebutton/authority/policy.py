"""The licensing policy engine: rules as data, decisions with reasons (pure).

A :class:`Policy` is plain data (loadable from JSON). :func:`evaluate` takes
the policy and the :class:`Facts` of one application (gathered by the service
from the store, with an explicit ``now``) and runs every rule; each rule adds
:class:`Finding` s and the engine collects them all rather than stopping at
the first. The outcome is the strictest finding:

* ``refused``      a rule refuses (unregistered chip, cap exceeded, pause in scope ...)
* ``needs_approval`` the run, alone or added up with the owner's or run's other
  licences in the split window, reaches the frontier threshold, or a chip is at
  an unverified facility: K of N members must approve
* ``approved``     automatic approval (registered chips at verified facilities,
  below the threshold, within caps)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from pausebutton.errors import DataError
from pausebutton.protocol.flop import format_flop as _flop
from pausebutton.protocol.flop import parse_flop
from pausebutton.protocol.units import format_duration

DAY = 86400

REFUSE = "refused"
NEEDS_APPROVAL = "needs_approval"
APPROVED = "approved"
_RANK = {APPROVED: 0, NEEDS_APPROVAL: 1, REFUSE: 2}
ACTIVE_CHIP_STATES = frozenset({"registered", "installed"})


@dataclass(frozen=True)
class Policy:
    """Licensing rules as data. Budgets are FLOP (integers of any size)."""

    frontier_flop: int = 10**25
    """A run at or above this (alone or added up over the split window) needs K of N."""
    approvals_required: int | None = None
    """Member approvals needed above the threshold; None: the pause role's threshold."""
    split_window: int = 90 * DAY
    """Licences of one owner or one run issued within this window add up."""
    owner_caps: Mapping[str, int] = field(default_factory=dict)
    """Per-owner cap on FLOP licensed with overlapping validity."""
    country_caps: Mapping[str, int] = field(default_factory=dict)
    """Per-country cap (the owner's country) on FLOP licensed with overlapping validity."""
    default_owner_cap: int | None = None
    max_period: int = 365 * DAY
    max_chips: int = 100_000
    max_offline: int = DAY
    """The max_offline written into each licence (dead man's switch)."""
    verified_facility_for_auto: bool = True
    """Automatic approval only for chips at verified facilities."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise DataError(f"unknown policy fields {sorted(unknown)}", field=sorted(unknown)[0])
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name in ("owner_caps", "country_caps"):
                if not isinstance(value, dict):
                    raise DataError(f"policy {name} must be an object", field=name)
                values[name] = {str(k): _int(v, f"{name}.{k}") for k, v in value.items()}
            elif name == "verified_facility_for_auto":
                if not isinstance(value, bool):
                    raise DataError(f"policy {name} must be true or false", field=name)
                values[name] = value
            elif value is None and name in ("approvals_required", "default_owner_cap"):
                values[name] = None
            else:
                values[name] = _int(value, name)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                value = {k: str(v) for k, v in value.items()}
            elif isinstance(value, int) and not isinstance(value, bool) and value > 2**53:
                value = str(value)
            out[f.name] = value
        return out

    def owner_cap(self, owner: str) -> int | None:
        return self.owner_caps.get(owner, self.default_owner_cap)


def _int(value: Any, name: str) -> int:
    """Integers may be given as JSON numbers, decimal strings or '1e25'-style strings."""
    if isinstance(value, bool):
        raise DataError(f"policy {name} must be an integer", field=name)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return parse_flop(value, name)
    raise DataError(f"policy {name} must be an integer", field=name)


@dataclass(frozen=True)
class ChipFacts:
    chip_id: str
    registered: bool
    owner: str | None = None
    status: str | None = None
    facility: str | None = None
    facility_verified: bool = False
    region: str | None = None
    peak_flops: int | None = None
    """Dense peak FLOP/s of the chip's hardware (its certificate, else Epoch AI's ML
    hardware table by model name); None: unknown, and the chip is not capped."""


@dataclass(frozen=True)
class Facts:
    """Everything the rules look at, gathered by the service at time ``now``."""

    owner: str
    owner_country: str
    run_id: str
    flop_budget: int
    not_before: int
    not_after: int
    now: int
    chips: tuple[ChipFacts, ...]
    owner_window_total: int = 0
    """FLOP of this owner's other licensed/pending applications within the split window."""
    run_window_total: int = 0
    """FLOP of this run id's other licensed/pending applications within the window."""
    owner_active_total: int = 0
    """FLOP licensed to the owner with validity overlapping this period."""
    country_active_total: int = 0
    paused_by: tuple[int, ...] = ()
    """Sequences of active pause orders whose scope covers one of the chips."""


@dataclass(frozen=True)
class Finding:
    rule: str
    outcome: str
    reason: str
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "outcome": self.outcome,
            "reason": self.reason,
            "field": self.field,
        }


@dataclass(frozen=True)
class Decision:
    outcome: str
    findings: tuple[Finding, ...]
    aggregate_flop: int

    @property
    def reasons(self) -> list[str]:
        return [f.reason for f in self.findings if f.outcome != APPROVED]

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "aggregate_flop": str(self.aggregate_flop),
            "findings": [f.to_dict() for f in self.findings],
        }


Rule = Callable[[Policy, Facts], list[Finding]]


def rule_request(p: Policy, f: Facts) -> list[Finding]:
    out = []
    if f.flop_budget <= 0:
        out.append(Finding("request", REFUSE, "flop_budget must be positive", "flop_budget"))
    if f.not_after <= f.not_before:
        out.append(Finding("request", REFUSE, "not_after must follow not_before", "not_after"))
    elif f.not_after - f.not_before > p.max_period:
        out.append(Finding("request", REFUSE, f"period exceeds {p.max_period} s", "not_after"))
    if f.not_after <= f.now:
        out.append(Finding("request", REFUSE, "the period has already ended", "not_after"))
    if not f.chips:
        out.append(Finding("request", REFUSE, "no chips named", "chips"))
    elif len(f.chips) > p.max_chips:
        out.append(Finding("request", REFUSE, f"more than {p.max_chips} chips", "chips"))
    elif f.flop_budget < len(f.chips):
        out.append(Finding("request", REFUSE, "budget is less than 1 FLOP per chip", "flop_budget"))
    return out


def rule_chips(p: Policy, f: Facts) -> list[Finding]:
    out = []
    for c in f.chips:
        if not c.registered:
            out.append(Finding("registry", REFUSE, f"chip {c.chip_id} is not registered", "chips"))
        elif c.owner != f.owner:
            out.append(
                Finding("registry", REFUSE, f"chip {c.chip_id} is not owned by {f.owner}", "chips")
            )
        elif c.status not in ACTIVE_CHIP_STATES:
            out.append(Finding("registry", REFUSE, f"chip {c.chip_id} is {c.status}", "chips"))
        elif c.facility is None:
            out.append(
                Finding("registry", REFUSE, f"chip {c.chip_id} has no facility on record", "chips")
            )
        elif p.verified_facility_for_auto and not c.facility_verified:
            out.append(
                Finding(
                    "facility",
                    NEEDS_APPROVAL,
                    f"chip {c.chip_id} is at unverified facility {c.facility}",
                    "chips",
                )
            )
    return out


def rule_pause(p: Policy, f: Facts) -> list[Finding]:
    if not f.paused_by:
        return []
    seqs = ", ".join(str(s) for s in f.paused_by)
    return [Finding("pause", REFUSE, f"pause order(s) {seqs} in force cover these chips", "chips")]


def rule_caps(p: Policy, f: Facts) -> list[Finding]:
    out = []
    cap = p.owner_cap(f.owner)
    if cap is not None and f.owner_active_total + f.flop_budget > cap:
        out.append(
            Finding(
                "owner_cap",
                REFUSE,
                f"owner {f.owner} would hold {_flop(f.owner_active_total + f.flop_budget)},"
                f" above its cap of {_flop(cap)}",
                "flop_budget",
            )
        )
    ccap = p.country_caps.get(f.owner_country)
    if ccap is not None and f.country_active_total + f.flop_budget > ccap:
        out.append(
            Finding(
                "country_cap",
                REFUSE,
                f"country {f.owner_country} would hold"
                f" {_flop(f.country_active_total + f.flop_budget)}, above its cap of {_flop(ccap)}",
                "flop_budget",
            )
        )
    return out


def rule_threshold(p: Policy, f: Facts) -> list[Finding]:
    if f.flop_budget >= p.frontier_flop:
        return [
            Finding(
                "frontier",
                NEEDS_APPROVAL,
                f"run budget {_flop(f.flop_budget)} is at or above the frontier threshold"
                f" {_flop(p.frontier_flop)}: needs member approval",
                "flop_budget",
            )
        ]
    out = []
    run_total = f.run_window_total + f.flop_budget
    owner_total = f.owner_window_total + f.flop_budget
    if run_total >= p.frontier_flop:
        out.append(
            Finding(
                "run_splitting",
                NEEDS_APPROVAL,
                f"run {f.run_id} adds up to {_flop(run_total)} within"
                f" {format_duration(p.split_window)}, at or above the frontier threshold"
                f" {_flop(p.frontier_flop)}",
                "run_id",
            )
        )
    elif owner_total >= p.frontier_flop:
        out.append(
            Finding(
                "run_splitting",
                NEEDS_APPROVAL,
                f"owner {f.owner} adds up to {_flop(owner_total)} within"
                f" {format_duration(p.split_window)}, at or above the frontier threshold"
                f" {_flop(p.frontier_flop)}",
                "flop_budget",
            )
        )
    return out


def rule_capacity(p: Policy, f: Facts) -> list[Finding]:
    """A budget the licensed chips cannot physically compute in the validity window (the
    sum of their peak FLOP/s times its length) is refused: it would be a licence for
    compute that does not exist, e.g. a run split off to other chips. A chip of unknown
    peak leaves the application uncapped."""
    peaks = [c.peak_flops for c in f.chips]
    if not peaks or any(peak is None for peak in peaks) or f.not_after <= f.not_before:
        return []
    capacity = sum(peak for peak in peaks if peak is not None) * (f.not_after - f.not_before)
    if f.flop_budget <= capacity:
        return []
    return [
        Finding(
            "capacity",
            REFUSE,
            f"{_flop(f.flop_budget)} exceeds what {len(peaks)} chip(s) can compute at peak in"
            f" {format_duration(f.not_after - f.not_before)} ({_flop(capacity)})",
            "flop_budget",
        )
    ]


RULES: tuple[Rule, ...] = (
    rule_request,
    rule_chips,
    rule_capacity,
    rule_pause,
    rule_caps,
    rule_threshold,
)


def evaluate(policy: Policy, facts: Facts, rules: tuple[Rule, ...] = RULES) -> Decision:
    """Run every rule; the outcome is the strictest finding (refused > needs approval)."""
    findings: list[Finding] = []
    for rule in rules:
        findings.extend(rule(policy, facts))
    outcome = max((f.outcome for f in findings), key=_RANK.__getitem__, default=APPROVED)
    aggregate = max(facts.run_window_total, facts.owner_window_total) + facts.flop_budget
    return Decision(outcome, tuple(findings), aggregate)
