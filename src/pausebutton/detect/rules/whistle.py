"""Whistleblower claims, corroborated or not by the other rules' findings. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from pausebutton.detect.rules.base import Context, Evidence, Finding, Severity
from pausebutton.detect.signals import Method

# -- whistleblower claims, corroborated or not ---------------------------------------------


def whistle_claims(ctx: Context, prior: Sequence[Finding]) -> list[Finding]:
    """Each claim is a weak finding; corroborated by another method's finding it is strong."""
    out: list[Finding] = []
    for w in ctx.signals.get(Method.WHISTLEBLOWER):
        owner = w.owner or (ctx.registry.owner_of(w.site) if w.site else "")
        claim_ev = Evidence(
            "reported",
            "whistleblower",
            w.report_id,
            w.claim[:300],
            w.claimed_flop or (float(w.claimed_chips) if w.claimed_chips else None),
        )
        matches = [
            f
            for f in prior
            if f.method is not Method.WHISTLEBLOWER
            and f.severity >= Severity.MEDIUM
            and ((w.site and f.site == w.site) or (owner and f.owner == owner))
        ]
        if matches:
            methods = sorted({f.method.value for f in matches})
            ev = (
                claim_ev,
                *(
                    Evidence("calculated", f.method.value, f"finding:{f.rule}", f.reason, None)
                    for f in matches[:10]
                ),
            )
            out.append(
                Finding(
                    "whistle_corroborated",
                    Severity.HIGH,
                    f"whistleblower claim about {w.site or owner} corroborated by"
                    f" {', '.join(methods)}",
                    Method.WHISTLEBLOWER,
                    ev,
                    w.time,
                    site=w.site,
                    owner=owner,
                )
            )
        else:
            sev = Severity.MEDIUM if w.credibility >= 0.7 else Severity.LOW
            out.append(
                Finding(
                    "whistle_uncorroborated",
                    sev,
                    f"whistleblower claim about {w.site or owner or 'unknown'}"
                    f" (credibility {w.credibility:.1f}), not yet corroborated",
                    Method.WHISTLEBLOWER,
                    (claim_ev,),
                    w.time,
                    site=w.site,
                    owner=owner,
                )
            )
    return out
