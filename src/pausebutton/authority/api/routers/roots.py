"""Trust roots: the members' root changes, checked, logged and served at stable URLs."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from pausebutton.authority.api.deps import SIGNED_ERRORS, Member, Service, State
from pausebutton.authority.api.models import CBOR_BODY, error_responses
from pausebutton.authority.services.roots import RootVersion, SubmittedRoot
from pausebutton.translog.policy import LogPolicy

router = APIRouter(tags=["roots"])
log = logging.getLogger("pausebutton.authority.roots")

VersionPath = Annotated[int, Path(ge=1, le=2**53)]


@router.post(
    "/v1/roots",
    status_code=201,
    response_model=SubmittedRoot,
    responses=error_responses(400, *SIGNED_ERRORS, 409, 413, 422),
    openapi_extra=CBOR_BODY,
)
async def submit_root(request: Request, st: State, caller: Member) -> Any:
    """Submit the next trust root (raw CBOR body: the TrustRoot envelope the members
    assembled). Checked against the newest root (422 ``chain``, ``rollback``,
    ``below_floor``, ``last_key``, ``below_threshold``, ``expired``), logged, served at
    GET /v1/roots/VERSION, and in force for this authority's checks at once."""
    raw = await request.body()
    out, new = await run_in_threadpool(st.service.roots.submit, caller, raw)
    if not out.duplicate:
        st.count("trust_roots")
        if st.service.adopt_root(new):
            st.forget_all()
            if st.log is not None:
                st.log.policy = LogPolicy.from_trust_root(new)
        else:
            st.count("trust_roots_not_adopted")
            log.error(
                "trust root v%d is logged but not in force here: the authority's licensing"
                " key is not in it (restart with the new key)",
                new.version,
            )
    return out


@router.get("/v1/roots", response_model=list[RootVersion], responses=error_responses(422))
def root_chain(svc: Service, after: Annotated[int, Query(ge=0, le=2**53)] = 0) -> Any:
    """Every root above version ``after``, in order: a chip that holds version ``after``
    installs each in turn (with its log inclusion bundle: GET /v1/log/bundle)."""
    return svc.roots.chain(after)


@router.get("/v1/roots/latest", response_model=RootVersion)
def latest_root(svc: Service) -> Any:
    _, root = svc.roots.newest()
    return svc.roots.get(root.version)


@router.get("/v1/roots/{version}", response_model=RootVersion, responses=error_responses(404, 422))
def get_root(svc: Service, version: VersionPath) -> Any:
    return svc.roots.get(version)
