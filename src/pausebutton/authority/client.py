"""An HTTP client for the authority (httpx): signs writes with RFC 9421 and maps
JSON error bodies back to the project's named errors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlencode

import httpx

from pausebutton import errors
from pausebutton.authority.auth import sign_request
from pausebutton.protocol import encoding
from pausebutton.protocol.keys import PrivateKey

_CODES = errors.all_error_classes()


def error_from_response(resp: httpx.Response) -> errors.PausebuttonError:
    try:
        body = resp.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = {}
    code = body.get("error") if isinstance(body, dict) else None
    cls = _CODES.get(code) if isinstance(code, str) else None
    if cls is None:
        cls = errors.ServiceError
    message = body.get("message") if isinstance(body, dict) else None
    details = (
        {k: v for k, v in body.items() if k not in ("error", "message")}
        if isinstance(body, dict)
        else {}
    )
    details["status"] = resp.status_code
    return cls(str(message or f"HTTP {resp.status_code}"), **details)


class AuthorityClient:
    """A synchronous client. Pass ``http`` to reuse a client (e.g. a TestClient)."""

    def __init__(
        self,
        base_url: str,
        key: PrivateKey | None = None,
        *,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.http = http or httpx.Client(timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def with_key(self, key: PrivateKey | None) -> AuthorityClient:
        return AuthorityClient(self.base_url, key, http=self.http)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        params: dict[str, Any] | None = None,
        sign: bool | None = None,
        timeout: float | None = None,
    ) -> Any:
        url = self.base_url + path
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        if clean:
            url += "?" + urlencode(
                {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in clean.items()}
            )
        headers: dict[str, str] = {}
        body = b""
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["content-type"] = "application/json"
        elif content is not None:
            body = content
            headers["content-type"] = content_type or "application/octet-stream"
        if sign if sign is not None else method != "GET":
            if self.key is None:
                raise errors.UsageError("this request must be signed: give a key (--key)")
            headers.update(sign_request(method, url, headers, body, self.key))
        try:
            resp = self.http.request(
                method,
                url,
                content=body or None,
                headers=headers,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as exc:
            raise errors.ServiceError(f"authority unreachable at {self.base_url}: {exc}") from None
        if resp.status_code >= 400:
            raise error_from_response(resp)
        if resp.headers.get("content-type", "").startswith("application/json"):
            return resp.json()
        return resp.text

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json_body=body if body is not None else {})

    # -- conveniences --------------------------------------------------------------

    def submit_reports(self, reports: Sequence[bytes]) -> Any:
        return self.request(
            "POST",
            "/v1/reports",
            content=encoding.encode(list(reports)),
            content_type="application/cbor",
        )

    def publish_prohibited(self, envelope: bytes) -> dict[str, Any]:
        """Publish a K-of-N signed ProhibitedArtifacts envelope (a member's signed request)."""
        out: dict[str, Any] = self.request(
            "POST", "/v1/prohibited", content=envelope, content_type="application/cbor"
        )
        return out

    def prohibited(self) -> dict[str, Any] | None:
        """The newest published list (``envelope`` base64, ``log_index``...), or None."""
        try:
            out: dict[str, Any] = self.get("/v1/prohibited")
        except errors.NotFoundError:
            return None
        return out

    def report_artifacts(self, reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Send refused-load reports: ``[{"id": 64 hex, "report": {...}}]``."""
        out: dict[str, Any] = self.post("/v1/artifact-reports", {"reports": list(reports)})
        return out

    def submit_measurement(self, envelope: bytes) -> dict[str, Any]:
        """Send one landmark-signed Measurement envelope (no request signature needed)."""
        out: dict[str, Any] = self.request(
            "POST",
            "/v1/location/measurements",
            content=envelope,
            content_type="application/cbor",
            sign=False,
        )
        return out

    def run_location_checks(self) -> list[dict[str, Any]]:
        """Run the location checks now (an admin's signed request); the new results."""
        out: dict[str, Any] = self.post("/v1/location/checks/run")
        return list(out["checks"])

    def location_checks(
        self, chip_id: str | None = None, after: int = 0, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Stored location check results, oldest first."""
        out: list[dict[str, Any]] = self.get(
            "/v1/location/checks", chip_id=chip_id, after=after, limit=limit
        )
        return out

    def time_token(self, chip_id: str | None = None) -> bytes:
        """A fresh TimeToken envelope from ``GET /v1/time`` (bound to ``chip_id`` if given)."""
        out = self.get("/v1/time", chip_id=chip_id)
        try:
            return base64.b64decode(out["envelope"], validate=True)
        except (TypeError, KeyError, ValueError, binascii.Error):
            raise errors.ServiceError("the authority sent no usable time token") from None

    def checkpoint(self) -> str:
        """The log's latest checkpoint note (text), cosignatures included."""
        return str(self.get("/v1/log/checkpoint"))

    def watch(self, after: int = 0, timeout: float = 30.0) -> dict[str, Any]:
        out: dict[str, Any] = self.request(
            "GET",
            "/v1/orders/watch",
            params={"after": after, "timeout": timeout},
            timeout=timeout + 10,
        )
        return out

    def stream(self, after: int = 0) -> Iterator[dict[str, Any]]:
        """Follow the server-sent event stream of orders."""
        url = f"{self.base_url}/v1/orders/stream?after={after}"
        with self.http.stream("GET", url, timeout=None) as resp:
            if resp.status_code >= 400:
                resp.read()
                raise error_from_response(resp)
            data: list[str] = []
            for line in resp.iter_lines():
                if line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    yield json.loads("\n".join(data))
                    data = []
