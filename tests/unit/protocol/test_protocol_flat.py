"""The one-pass readers (flat.py, ``envelope._decode_canonical``) against the
reference path: the same inputs accepted with the same values, the same inputs refused
with the same error (class and message), on directed encodings of every head form and
on fuzzed edits of valid envelopes of every message type."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.protocol.test_protocol_fastpath import general_decoders, outcome, same_answers
from tests.unit.protocol.test_protocol_properties import PROPS, SAMPLES, SIGNERS, TYPES, with_extra

from pausebutton.errors import NonCanonicalError
from pausebutton.protocol import encoding
from pausebutton.protocol.envelope import (
    MAX_SIGNATURES,
    Envelope,
    Signature,
    _decode_canonical,
    signing_input,
)
from pausebutton.protocol.schema import Payload


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


@dataclasses.dataclass(frozen=True)
class Every(Payload):
    """A flat payload with a field of every kind a reader reads (not registered)."""

    TYPE = "test-every-kind"

    n: int
    flag: bool
    name: str
    blob: bytes
    colour: Colour
    m: int | None = None
    note: str | None = None
    ints: tuple[int, ...] | None = None
    flags: tuple[bool, ...] = ()
    names: tuple[str, ...] | None = None
    blobs: tuple[bytes, ...] | None = None


BASE: dict[str, Any] = {"n": 1, "flag": True, "name": "x", "blob": b"y", "colour": "red"}


def reference(data: bytes) -> tuple[str, Any]:
    """What the reference path (cbor2, E2-E4, the general field loop) answers."""
    Every._class_codec()  # cached, so general_decoders() replaces it too
    with general_decoders():
        return outcome(lambda: Every.from_value(encoding.decode(data)))


def check(value: dict[str, Any] | bytes, *, fast: bool | None = None) -> tuple[str, Any]:
    """``Every.decode_payload`` answers as the reference path does; with ``fast`` the
    reader itself accepts (True) or declines (False) the bytes."""
    data = value if isinstance(value, bytes) else cbor2.dumps(value, canonical=True)
    got = outcome(lambda: Every.decode_payload(data))
    want = reference(data)
    assert got == want
    if got[0] == "ok":
        assert got[1].to_value() == want[1].to_value()
        assert got[1].extra == want[1].extra
    if fast is not None:
        reader = Every._class_codec().reader
        assert reader is not None
        assert (reader(data) is not None) == fast
    return got


def test_every_kind_has_a_reader() -> None:
    assert Every._class_codec().reader is not None
    assert check({**BASE}, fast=True)[0] == "ok"
    full = {
        **BASE,
        "m": -5,
        "note": "é",
        "ints": [1, -1, 2**70],
        "flags": [True, False],
        "names": ["a", "b"],
        "blobs": [b"", b"z"],
    }
    value = encoding.decode(encoding.encode(full))
    assert check(encoding.encode(value), fast=True)[0] == "ok"


INTS = [
    0,
    1,
    23,
    24,
    255,
    256,
    65535,
    65536,
    2**32 - 1,
    2**32,
    2**64 - 1,
    2**64,
    2**64 + 1,
    10**25,
    2**200,
    -1,
    -24,
    -25,
    -256,
    -257,
    -65537,
    -(2**32) - 1,
    -(2**64),
    -(2**64) - 1,
    -(10**25),
]


@pytest.mark.parametrize("n", INTS)
def test_integers_in_their_canonical_form_are_read(n: int) -> None:
    for field in ("n", "m"):
        data = encoding.encode({**BASE, field: n})
        assert check(data, fast=True) == ("ok", Every.from_value({**BASE, field: n}))
    assert check(encoding.encode({**BASE, "ints": [n, n]}), fast=True)[0] == "ok"


def _long_heads(major: int, arg: int) -> list[bytes]:
    """Every head of ``major`` carrying ``arg`` that is longer than the shortest."""
    out = []
    for info, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if arg < 1 << (8 * width):
            out.append(bytes([major << 5 | info]) + arg.to_bytes(width, "big"))
    return out[1:] if arg >= 24 else out  # from 24 the first one is the shortest


def _replace_n(head: bytes) -> bytes:
    canonical = encoding.encode({**BASE, "n": 7})
    at = canonical.index(b"\x61n") + 2
    return canonical[:at] + head + canonical[at + 1 :]


@pytest.mark.parametrize("n", [0, 7, 23, 24, 200, 255, 256, 70000, 2**33, 2**64 - 1])
def test_longer_integer_heads_are_refused_alike(n: int) -> None:
    for major, value in ((0, n), (1, -1 - n)):
        for head in _long_heads(major, n):
            data = _replace_n(head)
            assert cbor2.loads(data)["n"] == value  # valid CBOR, the same number
            assert check(data, fast=False)[0] == "NonCanonicalError"


@pytest.mark.parametrize("n", [0, 1, 255, 2**32, 2**64 - 1, 2**64, 2**100])
def test_bignums_only_beyond_64_bits_without_leading_zeros(n: int) -> None:
    content = n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
    forms = [b"\xc2" + cbor2.dumps(content), b"\xc2" + cbor2.dumps(b"\x00" + content)]
    forms.append(b"\xc3" + cbor2.dumps(content))
    forms.append(b"\xc2" + cbor2.dumps(b""))  # the empty bignum (zero)
    canonical = n >= 2**64
    for i, form in enumerate(forms):
        data = _replace_n(form)
        fast = canonical and i in (0, 2)
        answer = check(data, fast=fast)
        assert (answer[0] == "ok") == fast
        if not fast:
            assert answer[0] == "NonCanonicalError"


def test_other_kinds_refused_alike() -> None:
    wrong: list[tuple[str, Any]] = [
        ("n", True),
        ("n", "1"),
        ("n", 1.0),
        ("n", None),
        ("flag", 1),
        ("flag", None),
        ("name", b"x"),
        ("blob", "y"),
        ("colour", "blue"),
        ("colour", 1),
        ("m", None),
        ("note", None),
        ("ints", []),
        ("ints", [1, "x"]),
        ("ints", [True]),
        ("flags", []),
        ("flags", [1]),
        ("names", [b"a"]),
        ("blobs", ["a"]),
        ("extra", 1),
        ("zzz", 1),
        ("name", ""),
        ("blob", b""),
    ]
    for key, value in wrong:
        check({**BASE, key: value})
    for key in BASE:  # a required field missing
        check(encoding.encode({k: v for k, v in BASE.items() if k != key}), fast=False)


def test_text_must_be_utf8_alike() -> None:
    canonical = encoding.encode({**BASE, "name": "ab"})
    at = canonical.index(b"\x62ab")
    for bad in (b"\xff\xfe", b"\xed\xa0", b"\xc3\x28", b"a\x80"):
        check(canonical[:at] + b"\x62" + bad + canonical[at + 3 :], fast=False)


def test_map_heads_and_trailing_bytes_alike() -> None:
    canonical = encoding.encode(BASE)
    assert canonical[0] == 0xA5
    check(b"\xb8\x05" + canonical[1:], fast=False)  # a longer map head
    check(b"\xbf" + canonical[1:] + b"\xff", fast=False)  # an indefinite map
    check(canonical + b"\x00", fast=False)
    check(b"\xd9\xd9\xf7" + canonical, fast=False)  # the self-describe tag
    reordered = cbor2.dumps(dict(reversed(list(cbor2.loads(canonical).items()))))
    check(reordered, fast=False)
    for end in range(len(canonical)):
        check(canonical[:end], fast=False)


@given(st.data())
@settings(PROPS, max_examples=300)
def test_fuzzed_edits_of_a_payload_answer_alike(data: st.DataObject) -> None:
    value = {
        **BASE,
        "n": data.draw(st.sampled_from(INTS)),
        "note": data.draw(st.none() | st.text(max_size=30)),
        "ints": data.draw(st.none() | st.lists(st.sampled_from(INTS), min_size=1, max_size=3)),
        "names": data.draw(st.none() | st.lists(st.text(max_size=3), min_size=1, max_size=3)),
    }
    raw = cbor2.dumps({k: v for k, v in value.items() if v is not None}, canonical=True)
    check(_edit(raw, data))


def _edit(raw: bytes, data: st.DataObject) -> bytes:
    """One to three random edits: replace, insert or delete bytes, or truncate."""
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 3))):
        if not out:
            break
        i = data.draw(st.integers(0, len(out) - 1))
        kind = data.draw(st.sampled_from(["replace", "insert", "delete", "truncate", "flip"]))
        if kind == "replace":
            out[i] = data.draw(st.integers(0, 255))
        elif kind == "insert":
            out[i:i] = data.draw(st.binary(min_size=1, max_size=3))
        elif kind == "delete":
            del out[i : i + data.draw(st.integers(1, 3))]
        elif kind == "truncate":
            del out[i:]
        else:
            out[i] ^= 1 << data.draw(st.integers(0, 7))
    return bytes(out)


@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.TYPE)
def test_fuzzed_edits_of_envelopes_answer_alike(cls: type[Payload]) -> None:
    @settings(PROPS, max_examples=25)
    @given(payload=with_extra(cls), data=st.data())
    def run(payload: Payload, data: st.DataObject) -> None:
        env = Envelope.create(payload, SIGNERS[: data.draw(st.integers(0, 3))])
        raw = env.encode()
        same_answers(raw)
        for _ in range(4):
            same_answers(_edit(raw, data))
        # the payload alone, edited inside a well-formed envelope
        edited = Envelope(cls.TYPE, cls.VERSION, _edit(env.payload, data), env.signatures)
        same_answers(edited.encode())

    run()


@pytest.mark.parametrize("type_name", sorted(SAMPLES))
def test_every_sample_is_read_by_the_fast_paths(type_name: str) -> None:
    env = SAMPLES[type_name]
    data = env.encode()
    fast = _decode_canonical(data)
    assert fast == env
    assert fast is not None and fast.signing_input() == signing_input(
        env.type, env.version, env.payload
    )
    reader = type(env.open())._class_codec().reader
    if reader is not None:
        assert reader(env.payload) is not None


def _envelope(type_name: str, version: int, payload: bytes, count: int) -> bytes:
    sigs = [Signature(bytes([i]) * 32, bytes([i]) * 64) for i in range(count)]
    return Envelope(type_name, version, payload, tuple(sigs)).encode()


@pytest.mark.parametrize(
    ("type_len", "version", "payload_len", "count"),
    [
        (1, 1, 0, 0),
        (23, 23, 23, 23),
        (24, 24, 24, 24),
        (255, 255, 255, MAX_SIGNATURES),
        (256, 256, 256, 1),
        (7, 65535, 65535 - 400, 1),
        (7, 65536, 1000, 1),
        (7, 2**32, 1000, 1),
        (7, 2**64 - 1, 1000, 1),
    ],
)
def test_envelope_heads_of_every_width(
    type_len: int, version: int, payload_len: int, count: int
) -> None:
    data = _envelope("t" * type_len, version, b"p" * payload_len, count)
    fast = _decode_canonical(data)
    assert outcome(lambda: Envelope.decode(data)) == outcome(
        lambda: Envelope.from_value(encoding.decode(data))
    )
    if type_len < 256:  # longer type names take the reference path
        assert fast is not None
        assert fast.signing_input() == signing_input(fast.type, fast.version, fast.payload)
        assert fast == Envelope.from_value(encoding.decode(data))
    else:
        assert fast is None


def test_envelope_refusals_alike() -> None:
    good = _envelope("license", 1, b"\xa0", 1)
    too_many = _envelope("license", 1, b"\xa0", MAX_SIGNATURES + 1)
    cases = [
        too_many,
        _envelope("é", 1, b"", 0),
        good.replace(b"\x67license", b"\x67licen\xff\xfe"),  # not UTF-8
        good.replace(b"\x67version\x01", b"\x67version\x00"),  # version 0
        good.replace(b"\x67version\x01", b"\x67version\x18\x01"),  # a longer head
        good.replace(b"\x67version\x01", b"\x67version\x20"),  # a negative version
        good.replace(b"\x64type\x67", b"\x64type\x78\x07"),  # a longer type head
        good.replace(b"\x67payload\x41", b"\x67payload\x58\x01"),  # a longer payload head
        good.replace(b"\x6asignatures\x81", b"\x6asignatures\x98\x01"),
        good + b"\x00",
    ]
    for data in cases:
        assert _decode_canonical(data) is None or data == cases[1]
        assert outcome(lambda d=data: Envelope.decode(d)) == outcome(
            lambda d=data: Envelope.from_value(encoding.decode(d))
        )
    assert outcome(lambda: Envelope.decode(cases[4]))[0] == NonCanonicalError.__name__


def test_the_kept_signing_input_is_not_copied() -> None:
    env = Envelope.decode(SAMPLES["license"].encode())
    other = dataclasses.replace(env, payload=b"\xa0")
    assert other.signing_input() == signing_input(env.type, env.version, b"\xa0")
    assert env.signing_input() == signing_input(env.type, env.version, env.payload)


# -- writers ----------------------------------------------------------------------------


def encoded_alike(obj: Payload | Envelope) -> tuple[str, Any]:
    """``encode()`` gives what the reference encoder gives, or the same error (of any
    class: a field of a wrong type may fail in ``to_value`` before any encoding)."""

    def answer(fn: Any) -> tuple[str, Any]:
        try:
            return "ok", fn()
        except Exception as exc:  # noqa: BLE001 (compared below, class and message)
            return type(exc).__name__, str(exc)

    got = answer(obj.encode)
    assert got == answer(lambda: encoding.encode(obj.to_value()))
    return got


@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.TYPE)
def test_writers_encode_as_the_reference_encoder(cls: type[Payload]) -> None:
    @settings(PROPS, max_examples=40)
    @given(payload=with_extra(cls), data=st.data())
    def run(payload: Payload, data: st.DataObject) -> None:
        assert encoded_alike(payload)[0] == "ok"
        env = Envelope.create(payload, SIGNERS[: data.draw(st.integers(0, 3))])
        assert encoded_alike(env)[0] == "ok"
        writer = cls._class_codec().writer
        if writer is not None and not payload.extra:
            assert writer(payload) is not None  # the fast path itself wrote it

    run()


def test_writers_leave_other_types_to_the_reference_encoder() -> None:
    good = Every.from_value(BASE)
    writer = Every._class_codec().writer
    assert writer is not None and writer(good) == encoding.encode(BASE)
    odd: list[dict[str, Any]] = [
        {"n": True},
        {"n": 1.5},
        {"n": None},
        {"name": b"x"},
        {"blob": bytearray(b"y")},
        {"colour": "red"},
        {"m": "1"},
        {"ints": [1, 2]},
        {"ints": (1, "2")},
        {"flags": (1,)},
        {"names": ("a", None)},
        {"extra": {"zz": 1}},
    ]
    for change in odd:
        obj = dataclasses.replace(good, **change)
        assert writer(obj) is None
        encoded_alike(obj)
    for fine in ({"ints": ()}, {"flags": ()}, {"m": -(2**80)}, {"note": ""}):
        obj = dataclasses.replace(good, **fine)
        assert writer(obj) is not None
        assert encoded_alike(obj)[0] == "ok"


def test_envelopes_of_other_types_take_the_reference_encoder() -> None:
    env = SAMPLES["license"]
    for odd in (
        dataclasses.replace(env, version=True),
        dataclasses.replace(env, version=-3),
        dataclasses.replace(env, payload=bytearray(env.payload)),
        dataclasses.replace(env, signatures=(Signature(bytearray(32), b"s" * 64),)),
        dataclasses.replace(env, type=1),
    ):
        encoded_alike(odd)  # type: ignore[arg-type]
