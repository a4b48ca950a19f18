"""``pausebutton bench geo``: false rejects of honest chips and relay detection distance,
from a physics-based delay generator over real coordinates.

Sites: facilities are the Epoch AI frontier data centers (CC BY 4.0, bench/data) and
135 major world cities; the other landmarks are real cities. In each trial the
nearest landmark is placed at a random bearing and a distance drawn uniformly from
a band: (5, 100], (100, 500] or (500, 1000] km.

Delay generator (per host: access delay ``a`` ms of round trip, routing quality ``q``):

- landmarks ``a ~ U(0.05, 1.0)``; chips ``a ~ U(0.05, 0.5)`` (incl. signing);
  ``q ~ U(0, 0.4)``, except 10 % of landmarks, poorly peered, ``q ~ U(0.6, 1.2)``.
- path inflation ``1 + q_A + q_B + Exp(mean 0.1)``, capped at 3; a metro detour
  ``U(0, 30)`` km; propagation in fibre at 2/3 c.
- per ping: queueing ``Exp(mean 0.1)`` ms, and with probability 5 % a congestion
  spike ``U(1, 50)`` ms. Each landmark takes the minimum of 5 pings.
- relay: the chip is ``D`` km from the facility in a random direction and answers
  through a relay at the facility: each ping is the landmark-facility ping plus a
  facility-chip ping (its own inflation, detour, access and jitter).

Calibration: every landmark pair pings each other with the same generator;
``geo.calibrate`` fits each landmark's bestline and slowline.
"""

from __future__ import annotations

import csv
import math
import random
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pausebutton.bench import phase
from pausebutton.geo.calibration import Calibration, calibrate
from pausebutton.geo.physics import destination, distance_km, fibre_rtt_ms
from pausebutton.geo.verdict import Claim, Landmark, Model, Policy, VerdictKind, verify_claim

BANDS = ((5.0, 100.0), (100.0, 500.0), (500.0, 1000.0))
RELAY_KM = (25, 50, 75, 100, 150, 200, 250, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000)
TOLERANCES = (0.25, 0.5, 1.0, 2.0)
LANDMARKS = 6
PINGS = 5
MAX_OTHER_KM = 4000.0


@dataclass(frozen=True)
class Host:
    lat: float
    lon: float
    access_ms: float
    quality: float


def _sites(name: str) -> list[tuple[str, float, float]]:
    text = resources.files("pausebutton.bench").joinpath("data", name).read_text("utf-8")
    return [
        (r["name"], float(r["lat"]), float(r["lon"])) for r in csv.DictReader(text.splitlines())
    ]


def _ping(rng: random.Random) -> float:
    jitter = rng.expovariate(10.0)
    if rng.random() < 0.05:
        jitter += rng.uniform(1.0, 50.0)
    return jitter


def _path_base(rng: random.Random, a: Host, b: Host, d_km: float) -> float:
    inflation = min(3.0, 1.0 + a.quality + b.quality + rng.expovariate(10.0))
    route_km = d_km * inflation + rng.uniform(0.0, 30.0)
    return a.access_ms + b.access_ms + fibre_rtt_ms(route_km)


def _min_rtt(rng: random.Random, a: Host, b: Host, d_km: float) -> float:
    base = _path_base(rng, a, b, d_km)
    return min(base + _ping(rng) for _ in range(PINGS))


POORLY_PEERED = 0.1
"""Share of landmarks behind roundabout transit (what per-landmark calibration learns)."""


def _landmark(rng: random.Random, lat: float, lon: float) -> Host:
    quality = rng.uniform(0.6, 1.2) if rng.random() < POORLY_PEERED else rng.uniform(0.0, 0.4)
    return Host(lat, lon, rng.uniform(0.05, 1.0), quality)


@dataclass
class _Trial:
    landmarks: dict[str, Landmark]
    hosts: dict[str, Host]
    cals: dict[str, Calibration]
    claim: Claim
    distances: dict[str, float]
    honest: list[tuple[str, float]]
    relayed: dict[int, list[tuple[str, float]]]


def _trial(
    rng: random.Random,
    facilities: list[tuple[str, float, float]],
    cities: list[tuple[str, float, float]],
    band: tuple[float, float],
) -> _Trial:
    _, flat, flon = rng.choice(facilities)
    near = destination(flat, flon, rng.uniform(0, 360), rng.uniform(*band))
    hosts = {"near": _landmark(rng, *near)}
    dists = {"near": distance_km(*near, flat, flon)}
    pool = []
    for name, lat, lon in cities:
        d = distance_km(lat, lon, flat, flon)
        if dists["near"] < d <= MAX_OTHER_KM:
            pool.append((name, lat, lon, d))
    if len(pool) < LANDMARKS - 1:
        pool = sorted(
            ((n, la, lo, distance_km(la, lo, flat, flon)) for n, la, lo in cities),
            key=lambda x: x[3],
        )
        pool = [p for p in pool if p[3] > dists["near"]][: LANDMARKS - 1]
    for name, lat, lon, d in rng.sample(pool, LANDMARKS - 1):
        hosts[name] = _landmark(rng, lat, lon)
        dists[name] = d
    landmarks = {k: Landmark(k, h.lat, h.lon) for k, h in hosts.items()}
    pairs = []
    names = sorted(hosts)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            d = distance_km(hosts[a].lat, hosts[a].lon, hosts[b].lat, hosts[b].lon)
            pairs.append((a, b, _min_rtt(rng, hosts[a], hosts[b], d)))
    cals = calibrate({k: (h.lat, h.lon) for k, h in hosts.items()}, pairs)
    chip = Host(flat, flon, rng.uniform(0.05, 0.5), rng.uniform(0.0, 0.4))
    honest = [(k, _min_rtt(rng, h, chip, dists[k])) for k, h in hosts.items()]
    relayed: dict[int, list[tuple[str, float]]] = {}
    relay_host = Host(flat, flon, rng.uniform(0.05, 0.3), chip.quality)
    far_chip = Host(flat, flon, chip.access_ms, rng.uniform(0.0, 0.4))
    for dist in RELAY_KM:
        rows = []
        for k, h in hosts.items():
            leg1 = _path_base(rng, h, relay_host, dists[k]) - relay_host.access_ms
            leg2 = _path_base(rng, relay_host, far_chip, dist)
            rows.append((k, min(leg1 + leg2 + _ping(rng) + _ping(rng) for _ in range(PINGS))))
        relayed[dist] = rows
    return _Trial(landmarks, hosts, cals, Claim(flat, flon), dists, honest, relayed)


def _inconsistent(t: _Trial, rows: list[tuple[str, float]], policy: Policy) -> bool:
    v = verify_claim(
        t.landmarks, rows, t.claim, policy, t.cals, with_estimate=False, distances=t.distances
    )
    if v.verdict is VerdictKind.INSUFFICIENT:
        raise AssertionError("bench trials always have enough landmarks")
    return v.verdict is VerdictKind.INCONSISTENT


def _detection_km(rates: dict[int, float]) -> int | None:
    """Smallest relay distance from which every larger one is caught in >= 99 %."""
    best = None
    for dist in sorted(rates, reverse=True):
        if rates[dist] < 0.99:
            break
        best = dist
    return best


def run(
    quick: bool = False,
    trials: int | None = None,
    seed: int = 7,
    tolerance_ms: float = 1.0,
    real_claims: int | None = None,
    plot: Path | None = None,
    real_landmarks: int = 6,
) -> dict[str, Any]:
    """Real data first (``bench.geo_real``), then the generator's figures beside."""
    from pausebutton.bench.geo_real import run_real

    claims = real_claims if real_claims is not None else (20 if quick else None)
    phase("real pings (WonderProxy, held-out servers)")
    real = run_real(max_claims=claims, plot=plot, landmarks=real_landmarks)
    phase("delay generator over real coordinates")
    generator = run_generator(quick, trials, seed, tolerance_ms)
    return {"real_data": real, "generator": generator}


def run_generator(
    quick: bool = False, trials: int | None = None, seed: int = 7, tolerance_ms: float = 1.0
) -> dict[str, Any]:
    n = trials if trials is not None else (150 if quick else 1000)
    rng = random.Random(seed)
    epoch = _sites("epoch_data_centers.csv")
    cities = _sites("world_cities.csv")
    facilities = epoch + cities
    policies = {
        "hard": Policy(model=Model.HARD, tolerance_ms=tolerance_ms),
        "fibre": Policy(model=Model.FIBRE, tolerance_ms=tolerance_ms),
        "calibrated": Policy(model=Model.CALIBRATED, tolerance_ms=tolerance_ms),
    }
    sweep = {t: Policy(model=Model.CALIBRATED, tolerance_ms=t) for t in TOLERANCES}
    started = time.perf_counter()
    false_rejects = {m: 0 for m in policies}
    sweep_fr = {t: 0 for t in TOLERANCES}
    caught: dict[str, dict[str, dict[int, int]]] = {m: {} for m in policies}
    sweep_caught: dict[float, dict[str, dict[int, int]]] = {t: {} for t in TOLERANCES}
    fr_by_band: dict[str, dict[str, int]] = {m: {} for m in policies}
    for band in BANDS:
        label = f"{band[1]:.0f}"
        for m in policies:
            caught[m][label] = dict.fromkeys(RELAY_KM, 0)
            fr_by_band[m][label] = 0
        for t in TOLERANCES:
            sweep_caught[t][label] = dict.fromkeys(RELAY_KM, 0)
        for _ in range(n):
            trial = _trial(rng, facilities, cities, band)
            for m, policy in policies.items():
                if _inconsistent(trial, trial.honest, policy):
                    false_rejects[m] += 1
                    fr_by_band[m][label] += 1
                for dist, rows in trial.relayed.items():
                    if _inconsistent(trial, rows, policy):
                        caught[m][label][dist] += 1
            for t, policy in sweep.items():
                if _inconsistent(trial, trial.honest, policy):
                    sweep_fr[t] += 1
                for dist, rows in trial.relayed.items():
                    if _inconsistent(trial, rows, policy):
                        sweep_caught[t][label][dist] += 1
    honest_trials = n * len(BANDS)

    def rates(counts: dict[int, int]) -> dict[int, float]:
        return {d: c / n for d, c in counts.items()}

    detection = {
        m: {label: _detection_km(rates(c)) for label, c in by_band.items()}
        for m, by_band in caught.items()
    }
    result: dict[str, Any] = {
        "trials_per_band": n,
        "bands_km": [list(b) for b in BANDS],
        "landmarks_per_trial": LANDMARKS,
        "pings_per_landmark": PINGS,
        "tolerance_ms": tolerance_ms,
        "seed": seed,
        "false_reject_rate": {m: c / honest_trials for m, c in false_rejects.items()},
        "false_rejects": dict(false_rejects),
        "false_rejects_by_band": fr_by_band,
        "relay_detection_km": detection,
        "relay_caught_rate_nearest_within_100km": {
            m: {str(d): round(r, 4) for d, r in rates(caught[m]["100"]).items()} for m in caught
        },
        "tolerance_sweep_calibrated": [
            {
                "tolerance_ms": t,
                "false_reject_rate": sweep_fr[t] / honest_trials,
                "relay_detection_km": {
                    label: _detection_km(rates(c)) for label, c in sweep_caught[t].items()
                },
            }
            for t in TOLERANCES
        ],
        "sites": {"epoch_data_centers": len(epoch), "world_cities": len(cities)},
        "seconds": round(time.perf_counter() - started, 2),
    }
    det100 = detection["calibrated"]["100"]
    result["targets"] = {
        "hard_bound_no_false_rejects": false_rejects["hard"] == 0,
        "calibrated_false_reject_rate_below_1pct": result["false_reject_rate"]["calibrated"] < 0.01,
        "relay_300km_caught_99pct_with_landmark_within_100km": det100 is not None and det100 <= 300,
    }
    if not math.isfinite(result["seconds"]):
        raise AssertionError("clock failure")
    return result
