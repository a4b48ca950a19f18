"""The API's Pydantic models: request bodies (``*In``) and response bodies (``*Out``).

Response models describe today's JSON exactly (``extra="forbid"``), so ``/openapi.json``
documents every answer and a drifting service result fails loudly in the tests. The
service may return dicts or dataclasses with the same field names.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pausebutton.authority.services.base import CustodyKind
from pausebutton.translog.http import ErrorOut  # one error body for the whole API

BIG = 2**62
IdPath = Annotated[int, Path(ge=0, le=BIG)]
ChipIdPath = Annotated[str, Path(pattern="^[0-9a-f]{64}$")]
NamePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")]
NameQuery = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$")]
AfterQuery = Annotated[int, Query(ge=0, le=BIG)]
LimitQuery = Annotated[int, Query(ge=1, le=1000)]
Text = Annotated[str, Field(min_length=1, max_length=1024)]

CBOR_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/cbor": {"schema": {"type": "string", "format": "binary"}}},
    }
}
"""``openapi_extra=`` of a route whose body is raw canonical CBOR."""


# -- request bodies ------------------------------------------------------------------


class _In(BaseModel):
    """A request body: unknown fields refused, and strict types: JSON ``true`` is not the
    integer 1, a number is not a string, a string is not a number."""

    model_config = ConfigDict(extra="forbid", strict=True)


class OwnerIn(_In):
    id: Annotated[str, Field(min_length=1, max_length=128)]
    name: Text
    country: Annotated[str, Field(min_length=2, max_length=2)]


class KeyIn(_In):
    public_key: Annotated[str, Field(min_length=64, max_length=64)]
    role: Literal["operator", "admin"]
    name: Annotated[str, Field(min_length=1, max_length=256)]
    owner_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None


class FacilityIn(_In):
    id: Annotated[str, Field(min_length=1, max_length=128)]
    name: Text
    country: Annotated[str, Field(min_length=2, max_length=2)]
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    power_mw: Annotated[float, Field(ge=0, le=1e6)] | None = None
    owner_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    verified: bool = False
    declared_chips: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    chip_model: Annotated[str, Field(max_length=256)] | None = None
    source: Annotated[str, Field(max_length=256)] | None = None


class VerificationIn(_In):
    verified: bool


class ChipIn(_In):
    certificate: Annotated[str, Field(min_length=1, max_length=16384)]
    """Base64 of the vendor-signed DeviceCertificate envelope."""
    owner_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    facility_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None


class CustodyIn(_In):
    kind: CustodyKind
    at: Annotated[int, Field(ge=0, le=BIG)]
    actor: Text
    owner_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    facility_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    country: Annotated[str, Field(min_length=2, max_length=2)] | None = None
    note: Annotated[str, Field(max_length=4096)] | None = None


class ApplicationIn(_In):
    chips: Annotated[list[Annotated[str, Field(min_length=64, max_length=64)]], Field(min_length=1)]
    flop_budget: Annotated[str, Field(min_length=1, max_length=64)] | int
    """Total FLOP for the run: an integer, or a decimal/scientific string like '1e25'."""
    not_before: Annotated[int, Field(ge=0, le=BIG)]
    not_after: Annotated[int, Field(ge=0, le=BIG)]
    run_id: Text
    purpose: Annotated[str, Field(min_length=1, max_length=4096)]
    owner_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None


class ScopeIn(_In):
    kind: Literal["global", "region", "owner", "chips"]
    regions: Annotated[
        list[Annotated[str, Field(min_length=2, max_length=2)]], Field(max_length=4096)
    ] = []
    owners: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=128)]], Field(max_length=4096)
    ] = []
    chips: Annotated[
        list[Annotated[str, Field(min_length=64, max_length=64)]], Field(max_length=4096)
    ] = []


class ProposalIn(_In):
    kind: Literal["pause", "resume"]
    scope: ScopeIn | None = None
    reason: Text
    effective_at: Annotated[int, Field(ge=0, le=BIG)] | None = None
    lifts: Annotated[int, Field(ge=1, le=BIG)] | None = None


class ArtifactReportItem(_In):
    id: Annotated[str, Field(pattern="^[0-9a-f]{64}$")]
    """A client-chosen id (the agent sends SHA-256 of the report line): retries are harmless."""
    report: dict[str, Any]
    """The guard's refusal report: ``{event, what, list_sequence, hits, pid, uid, gpu}``."""


class ArtifactReportsIn(_In):
    reports: Annotated[list[ArtifactReportItem], Field(max_length=1000)]


class SignatureIn(_In):
    key_id: Annotated[str, Field(min_length=64, max_length=64)]
    sig: Annotated[str, Field(min_length=128, max_length=128)]
    """Hex Ed25519 signature over the proposal's ``signing_input``."""


# -- response bodies -----------------------------------------------------------------


class _Out(BaseModel):
    """A response body. The service may return a dict or a dataclass with the same fields;
    a dataclass is read as its ``asdict`` so that a field too many is refused either way."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _from_dataclass(cls, data: Any) -> Any:
        if dataclasses.is_dataclass(data) and not isinstance(data, type):
            return dataclasses.asdict(data)
        return data


class HealthOut(_Out):
    status: Literal["ok", "degraded"]
    worker: int
    """The answering worker's process id."""
    reasons: list[str] = []
    """Why this worker is degraded (a background loop that is failing); empty when ok."""


class MemberOut(_Out):
    name: str
    region: str | None
    key: str


class TrustRootOut(_Out):
    version: int
    expires: int
    log_origin: str
    members: list[MemberOut]
    pause_threshold: int
    envelope: str


BigInt = int | str
"""An integer; above 2**53 as a decimal string (JSON numbers lose precision there)."""


class PolicyOut(_Out):
    """The licensing policy (``authority.policy.Policy``); see docs/authority.md."""

    frontier_flop: BigInt
    approvals_required: BigInt | None
    split_window: BigInt
    owner_caps: dict[str, str]
    country_caps: dict[str, str]
    default_owner_cap: BigInt | None
    max_period: BigInt
    max_chips: BigInt
    max_offline: BigInt
    verified_facility_for_auto: bool


class StatsOut(_Out):
    owners: int
    facilities: int
    chips: int
    licenses: int
    orders: int
    active_pauses: int
    reports: int
    alerts: int
    log_size: int


class OwnerOut(_Out):
    id: str
    name: str
    country: str


class OwnerDetailOut(OwnerOut):
    chips: int


class KeyOut(_Out):
    key_id: str
    role: str
    name: str
    owner_id: str | None


class KeyListItemOut(KeyOut):
    revoked: bool


class RevokedKeyOut(_Out):
    key_id: str
    revoked: bool


class FacilityOut(_Out):
    id: str
    name: str
    country: str
    latitude: float | None
    longitude: float | None
    power_mw: float | None
    owner_id: str | None
    verified: bool
    declared_chips: int | None
    chip_model: str | None
    source: str | None


class FacilityDetailOut(FacilityOut):
    registered_chips: int


class CustodyOut(_Out):
    seq: int
    kind: str
    at: int
    actor: str
    owner_id: str | None
    facility_id: str | None
    country: str | None
    note: str | None
    recorded_at: int
    log_index: int | None


class CustodyRecordOut(_Out):
    """A recorded custody event: the chip first, then the event (the order of the JSON)."""

    chip_id: str
    seq: int
    kind: str
    at: int
    actor: str
    owner_id: str | None
    facility_id: str | None
    country: str | None
    note: str | None
    recorded_at: int
    log_index: int | None


class ChipOut(_Out):
    chip_id: str
    serial: str
    model: str
    vendor: str
    device_key: str
    firmware_floor: int
    peak_flops: str | None
    owner_id: str | None
    facility_id: str | None
    status: str
    registered_at: int
    log_index: int | None
    last_report_sequence: int


class ChipDetailOut(ChipOut):
    certificate: str
    custody: list[CustodyOut]


class CsvImportOut(_Out):
    kind: str
    imported: int


class ApplicationOut(_Out):
    id: int
    owner_id: str
    run_id: str
    purpose: str
    flop_budget: str
    not_before: int
    not_after: int
    chips: list[str]
    status: str
    decision: dict[str, Any]
    reasons: list[str]
    approvals: list[str]
    approvals_required: int
    license_ids: list[int]
    created_at: int
    decided_at: int | None


class LicenseOut(_Out):
    license_id: int
    chip_id: str
    application_id: int
    owner_id: str
    run_id: str
    flop_budget: str
    not_before: int
    not_after: int
    issued_at: int
    log_index: int | None
    envelope: str


class ProposalOut(_Out):
    id: int
    kind: str
    sequence: int
    status: str
    proposer: str
    created_at: int
    payload_type: str
    payload: dict[str, Any]
    envelope: str
    signing_input: str
    signed_by: list[str]
    threshold: int
    missing: int


class SignedProposalOut(ProposalOut):
    assembled_now: bool


class OrderOut(_Out):
    sequence: int
    kind: str
    proposal_id: int
    scope: dict[str, Any]
    lifts: int | None
    active: bool
    assembled_at: int
    log_index: int | None
    envelope: str


class OrderWatchOut(_Out):
    orders: list[OrderOut]
    last: int


class RejectedReportOut(_Out):
    index: int
    error: str
    field: str
    message: str


class NewAlertOut(_Out):
    kind: str
    chip_id: str | None
    severity: str
    detail: dict[str, Any]


class IngestOut(_Out):
    received: int
    accepted: int
    duplicates: int
    rejected: list[RejectedReportOut]
    alerts: list[NewAlertOut]


class ReportOut(_Out):
    chip_id: str
    sequence: int
    hash: str
    time: int
    flop_full: str
    license_id: int | None
    license_flop_used: str | None
    state: str
    received_at: int
    envelope: str


class AlertOut(NewAlertOut):
    id: int
    created_at: int


class ProhibitedOut(_Out):
    sequence: int
    issued_at: int
    artifacts: int
    log_index: int | None
    published_by: str
    received_at: int
    envelope: str


class PublishedOut(ProhibitedOut):
    duplicate: bool


class ArtifactReportsOut(_Out):
    accepted: int
    duplicates: int
    alerts: list[int]


class ArtifactReportOut(_Out):
    id: int
    report_id: str
    key_id: str
    owner_id: str | None
    list_sequence: int | None
    report: dict[str, Any]
    alert_id: int | None
    received_at: int


class MeasurementOut(_Out):
    id: int
    chip_id: str
    landmark_id: str
    nonce: str
    rtt_ms: float
    time: int
    lat: float
    lon: float


class MeasurementRecordOut(MeasurementOut):
    received_at: int
    envelope: str


class LocationCheckOut(_Out):
    id: int
    chip_id: str
    facility_id: str
    time: int
    verdict: str
    landmarks: int
    least_distance_km: float
    log_index: int | None
    alert_id: int | None
    result: dict[str, Any]


class ChecksRunOut(_Out):
    checks: list[LocationCheckOut]


class TimeTokenOut(_Out):
    time: int
    sequence: int
    chip_id: str | None
    envelope: str


class LogEntryOut(_Out):
    index: int
    kind: str
    at: int | None = None
    """When the entry was appended; absent where the log does not record it (the
    transparency log's own tables)."""
    leaf_hash: str
    data: str


class LogEntriesOut(_Out):
    size: int
    entries: list[LogEntryOut]


class AuthEventOut(_Out):
    id: int
    at: int
    status: int
    key_id: str | None
    method: str
    path: str
    reason: str


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each of ``codes`` answers the project's error body."""
    return {
        code: {"model": ErrorOut, "description": _ERROR_TEXT.get(code, "error")} for code in codes
    }


_ERROR_TEXT = {
    400: "bad input",
    401: "missing, bad or replayed request signature",
    403: "the signing key's role may not call this",
    404: "not found",
    409: "conflicts with stored state",
    413: "request body too large",
    415: "unsupported media type",
    422: "the request does not match the schema, or fails verification",
    429: "rate limited",
    503: "unavailable: the database (or a needed key) is not available; retry after Retry-After",
}
