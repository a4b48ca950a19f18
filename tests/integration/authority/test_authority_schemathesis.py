"""Property-based API fuzzing from the published OpenAPI document: no 5xx, ever, and
every answer is one the document describes (status code, content type, body schema).

Requests are signed (RFC 9421) with a key suited to each path, so the fuzzer
reaches the handlers behind authentication, not just the 401 answer.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pausebutton.authority.api import create_app
from pausebutton.authority.auth import sign_request
from pausebutton.authority.client import AuthorityClient
from pausebutton.authority.demo import DemoWorld, demo_world
from pausebutton.authority.inprocess import serve_in_process
from pausebutton.protocol.keys import PrivateKey

WORLD: DemoWorld = demo_world(seed=b"schemathesis")
STATUS: list[Any] = []
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


def key_for(path: str) -> PrivateKey:
    if "/orders/proposals" in path or path.endswith("/approvals"):
        return WORLD.member(0)
    if path.startswith("/v1/licenses/applications") or path.startswith("/v1/reports"):
        return WORLD.operator_key("acme")
    return WORLD.admin


class SigningClient(asgi.ASGIClient):
    """The schemathesis ASGI client, signing every non-GET request."""

    def send(self, request: requests.PreparedRequest, **kw: Any) -> requests.Response:  # type: ignore[override]
        if request.method != "GET":
            body = request.body or b""
            if isinstance(body, str):
                body = body.encode()
            path = request.path_url.split("?")[0]
            headers = sign_request(str(request.method), str(request.url), {}, body, key_for(path))
            request.headers.update(headers)
            request.body = body
        return super().send(request, **kw)


@pytest.fixture
def api_schema(tmp_path: Path, db_url: str) -> Iterator[Any]:
    app = create_app(WORLD.settings(db_url, write_rate=1e9, write_burst=1e9))
    # seed a small registry so that generated ids sometimes exist
    with serve_in_process(app) as http:
        admin = AuthorityClient("http://testserver", WORLD.admin, http=http)
        admin.post("/v1/owners", {"id": "acme", "name": "Acme", "country": "US"})
        op = WORLD.operator_key("acme")
        admin.post(
            "/v1/keys",
            {
                "public_key": op.public.raw.hex(),
                "role": "operator",
                "name": "ops",
                "owner_id": "acme",
            },
        )
        admin.post("/v1/facilities", {"id": "dc1", "name": "DC", "country": "US", "verified": True})
        chip = WORLD.make_chip(index=0)
        admin.post(
            "/v1/chips",
            {
                "certificate": base64.b64encode(chip.certificate).decode(),
                "owner_id": "acme",
                "facility_id": "dc1",
            },
        )
    for target, source in (
        ("application/cbor", "application/octet-stream"),
        ("text/csv", "text/plain"),
    ):
        schemathesis.serializer.alias(target, source)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    yield schema
    asgi.shutdown_lifespans()


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_never_answers_5xx(api_schema: Any, mode: GenerationMode) -> None:
    failures: list[str] = []
    checked = 0
    STATUS.clear()
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if operation.path in ("/v1/orders/stream", "/v1/notifications/stream"):
            continue  # endless event streams; covered by the pause and notification tests

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            if case.path == "/v1/orders/watch":
                case.query = {**(case.query or {}), "timeout": 0}
            with SigningClient(api_schema.app) as session:
                response = case.call(session=session)
            STATUS.append((case.method, response.status_code))
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
                )
            try:
                case.validate_response(response, checks=CONFORMANCE)
            except (AssertionError, FailureGroup) as exc:  # the checks' failures
                failures.append(f"{case.method} {case.path}: {str(exc)[:600]}")

        try:
            check()
        except Unsatisfiable:  # nothing to negate (no parameters or body)
            continue
        checked += 1
    assert failures == [], "\n\n".join(failures)
    if mode is GenerationMode.POSITIVE:
        # signed writes reach the handlers (not only the 401 answer)
        assert any(m == "POST" and 200 <= code < 300 for m, code in STATUS)
    else:
        # malformed signed requests get past the signature check and are refused by
        # validation with a client error
        assert any(code in (400, 413, 415, 422) for _, code in STATUS), sorted(set(STATUS))
    assert checked >= 20 if mode is GenerationMode.POSITIVE else checked >= 12
