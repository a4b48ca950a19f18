"""What the console's routes share: the authority's state, the console's own state (sessions,
the map cache), who the viewer is, and the role checks every action goes through."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from importlib import resources
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from pausebutton import errors
from pausebutton.authority.api.deps import AppState
from pausebutton.authority.services import OPERATOR, Caller
from pausebutton.console import queries
from pausebutton.console.session import COOKIE, Sessions, Viewer

T = TypeVar("T")

PACKAGE = resources.files("pausebutton.console")
MAP_CACHE_S = 2.0
"""How long one map aggregate is served before it is computed again (seconds): at least
this, and five times as long as the aggregate took (a registry of millions of chips is
not aggregated again and again)."""
STREAM_INTERVAL_S = 0.25
"""How often the pause page's event stream looks for a change (seconds)."""


class Console:
    """What the console's routes share: the authority's state, sessions, a map cache."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self._map: tuple[float, dict[str, Any]] | None = None
        self._map_lock = asyncio.Lock()

    async def read(self, request: Request, fn: Callable[..., T], *args: Any) -> T:
        st = state(request)

        def run() -> T:
            with st.service.store.read() as conn:
                return fn(conn, *args)

        return await run_in_threadpool(run)

    async def map_data(self, request: Request) -> dict[str, Any]:
        async with self._map_lock:
            hit = self._map
            if hit is not None and hit[0] > time.monotonic():
                return hit[1]
            t0 = time.monotonic()
            data = await self.read(request, queries.map_data, state(request).service.now())
            took = time.monotonic() - t0
            self._map = (time.monotonic() + max(MAP_CACHE_S, 5 * took), data)
            return data

    def forget_map(self) -> None:
        """Drop the cached map aggregate (the benchmark's uncached runs)."""
        self._map = None


def state(request: Request) -> AppState:
    st: AppState = request.app.state.pb
    return st


def console(request: Request) -> Console:
    c: Console = request.app.state.console
    return c


async def get_viewer(request: Request) -> Viewer:
    """The signed-in key's role from the session cookie (public without one). The key is
    looked up on every request, so a revoked key is public again at once."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return Viewer()
    st = state(request)
    kid = console(request).sessions.read_cookie(raw, st.service.now())
    if kid is None:
        return Viewer(expired=True)
    found = await run_in_threadpool(st.principal, kid)
    if found is None:
        return Viewer(expired=True)
    caller: Caller = found[0]
    return Viewer(caller.role, caller.name, caller.key_id, caller.owner_id)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def need(viewer: Viewer, *roles: str) -> None:
    """Refuse (403, or 401 when not signed in) unless the viewer holds one of ``roles``."""
    if not viewer.signed_in:
        if viewer.expired:
            raise errors.AuthError(
                "your session has expired (or its key was revoked): sign in again",
                field="session",
            )
        raise errors.AuthError("sign in to see this", field="session")
    if roles and viewer.role not in roles:
        raise errors.ForbiddenError(
            f"role {viewer.role} may not do this (needs {' or '.join(roles)})", field="session"
        )


def may_see_facility(viewer: Viewer, owner_id: str | None) -> None:
    """Members, admins and auditors see every facility; an operator sees its owner's."""
    need(viewer)
    if viewer.role == OPERATOR and owner_id != viewer.owner_id:
        raise errors.ForbiddenError(
            "an operator sees only its own owner's facilities", field="session"
        )


def public_map(data: dict[str, Any]) -> dict[str, Any]:
    """The public view: aggregates per country and in total, no facility."""
    return {**data, "facilities": [], "public": True}
