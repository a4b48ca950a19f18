"""The cooperative lease: a Unix-socket service in the agent that guarded processes must hold.

Wire format: one JSON object per line each way (at most ``MAX_LINE`` bytes).
Requests carry ``op`` and an ``id`` the answer echoes; answers are
``{"id": .., "ok": true, ...}`` or ``{"id": .., "ok": false, "error": code,
"message": ..}`` with a code from ``pausebutton.errors``.

=========  ======================================  ==================================
op         request fields                          answer fields
=========  ======================================  ==================================
grant      gpu (UUID, index or null)               lease, gpu, ttl
step       lease, settle, expect                   remaining
release    lease, settle                           -
report     lease, report (artifact refusal)        -
artifacts  -                                       list (base64 envelope or null)
status     -                                       gpus, leases, safe_state
=========  ======================================  ==================================

``step`` books ``settle`` FLOP done and asks for a step of ``expect`` FLOP
(see ``pausebutton.guard.budget``); it also renews the lease. A lease not used
for ``ttl`` seconds expires. The server records each client's pid and uid
(``SO_PEERCRED``); the client checks that the server runs as root or as its own
user, so another user cannot impersonate the agent. Anything the client cannot
verify (no agent, an expired lease, a timeout, a malformed or mismatched answer)
is a ``LeaseError``: the guard then runs no step.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pausebutton import errors
from pausebutton.errors import LeaseError, PausebuttonError, UsageError
from pausebutton.guard.budget import StepGrant

MAX_LINE = 64 * 1024
DEFAULT_TTL = 30.0
_CODES = errors.all_error_classes()


class Ledger(Protocol):
    def step(self, settle: int, expect: int) -> StepGrant: ...

    def close(self, settle: int) -> None: ...


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket (Linux)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


@dataclass
class Lease:
    lease_id: str
    gpu: str
    pid: int
    uid: int
    expires: float
    steps: int = 0
    flop: int = 0


class LeaseService:
    """The lease logic, independent of the socket (the agent supplies the ledgers).

    ``gate`` is called before every grant and step; it raises a named error
    while the agent is in a safe state (authority unreachable too long, key
    revoked), so no step runs then.
    """

    def __init__(
        self,
        ledgers: dict[str, Ledger],
        *,
        ttl: float = DEFAULT_TTL,
        gate: Callable[[], None] | None = None,
        artifacts: Callable[[], bytes | None] | None = None,
        on_report: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not ledgers:
            raise UsageError("a lease service needs at least one GPU")
        self.ledgers = ledgers
        self.order = list(ledgers)
        self.ttl = ttl
        self.gate = gate or (lambda: None)
        self.artifacts = artifacts or (lambda: None)
        self.on_report = on_report or (lambda r: None)
        self.clock = clock
        self.leases: dict[str, Lease] = {}
        self.reports: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def _gpu(self, value: Any) -> str:
        if value is None:
            return self.order[0]
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(self.order):
            return self.order[value]
        if isinstance(value, str):
            for uuid in self.order:
                if value in (uuid, uuid.removeprefix("GPU-")):
                    return uuid
        raise errors.NotFoundError(f"no GPU {value!r} on this node")

    def _lease(self, value: Any) -> Lease:
        with self._lock:
            lease = self.leases.get(value) if isinstance(value, str) else None
            if lease is None:
                raise LeaseError("unknown lease (expired, released or from before a restart)")
            now = self.clock()
            if now > lease.expires:
                del self.leases[lease.lease_id]
                raise LeaseError(f"lease expired {now - lease.expires:.1f} s ago")
            lease.expires = now + self.ttl
            return lease

    @staticmethod
    def _flop(request: dict[str, Any], name: str) -> int:
        value = request.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise errors.SchemaError(f"{name} must be a non-negative integer", field=name)
        return value

    def handle(self, request: dict[str, Any], pid: int, uid: int) -> dict[str, Any]:
        op = request.get("op")
        if op == "grant":
            self.gate()
            gpu = self._gpu(request.get("gpu"))
            lease = Lease(secrets.token_hex(16), gpu, pid, uid, self.clock() + self.ttl)
            with self._lock:
                self.leases[lease.lease_id] = lease
            return {"lease": lease.lease_id, "gpu": gpu, "ttl": self.ttl}
        if op == "step":
            lease = self._lease(request.get("lease"))
            settle, expect = self._flop(request, "settle"), self._flop(request, "expect")
            ledger = self.ledgers[lease.gpu]
            try:
                self.gate()
            except PausebuttonError:
                ledger.close(settle)  # book the work done, then refuse
                lease.flop += settle
                raise
            grant = ledger.step(settle, expect)
            lease.steps += 1
            lease.flop += settle
            return {"remaining": grant.remaining}
        if op == "release":
            lease = self._lease(request.get("lease"))
            settle = self._flop(request, "settle")
            self.ledgers[lease.gpu].close(settle)
            lease.flop += settle
            with self._lock:
                self.leases.pop(lease.lease_id, None)
            return {}
        if op == "report":
            lease = self._lease(request.get("lease"))
            report = request.get("report")
            if not isinstance(report, dict):
                raise errors.SchemaError("report must be an object", field="report")
            entry = dict(report) | {"pid": lease.pid, "uid": lease.uid, "gpu": lease.gpu}
            self.reports.append(entry)
            self.on_report(entry)
            return {}
        if op == "artifacts":
            data = self.artifacts()
            return {"list": None if data is None else base64.b64encode(data).decode()}
        if op == "status":
            safe: str | None = None
            try:
                self.gate()
            except PausebuttonError as exc:
                safe = str(exc)
            with self._lock:
                leases = [
                    {"gpu": x.gpu, "pid": x.pid, "steps": x.steps, "flop": x.flop}
                    for x in self.leases.values()
                ]
            return {"gpus": self.order, "leases": leases, "safe_state": safe}
        raise errors.SchemaError(f"unknown op {op!r}", field="op")


class _Handler(socketserver.StreamRequestHandler):
    server: LeaseServer

    def handle(self) -> None:
        pid, uid, _ = peer_credentials(self.connection)
        service = self.server.service
        with self.server.conn_lock:
            self.server.connections.add(self.connection)
        try:
            self._serve(service, pid, uid)
        finally:
            with self.server.conn_lock:
                self.server.connections.discard(self.connection)

    def _serve(self, service: LeaseService, pid: int, uid: int) -> None:
        while True:
            try:
                line = self.rfile.readline(MAX_LINE + 1)
            except OSError:
                return
            if not line:
                return
            rid: Any = None
            try:
                if len(line) > MAX_LINE:
                    raise errors.OversizedError(f"request longer than {MAX_LINE} bytes")
                try:
                    request = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    raise errors.MalformedError("a request is one JSON object per line") from None
                if not isinstance(request, dict):
                    raise errors.MalformedError("a request is a JSON object")
                rid = request.get("id")
                answer = {"id": rid, "ok": True} | service.handle(request, pid, uid)
            except PausebuttonError as exc:
                answer = {"id": rid, "ok": False} | exc.to_dict()
            except Exception as exc:  # noqa: BLE001 - a bug must not kill the agent's lease
                answer = {"id": rid, "ok": False, "error": "lease", "message": repr(exc)}
            try:
                self.wfile.write(json.dumps(answer).encode() + b"\n")
            except OSError:
                return
            if len(line) > MAX_LINE:
                return


class LeaseServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """The agent's lease socket. ``mode`` sets who may connect (file permissions)."""

    daemon_threads = True

    def __init__(self, path: str | os.PathLike[str], service: LeaseService, *, mode: int = 0o660):
        self.path = Path(path)
        self.service = service
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        super().__init__(str(self.path), _Handler)
        os.chmod(self.path, mode)
        self._thread: threading.Thread | None = None
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()

    def start(self) -> LeaseServer:
        self._thread = threading.Thread(target=self.serve_forever, name="lease", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        with self.conn_lock:
            for conn in list(self.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class LeaseBudget:
    """The guard's side: a budget source that talks to the agent's lease socket."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        gpu: str | int | None = None,
        timeout: float = 10.0,
        trusted_uids: tuple[int, ...] | None = None,
    ) -> None:
        self.path = str(path)
        self.gpu = gpu
        self.timeout = timeout
        self.trusted_uids = trusted_uids if trusted_uids is not None else (0, os.getuid())
        self._sock: socket.socket | None = None
        self._rfile: Any = None
        self._next_id = 0
        self._lock = threading.Lock()
        self.lease: str | None = None
        self.gpu_uuid: str | None = None
        self._connect()
        self._grant()

    def _connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
            _, uid, _ = peer_credentials(sock)
        except OSError as exc:
            sock.close()
            raise LeaseError(f"no node agent at {self.path}: {exc}") from None
        if uid not in self.trusted_uids:
            sock.close()
            raise LeaseError(f"the lease socket {self.path} is served by uid {uid}, not trusted")
        self._sock = sock
        self._rfile = sock.makefile("rb")

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if self._sock is None:
                raise LeaseError("the lease connection is closed")
            self._next_id += 1
            rid = self._next_id
            try:
                self._sock.sendall(json.dumps(request | {"id": rid}).encode() + b"\n")
                line = self._rfile.readline(MAX_LINE + 1)
            except OSError as exc:
                self._drop()
                raise LeaseError(f"the node agent did not answer: {exc}") from None
            if not line:
                self._drop()
                raise LeaseError("the node agent closed the lease connection")
            try:
                answer = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                self._drop()
                raise LeaseError("malformed answer from the node agent") from None
            if not isinstance(answer, dict) or answer.get("id") != rid or "ok" not in answer:
                self._drop()
                raise LeaseError("the node agent's answer does not match the request")
        if answer["ok"] is not True:
            code = answer.get("error")
            cls = _CODES.get(code) if isinstance(code, str) else None
            message = str(answer.get("message", code))
            if cls is None:
                raise LeaseError(f"the node agent refused: {message}")
            raise cls(message)
        return answer

    def _drop(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._rfile.close()
                self._sock.close()
        self._sock = None

    def _grant(self) -> None:
        answer = self._call({"op": "grant", "gpu": self.gpu})
        lease, gpu = answer.get("lease"), answer.get("gpu")
        if not isinstance(lease, str) or not isinstance(gpu, str):
            raise LeaseError("the node agent's grant is malformed")
        self.lease, self.gpu_uuid = lease, gpu

    def reconnect(self) -> None:
        """A fresh connection and lease (after an agent restart or an expired lease)."""
        self._drop()
        self._connect()
        self._grant()

    def step(self, settle: int, expect: int) -> StepGrant:
        request = {"op": "step", "settle": settle, "expect": expect}
        try:
            answer = self._call(request | {"lease": self.lease})
        except LeaseError:
            # one verified retry on a new lease; if that fails too, no step runs
            self.reconnect()
            answer = self._call(request | {"lease": self.lease})
        remaining = answer.get("remaining")
        if remaining is not None and (
            isinstance(remaining, bool) or not isinstance(remaining, int)
        ):
            raise LeaseError("the node agent's grant is malformed")
        return StepGrant(remaining=remaining)

    def report_artifact(self, report: dict[str, object]) -> None:
        self._call({"op": "report", "lease": self.lease, "report": report})

    def prohibited_list(self) -> bytes | None:
        value = self._call({"op": "artifacts"}).get("list")
        return None if value is None else base64.b64decode(value)

    def close(self, settle: int) -> None:
        try:
            if self._sock is not None:
                self._call({"op": "release", "lease": self.lease, "settle": settle})
        finally:
            self._drop()
