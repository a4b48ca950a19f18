"""The API's Pydantic models: request bodies (``*In``), and the few response bodies
(``*Out``) the HTTP layer shapes itself.

Every other answer is a service's result dataclass, declared as the route's response
model (one shape per answer, see ``services.base.Result``). Either way the answer is
checked against its declared shape (``extra="forbid"``), so ``/openapi.json`` documents
every answer and a drifting result is a logged 500, never sent on.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from pausebutton.authority.services.base import CustodyKind
from pausebutton.authority.services.location import StoredCheck
from pausebutton.authority.services.orders import Order
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


class SignalSourceIn(_In):
    public_key: Annotated[str, Field(min_length=64, max_length=64)]
    """The source's request-signing Ed25519 public key (hex)."""
    name: Annotated[str, Field(min_length=1, max_length=256)]
    methods: Annotated[
        list[Annotated[str, Field(max_length=32)]], Field(min_length=1, max_length=10)
    ]
    """The verification methods it may report (e.g. energy, customs, dc_inspection)."""


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


Id = Annotated[str, Field(min_length=1, max_length=128)]


class PartyIn(_In):
    id: Id
    kind: Literal[
        "fab",
        "lithography",
        "hbm",
        "packaging",
        "vendor",
        "exporter",
        "importer",
        "integrator",
        "customs",
    ]
    name: Annotated[str, Field(min_length=1, max_length=256)]
    country: Annotated[str, Field(min_length=2, max_length=2)]
    public_key: Annotated[str, Field(min_length=64, max_length=64)] | None = None
    """The key the party signs its custody events with (hex Ed25519 public key)."""
    source: Annotated[str, Field(min_length=1, max_length=1024)] | None = None


class FabToolIn(_In):
    maker_id: Id
    tool: Annotated[str, Field(min_length=1, max_length=64)]
    count: Annotated[int, Field(ge=1, le=99_999)] | None = None


class ExportLicenceIn(_In):
    id: Id
    exporter_id: Id
    importer_id: Id
    country: Annotated[str, Field(min_length=2, max_length=2)]
    quantity: Annotated[int, Field(ge=1, le=10_000_000)]
    not_before: Annotated[int, Field(ge=0, le=BIG)]
    not_after: Annotated[int, Field(ge=0, le=BIG)]


class SignedCustodyIn(_In):
    chip_id: Annotated[str, Field(min_length=64, max_length=64)]
    kind: CustodyKind
    at: Annotated[int, Field(ge=0, le=BIG)]
    to_party: Id | None = None
    """The party the event hands the chip to (the next to sign for it)."""
    owner_id: Id | None = None
    facility_id: Id | None = None
    country: Annotated[str, Field(min_length=2, max_length=2)] | None = None
    note: Annotated[str, Field(max_length=4096)] | None = None
    export_licence: Id | None = None


class FixIn(_In):
    chip_id: Annotated[str, Field(min_length=64, max_length=64)]
    time: Annotated[int, Field(ge=0, le=BIG)]
    """When the receiver took the fix (Unix seconds)."""
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    accuracy_m: Annotated[float, Field(gt=0, le=100_000)] = 50.0
    """The receiver's stated horizontal accuracy (metres)."""


class FixesIn(_In):
    fixes: Annotated[list[FixIn], Field(min_length=1, max_length=1000)]


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


class WebhookIn(_In):
    url: Annotated[str, Field(min_length=8, max_length=2048)]
    """Where the caller's notifications are POSTed (http or https)."""


class HealthIn(_In):
    state: Literal["tampered", "zeroised", "silent", "ok"]
    """What the node agent sees: the chip tampered or zeroised, its GPU silent, or ok."""
    detail: Annotated[str, Field(max_length=2000)] = ""


class SignatureIn(_In):
    key_id: Annotated[str, Field(min_length=64, max_length=64)]
    sig: Annotated[str, Field(min_length=128, max_length=128)]
    """Hex Ed25519 signature over the proposal's ``signing_input``."""


# -- response bodies -----------------------------------------------------------------
# Most answers are the services' result dataclasses themselves, declared as the routes'
# response models (``services.base.Result``); the models below are the few answers the
# HTTP layer shapes itself.


class _Out(BaseModel):
    """An answer the HTTP layer builds itself (a dict): a field too many is refused."""

    model_config = ConfigDict(extra="forbid")


class HealthOut(_Out):
    """Built at the edge: the answering worker and its background loops, not a service
    result."""

    status: Literal["ok", "degraded"]
    worker: int
    """The answering worker's process id."""
    reasons: list[str] = []
    """Why this worker is degraded (a background loop that is failing); empty when ok."""


class MemberOut(_Out):
    """A trust-root member as the API shows it (the key in hex)."""

    name: str
    region: str | None
    key: str


class TrustRootOut(_Out):
    """Built at the edge from the pinned trust root and its signed bytes (base64)."""

    version: int
    expires: int
    log_origin: str
    members: list[MemberOut]
    pause_threshold: int
    envelope: str


BigInt = int | str
"""An integer; above 2**53 as a decimal string (JSON numbers lose precision there)."""


class PolicyOut(_Out):
    """The licensing policy (``authority.policy.Policy``); see docs/authority.md. JSON's
    own shape of it: integers above 2**53 as decimal strings."""

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


class OrderWatchOut(_Out):
    """The long-poll's answer, written by the order feed (``api.background``): the
    orders above ``after`` and the newest sequence."""

    orders: list[Order]
    last: int


class ChecksRunOut(_Out):
    """The checks one run stored, under ``checks`` (the route wraps the service's list)."""

    checks: list[StoredCheck]


class LogEntryOut(_Out):
    """An entry as the log sink gives it (a dict; the data base64)."""

    index: int
    kind: str
    at: int | None = None
    """When the entry was appended; absent where the log does not record it (the
    transparency log's own tables)."""
    leaf_hash: str
    data: str


class LogEntriesOut(_Out):
    """The log's size with a page of its entries."""

    size: int
    entries: list[LogEntryOut]


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
