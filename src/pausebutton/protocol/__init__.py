"""The pure protocol core: canonical encoding, keys, envelopes, messages, trust root.

Nothing here reads a clock, a file, a socket or a config: callers pass bytes
and an explicit ``now``. docs/protocol.md is the specification; the code cites
its step numbers (E, K, S, P, T, R, M).
"""

from pausebutton.protocol.encoding import MAX_MESSAGE_SIZE, decode, encode
from pausebutton.protocol.envelope import Envelope, Signature, decode_as, signing_input
from pausebutton.protocol.keys import PrivateKey, PublicKey, key_id
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
from pausebutton.protocol.schema import Payload, Struct
from pausebutton.protocol.threshold import ThresholdResult, verify_threshold
from pausebutton.protocol.trustroot import (
    ROLES,
    Member,
    Role,
    TrustRoot,
    load_pinned_root,
    verify_root_update,
)

__all__ = [
    "GENESIS_HASH",
    "GLOBAL",
    "MAX_MESSAGE_SIZE",
    "ROLES",
    "Artifact",
    "ArtifactKind",
    "Checkpoint",
    "DeviceCertificate",
    "Envelope",
    "License",
    "LocationChallenge",
    "LocationResponse",
    "Member",
    "PauseOrder",
    "Payload",
    "PrivateKey",
    "ProhibitedArtifacts",
    "PublicKey",
    "ResumeOrder",
    "Role",
    "Scope",
    "ScopeKind",
    "Signature",
    "Struct",
    "ThresholdResult",
    "TimeToken",
    "TrustRoot",
    "UsageReport",
    "decode",
    "decode_as",
    "encode",
    "key_id",
    "load_pinned_root",
    "report_hash",
    "signing_input",
    "verify_root_update",
    "verify_threshold",
]
