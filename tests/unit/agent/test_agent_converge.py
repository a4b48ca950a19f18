"""Convergence of the agent's chips to the authority's order and licence state: which
refusals heal (one pure classification), jittered exponential backoff, a cursor that
never moves past an order a chip does not hold, time tokens fetched when a chip's time is
behind, permanent refusals reported once."""

from __future__ import annotations

import base64

import pytest

from pausebutton import errors
from pausebutton.agent.converge import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    LOG_STAGE,
    Disposition,
    Tracker,
    backoff_delay,
    classify,
)
from pausebutton.agent.daemon import Agent
from pausebutton.agent.nvml import FakeBackend
from pausebutton.chip.firmware import ChipState, translog_verifier
from pausebutton.chip.lab import T0, Lab


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- the pure classification -------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "order", "expected"),
    [
        (errors.NotLoggedError("x"), True, Disposition.WAIT_LOG),
        (errors.BelowThresholdError("x", stage=LOG_STAGE), True, Disposition.WAIT_LOG),
        (errors.ProofError("x", stage=LOG_STAGE), False, Disposition.WAIT_LOG),
        (errors.BelowThresholdError("K-1 signatures"), True, Disposition.PERMANENT),
        (errors.NotYetValidError("x"), False, Disposition.WAIT_TIME),
        (errors.ExpiredError("no time token", cause="offline"), False, Disposition.WAIT_TIME),
        (errors.ExpiredError("past not_after"), False, Disposition.PERMANENT),
        (errors.ServiceError("down"), True, Disposition.TRANSIENT),
        (errors.RateLimitError("slow down"), False, Disposition.TRANSIENT),
        (errors.HardwareError("nvml"), False, Disposition.TRANSIENT),
        (errors.ReplayError("x"), True, Disposition.HELD),
        (errors.ReplayError("x"), False, Disposition.HELD),
        (errors.ScopeError("other region"), True, Disposition.NOT_APPLICABLE),
        (errors.ScopeError("other region"), False, Disposition.PERMANENT),
        (errors.BadSignatureError("x"), True, Disposition.PERMANENT),
        (errors.WrongChipError("x"), False, Disposition.PERMANENT),
        (errors.RollbackError("x"), True, Disposition.PERMANENT),
        (errors.MalformedError("x"), True, Disposition.PERMANENT),
    ],
)
def test_classify(exc, order, expected):
    got = classify(exc, order=order)
    assert got is expected
    assert got.healable is (
        expected in (Disposition.WAIT_LOG, Disposition.WAIT_TIME, Disposition.TRANSIENT)
    )


def test_every_error_class_has_one_disposition():
    for cls in errors.all_error_classes().values():
        for order in (True, False):
            assert isinstance(classify(cls("x"), order=order), Disposition)


def test_backoff_doubles_with_jitter_up_to_the_cap():
    assert backoff_delay(0, 0.0) == pytest.approx(BACKOFF_BASE / 2)
    assert backoff_delay(0, 1.0) == pytest.approx(BACKOFF_BASE)
    assert backoff_delay(3, 1.0) == pytest.approx(BACKOFF_BASE * 8)
    for attempt in (20, 100, 10_000):
        assert BACKOFF_CAP / 2 <= backoff_delay(attempt, 0.5) <= BACKOFF_CAP
    with pytest.raises(errors.UsageError):
        backoff_delay(-1, 0.5)
    with pytest.raises(errors.UsageError):
        backoff_delay(0, 1.5)


def test_tracker_schedules_pokes_and_settles():
    tracker = Tracker(lambda: 1.0)
    tracker.wait("order", 5, {}, "gpu-a", Disposition.WAIT_LOG, "not logged", 10.0)
    tracker.wait("order", 5, {}, "gpu-b", Disposition.WAIT_TIME, "behind", 10.0)
    (item,) = tracker.pending.values()
    assert item.due == pytest.approx(10.0 + BACKOFF_BASE)
    assert tracker.due("order", 10.0) == []
    tracker.retried(item, 11.0)
    assert item.due == pytest.approx(11.0 + 2 * BACKOFF_BASE)
    assert tracker.poke(Disposition.WAIT_LOG, 11.0) == 1
    assert tracker.due("order", 11.0) == [item]
    assert tracker.lowest("order") == 5
    tracker.settle("order", 5, "gpu-a")
    assert not tracker.waiting_for(Disposition.WAIT_LOG)
    tracker.refuse("order", 5, "gpu-b", errors.BadSignatureError("forged"))
    assert tracker.pending == {} and tracker.refused[-1]["error"] == "bad_signature"


# -- the agent ----------------------------------------------------------------------------


@pytest.fixture
def lab():
    return Lab.create(b"agent-converge-test")


class Witnesses:
    """A log check that refuses with ``below_threshold`` (as the log policy does for a
    checkpoint without witness cosignatures) until the witnesses cosign."""

    def __init__(self) -> None:
        self.cosigned = False
        self.calls = 0

    def __call__(self, root, entry, inclusion):
        self.calls += 1
        if not self.cosigned:
            raise errors.BelowThresholdError(
                "checkpoint of size 18 has 0 of 1 witness cosignatures", signed=0, threshold=1
            )
        translog_verifier(root, entry, inclusion)


class Feed:
    """The authority's order feed (long-poll answers at once)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []
        self.asked: list[int] = []

    def add(self, sequence: int, data: bytes, bundle: bytes | None = None) -> None:
        row: dict[str, object] = {"sequence": sequence, "envelope": b64(data)}
        if bundle is not None:
            row["inclusion"] = b64(bundle)
        self.rows.append(row)

    def watch(self, after, timeout):
        self.asked.append(after)
        return {"orders": [r for r in self.rows if r["sequence"] > after]}


_BACKENDS: dict[str, FakeBackend] = {}


def _agent(lab, state, client, witnesses, now, n=1):
    # a restart sees the same GPUs: one fake backend per state directory
    backend = _BACKENDS.setdefault(str(state), FakeBackend(n))
    if not (state / "agent.json").exists():
        Agent.enroll(
            state,
            backend,
            trust_root=lab.root_bytes,
            vendor_key=lab.keys.key("vendor"),
            issued_at=1,
        )
    return Agent(state, backend, client, verifier=witnesses, clock=lambda: now[0])


def _paused(agent):
    return {u: g.chip.firmware.state is ChipState.PAUSED for u, g in agent.gpus.items()}


def test_resume_refused_below_threshold_is_not_lost(lab, tmp_path):
    """The lost resume: an agent got ``below_threshold`` for a resume before the
    witnesses cosigned, and its saved cursor moved past the resume for good."""
    feed, witnesses, now = Feed(), Witnesses(), [0.0]
    agent = _agent(lab, tmp_path, feed, witnesses, now, n=2)
    feed.add(1, lab.pause(sequence=1).encode())
    assert agent.sync_orders() == 2
    feed.add(2, *lab.logged(lab.resume(1, sequence=2)))
    assert agent.sync_orders() == 0
    assert all(_paused(agent).values())
    assert agent.order_cursor == 1  # saved: never past the resume the chips do not hold
    waiting = agent.tracker.for_gpu(next(iter(agent.gpus)), now[0])
    assert waiting[0]["waiting_for"] == "waiting_for_log" and "witness" in waiting[0]["reason"]
    # a restart keeps the cursor before the resume
    agent = _agent(lab, tmp_path, feed, witnesses, now, n=2)
    assert agent.order_cursor == 1
    witnesses.cosigned = True
    now[0] += 1.0
    assert agent.sync_orders() == 2
    assert not any(_paused(agent).values())
    assert agent.order_cursor == 2
    assert agent.tracker.pending == {} and agent.tracker.refused == []


def test_retries_back_off_and_a_new_checkpoint_retries_at_once(lab, tmp_path):
    witnesses, now = Witnesses(), [0.0]
    notes = ["checkpoint 1"]

    class Client(Authority):
        def checkpoint(self):
            return notes[-1]

    client = Client(lab, now)
    agent = _agent(lab, tmp_path, client, witnesses, now)
    client.add(1, lab.pause(sequence=1).encode())
    client.add(2, *lab.logged(lab.resume(1, sequence=2)))
    agent.sync_orders()
    first = witnesses.calls
    # 100 rounds over 60 s: the backoff (0.2 s doubling to 30 s) allows few fetches
    for _ in range(100):
        now[0] += 0.6
        agent.converge()
    retries = witnesses.calls - first
    assert 3 <= retries <= 12, retries
    assert agent.watch_wait(10.0) <= 1.0  # the checkpoint is looked at while waiting
    # a new checkpoint (the witnesses cosigned) makes the retry due at once
    witnesses.cosigned = True
    notes.append("checkpoint 2 with cosignatures")
    now[0] += 1.0
    assert agent.converge() == 1
    assert not any(_paused(agent).values())
    assert agent.tracker.pending == {}


def test_a_pause_overtaking_a_waiting_resume_still_converges(lab, tmp_path):
    feed, witnesses, now = Feed(), Witnesses(), [0.0]
    agent = _agent(lab, tmp_path, feed, witnesses, now)
    ((uuid, gpu),) = agent.gpus.items()
    feed.add(1, lab.pause(sequence=1).encode())
    feed.add(2, *lab.logged(lab.resume(1, sequence=2)))
    feed.add(3, lab.pause(sequence=3).encode())
    assert agent.sync_orders() == 2  # both pauses at once: a pause never waits for the log
    assert gpu.chip.firmware.record.order_seq == 3
    assert agent.order_cursor == 1
    # restart: orders above the cursor come again; pause 3 is held, not a refusal
    agent = _agent(lab, tmp_path, feed, witnesses, now)
    gpu = agent.gpus[uuid]
    witnesses.cosigned = True
    agent.sync_orders()
    assert agent.order_cursor == 3 and agent.tracker.refused == []
    pauses = {p.sequence: p.lifted_at for p in gpu.chip.firmware.record.pauses}
    assert pauses[1] is not None and pauses[3] is None  # the late resume lifted pause 1
    feed.add(4, *lab.logged(lab.resume(3, sequence=4)))
    agent.sync_orders()
    assert gpu.chip.firmware.state is not ChipState.PAUSED
    assert agent.order_cursor == 4


def test_permanent_refusals_stop_and_are_reported(lab, tmp_path):
    feed, witnesses, now = Feed(), Witnesses(), [0.0]
    witnesses.cosigned = True
    agent = _agent(lab, tmp_path, feed, witnesses, now)
    short = lab.pause(sequence=1, signers=lab.members(2))  # below the K-of-N quorum
    feed.add(1, short.encode())
    feed.add(2, lab.pause(sequence=2).encode())
    assert agent.sync_orders() == 1
    assert agent.order_cursor == 2  # a permanent refusal does not hold the cursor
    (refusal,) = agent.tracker.refused
    assert refusal["id"] == 1 and refusal["error"] == "below_threshold"
    assert agent.tracker.pending == {}


class Authority(Feed):
    """Licences and time tokens (the authority's time runs ahead of the chip's)."""

    def __init__(self, lab: Lab, now: list[float]) -> None:
        super().__init__()
        self.lab = lab
        self.now = now
        self.licences: list[dict[str, object]] = []
        self.tokens = 0

    def get(self, path, chip_id=None, after=0):
        if path == "/v1/roots":
            return []  # no root change
        return [r for r in self.licences if r["chip_id"] == chip_id and r["license_id"] > after]

    def time_token(self, chip_id=None):
        self.tokens += 1
        return self.lab.time_token(T0 + 7200 + int(self.now[0])).encode()

    def submit_reports(self, reports):
        return {"accepted": len(reports)}

    def prohibited(self):
        return None

    def report_artifacts(self, reports):
        return {"accepted": len(reports)}


def test_licence_not_yet_valid_fetches_a_time_token_and_installs(lab, tmp_path):
    now = [0.0]
    witnesses = Witnesses()
    witnesses.cosigned = True
    client = Authority(lab, now)
    agent = _agent(lab, tmp_path, client, witnesses, now)
    ((_, gpu),) = agent.gpus.items()
    agent.tick()  # a first time token: the chip's time is T0
    tokens = client.tokens
    # valid from an hour after the chip's time: the authority's clock is there already
    env = lab.license(gpu.chip.firmware.record.chip_id, not_before=T0 + 3600, license_id=1)
    data, bundle = lab.logged(env)
    client.licences.append(
        {"license_id": 1, "chip_id": gpu.chip_id, "envelope": b64(data), "inclusion": b64(bundle)}
    )
    agent.tick()  # refused not_yet_valid, a time token at once, then installed
    assert client.tokens == tokens + 1
    assert gpu.chip.firmware.state is ChipState.LICENSED
    assert agent.tracker.pending == {} and agent.tracker.refused == []


def test_a_refused_licence_is_reported_once(lab, tmp_path):
    now = [0.0]
    witnesses = Witnesses()
    witnesses.cosigned = True
    client = Authority(lab, now)
    agent = _agent(lab, tmp_path, client, witnesses, now)
    ((uuid, gpu),) = agent.gpus.items()
    other = lab.license(b"\x01" * 32, license_id=1)  # for another chip
    data, bundle = lab.logged(other)
    client.licences.append(
        {"license_id": 1, "chip_id": gpu.chip_id, "envelope": b64(data), "inclusion": b64(bundle)}
    )
    agent.tick()
    assert [r["error"] for r in agent.tracker.refused] == ["wrong_chip"]
    agent.tick()
    again = _agent(lab, tmp_path, client, witnesses, now)
    again.tick()
    assert again.tracker.refused == []  # remembered in agent.json, not fetched again
    assert again.licences_refused == {uuid: [1]}
