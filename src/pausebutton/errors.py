"""The one error hierarchy of pausebutton.

Every rejection in the system raises one of these, with a stable ``code``
(used in JSON error bodies, CLI messages and test vectors) and a human
message. Only the CLI turns them into exit codes.

::

    PausebuttonError
    ├── InputError                    input from outside is unusable
    │   ├── EncodingError             bytes are not a valid protocol object
    │   │   ├── MalformedError        truncated, not CBOR, wrong shape
    │   │   ├── NonCanonicalError     valid CBOR but not the canonical form
    │   │   ├── OversizedError        larger than the limit (checked first)
    │   │   ├── UnknownTypeError      unknown message type or version
    │   │   └── SchemaError           a field is missing or of the wrong type
    │   ├── DataError                 a CSV/JSON row or value is unusable (file, row, field)
    │   ├── UnitError                 a quantity in the wrong or an unknown unit
    │   └── UsageError                bad command-line arguments or options
    ├── VerificationError             well-formed, but not acceptable
    │   ├── BadSignatureError         a signature does not verify
    │   ├── BelowThresholdError       fewer distinct valid signers than required
    │   ├── ExpiredError              past its validity
    │   ├── NotYetValidError          before its validity
    │   ├── RollbackError             older than what was already accepted
    │   ├── ReplayError               already seen
    │   ├── WrongChipError            bound to another chip
    │   ├── FirmwareTooOldError       firmware below the required floor
    │   ├── NotLoggedError            no valid log inclusion proof
    │   ├── ProofError                a Merkle proof does not verify
    │   ├── ForkError                 two checkpoints that cannot both be true
    │   ├── ChainError                a hash chain has a gap, a reorder or a fork
    │   ├── FloorError                a threshold below its floor (root changes)
    │   ├── LastKeyError              a change would leave a role without keys
    │   ├── ScopeError                an order or license does not apply here
    │   ├── PolicyError               refused by a policy rule (with its reason)
    │   ├── LocationError             a location measurement is unusable or late
    │   └── ModelMismatchError        the simulator's model disagrees with the real code
    ├── StateError                    local state forbids the operation
    │   ├── TamperedError             the chip is tampered; keys are zeroised
    │   ├── CorruptStateError         stored state is damaged or was rolled back
    │   ├── PausedError               a pause order is in force
    │   ├── LicenseExhaustedError     no budget is left
    │   └── LeaseError                no verifiable compute lease: no step may run
    ├── AuthError                     a request is not authenticated
    │   └── ForbiddenError            authenticated, but not allowed
    │       └── RevokedKeyError       the key was revoked: it no longer counts
    ├── NotFoundError                 the named thing does not exist
    ├── ConflictError                 the request conflicts with stored state
    ├── RateLimitError                too many requests
    ├── HardwareError                 a GPU or NVML is missing or unreadable
    └── ServiceError                  a remote service failed or is unreachable
"""

from __future__ import annotations

from typing import ClassVar


class PausebuttonError(Exception):
    """Base of every error the project raises on purpose."""

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 500
    """The HTTP status an API answers this error with (the web edge reads it)."""

    def __init__(self, message: str = "", **details: object) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.details = details

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form: ``{"error": code, "message": ..., **details}``."""
        out: dict[str, object] = {"error": self.code, "message": self.message}
        for key, value in self.details.items():
            out[key] = (
                value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
            )
        return out


# -- input -------------------------------------------------------------------


class InputError(PausebuttonError):
    code = "input"
    http_status = 400


class EncodingError(InputError):
    code = "encoding"


class MalformedError(EncodingError):
    code = "malformed"


class NonCanonicalError(EncodingError):
    code = "non_canonical"


class OversizedError(EncodingError):
    code = "oversized"
    http_status = 413


class UnknownTypeError(EncodingError):
    code = "unknown_type"


class SchemaError(EncodingError):
    code = "schema"


class DataError(InputError):
    """A row or value in an imported file is unusable; details name file, row and field."""

    code = "data"


class UnitError(InputError):
    code = "unit"


class UsageError(InputError):
    code = "usage"


# -- verification --------------------------------------------------------------


class VerificationError(PausebuttonError):
    code = "verification"
    http_status = 422


class BadSignatureError(VerificationError):
    code = "bad_signature"


class BelowThresholdError(VerificationError):
    code = "below_threshold"


class ExpiredError(VerificationError):
    code = "expired"


class NotYetValidError(VerificationError):
    code = "not_yet_valid"


class RollbackError(VerificationError):
    code = "rollback"


class ReplayError(VerificationError):
    code = "replay"


class WrongChipError(VerificationError):
    code = "wrong_chip"


class FirmwareTooOldError(VerificationError):
    code = "firmware_too_old"


class NotLoggedError(VerificationError):
    code = "not_logged"


class ProofError(VerificationError):
    code = "bad_proof"


class ForkError(VerificationError):
    code = "fork"


class ChainError(VerificationError):
    code = "chain"


class FloorError(VerificationError):
    """A threshold below its floor (a member role needs a strict majority of members)."""

    code = "below_floor"


class LastKeyError(VerificationError):
    """A change would remove the last key of a role (e.g. the last chip vendor)."""

    code = "last_key"


class ScopeError(VerificationError):
    code = "scope"


class PolicyError(VerificationError):
    code = "policy"


class LocationError(VerificationError):
    code = "location"


class ModelMismatchError(VerificationError):
    """The regime simulator's vectorised model disagrees with the real code on a sampled chip."""

    code = "model_mismatch"


# -- local state -----------------------------------------------------------------


class StateError(PausebuttonError):
    code = "state"
    http_status = 409


class TamperedError(StateError):
    code = "tampered"


class CorruptStateError(StateError):
    code = "corrupt_state"


class PausedError(StateError):
    code = "paused"


class LicenseExhaustedError(StateError):
    code = "license_exhausted"


class LeaseError(StateError):
    """The node agent's lease is missing, expired or cannot be verified (fail-safe: no step)."""

    code = "lease"


# -- services ----------------------------------------------------------------------


class AuthError(PausebuttonError):
    code = "unauthenticated"
    http_status = 401


class ForbiddenError(AuthError):
    code = "forbidden"
    http_status = 403


class RevokedKeyError(ForbiddenError):
    """The key was revoked: it neither authenticates nor counts in any threshold."""

    code = "revoked_key"


class NotFoundError(PausebuttonError):
    code = "not_found"
    http_status = 404


class ConflictError(PausebuttonError):
    code = "conflict"
    http_status = 409


class RateLimitError(PausebuttonError):
    code = "rate_limited"
    http_status = 429


class HardwareError(PausebuttonError):
    code = "hardware"
    http_status = 503


class ServiceError(PausebuttonError):
    code = "service"
    http_status = 503


def all_error_classes() -> dict[str, type[PausebuttonError]]:
    """Every error class by its code (used by test vectors and API clients)."""
    out: dict[str, type[PausebuttonError]] = {}
    stack: list[type[PausebuttonError]] = [PausebuttonError]
    while stack:
        cls = stack.pop()
        out[cls.code] = cls
        stack.extend(cls.__subclasses__())
    return out
