"""M1 device certificates and M2 licenses."""

from __future__ import annotations

from collections.abc import Callable

from pausebutton.protocol import encoding
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.messages import DeviceCertificate, License
from vectorgen.common import (
    DAY,
    NOW,
    Doc,
    Roles,
    aliased,
    bad,
    chip_id,
    corrupt_sig,
    declared_order,
    item,
    ok,
    payload_with,
    sample_license,
    sign_raw,
    signed,
    swap_payload,
    with_null,
)


def _m1_device_certificate(r: Roles, doc: Doc) -> None:
    """M1 device certificate (vendor role)."""
    keys = r.keys
    licensing = r.licensing
    vendor = r.vendor
    device = r.device
    cert = DeviceCertificate(
        serial="GH100-0001-2345",
        model="H100-SXM5-80GB",
        device_key=device.public.raw,
        vendor="example-vendor",
        firmware_floor=3,
        issued_at=NOW - 90 * DAY,
        hardware_uuid="GPU-5fb7c4a2-0d8e-4f5e-9c39-2f1a9e7b6c01",
        peak_flops=989_000_000_000_000,
    )
    cert_min = DeviceCertificate(
        serial="S-2",
        model="M",
        device_key=keys.device_other.public.raw,
        vendor="example-vendor",
        firmware_floor=0,
        issued_at=NOW,
    )
    doc(
        "device-certificate",
        "M1 device certificates (vendor role).",
        [
            ok("full", "every field", signed(cert, [vendor]), [vendor], role="vendor"),
            ok(
                "minimal",
                "required fields only",
                signed(cert_min, [vendor]),
                [vendor],
                role="vendor",
            ),
            bad(
                "not-vendor",
                "signed by the licensing key instead of the vendor",
                signed(cert, [licensing]),
                "below_threshold",
                role="vendor",
            ),
            bad(
                "short-device-key",
                "device_key of 31 bytes",
                sign_raw(
                    "device-certificate",
                    1,
                    payload_with(cert, device_key=device.public.raw[:31]),
                    [vendor],
                ),
                "schema",
                role="vendor",
            ),
            bad(
                "zero-peak",
                "peak_flops 0",
                sign_raw("device-certificate", 1, payload_with(cert, peak_flops=0), [vendor]),
                "schema",
                role="vendor",
            ),
            bad(
                "null-uuid",
                "hardware_uuid encoded as null instead of omitted",
                sign_raw("device-certificate", 1, with_null(cert, "hardware_uuid"), [vendor]),
                "schema",
                role="vendor",
            ),
        ],
    )


def _m2_license(r: Roles, doc: Doc) -> None:
    """M2 license (licensing role)."""
    keys = r.keys
    licensing = r.licensing
    time_key = r.time_key
    lic = sample_license(keys)
    lic_min = License(
        license_id=1,
        chip_id=chip_id(keys),
        not_before=NOW,
        not_after=NOW + DAY,
        flop_budget=10**18,
        max_offline=3600,
    )
    lic_pod = sample_license(
        keys, license_id=1002, pod=(keys.device.key_id, keys.device_other.key_id), run_id="run-42"
    )
    lic_extra = payload_with(lic, **{"x-future-field": {"note": "kept", "n": 7}})
    doc(
        "license",
        "M2 licenses (licensing role). A verifier also checks not_before <= now < not_after.",
        [
            ok(
                "full",
                "owner, facility and region constraints; a 10**25 FLOP budget (a bignum)",
                signed(lic, [licensing]),
                [licensing],
                role="licensing",
            ),
            ok(
                "minimal",
                "required fields only; valid from exactly now",
                signed(lic_min, [licensing]),
                [licensing],
                role="licensing",
            ),
            ok(
                "pod",
                "a pod constraint (two chip ids) and a run id",
                signed(lic_pod, [licensing]),
                [licensing],
                role="licensing",
            ),
            ok(
                "unknown-field",
                "a field this version does not know is kept (P4)",
                sign_raw("license", 1, lic_extra, [licensing]),
                [licensing],
                role="licensing",
            ),
            ok(
                "last-second",
                "verified one second before not_after",
                signed(lic, [licensing]),
                [licensing],
                role="licensing",
                now=lic.not_after - 1,
            ),
            bad(
                "expired",
                "verified at not_after",
                signed(lic, [licensing]),
                "expired",
                role="licensing",
                now=lic.not_after,
            ),
            bad(
                "not-yet-valid",
                "verified one second before not_before",
                signed(lic, [licensing]),
                "not_yet_valid",
                role="licensing",
                now=lic.not_before - 1,
            ),
            bad(
                "unsigned",
                "no signatures",
                Envelope.wrap(lic).encode(),
                "below_threshold",
                role="licensing",
            ),
            bad(
                "outsider",
                "signed by a key the trust root does not know",
                signed(lic, [keys.outsider]),
                "below_threshold",
                role="licensing",
            ),
            bad(
                "wrong-role",
                "signed by the time key",
                signed(lic, [time_key]),
                "below_threshold",
                role="licensing",
            ),
            bad(
                "corrupt-signature",
                "the last byte of the signature changed",
                corrupt_sig(signed(lic, [licensing])),
                "below_threshold",
                role="licensing",
            ),
            bad(
                "alias",
                "the licensing key id carrying the time key's signature",
                aliased(lic, licensing, time_key),
                "below_threshold",
                role="licensing",
            ),
            bad(
                "payload-changed",
                "budget raised after signing",
                swap_payload(
                    signed(lic, [licensing]), sample_license(keys, flop_budget=10**26).encode()
                ),
                "below_threshold",
                role="licensing",
            ),
            bad(
                "missing-field",
                "no flop_budget",
                sign_raw("license", 1, payload_with(lic, flop_budget=None), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "missing-firmware-floor",
                "no firmware_floor: a field with a default (0) is always encoded (P2)",
                sign_raw("license", 1, payload_with(lic_min, firmware_floor=None), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "wrong-field-type",
                "license_id as text",
                sign_raw("license", 1, payload_with(lic, license_id="1001"), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "bool-as-int",
                "max_offline as true",
                sign_raw("license", 1, payload_with(lic, max_offline=True), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "null-optional",
                "region encoded as null",
                sign_raw("license", 1, with_null(lic, "region"), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "empty-pod",
                "pod encoded as an empty array instead of omitted",
                sign_raw("license", 1, payload_with(lic, pod=[]), [licensing]),
                "non_canonical",
                role="licensing",
            ),
            bad(
                "lowercase-region",
                "region 'nl'",
                sign_raw("license", 1, payload_with(lic, region="nl"), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "empty-window",
                "not_after equal to not_before",
                sign_raw("license", 1, payload_with(lic, not_after=lic.not_before), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "zero-budget",
                "flop_budget 0",
                sign_raw("license", 1, payload_with(lic, flop_budget=0), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "short-chip-id",
                "chip_id of 16 bytes",
                sign_raw("license", 1, payload_with(lic, chip_id=bytes(16)), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "reserved-extra",
                "a field named 'extra'",
                sign_raw("license", 1, payload_with(lic, extra=1), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "payload-not-map",
                "the payload is an array",
                sign_raw("license", 1, encoding.encode([1, 2]), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "payload-not-canonical",
                "payload keys in declaration order, not canonical order",
                sign_raw("license", 1, item(declared_order(lic)), [licensing]),
                "non_canonical",
                role="licensing",
            ),
            bad(
                "payload-not-cbor",
                "payload bytes are not CBOR",
                sign_raw("license", 1, b"\xff\xff", [licensing]),
                "malformed",
                role="licensing",
            ),
            bad(
                "version-2",
                "license version 2 is unknown",
                sign_raw("license", 2, lic.encode(), [licensing]),
                "unknown_type",
                role="licensing",
            ),
            bad(
                "unknown-type",
                "type 'licence'",
                sign_raw("licence", 1, lic.encode(), [licensing]),
                "unknown_type",
                role="licensing",
            ),
        ],
    )


SECTIONS: tuple[Callable[[Roles, Doc], None], ...] = (
    _m1_device_certificate,
    _m2_license,
)
