"""Benchmark of the verification engine on generated scenarios.

A seeded scenario generator builds a small world (a registry and the signals
of all ten methods over ``days`` days) in which every actor is one of:

* ``honest``          registered site; may run *licensed* training runs;
* ``honest_industry`` an unregistered industrial site (smelter, steel) whose
                      load steps up and down — a source of false alerts;
* ``covert_small`` / ``covert_medium`` / ``covert_large``
                      registered site running an unlicensed run using 15 %,
                      35 % or 70 % of its chips; some tamper with the meter;
* ``smuggle_import``  registered owner bringing in unregistered chips;
* ``smuggle_divert``  registered owner moving registered chips abroad;
* ``disguised``       an AI cluster hidden as "other industry": unregistered
                      site, flat load from day 0 (no change point to find).

Each method's signals are generated with stated detection probabilities and
noise (:data:`ASSUMPTIONS`; they are modelling assumptions, not measurements).
The world is scaled down (tens to hundreds of chips per site) so that chip
usage reports stay per chip; compute thresholds are scaled with it.

Then the real engine (rules + fusion) scores every actor, once with all
signals (``fused``) and once per method with that method's signals alone. For
each scorer the alert threshold is set so that at most ``far`` of the honest
actors are flagged at the end of the window, and we report at that
threshold the actual false-alert rate, precision, recall (overall and per
scenario kind) and the time to detection (days from the start of the
violation to the first cutoff at which the actor's score crosses the
threshold).
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pausebutton.detect import fusion
from pausebutton.detect.io import bundled_hardware
from pausebutton.detect.registry import Chip, Facility, License, Owner, Registry
from pausebutton.detect.rules import Context, Finding, Params, SignalSet, run_rules
from pausebutton.detect.runs import RunParams
from pausebutton.detect.signals import (
    CustomsRecord,
    DataCenterInspection,
    DeveloperInspection,
    EnergyReading,
    FabInspection,
    FinancialTxn,
    LocationResult,
    Method,
    RemoteSensing,
    UsageRecord,
    WhistleReport,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HW = "NVIDIA H100 SXM5 80GB"
CHIP_W = 700.0 * 1.8 * 1.1
"""Facility watts per busy chip: TDP x server overhead x PUE."""
PEAK = 9.89e14
IDLE = 0.25
"""Idle power fraction of a chip."""

ASSUMPTIONS: dict[str, float] = {
    "energy_interval_hours": 6,
    "energy_noise": 0.03,
    "meter_tamper_prob_covert": 0.3,
    "remote_sensing_every_days": 7,
    "remote_sensing_cloud_prob": 0.3,
    "remote_sensing_noise": 0.25,
    "whistle_prob_violator": 0.3,
    "whistle_prob_honest": 0.04,
    "customs_declared_prob_smuggler": 0.6,
    "customs_serials_prob": 0.5,
    "customs_lag_prob_honest": 0.04,
    "financial_seen_prob_violator": 0.5,
    "financial_noise_prob_honest": 0.03,
    "dc_inspection_prob": 0.25,
    "developer_audit_prob": 0.2,
    "developer_find_prob": 0.7,
    "location_sample_chips": 8,
    "location_every_days": 10,
    "location_false_prob": 0.0005,
    "usage_period_days": 10,
}

KINDS: dict[str, float] = {
    "honest": 0.58,
    "honest_industry": 0.12,
    "covert_small": 0.06,
    "covert_medium": 0.06,
    "covert_large": 0.06,
    "smuggle_import": 0.04,
    "smuggle_divert": 0.04,
    "disguised": 0.04,
}
COVERT_FRACTION = {"covert_small": 0.15, "covert_medium": 0.35, "covert_large": 0.7}


@dataclass
class Actor:
    owner: str
    site: str
    kind: str
    start_day: float
    chips: int

    @property
    def violator(self) -> bool:
        return not self.kind.startswith("honest")


def _t(day: float) -> datetime:
    return T0 + timedelta(days=day)


def _kinds(n: int, rng: random.Random) -> list[str]:
    kinds: list[str] = []
    for k, share in KINDS.items():
        kinds.extend([k] * max(1, round(n * share)))
    while len(kinds) < n:
        kinds.append("honest")
    rng.shuffle(kinds)
    return kinds[:n] if len(kinds) <= n else kinds


def generate(n_actors: int, days: int, seed: int) -> tuple[Registry, SignalSet, list[Actor]]:  # noqa: C901 (one scenario generator: each branch is one signal kind of the stated assumptions)
    """The registry, every signal, and the ground truth."""
    rng = random.Random(seed)
    a = ASSUMPTIONS
    owners: list[Owner] = []
    facilities: list[Facility] = []
    chips: list[Chip] = []
    licenses: list[License] = []
    sig: list[Any] = []
    actors: list[Actor] = []
    fab_out: dict[str, int] = defaultdict(int)
    step_h = a["energy_interval_hours"]
    steps = int(days * 24 / step_h)

    for idx, kind in enumerate(_kinds(n_actors, rng)):
        owner, site = f"owner-{idx:03d}", f"site-{idx:03d}"
        n_chips = rng.randint(48, 256)
        start = rng.uniform(10, days * 0.55) if kind != "disguised" else 0.0
        actor = Actor(owner, site, kind, start, n_chips)
        actors.append(actor)
        registered = kind not in ("honest_industry", "disguised")
        serials = [f"{site}-c{i:04d}" for i in range(n_chips)]
        fab = f"fab-{idx % 2}"
        if registered:
            owners.append(Owner(owner, owner, "NL"))
            facilities.append(Facility(site, owner, "NL", n_chips * CHIP_W * 1.25))
            for s in serials:
                chips.append(Chip(s, HW, site, owner, fab))
            fab_out[fab] += n_chips
        # -- load profile (fraction of chips busy), per step
        base = rng.uniform(0.3, 0.5)
        busy = [base] * steps
        run_frac = 0.0
        run_len = 0.0
        licensed_runs: list[tuple[float, float, float]] = []
        if kind == "honest" and rng.random() < 0.5:
            run_frac = rng.uniform(0.2, 0.5)
            run_len = rng.uniform(10, 35)
            licensed_runs.append((start, start + run_len, run_frac))
        elif kind in COVERT_FRACTION:
            run_frac = COVERT_FRACTION[kind]
            run_len = rng.uniform(15, 45)
        elif kind == "smuggle_import":
            run_frac = rng.uniform(0.3, 0.6)
            run_len = days - start
        if run_frac:
            for i in range(steps):
                d = i * step_h / 24
                if start <= d < start + run_len:
                    busy[i] = min(1.0, base + run_frac)
        extra_chips = 0
        if kind == "smuggle_import":
            extra_chips = int(n_chips * rng.uniform(0.3, 0.8))
        if kind == "honest_industry":
            level = rng.uniform(0.3, 0.6)
            busy = []
            for _ in range(steps):
                if rng.random() < 0.01:
                    level = rng.uniform(0.2, 1.0)
                busy.append(level)
        if kind == "disguised":
            busy = [rng.uniform(0.85, 0.95)] * steps
        capacity_w = (n_chips + extra_chips) * CHIP_W
        power = [
            capacity_w
            * (IDLE + (1 - IDLE) * b)
            * (1 + 0.03 * math.sin(2 * math.pi * i * step_h / 24))
            for i, b in enumerate(busy)
        ]
        tamper = kind in COVERT_FRACTION and rng.random() < a["meter_tamper_prob_covert"]
        for i, p in enumerate(power):
            shown = p
            if tamper:
                shown = capacity_w * (IDLE + (1 - IDLE) * base)
            shown *= 1 + rng.gauss(0, a["energy_noise"])
            sig.append(
                EnergyReading(
                    site, _t((i + 1) * step_h / 24), max(shown, 0.0), step_h * 3600, "grid"
                )
            )
        # -- training licenses for the licensed runs (sized generously)
        if registered:
            for s0, s1, frac in licensed_runs:
                flop = n_chips * frac * PEAK * 0.4 * (s1 - s0) * 86400 * rng.uniform(1.5, 3.0)
                licenses.append(
                    License(f"lic-{idx}-run", owner, flop, _t(s0 - 1), _t(s1 + 1), site)
                )
        # -- remote sensing
        day = rng.uniform(0, a["remote_sensing_every_days"])
        n = 0
        while day < days:
            if rng.random() > a["remote_sensing_cloud_prob"]:
                i = min(int(day * 24 / step_h), steps - 1)
                heat = power[i] * max(0.1, rng.gauss(1.0, a["remote_sensing_noise"]))
                if kind == "honest_industry":
                    conf = rng.uniform(0.0, 0.6)
                elif kind == "disguised":
                    conf = rng.uniform(0.3, 0.95)
                else:
                    conf = rng.uniform(0.5, 0.95)
                sig.append(RemoteSensing(f"rs-{idx}-{n}", site, _t(day), heat, conf, "sim"))
                n += 1
            day += a["remote_sensing_every_days"]
        # -- whistleblowers
        p_w = a["whistle_prob_violator"] if actor.violator else a["whistle_prob_honest"]
        if rng.random() < p_w:
            wd = rng.uniform(start, days) if actor.violator else rng.uniform(0, days)
            sig.append(
                WhistleReport(
                    f"wb-{idx}",
                    _t(wd),
                    "unlicensed training or hidden chips",
                    site=site,
                    owner=owner,
                    credibility=rng.uniform(0.3, 0.9),
                )
            )
        # -- customs and financial
        if registered:
            k = rng.randint(8, 32)
            new = serials[-k:]
            lag = kind == "honest" and rng.random() < a["customs_lag_prob_honest"]
            late = [f"{site}-late-{j}" for j in range(rng.randint(1, 4))] if lag else []
            shown_serials = (*new, *late)
            sig.append(
                CustomsRecord(
                    f"cu-{idx}-0",
                    _t(rng.uniform(0, days)),
                    "8542.31",
                    "vendor",
                    owner,
                    "TW",
                    "NL",
                    len(shown_serials),
                    len(shown_serials) * 25000.0,
                    tuple(shown_serials),
                    HW,
                )
            )
            sig.append(
                FinancialTxn(
                    f"fi-{idx}-0",
                    _t(rng.uniform(0, days)),
                    owner,
                    "vendor",
                    k * 25000.0,
                    "chips",
                    k,
                    HW,
                    "NL",
                )
            )
            if kind == "honest" and rng.random() < a["financial_noise_prob_honest"]:
                q = n_chips + rng.randint(20, 60)
                sig.append(
                    FinancialTxn(
                        f"fi-{idx}-n",
                        _t(rng.uniform(0, days)),
                        owner,
                        "vendor",
                        q * 25000.0,
                        "chips",
                        q,
                        HW,
                        "NL",
                    )
                )
        if kind in ("smuggle_import", "disguised"):
            q = extra_chips if kind == "smuggle_import" else n_chips
            if rng.random() < a["customs_declared_prob_smuggler"]:
                ser: tuple[str, ...] = ()
                if rng.random() < a["customs_serials_prob"]:
                    ser = tuple(f"{site}-x{j:04d}" for j in range(q))
                sig.append(
                    CustomsRecord(
                        f"cu-{idx}-1",
                        _t(rng.uniform(start, days)),
                        "8473.30",
                        "broker",
                        owner,
                        "HK",
                        "NL",
                        q,
                        q * 20000.0,
                        ser,
                        HW,
                    )
                )
            if rng.random() < a["financial_seen_prob_violator"]:
                sig.append(
                    FinancialTxn(
                        f"fi-{idx}-1",
                        _t(rng.uniform(start, days)),
                        owner,
                        "broker",
                        q * 30000.0,
                        "chips",
                        q,
                        HW,
                        "NL",
                    )
                )
            if kind == "smuggle_import":
                fab_out[fab] += q
        # -- data-center inspection (registered sites)
        if registered and rng.random() < a["dc_inspection_prob"]:
            iday = rng.uniform(0, days)
            seen = list(serials)
            if kind == "smuggle_divert" and iday >= start:
                seen = seen[: int(len(seen) * 0.6)]
            if kind == "smuggle_import" and iday >= start:
                seen += [f"{site}-x{j:04d}" for j in range(extra_chips)]
            if rng.random() < 0.3 and len(seen) > 2:
                seen = seen[:-1]  # an honest miscount
            sig.append(DataCenterInspection(f"dc-{idx}", site, _t(iday), tuple(seen)))
        # -- AI-developer audits
        if registered and rng.random() < a["developer_audit_prob"]:
            aday = rng.uniform(0, days)
            undeclared = 0
            if (
                kind in COVERT_FRACTION
                and aday >= start
                and rng.random() < a["developer_find_prob"]
            ):
                undeclared = 1
            sig.append(
                DeveloperInspection(f"ai-{idx}", owner, _t(aday), len(licensed_runs), undeclared)
            )
        # -- chip location checks
        if registered:
            day = rng.uniform(0, a["location_every_days"])
            diverted = (
                set(serials[int(len(serials) * 0.6) :]) if kind == "smuggle_divert" else set()
            )
            while day < days:
                for s in rng.sample(serials, min(int(a["location_sample_chips"]), len(serials))):
                    bad = (s in diverted and day >= start) or rng.random() < a[
                        "location_false_prob"
                    ]
                    sig.append(LocationResult(s, site, _t(day), not bad, 900.0 if bad else None))
                day += a["location_every_days"]
        # -- chip usage reports (per chip per period): what the chips admit to
        if registered:
            period = a["usage_period_days"]
            p0 = 0.0
            while p0 < days:
                p1 = min(p0 + period, days)
                frac = base
                for s0, s1, fr in licensed_runs:
                    ov = max(0.0, min(p1, s1) - max(p0, s0))
                    frac += fr * ov / (p1 - p0)
                flop_each = PEAK * 0.4 * frac * (p1 - p0) * 86400
                for s in serials:
                    if kind == "smuggle_divert" and s in diverted and p0 >= start:
                        continue
                    sig.append(UsageRecord(s, site, _t(p0), _t(p1), flop_each))
                p0 = p1
    for fab, total in sorted(fab_out.items()):
        sig.append(FabInspection(f"fab-{fab}", fab, _t(days), float(days), total // 60 + 1, total))
    reg = Registry.build(owners, facilities, chips, licenses)
    ss = SignalSet.of(sig)
    ss.sort()
    return reg, ss, actors


def _entity_scores(findings: list[Finding], actors: list[Actor]) -> dict[str, float]:
    by_site, by_owner = fusion.by_subject(findings)
    out: dict[str, float] = {}
    for a in actors:
        fs = {id(f): f for f in (*by_site.get(a.site, []), *by_owner.get(a.owner, []))}
        sc = fusion.score_findings("entity", a.owner, list(fs.values()), fusion.PRIOR_ODDS)
        out[a.owner] = sc.log10_odds
    return out


def _threshold(honest: list[float], far: float) -> float:
    """Smallest threshold t (strictly above a score) with share(honest >= t) <= far."""
    cands = sorted(set(honest), reverse=True)
    best = (max(honest) + 1e-6) if honest else 0.0
    for c in cands:
        t = c + 1e-9
        if sum(1 for h in honest if h >= t) / len(honest) <= far:
            best = t
        else:
            break
    floor = math.log10(fusion.PRIOR_ODDS) + 1e-9
    return max(best, floor)


def run(
    quick: bool = False,
    *,
    actors: int | None = None,
    days: int | None = None,
    seed: int = 7,
    far: float = 0.05,
) -> dict[str, Any]:
    t_start = time.perf_counter()
    n = actors or (60 if quick else 200)
    d = days or (60 if quick else 120)
    reg, signals, truth = generate(n, d, seed)
    hw = bundled_hardware()
    params = Params(threshold_flop=1e21, runs=RunParams(min_hours=48, min_delta_w=20e3))
    cutoffs = [float(x) for x in range(7, d + 1, 7 if quick else 3)]
    if cutoffs[-1] != d:
        cutoffs.append(float(d))
    scorers: dict[str, list[Method]] = {m.value: [m] for m in Method}
    scorers["fused"] = list(Method)
    timeline: dict[str, list[dict[str, float]]] = {}
    for name, methods in scorers.items():
        sub = signals.only(methods)
        series = []
        for c in cutoffs:
            ctx = Context(reg, sub.until(_t(c)), hw, _t(c), params)
            series.append(_entity_scores(run_rules(ctx), truth))
        timeline[name] = series
    honest = [a for a in truth if not a.violator]
    viol = [a for a in truth if a.violator]
    results: dict[str, Any] = {}
    for name in scorers:
        final = timeline[name][-1]
        thr = _threshold([final[a.owner] for a in honest], far)
        fp = sum(1 for a in honest if final[a.owner] >= thr)
        tp_actors = [a for a in viol if final[a.owner] >= thr]
        per_kind: dict[str, str] = {}
        for k in KINDS:
            ks = [a for a in viol if a.kind == k]
            if ks:
                per_kind[k] = f"{sum(1 for a in ks if final[a.owner] >= thr)}/{len(ks)}"
        delays: list[float] = []
        for a in tp_actors:
            for c, snap in zip(cutoffs, timeline[name], strict=True):
                if snap[a.owner] >= thr:
                    delays.append(round(max(0.0, c - a.start_day), 2))
                    break
        delays.sort()
        alerts = fp + len(tp_actors)
        thr0 = _threshold([final[a.owner] for a in honest], 0.0)
        results[name] = {
            "recall_at_zero_false_alerts": round(
                sum(1 for a in viol if final[a.owner] >= thr0) / len(viol), 4
            ),
            "threshold_log10_odds": round(thr, 3),
            "false_alert_rate": round(fp / len(honest), 4),
            "precision": round(len(tp_actors) / alerts, 4) if alerts else None,
            "recall": round(len(tp_actors) / len(viol), 4),
            "recall_by_kind": per_kind,
            "median_days_to_detection": delays[len(delays) // 2] if delays else None,
            "mean_days_to_detection": round(sum(delays) / len(delays), 2) if delays else None,
        }
    best_single = max(results[m.value]["recall"] for m in Method)
    return {
        "benchmark": "detect",
        "actors": n,
        "violators": len(viol),
        "honest": len(honest),
        "days": d,
        "seed": seed,
        "target_false_alert_rate": far,
        "cutoff_step_days": cutoffs[1] - cutoffs[0] if len(cutoffs) > 1 else d,
        "signals": len(signals),
        "methods": results,
        "fused_recall": results["fused"]["recall"],
        "best_single_method_recall": best_single,
        "fused_beats_every_single_method": results["fused"]["recall"] > best_single,
        "assumptions": ASSUMPTIONS,
        "scenario_mix": KINDS,
        "seconds": round(time.perf_counter() - t_start, 2),
    }
