"""Report signatures checked in helper processes, fed chunk by chunk down a pipe.

A worker's Python (decoding, the chains, SQLite) holds its interpreter lock. A verify
in a thread of the same worker runs without the lock inside libsodium but needs it
back after every signature, so beside a busy request thread the verifier threads
waited for the lock and a tenth of the machine stayed idle (docs/scaling.md). A helper
process has a lock of its own: the worker decodes the next chunk while a helper checks
the one before, and the kernel shares the cores between them.

Each worker keeps up to ``size`` helpers (``python -m pausebutton.cli.verifier``,
started at the worker's warm-up or on first use). A batch takes one helper per chunk
(up to ``size``; at least one, the others only if idle), sends its chunks to them in
turn and gives them back: a batch alone on a worker is checked on every core. A helper
reads frames on its standard input and answers each on its standard output, both as a
4-byte little-endian length then the payload:

- request: per report, ``u16`` count of signatures, the 32-byte public key, ``u32``
  message length, the message (the envelope's signing input), then the 64-byte
  signatures;
- answer: one byte per report, 1 where any of its signatures holds for the key (the
  rule of ``Envelope.verify``), else 0.

An answer is one byte per report of a chunk, so a batch's answers (at most
``MAX_BATCH / CHUNK`` chunks) fit in the pipe while the worker is still sending: neither
side can block the other for good. A helper that fails (exits, or answers short) is
stopped, logged and counted (``VerifierPool.on_failure``); the caller checks its
chunks in its own thread, the batch's other helpers take the chunks after. A helper
exits when its standard input closes: the worker closing it, or the worker
gone.
"""

from __future__ import annotations

import logging
import struct
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import IO

from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from pausebutton.fsutil import child_env

log = logging.getLogger(__name__)

MAX_FRAME = 64 << 20
"""The largest frame a helper accepts (a chunk is a few hundred KiB)."""

_HEAD = struct.Struct("<I")
_REPORT = struct.Struct("<H32sI")

Check = tuple[bytes, bytes, Sequence[bytes]]
"""One report's signature check: (public key, signing input, the signatures of that key)."""


class VerifierError(Exception):
    """A helper process failed. Internal to this module's flow: :meth:`VerifierPool.batch`
    and :class:`BatchCheck` catch it, log and count it, and leave the chunk to the
    caller, so it never reaches an API answer (not one of ``pausebutton.errors``)."""


def encode_request(checks: Sequence[Check]) -> bytes:
    parts: list[bytes] = []
    add = parts.append
    for pub, msg, sigs in checks:
        add(_REPORT.pack(len(sigs), pub, len(msg)))
        add(msg)
        add(b"".join(sigs))
    body = b"".join(parts)
    return _HEAD.pack(len(body)) + body


def check_request(body: bytes) -> bytes:
    """The answer to one request frame's payload (the helper's side); ValueError if it
    is truncated."""
    out = bytearray()
    off, end = 0, len(body)
    size = _REPORT.size
    while off < end:
        if off + size > end:
            raise ValueError("truncated report header")
        n_sigs, pub, n_msg = _REPORT.unpack_from(body, off)
        off += size
        sigs_end = off + n_msg + 64 * n_sigs
        if sigs_end > end:
            raise ValueError("truncated report")
        msg = body[off : off + n_msg]
        off += n_msg
        ok = 0
        for s in range(off, sigs_end, 64):
            try:
                crypto_sign_open(body[s : s + 64] + msg, pub)
            except BadSignatureError:
                continue
            ok = 1
            break
        off = sigs_end
        out.append(ok)
    return bytes(out)


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    data = stream.read(n)
    if data is None or len(data) != n:
        raise EOFError(f"expected {n} bytes, got {0 if data is None else len(data)}")
    return data


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The helper's loop: answer request frames until standard input closes."""
    while True:
        head = stdin.read(_HEAD.size)
        if not head:
            return
        if len(head) != _HEAD.size:
            raise EOFError("truncated frame length")
        (n,) = _HEAD.unpack(head)
        if n > MAX_FRAME:
            raise ValueError(f"frame of {n} bytes is over {MAX_FRAME}")
        answer = check_request(_read_exact(stdin, n))
        stdout.write(_HEAD.pack(len(answer)) + answer)
        stdout.flush()


class Helper:
    """One helper process and its pipes."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pausebutton.cli.verifier"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=child_env(),
        )
        self.pending: list[int] = []
        """Reports per request sent and not yet answered, in order."""

    def send(self, checks: Sequence[Check]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(encode_request(checks))
            self.proc.stdin.flush()
        except OSError as exc:
            raise VerifierError(f"a verifier process stopped taking work: {exc}") from exc
        self.pending.append(len(checks))

    def receive(self) -> list[bool]:
        """The answer to the oldest request not yet answered."""
        assert self.proc.stdout is not None
        expected = self.pending.pop(0)
        try:
            (n,) = _HEAD.unpack(_read_exact(self.proc.stdout, _HEAD.size))
            answer = _read_exact(self.proc.stdout, n)
        except (OSError, EOFError) as exc:
            raise VerifierError(f"a verifier process did not answer: {exc}") from exc
        if n != expected:
            raise VerifierError(f"a verifier process answered {n} reports, not {expected}")
        return [b == 1 for b in answer]

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError as exc:  # a helper that died with data unsent
                    log.info("closing a verifier process's pipe: %s", exc)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            log.warning("a verifier process did not exit; killing it")
            self.proc.kill()
            self.proc.wait()


def _close_all(helpers: list[Helper]) -> None:
    while helpers:
        helpers.pop().close()


class VerifierPool:
    """Up to ``size`` helpers of this process, shared by its batches (:meth:`batch`)."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._idle: list[Helper] = []
        self._all: list[Helper] = []
        self._cond = threading.Condition()
        self._closed = False
        self._finalizer = weakref.finalize(self, _close_all, self._all)
        self.on_failure: Callable[[], None] = lambda: None
        """Called after each logged failure of a helper (the app counts them in its
        metrics); the chunks it did not answer are checked by the caller."""

    def start(self) -> None:
        """Start every helper now (a worker's warm-up), not on first use. One that does
        not start is logged and counted; batches start it on first use."""
        failure: VerifierError | None = None
        with self._cond:
            while len(self._all) < self.size and not self._closed:
                try:
                    helper = Helper()
                except OSError as exc:
                    failure = VerifierError(f"a verifier process did not start: {exc}")
                    break
                self._all.append(helper)
                self._idle.append(helper)
        if failure is not None:
            self._failed(failure)

    def batch(self, chunks: int) -> BatchCheck:
        """Helpers for a batch of ``chunks`` chunks: one per chunk up to ``size``, the
        first waited for when all are busy, the others only if idle or startable now;
        none for a batch of one chunk (its caller checks it: no handoff). A helper that
        cannot be had (closed, or it did not start) is logged and counted, and the caller
        checks the chunks."""
        helpers: list[Helper] = []
        if chunks > 1:
            try:
                first = self.acquire()
                assert first is not None
                helpers.append(first)
                while len(helpers) < min(chunks, self.size):
                    more = self.acquire(wait=False)
                    if more is None:
                        break
                    helpers.append(more)
            except VerifierError as exc:
                self._failed(exc)
        return BatchCheck(self, helpers)

    def acquire(self, *, wait: bool = True) -> Helper | None:
        """An idle helper, a new one while fewer than ``size`` run, else the next one
        given back (``wait``) or None. An idle helper that has exited is logged,
        counted and replaced. Raises VerifierError when closed or when a helper cannot
        start."""
        dead: list[Helper] = []
        try:
            with self._cond:
                while True:
                    if self._closed:
                        raise VerifierError("the verifier processes are closed")
                    if self._idle:
                        helper = self._idle.pop()
                        if helper.proc.poll() is None:
                            return helper
                        self._all.remove(helper)  # exited while idle: another starts
                        dead.append(helper)
                        continue
                    if len(self._all) < self.size:
                        try:
                            helper = Helper()
                        except OSError as exc:
                            msg = f"a verifier process did not start: {exc}"
                            raise VerifierError(msg) from exc
                        self._all.append(helper)
                        return helper
                    if not wait:
                        return None
                    self._cond.wait()
        finally:
            for helper in dead:
                helper.close()
                self._failed(
                    VerifierError(f"a verifier process exited (status {helper.proc.returncode})")
                )

    def release(self, helper: Helper) -> None:
        with self._cond:
            if self._closed:
                self._all.remove(helper)
                helper.close()
            else:
                self._idle.append(helper)
            self._cond.notify()

    def discard(self, helper: Helper, failure: VerifierError | None = None) -> None:
        """Stop a helper that failed (``failure``: logged and counted) or that was left
        with answers unread; the next acquire starts another."""
        with self._cond:
            self._all.remove(helper)
            self._cond.notify()
        helper.close()
        if failure is not None:
            self._failed(failure)

    def _failed(self, exc: VerifierError) -> None:
        log.warning("report signatures checked in the worker instead: %s", exc)
        self.on_failure()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            for helper in idle:
                self._all.remove(helper)
            self._cond.notify_all()
        _close_all(idle)

    @property
    def running(self) -> int:
        with self._cond:
            return len(self._all)

    def pids(self) -> list[int]:
        """The helpers' process ids (a benchmark adds their CPU to its process's)."""
        with self._cond:
            return [h.proc.pid for h in self._all]


class BatchCheck:
    """One batch's chunks, sent in turn to the helpers it holds and answered in chunk
    order; a chunk no helper answered is answered None (its caller checks it). A helper
    that fails is stopped, logged and counted, and the chunks after go to the others."""

    def __init__(self, pool: VerifierPool, helpers: list[Helper]) -> None:
        self._pool = pool
        self._held = list(helpers)
        self._live = list(helpers)
        self._sent: list[Helper | None] = []
        """The helper each chunk went to, in chunk order (None: to none)."""

    @property
    def active(self) -> bool:
        """Whether a chunk sent now goes to a helper (else the caller need not encode it)."""
        return bool(self._live)

    def skip(self) -> None:
        """The next chunk goes to no helper (its answer is None)."""
        self._sent.append(None)

    def send(self, checks: Sequence[Check]) -> None:
        """The next chunk's checks."""
        while self._live:
            helper = self._live[len(self._sent) % len(self._live)]
            try:
                helper.send(checks)
            except VerifierError as exc:
                self._fail(helper, exc)
                continue
            self._sent.append(helper)
            return
        self._sent.append(None)

    def answers(self) -> Iterator[list[bool] | None]:
        """Each chunk's answer, in the order they were sent."""
        for helper in self._sent:
            if helper is None or helper not in self._live:
                yield None
                continue
            try:
                answer = helper.receive()
            except VerifierError as exc:
                self._fail(helper, exc)
                yield None
                continue
            yield answer

    def _fail(self, helper: Helper, exc: VerifierError) -> None:
        self._live.remove(helper)
        self._held.remove(helper)
        self._pool.discard(helper, exc)

    def close(self) -> None:
        """Give the helpers back (one left with answers unread, after an error of the
        caller, is stopped instead)."""
        held, self._held, self._live = self._held, [], []
        for helper in held:
            if helper.pending:
                self._pool.discard(helper)
            else:
                self._pool.release(helper)

    def __enter__(self) -> BatchCheck:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
