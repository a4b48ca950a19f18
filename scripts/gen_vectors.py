#!/usr/bin/env python3
"""Generate the protocol test vectors in tests/vectors/protocol/ from fixed seeds.

    python scripts/gen_vectors.py            write the files
    python scripts/gen_vectors.py --check    exit 1 if the files differ from a fresh run

Every key comes from ``PrivateKey.from_seed_material`` and Ed25519 signatures are
deterministic, so the output is the same byte for byte on every run;
tests/unit/protocol/test_protocol_vectors.py regenerates the files in memory
and compares them with the committed ones. docs/protocol.md, section
"Test vectors", says how each kind of vector is checked.

The generator is the package scripts/vectorgen/, one module per group of files:
``common`` (seeds, keys, raw CBOR helpers, vector records), ``basics`` (Ed25519,
encoding), ``roots`` (trust root and rotation), ``envelopes``, and the message files
(``messages``: ``licensing``, ``orders``, ``telemetry``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS.parent / "src"))
sys.path.insert(0, str(SCRIPTS))

from vectorgen.basics import ed25519_vectors, encoding_vectors  # noqa: E402
from vectorgen.common import GENERATOR, Keys  # noqa: E402
from vectorgen.envelopes import envelope_vectors  # noqa: E402
from vectorgen.messages import message_vectors  # noqa: E402
from vectorgen.roots import root_docs  # noqa: E402

OUT_DIR = SCRIPTS.parent / "tests" / "vectors" / "protocol"

# -- output ------------------------------------------------------------------------------------


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def build() -> dict[str, str]:
    """Every vector file: name -> exact file text."""
    keys = Keys()
    root, trust_doc, rotation_doc = root_docs(keys)
    docs: dict[str, dict[str, Any]] = {
        "ed25519": ed25519_vectors(keys),
        "encoding": encoding_vectors(),
        "envelope": envelope_vectors(keys, root),
        "trust-root": trust_doc,
        "root-rotation": rotation_doc,
        **message_vectors(keys, root),
    }
    docs["keys"] = {
        "description": (
            "Every key of the vectors: seed = SHA-256('pausebutton-test-key:' + seed_material)."
        ),
        "generated_by": GENERATOR,
        "keys": keys.doc(),
    }
    return {f"{name}.json": render(doc) for name, doc in sorted(docs.items())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args(argv)
    files = build()
    if args.check:
        stale = [
            n
            for n, text in files.items()
            if not (args.out / n).is_file() or (args.out / n).read_text() != text
        ]
        extra = sorted(p.name for p in args.out.glob("*.json") if p.name not in files)
        for name in stale + extra:
            print(f"differs: {name}", file=sys.stderr)
        return 1 if stale or extra else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text)
    print(f"wrote {len(files)} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
