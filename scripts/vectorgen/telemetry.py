"""M6 usage reports, M7 location challenges, M8 responses, M11 location
measurements and M9 log checkpoints."""

from __future__ import annotations

from collections.abc import Callable

from pausebutton.protocol.messages import (
    GENESIS_HASH,
    Checkpoint,
    LocationChallenge,
    LocationResponse,
    Measurement,
    UsageReport,
    report_hash,
)
from vectorgen.common import NOW, Doc, Roles, bad, ok, payload_with, sign_raw, signed


def _m6_usage_report(r: Roles, doc: Doc) -> None:
    """M6 usage report (the chip's device key)."""
    keys = r.keys
    device = r.device
    device_key = r.device_key
    first = UsageReport(
        chip_id=keys.device.key_id,
        sequence=1,
        prev_hash=GENESIS_HASH,
        time=NOW,
        flop_full=3 * 10**20,
        flop_throttled=0,
        cycles=2**70,
        energy_mj=123_456_789,
        state="licensed",
        license_id=1001,
        license_flop_used=3 * 10**20,
    )
    first_bytes = signed(first, [device])
    second = UsageReport(
        chip_id=keys.device.key_id,
        sequence=2,
        prev_hash=report_hash(first_bytes),
        time=NOW + 3600,
        flop_full=5 * 10**20,
        flop_throttled=10**15,
        cycles=2**70 + 10**12,
        energy_mj=223_456_789,
        state="throttled",
    )
    doc(
        "usage-report",
        "M6 usage reports (signed by the chip's device key, given as device_key).",
        [
            ok(
                "first",
                "the first report (prev_hash all zero); cycles beyond 64 bits",
                first_bytes,
                [device],
                **device_key,
            ),
            ok(
                "second",
                "chained to the first by SHA-256 of its envelope bytes",
                signed(second, [device]),
                [device],
                **device_key,
            ),
            bad(
                "other-chip",
                "signed by another chip's key",
                signed(first, [keys.device_other]),
                "below_threshold",
                **device_key,
            ),
            bad(
                "negative-counter",
                "flop_full -1",
                sign_raw("usage-report", 1, payload_with(first, flop_full=-1), [device]),
                "schema",
                **device_key,
            ),
            bad(
                "short-prev-hash",
                "prev_hash of 31 bytes",
                sign_raw("usage-report", 1, payload_with(first, prev_hash=bytes(31)), [device]),
                "schema",
                **device_key,
            ),
        ],
    )


def _m7_m8_location_and_m11_measurement(r: Roles, doc: Doc) -> None:
    """M7 location challenge (landmark role) and M8 response (device key); M11 location
    measurement (landmark role): a timed, signed record of one challenge (it needs M8's
    response)."""
    keys = r.keys
    landmark = r.landmark
    device = r.device
    device_key = r.device_key
    challenge = LocationChallenge(
        landmark_id=landmark.key_id, chip_id=keys.device.key_id, nonce=bytes(range(32))
    )
    response = LocationResponse(chip_id=keys.device.key_id, nonce=bytes(range(32)), counter=17)
    doc(
        "location-challenge",
        "M7 location challenges (landmark role).",
        [
            ok(
                "challenge",
                "a nonce for one chip",
                signed(challenge, [landmark]),
                [landmark],
                role="landmark",
            ),
            bad(
                "short-nonce",
                "a 16-byte nonce",
                sign_raw(
                    "location-challenge", 1, payload_with(challenge, nonce=bytes(16)), [landmark]
                ),
                "schema",
                role="landmark",
            ),
            bad(
                "device-signed",
                "signed by the chip instead of a landmark",
                signed(challenge, [device]),
                "below_threshold",
                role="landmark",
            ),
        ],
    )
    doc(
        "location-response",
        "M8 location responses (the chip's device key).",
        [
            ok("response", "the chip's answer", signed(response, [device]), [device], **device_key),
            bad(
                "landmark-signed",
                "signed by the landmark",
                signed(response, [landmark]),
                "below_threshold",
                **device_key,
            ),
            bad(
                "negative-counter",
                "counter -1",
                sign_raw("location-response", 1, payload_with(response, counter=-1), [device]),
                "schema",
                **device_key,
            ),
        ],
    )

    # M11 location measurement (landmark role): a timed, signed record of one challenge
    measurement = Measurement(
        landmark_id=landmark.key_id,
        chip_id=keys.device.key_id,
        nonce=bytes(range(32)),
        rtt_ns=1_250_000,
        time=1_800_000_000,
        counter=17,
        lat_e6=52_370_216,
        lon_e6=4_895_168,
        response=signed(response, [device]),
    )
    doc(
        "location-measurement",
        "M11 location measurements (landmark role).",
        [
            ok(
                "measurement",
                "a 1.25 ms round trip measured from Amsterdam",
                signed(measurement, [landmark]),
                [landmark],
                role="landmark",
            ),
            bad(
                "zero-rtt",
                "a round trip of 0 ns",
                sign_raw(
                    "location-measurement", 1, payload_with(measurement, rtt_ns=0), [landmark]
                ),
                "schema",
                role="landmark",
            ),
            bad(
                "latitude-out-of-range",
                "latitude 91 degrees",
                sign_raw(
                    "location-measurement",
                    1,
                    payload_with(measurement, lat_e6=91_000_000),
                    [landmark],
                ),
                "schema",
                role="landmark",
            ),
            bad(
                "device-signed",
                "signed by the chip instead of a landmark",
                signed(measurement, [device]),
                "below_threshold",
                role="landmark",
            ),
        ],
    )


def _m9_checkpoint(r: Roles, doc: Doc) -> None:
    """M9 checkpoint (log role)."""
    keys = r.keys
    log = r.log
    cp = Checkpoint(
        origin="pausebutton.example/log", size=12345, root_hash=bytes.fromhex("ab" * 32)
    )
    doc(
        "checkpoint",
        "M9 checkpoints (log role).",
        [
            ok("checkpoint", "a tree head", signed(cp, [log]), [log], role="log"),
            ok(
                "empty-log",
                "size 0",
                signed(
                    Checkpoint(
                        origin="pausebutton.example/log",
                        size=0,
                        root_hash=bytes.fromhex(
                            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                        ),
                    ),
                    [log],
                ),
                [log],
                role="log",
            ),
            bad(
                "witness-signed",
                "signed by one witness",
                signed(cp, [keys.role("witness")]),
                "below_threshold",
                role="log",
            ),
            bad(
                "short-root",
                "root_hash of 20 bytes",
                sign_raw("checkpoint", 1, payload_with(cp, root_hash=bytes(20)), [log]),
                "schema",
                role="log",
            ),
        ],
    )


SECTIONS: tuple[Callable[[Roles, Doc], None], ...] = (
    _m6_usage_report,
    _m7_m8_location_and_m11_measurement,
    _m9_checkpoint,
)
