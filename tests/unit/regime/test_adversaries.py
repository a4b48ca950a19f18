"""The adversaries' Monte Carlo: which methods can see which evasion."""

from __future__ import annotations

from typing import Any

import pytest

from pausebutton.errors import ModelMismatchError
from pausebutton.regime import adversaries, world
from pausebutton.regime import scenario as sc


def _sim(
    adv: dict[str, Any], regime: dict[str, Any] | None = None, **top: Any
) -> dict[str, adversaries.Outcome]:
    s = sc.parse({"adversaries": adv, "regime": regime or {}, **top})
    return adversaries.simulate(s, world.build(s), 1)


def test_location_catches_only_relays_beyond_half_the_landmark_spacing() -> None:
    only_location = {m: {"enabled": m == "location", "sensitivity": 0.9} for m in sc.METHODS}
    near = _sim(
        {"relay_smuggling": {"relay_km_min": 10, "relay_km_max": 200}},
        {"landmark_spacing_km": 500, "methods": only_location},
    )
    far = _sim(
        {"relay_smuggling": {"relay_km_min": 300, "relay_km_max": 3000}},
        {"landmark_spacing_km": 500, "methods": only_location},
    )
    assert near["relay_smuggling"].detected == 0
    assert far["relay_smuggling"].detected == far["relay_smuggling"].attempts == 100
    assert far["relay_smuggling"].by_method == {"location": 100}


def test_no_method_in_force_detects_nothing() -> None:
    none = {m: {"enabled": False} for m in sc.METHODS}
    out = _sim(
        {"offline_chips": {}, "off_grid_power": {}, "forged_customs": {}, "relay_smuggling": {}},
        {"methods": none},
    )
    assert all(o.detected == 0 for o in out.values())


def test_the_policy_catches_a_split_run_only_when_one_owner_reaches_the_frontier() -> None:
    none = {m: {"enabled": False} for m in sc.METHODS}
    split = _sim({"run_splitting": {"run_flop": 4e25, "owners": 8}}, {"methods": none})
    lumped = _sim({"run_splitting": {"run_flop": 4e25, "owners": 2}}, {"methods": none})
    assert split["run_splitting"].detected == 0
    assert (
        lumped["run_splitting"].detected == 100
        and lumped["run_splitting"].days_to_detect == [0] * 100
    )


def test_coerced_keys_forge_a_resume_only_with_k_keys_and_the_log_shows_it() -> None:
    out = _sim({"coerced_keys": {"instances": 2000, "coerce_probability": 0.5}}, {"k": 3, "n": 5})
    o = out["coerced_keys"]
    assert 0 < o.attempts < 2000 and o.detected == o.attempts  # witnesses see every forged resume
    assert o.extra["pause_blockable"] == o.attempts  # n - k + 1 = 3 = k: the same coalitions
    blind = _sim(
        {"coerced_keys": {"instances": 2000, "coerce_probability": 0.5}},
        {"k": 3, "n": 5, "witnesses": 0},
    )
    assert blind["coerced_keys"].detected == 0


def test_member_only_methods_do_not_reach_a_non_member_state() -> None:
    only_energy = {m: {"enabled": m == "energy", "sensitivity": 0.5} for m in sc.METHODS}
    inside = _sim({"offline_chips": {"country": "RU"}}, {"methods": only_energy})
    outside = _sim(
        {"offline_chips": {"country": "RU"}}, {"methods": only_energy}, world={"members": ["US"]}
    )
    assert inside["offline_chips"].detected == 100 and outside["offline_chips"].detected == 0


def test_false_alerts_scale_with_the_rate() -> None:
    s = sc.parse({"regime": {"methods": {"energy": {"false_alarms_per_facility_year": 10}}}})
    w = world.build(s)
    alerts = adversaries.false_alerts(s, w, 1)
    assert alerts["energy"] > 100 * alerts.get("customs", 0) + 500


def test_the_split_run_verdict_is_the_real_policys() -> None:
    s = sc.parse({"adversaries": {"run_splitting": {"run_flop": 4e25, "owners": 2}}})
    adv = s.adversaries.run_splitting
    assert adv is not None
    adversaries.check_split_run(s, adv, flagged=True)  # 2e25 per owner: K of N must approve
    with pytest.raises(ModelMismatchError, match="the licensing policy says needs_approval"):
        adversaries.check_split_run(s, adv, flagged=False)
    below = s.with_overrides({"adversaries.run_splitting.owners": 8}).adversaries.run_splitting
    assert below is not None
    adversaries.check_split_run(s, below, flagged=False)
    with pytest.raises(ModelMismatchError, match="the licensing policy says approved"):
        adversaries.check_split_run(s, below, flagged=True)
