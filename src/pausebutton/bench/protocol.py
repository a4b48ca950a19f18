"""``pausebutton bench protocol``: envelope throughput against raw Ed25519.

Measures, interleaved in one run and repeated, on one core:

- ``raw_sign`` / ``raw_verify``: PyNaCl (libsodium) Ed25519 sign and verify of
  the exact signing input (step S2) of a License envelope;
- ``envelope_sign``: ``Envelope.create(license, [key]).encode()`` (payload
  encoding, signing input, signature, envelope encoding);
- ``envelope_verify``: ``Envelope.decode(bytes)`` (E1-E4, S1) plus
  ``verify_threshold(...).require()`` (T1-T4) with one licensing key;
- ``envelope_open_verify``: the same plus ``open_as(License)`` (P1-P5 and
  ``validate()``): everything a chip does before it looks at the fields;
- ``reference_open_verify``: the same work through the reference decoders
  (``encoding.decode``, cbor2 with the E2 walk and the E4 re-encoding, for the envelope
  and for the payload, then ``from_value``), which the one-pass readers of
  ``Envelope.decode`` and ``decode_payload`` stand in for: their gain, in the same run.

Each rate is operations per second (median of the repetitions); ratios are
taken per repetition (the envelope and raw figures of one repetition are
measured back to back) and the median ratio is reported; ``*_overhead_us`` is
the time an envelope operation adds to the raw call, from the median rates;
``*_ratio_best`` divide the best repetitions' rates (the least disturbed by
other load on the machine). The targets are ``envelope_verify_ratio >= 0.80`` and
``envelope_open_verify_ratio >= 0.85`` (``meets_target``, ``meets_open_verify_target``).
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import nacl
import nacl.signing

from pausebutton.bench import phase
from pausebutton.protocol import encoding
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import License
from pausebutton.protocol.threshold import verify_threshold

TARGET_VERIFY_RATIO = 0.80
TARGET_OPEN_VERIFY_RATIO = 0.85


def calls_per_second(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn``, timed in batches over at least ``seconds``."""
    count = 0
    batch = 32
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            fn()
        count += batch
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def _sample_license() -> License:
    return License(
        license_id=1001,
        chip_id=bytes.fromhex("11" * 32),
        not_before=1_767_225_600,
        not_after=1_767_225_600 + 30 * 86400,
        flop_budget=10**25,
        max_offline=86400,
        firmware_floor=3,
        owner="example-lab",
        region="NL",
    )


def run(
    quick: bool = False, reps: int | None = None, seconds: float | None = None
) -> dict[str, Any]:
    """Measure and return the figures (see the module docstring)."""
    reps = reps if reps is not None else (2 if quick else 7)
    seconds = seconds if seconds is not None else (0.05 if quick else 0.4)

    key = PrivateKey.from_seed_material(b"bench/licensing")
    public = key.public
    raw_signer = nacl.signing.SigningKey(key.seed())
    raw_verifier = nacl.signing.VerifyKey(public.raw)
    lic = _sample_license()
    data = Envelope.create(lic, [key]).encode()
    env = Envelope.decode(data)
    message = env.signing_input()
    signature = env.signatures[0].sig
    keys = (public,)

    def raw_sign() -> object:
        return raw_signer.sign(message)

    def raw_verify() -> object:
        return raw_verifier.verify(message, signature)

    def envelope_sign() -> object:
        return Envelope.create(lic, [key]).encode()

    def envelope_verify() -> object:
        e = Envelope.decode(data)
        verify_threshold(e, keys, 1).require()
        return e

    def envelope_open_verify() -> object:
        e = Envelope.decode(data)
        payload = e.open_as(License)
        verify_threshold(e, keys, 1).require()
        return payload

    def reference_open_verify() -> object:
        e = Envelope.from_value(encoding.decode(data))
        payload = License.from_value(encoding.decode(e.payload))
        verify_threshold(e, keys, 1).require()
        return payload

    # Correctness first: every measured path must accept the sample.
    assert envelope_sign() == data
    assert envelope_open_verify() == lic
    assert reference_open_verify() == lic

    cases: dict[str, Callable[[], object]] = {
        "raw_verify": raw_verify,
        "envelope_verify": envelope_verify,
        "envelope_open_verify": envelope_open_verify,
        "reference_open_verify": reference_open_verify,
        "raw_sign": raw_sign,
        "envelope_sign": envelope_sign,
    }
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for rep in range(reps):
        phase(f"round {rep + 1} of {reps}: raw and envelope sign and verify, interleaved")
        for name, fn in cases.items():
            rates[name].append(calls_per_second(fn, seconds))

    def ratio(num: str, den: str) -> float:
        per_rep = [n / d for n, d in zip(rates[num], rates[den], strict=True)]
        return round(statistics.median(per_rep), 3)

    result: dict[str, Any] = {
        "backend": f"pynacl {nacl.__version__} (libsodium)",
        "python": platform.python_version(),
        "message_type": License.TYPE,
        "envelope_bytes": len(data),
        "signing_input_bytes": len(message),
        "reps": reps,
        "seconds_per_measurement": seconds,
        "quick": quick,
    }
    for name, values in rates.items():
        result[f"{name}_per_s"] = round(statistics.median(values))
    result["envelope_sign_ratio"] = ratio("envelope_sign", "raw_sign")
    result["envelope_verify_ratio"] = ratio("envelope_verify", "raw_verify")
    result["envelope_open_verify_ratio"] = ratio("envelope_open_verify", "raw_verify")
    result["reference_open_verify_ratio"] = ratio("reference_open_verify", "raw_verify")
    # The same ratios from the best repetition of each (least disturbed by other load).
    for name, raw in (
        ("envelope_sign", "raw_sign"),
        ("envelope_verify", "raw_verify"),
        ("envelope_open_verify", "raw_verify"),
        ("reference_open_verify", "raw_verify"),
    ):
        result[f"{name}_ratio_best"] = round(max(rates[name]) / max(rates[raw]), 3)
    # Microseconds each envelope operation adds to the raw Ed25519 call (medians).
    for name, raw in (
        ("envelope_verify", "raw_verify"),
        ("envelope_open_verify", "raw_verify"),
        ("reference_open_verify", "raw_verify"),
        ("envelope_sign", "raw_sign"),
    ):
        extra = 1e6 / result[f"{name}_per_s"] - 1e6 / result[f"{raw}_per_s"]
        result[f"{name}_overhead_us"] = round(extra, 2)
    result["target_verify_ratio"] = TARGET_VERIFY_RATIO
    result["meets_target"] = result["envelope_verify_ratio"] >= TARGET_VERIFY_RATIO
    result["target_open_verify_ratio"] = TARGET_OPEN_VERIFY_RATIO
    result["meets_open_verify_target"] = (
        result["envelope_open_verify_ratio"] >= TARGET_OPEN_VERIFY_RATIO
    )
    return result
