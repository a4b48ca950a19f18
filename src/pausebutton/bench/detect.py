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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pausebutton.bench import phase
from pausebutton.detect import fusion
from pausebutton.detect.io import bundled_hardware
from pausebutton.detect.registry import Chip, CustodyStep, Facility, License, Owner, Registry
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
    "gnss_every_days": 5,
    "gnss_sample_chips": 8,
    "gnss_catch_prob_diverted": 0.9,
    "gnss_false_prob": 0.0002,
    "custody_exported_days_before": 30,
    "customs_divert_declared_prob": 0.5,
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


@dataclass
class _World:
    """What :func:`generate` builds: the registry's rows, the signals, the ground truth."""

    days: int
    step_h: float
    steps: int
    owners: list[Owner] = field(default_factory=list)
    facilities: list[Facility] = field(default_factory=list)
    chips: list[Chip] = field(default_factory=list)
    licenses: list[License] = field(default_factory=list)
    sig: list[Any] = field(default_factory=list)
    custody: list[CustodyStep] = field(default_factory=list)
    actors: list[Actor] = field(default_factory=list)
    seed: int = 0
    fab_out: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@dataclass
class _Site:
    """One actor's site while its signals are generated (each step adds to it)."""

    idx: int
    actor: Actor
    registered: bool
    serials: list[str]
    fab: str
    base: float = 0.0
    """Fraction of the chips busy outside any run."""
    licensed_runs: list[tuple[float, float, float]] = field(default_factory=list)
    """(start day, end day, fraction of chips) of each licensed training run."""
    extra_chips: int = 0
    """Unregistered chips a smuggler brought in."""
    power: list[float] = field(default_factory=list)
    """True facility power per energy step."""

    @property
    def diverted(self) -> set[str]:
        """The registered chips a diverter moved abroad (from its start day)."""
        if self.actor.kind != "smuggle_divert":
            return set()
        return set(self.serials[int(len(self.serials) * 0.6) :])


def generate(n_actors: int, days: int, seed: int) -> tuple[Registry, SignalSet, list[Actor]]:
    """The registry, every signal, and the ground truth.

    Each actor's signals come from one function per kind of signal, called in a fixed
    order on one seeded random stream (so a seed gives the same world)."""
    rng = random.Random(seed)
    step_h = ASSUMPTIONS["energy_interval_hours"]
    w = _World(days, step_h, int(days * 24 / step_h), seed=seed)
    for idx, kind in enumerate(_kinds(n_actors, rng)):
        s = _new_site(w, idx, kind, rng)
        busy = _load_profile(w, s, rng)
        _energy(w, s, busy, rng)
        _licenses(w, s, rng)
        _remote_sensing(w, s, rng)
        _whistle(w, s, rng)
        _registered_trade(w, s, rng)
        _smuggled_trade(w, s, rng)
        _dc_inspection(w, s, rng)
        _developer_audit(w, s, rng)
        _location_checks(w, s, rng)
        _usage_reports(w, s)
        # the authority's own evidence beyond the chips' reports: custody signed by the
        # supply chain and GNSS fixes checked against light speed. Drawn from a stream of
        # their own, so the signals above stay those of the same seed
        own = random.Random(f"{seed}:{s.idx}:authority")
        _custody(w, s, own)
        _gnss(w, s, own)
    for fab, total in sorted(w.fab_out.items()):
        w.sig.append(
            FabInspection(f"fab-{fab}", fab, _t(days), float(days), total // 60 + 1, total)
        )
    reg = Registry.build(w.owners, w.facilities, w.chips, w.licenses, w.custody)
    ss = SignalSet.of(w.sig)
    ss.sort()
    return reg, ss, w.actors


def _new_site(w: _World, idx: int, kind: str, rng: random.Random) -> _Site:
    """The actor, and for a registered one its owner, facility and chips."""
    owner, site = f"owner-{idx:03d}", f"site-{idx:03d}"
    n_chips = rng.randint(48, 256)
    start = rng.uniform(10, w.days * 0.55) if kind != "disguised" else 0.0
    actor = Actor(owner, site, kind, start, n_chips)
    w.actors.append(actor)
    registered = kind not in ("honest_industry", "disguised")
    serials = [f"{site}-c{i:04d}" for i in range(n_chips)]
    fab = f"fab-{idx % 2}"
    if registered:
        w.owners.append(Owner(owner, owner, "NL"))
        w.facilities.append(Facility(site, owner, "NL", n_chips * CHIP_W * 1.25))
        for serial in serials:
            w.chips.append(Chip(serial, HW, site, owner, fab, f"id-{serial}"))
        w.fab_out[fab] += n_chips
    return _Site(idx, actor, registered, serials, fab)


def _run_shape(s: _Site, days: int, rng: random.Random) -> tuple[float, float]:
    """(fraction of chips, days) of the actor's training run; ``(0, 0)`` for none."""
    kind, start = s.actor.kind, s.actor.start_day
    if kind == "honest" and rng.random() < 0.5:
        run_frac = rng.uniform(0.2, 0.5)
        run_len = rng.uniform(10, 35)
        s.licensed_runs.append((start, start + run_len, run_frac))
        return run_frac, run_len
    if kind in COVERT_FRACTION:
        return COVERT_FRACTION[kind], rng.uniform(15, 45)
    if kind == "smuggle_import":
        return rng.uniform(0.3, 0.6), days - start
    return 0.0, 0.0


def _load_profile(w: _World, s: _Site, rng: random.Random) -> list[float]:
    """The fraction of chips busy, per energy step."""
    kind, start = s.actor.kind, s.actor.start_day
    s.base = rng.uniform(0.3, 0.5)
    busy = [s.base] * w.steps
    run_frac, run_len = _run_shape(s, w.days, rng)
    if run_frac:
        for i in range(w.steps):
            d = i * w.step_h / 24
            if start <= d < start + run_len:
                busy[i] = min(1.0, s.base + run_frac)
    if kind == "smuggle_import":
        s.extra_chips = int(s.actor.chips * rng.uniform(0.3, 0.8))
    if kind == "honest_industry":
        level = rng.uniform(0.3, 0.6)
        busy = []
        for _ in range(w.steps):
            if rng.random() < 0.01:
                level = rng.uniform(0.2, 1.0)
            busy.append(level)
    if kind == "disguised":
        busy = [rng.uniform(0.85, 0.95)] * w.steps
    return busy


def _energy(w: _World, s: _Site, busy: list[float], rng: random.Random) -> None:
    """Energy readings: the true power with a daily cycle and noise, or a tampered meter."""
    a = ASSUMPTIONS
    capacity_w = (s.actor.chips + s.extra_chips) * CHIP_W
    s.power = [
        capacity_w
        * (IDLE + (1 - IDLE) * b)
        * (1 + 0.03 * math.sin(2 * math.pi * i * w.step_h / 24))
        for i, b in enumerate(busy)
    ]
    tamper = s.actor.kind in COVERT_FRACTION and rng.random() < a["meter_tamper_prob_covert"]
    for i, p in enumerate(s.power):
        shown = p
        if tamper:
            shown = capacity_w * (IDLE + (1 - IDLE) * s.base)
        shown *= 1 + rng.gauss(0, a["energy_noise"])
        w.sig.append(
            EnergyReading(
                s.actor.site, _t((i + 1) * w.step_h / 24), max(shown, 0.0), w.step_h * 3600, "grid"
            )
        )


def _licenses(w: _World, s: _Site, rng: random.Random) -> None:
    """Training licences for the licensed runs (sized generously)."""
    if not s.registered:
        return
    for s0, s1, frac in s.licensed_runs:
        flop = s.actor.chips * frac * PEAK * 0.4 * (s1 - s0) * 86400 * rng.uniform(1.5, 3.0)
        w.licenses.append(
            License(f"lic-{s.idx}-run", s.actor.owner, flop, _t(s0 - 1), _t(s1 + 1), s.actor.site)
        )


def _remote_sensing(w: _World, s: _Site, rng: random.Random) -> None:
    """Heat seen on passes every few days, when no cloud hides the site."""
    a = ASSUMPTIONS
    kind = s.actor.kind
    day = rng.uniform(0, a["remote_sensing_every_days"])
    n = 0
    while day < w.days:
        if rng.random() > a["remote_sensing_cloud_prob"]:
            i = min(int(day * 24 / w.step_h), w.steps - 1)
            heat = s.power[i] * max(0.1, rng.gauss(1.0, a["remote_sensing_noise"]))
            if kind == "honest_industry":
                conf = rng.uniform(0.0, 0.6)
            elif kind == "disguised":
                conf = rng.uniform(0.3, 0.95)
            else:
                conf = rng.uniform(0.5, 0.95)
            w.sig.append(RemoteSensing(f"rs-{s.idx}-{n}", s.actor.site, _t(day), heat, conf, "sim"))
            n += 1
        day += a["remote_sensing_every_days"]


def _whistle(w: _World, s: _Site, rng: random.Random) -> None:
    """At most one whistleblower report (more likely about a violator)."""
    a = ASSUMPTIONS
    actor = s.actor
    p_w = a["whistle_prob_violator"] if actor.violator else a["whistle_prob_honest"]
    if rng.random() < p_w:
        wd = rng.uniform(actor.start_day, w.days) if actor.violator else rng.uniform(0, w.days)
        w.sig.append(
            WhistleReport(
                f"wb-{s.idx}",
                _t(wd),
                "unlicensed training or hidden chips",
                site=actor.site,
                owner=actor.owner,
                credibility=rng.uniform(0.3, 0.9),
            )
        )


def _registered_trade(w: _World, s: _Site, rng: random.Random) -> None:
    """A registered owner's declared import and its payment (an honest one may lag or
    pay for more than it registers)."""
    if not s.registered:
        return
    a = ASSUMPTIONS
    kind, owner, days = s.actor.kind, s.actor.owner, w.days
    k = rng.randint(8, 32)
    new = s.serials[-k:]
    lag = kind == "honest" and rng.random() < a["customs_lag_prob_honest"]
    late = [f"{s.actor.site}-late-{j}" for j in range(rng.randint(1, 4))] if lag else []
    shown_serials = (*new, *late)
    w.sig.append(
        CustomsRecord(
            f"cu-{s.idx}-0",
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
    w.sig.append(
        FinancialTxn(
            f"fi-{s.idx}-0",
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
        q = s.actor.chips + rng.randint(20, 60)
        w.sig.append(
            FinancialTxn(
                f"fi-{s.idx}-n",
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


def _smuggled_trade(w: _World, s: _Site, rng: random.Random) -> None:
    """The unregistered chips of a smuggler or a disguised cluster: sometimes declared
    (with or without serials), sometimes seen paid for."""
    kind = s.actor.kind
    if kind not in ("smuggle_import", "disguised"):
        return
    a = ASSUMPTIONS
    owner, start, days = s.actor.owner, s.actor.start_day, w.days
    q = s.extra_chips if kind == "smuggle_import" else s.actor.chips
    if rng.random() < a["customs_declared_prob_smuggler"]:
        ser: tuple[str, ...] = ()
        if rng.random() < a["customs_serials_prob"]:
            ser = tuple(f"{s.actor.site}-x{j:04d}" for j in range(q))
        w.sig.append(
            CustomsRecord(
                f"cu-{s.idx}-1",
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
        w.sig.append(
            FinancialTxn(
                f"fi-{s.idx}-1",
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
        w.fab_out[s.fab] += q


def _dc_inspection(w: _World, s: _Site, rng: random.Random) -> None:
    """A data-centre inspection of a registered site, counting chips by serial."""
    if not (s.registered and rng.random() < ASSUMPTIONS["dc_inspection_prob"]):
        return
    kind, start, site = s.actor.kind, s.actor.start_day, s.actor.site
    iday = rng.uniform(0, w.days)
    seen = list(s.serials)
    if kind == "smuggle_divert" and iday >= start:
        seen = seen[: int(len(seen) * 0.6)]
    if kind == "smuggle_import" and iday >= start:
        seen += [f"{site}-x{j:04d}" for j in range(s.extra_chips)]
    if rng.random() < 0.3 and len(seen) > 2:
        seen = seen[:-1]  # an honest miscount
    w.sig.append(DataCenterInspection(f"dc-{s.idx}", site, _t(iday), tuple(seen)))


def _developer_audit(w: _World, s: _Site, rng: random.Random) -> None:
    """An audit of a registered developer, which may find the covert run."""
    a = ASSUMPTIONS
    if not (s.registered and rng.random() < a["developer_audit_prob"]):
        return
    aday = rng.uniform(0, w.days)
    undeclared = 0
    if (
        s.actor.kind in COVERT_FRACTION
        and aday >= s.actor.start_day
        and rng.random() < a["developer_find_prob"]
    ):
        undeclared = 1
    w.sig.append(
        DeveloperInspection(
            f"ai-{s.idx}", s.actor.owner, _t(aday), len(s.licensed_runs), undeclared
        )
    )


def _location_checks(w: _World, s: _Site, rng: random.Random) -> None:
    """Location checks of a sample of a registered site's chips every few days."""
    if not s.registered:
        return
    a = ASSUMPTIONS
    diverted = s.diverted
    day = rng.uniform(0, a["location_every_days"])
    while day < w.days:
        for serial in rng.sample(s.serials, min(int(a["location_sample_chips"]), len(s.serials))):
            bad = (serial in diverted and day >= s.actor.start_day) or rng.random() < a[
                "location_false_prob"
            ]
            w.sig.append(
                LocationResult(serial, s.actor.site, _t(day), not bad, 900.0 if bad else None)
            )
        day += a["location_every_days"]


def _usage_reports(w: _World, s: _Site) -> None:
    """Chip usage reports (per chip per period): what the chips admit to."""
    if not s.registered:
        return
    period = ASSUMPTIONS["usage_period_days"]
    diverted = s.diverted
    divert = s.actor.kind == "smuggle_divert"
    p0 = 0.0
    while p0 < w.days:
        p1 = min(p0 + period, w.days)
        frac = s.base
        for s0, s1, fr in s.licensed_runs:
            ov = max(0.0, min(p1, s1) - max(p0, s0))
            frac += fr * ov / (p1 - p0)
        flop_each = PEAK * 0.4 * frac * (p1 - p0) * 86400
        for serial in s.serials:
            if divert and serial in diverted and p0 >= s.actor.start_day:
                continue
            w.sig.append(UsageRecord(serial, s.actor.site, _t(p0), _t(p1), flop_each))
        p0 = p1


def _custody(w: _World, s: _Site, rng: random.Random) -> None:
    """Every registered chip's custody: exported to the site's country and imported there
    before the scenario starts. A diverter re-exports some chips elsewhere without a
    licence; customs there sometimes declares them by serial."""
    if not s.registered:
        return
    a = ASSUMPTIONS
    exported = -float(a["custody_exported_days_before"])
    for serial in s.serials:
        cid = f"id-{serial}"
        for seq, (kind, day) in enumerate((("export", exported), ("import", exported + 7)), 1):
            w.custody.append(
                CustodyStep(
                    cid, str(seq), kind, _t(day).isoformat(), _t(day), country="NL",
                    party_id="vendor" if kind == "export" else "importer-nl",
                )
            )  # fmt: skip
    diverted = sorted(s.diverted)
    if s.actor.kind == "smuggle_divert" and rng.random() < a["customs_divert_declared_prob"]:
        day = rng.uniform(s.actor.start_day, w.days)
        w.sig.append(
            CustomsRecord(
                f"cu-{s.idx}-div",
                _t(day),
                "8473.30",
                s.actor.owner,
                "trading-co",
                "NL",
                "AE",
                len(diverted),
                len(diverted) * 20000.0,
                tuple(diverted),
                HW,
            )
        )


def _gnss(w: _World, s: _Site, rng: random.Random) -> None:
    """GNSS fixes of a sample of a registered site's chips every few days, checked against
    light speed: a diverted chip's fix (spoofed to look at home, or relayed) is caught
    with ``gnss_catch_prob_diverted``; an honest one is a false alarm rarely."""
    if not s.registered:
        return
    a = ASSUMPTIONS
    diverted = s.diverted
    day = rng.uniform(0, a["gnss_every_days"])
    while day < w.days:
        for serial in rng.sample(s.serials, min(int(a["gnss_sample_chips"]), len(s.serials))):
            gone = serial in diverted and day >= s.actor.start_day
            bad = (gone and rng.random() < a["gnss_catch_prob_diverted"]) or (
                rng.random() < a["gnss_false_prob"]
            )
            w.sig.append(
                LocationResult(serial, s.actor.site, _t(day), not bad, 900.0 if bad else None, GNSS)
            )
        day += a["gnss_every_days"]


GNSS = "gnss fix"
"""The detail of a GNSS fix's location result (the landmark checks' is empty)."""


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


OWN_EVIDENCE = (Method.USAGE_REPORT, Method.LOCATION)
"""The methods whose signals the authority gathers itself (with custody in the registry)."""


def _scorers(signals: SignalSet, reg: Registry) -> dict[str, tuple[SignalSet, Registry]]:
    """What each row of the table may use: each method alone, the same without the
    authority's newer evidence (GNSS fixes; custody), fused, and fused without any of the
    authority's own evidence (usage reports, location, custody)."""
    bare = Registry.build(reg.owners.values(), reg.facilities.values(), reg.chips.values(),
                          reg.licenses)  # fmt: skip
    every = [s for m in Method for s in signals.get(m)]

    def keep(pred: Any) -> SignalSet:
        sub = SignalSet.of(s for s in every if pred(s))
        sub.sort()
        return sub

    out: dict[str, tuple[SignalSet, Registry]] = {m.value: (signals.only([m]), reg) for m in Method}
    out["location: landmarks only"] = (
        keep(lambda s: isinstance(s, LocationResult) and s.detail != GNSS),
        reg,
    )
    out["customs: without custody"] = (signals.only([Method.CUSTOMS]), bare)
    out["fused"] = (signals, reg)
    out["fused: without the authority's evidence"] = (
        signals.only([m for m in Method if m not in OWN_EVIDENCE]),
        bare,
    )
    return out


def run(
    quick: bool = False,
    *,
    actors: int | None = None,
    days: int | None = None,
    seed: int = 7,
    far: float = 0.05,
    plot: Path | None = None,
) -> dict[str, Any]:
    from pausebutton.bench.detect_estimates import run_estimates

    phase("compute estimates on Epoch AI's notable models")
    estimates = run_estimates(plot)
    phase("generating scenarios")
    t_start = time.perf_counter()
    n = actors or (60 if quick else 200)
    d = days or (60 if quick else 120)
    reg, signals, truth = generate(n, d, seed)
    hw = bundled_hardware()
    params = Params(threshold_flop=1e21, runs=RunParams(min_hours=48, min_delta_w=20e3))
    cutoffs = [float(x) for x in range(7, d + 1, 7 if quick else 3)]
    if cutoffs[-1] != d:
        cutoffs.append(float(d))
    phase("running the verification engine")
    scorers = _scorers(signals, reg)
    timeline: dict[str, list[dict[str, float]]] = {}
    for name, (sub, registry) in scorers.items():
        series = []
        for c in cutoffs:
            ctx = Context(registry, sub.until(_t(c)), hw, _t(c), params)
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
    own = results["fused"]["recall"] - results["fused: without the authority's evidence"]["recall"]
    return {
        "benchmark": "detect",
        "compute_estimates": estimates,
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
        "recall_gained_from_the_authoritys_evidence": round(own, 4),
        "assumptions": ASSUMPTIONS,
        "scenario_mix": KINDS,
        "seconds": round(time.perf_counter() - t_start, 2),
    }
