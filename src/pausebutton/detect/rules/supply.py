"""Rules on the supply chain: chips imported but never registered, purchases without
matching customs or registry records, fab output beyond the registered chips, customs
declarations that contradict the chips' custody, and exports never imported. Pure."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from pausebutton.detect.registry import CustodyStep
from pausebutton.detect.rules.base import Context, Evidence, Finding, Severity
from pausebutton.detect.signals import CustomsRecord, FabInspection, FinancialTxn, Method

# -- chips imported but never registered ------------------------------------------------


def imported_unregistered(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    reg = ctx.registry
    by_consignee: dict[str, list[CustomsRecord]] = defaultdict(list)
    for rec in ctx.signals.get(Method.CUSTOMS):
        by_consignee[rec.consignee].append(rec)
        if rec.serials:
            missing = [s for s in rec.serials if s not in reg.chips]
            if missing:
                sev = Severity.HIGH if len(missing) >= 8 else Severity.MEDIUM
                out.append(
                    Finding(
                        "imported_unregistered",
                        sev,
                        f"{len(missing)} of {len(rec.serials)} chips imported by"
                        f" {rec.consignee} ({rec.record_id}) are not in the registry",
                        Method.CUSTOMS,
                        (
                            Evidence(
                                "reported",
                                "customs",
                                rec.record_id,
                                f"HS {rec.hs_code}, {rec.quantity} units from {rec.shipper}"
                                f" ({rec.origin}) to {rec.consignee} ({rec.destination})",
                                rec.quantity,
                            ),
                            Evidence(
                                "calculated",
                                "registry",
                                "chips",
                                f"serials absent from the registry: {', '.join(missing[:10])}"
                                + (" ..." if len(missing) > 10 else ""),
                                len(missing),
                            ),
                        ),
                        rec.time,
                        owner=rec.consignee,
                        chips=tuple(missing),
                    )
                )
    for consignee, recs in sorted(by_consignee.items()):
        counted = [
            r for r in recs if not r.serials and r.hs_code in ("8542.31", "8473.30", "8471.50")
        ]
        if not counted:
            continue
        imported = sum(r.quantity for r in counted)
        registered = len(reg.chips_of(consignee))
        known_owner = consignee in reg.owners
        if imported <= registered * 1.05 + 8:
            continue
        sev = Severity.HIGH if imported - registered >= 100 or not known_owner else Severity.MEDIUM
        out.append(
            Finding(
                "imported_unregistered",
                sev,
                f"{consignee} imported {imported} accelerators but has {registered} registered"
                + ("" if known_owner else " (not a registered owner)"),
                Method.CUSTOMS,
                (
                    *(
                        Evidence(
                            "reported",
                            "customs",
                            r.record_id,
                            f"{r.quantity} units, HS {r.hs_code}",
                            r.quantity,
                        )
                        for r in counted[:20]
                    ),
                    Evidence("calculated", "customs", "sum", f"imported {imported}", imported),
                    Evidence(
                        "reported",
                        "registry",
                        f"chips:{consignee}",
                        f"registered {registered}",
                        registered,
                    ),
                ),
                max(r.time for r in counted),
                owner=consignee,
            )
        )
    return out


# -- purchases without matching customs or registry records ------------------------


def purchase_unmatched(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    window = timedelta(days=ctx.params.purchase_window_days)
    customs = ctx.signals.get(Method.CUSTOMS)
    bought: dict[str, list[FinancialTxn]] = defaultdict(list)
    for t in ctx.signals.get(Method.FINANCIAL):
        if t.purpose == "chips" and t.quantity:
            bought[t.payer].append(t)
    for payer, txns in sorted(bought.items()):
        qty = sum(t.quantity or 0 for t in txns)
        registered = len(ctx.registry.chips_of(payer))
        t0 = min(t.time for t in txns) - window
        t1 = max(t.time for t in txns) + window
        cleared = [c for c in customs if c.consignee == payer and t0 <= c.time <= t1]
        imported = sum(c.quantity for c in cleared)
        if qty <= registered * 1.05 + 8:
            continue
        no_customs = qty > imported * 1.05 + 8
        sev = Severity.HIGH if qty - registered >= 100 and no_customs else Severity.MEDIUM
        out.append(
            Finding(
                "purchase_unmatched",
                sev,
                f"{payer} paid for {qty} chips; {imported} cleared customs and {registered}"
                " are registered",
                Method.FINANCIAL,
                (
                    *(
                        Evidence(
                            "reported",
                            "financial",
                            t.txn_id,
                            f"{t.amount_usd:,.0f} USD to {t.payee} for {t.quantity}"
                            f" {t.hardware}".strip(),
                            t.quantity,
                        )
                        for t in txns[:20]
                    ),
                    Evidence(
                        "calculated",
                        "customs",
                        "customs:window",
                        f"{imported} units cleared within {window.days} days",
                        imported,
                    ),
                    Evidence(
                        "reported",
                        "registry",
                        f"chips:{payer}",
                        f"{registered} chips registered",
                        registered,
                    ),
                ),
                max(t.time for t in txns),
                owner=payer,
            )
        )
    return out


# -- fab output beyond registered chips -------------------------------------------------


def fab_output_excess(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    by_fab: dict[str, list[FabInspection]] = defaultdict(list)
    for f in ctx.signals.get(Method.FAB_INSPECTION):
        by_fab[f.fab].append(f)
    for fab, insp in sorted(by_fab.items()):
        produced = sum(i.output_chips for i in insp)
        registered = len(ctx.registry.chips_from_fab(fab))
        wafers = sum(i.wafer_starts for i in insp)
        if produced > wafers * ctx.params.max_chips_per_wafer:
            out.append(
                Finding(
                    "fab_output_implausible",
                    Severity.INFO,
                    f"{fab}: {produced} chips from {wafers} wafer starts is impossible"
                    f" (> {ctx.params.max_chips_per_wafer} per wafer); check the records",
                    Method.FAB_INSPECTION,
                    (
                        Evidence(
                            "calculated",
                            "fab_inspection",
                            fab,
                            "chips per wafer",
                            produced / max(wafers, 1),
                        ),
                    ),
                    max(i.time for i in insp),
                    fab=fab,
                )
            )
        excess = produced - registered
        if excess <= registered * ctx.params.count_tolerance + 10:
            continue
        sev = Severity.HIGH if excess >= 100 else Severity.MEDIUM
        out.append(
            Finding(
                "fab_output_excess",
                sev,
                f"{fab} produced {produced} accelerators but only {registered} are registered;"
                f" {excess} unaccounted for",
                Method.FAB_INSPECTION,
                (
                    *(
                        Evidence(
                            "reported",
                            "fab_inspection",
                            i.inspection_id,
                            f"{i.output_chips} chips out, {i.wafer_starts} wafers in"
                            f" {i.period_days:g} days",
                            i.output_chips,
                        )
                        for i in insp[:20]
                    ),
                    Evidence(
                        "reported",
                        "registry",
                        f"chips:fab={fab}",
                        f"{registered} registered",
                        registered,
                    ),
                    Evidence(
                        "calculated",
                        "fab_inspection",
                        "difference",
                        f"{excess} unaccounted",
                        excess,
                    ),
                ),
                max(i.time for i in insp),
                fab=fab,
            )
        )
    return out


# -- customs against custody ------------------------------------------------------------


def custody_diverted(ctx: Context) -> list[Finding]:
    """A customs declaration naming chips whose custody says they were exported to
    another country: the chips went where no export licence sent them. Two signed
    records contradict each other about named chips, so the finding is critical."""
    out: list[Finding] = []
    reg = ctx.registry
    for rec in ctx.signals.get(Method.CUSTOMS):
        diverted: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        for serial in rec.serials:
            chip = reg.chips.get(serial)
            if chip is None or not chip.chip_id:
                continue
            exports = [s for s in reg.steps.get(chip.chip_id, []) if s.kind == "export"]
            if exports and exports[-1].country and exports[-1].country != rec.destination:
                last = exports[-1]
                diverted[chip.owner_id].append((serial, last.country, last.party_id or last.actor))
        for owner, items in sorted(diverted.items()):
            serials = tuple(sorted(s for s, _, _ in items))
            sent = sorted({f"{c} (by {p})" for _, c, p in items})
            out.append(
                Finding(
                    "custody_diverted",
                    Severity.CRITICAL,
                    f"{len(serials)} chip(s) declared at customs in {rec.destination}"
                    f" ({rec.record_id}) were exported to {', '.join(sent)}",
                    Method.CUSTOMS,
                    (
                        Evidence(
                            "reported",
                            "customs",
                            rec.record_id,
                            f"{rec.quantity} units from {rec.shipper} ({rec.origin}) to"
                            f" {rec.consignee} ({rec.destination})",
                            rec.quantity,
                        ),
                        Evidence(
                            "reported",
                            "registry",
                            "custody:export",
                            f"custody exports of {', '.join(serials[:10])} to {', '.join(sent)}",
                            len(serials),
                        ),
                    ),
                    rec.time,
                    owner=owner,
                    chips=serials,
                )
            )
    return out


def custody_in_transit(ctx: Context) -> list[Finding]:
    """Chips whose last custody step is an export older than ``transit_days``: they left
    one country and reached no other on the record."""
    out: list[Finding] = []
    reg = ctx.registry
    limit = ctx.now - timedelta(days=ctx.params.transit_days)
    lost: dict[str, list[tuple[str, CustodyStep]]] = defaultdict(list)
    for chip in reg.chips.values():
        steps = reg.steps.get(chip.chip_id, []) if chip.chip_id else []
        if steps and steps[-1].kind == "export" and steps[-1].time < limit:
            lost[chip.owner_id].append((chip.serial, steps[-1]))
    for owner, items in sorted(lost.items()):
        serials = tuple(sorted(s for s, _ in items))
        newest = max(step.time for _, step in items)
        out.append(
            Finding(
                "custody_in_transit",
                Severity.MEDIUM,
                f"{len(serials)} chip(s) exported more than {ctx.params.transit_days:g} days ago"
                " were never imported anywhere on the record",
                Method.CUSTOMS,
                tuple(
                    Evidence(
                        "reported",
                        "registry",
                        f"custody:{step.chip_id}#{step.seq}",
                        f"{serial}: exported to {step.country} by {step.party_id or step.actor}"
                        f" on {step.at}",
                        None,
                    )
                    for serial, step in items[:20]
                ),
                newest,
                owner=owner,
                chips=serials,
            )
        )
    return out
