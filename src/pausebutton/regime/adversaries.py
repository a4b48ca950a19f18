"""The adversaries' Monte Carlo: when (if ever) each evasion is detected, by which method.

Pure numpy. Each verification method in force gives each attempt a daily detection
probability from the attempt's kind, size and country (member states run inspections,
energy monitoring and customs; remote sensing and whistleblowers reach everywhere):

* remote sensing, energy, whistleblowers, financial intelligence scale with size:
  ``1 - (1 - sensitivity) ** (chips / 1000)``;
* inspections at ``inspection_rate_per_year`` per facility: ``rate / 365 * sensitivity``;
* location verification catches a relay farther than half the landmark spacing (its
  added round trip exceeds what the nearest landmarks allow, fibre at 2/3 c) on the first
  challenge, with probability ``sensitivity``; a nearer relay is not caught;
* usage reports: a registered chip silent for ``report_grace_days`` is flagged;
* the licensing policy catches a split run when one owner's share reaches the frontier
  threshold (the rule in :mod:`pausebutton.authority.policy`); across owners it does not;
* coerced member keys: with at least K keys a resume can be forged, but a chip takes a
  resume only with a log inclusion proof, so the witnesses see it at once; with more than
  N - K keys the coalition can block a pause.

Each method's first detection day is geometric; the attempt is detected on the earliest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from pausebutton.authority.policy import DAY, NEEDS_APPROVAL, ChipFacts, Facts, Policy, evaluate
from pausebutton.errors import ModelMismatchError
from pausebutton.geo.physics import FIBRE_KM_PER_MS, fibre_rtt_ms
from pausebutton.regime.scenario import (
    Adversary,
    CoercedKeys,
    ForgedCustoms,
    RelaySmuggling,
    RunSplitting,
    Scenario,
)
from pausebutton.regime.world import World

SIZE_SCALED = ("remote_sensing", "energy", "whistleblower", "financial")
MEMBER_ONLY = ("energy", "customs", "dc_inspection", "developer_inspection")

APPLIES: dict[str, tuple[str, ...]] = {
    "relay_smuggling": ("location", "customs", "financial", "whistleblower"),
    "offline_chips": ("usage_report", "dc_inspection", "energy", "whistleblower", "remote_sensing"),
    "run_splitting": ("policy", "financial", "developer_inspection", "whistleblower"),
    "off_grid_power": ("remote_sensing", "whistleblower", "financial", "dc_inspection"),
    "coerced_keys": ("transparency_log",),
    "forged_customs": ("fab_inspection", "customs", "financial"),
}
"""Which methods can see each kind of evasion."""


@dataclass
class Outcome:
    """One evasion under one seed."""

    attempts: int
    detected: int
    days_to_detect: list[int]
    by_method: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "detected": self.detected,
            "days_to_detect": self.days_to_detect,
            "by_method": self.by_method,
            "extra": self.extra,
        }


def _daily(
    scenario: Scenario, world: World, kind: str, adv: Adversary, rng: np.random.Generator
) -> dict[str, npt.NDArray[np.float64]]:
    """Daily detection probability of each applicable method, per attempt."""
    reg = scenario.regime
    count = adv.instances
    member = bool(world.member[world.country_index(adv.country)])
    out: dict[str, npt.NDArray[np.float64]] = {}
    forged = scenario.adversaries.forged_customs
    for method in APPLIES[kind]:
        if method == "policy":
            assert isinstance(adv, RunSplitting)
            flagged = adv.run_flop / adv.owners >= reg.frontier_flop
            check_split_run(scenario, adv, flagged)
            out[method] = np.full(count, 1.0 if flagged else 0.0)
            continue
        if method == "transparency_log":
            continue
        params = reg.method(method)
        if not params.enabled or (method in MEMBER_ONLY and not member):
            continue
        s = params.sensitivity
        if method in SIZE_SCALED:
            p = 1.0 - (1.0 - s) ** (adv.chips / 1000.0)
        elif method in ("dc_inspection", "developer_inspection", "fab_inspection"):
            p = min(1.0, reg.inspection_rate_per_year / 365.0) * s
        elif method == "location":
            assert isinstance(adv, RelaySmuggling)
            dist = rng.uniform(adv.relay_km_min, adv.relay_km_max, count)
            tolerance_ms = fibre_rtt_ms(reg.landmark_spacing_km / 2.0)
            added_ms = 2.0 * dist / FIBRE_KM_PER_MS
            out[method] = np.where(added_ms > tolerance_ms, s, 0.0)
            continue
        elif method == "customs":
            if isinstance(adv, ForgedCustoms):
                quality = adv.forgery_quality
            else:
                quality = forged.forgery_quality if forged is not None else 0.0
            p = s * (1.0 - quality)
        else:  # usage_report: flagged after the grace period, handled below
            p = s
        out[method] = np.full(count, p)
    return out


def check_split_run(scenario: Scenario, adv: RunSplitting, flagged: bool) -> None:
    """Hybrid truth for the split run: the authority's real licensing policy
    (:func:`pausebutton.authority.policy.evaluate`) decides one owner's application for its
    share of the run, after the other owners' shares (they are other owners: they do not add
    up); the model's verdict must be the policy's."""
    reg = scenario.regime
    share = int(adv.run_flop // adv.owners)
    policy = Policy(frontier_flop=int(reg.frontier_flop), split_window=reg.split_window_days * DAY)
    now = 1_900_000_000
    chip = ChipFacts(
        chip_id="split-run-chip",
        registered=True,
        owner="owner-1",
        status="installed",
        facility="facility",
        facility_verified=True,
        region=adv.country,
        peak_flops=None,
    )
    facts = Facts(
        owner="owner-1",
        owner_country=adv.country,
        run_id="run-of-owner-1",
        flop_budget=share,
        not_before=now,
        not_after=now + 30 * DAY,
        now=now,
        chips=(chip,),
    )
    decision = evaluate(policy, facts)
    if (decision.outcome == NEEDS_APPROVAL) != flagged:
        raise ModelMismatchError(
            f"run splitting: the model says a {share:.3g} FLOP share is"
            f" {'flagged' if flagged else 'not flagged'}, the licensing policy says"
            f" {decision.outcome} ({'; '.join(decision.reasons) or 'no findings'})"
        )


def simulate(scenario: Scenario, world: World, seed: int) -> dict[str, Outcome]:
    """Every active adversary's attempts under ``seed``."""
    rng = np.random.default_rng([seed, 0xADE5])
    days = scenario.days
    results: dict[str, Outcome] = {}
    for kind, adv in scenario.adversaries.active().items():
        count = adv.instances
        horizon = days - adv.start_day
        if isinstance(adv, CoercedKeys):
            results[kind] = _coerced(scenario, adv, rng)
            continue
        first = np.full(count, np.inf)
        which = np.full(count, "", dtype=object)
        for method, p in _daily(scenario, world, kind, adv, rng).items():
            with np.errstate(divide="ignore"):
                draw = np.where(p > 0, rng.geometric(np.clip(p, 1e-12, 1.0)) - 1.0, np.inf)
            if method == "usage_report":
                draw = np.where(p > 0, draw + scenario.regime.report_grace_days, np.inf)
            better = draw < first
            first[better] = draw[better]
            which[better] = method
        hit = first < horizon
        by_method: dict[str, int] = {}
        for method in which[hit]:
            by_method[str(method)] = by_method.get(str(method), 0) + 1
        results[kind] = Outcome(
            attempts=count,
            detected=int(hit.sum()),
            days_to_detect=[int(x) for x in first[hit]],
            by_method=by_method,
        )
    return results


def _coerced(scenario: Scenario, adv: CoercedKeys, rng: np.random.Generator) -> Outcome:
    reg = scenario.regime
    coerced = rng.binomial(reg.n, adv.coerce_probability, adv.instances)
    forge = coerced >= reg.k
    block = coerced > reg.n - reg.k
    detected = forge if reg.witnesses > 0 else np.zeros_like(forge)
    return Outcome(
        attempts=int(forge.sum()),
        detected=int(detected.sum()),
        days_to_detect=[0] * int(detected.sum()),
        by_method={"transparency_log": int(detected.sum())} if detected.any() else {},
        extra={
            "instances": adv.instances,
            "resume_forgeable": int(forge.sum()),
            "pause_blockable": int(block.sum()),
        },
    )


def false_alerts(scenario: Scenario, world: World, seed: int) -> dict[str, int]:
    """False alerts per method over the horizon (Poisson, per facility-year)."""
    rng = np.random.default_rng([seed, 0xFA15E])
    facilities = world.facilities_per_country()
    member_fac = int(facilities[world.member].sum())
    years = scenario.days / 365.0
    out: dict[str, int] = {}
    for name, params in scenario.regime.methods.items():
        if not params.enabled:
            continue
        base = member_fac if name in MEMBER_ONLY else world.facilities
        out[name] = int(rng.poisson(params.false_alarms_per_facility_year * base * years))
    return out
