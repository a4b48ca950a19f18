"""Settings of one authority server (explicit values; no globals, no environment reads here).

``Settings.from_file`` reads a JSON settings file (what ``authority serve``
writes for its workers): the authority key directory (trust root, the
licensing key, the log key and, when present, the time key), the database
URL, admin keys and the policy.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pausebutton.authority.policy import Policy
from pausebutton.errors import DataError, MalformedError
from pausebutton.fsutil import read_limited
from pausebutton.geo.verdict import Model as GeoModel
from pausebutton.geo.verdict import Policy as GeoPolicy
from pausebutton.issuing.keydir import AuthorityDir
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.trustroot import load_pinned_root

LOCATION_MODELS = (GeoModel.STATISTICAL, GeoModel.FIBRE, GeoModel.HARD)
"""The delay models an authority can run without per-landmark calibration files."""


@dataclass
class Settings:
    database_url: str
    root_bytes: bytes
    licensing_key: PrivateKey
    log_key: PrivateKey | None = None
    """The log role's key: signs checkpoints of the transparency log (mounted at /v1/log)."""
    time_key: PrivateKey | None = None
    """The time role's key: signs the time tokens served at /v1/time (503 without it)."""
    admin_keys: tuple[bytes, ...] = ()
    """Raw Ed25519 public keys registered as admins at start-up."""
    policy: Policy = field(default_factory=Policy)
    migrate: bool = True
    """Run Alembic migrations at start-up (``authority serve`` runs them once itself)."""
    max_body: int = 1 << 20
    max_report_body: int = 16 << 20
    signature_max_age: int = 300
    write_rate: float = 200.0
    """Signed requests per second per key (token bucket, per worker)."""
    write_burst: float = 400.0
    poll_interval: float = 0.2
    """How often a worker looks for orders assembled by other workers (seconds)."""
    longpoll_max: float = 60.0
    threads: int = 8
    """Worker threads per process for blocking (database) work."""
    checkpoint_interval: float = 1.0
    """How often a worker signs a log checkpoint if the log grew (seconds)."""
    gc_freeze: bool = False
    """Freeze the start-up heap out of the garbage collector's generations (a worker process
    of its own: ``authority serve`` sets it; an app made in a process that makes many, as
    the tests do, leaves it off)."""
    location_interval: float = 3600.0
    """How often a worker runs the location checks (seconds; 0 disables the task)."""
    location_max_age: int = 24 * 3600
    """Location measurements older than this (seconds) are refused and not used."""
    location_policy: GeoPolicy | None = None
    """The verdict's policy (``geo.verdict.Policy``); None: the statistical model (fitted on
    real pings), 3 landmarks."""
    detection_interval: float = 300.0
    """How often a worker runs the verification engine over the evidence (seconds; 0
    disables the task, ``POST /v1/detection/runs`` still runs it)."""
    whistle_key: bytes | None = None
    """The whistleblower channel's public key (curve25519): mounts /v1/whistle."""
    whistle_store: str | None = None
    """Where the channel keeps sealed submissions (SQLite file; required with the key)."""
    clock: Callable[[], float] = time.time

    @classmethod
    def from_dir(cls, directory: str | Path, database_url: str, **kw: Any) -> Settings:
        adir = AuthorityDir.load(directory)
        time_keys = adir.keys.role_keys.get("time") or []
        kw.setdefault("time_key", time_keys[0] if time_keys else None)
        return cls(
            database_url=database_url,
            root_bytes=adir.root_bytes,
            licensing_key=adir.keys.key("licensing"),
            log_key=adir.keys.key("log"),
            **kw,
        )

    @classmethod
    def from_file(cls, path: str | Path) -> Settings:
        try:
            data = json.loads(read_limited(Path(path), 1 << 20))
            directory = data["authority_dir"]
            url = data["database_url"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise MalformedError(f"{path}: not a settings file ({exc})", file=str(path)) from None
        kw: dict[str, Any] = {}
        for name in (
            "max_body",
            "max_report_body",
            "signature_max_age",
            "write_rate",
            "write_burst",
            "poll_interval",
            "longpoll_max",
            "checkpoint_interval",
            "location_interval",
            "location_max_age",
            "detection_interval",
            "whistle_store",
            "threads",
            "gc_freeze",
            "migrate",
        ):
            if name in data:
                kw[name] = data[name]
        if not isinstance(kw.get("gc_freeze", False), bool):
            raise DataError("gc_freeze must be true or false", field="gc_freeze")
        if "admin_keys" in data:
            try:
                kw["admin_keys"] = tuple(bytes.fromhex(k) for k in data["admin_keys"])
            except (ValueError, TypeError):
                raise DataError("admin_keys must be hex public keys", field="admin_keys") from None
        if "whistle_key" in data:
            try:
                kw["whistle_key"] = bytes.fromhex(data["whistle_key"])
            except (ValueError, TypeError):
                raise DataError("whistle_key must be hex", field="whistle_key") from None
        if "policy" in data:
            kw["policy"] = Policy.from_dict(data["policy"])
        if "location_model" in data:
            try:
                model = GeoModel(data["location_model"])
            except (ValueError, TypeError):
                raise DataError(
                    "location_model must be one of " + ", ".join(m.value for m in LOCATION_MODELS),
                    field="location_model",
                ) from None
            if model not in LOCATION_MODELS:
                raise DataError(
                    f"location_model {model.value} needs per-landmark calibration files;"
                    " use " + ", ".join(m.value for m in LOCATION_MODELS),
                    field="location_model",
                )
            kw["location_policy"] = GeoPolicy(model=model)
        return cls.from_dir(directory, url, **kw)

    def trust_root(self) -> Any:
        return load_pinned_root(self.root_bytes)[1]
