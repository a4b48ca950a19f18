"""The cooperative lease: a Unix-socket service in the agent that guarded processes must hold.

Wire format: one JSON object per line each way (at most ``MAX_LINE`` bytes).
Requests carry ``op`` and an ``id`` the answer echoes; answers are
``{"id": .., "ok": true, ...}`` or ``{"id": .., "ok": false, "error": code,
"message": ..}`` with a code from ``pausebutton.errors``.

=========  ======================================  ==================================
op         request fields                          answer fields
=========  ======================================  ==================================
grant      gpu (UUID, index or null)               lease, gpu, ttl, fence (+ an fd)
step       lease, settle, expect, steps            remaining, credit, epoch, credit_s
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

The fast path. A socket round trip per step costs about 100 µs of two
processes' time, so a step grant also carries a *credit*: ``credit`` FLOP of
steps (this one included) that the client may start without asking again,
for at most ``credit_s`` seconds and only while the GPU's fence ``epoch`` in
a shared page still reads the value given. The page is a sealed ``memfd``
the agent passes with the grant (``SCM_RIGHTS``); clients can map it only
read-only. The agent moves a GPU's epoch before and after every change of
its chip's state (``LeaseService.fencing``: pause and resume orders, licenses,
a safe state) and grants credit only against a settled epoch, so a pause
order the agent installed stops the very next step, as without credit. A
state change made behind the agent's back (another process writing the
chip's NVM, the authority's grace running out) is seen within ``credit_s``.
The credit doubles each time the client comes back because it spent the
last one (not because it expired or was fenced), so a steady job settles at
about one round trip per ``credit_s``; a credit never takes more than a
quarter of what the ledger has left, it is checked against the ledger (with
the other leases' open credit on the same GPU) before it is given, and the
FLOP really done are booked on the next call (``settle``), however many
steps ran in between.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import mmap
import os
import secrets
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pausebutton import errors
from pausebutton.errors import (
    LeaseError,
    LicenseExhaustedError,
    PausebuttonError,
    UsageError,
)
from pausebutton.guard.budget import StepGrant

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024
DEFAULT_TTL = 30.0
DEFAULT_CREDIT_SECONDS = 0.5
"""How long a step credit may be spent without asking the agent again."""
MAX_CREDIT_STEPS = 1 << 20
FENCE_SLOTS = 1024
FENCE_BYTES = 4 * FENCE_SLOTS
_F_SEAL_FUTURE_WRITE = getattr(fcntl, "F_SEAL_FUTURE_WRITE", 0x0010)
_CODES = errors.all_error_classes()


class Ledger(Protocol):
    def step(self, settle: int, expect: int) -> StepGrant: ...

    def close(self, settle: int) -> None: ...


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket (Linux)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


class FenceTable:
    """The agent's half of the lease fast path: a sealed shared page of fence epochs.

    One 32-bit epoch per GPU in a ``memfd`` page. The agent maps it writable and
    then seals it (``F_SEAL_FUTURE_WRITE``): guarded processes receive the file
    descriptor over the lease socket and can only map it read-only, so no client
    can move another's epoch. ``fencing(gpu)`` makes the GPU's epoch odd while
    the chip's state changes and even again after; a credit is granted only
    against an even epoch, and a client spends it only while the epoch still
    reads the same. So once a change (a pause order, a new license) is visible
    in the chip, no step starts from a credit granted before it.
    """

    def __init__(self, slots: int) -> None:
        if not 0 < slots <= FENCE_SLOTS:
            raise UsageError(f"a fence page holds 1 to {FENCE_SLOTS} GPUs")
        self.fd = os.memfd_create("pausebutton-lease-fence", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.ftruncate(self.fd, FENCE_BYTES)
            self._map = mmap.mmap(self.fd, FENCE_BYTES)
            seals = _F_SEAL_FUTURE_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW
            fcntl.fcntl(self.fd, fcntl.F_ADD_SEALS, seals | fcntl.F_SEAL_SEAL)
        except OSError:
            os.close(self.fd)
            raise
        self._epochs = memoryview(self._map).cast("I")
        self._depth = [0] * slots
        self._lock = threading.Lock()
        self._closed = False

    def read(self, slot: int) -> int:
        with self._lock:
            return 1 if self._closed else int(self._epochs[slot])  # closed: odd, no credit

    def _bump(self, slot: int) -> None:
        self._epochs[slot] = (self._epochs[slot] + 1) & 0xFFFFFFFF

    @contextlib.contextmanager
    def fencing(self, slots: Iterable[int]) -> Iterator[None]:
        """Odd epochs (no credit granted, none spent) while the body changes state."""
        chosen = sorted(set(slots))
        with self._lock:
            if self._closed:
                chosen = []  # closed: every epoch stays odd
            for slot in chosen:
                self._depth[slot] += 1
                if self._depth[slot] == 1:
                    self._bump(slot)
        try:
            yield
        finally:
            with self._lock:
                for slot in chosen:
                    self._depth[slot] -= 1
                    if self._depth[slot] == 0:
                        self._bump(slot)

    def close(self) -> None:
        """Leave every epoch odd for good: clients that still map the page never spend a
        credit again (their next step asks the agent, which is gone: a ``LeaseError``)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for slot, depth in enumerate(self._depth):
                if depth == 0:
                    self._bump(slot)
                self._depth[slot] = depth + 1
        with contextlib.suppress(BufferError):
            self._epochs.release()
            self._map.close()
        with contextlib.suppress(OSError):
            os.close(self.fd)


@dataclass
class Lease:
    lease_id: str
    gpu: str
    pid: int
    uid: int
    expires: float
    steps: int = 0
    flop: int = 0
    credit_steps: int = 1
    """How many steps of ``expect`` FLOP the next credit covers (doubles while used up fast)."""
    credit: int = 0
    """FLOP of the credit given at the last step call (0: none open)."""
    credit_until: float = 0.0
    last_credit: int = 0
    seen_remaining: int | None = None
    """The ledger's budget before this lease's last credit (caps the next one)."""


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
        credit_seconds: float = DEFAULT_CREDIT_SECONDS,
    ) -> None:
        if not ledgers:
            raise UsageError("a lease service needs at least one GPU")
        if credit_seconds < 0:
            raise UsageError("credit_seconds must not be negative")
        self.ledgers = ledgers
        self.order = list(ledgers)
        self.slots = {uuid: i for i, uuid in enumerate(self.order)}
        self._gpu_locks = {uuid: threading.Lock() for uuid in self.order}
        self.ttl = ttl
        self.credit_seconds = credit_seconds
        self.fences: FenceTable | None = None
        if credit_seconds > 0 and len(self.order) <= FENCE_SLOTS:
            try:
                self.fences = FenceTable(len(self.order))
            except (OSError, AttributeError):  # no memfd or seals: every step asks the agent
                self.fences = None
        self.gate = gate or (lambda: None)
        self.artifacts = artifacts or (lambda: None)
        self.on_report = on_report or (lambda r: None)
        self.clock = clock
        self.leases: dict[str, Lease] = {}
        self.reports: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def fencing(self, gpu: str | None = None) -> contextlib.AbstractContextManager[None]:
        """Wrap every change of a chip's state (``gpu`` None: all of them): no credit
        granted before the change is spent after it."""
        if self.fences is None:
            return contextlib.nullcontext()
        slots = self.slots.values() if gpu is None else [self.slots[self._gpu(gpu)]]
        return self.fences.fencing(slots)

    def fence(self, gpu: str | None = None) -> None:
        """Void every open credit (of one GPU, or all): the next step asks the agent."""
        with self.fencing(gpu):
            pass

    def close(self) -> None:
        """Void every credit for good (the agent is stopping)."""
        if self.fences is not None:
            self.fences.close()

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

    def _step(self, lease: Lease, ledger: Ledger, settle: int, expect: int) -> dict[str, Any]:
        """Book ``settle``, grant a step of ``expect`` and, when the fence allows, a credit
        (the caller holds the GPU's lock)."""
        now = self.clock()
        epoch = None if self.fences is None else self.fences.read(self.slots[lease.gpu])
        window = expect
        if epoch is not None and epoch % 2 == 0 and expect > 0:
            if lease.last_credit and settle + expect > lease.last_credit:
                # the client came back because its credit was spent (not because it
                # expired or was fenced): the next one covers twice as many steps
                lease.credit_steps = min(lease.credit_steps * 2, MAX_CREDIT_STEPS)
            steps = lease.credit_steps
            if lease.seen_remaining is not None:  # a credit takes at most a quarter of what
                steps = max(1, min(steps, lease.seen_remaining // (4 * expect)))  # is left
            window = expect * steps
        else:
            epoch = None  # a state change is under way (or no fence page): this step only
        with self._lock:
            others = sum(
                x.credit
                for x in self.leases.values()
                if x is not lease and x.gpu == lease.gpu and x.credit_until > now
            )
        try:
            grant = ledger.step(settle, window + others)
        except LicenseExhaustedError:
            if window == expect:
                raise
            # not enough left for a credit: this one step (the ledger booked ``settle``);
            # the other leases' open credit is still promised, so it still counts
            window, epoch, lease.credit_steps = expect, None, 1
            grant = ledger.step(0, expect + others)
        lease.credit, lease.credit_until = window, now + self.credit_seconds
        lease.seen_remaining = None if grant.remaining is None else grant.remaining + window
        return {
            "remaining": grant.remaining,
            "credit": window,
            "epoch": epoch,
            "credit_s": self.credit_seconds,
        }

    def handle(self, request: dict[str, Any], pid: int, uid: int) -> dict[str, Any]:
        op = request.get("op")
        if op == "grant":
            self.gate()
            gpu = self._gpu(request.get("gpu"))
            lease = Lease(secrets.token_hex(16), gpu, pid, uid, self.clock() + self.ttl)
            with self._lock:
                self.leases[lease.lease_id] = lease
            answer: dict[str, Any] = {"lease": lease.lease_id, "gpu": gpu, "ttl": self.ttl}
            if self.fences is not None:
                answer["fence"] = self.slots[gpu]  # the page's fd travels with this answer
            return answer
        if op == "step":
            lease = self._lease(request.get("lease"))
            settle, expect = self._flop(request, "settle"), self._flop(request, "expect")
            steps = self._flop(request, "steps")
            ledger = self.ledgers[lease.gpu]
            # one GPU's grants one at a time: each credit is checked against the ledger
            # with the other leases' open credit counted
            with self._gpu_locks[lease.gpu]:
                lease.last_credit, lease.credit = lease.credit, 0  # spent or void now
                lease.flop += settle  # the ledger books it whether it grants or refuses
                lease.steps += steps
                try:
                    self.gate()
                except PausebuttonError:
                    ledger.close(settle)  # book the work done, then refuse
                    raise
                return self._step(lease, ledger, settle, expect)
        if op == "release":
            lease = self._lease(request.get("lease"))
            settle = self._flop(request, "settle")
            steps = self._flop(request, "steps")
            with self._gpu_locks[lease.gpu]:
                lease.credit = 0
                self.ledgers[lease.gpu].close(settle)
                lease.flop += settle
                lease.steps += steps
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
                    {
                        "gpu": x.gpu,
                        "pid": x.pid,
                        "steps": x.steps,
                        "flop": x.flop,
                        "credit_steps": x.credit_steps,
                    }
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
            except Exception as exc:  # a bug must not kill the agent's lease
                log.exception("a lease request from pid %d failed unexpectedly", pid)
                answer = {"id": rid, "ok": False, "error": "lease", "message": repr(exc)}
            payload = json.dumps(answer).encode() + b"\n"
            fences = service.fences
            try:
                if answer.get("ok") and "fence" in answer and fences is not None:
                    sent = socket.send_fds(self.connection, [payload], [fences.fd])
                    if sent < len(payload):
                        self.connection.sendall(payload[sent:])
                else:
                    self.wfile.write(payload)
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
        self.service.close()


class LeaseBudget:
    """The guard's side: a budget source that talks to the agent's lease socket.

    Steps covered by the agent's last credit are granted here, in memory, after
    one read of the shared fence page (see the module's notes); the others make
    one round trip. ``fast_steps`` and ``slow_steps`` count the two.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        gpu: str | int | None = None,
        timeout: float = 10.0,
        trusted_uids: tuple[int, ...] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = str(path)
        self.gpu = gpu
        self.clock = clock
        """When a credit expires (benchmarks give each variant a clock of its own)."""
        self.timeout = timeout
        self.trusted_uids = trusted_uids if trusted_uids is not None else (0, os.getuid())
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._next_id = 0
        self._lock = threading.Lock()
        self.lease: str | None = None
        self.gpu_uuid: str | None = None
        # the credit of the last step call, spendable while the fence reads ``_epoch``
        self._fence_map: mmap.mmap | None = None
        self._fence: memoryview | None = None
        self._slot = 0
        self._epoch: int | None = None
        self._credit = 0
        self._credit_until = 0.0
        self._remaining: int | None = None
        self._unsettled = 0
        """FLOP done since the last booking with the agent."""
        self._steps = 0
        self.fast_steps = 0
        self.slow_steps = 0
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
        self._buf.clear()

    def _readline(self, sock: socket.socket, fds: list[int]) -> bytes:
        """One answer line; file descriptors sent with it are appended to ``fds``."""
        while True:
            end = self._buf.find(b"\n")
            if end >= 0:
                line = bytes(self._buf[: end + 1])
                del self._buf[: end + 1]
                return line
            if len(self._buf) > MAX_LINE:
                raise LeaseError(f"the node agent's answer is longer than {MAX_LINE} bytes")
            data, got, flags, _ = socket.recv_fds(sock, 65536, 4)
            fds.extend(got)
            if flags & socket.MSG_CTRUNC:
                raise LeaseError("the node agent sent more file descriptors than expected")
            if not data:
                return b""
            self._buf += data

    def _call(self, request: dict[str, Any], fds: list[int] | None = None) -> dict[str, Any]:
        """One request and its answer. File descriptors that came with the answer go to
        ``fds`` (closed here if the caller does not want them)."""
        got: list[int] = []
        try:
            return self._exchange(request, got)
        finally:
            if fds is None:
                for fd in got:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            else:
                fds.extend(got)

    def _exchange(self, request: dict[str, Any], fds: list[int]) -> dict[str, Any]:
        with self._lock:
            sock = self._sock
            if sock is None:
                raise LeaseError("the lease connection is closed")
            self._next_id += 1
            rid = self._next_id
            try:
                sock.sendall(json.dumps(request | {"id": rid}).encode() + b"\n")
                line = self._readline(sock, fds)
            except OSError as exc:
                self._drop()
                raise LeaseError(f"the node agent did not answer: {exc}") from None
            except LeaseError:
                self._drop()
                raise
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

    def _void_credit(self) -> None:
        self._credit, self._epoch, self._remaining = 0, None, None

    def _unmap_fence(self) -> None:
        self._void_credit()
        if self._fence is not None:
            self._fence.release()
        if self._fence_map is not None:
            self._fence_map.close()
        self._fence = self._fence_map = None

    def _drop(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock = None
        self._buf.clear()
        self._unmap_fence()

    def _map_fence(self, slot: Any, fds: list[int]) -> None:
        """Map the agent's fence page read-only. Anything amiss leaves no fast path
        (every step then asks the agent): never an error, never a step on trust."""
        if not fds or isinstance(slot, bool) or not isinstance(slot, int):
            return
        if not 0 <= slot < FENCE_SLOTS:
            return
        try:
            seals = fcntl.fcntl(fds[0], fcntl.F_GET_SEALS)
            if not seals & _F_SEAL_FUTURE_WRITE or os.fstat(fds[0]).st_size < FENCE_BYTES:
                return  # a page others could write is no fence
            page = mmap.mmap(fds[0], FENCE_BYTES, prot=mmap.PROT_READ)
        except (OSError, ValueError):
            return
        self._fence_map, self._fence, self._slot = page, memoryview(page).cast("I"), slot

    def _grant(self) -> None:
        fds: list[int] = []
        try:
            answer = self._call({"op": "grant", "gpu": self.gpu}, fds)
            lease, gpu = answer.get("lease"), answer.get("gpu")
            if not isinstance(lease, str) or not isinstance(gpu, str):
                raise LeaseError("the node agent's grant is malformed")
            self.lease, self.gpu_uuid = lease, gpu
            self._unmap_fence()
            self._map_fence(answer.get("fence"), fds)
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def reconnect(self) -> None:
        """A fresh connection and lease (after an agent restart or an expired lease)."""
        self._drop()
        self._connect()
        self._grant()

    def step(self, settle: int, expect: int) -> StepGrant:
        done = self._unsettled + settle
        fence = self._fence
        if (
            fence is not None
            and done + expect <= self._credit
            and fence[self._slot] == self._epoch
            and self.clock() < self._credit_until
        ):
            self._unsettled = done
            self._steps += 1
            self.fast_steps += 1
            remaining = self._remaining
            return StepGrant(
                None if remaining is None else remaining + self._credit - done - expect
            )
        return self._ask(done, expect)

    def _ask(self, done: int, expect: int) -> StepGrant:
        """The slow path: book ``done`` with the agent and ask for this step and a credit."""
        self._void_credit()
        sent = self.clock()
        request = {"op": "step", "settle": done, "expect": expect, "steps": self._steps}
        try:
            try:
                answer = self._call(request | {"lease": self.lease})
            except LeaseError:
                # one verified retry on a new lease; if that fails too, no step runs
                self.reconnect()
                answer = self._call(request | {"lease": self.lease})
        except LeaseError:
            raise  # maybe never booked: the guard sends ``settle`` again with the next step
        except PausebuttonError:
            self._unsettled = self._steps = 0  # the agent booked the work, then refused
            raise
        self._unsettled, self._steps = 0, 1  # booked; this step is granted
        self.slow_steps += 1
        remaining, credit = answer.get("remaining"), answer.get("credit", expect)
        epoch, credit_s = answer.get("epoch"), answer.get("credit_s", 0)
        if (
            (
                remaining is not None
                and (isinstance(remaining, bool) or not isinstance(remaining, int))
            )
            or isinstance(credit, bool)
            or not isinstance(credit, int)
            or credit < expect
            or (epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int)))
            or isinstance(credit_s, bool)
            or not isinstance(credit_s, (int, float))
            or not 0 <= credit_s <= 3600
        ):
            raise LeaseError("the node agent's grant is malformed")
        if epoch is not None and self._fence is not None:
            self._credit, self._epoch, self._remaining = credit, epoch, remaining
            self._credit_until = sent + credit_s
        return StepGrant(remaining=None if remaining is None else remaining + credit - expect)

    def report_artifact(self, report: dict[str, object]) -> None:
        self._call({"op": "report", "lease": self.lease, "report": report})

    def prohibited_list(self) -> bytes | None:
        value = self._call({"op": "artifacts"}).get("list")
        return None if value is None else base64.b64decode(value)

    def close(self, settle: int) -> None:
        try:
            if self._sock is not None:
                done, self._unsettled = self._unsettled + settle, 0
                steps, self._steps = self._steps, 0
                self._call({"op": "release", "lease": self.lease, "settle": done, "steps": steps})
        finally:
            self._drop()
