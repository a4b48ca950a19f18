"""The vectorised model: one shard of the fleet, chips x days, in numpy (pure: no I/O).

Each chip has a country (from :mod:`pausebutton.regime.world`), a class and a licence:

* ``LEGACY``: no pause-compatible firmware; runs whatever the regime does.
* ``ONLINE``: polls the authority every ``poll_interval_hours`` (a time token and, when
  due, a licence renewal) and, with ``push``, gets orders within ``push_latency_seconds``.
* ``INTERMITTENT``: reaches the authority on a day with probability ``intermittent_contact``.
* ``OFFLINE``: its owner keeps it offline (the ``offline_chips`` adversary): no contact
  after its last one, a day in ``(-max_offline_days, 0]``.

A firmware chip runs at full rate on day ``d`` exactly when the firmware would be in
LICENSED at the start of that day after the day's contacts: no pause received, the
licence valid (``d < licence_end``) and a time token within max offline
(``d - last_contact < max_offline_days``). At a contact the chip installs a time token,
then the pause order if one is out and covers it, then a renewed licence when fewer than
``renew_before_days`` are left and the authority's policy approves (it refuses chips a
pause covers). :mod:`pausebutton.regime.truth` replays a sample of chips through the real
code and compares.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from pausebutton.regime.scenario import Scenario
from pausebutton.regime.world import World

LEGACY, ONLINE, INTERMITTENT, OFFLINE = 0, 1, 2, 3
CLASS_NAMES = ("legacy", "online", "intermittent", "offline")

STOP_BINS_HOURS = (0.0, 1 / 60, 0.1, 1.0, 6.0, 24.0, 48.0, 24 * 7.0, 24 * 14.0, 24 * 30.0, np.inf)
"""Bins of the time from the pause to a chip's stop (hours): <1 min, <6 min, <1 h, ..."""


@dataclass
class ShardResult:
    """What one shard adds to a run (summed over shards)."""

    running: npt.NDArray[np.float64]
    """H100-equivalents running at full rate, [country, day]."""
    chips: npt.NDArray[np.float64]
    """H100-equivalents per country."""
    in_scope: npt.NDArray[np.float64]
    """Firmware chips the pause covers, per country."""
    stop_hist: npt.NDArray[np.float64]
    """Chips (running the day before the pause, in scope) by time to stop (STOP_BINS_HOURS);
    the last entry counts those still running at the horizon."""
    licences: int
    chip_days: int
    samples: list[dict[str, Any]] = field(default_factory=list)
    """The hybrid sample: each chip's inputs and the model's day-by-day prediction."""

    def to_arrays(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "chips": self.chips,
            "in_scope": self.in_scope,
            "stop_hist": self.stop_hist,
            "licences": np.array(self.licences),
            "chip_days": np.array(self.chip_days),
            "samples": np.array(json.dumps(self.samples)),
        }

    @classmethod
    def from_arrays(cls, data: Any) -> ShardResult:
        return cls(
            running=np.asarray(data["running"], dtype=np.float64),
            chips=np.asarray(data["chips"], dtype=np.float64),
            in_scope=np.asarray(data["in_scope"], dtype=np.float64),
            stop_hist=np.asarray(data["stop_hist"], dtype=np.float64),
            licences=int(data["licences"]),
            chip_days=int(data["chip_days"]),
            samples=json.loads(str(data["samples"])),
        )

    def add(self, other: ShardResult) -> ShardResult:
        return ShardResult(
            self.running + other.running,
            self.chips + other.chips,
            self.in_scope + other.in_scope,
            self.stop_hist + other.stop_hist,
            self.licences + other.licences,
            self.chip_days + other.chip_days,
            self.samples + other.samples,
        )


def scope_mask(scenario: Scenario, world: World) -> npt.NDArray[np.bool_]:
    """Per country: the pause covers it."""
    scope = scenario.pause.scope
    if scope == "global":
        return np.ones(len(world.countries), dtype=bool)
    if scope == "members":
        return world.member.copy()
    return np.array([c in scope for c in world.countries], dtype=bool)


def _shard_rng(seed: int, start: int) -> np.random.Generator:
    return np.random.default_rng([seed, start, 0x5EED])


def run_shard(
    scenario: Scenario, world: World, seed: int, start: int, stop: int, *, sample: int = 0
) -> ShardResult:
    """Simulate chips ``start`` .. ``stop - 1`` for ``scenario.days`` days under ``seed``;
    ``sample`` chips (one of each class first) are recorded for the hybrid check."""
    reg, days, pause = scenario.regime, scenario.days, scenario.pause.day
    rng = _shard_rng(seed, start)
    n = stop - start
    ncountry = len(world.countries)
    country = world.chips_country(start, stop)

    u = rng.random(n)
    firmware = u < scenario.world.firmware_share
    offline_share = (
        scenario.adversaries.offline_chips.share if scenario.adversaries.offline_chips else 0.0
    )
    v = rng.random(n)
    cls = np.full(n, LEGACY, dtype=np.int8)
    cls[firmware] = ONLINE
    cls[firmware & (v < offline_share + scenario.world.intermittent_share)] = INTERMITTENT
    cls[firmware & (v < offline_share)] = OFFLINE

    validity, max_off = reg.licence_validity_days, reg.max_offline_days
    stagger = rng.integers(0, validity - reg.renew_before_days, n)
    gone = rng.integers(0, max_off, n)
    last = np.where(cls == OFFLINE, -gone, 0).astype(np.int64)
    """Day of the last contact (offline chips went offline up to max_offline - 1 days ago)."""
    lic_end = last - stagger + validity
    phase = rng.random(n) * reg.poll_interval_hours
    covered = scope_mask(scenario, world)[country] & firmware
    online = cls == ONLINE
    intermittent = np.flatnonzero(cls == INTERMITTENT)
    paused = np.zeros(n, dtype=bool)
    stop_day = np.full(n, -1, dtype=np.int64)

    picks = _pick_sample(rng, cls, min(sample, n))
    contacts: dict[int, list[int]] = {int(i): [] for i in picks}
    predicted: dict[int, list[bool]] = {int(i): [] for i in picks}

    running_out = np.zeros((ncountry, days), dtype=np.float64)
    licences = 0
    poll_h = reg.poll_interval_hours
    was_running = np.ones(n, dtype=bool)
    for d in range(days):
        # online chips poll when a poll time (phase + k * poll_h) falls in the day: every
        # day when polls come at most a day apart
        if poll_h <= 24:
            contact = online.copy()
        else:
            polls = np.floor((d * 24 + 24 - phase) / poll_h) - np.floor((d * 24 - phase) / poll_h)
            contact = online & (polls > 0)
        if intermittent.size:
            contact[intermittent] = (
                rng.random(intermittent.size) < scenario.world.intermittent_contact
            )
        last[contact] = d
        if d >= pause:
            reached = contact | (online if reg.push else False)
            paused |= covered & reached
            refused = covered
        else:
            refused = np.zeros(n, dtype=bool)
        renew = contact & ~refused & (lic_end - d <= reg.renew_before_days)
        lic_end[renew] = d + validity
        licences += int(renew.sum())
        running = ~firmware | (~paused & (d < lic_end) & (d - last < max_off))
        running_out[:, d] = np.bincount(country, weights=running, minlength=ncountry)
        if d >= pause:
            stopped_now = covered & was_running & ~running & (stop_day < 0)
            stop_day[stopped_now] = d
        else:
            was_running = running
        for i in picks:
            if contact[i]:
                contacts[int(i)].append(d)
            predicted[int(i)].append(bool(running[i]))

    # time from the pause to the stop, for covered chips running the day before it
    base = covered & was_running
    hours = (stop_day - pause) * 24.0
    first_day = base & (stop_day == pause) & online
    if reg.push:
        hours[first_day] = reg.push_latency_seconds / 3600.0
    else:
        since = (pause * 24 - phase[first_day]) % poll_h
        hours[first_day] = np.where(since == 0, 0.0, poll_h - since)
    stopped = base & (stop_day >= 0)
    hist, _ = np.histogram(hours[stopped], bins=np.array(STOP_BINS_HOURS))
    stop_hist = np.append(hist.astype(np.float64), float((base & (stop_day < 0)).sum()))

    samples = [
        {
            "chip": int(start + i),
            "class": CLASS_NAMES[int(cls[i])],
            "country": world.countries[int(country[i])],
            "covered": bool(covered[i]),
            "last_contact": int(-gone[i]) if cls[i] == OFFLINE else 0,
            "licence_issued": int((-gone[i] if cls[i] == OFFLINE else 0) - stagger[i]),
            "contacts": contacts[int(i)],
            "predicted": predicted[int(i)],
        }
        for i in picks
    ]
    return ShardResult(
        running=running_out,
        chips=np.bincount(country, minlength=ncountry).astype(np.float64),
        in_scope=np.bincount(country, weights=covered, minlength=ncountry).astype(np.float64),
        stop_hist=stop_hist,
        licences=licences,
        chip_days=n * days,
        samples=samples,
    )


def _pick_sample(rng: np.random.Generator, cls: npt.NDArray[np.int8], count: int) -> list[int]:
    """``count`` chips: one of each firmware class present first, then at random."""
    picks: list[int] = []
    for c in (OFFLINE, INTERMITTENT, ONLINE, LEGACY):
        idx = np.flatnonzero(cls == c)
        if idx.size and len(picks) < count:
            picks.append(int(rng.choice(idx)))
    if count > len(picks):
        free = np.ones(cls.size, dtype=bool)
        free[picks] = False
        rest = np.flatnonzero(free)
        picks.extend(int(i) for i in rng.choice(rest, count - len(picks), replace=False))
    return sorted(picks)
