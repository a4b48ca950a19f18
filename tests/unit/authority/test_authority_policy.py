"""The licensing policy engine (pure): rules as data, every finding with its reason."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pausebutton.authority.policy import (
    APPROVED,
    NEEDS_APPROVAL,
    REFUSE,
    ChipFacts,
    Facts,
    Policy,
    evaluate,
)
from pausebutton.errors import DataError
from pausebutton.protocol.flop import parse_flop

NOW = 1_800_000_000
DAY = 86400


def chip(i: int = 0, **kw: object) -> ChipFacts:
    base = {
        "registered": True,
        "owner": "acme",
        "status": "installed",
        "facility": "dc1",
        "facility_verified": True,
        "region": "US",
    }
    base.update(kw)
    return ChipFacts(f"{i:064x}", **base)  # type: ignore[arg-type]


def facts(**kw: object) -> Facts:
    base = Facts(
        owner="acme",
        owner_country="US",
        run_id="r1",
        flop_budget=10**20,
        not_before=NOW,
        not_after=NOW + 30 * DAY,
        now=NOW,
        chips=(chip(),),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def rules(decision: object) -> set[str]:
    return {f.rule for f in decision.findings}  # type: ignore[attr-defined]


def test_small_run_on_registered_chips_at_verified_facility_is_approved() -> None:
    d = evaluate(Policy(), facts())
    assert d.outcome == APPROVED and d.findings == ()


def test_frontier_threshold_is_inclusive() -> None:
    assert evaluate(Policy(), facts(flop_budget=10**25 - 1)).outcome == APPROVED
    d = evaluate(Policy(), facts(flop_budget=10**25))
    assert d.outcome == NEEDS_APPROVAL and rules(d) == {"frontier"}


def test_run_splitting_by_run_and_by_owner() -> None:
    d = evaluate(Policy(), facts(flop_budget=4 * 10**24, run_window_total=6 * 10**24))
    assert d.outcome == NEEDS_APPROVAL and "run r1 adds up" in d.reasons[0]
    d = evaluate(Policy(), facts(flop_budget=4 * 10**24, owner_window_total=6 * 10**24))
    assert d.outcome == NEEDS_APPROVAL and "owner acme adds up" in d.reasons[0]
    assert d.aggregate_flop == 10**25


def test_caps_refuse_with_reasons() -> None:
    p = Policy(owner_caps={"acme": 10**21}, country_caps={"US": 5 * 10**20})
    d = evaluate(p, facts(owner_active_total=10**21, country_active_total=10**21))
    assert d.outcome == REFUSE and rules(d) == {"owner_cap", "country_cap"}
    assert all(f.field == "flop_budget" for f in d.findings)
    assert evaluate(Policy(default_owner_cap=10**19), facts()).outcome == REFUSE


def test_chip_rules() -> None:
    d = evaluate(
        Policy(),
        facts(
            chips=(
                chip(0),
                chip(1, registered=False),
                chip(2, owner="beta"),
                chip(3, status="destroyed"),
                chip(4, facility=None),
            )
        ),
    )
    assert d.outcome == REFUSE
    assert len([f for f in d.findings if f.rule == "registry"]) == 4
    d = evaluate(Policy(), facts(chips=(chip(0, facility_verified=False),)))
    assert d.outcome == NEEDS_APPROVAL and rules(d) == {"facility"}
    p = Policy(verified_facility_for_auto=False)
    assert evaluate(p, facts(chips=(chip(0, facility_verified=False),))).outcome == APPROVED


def test_pause_in_scope_refuses_renewal() -> None:
    d = evaluate(Policy(), facts(paused_by=(7,)))
    assert d.outcome == REFUSE and "7" in d.reasons[0]


def test_request_rules() -> None:
    d = evaluate(Policy(max_period=DAY), facts())
    assert d.outcome == REFUSE and d.findings[0].field == "not_after"
    assert evaluate(Policy(), facts(not_after=NOW - 1, not_before=NOW - 10)).outcome == REFUSE
    assert evaluate(Policy(), facts(chips=())).outcome == REFUSE
    assert evaluate(Policy(), facts(flop_budget=0)).outcome == REFUSE


def test_engine_collects_every_finding_and_refusal_wins() -> None:
    d = evaluate(Policy(), facts(flop_budget=10**26, paused_by=(1,)))
    assert d.outcome == REFUSE and rules(d) == {"pause", "frontier"}


def test_policy_from_dict_round_trip_and_errors() -> None:
    p = Policy.from_dict(
        {
            "frontier_flop": "1e26",
            "owner_caps": {"acme": "5e24"},
            "verified_facility_for_auto": False,
            "split_window": 86400,
        }
    )
    assert p.frontier_flop == 10**26 and p.owner_caps == {"acme": 5 * 10**24}
    assert Policy.from_dict(p.to_dict()) == p
    with pytest.raises(DataError) as info:
        Policy.from_dict({"frontier": 1})
    assert info.value.details["field"] == "frontier"
    with pytest.raises(DataError):
        Policy.from_dict({"max_period": True})


def test_parse_flop_is_exact() -> None:
    assert parse_flop("1e25") == 10**25
    assert parse_flop("3.5e24") == 35 * 10**23
    assert parse_flop("1_000") == 1000
    for bad in ("1.5", "1e-3", "e5", "1e999", "x", "9" * 100):
        with pytest.raises(DataError):
            parse_flop(bad)


@given(
    st.integers(min_value=1, max_value=10**30),
    st.integers(min_value=0, max_value=10**26),
    st.integers(min_value=0, max_value=10**26),
)
def test_needs_approval_iff_aggregate_reaches_threshold(budget: int, run: int, owner: int) -> None:
    d = evaluate(
        Policy(), facts(flop_budget=budget, run_window_total=run, owner_window_total=owner)
    )
    reaches = max(budget, budget + run, budget + owner) >= 10**25
    assert (d.outcome == NEEDS_APPROVAL) == reaches


H100 = 989 * 10**12


def test_capacity_refuses_budgets_the_chips_cannot_compute() -> None:
    period = 30 * DAY
    one = (chip(0, peak_flops=H100),)
    two = (chip(0, peak_flops=H100), chip(1, peak_flops=H100))
    # the case: 3e25 FLOP for one H100 over 30 days (it can do about 2.6e21)
    d = evaluate(Policy(), facts(chips=one, flop_budget=3 * 10**25))
    assert d.outcome == REFUSE and "capacity" in rules(d)
    assert evaluate(Policy(), facts(chips=one, flop_budget=H100 * period)).outcome == APPROVED
    d = evaluate(Policy(), facts(chips=one, flop_budget=H100 * period + 1))
    assert d.outcome == REFUSE and rules(d) == {"capacity"}
    # capacity adds up over the chips
    assert evaluate(Policy(), facts(chips=two, flop_budget=2 * H100 * period)).outcome == APPROVED
    # a chip of unknown peak leaves the application uncapped
    unknown = (chip(0, peak_flops=H100), chip(1))
    assert "capacity" not in rules(evaluate(Policy(), facts(chips=unknown, flop_budget=10**24)))
