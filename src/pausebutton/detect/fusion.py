"""Fusion: score sites and owners from findings, raise alerts with all evidence. Pure.

The score is a naive-Bayes posterior in the style of a likelihood ratio test.
Each finding carries a likelihood ratio ``LR = P(finding | violator) /
P(finding | compliant)`` set by its severity (:data:`SEVERITY_LR`) raised to
its rule's weight (:data:`RULE_WEIGHT`; data-quality flags weigh 0). Within
one verification method the findings about a subject are correlated, so only
the strongest counts; across methods they are treated as independent and
multiply::

    log10 odds(subject) = log10 prior_odds + sum over methods of max log10 LR

``probability = odds / (1 + odds)``. An alert is raised when the probability
reaches ``alert_probability``; it lists every finding and every piece of
evidence about the subject, whichever method it came from.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pausebutton.detect.rules import Evidence, Finding, Severity

SEVERITY_LR: dict[Severity, float] = {
    Severity.INFO: 1.0,
    Severity.LOW: 2.0,
    Severity.MEDIUM: 6.0,
    Severity.HIGH: 30.0,
    Severity.CRITICAL: 200.0,
}
RULE_WEIGHT: dict[str, float] = {
    "implausible_energy": 0.0,
    "fab_output_implausible": 0.0,
}
PRIOR_ODDS = 0.01
"""About one subject in a hundred is a violator before any evidence."""
ALERT_PROBABILITY = 0.5


def log10_lr(f: Finding) -> float:
    return RULE_WEIGHT.get(f.rule, 1.0) * math.log10(SEVERITY_LR[f.severity])


@dataclass(frozen=True)
class Score:
    kind: str
    """``site`` or ``owner``."""
    subject: str
    log10_odds: float
    contributions: dict[str, float]
    """log10 LR counted for each method."""
    findings: tuple[Finding, ...]

    @property
    def probability(self) -> float:
        return 1.0 / (1.0 + math.pow(10.0, -self.log10_odds))


def score_findings(
    kind: str, subject: str, findings: Sequence[Finding], prior_odds: float = PRIOR_ODDS
) -> Score:
    """The score of one subject from the findings about it."""
    best: dict[str, float] = defaultdict(float)
    for f in findings:
        m = f.method.value
        best[m] = max(best[m], log10_lr(f))
    contrib = {m: v for m, v in best.items() if v > 0}
    return Score(
        kind, subject, math.log10(prior_odds) + sum(contrib.values()), contrib, tuple(findings)
    )


def by_subject(
    findings: Iterable[Finding],
) -> tuple[dict[str, list[Finding]], dict[str, list[Finding]]]:
    """The findings grouped by the site and by the owner they name."""
    by_site: dict[str, list[Finding]] = defaultdict(list)
    by_owner: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        if f.site:
            by_site[f.site].append(f)
        if f.owner:
            by_owner[f.owner].append(f)
    return by_site, by_owner


def score(
    findings: Iterable[Finding], prior_odds: float = PRIOR_ODDS
) -> tuple[dict[str, Score], dict[str, Score]]:
    """(site scores, owner scores) for every subject named by a finding."""
    by_site, by_owner = by_subject(findings)
    sites = {s: score_findings("site", s, fs, prior_odds) for s, fs in by_site.items()}
    owners = {o: score_findings("owner", o, fs, prior_odds) for o, fs in by_owner.items()}
    return sites, owners


@dataclass(frozen=True)
class Alert:
    alert_id: str
    kind: str
    subject: str
    probability: float
    log10_odds: float
    severity: Severity
    first_seen: datetime
    findings: tuple[Finding, ...]
    contributions: dict[str, float] = field(default_factory=dict)

    @property
    def evidence(self) -> list[Evidence]:
        return [e for f in self.findings for e in f.evidence]

    def to_dict(self) -> dict[str, object]:
        return {
            "alert_id": self.alert_id,
            "kind": self.kind,
            "subject": self.subject,
            "probability": round(self.probability, 6),
            "log10_odds": round(self.log10_odds, 4),
            "severity": self.severity.name.lower(),
            "first_seen": self.first_seen.isoformat(),
            "methods": sorted(self.contributions),
            "contributions": {k: round(v, 4) for k, v in sorted(self.contributions.items())},
            "findings": [f.to_dict() for f in self.findings],
        }


SUBJECTS = ("owner", "site", "fab", "chip")
"""What an alert can name: an owner, a site, a fab, or a chip that belongs to nobody known."""


def subjects(findings: Iterable[Finding]) -> dict[tuple[str, str], list[Finding]]:
    """The findings grouped by every subject they name: the site, the owner and the fab;
    a finding that names none of those names its chips."""
    out: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for f in findings:
        named = [(k, v) for k, v in (("site", f.site), ("owner", f.owner), ("fab", f.fab)) if v]
        if not named:
            named = [("chip", c) for c in f.chips]
        for key in named:
            out[key].append(f)
    return out


def alerts(
    findings: Sequence[Finding],
    *,
    prior_odds: float = PRIOR_ODDS,
    alert_probability: float = ALERT_PROBABILITY,
) -> list[Alert]:
    """Alerts for every subject (owner, site, fab, chip) at or above ``alert_probability``,
    strongest first."""
    scores = [
        score_findings(kind, subject, fs, prior_odds)
        for (kind, subject), fs in subjects(findings).items()
    ]
    out: list[Alert] = []
    for sc in scores:
        if sc.probability < alert_probability:
            continue
        ident = hashlib.sha256(f"{sc.kind}:{sc.subject}".encode()).hexdigest()[:12]
        out.append(
            Alert(
                alert_id=f"{sc.kind}-{ident}",
                kind=sc.kind,
                subject=sc.subject,
                probability=sc.probability,
                log10_odds=sc.log10_odds,
                severity=max(f.severity for f in sc.findings),
                first_seen=min(f.time for f in sc.findings),
                findings=tuple(sorted(sc.findings, key=lambda f: (-f.severity, f.rule))),
                contributions=sc.contributions,
            )
        )
    out.sort(key=lambda a: (-a.log10_odds, a.kind, a.subject))
    return out
