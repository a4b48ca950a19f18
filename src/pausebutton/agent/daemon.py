"""The node agent: one firmware chip per GPU, kept in step with the licensing authority.

State directory (everything the agent keeps; a restart keeps every counter)::

    STATE/agent.json              bound GPUs (UUID, serial, chip id), order cursor,
                                  last NVML energy readings, refused licence ids,
                                  what each chip waits for (``agent status``)
    STATE/trust-root.cbor         the pinned trust root
    STATE/gpus/<UUID>/            one chip's secure NVM (pausebutton.chip.nvm) and
                                  its DeviceCertificate (certificate.cbor)
    STATE/outbox.cbor             signed usage reports not yet delivered
    STATE/prohibited.cbor         the newest verified prohibited-artifacts list
    STATE/artifact-reports.jsonl  refused loads reported by guards
    STATE/lease.sock              the lease socket guarded jobs connect to

Each round (``tick``) the agent installs new pause/resume orders (the push
connection: long-poll on ``/v1/orders/watch``), installs new licenses for its
chips, installs a fresh time token from ``/v1/time`` when the newest one is
older than the refresh interval (the chips trust no host clock), installs the
authority's newest prohibited-artifacts list (``/v1/prohibited``), books the
energy NVML measured since the last round into each chip, and sends the chips'
signed, hash-chained usage reports in one batch, and the guards' refused-load
reports (kept in artifact-reports.jsonl until the authority acknowledges them).
An order or licence a chip refuses for a cause that heals is retried until it
installs (``pausebutton.agent.syncing``: the convergence half of the agent).

Safe state: if the authority cannot be reached for ``offline_grace`` seconds,
or it rejects the operator key (revoked), every lease step is refused with the
named error until contact is restored; the chips' own dead man's switch
(licence ``max_offline``) applies in any case.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pausebutton import errors
from pausebutton.agent.converge import Disposition, Tracker, backoff_delay, throttle_reason
from pausebutton.agent.enforcement import Enforcer
from pausebutton.agent.ledger import ChipLedger, StateDirChip, encode_record
from pausebutton.agent.nvml import GpuBackend, GpuInfo
from pausebutton.agent.syncing import Converging, log_stage
from pausebutton.chip.derived import KEY_SEALED
from pausebutton.chip.firmware import ChipState, InclusionVerifier, provision
from pausebutton.chip.nvm import FileNvm
from pausebutton.fsutil import atomic_write, read_limited
from pausebutton.guard.artifacts import ProhibitedList
from pausebutton.protocol import encoding
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import DeviceCertificate
from pausebutton.protocol.trustroot import load_pinned_root

if TYPE_CHECKING:
    from pausebutton.agent.lease import LeaseService

log = logging.getLogger("pausebutton.agent")

STATE_FILE = "agent.json"
ROOT_FILE = "trust-root.cbor"
OUTBOX_FILE = "outbox.cbor"
PROHIBITED_FILE = "prohibited.cbor"
REPORTS_FILE = "artifact-reports.jsonl"
SOCKET_FILE = "lease.sock"
CERT_FILE = "certificate.cbor"
H100_PEAK = 989_000_000_000_000


@dataclass
class GpuChip:
    info: GpuInfo
    chip: StateDirChip
    ledger: ChipLedger

    @property
    def chip_id(self) -> str:
        return self.chip.firmware.record.chip_id.hex()


@dataclass
class AgentStatus:
    contacted: bool = False
    last_contact: float | None = None
    safe_reason: errors.PausebuttonError | None = None
    errors: list[str] = field(default_factory=list)


class Agent(Converging):
    """The agent over a state directory, a GPU backend and an authority client."""

    def __init__(
        self,
        state: str | Path,
        backend: GpuBackend,
        client: Any = None,
        *,
        verifier: InclusionVerifier | None = None,
        enforcer: Enforcer | None = None,
        offline_grace: float = 600.0,
        watch_timeout: float = 10.0,
        time_refresh: float = 300.0,
        clock: Any = time.monotonic,
        rand: Any = random.random,
    ) -> None:
        self.dir = Path(state)
        self.backend = backend
        self.client = client
        self.verifier = log_stage(verifier)
        self._log_check = verifier
        """The log check as given (``BundleLogCheck`` keeps one bundle per round)."""
        self.enforcer = enforcer or Enforcer(backend)
        self.offline_grace = offline_grace
        self.watch_timeout = watch_timeout
        self.time_refresh = time_refresh
        self.clock = clock
        self.status = AgentStatus()
        self.started = clock()
        self._clock_mark = self.started
        self._orders_failed = False
        self._watch_failures = 0
        self.tracker = Tracker(rand)
        """Healable refusals being retried, permanent ones reported (``converge``)."""
        self._checkpoint_seen: str | None = None
        self._checkpoint_polled = float("-inf")
        doc = self._read_state()
        self.saved_waiting: dict[str, Any] = (
            doc["waiting"] if isinstance(doc.get("waiting"), dict) else {}
        )
        """What the last running agent said each GPU waited for (``agent status``)."""
        try:
            self.order_cursor: int = int(doc.get("order_cursor", 0))
            """Every order up to this sequence is settled on every chip: held, not for it,
            or permanently refused. It never moves past an order a chip still waits for."""
            self.licences_refused: dict[str, list[int]] = {
                str(u): [int(i) for i in ids] for u, ids in doc.get("licences_refused", {}).items()
            }
            self.energy: dict[str, int] = {k: int(v) for k, v in doc.get("energy", {}).items()}
            bound: dict[str, dict[str, str]] = {
                str(u): {k: str(v) for k, v in m.items()} for u, m in doc["gpus"].items()
            }
        except (TypeError, ValueError, AttributeError):
            raise errors.CorruptStateError(
                f"{self.dir / STATE_FILE}: damaged agent state (a field has the wrong type)"
            ) from None
        root_bytes = read_limited(self.dir / ROOT_FILE, 1 << 20)
        self.root_env, self.root = load_pinned_root(root_bytes)
        self.gpus: dict[str, GpuChip] = {}
        present = {g.uuid: g for g in backend.gpus()}
        for uuid, meta in bound.items():
            info = present.get(uuid)
            if info is None:
                raise errors.HardwareError(
                    f"GPU {uuid} (serial {meta.get('serial')}) is bound to this state but is"
                    " missing or unreadable",
                    uuid=uuid,
                )
            if info.serial != meta.get("serial"):
                raise errors.CorruptStateError(
                    f"GPU {uuid} reports serial {info.serial!r}, the state is bound to"
                    f" {meta.get('serial')!r}",
                    uuid=uuid,
                )
            chip = StateDirChip(self.dir / "gpus" / uuid, verifier=self.verifier)
            if chip.firmware.record.chip_id.hex() != meta.get("chip_id"):
                raise errors.CorruptStateError(f"GPU {uuid}: the chip id in NVM does not match")
            self.gpus[uuid] = GpuChip(info, chip, ChipLedger(chip))
        self._watch_after = self.order_cursor
        """The newest order sequence fetched (the long-poll waits for one above it)."""
        if not self.gpus:
            raise errors.CorruptStateError(f"{self.dir}: no GPU is bound to this agent state")
        prohibited = self.dir / PROHIBITED_FILE
        self.prohibited: ProhibitedList | None = None
        if prohibited.exists():
            self.prohibited = ProhibitedList.verify(read_limited(prohibited), self.root)
        self._lock = threading.RLock()
        self.silent: set[str] = set()
        """GPUs whose NVML reads fail (reported to the authority as silent chips)."""
        self.health_sent: dict[str, str] = {}
        """The last health state the authority acknowledged, per GPU."""
        self._reports_lock = threading.Lock()
        self.lease: LeaseService | None = None
        """The lease service guarded jobs hold (told of every chip change: its fences)."""

    # -- state files -------------------------------------------------------------------------

    def _read_state(self) -> dict[str, Any]:
        path = self.dir / STATE_FILE
        if not path.exists():
            raise errors.CorruptStateError(
                f"{self.dir}: not an agent state directory (no {STATE_FILE}); run"
                " `pausebutton agent run` with --trust and --vendor-key once to enroll the GPUs"
            )
        try:
            doc = json.loads(read_limited(path, 1 << 20))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise errors.CorruptStateError(f"{path}: damaged agent state") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("gpus"), dict):
            raise errors.CorruptStateError(f"{path}: damaged agent state")
        return doc

    def _write_state(self) -> None:
        doc = {
            "gpus": {
                u: {"serial": g.info.serial, "chip_id": g.chip_id, "name": g.info.name}
                for u, g in self.gpus.items()
            },
            "order_cursor": self.order_cursor,
            "energy": self.energy,
            "licences_refused": self.licences_refused,
            "waiting": {u: self.tracker.for_gpu(u, self.clock()) for u in self.gpus},
            "refused": self.tracker.refused[-20:],
        }
        atomic_write(self.dir / STATE_FILE, json.dumps(doc, indent=1, sort_keys=True).encode())

    # -- enrollment (first run) --------------------------------------------------------------

    @staticmethod
    def enroll(
        state: str | Path,
        backend: GpuBackend,
        *,
        trust_root: bytes,
        vendor_key: PrivateKey,
        vendor: str = "pausebutton-agent",
        region: str | None = None,
        owner: str | None = None,
        issued_at: int,
    ) -> None:
        """Bind every GPU to a new chip: device key, vendor certificate (UUID, serial, model),
        first NVM record. Refuses a directory that already holds an agent state."""
        directory = Path(state)
        if (directory / STATE_FILE).exists():
            raise errors.ConflictError(f"{directory} already holds an agent state")
        load_pinned_root(trust_root)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(directory / ROOT_FILE, trust_root)
        gpus: dict[str, dict[str, str]] = {}
        energy: dict[str, int] = {}
        for info in backend.gpus():
            device = PrivateKey.generate()
            cert = DeviceCertificate(
                serial=info.serial or info.uuid,
                model=info.name,
                device_key=device.public.raw,
                vendor=vendor,
                firmware_floor=0,
                issued_at=issued_at,
                hardware_uuid=info.uuid,
                peak_flops=H100_PEAK,
            )
            cert_bytes = Envelope.create(cert, [vendor_key]).encode()
            record = provision(
                device_key=device,
                certificate=cert_bytes,
                root=trust_root,
                region=region,
                owner=owner,
            )
            chip_dir = directory / "gpus" / info.uuid
            FileNvm(chip_dir).create(encode_record(record))
            atomic_write(chip_dir / CERT_FILE, cert_bytes)
            gpus[info.uuid] = {
                "serial": info.serial,
                "chip_id": device.key_id.hex(),
                "name": info.name,
            }
            energy[info.uuid] = backend.energy_mj(info.uuid)
        doc = {"gpus": gpus, "order_cursor": 0, "energy": energy}
        atomic_write(directory / STATE_FILE, json.dumps(doc, indent=1, sort_keys=True).encode())

    def certificates(self) -> dict[str, bytes]:
        return {u: g.chip.firmware.record.certificate for u, g in self.gpus.items()}

    # -- safe state ---------------------------------------------------------------------------

    def gate(self) -> None:
        """Raise the reason while the node is in its safe state (lease steps refused)."""
        reason = self.status.safe_reason
        if reason is not None:
            raise type(reason)(f"node agent in safe state: {reason.message}")
        if self.client is None:
            return
        last = self.status.last_contact if self.status.last_contact is not None else self.started
        if self.clock() - last > self.offline_grace:
            raise errors.ServiceError(
                f"the authority has not been reached for {self.clock() - last:.0f} s;"
                " the node is throttled until it is"
            )

    def _contact_ok(self) -> None:
        self.status.contacted = True
        self.status.last_contact = self.clock()
        if isinstance(self.status.safe_reason, errors.ServiceError):
            self.status.safe_reason = None

    def _contact_failed(self, exc: errors.PausebuttonError) -> None:
        self.status.errors.append(str(exc))
        del self.status.errors[:-50]
        log.warning("authority: %s", exc)
        if isinstance(exc, errors.AuthError):
            # a revoked or unknown operator key: stop at once, whatever the grace
            self._enter_safe_state(exc)

    def _enter_safe_state(self, reason: errors.PausebuttonError) -> None:
        """Refuse lease steps from now on, open step credits included."""
        self.status.safe_reason = reason
        if self.lease is not None:
            self.lease.fence()

    def _fencing(self, uuid: str) -> contextlib.AbstractContextManager[None]:
        """Around a change of one chip's state: no step credit given before the change
        is spent after it (see ``pausebutton.agent.lease``)."""
        return contextlib.nullcontext() if self.lease is None else self.lease.fencing(uuid)

    # -- one chip input, persisted -------------------------------------------------------------

    def _install(self, gpu: GpuChip, data: bytes, inclusion: bytes | None = None) -> str:
        with self._fencing(gpu.info.uuid), gpu.chip.locked():
            gpu.chip.refresh()
            outcome = gpu.chip.firmware.install(data, inclusion)
            if outcome.nvm_write:
                gpu.chip.persist(outcome.record)
            gpu.chip.firmware.commit(outcome)
            return outcome.decision.detail

    def install_everywhere(self, data: bytes, inclusion: bytes | None = None) -> dict[str, str]:
        """Install one signed object on every chip; per-GPU result or error code."""
        out: dict[str, str] = {}
        for uuid, gpu in self.gpus.items():
            try:
                out[uuid] = self._install(gpu, data, inclusion)
            except errors.PausebuttonError as exc:
                out[uuid] = f"rejected: {exc}"
                log.info("GPU %s rejected %s", uuid, exc)
        return out

    def respond(self, uuid: str, challenge: bytes) -> bytes:
        """Answer a landmark's location challenge for one GPU's chip (signed at once)."""
        gpu = self.gpus.get(uuid)
        if gpu is None:
            raise errors.NotFoundError(f"no GPU {uuid} on this node")
        # hot path: RAM only (no lock, no disk), unless the reserved counter block is used up
        fw = gpu.chip.firmware
        outcome = fw.respond_to_challenge(challenge)
        if outcome.nvm_write:
            with gpu.chip.locked():
                gpu.chip.refresh()
                fw = gpu.chip.firmware
                outcome = fw.respond_to_challenge(challenge)
                if outcome.nvm_write:
                    gpu.chip.persist(outcome.record)
        fw.commit(outcome)
        assert outcome.message is not None
        return outcome.message

    # -- rounds ------------------------------------------------------------------------------

    def time_refresh_interval(self) -> float:
        """Seconds between time tokens: ``time_refresh``, and at most half the shortest
        ``max_offline`` of the chips' active licences (so one missed fetch never throttles)."""
        interval = self.time_refresh
        for gpu in self.gpus.values():
            lic = gpu.chip.firmware.record.active_license()
            if lic is not None:
                interval = min(interval, lic.max_offline / 2)
        return interval

    def token_age(self) -> int:
        """The age of the oldest chip's newest time token, in its own trusted time."""
        ages = [
            fw.trusted_time - fw.record.last_token_time
            for fw in (g.chip.firmware for g in self.gpus.values())
            if fw.state is not ChipState.TAMPERED
        ]
        return max(ages, default=0)

    def sync_time(self, *, force: bool = False) -> bool:
        """Fetch a time token from the authority and install it on every chip when the
        newest one installed is older than the refresh interval, or a chip waits for time
        (its refusal then is retried at once). A failure counts as a failed contact (the
        offline grace applies) and never raises."""
        if self.client is None:
            return False
        waiting = any(
            d is Disposition.WAIT_TIME and (p.attempts == 0 or p.due <= self.clock())
            for p in self.tracker.items()
            for d, _ in list(p.chips.values())
        )
        if not (force or waiting) and self.token_age() < self.time_refresh_interval():
            return False
        try:
            data = self.client.time_token()
        except errors.PausebuttonError as exc:
            self._contact_failed(exc)
            return False
        self._contact_ok()
        with self._lock:
            results = self.install_everywhere(data)
        took = any(not r.startswith("rejected:") for r in results.values())
        if took or waiting:
            self.tracker.poke(Disposition.WAIT_TIME, self.clock())
        return took

    def advance_clock(self) -> None:
        """Count the cycles of the time elapsed (host monotonic clock, the chips'
        oscillator) into every chip, so trusted time moves between time tokens.
        The wall clock is never read: setting it back changes nothing."""
        now = self.clock()
        elapsed = now - self._clock_mark
        if elapsed < 1.0:
            return
        whole = int(elapsed)
        self._clock_mark += whole
        for gpu in self.gpus.values():
            with gpu.chip.locked():
                gpu.chip.refresh()
                fw = gpu.chip.firmware
                if fw.state is ChipState.TAMPERED:
                    continue
                outcome = fw.meter(0, cycles=whole * fw.record.clock_hz, energy_mj=0)
                gpu.chip.persist(outcome.record)
                fw.commit(outcome)

    def meter_energy(self) -> None:
        """Book the energy NVML measured since the last round into each chip."""
        broken: errors.HardwareError | None = None
        for uuid, gpu in self.gpus.items():
            try:
                now = self.backend.energy_mj(uuid)
            except errors.HardwareError as exc:
                broken = exc
                self.silent.add(uuid)
                log.warning("GPU %s: %s", uuid, exc)
                continue
            self.silent.discard(uuid)
            last = self.energy.get(uuid, now)
            delta = now - last if now >= last else now  # the counter restarts with the driver
            self.energy[uuid] = now
            if delta:
                with gpu.chip.locked():
                    gpu.chip.refresh()
                    fw = gpu.chip.firmware
                    if fw.state is ChipState.TAMPERED:
                        continue
                    outcome = fw.meter(0, cycles=0, energy_mj=delta)
                    gpu.chip.persist(outcome.record)
                    fw.commit(outcome)
        # an unreadable GPU cannot be metered: the node is throttled until it reads again
        if broken is not None:
            self._enter_safe_state(broken)
        elif isinstance(self.status.safe_reason, errors.HardwareError):
            self.status.safe_reason = None
        self._write_state()

    def report_health(self) -> int:
        """Tell the authority about each chip whose health changed: tampered (a tamper
        signal; the firmware zeroised its device key), zeroised (the device key is gone
        without a tamper signal), silent (its GPU no longer reads), or ok again. The
        request is signed by the operator's key, as the chip can sign nothing. A report
        that fails is sent again next round. Returns how many the authority took."""
        if self.client is None:
            return 0
        sent = 0
        for uuid, gpu in self.gpus.items():
            with gpu.chip.locked():
                gpu.chip.refresh()
                key = gpu.chip.firmware.key_state
            state = key if key != KEY_SEALED else "silent" if uuid in self.silent else "ok"
            if self.health_sent.get(uuid, "ok") == state:
                continue
            try:
                self.client.post(
                    f"/v1/chips/{gpu.chip_id}/health", {"state": state, "detail": f"GPU {uuid}"}
                )
            except errors.PausebuttonError as exc:
                log.warning("health report for GPU %s: %s", uuid, exc)
                continue
            self.health_sent[uuid] = state
            sent += 1
        return sent

    def _outbox(self) -> list[bytes]:
        path = self.dir / OUTBOX_FILE
        if not path.exists():
            return []
        try:
            value = encoding.decode(read_limited(path, 64 << 20), max_size=64 << 20)
        except errors.EncodingError:
            raise errors.CorruptStateError(f"{path}: damaged report outbox") from None
        if not isinstance(value, list) or not all(isinstance(v, bytes) for v in value):
            raise errors.CorruptStateError(f"{path}: damaged report outbox")
        return value

    def make_reports(self) -> list[bytes]:
        """Sign each chip's next usage report and add it to the outbox (persisted first)."""
        outbox = self._outbox()
        for gpu in self.gpus.values():
            with gpu.chip.locked():
                gpu.chip.refresh()
                fw = gpu.chip.firmware
                if fw.key_state != KEY_SEALED:
                    continue  # no device key: nothing can be signed (report_health says so)
                outcome = fw.report()
                assert outcome.message is not None
                outbox.append(outcome.message)
                atomic_write(self.dir / OUTBOX_FILE, encoding.encode(outbox))
                gpu.chip.persist(outcome.record)
                fw.commit(outcome)
        return outbox

    def send_reports(self) -> int:
        outbox = self._outbox()
        if not outbox or self.client is None:
            return 0
        try:
            self.client.submit_reports(outbox)
        except errors.PausebuttonError as exc:
            self._contact_failed(exc)
            return 0
        self._contact_ok()
        if isinstance(self.status.safe_reason, errors.AuthError):
            self.status.safe_reason = None  # a signed request was accepted again
        atomic_write(self.dir / OUTBOX_FILE, encoding.encode([]))
        return len(outbox)

    def enforce(self) -> None:
        for uuid, gpu in self.gpus.items():
            state = gpu.chip.firmware.state
            try:
                self.gate()
                ok = state is ChipState.LICENSED
            except errors.PausebuttonError:
                ok = False
            if ok:
                self.enforcer.release(uuid)
            else:
                self.enforcer.restrict(uuid)

    def tick(self, *, watch: float = 0.0, force_time: bool = False) -> None:
        """One full round (tests call it directly; ``run`` loops it): every waiting
        order and licence is tried again, whatever its backoff."""
        with self._lock:
            self.tracker.poke_all(self.clock())
            self.advance_clock()
            self.sync_roots()
            self.sync_orders(watch)
            self.sync_licenses()
            self.sync_time(force=force_time)
            self.retry_due()
            self.sync_prohibited()
            self.meter_energy()
            self.make_reports()
            self.send_reports()
            self.send_artifact_reports()
            self.report_health()
            self.enforce()

    def record_artifact_report(self, report: dict[str, Any]) -> None:
        line = json.dumps(report, sort_keys=True, default=str) + "\n"
        with self._reports_lock, open(self.dir / REPORTS_FILE, "a") as fh:
            fh.write(line)

    def _report_lines(self) -> list[str]:
        path = self.dir / REPORTS_FILE
        if not path.exists():
            return []
        text = read_limited(path, 64 << 20).decode("utf-8", errors="replace")
        return [line for line in text.splitlines(keepends=True) if line.endswith("\n")]

    def send_artifact_reports(self, batch: int = 500) -> int:
        """Send the queued refused-load reports (STATE/artifact-reports.jsonl) to the
        authority; each is removed only once acknowledged. Each carries SHA-256 of its
        line as its id, so a retry after a lost answer is not counted twice."""
        if self.client is None:
            return 0
        with self._reports_lock:
            lines = self._report_lines()[:batch]
        if not lines:
            return 0
        items = []
        for line in lines:
            try:
                report = json.loads(line)
            except json.JSONDecodeError:
                report = None
            if not isinstance(report, dict):
                report = {"event": "unreadable-report", "line": line[:4096]}
            items.append({"id": hashlib.sha256(line.encode()).hexdigest(), "report": report})
        try:
            self.client.report_artifacts(items)
        except errors.PausebuttonError as exc:
            self._contact_failed(exc)
            return 0
        self._contact_ok()
        with self._reports_lock:
            # guards only append: the first len(lines) lines are the ones just sent
            rest = self._report_lines()[len(lines) :]
            atomic_write(self.dir / REPORTS_FILE, "".join(rest).encode())
        return len(lines)

    def sync_prohibited(self) -> bool:
        """Fetch the authority's newest prohibited-artifacts list and install it as
        ``agent prohibit`` does (pause-role quorum, never older than the held list).
        A failure is logged (a failed contact) and never raises."""
        if self.client is None:
            return False
        try:
            row = self.client.prohibited()
        except errors.PausebuttonError as exc:
            self._contact_failed(exc)
            return False
        self._contact_ok()
        if not isinstance(row, dict):
            return False
        held = self.prohibited
        seq = row.get("sequence")
        if held is not None and isinstance(seq, int) and seq <= held.sequence:
            return False
        try:
            data = base64.b64decode(str(row.get("envelope", "")), validate=True)
            plist = ProhibitedList.verify(data, self.root, previous=held)
        except (errors.PausebuttonError, ValueError) as exc:
            message = f"prohibited-artifacts list from the authority refused: {exc}"
            self.status.errors.append(message)
            del self.status.errors[:-50]
            log.warning("%s", message)
            return False
        if held is not None and plist.sequence == held.sequence:
            return False
        atomic_write(self.dir / PROHIBITED_FILE, data)
        self.prohibited = plist
        log.info(
            "prohibited-artifacts list %d installed (%d artifacts)", plist.sequence, len(plist)
        )
        return True

    def prohibited_bytes(self) -> bytes | None:
        return (
            None
            if self.prohibited is None or self.prohibited.envelope is None
            else (self.prohibited.envelope.encode())
        )

    def lease_service(self, **kw: Any) -> LeaseService:
        from pausebutton.agent.lease import LeaseService

        self.lease = LeaseService(
            {u: g.ledger for u, g in self.gpus.items()},
            gate=self.gate,
            artifacts=self.prohibited_bytes,
            on_report=self.record_artifact_report,
            **kw,
        )
        return self.lease

    def chip_status(self) -> dict[str, Any]:
        """Each chip's firmware status, why it is throttled (``throttled``, None when it
        runs at full rate) and what it waits for (``waiting``: an order or licence it
        was refused for a cause that heals, with the reason and the next retry). Without
        an authority client, ``waiting`` is what the last running agent saved."""
        now = self.clock()
        out: dict[str, Any] = {}
        for uuid, gpu in self.gpus.items():
            status = gpu.chip.firmware.status()
            waiting = (
                self.tracker.for_gpu(uuid, now)
                if self.client is not None
                else self.saved_waiting.get(uuid, [])
            )
            out[uuid] = status | {
                "gpu": gpu.info.name,
                "serial": gpu.info.serial,
                "throttled": throttle_reason(status),
                "waiting": waiting,
            }
        return out

    def run(
        self,
        stop: threading.Event,
        *,
        report_interval: float = 60.0,
        socket_path: Path | None = None,
    ) -> None:
        """Serve the lease socket and keep every chip in step until ``stop`` is set."""
        from pausebutton.agent.lease import LeaseServer

        server = LeaseServer(socket_path or self.dir / SOCKET_FILE, self.lease_service()).start()

        def orders() -> None:
            while not stop.is_set():
                try:
                    got = self.converge(self.watch_timeout)
                except errors.PausebuttonError as exc:  # a chip's state dir, say: retried
                    self.status.errors.append(str(exc))
                    log.warning("orders: %s", exc)
                    got = 0
                    self._watch_failures += 1
                if got:
                    with self._lock:
                        self.enforce()
                elif self._orders_failed or self._watch_failures:
                    # the authority is down: back off (jittered), at most CAP apart
                    stop.wait(backoff_delay(self._watch_failures - 1, random.random()))

        watcher = threading.Thread(target=orders, name="orders", daemon=True)
        watcher.start()
        try:
            while not stop.is_set():
                with self._lock:
                    for step in (
                        self.advance_clock,
                        self.sync_roots,
                        self.sync_licenses,
                        self.sync_time,
                        self.sync_prohibited,
                        self.meter_energy,
                        self.make_reports,
                        self.send_reports,
                        self.send_artifact_reports,
                        self.report_health,
                        self.enforce,
                    ):
                        try:
                            step()
                        except errors.PausebuttonError as exc:
                            self.status.errors.append(str(exc))
                            log.warning("%s: %s", step.__name__, exc)
                stop.wait(report_interval)
        finally:
            server.stop()
            watcher.join(self.watch_timeout + 5)
