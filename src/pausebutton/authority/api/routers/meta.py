"""Meta: liveness/health, metrics, the trust root and the registry's counts."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from pausebutton.authority.api import models as m
from pausebutton.authority.api.deps import Service, State
from pausebutton.authority.api.metrics import CONTENT_TYPE
from pausebutton.authority.services.audit import Stats
from pausebutton.authority.services.base import b64

router = APIRouter(tags=["meta"])


@router.get(
    "/healthz",
    response_model=m.HealthOut,
    responses={503: {"model": m.HealthOut, "description": "a background loop is failing"}},
)
async def healthz(st: State) -> Any:
    """Health of the answering worker (named by its pid): 200 ``ok``, or 503
    ``degraded`` with the reasons while one of its background loops (order feed,
    checkpointer, WAL checkpoint, location checks) is failing; back to ``ok`` once a
    later run of that loop succeeds."""
    reasons = st.health.reasons()
    if reasons:
        body = {"status": "degraded", "worker": os.getpid(), "reasons": reasons}
        return JSONResponse(body, status_code=503)
    return {"status": "ok", "worker": os.getpid(), "reasons": []}


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
async def metrics(st: State) -> Response:
    """Prometheus text: the database's counts, and this server's counters and gauges
    (summed over all workers of ``authority serve --workers N``)."""
    stats = await run_in_threadpool(st.service.audit.stats)
    return Response(st.metrics.render(asdict(stats)), media_type=CONTENT_TYPE)


@router.get("/v1/trust-root", response_model=m.TrustRootOut)
async def trust_root(st: State) -> Any:
    r = st.service.root
    return {
        "version": r.version,
        "expires": r.expires,
        "log_origin": r.log_origin,
        "members": [{"name": x.name, "region": x.region, "key": x.key.hex()} for x in r.members],
        "pause_threshold": st.service.pause_threshold,
        "envelope": b64(st.settings.root_bytes),
    }


@router.get("/v1/stats", response_model=Stats)
def stats(svc: Service) -> Any:
    return svc.audit.stats()
