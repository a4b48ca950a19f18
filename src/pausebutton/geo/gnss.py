"""GNSS position fixes cross-checked by the speed of light (pure).

A chip's node agent reports the position its GNSS receiver gives. GNSS is easy to
spoof, so the authority believes a fix only where the chip's signed round-trip times
agree with it (each landmark's measurement of the same chip, see ``geo.landmark``):

* **spoofed** — the fix lies outside a landmark's hard light-speed disc: no signal is
  faster than light, so the chip that answered that landmark cannot be where the fix
  says. This is physics, never a false accusation of an honest fix (beyond the
  receiver's stated accuracy).
* **relayed** — the fix lies inside every disc, but the round trips are far slower than
  the path from the fix to the landmarks explains (more than ``factor`` times the
  fibre round trip plus ``slack_ms``): the chip's answers came from much farther away
  than its fix, which is what a chip relayed from elsewhere looks like when its fix is
  made to look truthful. The margin is a parameter: the real internet is slow (see
  docs/geo.md), so the default is generous.
* **off_site** — the fix agrees with the delays but lies farther than ``site_km`` (plus
  the accuracy) from the facility the chip is registered at: the chip moved.
* **consistent** — none of these; **insufficient_evidence** with no landmark
  measurement to compare (the facility check still applies).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pausebutton.errors import DataError
from pausebutton.geo.physics import (
    check_coordinates,
    check_rtt,
    distance_km,
    fibre_rtt_ms,
    hard_max_distance_km,
)

MAX_ACCURACY_M = 100_000.0


class FixVerdict(StrEnum):
    CONSISTENT = "consistent"
    SPOOFED = "spoofed"
    RELAYED = "relayed"
    OFF_SITE = "off_site"
    INSUFFICIENT = "insufficient_evidence"


@dataclass(frozen=True)
class Fix:
    lat: float
    lon: float
    accuracy_m: float = 50.0
    """The receiver's stated horizontal accuracy (metres)."""

    def __post_init__(self) -> None:
        check_coordinates(self.lat, self.lon, what="fix")
        if not 0 < self.accuracy_m <= MAX_ACCURACY_M:
            raise DataError(
                f"accuracy_m must be in (0, {MAX_ACCURACY_M:.0f}] metres", field="accuracy_m"
            )


@dataclass(frozen=True)
class Ping:
    """One landmark's measured round trip to the chip."""

    landmark: str
    lat: float
    lon: float
    rtt_ms: float

    def __post_init__(self) -> None:
        check_coordinates(self.lat, self.lon, what=f"landmark {self.landmark}")
        check_rtt(self.rtt_ms, what=f"landmark {self.landmark}")


@dataclass(frozen=True)
class FixPolicy:
    factor: float = 3.0
    """Round trips up to this many times the fibre round trip from the fix are honest..."""
    slack_ms: float = 25.0
    """...plus this much access, stack and queueing delay."""
    site_km: float = 5.0
    """How far from its facility's registered point a chip may be (the site's extent)."""


@dataclass(frozen=True)
class FixCheck:
    verdict: FixVerdict
    reason: str
    evidence: list[dict[str, float | str]] = field(default_factory=list)
    """Per landmark: distance from the fix, the light-speed bound, the round trip and what
    the fix explains."""
    distance_to_site_km: float | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "verdict": self.verdict.value,
            "reason": self.reason,
            "evidence": self.evidence,
            "distance_to_site_km": self.distance_to_site_km,
        }


def check_fix(
    fix: Fix,
    pings: Sequence[Ping],
    site: tuple[float, float] | None,
    policy: FixPolicy | None = None,
) -> FixCheck:
    """The fix against the chip's round trips and its facility (see the module)."""
    p = policy or FixPolicy()
    slack_km = fix.accuracy_m / 1000.0
    evidence: list[dict[str, float | str]] = []
    spoofed: list[str] = []
    relayed: list[str] = []
    for ping in pings:
        d = distance_km(fix.lat, fix.lon, ping.lat, ping.lon)
        bound = hard_max_distance_km(ping.rtt_ms)
        explained = p.factor * fibre_rtt_ms(max(d - slack_km, 0.0)) + p.slack_ms
        evidence.append(
            {
                "landmark": ping.landmark,
                "distance_km": round(d, 1),
                "light_bound_km": round(bound, 1),
                "rtt_ms": round(ping.rtt_ms, 3),
                "explained_rtt_ms": round(explained, 3),
            }
        )
        if d - slack_km > bound:
            spoofed.append(f"{ping.landmark} ({d:.0f} km away, light allows {bound:.0f} km)")
        elif ping.rtt_ms > explained:
            relayed.append(
                f"{ping.landmark} ({ping.rtt_ms:.1f} ms where {d:.0f} km explains"
                f" at most {explained:.1f} ms)"
            )
    to_site = None if site is None else distance_km(fix.lat, fix.lon, *site)
    if spoofed:
        return FixCheck(
            FixVerdict.SPOOFED,
            "no signal is faster than light, so the chip that answered "
            + "; ".join(spoofed)
            + " is not where its fix says",
            evidence,
            to_site,
        )
    if relayed and len(relayed) * 2 > len(pings):
        # most landmarks see the chip too far away: one slow path convicts nobody
        return FixCheck(
            FixVerdict.RELAYED,
            "the chip answers from much farther away than its fix: " + "; ".join(relayed),
            evidence,
            to_site,
        )
    if to_site is not None and to_site > p.site_km + slack_km:
        return FixCheck(
            FixVerdict.OFF_SITE,
            f"the fix is {to_site:.1f} km from the registered facility"
            f" (allowed {p.site_km:g} km plus the fix's accuracy)",
            evidence,
            to_site,
        )
    if not pings:
        return FixCheck(
            FixVerdict.INSUFFICIENT,
            "no landmark measured this chip: the fix cannot be checked against light speed",
            evidence,
            to_site,
        )
    return FixCheck(
        FixVerdict.CONSISTENT,
        f"the fix agrees with {len(pings)} landmark round trip(s)"
        + ("" if to_site is None else f" and lies {to_site:.1f} km from the facility"),
        evidence,
        to_site,
    )
