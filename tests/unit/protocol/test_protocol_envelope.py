"""The signed envelope (S1-S4)."""

from __future__ import annotations

import cbor2
import pytest

from pausebutton.errors import MalformedError, SchemaError, UnknownTypeError
from pausebutton.protocol import encoding
from pausebutton.protocol.envelope import (
    MAX_SIGNATURES,
    SIG_CONTEXT,
    Envelope,
    Signature,
    decode_as,
    signing_input,
)
from pausebutton.protocol.jsonview import envelope_json
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import License, TimeToken

A = PrivateKey.from_seed_material(b"env/a")
B = PrivateKey.from_seed_material(b"env/b")
TOKEN = TimeToken(time=1_767_225_600, sequence=1)


def test_layout_s1() -> None:
    env = Envelope.create(TOKEN, [A])
    value = encoding.decode(env.encode())
    assert list(value) == ["type", "payload", "version", "signatures"]  # canonical order
    assert value["type"] == "time-token"
    assert value["version"] == 1
    assert value["payload"] == TOKEN.encode()
    assert value["signatures"] == [{"sig": env.signatures[0].sig, "key_id": A.key_id}]


def test_signing_input_s2() -> None:
    payload = TOKEN.encode()
    expected = cbor2.dumps([SIG_CONTEXT, "time-token", 1, payload])
    assert signing_input("time-token", 1, payload) == expected
    assert SIG_CONTEXT == "pausebutton/v1/sig"
    # many payload sizes cross CBOR head boundaries (23/24, 255/256, 65535/65536)
    for size in (0, 23, 24, 255, 256, 65535, 65536):
        data = bytes(size)
        assert signing_input("x", 1, data) == cbor2.dumps([SIG_CONTEXT, "x", 1, data])
    for version in (1, 23, 24, 2**40, 2**70):
        assert signing_input("x", version, b"p") == cbor2.dumps([SIG_CONTEXT, "x", version, b"p"])


def test_signature_covers_type_and_version() -> None:
    env = Envelope.create(TOKEN, [A])
    relabelled = Envelope("checkpoint", 1, env.payload, env.signatures)
    assert env.signed_by(A.public)
    assert not relabelled.signed_by(A.public)
    bumped = Envelope(env.type, 2, env.payload, env.signatures)
    assert not bumped.signed_by(A.public)


def test_sign_replaces_and_sorts() -> None:
    env = Envelope.wrap(TOKEN).sign(B).sign(A).sign(B)
    assert [s.key_id for s in env.signatures] == sorted([A.key_id, B.key_id])
    assert env.signed_by(A.public) and env.signed_by(B.public)


def test_merge() -> None:
    a = Envelope.create(TOKEN, [A])
    b = Envelope.create(TOKEN, [B])
    merged = a.merge(b)
    assert {s.key_id for s in merged.signatures} == {A.key_id, B.key_id}
    assert merged.merge(merged) == merged
    with pytest.raises(SchemaError):
        a.merge(Envelope.create(TimeToken(time=1, sequence=2), [B]))


def test_decode_round_trip_and_open() -> None:
    data = Envelope.create(TOKEN, [A, B]).encode()
    env = Envelope.decode(data)
    assert env.encode() == data
    assert env.open() == TOKEN
    assert env.open_as(TimeToken) == TOKEN
    env2, token = decode_as(data, TimeToken)
    assert env2 == env and token == TOKEN


def test_any_signature_order_decodes_s3() -> None:
    env = Envelope.create(TOKEN, [A, B])
    reversed_env = Envelope(env.type, env.version, env.payload, env.signatures[::-1])
    back = Envelope.decode(reversed_env.encode())
    assert back.signatures == env.signatures[::-1]


def test_unknown_type_decodes_but_does_not_open_s4() -> None:
    env = Envelope("future-thing", 1, encoding.encode({"a": 1}), ())
    back = Envelope.decode(env.encode())
    assert back == env
    with pytest.raises(UnknownTypeError):
        back.open()
    with pytest.raises(UnknownTypeError):
        Envelope(TimeToken.TYPE, 2, TOKEN.encode(), ()).open()
    with pytest.raises(UnknownTypeError):
        Envelope.create(TOKEN, []).open_as(License)


def test_signature_limit() -> None:
    sig = Signature(A.key_id, bytes(64))
    ok = Envelope("time-token", 1, TOKEN.encode(), (sig,) * MAX_SIGNATURES)
    assert len(Envelope.decode(ok.encode()).signatures) == MAX_SIGNATURES
    too_many = Envelope("time-token", 1, TOKEN.encode(), (sig,) * (MAX_SIGNATURES + 1))
    with pytest.raises(MalformedError):
        Envelope.decode(too_many.encode())


@pytest.mark.parametrize(
    "value",
    [
        [],
        {"type": "t", "version": 1, "payload": b""},
        {"type": "t", "version": 1, "payload": b"", "signatures": [], "x": 1},
        {"type": 1, "version": 1, "payload": b"", "signatures": []},
        {"type": "", "version": 1, "payload": b"", "signatures": []},
        {"type": "t", "version": True, "payload": b"", "signatures": []},
        {"type": "t", "version": -1, "payload": b"", "signatures": []},
        {"type": "t", "version": 1, "payload": "p", "signatures": []},
        {"type": "t", "version": 1, "payload": b"", "signatures": {}},
        {"type": "t", "version": 1, "payload": b"", "signatures": [[]]},
        {"type": "t", "version": 1, "payload": b"", "signatures": [{"key_id": bytes(32)}]},
        {"type": "t", "version": 1, "payload": b"", "signatures": [{"key_id": "k", "sig": b""}]},
        {
            "type": "t",
            "version": 1,
            "payload": b"",
            "signatures": [{"key_id": bytes(32), "sig": bytes(64), "alg": "x"}],
        },
    ],
)
def test_malformed_envelopes(value: object) -> None:
    with pytest.raises(MalformedError):
        Envelope.decode(encoding.encode(value))


def test_envelope_json_view() -> None:
    env = Envelope.create(TOKEN, [A])
    view = envelope_json(env)
    assert view["type"] == "time-token"
    assert view["payload"] == {"time": TOKEN.time, "sequence": 1}
    assert view["signatures"][0]["key_id"] == A.key_id.hex()
    broken = envelope_json(Envelope("time-token", 1, b"\xff", ()))
    assert "payload_error" in broken and broken["payload_hex"] == "ff"


def test_signing_input_cache_ignores_long_type_names() -> None:
    from pausebutton.protocol import envelope

    name = "t" * 5000
    assert signing_input(name, 1, b"p") == cbor2.dumps([SIG_CONTEXT, name, 1, b"p"])
    assert (name, 1) not in envelope._SIG_PREFIXES


def test_json_view_of_huge_integers() -> None:
    from pausebutton.protocol.jsonview import to_json

    assert to_json(2**64) == 2**64
    assert to_json({"n": 2**20000}) == {"n": "0x1" + "0" * 5000}
    assert to_json(-(2**20000)) == "-0x1" + "0" * 5000
    import json

    json.dumps(envelope_json(Envelope.create(TimeToken(time=2**20000, sequence=1), [A])))
