"""Rules on energy telemetry: training runs beyond the compute licensed at a site, power
beyond what the registered chips can draw, and readings too large to be true. Pure."""

from __future__ import annotations

from pausebutton.detect.estimate import DEFAULT_PUE, SERVER_OVERHEAD
from pausebutton.detect.rules.base import (
    Context,
    Evidence,
    Finding,
    Severity,
    estimate_evidence,
    iso_minute,
)
from pausebutton.detect.signals import Method
from pausebutton.protocol.units import format_watt_hours

# -- unlicensed run above threshold ------------------------------------------------


def unlicensed_run(ctx: Context) -> list[Finding]:
    """Estimated compute of an energy plateau against the compute licensed at the site."""
    out: list[Finding] = []
    for site, (runs, _bad, hw_name) in sorted(ctx.runs.items()):
        owner = ctx.registry.owner_of(site)
        registered = site in ctx.registry.facilities
        for run in runs:
            est = run.estimate
            if est is None:
                continue
            licensed = ctx.registry.licensed_flop(site, run.start, run.end)
            if est.flop <= licensed:
                continue
            if est.low > licensed and est.flop >= ctx.params.threshold_flop:
                sev = Severity.CRITICAL
            elif est.low > licensed:
                sev = Severity.HIGH
            else:
                sev = Severity.MEDIUM
            if not registered:
                # A load plateau at a site not registered for AI compute may be any industry:
                # on its own it is weak evidence (other methods must say "data centre").
                sev = min(sev, Severity.MEDIUM)
            ev = [
                Evidence(
                    "reported",
                    "energy",
                    f"energy:{site}",
                    f"{run.readings} readings {iso_minute(run.start)} .. {iso_minute(run.end)},"
                    f" mean {run.mean_power_w / 1e6:.3g} MW against a baseline of"
                    f" {run.baseline_w / 1e6:.3g} MW",
                    run.mean_power_w,
                ),
                Evidence(
                    "calculated",
                    "energy",
                    "runs.detect_runs",
                    f"{run.hours:.0f} h plateau, {format_watt_hours(run.energy_kwh * 1e3)} above"
                    " baseline",
                    run.energy_kwh,
                ),
                estimate_evidence(
                    est,
                    f"training compute {est.flop:.3g} FLOP ({est.level:.0%} interval"
                    f" {est.low:.3g} .. {est.high:.3g}) assuming {hw_name}",
                    "estimate.from_energy",
                ),
                Evidence(
                    "reported",
                    "registry",
                    f"licenses:{site}" if registered else f"facilities:{site}",
                    f"licensed compute at the site in the period: {licensed:.3g} FLOP"
                    if registered
                    else "the site is not a registered facility",
                    licensed,
                ),
            ]
            out.append(
                Finding(
                    "unlicensed_run",
                    sev,
                    f"an energy plateau at {site} implies ~{est.flop:.2g} FLOP of training,"
                    f" above the {licensed:.2g} FLOP licensed there",
                    Method.ENERGY,
                    tuple(ev),
                    run.end,
                    site=site,
                    owner=owner,
                )
            )
    return out


def power_beyond_chips(ctx: Context) -> list[Finding]:
    """A site drawing more power than its registered chips could: unregistered hardware."""
    out: list[Finding] = []
    for site, (runs, _bad, _hw) in sorted(ctx.runs.items()):
        chips = ctx.registry.chips_at(site)
        if not chips or not runs:
            continue
        tdp = 0.0
        for c in chips:
            hw = ctx.hardware.get(c.hardware) if c.hardware in ctx.hardware else None
            if hw is None or hw.tdp_w is None:
                tdp = 0.0
                break
            tdp += hw.tdp_w
        if tdp <= 0:
            continue
        max_w = tdp * SERVER_OVERHEAD * DEFAULT_PUE
        worst = max(runs, key=lambda r: r.mean_power_w)
        if worst.mean_power_w <= max_w * ctx.params.chip_power_factor:
            continue
        out.append(
            Finding(
                "power_beyond_chips",
                Severity.HIGH,
                f"{site} drew {worst.mean_power_w / 1e6:.3g} MW for {worst.hours:.0f} h; its"
                f" {len(chips)} registered chips can draw about {max_w / 1e6:.3g} MW",
                Method.ENERGY,
                (
                    Evidence(
                        "reported",
                        "energy",
                        f"energy:{site}",
                        f"mean {worst.mean_power_w / 1e6:.4g} MW {iso_minute(worst.start)} .. "
                        f"{iso_minute(worst.end)}",
                        worst.mean_power_w,
                    ),
                    Evidence(
                        "reported", "registry", f"chips:{site}", f"{len(chips)} chips", len(chips)
                    ),
                    Evidence(
                        "calculated",
                        "registry",
                        "sum of TDP x server overhead x PUE",
                        f"{max_w / 1e6:.4g} MW at most",
                        max_w,
                    ),
                ),
                worst.end,
                site=site,
                owner=ctx.registry.owner_of(site),
            )
        )
    return out


def implausible_energy(ctx: Context) -> list[Finding]:
    """Readings orders of magnitude above declared capacity: flagged, never used."""
    out: list[Finding] = []
    for site, (_runs, bad, _hw) in sorted(ctx.runs.items()):
        if not bad:
            continue
        fac = ctx.registry.facilities[site]
        ev = tuple(
            Evidence(
                "reported",
                "energy",
                f"energy:{site}@{r.time.isoformat()}",
                f"{r.power_w / 1e6:.4g} MW against {(fac.declared_w or 0) / 1e6:.4g} MW declared",
                r.power_w,
            )
            for r in bad[:20]
        )
        out.append(
            Finding(
                "implausible_energy",
                Severity.INFO,
                f"{len(bad)} energy reading(s) at {site} exceed the declared capacity by more"
                f" than {ctx.params.runs.implausible_factor:g}x; set aside as impossible",
                Method.ENERGY,
                ev,
                max(r.time for r in bad),
                site=site,
                owner=fac.owner_id,
            )
        )
    return out
