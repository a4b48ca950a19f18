"""The licensing authority as aggregates over one shared :class:`Store`.

Each service has one responsibility (keys, registry, custody, licensing, orders,
reports, artifacts, location, time tokens, audit, signals, supply chain);
:class:`Authority` builds them all over one database::

    authority = Authority(Database.connect(url), trust_root, licensing_key)
    authority.registry.create_owner(caller, id="acme", name="Acme", country="US")
    authority.licensing.apply(caller, chips=[...], flop_budget=..., ...)

No HTTP here: results are frozen dataclasses whose fields are the API's JSON
(``dataclasses.asdict`` gives the answer body); the HTTP layer serialises them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from sqlalchemy import Connection

from pausebutton.authority.db import Database
from pausebutton.authority.log import LogSink
from pausebutton.authority.policy import Policy
from pausebutton.authority.services.artifacts import ArtifactService
from pausebutton.authority.services.audit import AuditService
from pausebutton.authority.services.base import ADMIN, MEMBER, OPERATOR, SOURCE, Caller, Store
from pausebutton.authority.services.custody import CustodyService
from pausebutton.authority.services.gnss import GnssService
from pausebutton.authority.services.health import HealthService
from pausebutton.authority.services.keys import KeyService
from pausebutton.authority.services.licensing import LicensingService
from pausebutton.authority.services.location import LocationService
from pausebutton.authority.services.notifications import NotificationService
from pausebutton.authority.services.orders import OrderService
from pausebutton.authority.services.prohibited import ProhibitedProposalService
from pausebutton.authority.services.registry import RegistryService
from pausebutton.authority.services.reports import ReportService, default_verify_processes
from pausebutton.authority.services.roots import RootService
from pausebutton.authority.services.signals import SignalService
from pausebutton.authority.services.supply import SupplyService
from pausebutton.authority.services.timetokens import TimeService
from pausebutton.authority.services.webhooks import WebhookService
from pausebutton.authority.verifier import VerifierPool
from pausebutton.errors import DataError
from pausebutton.geo.service import DEFAULT_MAX_AGE_S
from pausebutton.geo.verdict import Model
from pausebutton.geo.verdict import Policy as GeoPolicy
from pausebutton.protocol.keys import PrivateKey, key_id
from pausebutton.protocol.trustroot import TrustRoot


class Authority:
    """The licensing authority: its aggregates over one database."""

    def __init__(
        self,
        db: Database,
        root: TrustRoot,
        licensing_key: PrivateKey,
        *,
        policy: Policy | None = None,
        log: LogSink | None = None,
        clock: Callable[[], float] = time.time,
        time_key: PrivateKey | None = None,
        location_policy: GeoPolicy | None = None,
        location_max_age: int = DEFAULT_MAX_AGE_S,
        root_bytes: bytes | None = None,
    ) -> None:
        if licensing_key.public not in root.role_keys("licensing"):
            raise DataError("the licensing key is not in the trust root's licensing role")
        if time_key is not None and time_key.public not in root.role_keys("time"):
            raise DataError("the time key is not in the trust root's time role")
        self.policy = policy or Policy()
        self.store = Store(db, log=log, clock=clock)
        self._licensing_key = licensing_key
        self._time_key = time_key
        self._location = (location_policy or GeoPolicy(model=Model.STATISTICAL), location_max_age)
        self.verifiers = VerifierPool(default_verify_processes())
        """The helper processes checking report signatures (kept across root changes)."""
        self._build(root)
        self.roots = RootService(self.store, root_bytes, root, self._revoked_ids)

    def close(self) -> None:
        """Stop the helper processes (the database is the caller's to dispose of)."""
        self.verifiers.close()

    def _caller_of(self, kid: str) -> Caller | None:
        """The caller a key id stands for now (None: unknown, or a revoked key)."""
        found = self.keys.principal(kid)
        if found is None or bytes.fromhex(kid) in self.keys.revoked_ids():
            return None
        return found[0]

    def _revoked_ids(self, conn: Connection | None = None) -> frozenset[bytes]:
        return self.keys.revoked_ids(conn)

    def _build(self, root: TrustRoot) -> None:
        """Every aggregate under ``root`` (again after a root change: ``adopt_root``)."""
        self.root = root
        members = {key_id(m.key).hex(): m for m in root.members}
        # other members vote a member key out: K of them, or all of them when fewer remain
        votes = max(1, min(root.role("pause").threshold, len(members) - 1))
        self.keys = KeyService(self.store, members, votes)
        self.registry = RegistryService(self.store, root)
        self.custody = CustodyService(self.store)
        self.orders = OrderService(self.store, root, members, self.keys.revoked_ids)
        self.licensing = LicensingService(
            self.store,
            self._licensing_key,
            self.policy,
            self.orders.pause_threshold,
            self.keys.revoked_ids,
        )
        self.reports = ReportService(self.store, self.verifiers)
        self.health = HealthService(self.store)
        self.notifications = NotificationService(self.store)
        self.webhooks = WebhookService(
            self.store,
            self._caller_of,
            lambda caller, since: self.notifications.for_caller(caller, since=since),
        )
        self.artifacts = ArtifactService(self.store, root, self.keys.revoked_ids)
        self.prohibited = ProhibitedProposalService(
            self.store, root, members, self.artifacts, self.keys.revoked_ids
        )
        self.location = LocationService(
            self.store,
            {k.key_id: k for k in root.role_keys("landmark")},
            self._location[0],
            self._location[1],
        )
        self.time = TimeService(self.store, self._time_key)
        self.audit = AuditService(self.store)
        self.signals = SignalService(self.store)
        self.supply = SupplyService(self.store, self.custody)
        self.gnss = GnssService(self.store, self._location[1])

    def adopt_root(self, root: TrustRoot) -> bool:
        """Make ``root`` (a newer root the members changed to) the one every threshold
        check, the registry's vendor keys and the landmarks' keys come from. False (and
        nothing changes) when this authority's licensing key is not in it: the operator
        restarts with the new key (docs/governance.md)."""
        if root.version <= self.root.version:
            return False
        if self._licensing_key.public not in root.role_keys("licensing"):
            return False
        if self._time_key is not None and self._time_key.public not in root.role_keys("time"):
            self._time_key = None
        self._build(root)
        return True

    @property
    def db(self) -> Database:
        return self.store.db

    @property
    def pause_threshold(self) -> int:
        return self.orders.pause_threshold

    def now(self) -> int:
        return self.store.now()

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Run several service calls in this thread as one transaction (all or nothing)."""
        return self.store.batch()


__all__ = ["ADMIN", "MEMBER", "OPERATOR", "SOURCE", "Authority", "Caller", "Store"]
