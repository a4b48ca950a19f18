"""Hybrid truth: the sampled chips through the real firmware, enforcer and policy."""

from __future__ import annotations

from typing import Any

import pytest

from pausebutton.errors import ModelMismatchError
from pausebutton.regime import engine, model, truth, world
from pausebutton.regime import scenario as sc

CHIPS = 5_000


def _scenario(**regime: Any) -> sc.Scenario:
    return sc.parse(
        {
            "world": {"stock_chips": CHIPS, "intermittent_share": 0.3, "intermittent_contact": 0.3},
            "days": 30,
            "pause": {"day": 12, "scope": "members"},
            "regime": regime,
            "adversaries": {"offline_chips": {"share": 0.2}},
        }
    )


def _samples(
    s: sc.Scenario, seed: int = 1, count: int = 6
) -> tuple[world.World, list[dict[str, Any]]]:
    w = world.build(s)
    return w, model.run_shard(s, w, seed, 0, CHIPS, sample=count).samples


@pytest.mark.parametrize(
    "regime",
    [
        {},
        {"push": False, "poll_interval_hours": 60, "max_offline_days": 3},
        {"licence_validity_days": 5, "renew_before_days": 1, "max_offline_days": 2},
    ],
)
def test_the_model_agrees_with_the_real_code(regime: dict[str, Any]) -> None:
    s = _scenario(**regime)
    w, samples = _samples(s)
    assert {x["class"] for x in samples} >= {"online", "intermittent", "offline"}
    assert any(not all(x["predicted"]) for x in samples)  # some chip stops: the check bites
    assert truth.check_samples(s, engine.members(s, w), 1, samples) == 6 * s.days


def test_a_model_with_the_wrong_dead_mans_switch_fails_the_check() -> None:
    # the model run with a 7-day max offline, the real chips licensed with 6 days
    s = _scenario(max_offline_days=7)
    w, samples = _samples(s)
    wrong = s.with_overrides({"regime.max_offline_days": 6})
    with pytest.raises(
        ModelMismatchError, match="the model says runs, the real firmware is throttled"
    ):
        truth.check_samples(wrong, engine.members(s, w), 1, samples)


def test_a_flipped_prediction_fails_the_check() -> None:
    s = _scenario()
    w, samples = _samples(s)
    chip = next(x for x in samples if x["class"] == "online")
    chip["predicted"][s.pause.day + 1] = True  # the model "forgets" the pause
    with pytest.raises(ModelMismatchError, match=f"on day {s.pause.day + 1}: the model says runs"):
        truth.check_samples(s, engine.members(s, w), 1, [chip])
