"""The remote-sensing rule: heat beyond declared capacity, beyond metered power, a
sustained rise, or at an unregistered site. Pure."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from pausebutton.detect.rules.base import Context, Evidence, Finding, Severity, iso_minute
from pausebutton.detect.signals import Method, RemoteSensing


def thermal_anomaly(ctx: Context) -> list[Finding]:
    """Heat beyond declared capacity, beyond metered power, or at an unregistered site."""
    out: list[Finding] = []
    by_site: dict[str, list[RemoteSensing]] = defaultdict(list)
    for d in ctx.signals.get(Method.REMOTE_SENSING):
        by_site[d.site].append(d)
    for site, dets in sorted(by_site.items()):
        fac = ctx.registry.facilities.get(site)
        strong = [d for d in dets if d.confidence >= 0.5]
        if not strong:
            continue
        heat = sorted(d.thermal_w for d in strong)[len(strong) // 2]
        ev = [
            Evidence(
                "reported",
                "remote_sensing",
                d.detection_id,
                f"{d.thermal_w / 1e6:.3g} MW heat, confidence {d.confidence:.2f}",
                d.thermal_w,
            )
            for d in strong[:20]
        ]
        reasons: list[str] = []
        sev = Severity.INFO
        if fac is None:
            if heat >= ctx.params.unregistered_thermal_w:
                reasons.append(
                    f"median heat {heat / 1e6:.3g} MW at {site}, which is not a registered facility"
                )
                sev = Severity.HIGH
        elif fac.declared_w is not None and heat > fac.declared_w * ctx.params.thermal_factor:
            reasons.append(
                f"median heat {heat / 1e6:.3g} MW exceeds the"
                f" {fac.declared_w / 1e6:.3g} MW declared"
            )
            ev.append(
                Evidence(
                    "reported",
                    "registry",
                    f"facilities:{site}",
                    "declared capacity",
                    fac.declared_w,
                )
            )
            sev = Severity.HIGH
        ordered = sorted(strong, key=lambda d: d.time)
        # Sustained change: the median of three consecutive passes, against the site's
        # median over all passes (a single noisy pass cannot trigger it).
        triples = [
            (
                sorted(x.thermal_w for x in ordered[k : k + 3])[1],
                ordered[k].time,
                ordered[k + 2].time,
            )
            for k in range(len(ordered) - 2)
        ]
        if len(ordered) >= 6:
            peak, p0, p1 = max(triples, key=lambda x: x[0])
            licensed = fac is not None and ctx.registry.licensed_flop(site, p0, p1) > 0
            if peak > heat * ctx.params.thermal_rise_factor and not licensed:
                reasons.append(
                    f"heat rose to {peak / 1e6:.3g} MW"
                    f" ({iso_minute(p0)} .. {iso_minute(p1)}) from a median of {heat / 1e6:.3g} MW"
                )
                ev.append(
                    Evidence(
                        "calculated", "remote_sensing", f"rs:{site}", "heat rise ratio", peak / heat
                    )
                )
                sev = max(sev, Severity.MEDIUM)
        meter = sorted(ctx.energy_by_site.get(site, []), key=lambda r: r.time)
        if meter:
            for th, p0, p1 in triples or [(heat, ordered[0].time, ordered[-1].time)]:
                span = [
                    r.power_w
                    for r in meter
                    if p0 - timedelta(days=1) <= r.time <= p1 + timedelta(days=1)
                ]
                if not span:
                    continue
                metered = sorted(span)[len(span) // 2]
                if th > metered * ctx.params.meter_gap_factor:
                    reasons.append(
                        f"heat {th / 1e6:.3g} MW exceeds the metered {metered / 1e6:.3g} MW"
                        f" ({iso_minute(p0)} .. {iso_minute(p1)})"
                    )
                    ev.append(
                        Evidence(
                            "calculated",
                            "energy",
                            f"energy:{site}",
                            "median metered power",
                            metered,
                        )
                    )
                    sev = max(sev, Severity.MEDIUM)
                    break
        if sev is Severity.INFO:
            continue
        out.append(
            Finding(
                "thermal_anomaly",
                sev,
                "; ".join(reasons),
                Method.REMOTE_SENSING,
                tuple(ev),
                max(d.time for d in strong),
                site=site,
                owner=fac.owner_id if fac else "",
            )
        )
    return out
