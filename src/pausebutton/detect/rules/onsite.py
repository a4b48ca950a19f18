"""Rules on on-site inspections: chips counted at a data centre against the registry, and
AI-developer audits that find undeclared or over-licence training. Pure."""

from __future__ import annotations

from pausebutton.detect.rules.base import Context, Evidence, Finding, Severity, iso_minute
from pausebutton.detect.signals import DataCenterInspection, Method

# -- inspection counts that differ from the registry ---------------------------------------


def inspection_mismatch(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    latest: dict[str, DataCenterInspection] = {}
    for i in ctx.signals.get(Method.DC_INSPECTION):
        if i.facility not in latest or i.time > latest[i.facility].time:
            latest[i.facility] = i
    for site, insp in sorted(latest.items()):
        registered = {c.serial for c in ctx.registry.chips_at(site)}
        owner = ctx.registry.owner_of(site)
        ev: list[Evidence] = [
            Evidence(
                "reported",
                "dc_inspection",
                insp.inspection_id,
                f"{insp.count} chips counted on {iso_minute(insp.time)}",
                insp.count,
            )
        ]
        ev.append(
            Evidence(
                "reported",
                "registry",
                f"chips:{site}",
                f"{len(registered)} registered",
                len(registered),
            )
        )
        tol = max(len(registered) * ctx.params.count_tolerance, 2)
        if insp.serials_counted:
            seen = set(insp.serials_counted)
            missing = sorted(registered - seen)
            extra = sorted(seen - registered)
            if len(missing) <= tol and not extra:
                continue
            if missing:
                ev.append(
                    Evidence(
                        "calculated",
                        "dc_inspection",
                        "registry-minus-counted",
                        f"missing: {', '.join(missing[:10])}",
                        len(missing),
                    )
                )
            if extra:
                ev.append(
                    Evidence(
                        "calculated",
                        "dc_inspection",
                        "counted-minus-registry",
                        f"not registered here: {', '.join(extra[:10])}",
                        len(extra),
                    )
                )
            big = len(missing) >= 20 or len(extra) >= 20
            sev = Severity.HIGH if big else Severity.MEDIUM
            reason = (
                f"inspection at {site}: {len(missing)} registered chip(s) missing,"
                f" {len(extra)} unregistered found"
            )
            chips = tuple(missing + extra)
        else:
            diff = insp.count - len(registered)
            if abs(diff) <= tol:
                continue
            ev.append(
                Evidence(
                    "calculated",
                    "dc_inspection",
                    "difference",
                    f"{diff:+d} against the registry",
                    diff,
                )
            )
            sev = Severity.HIGH if abs(diff) >= 20 else Severity.MEDIUM
            reason = (
                f"inspection at {site} counted {insp.count} chips, registry says {len(registered)}"
            )
            chips = ()
        out.append(
            Finding(
                "inspection_mismatch",
                sev,
                reason,
                Method.DC_INSPECTION,
                tuple(ev),
                insp.time,
                site=site,
                owner=owner,
                chips=chips,
            )
        )
    return out


# -- AI-developer inspections ------------------------------------------------------------------


def developer_undeclared(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    for i in ctx.signals.get(Method.DEVELOPER_INSPECTION):
        licensed = sum(lic.flop for lic in ctx.registry.licenses if lic.owner_id == i.owner)
        over = i.largest_run_flop is not None and i.largest_run_flop > licensed * 1.01
        if not i.undeclared_runs and not over:
            continue
        ev = [
            Evidence(
                "reported",
                "developer_inspection",
                i.inspection_id,
                f"{i.declared_runs} runs declared, {i.undeclared_runs} undeclared found",
                i.undeclared_runs,
            )
        ]
        if i.largest_run_flop is not None:
            ev.append(
                Evidence(
                    "reported",
                    "developer_inspection",
                    i.inspection_id,
                    f"largest run {i.largest_run_flop:.3g} FLOP",
                    i.largest_run_flop,
                )
            )
            ev.append(
                Evidence(
                    "reported",
                    "registry",
                    f"licenses:{i.owner}",
                    f"licensed {licensed:.3g} FLOP",
                    licensed,
                )
            )
        sev = (
            Severity.CRITICAL
            if over and (i.largest_run_flop or 0) >= ctx.params.threshold_flop
            else Severity.HIGH
        )
        out.append(
            Finding(
                "developer_undeclared",
                sev,
                f"audit of {i.owner} found undeclared or over-license training",
                Method.DEVELOPER_INSPECTION,
                tuple(ev),
                i.time,
                owner=i.owner,
            )
        )
    return out
