"""Trust-root vectors: the genesis root, its checks, and root rotation."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.trustroot import Member, TrustRoot
from vectorgen.common import (
    NOW,
    ROOT_EXPIRES,
    Keys,
    bad,
    decoded_json,
    dup_sig,
    file_doc,
    ok,
    root_dup_key,
    root_threshold,
    root_without_role,
    sample_license,
    sign_raw,
    signed,
)


def root_docs(keys: Keys) -> tuple[bytes, dict[str, Any], dict[str, Any]]:
    """The pinned v1 root, the trust-root file, and the root-rotation file."""
    auth = keys.authority
    members = [keys.member(i) for i in range(5)]
    root_v1 = auth.trust_root(version=1, expires=ROOT_EXPIRES)
    v1 = Envelope.create(root_v1, auth.role_keys["root"]).encode()

    def with_members(
        root: TrustRoot, version: int, new_keys: list[PrivateKey], expires: int = ROOT_EXPIRES
    ) -> TrustRoot:
        names = [m.name for m in root.members]
        new_members = tuple(
            Member(name=name, key=key.public.raw) for name, key in zip(names, new_keys, strict=True)
        )
        roles = dict(root.roles)
        for role in ("root", "pause"):
            roles[role] = dataclasses.replace(
                roles[role], keys=tuple(k.public.raw for k in new_keys)
            )
        return dataclasses.replace(
            root, version=version, expires=expires, members=new_members, roles=roles
        )

    # v2 replaces members 3-5 with new keys; v3 replaces member 1.
    v2_keys = [members[0], members[1], *keys.new_members]
    v3_keys = [keys.new_members_v3[0], members[1], *keys.new_members]
    root_v2 = with_members(root_v1, 2, v2_keys)
    root_v3 = with_members(root_v2, 3, v3_keys)
    old3 = members[:3]
    new3 = [members[0], members[1], keys.new_members[0]]
    v2 = signed(root_v2, {k.key_id: k for k in (*old3, *new3)}.values())
    v3 = signed(root_v3, [members[1], *keys.new_members[:2], keys.new_members_v3[0]])

    # trust-root.json: pinned-root checks.
    pinned = [
        ok(
            "pinned-v1",
            "the first root, signed by all five members (threshold 3)",
            v1,
            auth.role_keys["root"],
        ),
        ok(
            "pinned-v1-threshold",
            "signed by exactly three members",
            signed(root_v1, members[:3]),
            members[:3],
        ),
        bad(
            "pinned-two-of-five",
            "signed by two members only",
            signed(root_v1, members[:2]),
            "below_threshold",
        ),
        bad(
            "pinned-duplicate-signature",
            "three signatures, but member-1 twice",
            dup_sig(root_v1, members[:2], members[0]),
            "below_threshold",
        ),
        bad(
            "pinned-expired",
            "verified one second after it expires",
            v1,
            "expired",
            now=ROOT_EXPIRES,
        ),
        ok(
            "pinned-just-valid",
            "verified one second before it expires",
            v1,
            auth.role_keys["root"],
            now=ROOT_EXPIRES - 1,
        ),
        bad(
            "pinned-key-listed-twice",
            "the root role lists the same key twice",
            sign_raw("trust-root", 1, root_dup_key(root_v1), members),
            "schema",
        ),
        bad(
            "pinned-threshold-too-high",
            "root threshold 6 with five keys",
            sign_raw("trust-root", 1, root_threshold(root_v1, 6), members),
            "schema",
        ),
        bad(
            "pinned-missing-role",
            "no 'time' role",
            sign_raw("trust-root", 1, root_without_role(root_v1, "time"), members),
            "schema",
        ),
        bad(
            "pinned-wrong-type",
            "a license where a trust root is expected",
            signed(sample_license(keys), members),
            "unknown_type",
        ),
    ]
    trust_doc = file_doc(
        "R1-R2: pinned first roots. Check: load_pinned_root(envelope, now).",
        None,
        pinned,
    )

    def upd(
        name: str,
        description: str,
        updates: list[bytes],
        expect: str,
        signers: Iterable[PrivateKey] = (),
        **extra: Any,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": name,
            "description": description,
            **extra,
            "updates": [u.hex() for u in updates],
            "expect": expect,
        }
        if expect == "ok":
            env = Envelope.decode(updates[-1])
            out["decoded"] = decoded_json(env, env.open(), (k.key_id for k in signers))
        return out

    v2_expired = signed(
        dataclasses.replace(root_v2, expires=NOW - 1),
        {k.key_id: k for k in (*old3, *new3)}.values(),
    )
    rotations = [
        upd("v1-to-v2", "three members replaced; signed by 3 of v1 and 3 of v2", [v2], "ok", new3),
        upd(
            "v1-to-v2-to-v3",
            "a chain of two rotations",
            [v2, v3],
            "ok",
            [members[1], *keys.new_members[:2], keys.new_members_v3[0]],
        ),
        upd(
            "v2-old-only",
            "v2 signed by three v1 members, but only two of them are in v2",
            [signed(root_v2, old3)],
            "below_threshold",
        ),
        upd(
            "v2-new-only",
            "v2 signed by three v2 members, but only two of them are in v1",
            [signed(root_v2, [members[0], *keys.new_members[:2]])],
            "below_threshold",
        ),
        upd(
            "v2-duplicated",
            "members 1, 2 and a new member, plus member 1's signature again: "
            "two distinct v1 signers",
            [dup_sig(root_v2, [members[0], members[1], keys.new_members[0]], members[0])],
            "below_threshold",
        ),
        upd("same-version", "v1 again", [v1], "rollback"),
        upd("back-to-v1", "v2, then v1 again", [v2, v1], "rollback"),
        upd("gap", "v3 straight after v1", [v3], "chain"),
        upd("expired-last", "v2 has expired at the verifier's time", [v2_expired], "expired"),
        upd(
            "expired-intermediate",
            "v2 has expired, but v3 after it is valid: only the last root's expiry matters",
            [v2_expired, v3],
            "ok",
            [members[1], *keys.new_members[:2], keys.new_members_v3[0]],
        ),
        upd(
            "not-a-root",
            "a license as a root update",
            [signed(sample_license(keys), members)],
            "unknown_type",
        ),
        upd("malformed", "a truncated update", [v2[:-1]], "malformed"),
    ]
    rotation_doc = file_doc(
        "R3: root rotation. Check: load_pinned_root(trust_root) without a time; then "
        "verify_root_update(current, update, now) for the last update "
        "and with no time for the others.",
        v1,
        rotations,
    )
    return v1, trust_doc, rotation_doc
