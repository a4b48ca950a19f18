"""Message types (M1-M10): validate() and the helpers on them."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pausebutton.errors import ExpiredError, NotYetValidError, SchemaError
from pausebutton.protocol.keys import PrivateKey, key_id
from pausebutton.protocol.messages import (
    GENESIS_HASH,
    GLOBAL,
    Artifact,
    ArtifactKind,
    Checkpoint,
    DeviceCertificate,
    License,
    LocationChallenge,
    LocationResponse,
    PauseOrder,
    ProhibitedArtifacts,
    ResumeOrder,
    Scope,
    ScopeKind,
    TimeToken,
    UsageReport,
    report_hash,
)
from pausebutton.protocol.schema import Payload

DEVICE = PrivateKey.from_seed_material(b"msg/device")
CHIP = DEVICE.key_id
H = bytes(range(32))

SAMPLES: dict[str, Payload] = {
    "cert": DeviceCertificate(
        serial="S1",
        model="H100",
        device_key=DEVICE.public.raw,
        vendor="v",
        firmware_floor=1,
        issued_at=10,
        hardware_uuid="GPU-1",
        peak_flops=10**15,
    ),
    "license": License(
        license_id=5,
        chip_id=CHIP,
        not_before=100,
        not_after=200,
        flop_budget=10**25,
        max_offline=60,
        region="NL",
        owner="o",
        facility="f",
        pod=(CHIP,),
        run_id="r",
    ),
    "pause": PauseOrder(sequence=1, scope=GLOBAL, effective_at=1, issued_at=1, reason="r"),
    "resume": ResumeOrder(
        sequence=2, lifts=1, scope=GLOBAL, effective_at=1, issued_at=1, reason="r"
    ),
    "token": TimeToken(time=1, sequence=1, chip_id=CHIP),
    "report": UsageReport(
        chip_id=CHIP,
        sequence=1,
        prev_hash=GENESIS_HASH,
        time=1,
        flop_full=2**80,
        flop_throttled=0,
        cycles=0,
        energy_mj=0,
        state="licensed",
        license_id=5,
        license_flop_used=0,
    ),
    "challenge": LocationChallenge(landmark_id=H, chip_id=CHIP, nonce=H),
    "response": LocationResponse(chip_id=CHIP, nonce=H, counter=0),
    "checkpoint": Checkpoint(origin="o", size=0, root_hash=H),
    "artifacts": ProhibitedArtifacts(
        sequence=1,
        issued_at=1,
        artifacts=(Artifact(kind=ArtifactKind.CODE, sha256=H, description=""),),
    ),
}

# (sample, field, bad value): each must fail validate() with a SchemaError naming a field
INVALID: list[tuple[str, str, Any]] = [
    ("cert", "device_key", bytes(31)),
    ("cert", "serial", ""),
    ("cert", "model", "x" * 1025),
    ("cert", "vendor", ""),
    ("cert", "firmware_floor", -1),
    ("cert", "issued_at", -1),
    ("cert", "peak_flops", 0),
    ("license", "chip_id", bytes(33)),
    ("license", "license_id", 0),
    ("license", "not_before", -1),
    ("license", "not_after", 100),
    ("license", "flop_budget", 0),
    ("license", "max_offline", 0),
    ("license", "firmware_floor", -1),
    ("license", "region", "NLD"),
    ("license", "region", "nl"),
    ("license", "region", "N1"),
    ("license", "owner", ""),
    ("license", "facility", "f" * 1025),
    ("license", "run_id", ""),
    ("license", "pod", (bytes(31),)),
    ("pause", "sequence", 0),
    ("pause", "effective_at", -1),
    ("pause", "issued_at", -1),
    ("pause", "reason", ""),
    ("resume", "lifts", 0),
    ("resume", "sequence", 1),
    ("resume", "reason", ""),
    ("token", "time", -1),
    ("token", "sequence", 0),
    ("token", "chip_id", bytes(8)),
    ("report", "chip_id", bytes(1)),
    ("report", "prev_hash", bytes(31)),
    ("report", "sequence", 0),
    ("report", "flop_full", -1),
    ("report", "flop_throttled", -1),
    ("report", "cycles", -1),
    ("report", "energy_mj", -1),
    ("report", "time", -1),
    ("report", "license_flop_used", -1),
    ("report", "license_id", 0),
    ("report", "state", ""),
    ("report", "state", "s" * 33),
    ("challenge", "landmark_id", bytes(31)),
    ("challenge", "chip_id", bytes(31)),
    ("challenge", "nonce", bytes(31)),
    ("response", "chip_id", bytes(31)),
    ("response", "nonce", bytes(33)),
    ("response", "counter", -1),
    ("checkpoint", "origin", ""),
    ("checkpoint", "origin", "o" * 257),
    ("checkpoint", "size", -1),
    ("checkpoint", "root_hash", bytes(31)),
    ("artifacts", "sequence", 0),
    ("artifacts", "issued_at", -1),
]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_are_valid_and_round_trip(name: str) -> None:
    payload = SAMPLES[name]
    payload.validate()
    assert type(payload).decode_payload(payload.encode()) == payload


@pytest.mark.parametrize(("name", "field", "bad"), INVALID)
def test_validate_rejects(name: str, field: str, bad: Any) -> None:
    payload = dataclasses.replace(SAMPLES[name], **{field: bad})
    with pytest.raises(SchemaError):
        payload.validate()
    with pytest.raises(SchemaError):
        type(payload).decode_payload(payload.encode())


def test_limits_on_lists() -> None:
    lic = SAMPLES["license"]
    assert isinstance(lic, License)
    with pytest.raises(SchemaError):
        dataclasses.replace(lic, pod=(CHIP,) * 4097).validate()
    arts = SAMPLES["artifacts"]
    assert isinstance(arts, ProhibitedArtifacts)
    with pytest.raises(SchemaError):
        dataclasses.replace(arts, artifacts=arts.artifacts * 4097).validate()
    with pytest.raises(SchemaError):
        Artifact(kind=ArtifactKind.FILE, sha256=bytes(31), description="").validate()


def test_license_time_window() -> None:
    lic = SAMPLES["license"]
    assert isinstance(lic, License)
    lic.check_time(100)
    lic.check_time(199)
    with pytest.raises(NotYetValidError):
        lic.check_time(99)
    with pytest.raises(ExpiredError):
        lic.check_time(200)


def test_device_certificate_chip_id() -> None:
    cert = SAMPLES["cert"]
    assert isinstance(cert, DeviceCertificate)
    assert cert.chip_id == key_id(DEVICE.public.raw) == CHIP


@pytest.mark.parametrize(
    ("scope", "chip", "region", "owner", "applies"),
    [
        (GLOBAL, CHIP, None, None, True),
        (Scope(ScopeKind.REGION, regions=("NL", "DE")), CHIP, "DE", None, True),
        (Scope(ScopeKind.REGION, regions=("NL",)), CHIP, "US", "o", False),
        (Scope(ScopeKind.REGION, regions=("NL",)), CHIP, None, None, False),
        (Scope(ScopeKind.OWNER, owners=("lab",)), CHIP, "NL", "lab", True),
        (Scope(ScopeKind.OWNER, owners=("lab",)), CHIP, "NL", None, False),
        (Scope(ScopeKind.CHIPS, chips=(CHIP,)), CHIP, None, None, True),
        (Scope(ScopeKind.CHIPS, chips=(H,)), CHIP, "NL", "lab", False),
    ],
)
def test_scope_applies_to(
    scope: Scope, chip: bytes, region: str | None, owner: str | None, applies: bool
) -> None:
    scope.validate()
    assert scope.applies_to(chip, region, owner) is applies


@pytest.mark.parametrize(
    "scope",
    [
        Scope(ScopeKind.REGION),
        Scope(ScopeKind.OWNER),
        Scope(ScopeKind.CHIPS),
        Scope(ScopeKind.GLOBAL, regions=("NL",)),
        Scope(ScopeKind.REGION, regions=("NL",), owners=("o",)),
        Scope(ScopeKind.REGION, regions=("nl",)),
        Scope(ScopeKind.OWNER, owners=("",)),
        Scope(ScopeKind.CHIPS, chips=(bytes(3),)),
        Scope(ScopeKind.CHIPS, chips=(H,) * 4097),
    ],
)
def test_invalid_scopes(scope: Scope) -> None:
    with pytest.raises(SchemaError):
        scope.validate()


def test_report_hash_chain() -> None:
    data = b"envelope bytes"
    import hashlib

    assert report_hash(data) == hashlib.sha256(data).digest()
    assert bytes(32) == GENESIS_HASH


def test_artifact_hashes() -> None:
    arts = SAMPLES["artifacts"]
    assert isinstance(arts, ProhibitedArtifacts)
    assert arts.hashes() == frozenset({H})
