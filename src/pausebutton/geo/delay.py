"""A statistical model of how much slower than light honest round trips are (pure).

Fitted on landmark-to-landmark pings at known positions (the WonderProxy data ships
with the package, ``geo.wonderproxy``), it turns one landmark's RTT to a chip into
the probability that an honest chip at the claim would answer at least that slowly,
and combines the landmarks robustly (docs/geo.md, "Calibrated verdicts").

The model, for a round trip between a landmark ``L`` and a host at distance ``d``:

- **Excess delay** ``x = rtt - 2 d / c``: what the real internet adds over the
  light-speed bound (routes longer than the geodesic, fibre at 2/3 c, access links,
  stacks, queues). It is never negative for correctly placed hosts.
- **Per-landmark offset** ``a_L``: a landmark that is slow to everyone (a congested
  access link, a slow stack) is slow to the chip too. ``a_L`` is the landmark's median
  of ``x - m(d)`` over its peers, where ``m(d)`` is the band median of ``x``.
- **Per-distance-band residuals** ``r = x - a_L``: one sample for each direction of
  each pair (the far end plays the chip, so the chip's own unknown access delay is in
  the distribution). Bands are on the log scale of distance; the survival function of
  a band is empirical up to its 90th percentile and an exponential tail above
  (peaks over threshold, mean excess), so a delay beyond every calibration point has
  a small but non-zero probability.
- **Mislocated hosts** (published coordinates that pings prove wrong: some pair beats
  light) are found and dropped before fitting (``find_mislocated``).

Combination (``geo.verdict.Combination``), into one statistic whose honest distribution
is measured on the fitted hosts themselves, each playing an honest chip to its nearest
peers (pings of one chip share its access link, so no independence formula is used):

- **common excess** (the default): the median over the landmarks of each round trip's
  ``deviation`` from the typical delay, in units of the path noise at their distances
  (``common_excess``). A relay delays every landmark near the claim; an honest chip's
  slow paths are a few, and the median ignores up to half of them.
- **k-th p-value**: ``-log10`` of the k-th smallest landmark p-value.

Beyond the measured distribution's 90th percentile the tail is exponential, never
lighter than ``NULL_TAIL_FLOOR_NOISE`` / ``NULL_TAIL_FLOOR``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from pausebutton.errors import DataError
from pausebutton.geo.physics import check_rtt, distance_km, hard_min_rtt_ms

BAND_EDGES_KM: tuple[float, ...] = (0.0, 150.0, 300.0, 600.0, 1200.0, 2500.0, 5000.0, 10000.0)
"""Lower edges of the distance bands (the last band is open)."""
TAIL_QUANTILE = 0.9
"""Above this quantile a band's survival function is an exponential tail."""
MIN_BAND_SAMPLES = 20
"""A band with fewer residuals borrows its neighbours' (see ``DelayModel.fit``)."""
BACKFIT_ROUNDS = 5
"""Rounds of backfitting the additive per-host offsets."""
OFFSET_PEERS = 12
"""A host's offset is the median deviation of its pings to this many nearest peers."""
NULL_TAIL_FLOOR = 1.0 / math.log(10.0)
"""Least mean excess (decades) of the honest statistic's exponential tail: ``-log10`` of a
calibrated (uniform) p-value is exponential with mean ``1 / ln 10``, and a statistic of
several landmarks is never assumed to have a lighter tail than one landmark's."""
NULL_TAIL_FLOOR_NOISE = 1.0
"""Least mean excess (path-noise units) of the honest common excess's exponential tail:
it never falls faster than by a factor e per noise unit (the median of a few noisy paths
is not assumed to be tighter than one path)."""
LIGHT_SLACK = 1e-6
"""Relative slack before a pair counts as faster than light (rounding only)."""


@dataclass(frozen=True)
class Band:
    """The residual distribution of one distance band."""

    lower_km: float
    samples: tuple[float, ...]
    """Sorted residuals (ms)."""
    threshold: float
    """The TAIL_QUANTILE quantile: the tail starts here."""
    tail_mean: float
    """Mean excess over the threshold of the residuals above it (ms)."""

    @classmethod
    def of(cls, lower_km: float, values: Iterable[float], *, floor: float = 1.0) -> Band:
        """``floor``: the least tail mean (1 ms for delays: finer than the data)."""
        s = tuple(sorted(values))
        if not s:
            raise DataError("a delay band needs residuals")
        threshold = s[min(len(s) - 1, int(TAIL_QUANTILE * len(s)))]
        over = [v - threshold for v in s if v > threshold]
        tail_mean = max(floor, sum(over) / len(over)) if over else floor
        return cls(lower_km, s, threshold, tail_mean)

    def survival(self, residual: float) -> float:
        """P(an honest residual >= ``residual``), never 0."""
        n = len(self.samples)
        if residual <= self.threshold:
            # empirical, with the observation itself counted (a conservative estimate)
            below = bisect.bisect_left(self.samples, residual)
            return min(1.0, (n - below + 1) / (n + 1))
        top = 1.0 - TAIL_QUANTILE
        return max(1e-300, top * math.exp(-(residual - self.threshold) / self.tail_mean))

    def quantile(self, q: float) -> float:
        """The residual an honest round trip exceeds with probability ``1 - q``."""
        q = min(q, 1.0 - 1e-12)
        if q <= TAIL_QUANTILE:
            return self.samples[min(len(self.samples) - 1, int(q * len(self.samples)))]
        return self.threshold + self.tail_mean * math.log((1.0 - TAIL_QUANTILE) / (1.0 - q))


@dataclass(frozen=True)
class DelayModel:
    bands: tuple[Band, ...]
    """Residual distributions after subtracting the landmark's offset."""
    raw_bands: tuple[Band, ...]
    """Excess distributions without offsets (landmarks the model has not seen)."""
    offsets: Mapping[str, float] = field(default_factory=dict)
    """Per-landmark offset ``a_L`` (ms)."""
    pairs: int = 0
    dropped: tuple[str, ...] = ()
    """Hosts found mislocated and left out of the fit."""
    null: tuple[float, ...] = ()
    """Sorted statistic ``-log10(p_k)`` of every fitted host playing an honest chip to
    its ``null_landmarks`` nearest peers, per k (index k - 1): the measured honest
    distribution the error probability is read from."""
    null_by_k: tuple[tuple[float, ...], ...] = ()
    null_landmarks: int = 6
    medians: tuple[float, ...] = ()
    """Median excess per band (ms): the typical delay the offsets are measured against."""
    known_bands: tuple[Band, ...] = ()
    """Residuals after subtracting both ends' offsets: for a facility whose own access
    delay was measured (``facility_offset``)."""
    null_known_by_k: tuple[tuple[float, ...], ...] = ()
    """As ``null_by_k`` with each host's own offset measured from other peers."""
    scales: tuple[float, ...] = ()
    """Per band, the path noise (ms): the scaled median absolute deviation of the
    residuals with both ends' offsets known (``known_bands``), at least 1 ms."""
    null_common: tuple[float, ...] = ()
    """Sorted ``common_excess`` of every fitted host playing an honest chip to its
    ``null_landmarks`` nearest peers (the region's offset guessed)."""
    null_common_known: tuple[float, ...] = ()
    """As ``null_common`` with each host's own offset measured from other peers."""

    def deviation(
        self, landmark_id: str, dist_km: float, rtt_ms: float, site_offset: float = 0.0
    ) -> float:
        """How much slower (ms) than typical this round trip is: its excess over light
        less the typical excess, the band's median plus, for a landmark the model knows,
        its offset and the site's (the chip's) offset; a typical excess is never below
        0 (fast landmarks and a fast region cannot make light slower)."""
        i = self.band_index(dist_km)
        typical = self.medians[i]
        if self.knows(landmark_id):
            typical += self.offsets[landmark_id] + site_offset
        return rtt_ms - hard_min_rtt_ms(dist_km) - max(0.0, typical)

    def common_excess(self, rows: Iterable[tuple[str, float, float]], site_offset: float) -> float:
        """The chip's common excess from ``(landmark_id, dist_km, rtt_ms)``: the median
        of the landmarks' ``deviation`` (a relay delays every landmark near the claim; a
        few slow paths do not move the median) in units of the median path noise
        (``scales``) at their distances. The "too slow" statistic of the default
        combination (docs/geo.md)."""
        rows = list(rows)
        if not rows or not self.scales:
            raise DataError("the common excess needs landmarks and a fitted delay model")
        devs = [self.deviation(lid, d, rtt, site_offset) for lid, d, rtt in rows]
        noise = _median([self.scales[self.band_index(d)] for _, d, _ in rows])
        return _median(devs) / max(1.0, noise)

    def common_error_probability(self, statistic: float, *, known: bool = False) -> float:
        """The share of honest chips whose ``common_excess`` is at least ``statistic``
        (empirical, exponential tail beyond the 90th percentile, at least
        NULL_TAIL_FLOOR_NOISE mean), measured on the fitted hosts."""
        null = self.null_common_known if known else self.null_common
        if not null:
            raise DataError("the delay model has no honest distribution of the common excess")
        return Band.of(0.0, null, floor=NULL_TAIL_FLOOR_NOISE).survival(statistic)

    def error_probability(
        self, p_values: Sequence[float], k: int, *, known: bool = False
    ) -> tuple[float, int]:
        """(error probability, k used): the share of honest chips whose k-th smallest
        landmark p-value is at least this small (empirical, exponential tail beyond the
        90th percentile), measured on the fitted hosts themselves. ``known``: the
        facility's own offset was measured (``facility_offset``)."""
        null = self.null_known_by_k if known else self.null_by_k
        n = len(p_values)
        if n == 0:
            return 1.0, 0
        kk = min(k, n, len(null))
        stat = -math.log10(max(sorted(p_values)[kk - 1], 1e-300))
        return Band.of(0.0, null[kk - 1], floor=NULL_TAIL_FLOOR).survival(stat), kk

    def facility_offset(self, pings: Iterable[tuple[str, float, float]]) -> float | None:
        """A facility's own access delay (ms, relative to the model) from its pings
        ``(landmark_id, distance_km, rtt_ms)`` to known landmarks (the nearest
        OFFSET_PEERS count), e.g. measured on site at an inspection. None without any."""
        devs = sorted(
            (d, rtt - hard_min_rtt_ms(d) - self.medians[self.band_index(d)] - self.offsets[lid])
            for lid, d, rtt in pings
            if lid in self.offsets
        )
        return _median([dev for _, dev in devs[:OFFSET_PEERS]]) if devs else None

    def band_index(self, dist_km: float) -> int:
        return max(0, bisect.bisect_right([b.lower_km for b in self.bands], dist_km) - 1)

    def knows(self, landmark_id: str) -> bool:
        return landmark_id in self.offsets

    def site_offset(self, landmark_ids: Iterable[str]) -> float:
        """The expected offset of a host near these landmarks: the median of their
        offsets (hosts in a region share its transit: slow regions are slow for chips
        too)."""
        known = [self.offsets[i] for i in landmark_ids if i in self.offsets]
        return _median(known) if known else 0.0

    def _band(self, landmark_id: str, dist_km: float, known: bool) -> tuple[Band, float]:
        i = self.band_index(dist_km)
        if self.knows(landmark_id):
            bands = self.known_bands if known and self.known_bands else self.bands
            return bands[i], self.offsets[landmark_id]
        return self.raw_bands[i], 0.0

    def p_value(
        self,
        landmark_id: str,
        dist_km: float,
        rtt_ms: float,
        site_offset: float = 0.0,
        *,
        known: bool = False,
    ) -> float:
        """P(an honest chip ``dist_km`` from the landmark answers at least this slowly).
        ``site_offset``: the facility's offset, measured (``known``) or the region's."""
        band, offset = self._band(landmark_id, dist_km, known)
        shift = site_offset if self.knows(landmark_id) else 0.0
        return band.survival(rtt_ms - hard_min_rtt_ms(dist_km) - offset - shift)

    def slowest_rtt_ms(
        self,
        landmark_id: str,
        dist_km: float,
        p: float,
        site_offset: float = 0.0,
        *,
        known: bool = False,
    ) -> float:
        """The RTT an honest chip at ``dist_km`` exceeds with probability ``p``."""
        band, offset = self._band(landmark_id, dist_km, known)
        shift = site_offset if self.knows(landmark_id) else 0.0
        p = min(1.0, max(p, 1e-12))  # p = 0 would be an infinite RTT
        return hard_min_rtt_ms(dist_km) + offset + shift + band.quantile(1.0 - p)

    def with_landmarks(
        self,
        positions: Mapping[str, tuple[float, float]],
        pairs: Iterable[tuple[str, str, float]],
    ) -> tuple[DelayModel, tuple[str, ...]]:
        """This model plus offsets for the landmarks of ``positions`` learnt from their
        pings to each other (a verifier's own calibration pings; the bands and the honest
        distribution stay the fitted ones). Returns the model and the landmarks found
        mislocated (a pair beats light), which get no offset and must not be used."""
        best = best_pairs(positions, pairs)
        dist = pair_distances(positions, best)
        dropped = find_mislocated(best, dist)
        gone = set(dropped)
        medians = self.medians or tuple(_median(b.samples) for b in self.raw_bands)
        peers: dict[str, list[tuple[float, str, float]]] = {}
        for (a, b), rtt in best.items():
            if a in gone or b in gone:
                continue
            d = dist[(a, b)]
            dev = rtt - hard_min_rtt_ms(d) - medians[self.band_index(d)]
            peers.setdefault(a, []).append((d, b, dev))
            peers.setdefault(b, []).append((d, a, dev))
        near = {h: sorted(v)[:OFFSET_PEERS] for h, v in sorted(peers.items())}
        fitted = dict.fromkeys(near, 0.0)
        for _ in range(BACKFIT_ROUNDS):
            fitted = {h: _median([dev - fitted[p] for _, p, dev in v]) for h, v in near.items()}
        offsets = {**self.offsets, **fitted}
        for h in gone:
            offsets.pop(h, None)
        return replace(self, offsets=offsets), tuple(dropped)

    @classmethod
    def fit(
        cls,
        positions: Mapping[str, tuple[float, float]],
        pairs: Iterable[tuple[str, str, float]],
        *,
        distances: Mapping[tuple[str, str], float] | None = None,
        null_landmarks: int = 6,
    ) -> DelayModel:
        """Fit on (source, destination, rtt_ms) pings between hosts at known positions.

        The minimum RTT of each unordered pair counts (both directions: routes are
        asymmetric, the round trip takes the better). Mislocated hosts are dropped
        first. ``distances`` may give precomputed geodesics keyed by sorted pair."""
        best = best_pairs(positions, pairs)
        dist = pair_distances(positions, best, known=distances)
        dropped = find_mislocated(best, dist)
        gone = set(dropped)
        kept = [(k, best[k], dist[k]) for k in best if k[0] not in gone and k[1] not in gone]
        if len(kept) < MIN_BAND_SAMPLES:
            raise DataError(
                f"a delay model needs at least {MIN_BAND_SAMPLES} pairs of hosts, got {len(kept)}"
            )
        edges = BAND_EDGES_KM

        def band_of(d: float) -> int:
            return max(0, bisect.bisect_right(edges, d) - 1)

        excess = {k: rtt - hard_min_rtt_ms(d) for k, rtt, d in kept}
        by_band: list[list[float]] = [[] for _ in edges]
        for k, _, d in kept:
            by_band[band_of(d)].extend((excess[k], excess[k]))
        medians = [_median(v) if v else math.nan for v in _pooled(by_band)]
        # a host's offset from its nearest peers (far pairs say more about long-haul
        # routes than about the host's own access, and verifiers pick near landmarks),
        # additive: backfitted so that excess ~ median(d) + a_i + a_j
        peers: dict[str, list[tuple[float, str, float]]] = {}
        for k, _, d in kept:
            dev = excess[k] - medians[band_of(d)]
            peers.setdefault(k[0], []).append((d, k[1], dev))
            peers.setdefault(k[1], []).append((d, k[0], dev))
        near = {h: sorted(v)[:OFFSET_PEERS] for h, v in sorted(peers.items())}
        offsets = dict.fromkeys(near, 0.0)
        for _ in range(BACKFIT_ROUNDS):
            offsets = {h: _median([dev - offsets[p] for _, p, dev in v]) for h, v in near.items()}
        region = {
            h: _median([offsets[p] for _, p, _ in sorted(v)[:null_landmarks]])
            for h, v in peers.items()
        }
        residuals: list[list[float]] = [[] for _ in edges]
        known: list[list[float]] = [[] for _ in edges]
        for k, _, d in kept:
            b = band_of(d)
            residuals[b].append(excess[k] - offsets[k[0]] - region[k[1]])
            residuals[b].append(excess[k] - offsets[k[1]] - region[k[0]])
            known[b].extend([excess[k] - offsets[k[0]] - offsets[k[1]]] * 2)
        bands = tuple(Band.of(lo, v) for lo, v in zip(edges, _pooled(residuals), strict=True))
        raw = tuple(Band.of(lo, v) for lo, v in zip(edges, _pooled(by_band), strict=True))
        known_bands = tuple(Band.of(lo, v) for lo, v in zip(edges, _pooled(known), strict=True))
        scales = tuple(max(1.0, _mad(b.samples)) for b in known_bands)
        model = cls(
            bands,
            raw,
            offsets,
            len(kept),
            tuple(dropped),
            medians=tuple(medians),
            known_bands=known_bands,
            scales=scales,
        )
        kept_pairs = {k: (rtt, d) for k, rtt, d in kept}
        by_k, common = _null(model, kept_pairs, null_landmarks, known=False)
        by_k_known, common_known = _null(model, kept_pairs, null_landmarks, known=True)
        return replace(
            model,
            null_by_k=by_k,
            null_known_by_k=by_k_known,
            null_common=common,
            null_common_known=common_known,
            null_landmarks=null_landmarks,
        )


def _null(
    model: DelayModel,
    kept: Mapping[tuple[str, str], tuple[float, float]],
    landmarks: int,
    *,
    known: bool,
) -> tuple[tuple[tuple[float, ...], ...], tuple[float, ...]]:
    """Per k, the sorted ``-log10(p_k)`` of each host as an honest chip (its nearest
    ``landmarks`` peers as landmarks), and the sorted ``common_excess`` of each.
    ``known``: the host's own offset measured from its next OFFSET_PEERS peers (not the
    landmarks: no reuse of the judged pings)."""
    peers: dict[str, list[tuple[float, str, float]]] = {}
    for (a, b), (rtt, d) in kept.items():
        peers.setdefault(a, []).append((d, b, rtt))
        peers.setdefault(b, []).append((d, a, rtt))
    stats: list[list[float]] = [[] for _ in range(landmarks)]
    common: list[float] = []
    for host in sorted(peers):
        ranked = sorted(peers[host])
        near = ranked[:landmarks]
        if len(near) < landmarks:
            continue
        if known:
            rest = ranked[landmarks : landmarks + OFFSET_PEERS]
            site = model.facility_offset((lid, d, rtt) for d, lid, rtt in rest)
            if site is None:
                continue
        else:
            site = model.site_offset(lid for _, lid, _ in near)
        ps = sorted(model.p_value(lid, d, rtt, site, known=known) for d, lid, rtt in near)
        for k in range(landmarks):
            stats[k].append(-math.log10(max(ps[k], 1e-300)))
        common.append(model.common_excess(((lid, d, rtt) for d, lid, rtt in near), site))
    if not stats[0]:
        raise DataError(f"a delay model needs hosts with {landmarks} peers each")
    return tuple(tuple(sorted(v)) for v in stats), tuple(sorted(common))


def _dist(positions: Mapping[str, tuple[float, float]], key: tuple[str, str]) -> float:
    return distance_km(*positions[key[0]], *positions[key[1]])


NEAR_LIGHT = 1.05
"""Pairs whose RTT is within this factor of the light-speed bound on the sphere get the
exact WGS84 geodesic (the sphere is within 0.6 % of it)."""


def pair_distances(
    positions: Mapping[str, tuple[float, float]],
    best: Mapping[tuple[str, str], float],
    *,
    known: Mapping[tuple[str, str], float] | None = None,
) -> dict[tuple[str, str], float]:
    """Distances (km) of the pairs of ``best``: on the sphere (vectorised; the delay
    model does not notice 0.6 %), except where a pair's RTT comes near the light-speed
    bound, which gets the exact geodesic (the mislocation test is exact). ``known``
    distances are used as given."""
    import numpy as np

    keys = [k for k in best if known is None or k not in known]
    out = {k: known[k] for k in best if known is not None and k in known}
    if not keys:
        return out
    a = np.radians(np.array([positions[k[0]] for k in keys], dtype=float))
    b = np.radians(np.array([positions[k[1]] for k in keys], dtype=float))
    h = (
        np.sin((b[:, 0] - a[:, 0]) / 2) ** 2
        + np.cos(a[:, 0]) * np.cos(b[:, 0]) * np.sin((b[:, 1] - a[:, 1]) / 2) ** 2
    )
    sphere = 2.0 * 6371.0088 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    for k, d in zip(keys, sphere.tolist(), strict=True):
        near_light = best[k] < hard_min_rtt_ms(d) * NEAR_LIGHT
        out[k] = _dist(positions, k) if near_light else d
    return out


def _median(values: Sequence[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def _mad(values: Sequence[float]) -> float:
    """The median absolute deviation, scaled to a normal standard deviation."""
    m = _median(values)
    return 1.4826 * _median([abs(v - m) for v in values])


def _pooled(bands: list[list[float]]) -> list[list[float]]:
    """Each band's values, widened with its neighbours' while it has too few."""
    out: list[list[float]] = []
    for i in range(len(bands)):
        lo, hi = i, i
        values = list(bands[i])
        while len(values) < MIN_BAND_SAMPLES and (lo > 0 or hi < len(bands) - 1):
            if lo > 0:
                lo -= 1
                values.extend(bands[lo])
            if hi < len(bands) - 1:
                hi += 1
                values.extend(bands[hi])
        out.append(values)
    return out


def best_pairs(
    positions: Mapping[str, tuple[float, float]], pairs: Iterable[tuple[str, str, float]]
) -> dict[tuple[str, str], float]:
    """The minimum RTT per unordered pair; unknown hosts and bad RTTs raise DataError."""
    best: dict[tuple[str, str], float] = {}
    for src, dst, rtt in pairs:
        if src == dst:
            continue
        for host in (src, dst):
            if host not in positions:
                raise DataError(f"ping names unknown host {host!r}", field="source/destination")
        check_rtt(rtt, what=f"ping {src}->{dst}")
        key = (src, dst) if src < dst else (dst, src)
        best[key] = min(rtt, best.get(key, math.inf))
    return best


def find_mislocated(
    best: Mapping[tuple[str, str], float], dist: Mapping[tuple[str, str], float]
) -> list[str]:
    """Hosts whose published position pings prove wrong, greedily: while some pair
    beats light, drop the host in most such pairs (ties: the larger total violation,
    then the id). A pair alone cannot say which end is wrong; its worse-connected end
    to other violations goes first."""
    bad = {
        k: hard_min_rtt_ms(dist[k]) - rtt
        for k, rtt in best.items()
        if rtt < hard_min_rtt_ms(dist[k]) * (1.0 - LIGHT_SLACK)
    }
    dropped: list[str] = []
    while bad:
        count: dict[str, tuple[int, float]] = {}
        for (a, b), gap in bad.items():
            for h in (a, b):
                n, g = count.get(h, (0, 0.0))
                count[h] = (n + 1, g + gap)
        host = max(sorted(count), key=lambda h: count[h])
        dropped.append(host)
        bad = {k: g for k, g in bad.items() if host not in k}
    return dropped
