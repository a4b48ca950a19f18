"""The PyTorch guard: FLOP metering accuracy, budget exhaustion, pause/resume, fail-safe."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from pausebutton.errors import (  # noqa: E402
    LeaseError,
    LicenseExhaustedError,
    PausebuttonError,
    PausedError,
)
from pausebutton.guard.budget import LicenseExhausted, LocalBudget, Paused, StepGrant  # noqa: E402
from pausebutton.guard.examples import (  # noqa: E402
    analytic_train_flops,
    make_batch,
    tiny_gpt,
    train_step,
)
from pausebutton.guard.torch import Guard, count_flops, shape_key  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _setup(seed: int = 0, **kw):
    torch.manual_seed(seed)
    model = tiny_gpt(d_model=64, ctx=8, **kw)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    return model, opt


def test_metered_flop_matches_full_count_and_6nd():
    model, opt = _setup()
    batches = [make_batch(model, 4, seed=i) for i in range(4)] + [
        make_batch(model, 2, seed=10 + i) for i in range(3)
    ]
    budget = LocalBudget(10**15)
    with Guard(budget) as guard:
        for x, y in batches:
            with guard.step(x, y):
                train_step(model, opt, x, y)
    # the same loop, every step under a full FlopCounterMode
    model2, opt2 = _setup()
    full = count_flops(lambda: [train_step(model2, opt2, x, y) for x, y in batches])
    tokens = sum(x.numel() for x, _ in batches)
    analytic = analytic_train_flops(model, tokens)
    assert guard.stats.steps == 7
    assert guard.stats.metered_steps == 2  # once per input shape
    assert guard.stats.shapes == 2
    assert budget.used == guard.stats.flop_booked
    assert abs(guard.stats.flop_booked - full) / full < 0.05
    assert abs(guard.stats.flop_booked - analytic) / analytic < 0.05


def test_hook_mode_meters_the_same_as_step_mode():
    model, opt = _setup()
    x, y = make_batch(model, 4)
    with Guard(LocalBudget(10**15)) as g1:
        for _ in range(3):
            with g1.step(x):
                train_step(model, opt, x, y)
    with Guard(LocalBudget(10**15)) as g2:
        g2.attach(model, opt)
        for _ in range(3):
            train_step(model, opt, x, y)
    assert g2.stats.steps == 3
    assert g2.stats.metered_steps == 1
    assert g2.stats.flop_booked == g1.stats.flop_booked


def test_hook_mode_counts_gradient_accumulation_micro_batches():
    model, opt = _setup()
    x, _y = make_batch(model, 4)
    per = count_flops(lambda: model(x).sum().backward())
    opt.zero_grad()
    with Guard(LocalBudget(10**15)) as guard:
        guard.attach(model, opt)
        for _ in range(2):
            for _ in range(3):
                model(x).sum().backward()
            opt.step()
            opt.zero_grad()
    assert guard.stats.steps == 2
    assert guard.stats.flop_booked == 2 * 3 * per


def test_budget_runs_out_at_a_step_boundary_after_checkpoint():
    model, opt = _setup()
    x, y = make_batch(model, 4)
    per_step = count_flops(lambda: train_step(model, opt, x, y))
    budget = LocalBudget(per_step * 3 + per_step // 2)
    saved: list[PausebuttonError] = []
    ran = 0
    with pytest.raises(LicenseExhausted) as info, Guard(budget, checkpoint=saved.append) as guard:
        for _ in range(10):
            with guard.step(x, y):
                ran += 1
                train_step(model, opt, x, y)
    assert ran == 3
    assert isinstance(info.value, LicenseExhaustedError)
    assert len(saved) == 1 and isinstance(saved[0], LicenseExhaustedError)
    assert budget.used == 3 * per_step <= budget.budget


def test_pause_stops_within_one_step_and_resume_continues():
    model, opt = _setup()
    x, y = make_batch(model, 4)
    budget = LocalBudget(10**15)
    checkpoints = []
    ran = []
    with Guard(budget, checkpoint=checkpoints.append) as guard:
        for i in range(2):
            with guard.step(x, y):
                ran.append(i)
                train_step(model, opt, x, y)
                if i == 1:
                    budget.pause()  # the order arrives during step 1
        with pytest.raises(Paused), guard.step(x, y):
            ran.append("after-pause")  # never runs: step 2 is refused
        with pytest.raises(Paused):
            guard.wait(timeout=0.05, poll=0.01)
        assert len(checkpoints) == 1  # once per stop, not once per refused poll
        budget.resume()
        guard.wait(timeout=1)
        with guard.step(x, y):
            ran.append("resumed")
            train_step(model, opt, x, y)
    assert ran == [0, 1, "resumed"]
    assert isinstance(checkpoints[0], PausedError)


def test_hook_mode_pause_refuses_the_forward():
    model, opt = _setup()
    x, y = make_batch(model, 4)
    budget = LocalBudget(10**15)
    with Guard(budget) as guard:
        guard.attach(model, opt)
        train_step(model, opt, x, y)
        budget.pause()
        with pytest.raises(Paused):
            model(x)


class _Broken:
    def __init__(self, answer=None, exc=None):
        self.answer, self.exc, self.closed = answer, exc, None

    def step(self, settle, expect):
        if self.exc:
            raise self.exc
        return self.answer

    def report_artifact(self, report):
        pass

    def close(self, settle):
        self.closed = settle


@pytest.mark.parametrize(
    "source",
    [_Broken(exc=LeaseError("agent gone")), _Broken(answer={"ok": True}), _Broken(answer=None)],
)
def test_unverifiable_lease_never_runs_a_step(source):
    model, _opt = _setup()
    x, y = make_batch(model, 4)
    ran = 0
    with pytest.raises(LeaseError), Guard(source) as guard, guard.step(x, y):
        ran += 1
    assert ran == 0


def test_a_valid_grant_type_is_needed():
    source = _Broken(answer=StepGrant(remaining=5))
    with Guard(source) as guard, guard.step():
        pass
    assert source.closed == 0  # nothing metered in an empty step


def test_shape_key_distinguishes_shapes_and_dtypes():
    a = torch.zeros(2, 3)
    assert shape_key(a) == shape_key(torch.ones(2, 3))
    assert shape_key(a) != shape_key(torch.zeros(3, 2))
    assert shape_key(a) != shape_key(a.double())
    assert shape_key({"x": a, "n": 3}) != shape_key({"x": a, "n": 4})


def test_errors_are_the_project_errors():
    assert issubclass(Paused, PausedError)
    assert issubclass(LicenseExhausted, LicenseExhaustedError)
