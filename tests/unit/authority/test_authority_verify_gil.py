"""A signature checked in a worker's own thread (a batch of one chunk, or the chunks of
a helper process that failed: authority/verifier.py) must not stop the worker's other
threads: that holds only if PyNaCl's verify runs without the GIL (cffi releases it
around the libsodium call). Checked by behaviour, not speed: with a 1 s switch interval,
a Python thread that never blocks gets to run during the main thread's verifies only if
the main thread gives the GIL up inside them."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import UsageReport

SPIN_S = 0.3


def _beside_a_spinning_thread(work: Callable[[], None]) -> float:
    """Seconds ``work`` takes while a pure-Python thread wants the GIL for SPIN_S."""
    go = threading.Event()

    def spin() -> None:
        go.wait()
        end = time.perf_counter() + SPIN_S
        while time.perf_counter() < end:
            pass

    old = sys.getswitchinterval()
    sys.setswitchinterval(1.0)
    thread = threading.Thread(target=spin)
    try:
        thread.start()
        time.sleep(0.05)  # the thread waits on the event, without the GIL
        t0 = time.perf_counter()
        go.set()
        work()
        return time.perf_counter() - t0
    finally:
        thread.join()
        sys.setswitchinterval(old)


def test_pynacl_verify_runs_without_the_gil() -> None:
    key = PrivateKey.from_seed_material(b"gil")
    report = UsageReport(
        chip_id=key.key_id,
        sequence=1,
        prev_hash=bytes(32),
        time=0,
        flop_full=0,
        flop_throttled=0,
        cycles=0,
        energy_mj=0,
        state="licensed",
    )
    env = Envelope.decode(Envelope.create(report, [key]).encode())
    msg, sig = env.signing_input(), env.signatures[0].sig

    def verify() -> None:
        for _ in range(200):
            key.public.verify(msg, sig)

    # released: the spinning thread takes the GIL at the first verify and keeps it
    # until its loop ends, so the verifies cannot end before it
    assert _beside_a_spinning_thread(verify) >= SPIN_S * 0.9


def test_the_check_tells_a_gil_holding_loop_apart() -> None:
    def python() -> None:
        end = time.perf_counter() + 0.01
        while time.perf_counter() < end:
            pass

    # held: the spinning thread waits for the 1 s switch interval, the loop ends first
    assert _beside_a_spinning_thread(python) < SPIN_S * 0.5
