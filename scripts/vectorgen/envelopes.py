"""S1: envelope-level encodings of one license."""

from __future__ import annotations

from typing import Any

from pausebutton.protocol import encoding
from pausebutton.protocol.envelope import Envelope
from vectorgen.common import (
    Keys,
    bad,
    cbor_map,
    envelope_bytes,
    file_doc,
    item,
    ok,
    sample_license,
    sign_raw,
)


def envelope_vectors(keys: Keys, root: bytes) -> dict[str, Any]:
    """S1: envelope-level encodings of one license (licensing role)."""
    licensing = keys.role("licensing")
    lic = sample_license(keys)
    env = Envelope.create(lic, [licensing])
    good = env.encode()
    sigs = env.signatures
    ver = env.version
    chk = {"role": "licensing"}

    def eb(**kw: Any) -> bytes:
        args: dict[str, Any] = {
            "type_name": env.type,
            "version": ver,
            "payload": env.payload,
            "signatures": sigs,
        }
        args.update(kw)
        return envelope_bytes(**args)

    assert eb() == good
    sig_entry_unsorted = item([{"key_id": s.key_id, "sig": s.sig} for s in sigs])
    deep = b"\x81" * 16 + b"\x80"
    vectors = [
        ok("canonical", "a license envelope", good, [licensing], **chk),
        ok(
            "at-size-limit",
            "checked with a size limit equal to its length",
            good,
            [licensing],
            max_size=len(good),
            **chk,
        ),
        bad(
            "over-size-limit",
            "checked with a size limit one byte below its length",
            good,
            "oversized",
            max_size=len(good) - 1,
            **chk,
        ),
        bad(
            "keys-unsorted",
            "envelope keys in the order type, version, payload, signatures",
            eb(order=("type", "version", "payload", "signatures")),
            "non_canonical",
            **chk,
        ),
        bad(
            "signature-keys-unsorted",
            "a signature map with key_id before sig",
            eb(signatures=sig_entry_unsorted),
            "non_canonical",
            **chk,
        ),
        bad(
            "version-not-shortest",
            "version 1 as 0x18 0x01",
            eb(version=bytes.fromhex("1801")),
            "non_canonical",
            **chk,
        ),
        bad(
            "version-bignum",
            "version 1 as a tag-2 bignum",
            eb(version=bytes.fromhex("c24101")),
            "non_canonical",
            **chk,
        ),
        bad(
            "version-float", "version 1.0", eb(version=bytes.fromhex("f93c00")), "malformed", **chk
        ),
        bad("version-zero", "version 0", eb(version=0), "malformed", **chk),
        bad("version-text", "version '1'", eb(version=item("1")), "malformed", **chk),
        bad(
            "signatures-indefinite",
            "an indefinite-length signature array",
            eb(signatures=b"\x9f" + sig_entry_unsorted[1:] + b"\xff"),
            "malformed",
            **chk,
        ),
        bad(
            "duplicate-key",
            "the type key twice",
            envelope_bytes(
                env.type,
                ver,
                env.payload,
                sigs,
                order=("type", "type", "payload", "version", "signatures"),
                head=b"\xa5",
            ),
            "malformed",
            **chk,
        ),
        bad(
            "missing-signatures",
            "no signatures key",
            cbor_map(
                [("type", item(env.type)), ("payload", item(env.payload)), ("version", item(ver))]
            ),
            "malformed",
            **chk,
        ),
        bad(
            "extra-key",
            "an unknown envelope key",
            encoding.encode({**env.to_value(), "note": "x"}),
            "malformed",
            **chk,
        ),
        bad(
            "not-a-map",
            "an array of the four values",
            encoding.encode([env.type, ver, env.payload, []]),
            "malformed",
            **chk,
        ),
        bad("payload-text", "payload as a text string", eb(payload="x"), "malformed", **chk),
        bad(
            "short-key-id",
            "a 31-byte key id",
            eb(signatures=item([{"sig": sigs[0].sig, "key_id": sigs[0].key_id[:31]}])),
            "malformed",
            **chk,
        ),
        bad(
            "long-sig",
            "a 65-byte signature",
            eb(signatures=item([{"sig": sigs[0].sig + b"\x00", "key_id": sigs[0].key_id}])),
            "malformed",
            **chk,
        ),
        bad(
            "too-deep", "signatures nested 17 arrays deep", eb(signatures=deep), "malformed", **chk
        ),
        bad("truncated", "the last byte missing", good[:-1], "malformed", **chk),
        bad("trailing-byte", "one byte after the envelope", good + b"\x00", "non_canonical", **chk),
        bad("empty-type", "type ''", sign_raw("", 1, env.payload, [licensing]), "malformed", **chk),
    ]
    return file_doc(
        "S1-S4: envelope encodings. Check as for message vectors (decode, open, threshold, time).",
        root,
        vectors,
    )
