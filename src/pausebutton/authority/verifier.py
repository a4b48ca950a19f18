"""Report signatures checked in helper processes, fed chunk by chunk down a pipe.

A worker's Python (decoding, the chains, SQLite) holds its interpreter lock. A verify
in a thread of the same worker runs without the lock inside libsodium but needs it
back after every signature, so beside a busy request thread the verifier threads
waited for the lock and a tenth of the machine stayed idle (docs/scaling.md). A helper
process has a lock of its own: the worker decodes the next chunk while a helper checks
the one before, and the kernel shares the cores between them.

Each worker keeps up to ``size`` helpers (``python -m pausebutton.authority.verifier``,
started at the worker's warm-up or on first use); a batch takes one for all its chunks
and gives it back. A helper reads frames on its standard input and answers each on its
standard output, both as a 4-byte little-endian length then the payload:

- request: per report, ``u16`` count of signatures, the 32-byte public key, ``u32``
  message length, the message (the envelope's signing input), then the 64-byte
  signatures;
- answer: one byte per report, 1 where any of its signatures holds for the key (the
  rule of ``Envelope.verify``), else 0.

An answer is one byte per report of a chunk, so a batch's answers (at most
``MAX_BATCH / CHUNK`` chunks) fit in the pipe while the worker is still sending: neither
side can block the other for good. A helper that fails (exits, or answers short) is
stopped; the caller checks that chunk in its own thread and counts the failure. A
helper exits when its standard input closes: the worker closing it, or the worker
gone.
"""

from __future__ import annotations

import logging
import struct
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import IO

from pausebutton.fsutil import child_env

log = logging.getLogger(__name__)

MAX_FRAME = 64 << 20
"""The largest frame a helper accepts (a chunk is a few hundred KiB)."""

_HEAD = struct.Struct("<I")
_REPORT = struct.Struct("<H32sI")

Check = tuple[bytes, bytes, Sequence[bytes]]
"""One report's signature check: (public key, signing input, the signatures of that key)."""


class VerifierError(Exception):
    """A helper process failed (it is stopped; the caller checks the chunk itself)."""


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
    """The answer to one request frame's payload (the helper's side)."""
    from nacl.bindings import crypto_sign_open
    from nacl.exceptions import BadSignatureError

    out = bytearray()
    off, end = 0, len(body)
    size = _REPORT.size
    while off < end:
        if off + size > end:
            raise ValueError("truncated report header")
        n_sigs, pub, n_msg = _REPORT.unpack_from(body, off)
        off += size
        msg = body[off : off + n_msg]
        off += n_msg
        sigs_end = off + 64 * n_sigs
        if sigs_end > end or len(msg) != n_msg:
            raise ValueError("truncated report")
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
            [sys.executable, "-m", "pausebutton.authority.verifier"],
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
    """Up to ``size`` helpers of this process; a batch holds one while it is checked."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._idle: list[Helper] = []
        self._all: list[Helper] = []
        self._cond = threading.Condition()
        self._closed = False
        self._finalizer = weakref.finalize(self, _close_all, self._all)
        self.on_failure: Callable[[], None] = lambda: None
        """Called after a helper failed and its chunks were checked by the caller (the
        app counts it in its metrics; the caller logs it)."""

    def start(self) -> None:
        """Start every helper now (a worker's warm-up), not on first use."""
        with self._cond:
            while len(self._all) < self.size and not self._closed:
                helper = Helper()
                self._all.append(helper)
                self._idle.append(helper)

    def acquire(self) -> Helper:
        """An idle helper, a new one while fewer than ``size`` run, else the next one
        given back. An idle helper that has exited is logged, counted (``on_failure``)
        and replaced. Raises VerifierError when closed or when a helper cannot start."""
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
                    self._cond.wait()
        finally:
            for helper in dead:
                log.warning("a verifier process exited (status %s)", helper.proc.returncode)
                helper.close()
                self.on_failure()

    def release(self, helper: Helper) -> None:
        with self._cond:
            if self._closed:
                self._all.remove(helper)
                helper.close()
            else:
                self._idle.append(helper)
            self._cond.notify()

    def discard(self, helper: Helper) -> None:
        """A helper that failed: stop it (the next acquire starts another)."""
        with self._cond:
            self._all.remove(helper)
            self._cond.notify()
        helper.close()

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


if __name__ == "__main__":  # pragma: no cover - run as the helper process
    import signal

    # Ctrl-C reaches the server's whole process group: the worker stops its helpers
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(sys.stdin.buffer, sys.stdout.buffer)
