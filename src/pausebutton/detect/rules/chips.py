"""Rules on what the chips themselves report: usage reports silent while the energy says
busy, chips reporting from the wrong facility, and location checks that fail. Pure."""

from __future__ import annotations

from collections import defaultdict

from pausebutton.detect.rules.base import (
    Context,
    Evidence,
    Finding,
    Severity,
    estimate_evidence,
    iso_minute,
)
from pausebutton.detect.signals import LocationResult, Method, UsageRecord

# -- usage reports silent while the energy says busy --------------------------------


def usage_silent(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    usage: dict[str, list[UsageRecord]] = defaultdict(list)
    for u in ctx.signals.get(Method.USAGE_REPORT):
        usage[u.facility].append(u)
    if not usage:
        return out
    for site, (runs, _bad, _hw) in sorted(ctx.runs.items()):
        if not ctx.registry.chips_at(site):
            continue
        for run in runs:
            est = run.estimate
            if est is None:
                continue
            overl = [
                u
                for u in usage.get(site, [])
                if u.period_end > run.start and u.period_start < run.end
            ]
            reported = sum(u.flop for u in overl)
            if reported >= est.low:
                continue
            sev = Severity.HIGH if reported < 0.1 * est.low else Severity.MEDIUM
            out.append(
                Finding(
                    "usage_silent",
                    sev,
                    f"chips at {site} report {reported:.2g} FLOP while the energy implies at"
                    f" least {est.low:.2g} FLOP ({iso_minute(run.start)} .. {iso_minute(run.end)})",
                    Method.USAGE_REPORT,
                    (
                        Evidence(
                            "calculated",
                            "usage_report",
                            f"usage:{site}",
                            f"{len(overl)} usage reports sum to {reported:.3g} FLOP",
                            reported,
                        ),
                        estimate_evidence(
                            est,
                            f"energy plateau implies {est.flop:.3g} FLOP",
                            "estimate.from_energy",
                        ),
                    ),
                    run.end,
                    site=site,
                    owner=ctx.registry.owner_of(site),
                )
            )
    return out


def usage_wrong_facility(ctx: Context) -> list[Finding]:
    """Chips reporting from a facility other than the one registered for them.

    The finding blames each chip's registered owner (who moved it or let it be moved),
    one finding per owner; chips registered to nobody are named as chips alone.
    """
    out: list[Finding] = []
    usage: dict[str, list[UsageRecord]] = defaultdict(list)
    for u in ctx.signals.get(Method.USAGE_REPORT):
        usage[u.facility].append(u)
    for site, recs in sorted(usage.items()):
        end = max(u.period_end for u in recs)
        foreign: dict[str, set[str]] = defaultdict(set)
        for u in recs:
            chip = ctx.registry.chips.get(u.chip_serial)
            if chip is None or chip.facility_id != site:
                foreign[chip.owner_id if chip else ""].add(u.chip_serial)
        for owner, serials in sorted(foreign.items()):
            uniq = tuple(sorted(serials))
            where = "registered elsewhere" if owner else "not registered"
            out.append(
                Finding(
                    "usage_wrong_facility",
                    Severity.MEDIUM,
                    f"{len(uniq)} chip(s) report from {site} but are {where}",
                    Method.USAGE_REPORT,
                    (Evidence("calculated", "registry", "chips", ", ".join(uniq[:10]), len(uniq)),),
                    end,
                    owner=owner,
                    chips=uniq,
                )
            )
    return out


def location_inconsistent(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    bad: dict[str, list[LocationResult]] = defaultdict(list)
    for r in ctx.signals.get(Method.LOCATION):
        chip = ctx.registry.chips.get(r.chip_serial)
        if not r.consistent or chip is None or chip.facility_id != r.claimed_facility:
            bad[chip.owner_id if chip else ""].append(r)
    for owner, results in sorted(bad.items()):
        serials = tuple(sorted({r.chip_serial for r in results}))
        ev: list[Evidence] = []
        for r in results[:20]:
            chip = ctx.registry.chips.get(r.chip_serial)
            if chip is None:
                text = f"{r.chip_serial} answered but is not registered"
            elif not r.consistent:
                dist = (
                    f", at least {r.distance_km:.0f} km away" if r.distance_km is not None else ""
                )
                text = f"{r.chip_serial}: RTT bounds exclude {r.claimed_facility}{dist}"
            else:
                text = (
                    f"{r.chip_serial} claims {r.claimed_facility}, registered at {chip.facility_id}"
                )
            ev.append(
                Evidence("reported", "location", f"location:{r.chip_serial}", text, r.distance_km)
            )
        failed = [r for r in results if not r.consistent]
        unregistered = [r for r in results if r.chip_serial not in ctx.registry.chips]
        # One failed measurement can be network noise; several chips (or one chip
        # failing again) cannot.
        repeated = len({r.chip_serial for r in failed}) >= 2 or len(failed) > len(
            {r.chip_serial for r in failed}
        )
        sev = Severity.HIGH if repeated or unregistered else Severity.MEDIUM
        out.append(
            Finding(
                "location_inconsistent",
                sev,
                f"{len(serials)} chip(s) of {owner or 'unknown owner'} fail location checks",
                Method.LOCATION,
                tuple(ev),
                max(r.time for r in results),
                owner=owner,
                chips=serials,
            )
        )
    return out
