"""Hybrid truth: the sampled chips of a shard through the real code, compared with the model.

Each sampled chip is a real :class:`~pausebutton.chip.firmware.Firmware` (manufactured
and fed by :class:`~pausebutton.chip.lab.Lab`, which signs with deterministic authority
keys and proves log inclusion), day by day on the same inputs the vectorised model drew
(its contacts, its licence's age, when it went offline):

* at each contact the chip installs a signed time token, then the K-of-N pause order if
  one is out and covers it, then a renewed licence when one is due and the authority's
  licensing policy (:func:`pausebutton.authority.policy.evaluate`, told of the pause in
  force) approves it;
* the agent's :class:`~pausebutton.agent.enforcement.Enforcer` (power-cap mode, on a
  fake GPU) caps or releases the GPU by the firmware's state, as the agent's ``enforce``
  does;
* a day of work is metered, which moves the chip's trusted time on by one day.

The chip ran at full rate on a day when the firmware was LICENSED and the enforcer left
the GPU's power limit alone. Any day where that differs from the model's prediction is
a :class:`~pausebutton.errors.ModelMismatchError`: the run fails.
"""

from __future__ import annotations

from typing import Any

from pausebutton.agent.enforcement import Enforcer, Mode
from pausebutton.agent.nvml import FakeBackend
from pausebutton.authority.policy import APPROVED, ChipFacts, Facts, Policy, evaluate
from pausebutton.chip.firmware import ChipState, Firmware
from pausebutton.chip.lab import T0, Lab
from pausebutton.errors import ModelMismatchError
from pausebutton.protocol.messages import GLOBAL, Scope, ScopeKind
from pausebutton.regime.scenario import Scenario

DAY = 86400
DAY0 = T0 + 400 * DAY
"""Trusted time of the simulation's day 0 (after the lab chips' manufacture)."""


def _at(day: int) -> int:
    return DAY0 + day * DAY


def pause_scope(scenario: Scenario, members: list[str]) -> Scope:
    scope = scenario.pause.scope
    if scope == "global":
        return GLOBAL
    regions = members if scope == "members" else scope
    return Scope(ScopeKind.REGION, regions=tuple(sorted(regions)))


class Replay:
    """The real components for one shard's sample: a lab authority, a policy, a GPU."""

    def __init__(self, scenario: Scenario, members: list[str], seed: int) -> None:
        reg = scenario.regime
        self.scenario = scenario
        self.lab = Lab.create(b"regime/%d" % seed, members=reg.n, threshold=reg.k)
        self.policy = Policy(
            frontier_flop=int(reg.frontier_flop),
            max_offline=reg.max_offline_days * DAY,
            max_period=max(365, reg.licence_validity_days) * DAY,
            split_window=reg.split_window_days * DAY,
        )
        self.scope = pause_scope(scenario, members)
        self.pause = self.lab.pause(
            scope=self.scope,
            effective_at=_at(scenario.pause.day),
            issued_at=_at(scenario.pause.day),
        ).encode()

    def _licence(
        self, chip: Firmware, day: int, covered: bool
    ) -> tuple[bytes, bytes | None] | None:
        """A licence from ``day`` for ``validity`` days, if the policy approves it."""
        reg = self.scenario.regime
        rec = chip.record
        start, end = _at(day), _at(day + reg.licence_validity_days)
        budget = rec.peak_flops * (end - start)
        paused = covered and day >= self.scenario.pause.day
        facts = Facts(
            owner=rec.owner or "owner",
            owner_country=rec.region or "",
            run_id=f"run-{rec.chip_id.hex()[:8]}-{day}",
            flop_budget=budget,
            not_before=start,
            not_after=end,
            now=start,
            chips=(
                ChipFacts(
                    chip_id=rec.chip_id.hex(),
                    registered=True,
                    owner=rec.owner,
                    status="installed",
                    facility="facility",
                    facility_verified=True,
                    region=rec.region,
                    peak_flops=rec.peak_flops,
                ),
            ),
            paused_by=(1,) if paused else (),
        )
        if evaluate(self.policy, facts).outcome != APPROVED:
            return None
        env = self.lab.license(
            rec.chip_id,
            flop=budget,
            not_before=start,
            not_after=end,
            max_offline=reg.max_offline_days * DAY,
        )
        return self.lab.logged(env)

    def check(self, sample: dict[str, Any]) -> int:
        """Replay one sampled chip; raise ModelMismatchError on the first day that differs.
        Returns the days compared."""
        if sample["class"] == "legacy":
            # no firmware: nothing of the regime's code runs on it; the model says it runs
            if not all(sample["predicted"]):
                raise ModelMismatchError(
                    f"chip {sample['chip']} (legacy, no firmware): the model stops it",
                    chip=sample["chip"],
                )
            return len(sample["predicted"])
        return _ChipReplay(self, sample).run()


class _ChipReplay:
    """One sampled chip: a lab firmware, a fake GPU under the agent's enforcer."""

    def __init__(self, replay: Replay, sample: dict[str, Any]) -> None:
        self.replay = replay
        self.sample = sample
        self.chip = replay.lab.new_chip(region=sample["country"], owner="owner-a")
        self.backend = FakeBackend(1, seed=f"regime/{sample['chip']}")
        self.gpu = self.backend.gpus()[0].uuid
        self.enforcer = Enforcer(self.backend, mode=Mode.POWER_CAP, dry_run=False)
        self.full_power = self.backend.power_limits(self.gpu).max_mw
        self.covered = bool(sample["covered"])

    def install(self, data: bytes, inclusion: bytes | None = None) -> None:
        self.chip.commit(self.chip.install(data, inclusion))

    def token(self, day: int) -> None:
        self.install(self.replay.lab.time_token(_at(day)).encode())

    def meter_days(self, days: int) -> None:
        """Run ``days`` of work: the counted cycles move trusted time on by as many days."""
        if days > 0:
            rec = self.chip.record
            work = rec.peak_flops * DAY * days
            self.chip.commit(self.chip.meter(work, cycles=rec.clock_hz * DAY * days))

    def mismatch(self, message: str, day: int) -> ModelMismatchError:
        s = self.sample
        return ModelMismatchError(
            f"chip {s['chip']} ({s['class']}, {s['country']}) on day {day}: {message}",
            chip=s["chip"],
            day=day,
        )

    def start(self) -> None:
        """Day 0's state: the licence issued at its day, the last contact, work since."""
        issued, last = self.sample["licence_issued"], self.sample["last_contact"]
        self.token(issued)
        lic = self.replay._licence(self.chip, issued, self.covered)
        if lic is None:
            raise self.mismatch("the policy refused its first licence", issued)
        self.install(*lic)
        self.meter_days(last - issued)
        if last > issued:
            self.token(last)
        self.meter_days(-last)

    def run(self) -> int:
        reg = self.replay.scenario.regime
        pause_day = self.replay.scenario.pause.day
        self.start()
        contacts = set(self.sample["contacts"])
        pushed = self.sample["class"] == "online" and reg.push
        got_pause = False
        for day, predicted in enumerate(self.sample["predicted"]):
            if self.chip.trusted_time != _at(day):
                raise self.mismatch(f"trusted time {self.chip.trusted_time}, not {_at(day)}", day)
            contact = day in contacts
            if contact:
                self.token(day)
            if self.covered and day >= pause_day and not got_pause and (contact or pushed):
                self.install(self.replay.pause)
                got_pause = True
            active = self.chip.record.active_license()
            due = active is None or active.not_after - _at(day) <= reg.renew_before_days * DAY
            if contact and due:
                lic = self.replay._licence(self.chip, day, self.covered)
                if lic is not None:
                    self.install(*lic)
            self.compare(day, predicted)
            self.meter_days(1)
        return len(self.sample["predicted"])

    def compare(self, day: int, predicted: bool) -> None:
        """The agent's rule (enforce: release a LICENSED chip's GPU, restrict any other),
        then the model's prediction against what the real code did."""
        licensed = self.chip.state is ChipState.LICENSED
        if licensed:
            self.enforcer.release(self.gpu)
        else:
            self.enforcer.restrict(self.gpu)
        uncapped = self.backend.power_limits(self.gpu).current_mw == self.full_power
        if licensed != uncapped or (licensed and uncapped) != predicted:
            raise self.mismatch(
                f"the model says {'runs' if predicted else 'stopped'}, the real firmware is"
                f" {self.chip.state.value} and the agent's enforcer"
                f" {'leaves the GPU alone' if uncapped else 'caps the GPU'}",
                day,
            )


def check_samples(
    scenario: Scenario, members: list[str], seed: int, samples: list[dict[str, Any]]
) -> int:
    """Replay every sample (one lab authority per call); the chip-days compared."""
    if not samples:
        return 0
    replay = Replay(scenario, members, seed)
    return sum(replay.check(s) for s in samples)
