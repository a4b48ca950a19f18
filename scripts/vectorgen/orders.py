"""M3 pause orders, M4 resume orders, M5 time tokens and M10 prohibited artifacts."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from pausebutton.protocol.messages import (
    GLOBAL,
    Artifact,
    ArtifactKind,
    PauseOrder,
    ProhibitedArtifacts,
    ResumeOrder,
    Scope,
    ScopeKind,
    TimeToken,
)
from vectorgen.common import (
    NOW,
    Doc,
    Roles,
    aliased_multi,
    bad,
    dup_sig,
    non_shortest_time_token,
    ok,
    payload_with,
    relabel,
    sign_raw,
    signed,
)


def _m3_pause_order_and_m4_resume_order(r: Roles, doc: Doc) -> None:
    """M3 pause order and M4 resume order (pause role: 3 of 5 members)."""
    keys = r.keys
    members = r.members
    pause = PauseOrder(
        sequence=7,
        scope=GLOBAL,
        effective_at=NOW,
        issued_at=NOW - 60,
        reason="Frontier training moratorium in force",
    )
    pause_region = PauseOrder(
        sequence=8,
        scope=Scope(ScopeKind.REGION, regions=("NL", "US")),
        effective_at=NOW,
        issued_at=NOW,
        reason="regional pause",
    )
    pause_owner = PauseOrder(
        sequence=9,
        scope=Scope(ScopeKind.OWNER, owners=("example-lab",)),
        effective_at=NOW,
        issued_at=NOW,
        reason="owner breach",
    )
    pause_chips = PauseOrder(
        sequence=10,
        scope=Scope(ScopeKind.CHIPS, chips=(keys.device.key_id,)),
        effective_at=NOW,
        issued_at=NOW,
        reason="chip reported missing",
    )
    resume = ResumeOrder(
        sequence=11,
        lifts=7,
        scope=GLOBAL,
        effective_at=NOW + 3600,
        issued_at=NOW,
        reason="moratorium lifted",
    )
    doc(
        "pause-order",
        "M3 pause orders (pause role: 3 of 5 member signatures).",
        [
            ok(
                "global",
                "a global pause signed by members 1-3",
                signed(pause, members[:3]),
                members[:3],
                role="pause",
            ),
            ok(
                "region",
                "two regions, signed by all five",
                signed(pause_region, members),
                members,
                role="pause",
            ),
            ok(
                "owner",
                "one owner, signed by members 3-5",
                signed(pause_owner, members[2:]),
                members[2:],
                role="pause",
            ),
            ok("chips", "one chip", signed(pause_chips, members[1:4]), members[1:4], role="pause"),
            ok(
                "with-outsider",
                "three members and an outsider: unknown keys are ignored",
                signed(pause, [*members[:3], keys.outsider]),
                members[:3],
                role="pause",
            ),
            bad(
                "two-of-five",
                "two member signatures",
                signed(pause, members[:2]),
                "below_threshold",
                role="pause",
            ),
            bad(
                "duplicate-signature",
                "member-1's signature twice and member-2's",
                dup_sig(pause, members[:2], members[0]),
                "below_threshold",
                role="pause",
            ),
            bad(
                "alias",
                "member-3's key id carrying member-1's signature",
                aliased_multi(pause, members[:2], members[2], members[0]),
                "below_threshold",
                role="pause",
            ),
            bad(
                "region-scope-empty",
                "a region scope without regions",
                sign_raw(
                    "pause-order", 1, payload_with(pause, scope={"kind": "region"}), members[:3]
                ),
                "schema",
                role="pause",
            ),
            bad(
                "scope-mixed",
                "a global scope that lists regions",
                sign_raw(
                    "pause-order",
                    1,
                    payload_with(pause, scope={"kind": "global", "regions": ["NL"]}),
                    members[:3],
                ),
                "schema",
                role="pause",
            ),
            bad(
                "scope-unknown-kind",
                "scope kind 'planet'",
                sign_raw(
                    "pause-order", 1, payload_with(pause, scope={"kind": "planet"}), members[:3]
                ),
                "schema",
                role="pause",
            ),
            bad(
                "sequence-zero",
                "sequence 0",
                sign_raw("pause-order", 1, payload_with(pause, sequence=0), members[:3]),
                "schema",
                role="pause",
            ),
            bad(
                "relabelled-resume",
                "a resume order's envelope relabelled as a pause order "
                "(its payload decodes as both): "
                "the type is signed (S2)",
                relabel(signed(resume, members[:3]), "pause-order"),
                "below_threshold",
                role="pause",
            ),
        ],
    )
    doc(
        "resume-order",
        "M4 resume orders (pause role: 3 of 5 member signatures).",
        [
            ok("global", "lifts pause 7", signed(resume, members[:3]), members[:3], role="pause"),
            bad(
                "two-of-five",
                "two member signatures",
                signed(resume, members[3:]),
                "below_threshold",
                role="pause",
            ),
            bad(
                "sequence-not-after",
                "sequence equal to the pause it lifts",
                sign_raw("resume-order", 1, payload_with(resume, sequence=7), members[:3]),
                "schema",
                role="pause",
            ),
            bad(
                "relabelled-pause",
                "a pause order relabelled as a resume order",
                relabel(
                    signed(dataclasses.replace(pause, extra={"lifts": 5}), members[:3]),
                    "resume-order",
                ),
                "below_threshold",
                role="pause",
            ),
        ],
    )


def _m5_time_token(r: Roles, doc: Doc) -> None:
    """M5 time token (time role)."""
    keys = r.keys
    time_key = r.time_key
    log = r.log
    token = TimeToken(time=NOW, sequence=1)
    token_chip = TimeToken(time=NOW + 60, sequence=2, chip_id=keys.device.key_id)
    doc(
        "time-token",
        "M5 time tokens (time role).",
        [
            ok("broadcast", "for every chip", signed(token, [time_key]), [time_key], role="time"),
            ok("for-chip", "for one chip", signed(token_chip, [time_key]), [time_key], role="time"),
            bad(
                "not-time-key",
                "signed by the log key",
                signed(token, [log]),
                "below_threshold",
                role="time",
            ),
            bad(
                "negative-time",
                "time -1",
                sign_raw("time-token", 1, payload_with(token, time=-1), [time_key]),
                "schema",
                role="time",
            ),
            bad(
                "sequence-not-shortest",
                "sequence 1 encoded as 0x18 0x01",
                sign_raw("time-token", 1, non_shortest_time_token(token), [time_key]),
                "non_canonical",
                role="time",
            ),
        ],
    )


def _m10_prohibited_artifacts(r: Roles, doc: Doc) -> None:
    """M10 prohibited artifacts (pause role: it restricts compute)."""
    members = r.members
    arts = ProhibitedArtifacts(
        sequence=3,
        issued_at=NOW,
        artifacts=(
            Artifact(
                kind=ArtifactKind.FILE,
                sha256=bytes.fromhex("01" * 32),
                description="weights of model X, trained in breach",
            ),
            Artifact(kind=ArtifactKind.TENSOR, sha256=bytes.fromhex("02" * 32), description=""),
        ),
    )
    empty_list = ProhibitedArtifacts(sequence=4, issued_at=NOW, artifacts=())
    doc(
        "prohibited-artifacts",
        "M10 prohibited-artifact lists (pause role: 3 of 5 member signatures).",
        [
            ok(
                "two-artifacts",
                "a file and a tensor",
                signed(arts, members[:3]),
                members[:3],
                role="pause",
            ),
            ok(
                "empty",
                "an empty list (a required list may be empty)",
                signed(empty_list, members[:3]),
                members[:3],
                role="pause",
            ),
            bad(
                "unknown-kind",
                "artifact kind 'dataset'",
                sign_raw(
                    "prohibited-artifacts",
                    1,
                    payload_with(
                        arts,
                        artifacts=[{"kind": "dataset", "sha256": bytes(32), "description": ""}],
                    ),
                    members[:3],
                ),
                "schema",
                role="pause",
            ),
            bad(
                "two-of-five",
                "two member signatures",
                signed(arts, members[:2]),
                "below_threshold",
                role="pause",
            ),
        ],
    )


SECTIONS: tuple[Callable[[Roles, Doc], None], ...] = (
    _m3_pause_order_and_m4_resume_order,
    _m5_time_token,
    _m10_prohibited_artifacts,
)
