"""Ed25519 verify (and sign) rates of PyNaCl (libsodium) and ``cryptography`` (OpenSSL).

The measurement behind docs/adr/0001-signature-backend.md. Both backends verify
the same signatures over the same messages, interleaved in one run, several
repetitions; the best repetition of each is reported (least disturbed by other
load on the machine), along with the median.

    python benchmarks/ed25519_backends.py [--seconds 0.5] [--reps 5] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
from collections.abc import Callable

import nacl.signing
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from pausebutton.bench.protocol import calls_per_second

MESSAGE_SIZE = 200
"""About the size of a license envelope's signing input."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()

    seed = hashlib.sha256(b"ed25519-backend-benchmark").digest()
    message = bytes(range(256))[:MESSAGE_SIZE]

    nacl_key = nacl.signing.SigningKey(seed)
    nacl_verify_key = nacl_key.verify_key
    nacl_sig = nacl_key.sign(message).signature

    ossl_key = Ed25519PrivateKey.from_private_bytes(seed)
    ossl_pub = Ed25519PublicKey.from_public_bytes(bytes(nacl_verify_key))
    ossl_sig = ossl_key.sign(message)
    assert ossl_sig == nacl_sig, "Ed25519 is deterministic: both backends must agree"

    cases: dict[str, Callable[[], object]] = {
        "pynacl_verify": lambda: nacl_verify_key.verify(message, nacl_sig),
        "cryptography_verify": lambda: ossl_pub.verify(ossl_sig, message),
        "pynacl_sign": lambda: nacl_key.sign(message),
        "cryptography_sign": lambda: ossl_key.sign(message),
    }
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.reps):
        for name, fn in cases.items():
            rates[name].append(calls_per_second(fn, args.seconds))

    result: dict[str, object] = {
        "message_bytes": MESSAGE_SIZE,
        "reps": args.reps,
        "seconds_per_measurement": args.seconds,
    }
    for name, values in rates.items():
        result[f"{name}_per_s_best"] = round(max(values))
        result[f"{name}_per_s_median"] = round(statistics.median(values))
    result["verify_ratio_pynacl_over_cryptography"] = round(
        max(rates["pynacl_verify"]) / max(rates["cryptography_verify"]), 2
    )
    result["sign_ratio_pynacl_over_cryptography"] = round(
        max(rates["pynacl_sign"]) / max(rates["cryptography_sign"]), 2
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:<42} {value}")


if __name__ == "__main__":
    main()
