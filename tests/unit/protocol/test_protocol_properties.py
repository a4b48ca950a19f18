"""Property tests (hypothesis): round trips, single-byte mutations, random bytes, size limits."""

from __future__ import annotations

import contextlib
import dataclasses
import string
from typing import Any
from unittest import mock

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pausebutton.errors import OversizedError, PausebuttonError
from pausebutton.protocol import encoding
from pausebutton.protocol.encoding import MAX_MESSAGE_SIZE
from pausebutton.protocol.envelope import Envelope, decode_as
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import (
    Artifact,
    ArtifactKind,
    Checkpoint,
    DeviceCertificate,
    License,
    LocationChallenge,
    LocationResponse,
    Measurement,
    PauseOrder,
    ProhibitedArtifacts,
    ResumeOrder,
    Scope,
    ScopeKind,
    TimeToken,
    UsageReport,
)
from pausebutton.protocol.schema import Payload, registered_types
from pausebutton.protocol.threshold import verify_threshold
from pausebutton.protocol.trustroot import ROLES, Member, Role, TrustRoot

PROPS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PER_TYPE = settings(PROPS, max_examples=60)
"""For the tests run once per message type (eleven types: 660 examples each)."""
SIGNERS = [PrivateKey.from_seed_material(f"prop/{i}".encode()) for i in range(3)]
PUBLIC = [k.public for k in SIGNERS]

# -- strategies ------------------------------------------------------------------------------

kid = st.binary(min_size=32, max_size=32)
text = st.text(min_size=1, max_size=24)
nonneg = st.integers(min_value=0, max_value=2**130)
pos = st.integers(min_value=1, max_value=2**130)
region = st.text(alphabet=string.ascii_uppercase, min_size=2, max_size=2)


def opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def tuples(strategy: st.SearchStrategy[Any], min_size: int = 1) -> st.SearchStrategy[Any]:
    return st.lists(strategy, min_size=min_size, max_size=4).map(tuple)


cbor_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**100), max_value=2**100)
    | st.binary(max_size=40)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

scopes = st.one_of(
    st.just(Scope(ScopeKind.GLOBAL)),
    tuples(region).map(lambda r: Scope(ScopeKind.REGION, regions=r)),
    tuples(text).map(lambda o: Scope(ScopeKind.OWNER, owners=o)),
    tuples(kid).map(lambda c: Scope(ScopeKind.CHIPS, chips=c)),
)


@st.composite
def licenses(draw: st.DrawFn) -> License:
    not_before = draw(nonneg)
    return License(
        license_id=draw(pos),
        chip_id=draw(kid),
        not_before=not_before,
        not_after=not_before + draw(pos),
        flop_budget=draw(pos),
        max_offline=draw(pos),
        firmware_floor=draw(nonneg),
        owner=draw(opt(text)),
        facility=draw(opt(text)),
        region=draw(opt(region)),
        pod=draw(opt(tuples(kid))),
        run_id=draw(opt(text)),
    )


@st.composite
def resumes(draw: st.DrawFn) -> ResumeOrder:
    lifts = draw(pos)
    return ResumeOrder(
        sequence=lifts + draw(pos),
        lifts=lifts,
        scope=draw(scopes),
        effective_at=draw(nonneg),
        issued_at=draw(nonneg),
        reason=draw(text),
    )


@st.composite
def roles(draw: st.DrawFn) -> Role:
    keys = draw(st.lists(kid, min_size=1, max_size=4, unique=True))
    return Role(keys=tuple(keys), threshold=draw(st.integers(1, len(keys))))


@st.composite
def trust_roots(draw: st.DrawFn) -> TrustRoot:
    names = draw(st.lists(text, min_size=1, max_size=4, unique=True))
    keys = draw(st.lists(kid, min_size=len(names), max_size=len(names), unique=True))
    members = tuple(
        Member(name=n, key=k, region=draw(opt(region))) for n, k in zip(names, keys, strict=True)
    )
    return TrustRoot(
        version=draw(pos),
        expires=draw(nonneg),
        members=members,
        roles={name: draw(roles()) for name in ROLES},
        log_origin=draw(text),
    )


PAYLOADS: dict[type[Payload], st.SearchStrategy[Any]] = {
    DeviceCertificate: st.builds(
        DeviceCertificate,
        serial=text,
        model=text,
        device_key=kid,
        vendor=text,
        firmware_floor=nonneg,
        issued_at=nonneg,
        hardware_uuid=opt(text),
        peak_flops=opt(pos),
    ),
    License: licenses(),
    PauseOrder: st.builds(
        PauseOrder, sequence=pos, scope=scopes, effective_at=nonneg, issued_at=nonneg, reason=text
    ),
    ResumeOrder: resumes(),
    TimeToken: st.builds(TimeToken, time=nonneg, sequence=pos, chip_id=opt(kid)),
    UsageReport: st.builds(
        UsageReport,
        chip_id=kid,
        sequence=pos,
        prev_hash=kid,
        time=nonneg,
        flop_full=nonneg,
        flop_throttled=nonneg,
        cycles=nonneg,
        energy_mj=nonneg,
        state=st.text(min_size=1, max_size=32),
        license_id=opt(pos),
        license_flop_used=opt(nonneg),
    ),
    LocationChallenge: st.builds(LocationChallenge, landmark_id=kid, chip_id=kid, nonce=kid),
    LocationResponse: st.builds(LocationResponse, chip_id=kid, nonce=kid, counter=nonneg),
    Checkpoint: st.builds(Checkpoint, origin=text, size=nonneg, root_hash=kid),
    ProhibitedArtifacts: st.builds(
        ProhibitedArtifacts,
        sequence=pos,
        issued_at=nonneg,
        artifacts=tuples(
            st.builds(
                Artifact,
                kind=st.sampled_from(ArtifactKind),
                sha256=kid,
                description=st.text(max_size=20),
            ),
            min_size=0,
        ),
    ),
    TrustRoot: trust_roots(),
    Measurement: st.builds(
        Measurement,
        landmark_id=kid,
        chip_id=kid,
        nonce=kid,
        rtt_ns=pos,
        time=nonneg,
        counter=nonneg,
        lat_e6=st.integers(-90_000_000, 90_000_000),
        lon_e6=st.integers(-180_000_000, 180_000_000),
        response=st.binary(min_size=1, max_size=200),
    ),
}
TYPES = sorted(PAYLOADS, key=lambda c: c.TYPE)


def test_strategies_cover_every_registered_type() -> None:
    assert set(PAYLOADS) == set(registered_types().values())


@st.composite
def with_extra(draw: st.DrawFn, cls: type[Payload]) -> Payload:
    """A payload, sometimes with fields this version does not know (P4)."""
    payload: Payload = draw(PAYLOADS[cls])
    known = {f.name for f in dataclasses.fields(payload)}
    extra = draw(
        st.dictionaries(
            st.text(min_size=1, max_size=10).filter(lambda k: k not in known),
            cbor_values.filter(lambda v: v is not None and v != []),
            max_size=2,
        )
    )
    return dataclasses.replace(payload, extra=extra)


def check(data: bytes, threshold: int) -> Payload:
    """The full path a verifier takes: decode, open, threshold."""
    env = Envelope.decode(data)
    payload = env.open()
    verify_threshold(env, PUBLIC, threshold).require()
    return payload


# -- round trip ------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.TYPE)
def test_round_trip(cls: type[Payload]) -> None:
    @PER_TYPE
    @given(payload=with_extra(cls), nsig=st.integers(1, 3))
    def run(payload: Payload, nsig: int) -> None:
        data = Envelope.create(payload, SIGNERS[:nsig]).encode()
        back = check(data, nsig)
        assert back == payload
        assert back.to_value() == payload.to_value()  # unknown fields kept too
        env = Envelope.decode(data)
        assert env.encode() == data  # E4
        assert back.encode() == env.payload  # P5
        assert decode_as(data, cls)[1] == payload

    run()


# -- single-byte mutations -------------------------------------------------------------------


SAMPLES = {
    cls.TYPE: data
    for cls, data in (
        (TimeToken, Envelope.create(TimeToken(time=1_767_225_600, sequence=3), SIGNERS[:2])),
        (
            License,
            Envelope.create(
                License(
                    license_id=7,
                    chip_id=bytes(range(32)),
                    not_before=0,
                    not_after=10**10,
                    flop_budget=10**25,
                    max_offline=3600,
                    region="NL",
                    pod=(bytes(32),),
                ),
                SIGNERS[:2],
            ),
        ),
        (
            PauseOrder,
            Envelope.create(
                PauseOrder(
                    sequence=1,
                    scope=Scope(ScopeKind.REGION, regions=("NL",)),
                    effective_at=5,
                    issued_at=4,
                    reason="r",
                ),
                SIGNERS,
            ),
        ),
    )
}


def mutations(data: bytes) -> list[bytes]:
    out = []
    for i in range(len(data)):
        for new in {data[i] ^ 0x01, data[i] ^ 0x80, data[i] ^ 0xFF, 0x00, 0xFF, 0x18, 0x40}:
            if new != data[i]:
                out.append(data[:i] + bytes([new]) + data[i + 1 :])
    return out


@pytest.mark.parametrize("type_name", sorted(SAMPLES))
def test_every_single_byte_mutation_is_rejected(type_name: str) -> None:
    env = SAMPLES[type_name]
    data = env.encode()
    threshold = len(env.signatures)
    check(data, threshold)  # the original is accepted
    for mutated in mutations(data):
        with pytest.raises(PausebuttonError):
            check(mutated, threshold)


def test_every_value_at_every_position_is_rejected() -> None:
    """All 255 replacements at every byte of a one-signature time token (~30k inputs)."""
    data = Envelope.create(TimeToken(time=1_767_225_600, sequence=3), SIGNERS[:1]).encode()
    rejected = 0
    for i in range(len(data)):
        for value in range(256):
            if value == data[i]:
                continue
            with pytest.raises(PausebuttonError):
                check(data[:i] + bytes([value]) + data[i + 1 :], 1)
            rejected += 1
    assert rejected == len(data) * 255


@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.TYPE)
def test_mutation_of_any_message_is_rejected(cls: type[Payload]) -> None:
    @PER_TYPE
    @given(payload=PAYLOADS[cls], data=st.data())
    def run(payload: Payload, data: st.DataObject) -> None:
        signed = Envelope.create(payload, SIGNERS[:2]).encode()
        i = data.draw(st.integers(0, len(signed) - 1))
        value = data.draw(st.integers(0, 255).filter(lambda v: v != signed[i]))
        with pytest.raises(PausebuttonError):
            check(signed[:i] + bytes([value]) + signed[i + 1 :], 2)

    run()


# -- random input never escapes the error hierarchy --------------------------------------------


@PROPS
@given(data=st.binary(max_size=300))
def test_random_bytes_raise_only_project_errors(data: bytes) -> None:
    with contextlib.suppress(PausebuttonError):
        check(data, 1)
    with contextlib.suppress(PausebuttonError):
        encoding.decode(data)


@PROPS
@given(value=cbor_values)
def test_random_cbor_raises_only_project_errors(value: Any) -> None:
    data = cbor2.dumps(value)
    try:
        decoded = encoding.decode(data)
    except PausebuttonError:
        return
    assert encoding.encode(decoded) == data
    with contextlib.suppress(PausebuttonError):
        check(data, 1)


@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.TYPE)
def test_changed_or_missing_fields_fail_cleanly_or_round_trip(cls: type[Payload]) -> None:
    @PER_TYPE
    @given(payload=PAYLOADS[cls], data=st.data())
    def run(payload: Payload, data: st.DataObject) -> None:
        value = payload.to_value()
        field = data.draw(st.sampled_from(sorted(value)))
        changed = [{**value, field: data.draw(cbor_values)}]
        changed += [{k: v for k, v in value.items() if k != name} for name in value]
        for candidate in changed:
            try:
                decoded = cls.decode_payload(encoding.encode(candidate))
            except PausebuttonError:
                continue
            # P5: whatever decodes re-encodes to the same bytes
            assert decoded.encode() == encoding.encode(candidate)

    run()


# -- E1: size limits come before parsing -------------------------------------------------------


@PROPS
@given(
    extra=st.integers(1, 5000),
    limit=st.integers(1, MAX_MESSAGE_SIZE),
    fill=st.binary(min_size=1, max_size=8),
)
def test_size_limit_is_enforced_before_parsing(extra: int, limit: int, fill: bytes) -> None:
    data = (fill * ((limit + extra) // len(fill) + 1))[: limit + extra]
    with mock.patch.object(encoding.cbor2, "loads", side_effect=AssertionError("parsed")) as loads:
        with pytest.raises(OversizedError):
            encoding.decode(data, max_size=limit)
        with pytest.raises(OversizedError):
            Envelope.decode(data, max_size=limit)
        if limit + extra > MAX_MESSAGE_SIZE:
            with pytest.raises(OversizedError):
                Envelope.decode(data)
        assert loads.call_count == 0


def test_default_limit_applies_to_payloads() -> None:
    big = Envelope("time-token", 1, b"\x00" * (MAX_MESSAGE_SIZE + 1), ())
    with (
        mock.patch.object(encoding.cbor2, "loads", side_effect=AssertionError("parsed")),
        pytest.raises(OversizedError),
    ):
        big.open()


ROOT_KEYS = [PrivateKey.from_seed_material(f"prop/root/{i}".encode()) for i in range(3)]


def _root(version: int) -> TrustRoot:
    role = Role(keys=tuple(k.public.raw for k in ROOT_KEYS), threshold=2)
    return TrustRoot(
        version=version,
        expires=10**10,
        members=tuple(Member(name=f"m{i}", key=k.public.raw) for i, k in enumerate(ROOT_KEYS)),
        roles=dict.fromkeys(ROLES, role),
        log_origin="o",
    )


ROOT_V1_BYTES = Envelope.create(_root(1), ROOT_KEYS[:2]).encode()  # exactly the threshold
ROOT_V2_BYTES = Envelope.create(_root(2), ROOT_KEYS[:2]).encode()


@PROPS
@given(data=st.data())
def test_mutated_roots_raise_only_project_errors(data: st.DataObject) -> None:
    from pausebutton.protocol.trustroot import load_pinned_root, verify_root_update

    _, v1 = load_pinned_root(ROOT_V1_BYTES, 0)
    verify_root_update(v1, ROOT_V2_BYTES, 0)
    for original in (ROOT_V1_BYTES, ROOT_V2_BYTES):
        i = data.draw(st.integers(0, len(original) - 1))
        value = data.draw(st.integers(0, 255).filter(lambda v, b=original[i]: v != b))
        mutated = original[:i] + bytes([value]) + original[i + 1 :]
        # a single changed byte breaks a signature, the shape, or the encoding
        with pytest.raises(PausebuttonError):
            load_pinned_root(mutated, 0) if original is ROOT_V1_BYTES else verify_root_update(
                v1, mutated, 0
            )
