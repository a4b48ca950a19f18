"""The decoding fast paths change speed, not answers.

``Envelope.decode`` first reads the one canonical layout of an envelope, and
``Payload.decode_payload`` / ``Struct.from_value`` use a generated decoder for flat
payloads; anything those do not accept takes the full path (cbor2, the E2 walk, the E4
re-encoding, the general field loop). Here every input, good or bad, must give the same
value or the same error (class and message) with and without the fast paths.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.protocol.test_protocol_properties import (
    PAYLOADS,
    PROPS,
    SAMPLES,
    SIGNERS,
    TYPES,
    mutations,
    with_extra,
)

from pausebutton.errors import PausebuttonError
from pausebutton.protocol import encoding
from pausebutton.protocol.envelope import Envelope, _decode_canonical
from pausebutton.protocol.schema import Payload, Struct


@contextlib.contextmanager
def general_decoders() -> Iterator[None]:
    """Every class decoded by the general field loop (the generated decoders off)."""
    for cls in list(PAYLOADS) + list(Struct.__subclasses__()):
        cls._class_codec()
    saved = dict(Struct._codec_cache)
    for cls, codec in saved.items():
        Struct._codec_cache[cls] = dataclasses.replace(codec, fast=None, reader=None)
    assert all(c.fast is None and c.reader is None for c in Struct._codec_cache.values())
    try:
        yield
    finally:
        Struct._codec_cache.update(saved)


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except PausebuttonError as exc:
        return type(exc).__name__, str(exc)


def full_envelope(data: bytes) -> Envelope:
    return Envelope.from_value(encoding.decode(data))


def same_answers(data: bytes) -> None:
    """Envelope and payload decoding agree with the full path on ``data``."""
    fast = outcome(lambda: Envelope.decode(data))
    full = outcome(lambda: full_envelope(data))
    assert fast == full
    if fast[0] != "ok":
        return
    env: Envelope = fast[1]
    with general_decoders():
        general = outcome(env.open)
        general_value = general[1].to_value() if general[0] == "ok" else None
    opened = outcome(env.open)
    assert opened[0] == general[0]
    if opened[0] == "ok":
        assert opened[1] == general[1]
        assert opened[1].to_value() == general_value
    else:
        assert opened == general


@pytest.mark.parametrize("type_name", sorted(SAMPLES))
def test_single_byte_mutations_answer_alike(type_name: str) -> None:
    data = SAMPLES[type_name].encode()
    same_answers(data)
    for mutated in mutations(data):
        same_answers(mutated)
    for end in range(len(data)):  # every truncation, and a byte after the end
        same_answers(data[:end])
    same_answers(data + b"\x00")


def _variants(value: Any) -> list[bytes]:
    """Other encodings of a decoded envelope or payload map: keys reversed, one field
    dropped, one field nulled or turned into a list, an unknown field, a long head."""
    canonical = encoding.encode(value)
    out = [cbor2.dumps(dict(reversed(list(value.items())))), canonical + b"\x00"]
    for key in value:  # the others in canonical key order, so that only the change differs
        out.append(cbor2.dumps({k: v for k, v in value.items() if k != key}, canonical=True))
        for other in (None, [], [1], [b"x", 1], 1.5, "x", b"x", -1, 2**70, True, {"a": 1}):
            changed = {k: (other if k == key else v) for k, v in value.items()}
            out.append(cbor2.dumps(changed, canonical=True))
    out.append(cbor2.dumps({**value, "zz_unknown": 1}, canonical=True))
    return out


@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.TYPE)
def test_changed_fields_answer_alike(cls: type[Payload]) -> None:
    @settings(PROPS, max_examples=10)
    @given(payload=with_extra(cls), data=st.data())
    def run(payload: Payload, data: st.DataObject) -> None:
        env = Envelope.create(payload, SIGNERS[: data.draw(st.integers(0, 3))])
        raw = env.encode()
        assert _decode_canonical(raw) == env  # the fast path itself reads it
        same_answers(raw)
        for variant in _variants(env.to_value()):
            same_answers(variant)
        for variant in _variants(payload.to_value()):
            same_answers(Envelope(cls.TYPE, cls.VERSION, variant, env.signatures).encode())
        i = data.draw(st.integers(0, len(raw) - 1))
        same_answers(raw[:i] + bytes([data.draw(st.integers(0, 255))]) + raw[i + 1 :])

    run()


def test_long_heads_and_tags_take_the_full_path() -> None:
    env = SAMPLES["license"]
    data = env.encode()
    # the version (1) with a one-byte argument head: valid CBOR, not canonical
    at = data.index(b"\x67version") + len(b"\x67version")
    long_version = data[:at] + b"\x18\x01" + data[at + 1 :]
    assert outcome(lambda: Envelope.decode(long_version))[0] == "NonCanonicalError"
    same_answers(long_version)
    same_answers(b"\xd9\xd9\xf7" + data)  # the self-describe tag 55799 in front


def test_flat_payloads_have_generated_decoders() -> None:
    flat = [cls for cls in TYPES if cls._class_codec().fast is not None]
    assert len(flat) >= 8  # all but the orders, the artifact list and the trust root


def test_a_default_factory_keeps_the_general_decoder() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class WithFactory(Struct):
        n: int
        tags: tuple[str, ...] = dataclasses.field(default_factory=tuple)

    assert WithFactory._class_codec().fast is None
    assert WithFactory.from_value({"n": 1}) == WithFactory(n=1)
