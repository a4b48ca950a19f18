"""The vectorised model: the world's layout, determinism, and what stops whom."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from pausebutton.errors import DataError
from pausebutton.regime import model, world
from pausebutton.regime import scenario as sc

CHIPS = 20_000


def _run(data: dict[str, Any], seed: int = 1) -> tuple[sc.Scenario, world.World, model.ShardResult]:
    base = {"world": {"stock_chips": CHIPS}, "days": 40, "pause": {"day": 10, "scope": "global"}}
    for key, value in data.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    s = sc.parse(base)
    w = world.build(s)
    return s, w, model.run_shard(s, w, seed, 0, CHIPS, sample=4)


def _stopped(s: sc.Scenario, r: model.ShardResult, day: int) -> float:
    total = r.running.sum(0)
    return float(1 - total[day] / total[s.pause.day - 1])


def test_the_world_spreads_the_stock_over_epoch_facilities() -> None:
    s = sc.parse({"world": {"stock_chips": 1_000_000}})
    w = world.build(s)
    assert w.chips_per_country().sum() == 1_000_000
    assert w.facilities > 400 and "US" in w.countries and w.source_h100e > 1e6
    us = w.chips_per_country()[w.country_index("US")]
    assert 0.6 < us / 1_000_000 < 0.9  # the table's weight, not an even spread
    # every chip's country, counted, is the per-country stock; a rebuild maps the same
    per_chip = w.chips_country(0, 1_000_000)
    counts = np.bincount(per_chip, minlength=len(w.countries))
    assert counts.tolist() == w.chips_per_country().tolist()
    assert world.build(s).chips_country(0, 1_000).tolist() == per_chip[:1_000].tolist()
    with pytest.raises(DataError, match="country 'XX' has no facility"):
        w.country_index("XX")
    with pytest.raises(DataError, match=re.escape("world.members names ['XX']")):
        world.build(sc.parse({"world": {"members": ["US", "XX"]}}))


def test_a_seed_reproduces_a_shard_and_another_seed_differs() -> None:
    _, _, a = _run({}, seed=1)
    _, _, b = _run({}, seed=1)
    _, _, c = _run({}, seed=2)
    assert np.array_equal(a.running, b.running) and a.samples == b.samples
    assert not np.array_equal(a.running, c.running)


def test_a_global_pause_with_push_stops_every_firmware_chip_at_once() -> None:
    s, _, r = _run({"world": {"firmware_share": 1.0, "intermittent_share": 0.0}})
    assert _stopped(s, r, s.pause.day) == pytest.approx(1.0)
    assert r.stop_hist[0] == r.in_scope.sum()  # all within a minute (5 s push)


def test_legacy_chips_never_stop() -> None:
    s, _, r = _run({"world": {"firmware_share": 0.0}})
    assert _stopped(s, r, s.days - 1) == 0.0 and r.in_scope.sum() == 0


def test_without_push_chips_stop_at_their_next_poll() -> None:
    s, _, r = _run(
        {
            "world": {"firmware_share": 1.0, "intermittent_share": 0.0},
            "regime": {"push": False, "poll_interval_hours": 48},
        }
    )
    # half the chips poll on the pause day, the rest the day after
    assert 0.3 < _stopped(s, r, s.pause.day) < 0.7
    assert _stopped(s, r, s.pause.day + 1) == pytest.approx(1.0)
    assert r.stop_hist[:4].sum() < r.stop_hist[4:6].sum()


def test_offline_chips_stop_by_the_dead_mans_switch_not_the_pause() -> None:
    s, _, r = _run(
        {
            "world": {"firmware_share": 1.0, "intermittent_share": 0.0},
            "pause": {"day": 30},
            "adversaries": {"offline_chips": {"share": 1.0}},
        }
    )
    total = r.running.sum(0)
    assert total[0] > 0 and total[s.regime.max_offline_days] == 0  # all stale within max offline


def test_a_pause_scoped_to_other_countries_stops_nothing_here() -> None:
    s, w, r = _run({"pause": {"scope": ["IS"]}, "world": {"intermittent_share": 0.0}})
    us = w.country_index("US")
    assert r.running[us, s.pause.day - 1] == r.running[us, -1]
    assert r.in_scope[us] == 0 and r.in_scope[w.country_index("IS")] > 0
