"""How the node agent keeps its chips converged to the authority's order and licence
state (``Agent``'s convergence half; ``pausebutton.agent.converge`` is the pure part).

Orders come from the long-poll (``/v1/orders/watch``) above the newest fetched; each is
installed on every chip in sequence order. A chip's refusal is classified once
(``converge.classify``): held or not for this chip settles it; a refusal that heals
(no cosigned checkpoint yet, chip time behind, the authority down) is retried with
jittered exponential backoff, at once when a new checkpoint is announced or a new time
token is installed; a permanent one is reported. The saved order cursor
(``agent.json``) never moves past an order a chip still waits for, so a restart fetches
it again. Licences are fetched per chip above the newest it holds; a permanently refused
licence id is remembered so it is neither fetched nor reported again.
"""

from __future__ import annotations

import base64
import logging
import threading
from typing import TYPE_CHECKING, Any

from pausebutton import errors
from pausebutton.agent import logcheck
from pausebutton.agent.converge import LOG_STAGE, Disposition, Tracker, classify
from pausebutton.chip.firmware import InclusionVerifier, translog_verifier
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.messages import PauseOrder, ResumeOrder

if TYPE_CHECKING:
    from pausebutton.agent.daemon import GpuChip

log = logging.getLogger("pausebutton.agent")

CHECKPOINT_POLL = 1.0
"""Seconds between looks at the log's checkpoint while something waits for cosignatures
(a new checkpoint makes every such wait due at once)."""
MAX_REMEMBERED = 100
"""Permanently refused licence ids remembered per GPU (not fetched and reported again)."""


def log_stage(verifier: InclusionVerifier | None) -> InclusionVerifier:
    """``verifier`` with every error it raises tagged ``stage=log``: a ``below_threshold``
    from the log check is missing witness cosignatures (heals), not a small quorum."""
    inner = verifier or translog_verifier

    def check(root: Any, entry: bytes, inclusion: bytes | None) -> None:
        try:
            inner(root, entry, inclusion)
        except errors.PausebuttonError as exc:
            exc.details.setdefault("stage", LOG_STAGE)
            raise

    return check


class Converging:
    """The convergence half of ``Agent`` (which supplies these attributes)."""

    client: Any
    gpus: dict[str, GpuChip]
    tracker: Tracker
    clock: Any
    order_cursor: int
    licences_refused: dict[str, list[int]]
    _lock: threading.RLock
    _watch_after: int
    _orders_failed: bool
    _watch_failures: int
    _checkpoint_seen: str | None
    _checkpoint_polled: float
    _log_check: Any

    if TYPE_CHECKING:

        def _contact_ok(self) -> None: ...
        def _contact_failed(self, exc: errors.PausebuttonError) -> None: ...
        def _install(self, gpu: GpuChip, data: bytes, inclusion: bytes | None = None) -> str: ...
        def _write_state(self) -> None: ...
        def advance_clock(self) -> None: ...
        def sync_time(self, *, force: bool = False) -> bool: ...
        def tick(self, *, watch: float = 0.0, force_time: bool = False) -> None: ...

    def sync_orders(self, timeout: float = 0.0) -> int:
        """Fetch orders newer than the last fetched (long-poll up to ``timeout``, less when
        a retry is due sooner) and install them, with the due retries of earlier orders,
        in sequence order. Returns how many orders a chip took."""
        if self.client is None:
            return 0
        try:
            answer = self.client.watch(after=self._watch_after, timeout=self.watch_wait(timeout))
        except errors.PausebuttonError as exc:
            self._contact_failed(exc)
            self._orders_failed = True
            self._watch_failures += 1
            return 0
        self._orders_failed = False
        self._watch_failures = 0
        self._contact_ok()
        orders = answer.get("orders", []) if isinstance(answer, dict) else []
        fresh = [o for o in orders if int(o["sequence"]) > self._watch_after]
        self.poll_checkpoint()
        return self._install_orders(fresh)

    def _install_orders(self, fresh: list[dict[str, Any]]) -> int:
        now = self.clock()
        work: dict[int, tuple[dict[str, Any], list[str]]] = {}
        for order in fresh:
            work[int(order["sequence"])] = (order, list(self.gpus))
        retried = self.tracker.due("order", now)
        for item in retried:
            work.setdefault(item.ident, (item.row, list(item.chips)))
        if not work:
            return 0
        count = 0
        with self._lock:
            self.advance_clock()
            for sequence in sorted(work):
                row, uuids = work[sequence]
                count += self._offer("order", sequence, row, uuids)
                self._watch_after = max(self._watch_after, sequence)
            for item in retried:
                if self.tracker.pending.get(("order", item.ident)) is item:
                    self.tracker.retried(item, self.clock())
            lowest = self.tracker.lowest("order")
            self.order_cursor = self._watch_after if lowest is None else lowest - 1
            self._write_state()
        return count

    def _offer(self, kind: str, ident: int, row: dict[str, Any], uuids: list[str]) -> int:
        """Install one order or licence on the chips ``uuids``; sort each refusal into held,
        not for this chip, waiting (retried later) or refused (reported). Returns how
        many chips took it."""
        data = base64.b64decode(row["envelope"])
        inclusion = self._inclusion(row)
        new_round = getattr(self._log_check, "new_round", None)
        if new_round is not None:
            new_round()  # one bundle fetch for all chips, a fresh one each retry
        took = 0
        for uuid in uuids:
            gpu = self.gpus.get(uuid)
            if gpu is None:
                continue
            try:
                detail = self._install(gpu, data, inclusion)
            except errors.PausebuttonError as exc:
                disposition = classify(exc, order=kind == "order")
                if disposition is Disposition.PERMANENT and self._holds(gpu, kind, exc, data):
                    disposition = Disposition.HELD
                if disposition.healable:
                    self.tracker.wait(kind, ident, row, uuid, disposition, str(exc), self.clock())
                    log.info("GPU %s: %s %d waits (%s): %s", uuid, kind, ident, disposition, exc)
                elif disposition is Disposition.PERMANENT:
                    self.tracker.refuse(kind, ident, uuid, exc)
                    log.warning("GPU %s: %s %d refused: %s", uuid, kind, ident, exc)
                    if kind == "licence":
                        ids = self.licences_refused.setdefault(uuid, [])
                        ids[:] = [*ids, ident][-MAX_REMEMBERED:]
                else:
                    self.tracker.settle(kind, ident, uuid)
                continue
            self.tracker.settle(kind, ident, uuid)
            log.info("GPU %s: %s", uuid, detail)
            took += 1
        return took

    @staticmethod
    def _holds(gpu: GpuChip, kind: str, exc: errors.PausebuttonError, data: bytes) -> bool:
        """A rollback of an order whose effect the chip already shows (fetched again after
        a restart): a pause it holds, a resume whose pause is no longer in force."""
        if kind != "order" or not isinstance(exc, errors.RollbackError):
            return False
        env = Envelope.decode(data)
        pauses = gpu.chip.firmware.record.pauses
        if env.type == PauseOrder.TYPE:
            sequence = env.open_as(PauseOrder).sequence
            return any(p.sequence == sequence for p in pauses)
        if env.type == ResumeOrder.TYPE:
            lifts = env.open_as(ResumeOrder).lifts
            return not any(p.sequence == lifts and p.lifted_at is None for p in pauses)
        return False

    def watch_wait(self, timeout: float) -> float:
        """The long-poll's timeout: ``timeout``, shorter when a retry is due sooner or
        the checkpoint must be looked at while something waits for cosignatures."""
        due = self.tracker.next_due()
        if due is not None:
            timeout = min(timeout, max(0.0, due - self.clock()))
        if self.tracker.waiting_for(Disposition.WAIT_LOG):
            timeout = min(timeout, CHECKPOINT_POLL)
        return timeout

    def poll_checkpoint(self) -> bool:
        """While something waits for cosignatures, look at the log's checkpoint (at most
        once per ``CHECKPOINT_POLL``); a new one makes those retries due at once."""
        fetch = getattr(self.client, "checkpoint", None)
        now = self.clock()
        if (
            fetch is None
            or not self.tracker.waiting_for(Disposition.WAIT_LOG)
            or now - self._checkpoint_polled < CHECKPOINT_POLL
        ):
            return False
        self._checkpoint_polled = now
        try:
            note = str(fetch())
        except errors.PausebuttonError as exc:
            log.info("log checkpoint: %s", exc)
            return False
        if note == self._checkpoint_seen:
            return False
        self._checkpoint_seen = note
        return self.tracker.poke(Disposition.WAIT_LOG, now) > 0

    @staticmethod
    def _inclusion(row: dict[str, Any]) -> bytes | None:
        """The inclusion bundle the authority sent (base64), else its log index token."""
        if row.get("inclusion"):
            return base64.b64decode(row["inclusion"])
        if isinstance(row.get("log_index"), int):
            return logcheck.token(row["log_index"])
        return None

    def sync_licenses(self) -> int:
        """Fetch each chip's licences above the newest it holds and install them (a
        refusal that heals is retried by ``retry_due``). Returns how many installed."""
        if self.client is None:
            return 0
        installed = 0
        for uuid, gpu in self.gpus.items():
            after = gpu.chip.firmware.record.max_license_id
            try:
                rows = self.client.get("/v1/licenses", chip_id=gpu.chip_id, after=after)
            except errors.PausebuttonError as exc:
                self._contact_failed(exc)
                return installed
            self._contact_ok()
            refused = set(self.licences_refused.get(uuid, ()))
            for row in sorted(rows, key=lambda r: int(r.get("license_id", 0))):
                ident = int(row.get("license_id", 0))
                if ident in refused or ("licence", ident) in self.tracker.pending:
                    continue
                with self._lock:
                    installed += self._offer("licence", ident, row, [uuid])
            self._drop_superseded(uuid, gpu)
        return installed

    def sync_roots(self) -> int:
        """Install every trust root above the one each chip holds, in order (the chain a
        chip offline across several changes catches up through). A root a chip refuses
        (not yet witnessed, or one it cannot chain to) stays out: the chip keeps its root,
        the refusal is logged and the next round tries again. Returns how many installed."""
        if self.client is None or not self.gpus:
            return 0
        held = {uuid: gpu.chip.firmware.root.version for uuid, gpu in self.gpus.items()}
        try:
            rows = self.client.get("/v1/roots", after=min(held.values()))
        except errors.NotFoundError:  # an authority that serves no root chain
            return 0
        except errors.PausebuttonError as exc:
            self._contact_failed(exc)
            return 0
        self._contact_ok()
        installed = 0
        for uuid, gpu in self.gpus.items():
            for row in sorted(rows, key=lambda r: int(r["version"])):
                if int(row["version"]) <= held[uuid] or row.get("log_index") is None:
                    continue
                data = base64.b64decode(row["envelope"])
                try:
                    with self._lock:
                        self._install(gpu, data, self._inclusion(row))
                except errors.PausebuttonError as exc:
                    log.warning("GPU %s keeps root v%d: %s", uuid, held[uuid], exc)
                    break
                installed += 1
        return installed

    def _drop_superseded(self, uuid: str, gpu: GpuChip) -> None:
        """A waiting licence older than the newest held can never install: settled."""
        newest = gpu.chip.firmware.record.max_license_id
        for kind, ident in list(self.tracker.pending):
            if kind == "licence" and ident <= newest:
                self.tracker.settle(kind, ident, uuid)

    def converge(self, timeout: float = 0.0) -> int:
        """One convergence round: new orders (long-poll up to ``timeout``), a time token
        when one is due or a chip waits for time, then every retry that is due.
        Returns how many orders and licences a chip took."""
        took = self.sync_orders(timeout)
        self.sync_time()
        return took + self.retry_due()

    def retry_due(self) -> int:
        """Retry the waiting orders and licences whose backoff has run out."""
        took = self._install_orders([]) if self.tracker.due("order", self.clock()) else 0
        for item in self.tracker.due("licence", self.clock()):
            with self._lock:
                took += self._offer("licence", item.ident, item.row, list(item.chips))
                if self.tracker.pending.get(("licence", item.ident)) is item:
                    self.tracker.retried(item, self.clock())
        for uuid, gpu in self.gpus.items():
            self._drop_superseded(uuid, gpu)
        return took

    def resync(self) -> None:
        """Forget every cursor and memory of refusals and catch up in full: every order
        the authority holds, every licence above the newest held, a fresh time token."""
        with self._lock:
            self.order_cursor = self._watch_after = 0
            self.licences_refused = {}
            self.tracker.pending.clear()
            self.tracker.refused.clear()
            self._write_state()
        self.tick(force_time=True)
