"""Composable cross-check rules over signals and the registry. Pure.

A rule is a function ``(Context) -> list[Finding]``; the engine runs every
rule and collects their findings (it never stops at the first). A finding
has a severity, a reason a person can read, the subject (site and/or owner,
or chip serials) and its evidence, each piece labelled:

* ``reported``   — a value as it came in (a meter reading, a customs record);
* ``calculated`` — arithmetic on reported values (a sum, a set difference);
* ``estimated``  — a model output with uncertainty (FLOP from energy).

``now`` is explicit: the engine never reads a clock.

The rules live in one module per family of signals; this module names them
(:data:`RULES`) and runs them (:func:`run_rules`):

* :mod:`~pausebutton.detect.rules.base`    findings, evidence, signal set, parameters, context
* :mod:`~pausebutton.detect.rules.energy`  energy telemetry
* :mod:`~pausebutton.detect.rules.supply`  customs, financial intelligence, fab output
* :mod:`~pausebutton.detect.rules.chips`   chip usage reports and location checks
* :mod:`~pausebutton.detect.rules.onsite`  data-centre and AI-developer inspections
* :mod:`~pausebutton.detect.rules.remote_sensing`  heat seen from orbit
* :mod:`~pausebutton.detect.rules.whistle` whistleblower claims, run last on the
  others' findings
"""

from __future__ import annotations

from collections.abc import Iterable

from pausebutton.detect.rules.base import (
    LABELS,
    Context,
    Evidence,
    Finding,
    Params,
    Rule,
    Severity,
    SignalSet,
)
from pausebutton.detect.rules.chips import location_inconsistent, usage_silent, usage_wrong_facility
from pausebutton.detect.rules.energy import implausible_energy, power_beyond_chips, unlicensed_run
from pausebutton.detect.rules.onsite import developer_undeclared, inspection_mismatch
from pausebutton.detect.rules.remote_sensing import thermal_anomaly
from pausebutton.detect.rules.supply import (
    custody_diverted,
    custody_in_transit,
    fab_output_excess,
    imported_unregistered,
    purchase_unmatched,
)
from pausebutton.detect.rules.whistle import whistle_claims
from pausebutton.errors import DataError

__all__ = [
    "LABELS",
    "RULES",
    "Context",
    "Evidence",
    "Finding",
    "Params",
    "Rule",
    "Severity",
    "SignalSet",
    "custody_diverted",
    "custody_in_transit",
    "developer_undeclared",
    "fab_output_excess",
    "implausible_energy",
    "imported_unregistered",
    "inspection_mismatch",
    "location_inconsistent",
    "power_beyond_chips",
    "purchase_unmatched",
    "run_rules",
    "thermal_anomaly",
    "unlicensed_run",
    "usage_silent",
    "usage_wrong_facility",
    "whistle_claims",
]


RULES: dict[str, Rule] = {
    "unlicensed_run": unlicensed_run,
    "implausible_energy": implausible_energy,
    "power_beyond_chips": power_beyond_chips,
    "imported_unregistered": imported_unregistered,
    "purchase_unmatched": purchase_unmatched,
    "usage_silent": usage_silent,
    "usage_wrong_facility": usage_wrong_facility,
    "location_inconsistent": location_inconsistent,
    "fab_output_excess": fab_output_excess,
    "custody_diverted": custody_diverted,
    "custody_in_transit": custody_in_transit,
    "inspection_mismatch": inspection_mismatch,
    "developer_undeclared": developer_undeclared,
    "thermal_anomaly": thermal_anomaly,
}
"""Base rules; ``whistle_claims`` runs after them on their findings."""


def run_rules(ctx: Context, rules: Iterable[str] | None = None) -> list[Finding]:
    """Run the named rules (default: all) and collect every finding."""
    names = list(rules) if rules is not None else [*RULES, "whistle_claims"]
    unknown = [n for n in names if n not in RULES and n != "whistle_claims"]
    if unknown:
        raise DataError(
            f"unknown rule(s): {', '.join(unknown)}; known: {', '.join([*RULES, 'whistle_claims'])}"
        )
    findings: list[Finding] = []
    for name in names:
        if name in RULES:
            findings.extend(RULES[name](ctx))
    if "whistle_claims" in names:
        findings.extend(whistle_claims(ctx, findings))
    return findings
