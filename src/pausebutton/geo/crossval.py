"""Cross-validated verdicts on real pings between servers (pure).

The servers are split into folds. For each fold the delay model is fitted on the
pings among the *other* servers only; each server of the fold then plays a chip:

- **honest**: it claims its own position; the verifier's landmarks are the
  ``landmarks`` nearest other (training) servers to the claim, and the measurements
  are the real pings between them and the server.
- **relay**: it claims another server's position ``D`` km away (every other server
  in turn); the landmarks are the ones nearest that claim, and the measurements are
  the real pings between them and the server where it really is. A real relay adds
  its own hop on top, so these cases favour the cheater: catch rates are lower bounds.

Every case runs the real ``verify_claim``; its error probability is kept, so the
trade-off curve (false rejects against relays caught) comes from one pass.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pausebutton.geo.delay import DelayModel
from pausebutton.geo.physics import distance_km
from pausebutton.geo.verdict import Claim, Landmark, Model, Policy, VerdictKind, verify_claim


@dataclass(frozen=True)
class Case:
    target: str
    claim: str
    """The server whose position is claimed (the target itself when honest)."""
    relay_km: float
    """0 when honest, else the distance from the claim to where the chip really is."""
    landmarks: int
    physics: bool
    """A landmark beat light: inconsistent whatever the threshold."""
    error_probability: float
    verdict: str
    error_probability_known: float = 1.0
    """The same with the claimed facility's own access delay measured on site (from its
    pings to training servers other than the landmarks and the chip)."""
    landmark_km: tuple[float, ...] = ()
    """The landmarks' distances to the claim (km), nearest first."""
    relay_gain_km: tuple[float, ...] = ()
    """Per landmark (same order), how much farther the chip really is from it than the
    claim: what a relay adds to its path (0 when honest; negative: nearer)."""

    @property
    def coverage_km(self) -> float:
        """The third-nearest landmark's distance to the claim (how well landmarks
        surround it; inf with fewer than three)."""
        return self.landmark_km[2] if len(self.landmark_km) >= 3 else float("inf")


@dataclass(frozen=True)
class Study:
    cases: tuple[Case, ...]
    folds: int
    servers: int
    dropped: tuple[str, ...]
    """Servers found mislocated (pings beat light) and left out."""

    @property
    def honest(self) -> list[Case]:
        return [c for c in self.cases if c.relay_km == 0.0]

    @property
    def relays(self) -> list[Case]:
        return [c for c in self.cases if c.relay_km > 0.0]


def rejected(case: Case, reject_probability: float, *, known: bool = False) -> bool:
    p = case.error_probability_known if known else case.error_probability
    return case.physics or p <= reject_probability


def cross_validate(
    positions: Mapping[str, tuple[float, float]],
    best: Mapping[tuple[str, str], float],
    *,
    folds: int = 5,
    landmarks: int = 6,
    seed: int = 1,
    policy: Policy | None = None,
    max_claims: int | None = None,
) -> Study:
    """Run every honest and relay case (module docstring). ``best`` is the minimum RTT
    per sorted server pair; ``max_claims`` samples that many relay claims per target."""
    pol = policy or Policy(model=Model.STATISTICAL, min_landmarks=3)
    ids = sorted(positions)
    dist = {(a, b): distance_km(*positions[a], *positions[b]) for a in ids for b in ids if a < b}

    def d(a: str, b: str) -> float:
        return 0.0 if a == b else dist[(a, b) if a < b else (b, a)]

    full = DelayModel.fit(positions, ((a, b, r) for (a, b), r in best.items()), distances=dist)
    gone = set(full.dropped)
    ids = [i for i in ids if i not in gone]
    rng = random.Random(seed)
    order = ids[:]
    rng.shuffle(order)
    sites = {i: Landmark(i, *positions[i]) for i in ids}
    cases: list[Case] = []
    for f in range(folds):
        held = set(order[f::folds])
        train = [i for i in ids if i not in held]
        model = DelayModel.fit(
            {i: positions[i] for i in train},
            ((a, b, r) for (a, b), r in best.items() if a in train and b in train),
            distances=dist,
            null_landmarks=landmarks,
        )
        for target in sorted(held):
            claims = [c for c in ids if c != target]
            if max_claims is not None and len(claims) > max_claims:
                claims = sorted(random.Random(f"{seed}:{target}").sample(claims, max_claims))
            for claim in [target, *claims]:
                near = sorted(
                    (i for i in train if i != claim and (min(i, target), max(i, target)) in best),
                    key=lambda i: (d(i, claim), i),
                )[:landmarks]
                rows = [(i, best[(min(i, target), max(i, target))]) for i in near]
                args = (
                    {i: sites[i] for i in near},
                    rows,
                    Claim(*positions[claim]),
                    pol,
                )
                dists = {i: d(i, claim) for i in near}
                v = verify_claim(*args, with_estimate=False, distances=dists, delay=model)
                # the facility's own delay, as an inspection on site would measure it
                site = model.facility_offset(
                    (i, d(i, claim), best[(min(i, claim), max(i, claim))])
                    for i in sorted(train, key=lambda i: (d(i, claim), i))
                    if i not in near
                    and i not in (claim, target)
                    and (min(i, claim), max(i, claim)) in best
                )
                vk = verify_claim(
                    *args,
                    with_estimate=False,
                    distances=dists,
                    delay=model,
                    facility_offset_ms=site,
                )
                physics = any(e.too_fast_km > 0 for e in v.landmarks)
                by_distance = sorted(near, key=lambda i: (dists[i], i))
                cases.append(
                    Case(
                        target,
                        claim,
                        d(target, claim),
                        len(near),
                        physics,
                        1.0 if v.error_probability is None else v.error_probability,
                        v.verdict.value,
                        1.0 if vk.error_probability is None else vk.error_probability,
                        tuple(dists[i] for i in by_distance),
                        tuple(d(i, target) - dists[i] for i in by_distance),
                    )
                )
    return Study(tuple(cases), folds, len(ids), full.dropped)


def false_reject_rate(study: Study, reject_probability: float, *, known: bool = False) -> float:
    honest = [c for c in study.honest if c.verdict != VerdictKind.INSUFFICIENT.value]
    hits = sum(rejected(c, reject_probability, known=known) for c in honest)
    return hits / max(1, len(honest))


def catch_rates(
    study: Study, reject_probability: float, edges: Sequence[float], *, known: bool = False
) -> list[tuple[float, float, int, float]]:
    """(lower km, upper km, cases, share caught) per relay-distance band."""
    out = []
    bounds = [*edges, float("inf")]
    for lo, hi in itertools.pairwise(bounds):
        band = [c for c in study.relays if lo <= c.relay_km < hi]
        hits = sum(rejected(c, reject_probability, known=known) for c in band)
        rate = hits / len(band) if band else 0.0
        out.append((lo, hi, len(band), rate))
    return out


def smallest_caught_km(
    study: Study,
    reject_probability: float,
    edges: Sequence[float],
    share: float = 0.9,
    *,
    known: bool = False,
) -> float | None:
    """The smallest band edge from which every farther band is caught at ``share``."""
    best = None
    for lo, _, n, rate in reversed(catch_rates(study, reject_probability, edges, known=known)):
        if n and rate < share:
            break
        best = lo
    return best


FAR_LANDMARKS_KM = 1000.0
"""``miss_reasons``: a claim whose third-nearest landmark is farther has no landmarks
near it."""
NEAR_RELAY_SHARE = 0.3
"""``miss_reasons``: a landmark whose path the relay lengthens by less than this share of
the relay distance does not see the relay's full distance."""


def miss_reasons(
    study: Study, reject_probability: float, k: int, *, known: bool = False
) -> dict[str, int]:
    """Why the relays not caught were missed, one reason per case, the first that applies:

    - ``far_landmarks``: the claim's third-nearest landmark is over FAR_LANDMARKS_KM away
      (a sparse region: the chip's true place can be nearly as close to them);
    - ``relay_near_landmarks``: fewer than ``k`` landmarks (the robust combination's k)
      have their path lengthened by NEAR_RELAY_SHARE of the relay distance;
    - ``within_honest_delay``: the relay's added delay is within what honest hosts' own
      access delays show (the rest)."""
    out = {"far_landmarks": 0, "relay_near_landmarks": 0, "within_honest_delay": 0}
    for c in study.relays:
        if rejected(c, reject_probability, known=known):
            continue
        gains = sorted(c.relay_gain_km, reverse=True)
        kk = min(k, len(gains))
        if c.coverage_km > FAR_LANDMARKS_KM:
            out["far_landmarks"] += 1
        elif kk == 0 or gains[kk - 1] < NEAR_RELAY_SHARE * c.relay_km:
            out["relay_near_landmarks"] += 1
        else:
            out["within_honest_delay"] += 1
    return out
