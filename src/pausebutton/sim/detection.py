"""Act 11: the verification engine over the seeded scenario generator's signals."""

from __future__ import annotations

from pausebutton.sim.results import StepResult, TableData, expect
from pausebutton.sim.world import Demo


def step_detect(d: Demo, r: StepResult) -> None:
    from pausebutton.bench.detect import _t, generate
    from pausebutton.detect import fusion
    from pausebutton.detect.io import bundled_hardware
    from pausebutton.detect.rules import Context, Params, run_rules
    from pausebutton.detect.runs import RunParams

    actors, days = (16, 45) if d.quick else (30, 60)
    reg, signals, truth = generate(actors, days, 7)
    params = Params(threshold_flop=1e21, runs=RunParams(min_hours=48, min_delta_w=20e3))
    ctx = Context(reg, signals, bundled_hardware(), _t(days), params)
    findings = run_rules(ctx)
    alerts = fusion.alerts(findings)
    violators = {a.owner for a in truth if a.violator} | {a.site for a in truth if a.violator}
    honest = {a.owner for a in truth if not a.violator} | {a.site for a in truth if not a.violator}
    true_alerts = [a for a in alerts if a.subject in violators]
    false_alerts = [a for a in alerts if a.subject in honest]
    caught = {
        a.owner for a in truth if a.violator and any(x.subject in (a.owner, a.site) for x in alerts)
    }
    n_viol = sum(1 for a in truth if a.violator)
    expect(len(alerts) > 0, "the engine raised no alert")
    expect(len(true_alerts) > 0, "no alert names a violator")
    expect(all(a.evidence for a in alerts), "an alert carries no evidence")
    kinds = {a.owner: a.kind for a in truth}
    rows = []
    for a in alerts[:8]:
        ev = a.evidence[0]
        rows.append(
            [
                a.subject,
                kinds.get(a.subject, next((t.kind for t in truth if t.site == a.subject), "?")),
                f"{a.probability:.2f}",
                ", ".join(sorted(a.contributions)),
                (getattr(ev, "text", None) or str(ev))[:48],
            ]
        )
    r.tables.append(
        TableData(
            "fused alerts (strongest first)",
            ["subject", "truth", "p", "methods", "evidence (first)"],
            rows,
        )
    )
    r.notes.append("signals come from the seeded scenario generator (simulated world)")
    r.data = {
        "actors": actors,
        "violators": n_viol,
        "signals": len(signals),
        "findings": len(findings),
        "alerts": len(alerts),
        "true_alerts": len(true_alerts),
        "false_alerts": len(false_alerts),
        "violators_caught": len(caught),
    }
    r.summary = (
        f"{len(signals)} signals from {actors} actors -> {len(findings)} findings ->"
        f" {len(alerts)} alerts; {len(caught)}/{n_viol} violators caught,"
        f" {len(false_alerts)} alerts on honest actors"
    )
