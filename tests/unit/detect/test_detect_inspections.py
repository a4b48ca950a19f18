from __future__ import annotations

import pytest
from detect_world import energy, registry, t

from pausebutton.detect import fusion
from pausebutton.detect.inspections import SchedulePolicy, result_signal, schedule
from pausebutton.detect.io import bundled_hardware
from pausebutton.detect.rules import Context, SignalSet, run_rules
from pausebutton.errors import DataError

SEED = b"0123456789abcdef-secret"


def test_periodic_due_when_never_or_long_ago() -> None:
    reg = registry()
    tasks = schedule(reg, t(100), seed=SEED, policy=SchedulePolicy(random_rate=0))
    assert {(k.kind, k.target, k.trigger) for k in tasks} == {
        ("dc", "f1", "periodic"),
        ("dc", "f2", "periodic"),
    }
    recent = schedule(
        reg,
        t(100),
        seed=SEED,
        last_inspected={"f1": t(90), "f2": t(90)},
        policy=SchedulePolicy(random_rate=0),
    )
    assert recent == []


def test_random_draws_are_keyed_and_reproducible() -> None:
    reg = registry()
    last = {"f1": t(99), "f2": t(99)}
    a = schedule(
        reg, t(100), seed=SEED, last_inspected=last, policy=SchedulePolicy(random_rate=1.0)
    )
    assert {k.trigger for k in a} == {"random"} and len(a) == 2
    assert a == schedule(
        reg, t(100), seed=SEED, last_inspected=last, policy=SchedulePolicy(random_rate=1.0)
    )
    none = schedule(
        reg, t(100), seed=SEED, last_inspected=last, policy=SchedulePolicy(random_rate=0.0)
    )
    assert none == []
    # over many windows the draw rate is close to the policy's
    hits = sum(
        len(
            schedule(
                reg,
                t(100 + 30 * w),
                seed=SEED,
                last_inspected={"f1": t(99 + 30 * w), "f2": t(99 + 30 * w)},
                policy=SchedulePolicy(random_rate=0.3),
            )
        )
        for w in range(100)
    )
    assert 40 <= hits <= 80  # 200 draws at 0.3
    with pytest.raises(DataError):
        schedule(reg, t(0), seed=b"short")


def test_alert_triggers_challenge_and_result_feeds_back() -> None:
    reg = registry()
    ss = SignalSet.of(energy("f1", plateau=(20, 45, 10e6)))
    ss.sort()
    ctx = Context(reg, ss, bundled_hardware(), t(60))
    alerts = fusion.alerts(run_rules(ctx), alert_probability=0.1)
    assert alerts
    tasks = schedule(
        reg,
        t(60),
        seed=SEED,
        alerts=alerts,
        last_inspected={"f1": t(59), "f2": t(59)},
        policy=SchedulePolicy(random_rate=0),
    )
    ch = [k for k in tasks if k.trigger == "challenge"]
    assert ch and ch[0].target == "f1" and ch[0].due <= t(62)
    dc = next(k for k in ch if k.kind == "dc")
    # the inspector finds 40 registered chips missing: the result is a signal for the rules
    result = result_signal(dc, t(61), [f"f1-{i}" for i in range(60)])
    ss.extend([result])
    ss.sort()
    fs = run_rules(Context(reg, ss, bundled_hardware(), t(62)))
    assert any(f.rule == "inspection_mismatch" and f.site == "f1" for f in fs)
