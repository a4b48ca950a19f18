"""The helper processes that check report signatures (authority/verifier.py): their wire
format, answered in order by real helpers, and what a failed or closed helper does."""

from __future__ import annotations

import io
import struct
import subprocess
import sys

import pytest

from pausebutton.authority.verifier import (
    VerifierError,
    VerifierPool,
    check_request,
    encode_request,
    serve,
)
from pausebutton.fsutil import child_env
from pausebutton.protocol.keys import PrivateKey

KEY = PrivateKey.from_seed_material(b"verifier-a")
OTHER = PrivateKey.from_seed_material(b"verifier-b")
MSG = b"a report's signing input"


def _frame(body: bytes) -> bytes:
    return struct.pack("<I", len(body)) + body


def _good(msg: bytes = MSG) -> tuple[bytes, bytes, list[bytes]]:
    return KEY.public.raw, msg, [KEY.sign(msg)]


def _body(checks: list[tuple[bytes, bytes, list[bytes]]]) -> bytes:
    return encode_request(checks)[4:]


def test_each_report_is_answered_by_whether_any_of_its_signatures_holds() -> None:
    bad = bytearray(KEY.sign(MSG))
    bad[0] ^= 1
    checks = [
        _good(),
        (KEY.public.raw, MSG, [bytes(bad)]),  # altered signature
        (KEY.public.raw, MSG + b"!", [KEY.sign(MSG)]),  # altered message
        (OTHER.public.raw, MSG, [KEY.sign(MSG)]),  # another key's signature
        (KEY.public.raw, MSG, [bytes(bad), KEY.sign(MSG)]),  # one of two holds
        (KEY.public.raw, MSG, []),  # none of this key
    ]
    assert check_request(_body(checks)) == bytes([1, 0, 0, 0, 1, 0])


def test_an_empty_request_gets_an_empty_answer() -> None:
    assert check_request(_body([])) == b""


@pytest.mark.parametrize("cut", [1, 20, 40, 50])
def test_a_truncated_request_is_refused_by_name(cut: int) -> None:
    body = _body([_good()])
    with pytest.raises(ValueError, match="truncated"):
        check_request(body[: len(body) - cut])


def test_the_helper_loop_answers_each_frame_and_ends_at_end_of_input() -> None:
    frames = encode_request([_good()]) + encode_request([_good(), _good(b"other")])
    out = io.BytesIO()
    serve(io.BytesIO(frames), out)
    assert out.getvalue() == b"\x01\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x01\x01"


def test_a_truncated_frame_ends_the_helper_loop_with_an_error() -> None:
    frame = encode_request([_good()])
    with pytest.raises(EOFError):
        serve(io.BytesIO(frame[:-3]), io.BytesIO())


def test_a_helper_answers_its_requests_in_order_and_is_reused() -> None:
    pool = VerifierPool(1)
    try:
        helper = pool.acquire()
        helper.send([_good(), (OTHER.public.raw, MSG, [KEY.sign(MSG)])])
        helper.send([_good(b"second")])
        assert helper.receive() == [True, False]
        assert helper.receive() == [True]
        pool.release(helper)
        assert pool.acquire() is helper  # one helper at most: the same one again
        pool.release(helper)
        assert pool.running == 1
    finally:
        pool.close()
    assert helper.proc.returncode == 0  # it ended at the end of its input


def test_a_dead_helper_is_a_named_error_and_the_next_acquire_starts_another() -> None:
    pool = VerifierPool(1)
    try:
        helper = pool.acquire()
        helper.proc.kill()
        helper.proc.wait()
        with pytest.raises(VerifierError, match="verifier process"):
            helper.send([_good()] * 2000)  # more than the pipe holds: the write fails
            helper.receive()
        pool.discard(helper)
        assert pool.running == 0
        fresh = pool.acquire()
        assert fresh is not helper
        fresh.send([_good()])
        assert fresh.receive() == [True]
        pool.release(fresh)
    finally:
        pool.close()


def test_a_closed_pool_stops_its_helpers_and_refuses_work() -> None:
    pool = VerifierPool(2)
    pool.start()
    helpers = [pool.acquire(), pool.acquire()]
    pids = pool.pids()
    assert sorted(pids) == sorted(h.proc.pid for h in helpers)
    pool.release(helpers[0])
    pool.close()
    assert helpers[0].proc.returncode == 0  # idle: stopped at once
    assert helpers[1].proc.returncode is None  # in use: stopped when given back
    pool.release(helpers[1])
    assert helpers[1].proc.returncode == 0
    assert pool.running == 0
    with pytest.raises(VerifierError, match="closed"):
        pool.acquire()


def test_a_batch_spreads_its_chunks_over_the_helpers_and_answers_in_order() -> None:
    pool = VerifierPool(2)
    try:
        with pool.batch(3) as check:
            assert check.active
            check.send([_good(b"0")])
            check.send([(OTHER.public.raw, MSG, [KEY.sign(MSG)]), _good(b"1")])
            check.send([_good(b"2"), _good(b"2"), _good(b"2")])
            assert list(check.answers()) == [[True], [False, True], [True, True, True]]
            assert pool.running == 2
            assert pool.acquire(wait=False) is None  # both held by the batch
        assert pool.acquire(wait=False) is not None  # given back
    finally:
        pool.close()


def test_a_batch_of_one_chunk_holds_no_helper() -> None:
    pool = VerifierPool(2)
    try:
        with pool.batch(1) as check:
            assert not check.active
            check.skip()
            assert list(check.answers()) == [None]
        assert pool.running == 0
    finally:
        pool.close()


def test_a_failing_helper_leaves_its_chunks_to_the_caller_and_the_rest_to_the_others() -> None:
    pool = VerifierPool(2)
    failures: list[int] = []
    pool.on_failure = lambda: failures.append(1)
    try:
        with pool.batch(4) as check:
            first = pool.pids()[0]
            check.send([_good(b"0")])  # to the first helper
            dead = next(h for h in check._held if h.proc.pid == first)
            dead.proc.kill()
            dead.proc.wait()
            for n in range(1, 4):  # the first helper's turn fails: its chunks go on
                check.send([_good(str(n).encode())] * 2000)
            answers = list(check.answers())
        assert answers[0] is None  # sent to the helper that died
        assert answers[1:] == [[True] * 2000] * 3  # all to the other one
        assert failures == [1]
        assert pool.running == 1
    finally:
        pool.close()


@pytest.mark.parametrize(
    "frame",
    [
        b"\x05\x00",  # a truncated length
        b"\x10\x00\x00\x00" + b"\x01\x00",  # a length beyond what follows
        _frame(b"\x01\x00" + bytes(32)),  # a report header cut short
    ],
)
def test_the_helper_process_ends_a_malformed_frame_with_a_named_error(frame: bytes) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pausebutton.cli.verifier"],
        input=frame,
        capture_output=True,
        env=child_env(),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("error: verifier helper: malformed frame:")
    assert "Traceback" not in proc.stderr.decode() and proc.stdout == b""
