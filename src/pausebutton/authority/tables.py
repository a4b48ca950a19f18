"""The authority's database schema (SQLAlchemy Core tables; Alembic migrates it).

Integers that can exceed 64 bits (FLOP budgets and counts) are stored as
decimal text and summed in Python, so SQLite and PostgreSQL agree exactly.
Times are integer Unix seconds. Ids of chips and keys are lowercase hex.
The schema's history lives in ``authority/migrations/versions``; a change
here needs a new migration there (tests compare the two).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

counters = Table(
    "authority_counters",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

owners = Table(
    "owners",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("name", String(1024), nullable=False),
    Column("country", String(2), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("public_key", LargeBinary(32), nullable=False),
    Column("role", String(16), nullable=False),
    Column("owner_id", String(128), ForeignKey("owners.id"), nullable=True),
    Column("name", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)

facilities = Table(
    "facilities",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("name", String(1024), nullable=False),
    Column("country", String(2), nullable=False),
    Column("latitude", Float, nullable=True),
    Column("longitude", Float, nullable=True),
    Column("power_mw", Float, nullable=True),
    Column("owner_id", String(128), ForeignKey("owners.id"), nullable=True),
    Column("verified", Boolean, nullable=False, default=False),
    Column("declared_chips", Integer, nullable=True),
    Column("chip_model", String(256), nullable=True),
    Column("source", String(256), nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

chips = Table(
    "chips",
    metadata,
    Column("chip_id", String(64), primary_key=True),
    Column("serial", String(1024), nullable=False),
    Column("model", String(1024), nullable=False),
    Column("vendor", String(1024), nullable=False),
    Column("device_key", LargeBinary(32), nullable=False),
    Column("certificate", LargeBinary, nullable=False),
    Column("firmware_floor", Integer, nullable=False, default=0),
    Column("peak_flops", Text, nullable=True),
    Column("owner_id", String(128), ForeignKey("owners.id"), nullable=True),
    Column("facility_id", String(128), ForeignKey("facilities.id"), nullable=True),
    Column("status", String(32), nullable=False),
    Column("registered_at", BigInteger, nullable=False),
    Column("log_index", BigInteger, nullable=True),
    Column("hardware_uuid", String(1024), nullable=True),
)
Index("ix_chips_owner", chips.c.owner_id)
Index("ix_chips_facility", chips.c.facility_id)
Index("ix_chips_serial", chips.c.vendor, chips.c.serial)
Index("ix_chips_hardware_uuid", chips.c.hardware_uuid)

chain_heads = Table(
    "chain_heads",
    metadata,
    Column("chip_no", Integer, primary_key=True, autoincrement=True),
    Column("chip_id", String(64), ForeignKey("chips.chip_id"), nullable=False, unique=True),
    Column("report_seq", BigInteger, nullable=False),
    Column("report_hash", LargeBinary(32), nullable=False),
)
"""The head of each chip's usage-report chain: the newest accepted report's sequence and
hash (0 and the genesis hash before any). A table of its own, because ingestion rewrites
a head per report: a narrow row is a fraction of a chip's row (its certificate, serial,
model...) to rewrite, to log and to sync.

``chip_no`` is the chip's number in this database (given at registration, never shown
outside it): the key its usage reports are stored under."""

custody_events = Table(
    "custody_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chip_id", String(64), ForeignKey("chips.chip_id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(1024), nullable=False),
    Column("owner_id", String(128), nullable=True),
    Column("facility_id", String(128), nullable=True),
    Column("country", String(2), nullable=True),
    Column("note", Text, nullable=True),
    Column("recorded_at", BigInteger, nullable=False),
    Column("recorded_by", String(64), nullable=False),
    Column("log_index", BigInteger, nullable=True),
    # the supply-chain party that signed the event (None: recorded by an admin), the
    # party it hands the chip to (None: the signer keeps it), the export licence used
    Column("party_id", String(128), nullable=True),
    Column("to_party", String(128), nullable=True),
    Column("export_licence", String(128), nullable=True),
    UniqueConstraint("chip_id", "seq", name="uq_custody_chip_seq"),
)

applications = Table(
    "license_applications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner_id", String(128), ForeignKey("owners.id"), nullable=False),
    Column("run_id", String(1024), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("flop_budget", Text, nullable=False),
    Column("not_before", BigInteger, nullable=False),
    Column("not_after", BigInteger, nullable=False),
    Column("chips", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("decision", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("decided_at", BigInteger, nullable=True),
    Column("applicant_key", String(64), nullable=False),
)
Index("ix_applications_owner", applications.c.owner_id, applications.c.created_at)

approvals = Table(
    "license_approvals",
    metadata,
    Column("application_id", Integer, ForeignKey("license_applications.id"), primary_key=True),
    Column("member_key", String(64), primary_key=True),
    Column("member", String(128), nullable=False),
    Column("at", BigInteger, nullable=False),
)

licenses = Table(
    "licenses",
    metadata,
    Column("license_id", BigInteger, primary_key=True, autoincrement=False),
    Column("chip_id", String(64), ForeignKey("chips.chip_id"), nullable=False),
    Column("application_id", Integer, ForeignKey("license_applications.id"), nullable=False),
    Column("owner_id", String(128), nullable=False),
    Column("run_id", String(1024), nullable=False),
    Column("flop_budget", Text, nullable=False),
    Column("not_before", BigInteger, nullable=False),
    Column("not_after", BigInteger, nullable=False),
    Column("envelope", LargeBinary, nullable=False),
    Column("issued_at", BigInteger, nullable=False),
    Column("log_index", BigInteger, nullable=True),
)
Index("ix_licenses_chip", licenses.c.chip_id)
Index("ix_licenses_owner", licenses.c.owner_id, licenses.c.issued_at)

proposals = Table(
    "order_proposals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(8), nullable=False),
    Column("sequence", BigInteger, nullable=False, unique=True),
    Column("payload", LargeBinary, nullable=False),
    Column("payload_type", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("proposer", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

proposal_signatures = Table(
    "order_signatures",
    metadata,
    Column("proposal_id", Integer, ForeignKey("order_proposals.id"), primary_key=True),
    Column("key_id", LargeBinary(32), primary_key=True),
    Column("sig", LargeBinary(64), nullable=False),
    Column("member", String(128), nullable=False),
    Column("at", BigInteger, nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("sequence", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(8), nullable=False),
    Column("proposal_id", Integer, ForeignKey("order_proposals.id"), nullable=False, unique=True),
    Column("envelope", LargeBinary, nullable=False),
    Column("scope", JSON, nullable=False),
    Column("lifts", BigInteger, nullable=True),
    Column("active", Boolean, nullable=False),
    Column("assembled_at", BigInteger, nullable=False),
    Column("log_index", BigInteger, nullable=True),
)

reports = Table(
    "usage_reports",
    metadata,
    Column(
        "chip_no",
        Integer,
        ForeignKey("chain_heads.chip_no"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("sequence", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("flop_full", Text, nullable=False),
    Column("license_id", BigInteger, nullable=True),
    Column("license_flop_used", Text, nullable=True),
    Column("state", String(32), nullable=False),
    Column("envelope", LargeBinary, nullable=False),
    Column("received_at", BigInteger, nullable=False),
)
"""Usage reports, keyed by the chip's number and the report's sequence: an index entry of
a few bytes, where the chip's 64-character id took about 80, so that the index a fleet's
batches rewrite is a sixth of the size (docs/scaling.md, "At a fleet's scale"). The
chip's id is in ``chain_heads``."""

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("chip_id", String(64), nullable=True),
    Column("severity", String(16), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
Index("ix_alerts_kind", alerts.c.kind, alerts.c.id)

nonces = Table(
    "request_nonces",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("nonce", String(128), primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
)
Index("ix_nonces_expiry", nonces.c.expires_at)

auth_events = Table(
    "auth_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("status", Integer, nullable=False),
    Column("key_id", String(128), nullable=True),
    Column("method", String(16), nullable=False),
    Column("path", String(1024), nullable=False),
    Column("reason", Text, nullable=False),
)

log_entries = Table(
    "authority_log",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(32), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("at", BigInteger, nullable=False),
)

prohibited_lists = Table(
    "prohibited_lists",
    metadata,
    Column("sequence", BigInteger, primary_key=True, autoincrement=False),
    Column("issued_at", BigInteger, nullable=False),
    Column("artifacts", Integer, nullable=False),
    Column("envelope", LargeBinary, nullable=False),
    Column("log_index", BigInteger, nullable=True),
    Column("published_by", String(256), nullable=False),
    Column("received_at", BigInteger, nullable=False),
)

artifact_reports = Table(
    "artifact_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("report_id", String(64), nullable=False, unique=True),
    Column("key_id", String(64), nullable=False),
    Column("owner_id", String(128), nullable=True),
    Column("list_sequence", BigInteger, nullable=True),
    Column("report", JSON, nullable=False),
    Column("alert_id", Integer, nullable=True),
    Column("received_at", BigInteger, nullable=False),
)

location_measurements = Table(
    "location_measurements",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("nonce", String(64), nullable=False, unique=True),
    Column("chip_id", String(64), ForeignKey("chips.chip_id"), nullable=False),
    Column("landmark_id", String(64), nullable=False),
    Column("rtt_ns", BigInteger, nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("lat_e6", Integer, nullable=False),
    Column("lon_e6", Integer, nullable=False),
    Column("envelope", LargeBinary, nullable=False),
    Column("received_at", BigInteger, nullable=False),
)
Index(
    "ix_location_measurements_chip", location_measurements.c.chip_id, location_measurements.c.time
)

location_checks = Table(
    "location_checks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chip_id", String(64), ForeignKey("chips.chip_id"), nullable=False),
    Column("facility_id", String(128), nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("verdict", String(32), nullable=False),
    Column("landmarks", Integer, nullable=False),
    Column("least_distance_km", Float, nullable=False),
    Column("newest_measurement", Integer, nullable=False),
    Column("result", JSON, nullable=False),
    Column("log_index", BigInteger, nullable=True),
    Column("alert_id", Integer, nullable=True),
)
Index("ix_location_checks_chip", location_checks.c.chip_id, location_checks.c.id)

signal_sources = Table(
    "signal_sources",
    metadata,
    Column("key_id", String(64), ForeignKey("api_keys.key_id"), primary_key=True),
    Column("methods", String(512), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

signals = Table(
    "detection_signals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("method", String(32), nullable=False),
    Column("digest", String(64), nullable=False, unique=True),
    Column("key_id", String(64), nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("row", JSON, nullable=False),
    Column("received_at", BigInteger, nullable=False),
)
Index("ix_detection_signals_time", signals.c.time)

detection_runs = Table(
    "detection_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("signals", Integer, nullable=False),
    Column("own_evidence", Integer, nullable=False),
    Column("findings", JSON, nullable=False),
    Column("alerts", JSON, nullable=False),
)

supply_parties = Table(
    "supply_parties",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("name", String(256), nullable=False),
    Column("country", String(2), nullable=False),
    Column("key_id", String(64), ForeignKey("api_keys.key_id"), nullable=True, unique=True),
    Column("source", String(1024), nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

fab_tools = Table(
    "fab_tools",
    metadata,
    Column("fab_id", String(128), ForeignKey("supply_parties.id"), primary_key=True),
    Column("maker_id", String(128), ForeignKey("supply_parties.id"), primary_key=True),
    Column("tool", String(64), primary_key=True),
    Column("count", Integer, nullable=True),
)

export_licences = Table(
    "export_licences",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("exporter_id", String(128), ForeignKey("supply_parties.id"), nullable=False),
    Column("importer_id", String(128), ForeignKey("supply_parties.id"), nullable=False),
    Column("country", String(2), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("not_before", BigInteger, nullable=False),
    Column("not_after", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

gnss_fixes = Table(
    "gnss_fixes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chip_id", String(64), ForeignKey("chips.chip_id"), nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("accuracy_m", Float, nullable=False),
    Column("facility_id", String(128), nullable=True),
    Column("verdict", String(32), nullable=False),
    Column("result", JSON, nullable=False),
    Column("alert_id", Integer, nullable=True),
    Column("received_at", BigInteger, nullable=False),
    UniqueConstraint("chip_id", "time", name="uq_gnss_chip_time"),
)
Index("ix_gnss_fixes_time", gnss_fixes.c.time)

revoked_keys = Table(
    "revoked_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("revoked_at", BigInteger, nullable=False),
    Column("revoked_by", String(256), nullable=False),
    Column("reason", String(2000), nullable=False),
)
"""Member keys of the trust root that no longer count (revoked by an admin, by the member
itself, or by the votes of the pause threshold of other members)."""

revocation_votes = Table(
    "revocation_votes",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("voter", String(64), primary_key=True),
    Column("member", String(128), nullable=False),
    Column("at", BigInteger, nullable=False),
)

trust_roots = Table(
    "trust_roots",
    metadata,
    Column("version", BigInteger, primary_key=True, autoincrement=False),
    Column("envelope", LargeBinary, nullable=False),
    Column("log_index", BigInteger, nullable=True),
    Column("submitted_by", String(256), nullable=False),
    Column("received_at", BigInteger, nullable=False),
)
"""Trust roots after the authority's first: the chain chips and witnesses follow."""

list_proposals = Table(
    "prohibited_proposals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sequence", BigInteger, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),
    Column("proposer", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
"""Prohibited-artifacts lists awaiting the pause role's K of N signatures."""

list_signatures = Table(
    "prohibited_signatures",
    metadata,
    Column("proposal_id", Integer, ForeignKey("prohibited_proposals.id"), primary_key=True),
    Column("key_id", LargeBinary(32), primary_key=True),
    Column("sig", LargeBinary(64), nullable=False),
    Column("member", String(128), nullable=False),
    Column("at", BigInteger, nullable=False),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_id", String(64), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("secret", String(64), nullable=False),
    Column("since", BigInteger, nullable=False),
    Column("active", Boolean, nullable=False),
)
"""Subscriptions: the notifications of ``key_id`` POSTed to ``url``, each signed with
HMAC-SHA256 under ``secret``."""

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("webhook_id", Integer, ForeignKey("webhooks.id"), primary_key=True),
    Column("notification", String(64), primary_key=True),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_at", BigInteger, nullable=False),
    Column("last_error", String(500), nullable=False),
)
