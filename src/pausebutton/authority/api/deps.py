"""``Depends`` providers of the API: the app's state, the service, signed callers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from pausebutton import errors
from pausebutton.authority.api.background import LoopHealth, OrderFeed
from pausebutton.authority.api.metrics import Metrics
from pausebutton.authority.auth import RateLimiter, SignatureCheck, verify_request
from pausebutton.authority.services import ADMIN, MEMBER, OPERATOR, Authority, Caller
from pausebutton.authority.settings import Settings
from pausebutton.protocol.keys import PublicKey
from pausebutton.translog.store import LogService


@dataclass
class AppState:
    """What the routes share, built at start-up (after migrations)."""

    settings: Settings
    service: Authority
    feed: OrderFeed
    limiter: RateLimiter
    metrics: Metrics
    health: LoopHealth
    log: LogService | None = None
    """The transparency log mounted at /v1/log (None without a log key)."""
    _principals: dict[str, tuple[float, Caller, PublicKey] | None] = field(default_factory=dict)

    def principal(self, kid: str) -> tuple[Caller, PublicKey] | None:
        now = time.monotonic()
        hit = self._principals.get(kid)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        found = self.service.keys.principal(kid)
        if found is not None:
            self._principals[kid] = (now + 5.0, found[0], found[1])
            if len(self._principals) > 100_000:
                self._principals.clear()
        return found

    def forget(self, kid: str) -> None:
        """Drop a cached principal (its key was revoked)."""
        self._principals.pop(kid, None)

    def forget_all(self) -> None:
        """Drop every cached principal (a new trust root changed the members)."""
        self._principals.clear()

    def count(self, name: str, n: int = 1) -> None:
        self.metrics.count(name, n)


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.pb
    return state


async def get_service(request: Request) -> Authority:
    state: AppState = request.app.state.pb
    return state.service


State = Annotated[AppState, Depends(get_state)]
Service = Annotated[Authority, Depends(get_service)]


@dataclass(frozen=True)
class SignedRequest:
    """A request whose signature holds, by a caller of an allowed role, whose nonce is
    not yet recorded (:func:`record_nonce`)."""

    caller: Caller
    check: SignatureCheck
    method: str
    path: str


async def _signature(request: Request, roles: tuple[str, ...]) -> SignedRequest:
    st: AppState = request.app.state.pb
    body = await request.body()
    method, path = request.method, request.url.path
    caller, check = await run_in_threadpool(
        _authenticate,
        st,
        method,
        str(request.url),
        path,
        list(request.headers.items()),
        body,
        roles,
    )
    return SignedRequest(caller, check, method, path)


async def record_nonce(st: AppState, req: SignedRequest) -> None:
    """Record the request's nonce, with the nonces of concurrent requests in one batch,
    waiting on the event loop (holding no worker thread); a nonce seen before is refused
    (401, counted and recorded)."""
    expires = req.check.created + st.settings.signature_max_age + 60
    if not await st.service.keys.use_nonce_async(req.check.key_id, req.check.nonce, expires):
        exc = errors.AuthError("this request was already received (nonce replayed)", field="nonce")
        await run_in_threadpool(_refused, st, exc, req.check.key_id, req.method, req.path)
        raise exc


def signed(*roles: str) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency: the request must carry a valid RFC 9421 signature by one of ``roles``
    (any role when none is named). 401/403 answers are counted and recorded.

    Everything after reading the body (the signature's Ed25519 verify, the key lookup,
    the rate limit) runs in one worker thread, off the event loop; then the nonce is
    recorded (:func:`record_nonce`)."""

    async def dependency(request: Request) -> Caller:
        req = await _signature(request, roles)
        await record_nonce(request.app.state.pb, req)
        return req.caller

    return dependency


def signed_unrecorded(*roles: str) -> Callable[[Request], Awaitable[SignedRequest]]:
    """:func:`signed` without the nonce's recording: the route calls
    :func:`record_nonce` itself, and must before it writes anything (a route whose own
    checks take long overlaps them with the nonce's commit)."""

    async def dependency(request: Request) -> SignedRequest:
        return await _signature(request, roles)

    return dependency


def _refused(st: AppState, exc: errors.AuthError, kid: str | None, method: str, path: str) -> None:
    """Count and record a refused request (then the caller raises ``exc``)."""
    st.count(f"auth_{exc.http_status}")
    st.service.keys.record_auth_event(
        status=exc.http_status, key_id=kid, method=method, path=path, reason=str(exc)
    )


def _authenticate(
    st: AppState,
    method: str,
    url: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    roles: tuple[str, ...],
) -> tuple[Caller, SignatureCheck]:
    """The signed request's caller and signature (its nonce not yet recorded)."""
    svc = st.service
    kid: str | None = None
    try:
        check = verify_request(
            method,
            url,
            headers,
            body,
            lambda k: p[1] if (p := st.principal(k)) else None,
            now=svc.now(),
            max_age=st.settings.signature_max_age,
        )
        kid = check.key_id
        found = st.principal(kid)
        if found is None:
            raise errors.AuthError("unknown key", field="keyid")
        caller = found[0]
        if caller.role == MEMBER:
            svc.keys.require_not_revoked(kid)
        if roles and caller.role not in roles:
            raise errors.ForbiddenError(
                f"role {caller.role} may not call this (needs {' or '.join(roles)})",
                field="keyid",
            )
        st.limiter.take(kid)
    except errors.AuthError as exc:
        _refused(st, exc, kid, method, path)
        raise
    return caller, check


Operator = Annotated[Caller, Depends(signed(OPERATOR, ADMIN))]
OperatorUnrecorded = Annotated[SignedRequest, Depends(signed_unrecorded(OPERATOR, ADMIN))]
"""An operator's or admin's signed request whose nonce the route records itself."""
Member = Annotated[Caller, Depends(signed(MEMBER))]
Admin = Annotated[Caller, Depends(signed(ADMIN))]
AdminOrMember = Annotated[Caller, Depends(signed(ADMIN, MEMBER))]
AnySigned = Annotated[Caller, Depends(signed())]

SIGNED_ERRORS = (401, 403, 429)
"""What a signed route can answer besides its own errors."""
