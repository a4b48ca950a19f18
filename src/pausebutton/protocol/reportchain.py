"""The rules of a chip's usage-report chain, as one pure function.

Each UsageReport carries a sequence number and the hash of the report before it
(``prev_hash``), so a run of reports forms a hash chain from GENESIS_HASH. Both
the authority's ingestion and an auditor's check of a run of reports
(``chip.firmware.verify_report_chain``) ask the same question of each report:
given the head of the chain so far (and, for the authority, what is stored at
the report's sequence and the licence it names), what is this report?

:func:`classify_report` answers it from facts alone (no I/O, no clock):

- ``next``: the sequence after the head and linked to it: accepted, the new head;
- ``gap``: ahead of the head by more than one: accepted and the new head, with a
  ``gap`` finding naming the missing sequences;
- ``late``: at or below the head with nothing stored there: it fills an earlier
  gap; accepted, the head unchanged;
- ``duplicate``: the very report stored at its sequence: acknowledged again,
  nothing new;
- ``replay``: a different report is stored at its sequence: refused;
- ``chain``: the sequence after the head but ``prev_hash`` is not the head's hash:
  refused.

An accepted report naming a licence is also checked against the licence's terms
(findings ``unknown_license``, ``over_license``, ``outside_license_period``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from pausebutton.protocol.messages import UsageReport


class ChainOutcome(StrEnum):
    NEXT = "next"
    GAP = "gap"
    LATE = "late"
    DUPLICATE = "duplicate"
    REPLAY = "replay"
    CHAIN = "chain"


ACCEPTED = frozenset({ChainOutcome.NEXT, ChainOutcome.GAP, ChainOutcome.LATE})
"""Outcomes whose report is stored."""
ADVANCES = frozenset({ChainOutcome.NEXT, ChainOutcome.GAP})
"""Outcomes whose report becomes the chain's head."""


class ChainHead(NamedTuple):
    """The newest report of a chain: its sequence and hash (0 and GENESIS_HASH before
    the first). A tuple: the authority builds one per chip of every batch it ingests."""

    sequence: int
    hash: bytes


@dataclass(frozen=True, slots=True)
class LicenseTerms:
    """The stored licence a report names."""

    chip_id: bytes
    flop_budget: int
    not_before: int
    not_after: int


@dataclass(frozen=True, slots=True)
class Finding:
    """Something to raise an alert about."""

    kind: str
    severity: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Classification:
    outcome: ChainOutcome
    findings: tuple[Finding, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.outcome in ACCEPTED

    @property
    def advances(self) -> bool:
        return self.outcome in ADVANCES


_PLAIN = {outcome: Classification(outcome) for outcome in ChainOutcome}
"""The classification of each outcome without findings (immutable, so shared)."""


def classify_report(
    report: UsageReport,
    digest: bytes,
    head: ChainHead,
    *,
    stored: bytes | None = None,
    license: LicenseTerms | None = None,
) -> Classification:
    """What ``report`` (whose envelope hashes to ``digest``) is to the chain ending at
    ``head``, given the hash ``stored`` at its sequence (if any) and the ``license``
    found under its ``license_id`` (None: no such licence, or no licence checks)."""
    seq = report.sequence
    findings: list[Finding] = []
    if seq <= head.sequence:
        if stored == digest:
            return Classification(ChainOutcome.DUPLICATE)
        if stored is not None:
            return Classification(
                ChainOutcome.REPLAY, (Finding("replay", "high", {"sequence": seq}),)
            )
        outcome = ChainOutcome.LATE
    elif seq == head.sequence + 1:
        if report.prev_hash != head.hash:
            return Classification(
                ChainOutcome.CHAIN, (Finding("chain", "high", {"sequence": seq}),)
            )
        outcome = ChainOutcome.NEXT
    else:
        outcome = ChainOutcome.GAP
        findings.append(
            Finding("gap", "medium", {"missing_from": head.sequence + 1, "missing_to": seq - 1})
        )
    findings.extend(license_findings(report, license))
    return Classification(outcome, tuple(findings)) if findings else _PLAIN[outcome]


def license_findings(report: UsageReport, license: LicenseTerms | None) -> list[Finding]:
    """A report's findings against the licence it names (none if it names none)."""
    if report.license_id is None:
        return []
    seq, lid = report.sequence, report.license_id
    if license is None or license.chip_id != report.chip_id:
        return [Finding("unknown_license", "high", {"sequence": seq, "license_id": lid})]
    out = []
    used = report.license_flop_used
    if used is not None and used > license.flop_budget:
        detail = {
            "sequence": seq,
            "license_id": lid,
            "used": str(used),
            "budget": str(license.flop_budget),
        }
        out.append(Finding("over_license", "high", detail))
    if report.state == "licensed" and not license.not_before <= report.time < license.not_after:
        detail = {"sequence": seq, "license_id": lid, "time": report.time}
        out.append(Finding("outside_license_period", "high", detail))
    return out
