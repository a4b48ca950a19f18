"""The verification engine inside the authority: one run gathers the registry, the
signals the sources submitted and the authority's own evidence, runs every rule and
the fusion (``pausebutton.detect``), and stores the findings and alerts.

Nothing is converted by hand between the parts: the registry reaches the engine
through the registry's one CSV schema (``csvio.export_csv`` then
``detect.registry.parse_registry``), and the authority's own evidence becomes the
engine's signal types here:

* usage reports -> ``UsageRecord`` (FLOP at full speed between a chip's successive
  reports, at the chip's registered facility);
* location checks -> ``LocationResult`` (a consistent or inconsistent verdict against the
  declared facility; suspicious and insufficient-evidence checks are no evidence here);
* GNSS fixes -> ``LocationResult`` (a spoofed, relayed or off-site fix is inconsistent);
* licences, custody and chip assignments -> the registry the rules read.

A run reads a window of evidence (``window`` seconds back from ``now``) and keeps the
newest ``keep`` runs. The background loop (``api/background.py``) runs it every
``detection_interval`` seconds; ``POST /v1/detection/runs`` runs it at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select

from pausebutton.authority import csvio
from pausebutton.authority import tables as t
from pausebutton.authority.services import Authority
from pausebutton.authority.services.base import Result
from pausebutton.detect import fusion
from pausebutton.detect.io import bundled_hardware
from pausebutton.detect.registry import TABLES, Registry, parse_registry
from pausebutton.detect.rules import Context, Params, SignalSet, run_rules
from pausebutton.detect.signals import LocationResult, UsageRecord
from pausebutton.errors import DataError, NotFoundError

log = logging.getLogger(__name__)

WINDOW_S = 180 * 86400
"""How far back a run reads evidence."""
KEEP_RUNS = 50


@dataclass(frozen=True, slots=True)
class DetectionRun(Result):
    id: int
    at: int
    signals: int
    """Signals from the sources read by this run."""
    own_evidence: int
    """Records of the authority's own evidence (usage periods, location checks)."""
    findings: int
    alerts: int


@dataclass(frozen=True, slots=True)
class FusedAlert(Result):
    alert_id: str
    kind: str
    """What the alert names: owner, site, fab or chip."""
    subject: str
    owner: str
    """The owner the subject belongs to, where the registry knows it."""
    country: str
    probability: float
    log10_odds: float
    severity: str
    first_seen: str
    methods: list[str]
    """The verification methods whose findings raised it."""
    contributions: dict[str, float]
    findings: list[dict[str, Any]]
    """The findings with their labelled evidence (reported, calculated, estimated)."""


@dataclass(frozen=True, slots=True)
class StoredFinding(Result):
    rule: str
    severity: str
    reason: str
    method: str
    methods: list[str]
    site: str
    owner: str
    fab: str
    chips: list[str]
    time: str
    evidence: list[dict[str, Any]]


def registry_snapshot(authority: Authority) -> Registry:
    """The registry as the engine reads it, through the export every tool uses."""
    texts = {kind: (f"{kind}.csv", csvio.export_csv(authority, kind)) for kind in TABLES}
    reg, errs = parse_registry(texts)
    if errs:
        # the export and the parser share one schema: a row they disagree on is a defect
        raise DataError(f"registry export does not read back: {errs[0].message}")
    return reg


def own_evidence(authority: Authority, reg: Registry, since: int) -> list[Any]:
    """The authority's own evidence since ``since`` as the engine's signals."""
    serials = {c.chip_id: c for c in reg.chips.values() if c.chip_id}
    out: list[Any] = []
    with authority.store.read() as conn:
        reports = conn.execute(
            select(t.chain_heads.c.chip_id, t.reports.c.time, t.reports.c.flop_full)
            .join(t.chain_heads, t.chain_heads.c.chip_no == t.reports.c.chip_no)
            .where(t.reports.c.time >= since)
            .order_by(t.chain_heads.c.chip_id, t.reports.c.sequence)
        ).all()
        fixes = conn.execute(
            select(
                t.gnss_fixes.c.chip_id,
                t.gnss_fixes.c.facility_id,
                t.gnss_fixes.c.time,
                t.gnss_fixes.c.verdict,
                t.gnss_fixes.c.result,
            ).where(t.gnss_fixes.c.time >= since)
        ).all()
        checks = conn.execute(
            select(
                t.location_checks.c.chip_id,
                t.location_checks.c.facility_id,
                t.location_checks.c.time,
                t.location_checks.c.verdict,
                t.location_checks.c.least_distance_km,
            ).where(t.location_checks.c.time >= since)
        ).all()
    previous: dict[str, tuple[int, int]] = {}
    for r in reports:
        chip = serials.get(r.chip_id)
        flop = int(r.flop_full)
        before = previous.get(r.chip_id)
        previous[r.chip_id] = (int(r.time), flop)
        if chip is None or before is None or int(r.time) <= before[0]:
            continue
        out.append(
            UsageRecord(
                chip.serial,
                chip.facility_id,
                _utc(before[0]),
                _utc(int(r.time)),
                float(max(flop - before[1], 0)),
            )
        )
    for c in checks:
        chip = serials.get(c.chip_id)
        # a suspicious check is an alert for inspection, not evidence against the chip;
        # insufficient evidence is none
        if chip is None or c.verdict not in ("consistent", "inconsistent"):
            continue
        consistent = c.verdict == "consistent"
        out.append(
            LocationResult(
                chip.serial,
                c.facility_id,
                _utc(int(c.time)),
                consistent,
                None if consistent else float(c.least_distance_km),
                f"authority location check: {c.verdict}",
            )
        )
    for f in fixes:
        chip = serials.get(f.chip_id)
        if chip is None:
            continue
        honest = f.verdict in ("consistent", "insufficient_evidence")
        out.append(
            LocationResult(
                chip.serial,
                f.facility_id or chip.facility_id,
                _utc(int(f.time)),
                honest,
                f.result.get("distance_to_site_km"),
                f"GNSS fix {f.verdict}: {f.result.get('reason', '')}"[:500],
            )
        )
    return out


def _utc(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


def run_detection(
    authority: Authority, *, window: int = WINDOW_S, keep: int = KEEP_RUNS
) -> DetectionRun:
    """Gather, run every rule and the fusion, store the results; returns the run."""
    now = authority.now()
    since = now - window
    reg = registry_snapshot(authority)
    outside = authority.signals.load(since)
    own = own_evidence(authority, reg, since)
    signals = SignalSet.of([*outside, *own])
    signals.sort()
    ctx = Context(reg, signals, bundled_hardware(), _utc(now), Params())
    findings = run_rules(ctx)
    alerts = fusion.alerts(findings)
    alert_rows = [_alert_row(a, reg) for a in alerts]
    finding_rows = [f.to_dict() for f in findings]
    with authority.store.write() as conn:
        run_id = conn.execute(
            insert(t.detection_runs)
            .values(
                at=now,
                signals=len(outside),
                own_evidence=len(own),
                findings=finding_rows,
                alerts=alert_rows,
            )
            .returning(t.detection_runs.c.id)
        ).scalar_one()
        conn.execute(delete(t.detection_runs).where(t.detection_runs.c.id <= run_id - keep))
    log.info(
        "detection run %d: %d signals, %d own records, %d findings, %d alerts",
        run_id,
        len(outside),
        len(own),
        len(findings),
        len(alerts),
    )
    return DetectionRun(int(run_id), now, len(outside), len(own), len(findings), len(alerts))


def _alert_row(alert: fusion.Alert, reg: Registry) -> dict[str, Any]:
    row = alert.to_dict()
    owner, country = "", ""
    if alert.kind == "owner":
        owner = alert.subject
    elif alert.kind == "site":
        owner = reg.owner_of(alert.subject)
        fac = reg.facilities.get(alert.subject)
        country = fac.country if fac else ""
    elif alert.kind == "chip":
        chip = reg.chips.get(alert.subject)
        owner = chip.owner_id if chip else ""
    if owner and not country:
        known = reg.owners.get(owner)
        country = known.country if known else ""
    row["owner"], row["country"] = owner, country
    return row


def latest_run(authority: Authority) -> tuple[DetectionRun, list[Any], list[Any]]:
    """The newest run with its alerts and findings (NotFoundError before the first)."""
    with authority.store.read() as conn:
        row = conn.execute(
            select(t.detection_runs).order_by(t.detection_runs.c.id.desc()).limit(1)
        ).first()
    if row is None:
        raise NotFoundError("no detection run yet", field="run")
    run = DetectionRun(
        row.id, row.at, row.signals, row.own_evidence, len(row.findings), len(row.alerts)
    )
    return run, list(row.alerts), list(row.findings)


def alerts(
    authority: Authority,
    *,
    kind: str | None = None,
    owner: str | None = None,
    country: str | None = None,
    method: str | None = None,
) -> list[FusedAlert]:
    """The newest run's alerts, strongest first, filtered."""
    _, rows, _ = latest_run(authority)
    out = []
    for r in rows:
        if kind and r["kind"] != kind:
            continue
        if owner and r["owner"] != owner:
            continue
        if country and r["country"] != country:
            continue
        if method and method not in r["methods"]:
            continue
        out.append(FusedAlert(**{f: r[f] for f in FusedAlert.__dataclass_fields__}))
    return out


def findings(
    authority: Authority, *, rule: str | None = None, subject: str | None = None
) -> list[StoredFinding]:
    """The newest run's findings with their evidence, filtered by rule or named subject."""
    _, _, rows = latest_run(authority)
    out = []
    for r in rows:
        if rule and r["rule"] != rule:
            continue
        if subject and subject not in (r["site"], r["owner"], r["fab"], *r["chips"]):
            continue
        out.append(StoredFinding(**{f: r[f] for f in StoredFinding.__dataclass_fields__}))
    return out
