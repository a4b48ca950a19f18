"""The PyTorch guard: meter a loop's FLOP, draw them from a budget, stop at a step boundary.

Two ways to wrap a loop::

    from pausebutton.guard.torch import Guard

    with Guard(budget, checkpoint=save, model=model) as guard:
        for x, y in loader:
            with guard.step(x, y):            # the step boundary is the `with`
                loss = loss_fn(model(x), y)
                loss.backward()
                opt.step(); opt.zero_grad()

or, without touching the loop body, hooks on the model and optimizer::

    with Guard(budget, checkpoint=save, model=model) as guard:
        guard.attach(model, opt)
        for x, y in loader: ...               # unchanged loop

Metering (``torch.utils.flop_counter.FlopCounterMode``) runs only the first
time an input shape is seen; later steps of the same shape are charged the
cached count, so the per-step cost is a dictionary lookup and one call to the
budget source. Before every step the guard asks the source for permission; if
a pause order is in force or the budget cannot pay for the step, it calls the
user's checkpoint callback (once per stop) and raises ``Paused`` or
``LicenseExhausted``. An unverifiable lease (``LeaseError``) also stops the
loop: no step ever runs without a grant.

torch is an optional dependency (``pip install 'pausebutton[torch]'``); this
module imports it lazily and raises a clear ``UsageError`` if it is missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pausebutton.errors import (
    LeaseError,
    LicenseExhaustedError,
    PausebuttonError,
    PausedError,
    UsageError,
)
from pausebutton.guard.budget import BudgetSource, LicenseExhausted, Paused, StepGrant

if TYPE_CHECKING:
    from pausebutton.guard.artifacts import ProhibitedList

__all__ = ["Guard", "GuardStats", "LicenseExhausted", "Paused", "count_flops", "shape_key"]

Checkpoint = Callable[[PausebuttonError], None]


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise UsageError(
            "the PyTorch guard needs torch: pip install 'pausebutton[torch]'"
        ) from None
    return torch


def _flop_counter() -> Any:
    _torch()
    from torch.utils.flop_counter import FlopCounterMode

    return FlopCounterMode


def shape_key(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """What makes two steps cost the same FLOP: tensor shapes, dtypes and devices
    (and small scalar arguments), walked through tuples, lists and dicts.

    Called before every step, right after the last step's compute has left the
    CPU caches cold, so the common case (positional tensors only) builds its key
    from the tensors' own hashable attributes, with no string formatting.
    """
    torch = _torch()
    tensor = torch.Tensor
    if not kwargs and all(isinstance(a, tensor) for a in args):
        return tuple([(a.shape, a.dtype, a.device, a.requires_grad) for a in args])
    out: list[Any] = []

    def walk(value: Any) -> None:
        if isinstance(value, tensor):
            out.append(("T", value.shape, value.dtype, value.device, value.requires_grad))
        elif isinstance(value, (list, tuple)):
            out.append(("(", len(value)))
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            out.append(("{", len(value)))
            for k in sorted(value, key=str):
                out.append(("k", str(k)))
                walk(value[k])
        elif isinstance(value, (bool, int, float, str)) or value is None:
            out.append(("v", type(value).__name__, value))
        else:
            out.append(("o", type(value).__qualname__))

    walk(args)
    walk(kwargs)
    return ("walk", *out)


def count_flops(fn: Callable[[], Any]) -> int:
    """The FLOP ``FlopCounterMode`` counts while ``fn()`` runs (forward and backward)."""
    counter = _flop_counter()(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


@dataclass
class GuardStats:
    steps: int = 0
    flop_booked: int = 0
    """FLOP of every finished step (what was drawn from the budget)."""
    metered_steps: int = 0
    """Steps (or micro-batches) that ran under FlopCounterMode: one per new input shape."""
    shapes: int = 0
    stops: int = 0
    checkpoints: int = 0
    budget_seconds: float = 0.0
    """Wall time spent talking to the budget source."""
    last_grant: StepGrant | None = None
    flop_by_shape: dict[tuple[Any, ...], int] = field(default_factory=dict, repr=False)


class Guard:
    """Meters a training loop and enforces a budget source at every step boundary."""

    def __init__(
        self,
        budget: BudgetSource,
        *,
        checkpoint: Checkpoint | None = None,
        model: Any = None,
        prohibited: ProhibitedList | None = None,
        code: tuple[str, ...] = (),
    ) -> None:
        _torch()
        self.budget = budget
        self.checkpoint = checkpoint
        self.model = model
        self.prohibited = prohibited
        self.code = code
        self.stats = GuardStats()
        self._cache = self.stats.flop_by_shape
        self._pending = 0
        self._last_step_flop = 0
        self._stopped = False
        self._closed = False
        self._in_step = False
        # hook mode
        self._hooks: list[Any] = []
        self._hook_step_open = False
        self._hook_step_flop = 0
        self._meter: Any = None
        self._meter_key: tuple[Any, ...] | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def _agent_list(self) -> ProhibitedList | None:
        """The list the node agent holds (it verified the quorum signatures)."""
        fetch = getattr(self.budget, "prohibited_list", None)
        if fetch is None:
            return None
        data = fetch()
        if data is None:
            return None
        from pausebutton.guard.artifacts import ProhibitedList
        from pausebutton.protocol.envelope import Envelope
        from pausebutton.protocol.messages import ProhibitedArtifacts

        env = Envelope.decode(data)
        return ProhibitedList(env.open_as(ProhibitedArtifacts), env)

    def __enter__(self) -> Guard:
        """Refuse a listed model or training code before the loop starts. Without an
        explicit list, the node agent's list is used when the budget is a lease."""
        try:
            if self.prohibited is None and (self.model is not None or self.code):
                self.prohibited = self._agent_list()
            if self.prohibited is not None:
                report = self.budget.report_artifact
                for path in self.code:
                    self.prohibited.check_code(path, report=report)
                if self.model is not None:
                    self.prohibited.check_module(self.model, report=report)
        except BaseException:
            self.close()  # no loop runs: let go of the lease
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Detach hooks and book the FLOP of the last step with the source."""
        if self._closed:
            return
        self._closed = True
        for handle in self._hooks:
            handle.remove()
        self._hooks.clear()
        self._close_meter()
        if self._hook_step_open:
            self._pending += self._hook_step_flop
            self._hook_step_open = False
        pending, self._pending = self._pending, 0
        self.budget.close(pending)

    # -- the step boundary -----------------------------------------------------------------

    def _stop(self, exc: PausebuttonError) -> PausebuttonError:
        self.stats.stops += 1
        if not self._stopped:
            self._stopped = True
            if self.checkpoint is not None:
                self.stats.checkpoints += 1
                self.checkpoint(exc)
        if isinstance(exc, PausedError) and not isinstance(exc, Paused):
            return Paused(exc.message, **exc.details)
        if isinstance(exc, LicenseExhaustedError) and not isinstance(exc, LicenseExhausted):
            return LicenseExhausted(exc.message, **exc.details)
        return exc

    def _begin(self, expect: int) -> None:
        if self._closed:
            raise UsageError("this guard is closed")
        settle = self._pending
        t0 = time.perf_counter()
        try:
            grant = self.budget.step(settle, expect)
        except PausebuttonError as exc:
            # every refusal stops the loop (fail-safe). A pause or an exhausted budget
            # was answered after the source booked ``settle``; on any other error it
            # may not have been, so the guard keeps it pending for the next grant.
            self.stats.budget_seconds += time.perf_counter() - t0
            if isinstance(exc, (PausedError, LicenseExhaustedError)):
                self._pending = 0
            raise self._stop(exc) from None
        self.stats.budget_seconds += time.perf_counter() - t0
        if not isinstance(grant, StepGrant):
            raise self._stop(LeaseError("the budget source gave no valid grant")) from None
        self._pending = 0
        self._stopped = False
        self.stats.last_grant = grant

    def _finish(self, flop: int) -> None:
        self.stats.steps += 1
        self.stats.flop_booked += flop
        self._pending += flop
        self._last_step_flop = flop

    def _expect(self, key: tuple[Any, ...] | None) -> int:
        if key is not None and key in self._cache:
            return self._cache[key]
        return self._last_step_flop

    @contextmanager
    def step(self, *inputs: Any, **kw_inputs: Any) -> Iterator[Guard]:
        """One training step. Pass the step's inputs (their shapes key the FLOP cache).

        Raises ``Paused``, ``LicenseExhausted`` or ``LeaseError`` on entry, before
        any of the step runs, when the budget source refuses it.
        """
        if self._hooks:
            raise UsageError("this guard is attached with hooks; do not also use step()")
        if self._in_step:
            raise UsageError("guard steps do not nest")
        key = shape_key(*inputs, **kw_inputs)
        cached = self._cache.get(key)
        self._begin(self._expect(key))
        self._in_step = True
        counter = None
        if cached is None:
            counter = _flop_counter()(display=False)
            counter.__enter__()
        try:
            yield self
        except BaseException:
            if counter is not None:
                counter.__exit__(None, None, None)
                # book what the failed step really did; do not cache a partial count
                self._finish(int(counter.get_total_flops()))
            else:
                self._finish(cached or 0)
            raise
        else:
            if counter is not None:
                counter.__exit__(None, None, None)
                cached = int(counter.get_total_flops())
                self._cache[key] = cached
                self.stats.metered_steps += 1
                self.stats.shapes = len(self._cache)
            assert cached is not None
            self._finish(cached)
        finally:
            self._in_step = False

    def wait(self, *, timeout: float | None = None, poll: float = 0.5) -> None:
        """Block until the source grants a step again (after a pause or a top-up).

        Raises the last refusal if ``timeout`` passes first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                self._begin(self._last_step_flop)
                return
            except PausebuttonError:
                if deadline is not None and time.monotonic() + poll > deadline:
                    raise
                time.sleep(poll)

    # -- hook mode ---------------------------------------------------------------------------

    def attach(self, model: Any, optimizer: Any) -> None:
        """Guard an unchanged loop: a step opens at the first forward after an optimizer
        step and closes when ``optimizer.step()`` returns. Each micro-batch is metered
        (from its forward to the next forward or the optimizer step) once per shape."""
        if self._hooks:
            raise UsageError("this guard is already attached")
        self._hooks.append(model.register_forward_pre_hook(self._on_forward, with_kwargs=True))
        self._hooks.append(optimizer.register_step_pre_hook(self._on_opt_pre))
        self._hooks.append(optimizer.register_step_post_hook(self._on_opt_post))

    def _close_meter(self) -> None:
        if self._meter is None:
            return
        meter, key = self._meter, self._meter_key
        self._meter = self._meter_key = None
        meter.__exit__(None, None, None)
        flop = int(meter.get_total_flops())
        assert key is not None
        self._cache[key] = flop
        self.stats.metered_steps += 1
        self.stats.shapes = len(self._cache)
        self._hook_step_flop += flop

    def _on_forward(self, module: Any, args: Any, kwargs: Any) -> None:
        self._close_meter()
        key = shape_key(*args, **kwargs)
        if not self._hook_step_open:
            self._begin(self._expect(key) if self._last_step_flop == 0 else self._last_step_flop)
            self._hook_step_open = True
            self._hook_step_flop = 0
        cached = self._cache.get(key)
        if cached is not None:
            self._hook_step_flop += cached
        else:
            self._meter = _flop_counter()(display=False)
            self._meter_key = key
            self._meter.__enter__()

    def _on_opt_pre(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self._close_meter()

    def _on_opt_post(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if not self._hook_step_open:
            return
        self._hook_step_open = False
        self._finish(self._hook_step_flop)
        self._hook_step_flop = 0
