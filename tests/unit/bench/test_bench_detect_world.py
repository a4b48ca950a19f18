"""The scenario generator of ``bench detect``: one seed gives one world.

The benchmark's figures are only comparable across versions if a seed keeps giving the
same world, so the world of one small seed is pinned here: a change to the generator
that reorders its random draws (or its signals) shows up as a changed count."""

from __future__ import annotations

from pausebutton.bench.detect import generate
from pausebutton.detect.signals import Method

SEED5_COUNTS = {
    "remote_sensing": 38,
    "whistleblower": 3,
    "energy": 1680,
    "customs": 14,
    "financial": 13,
    "dc_inspection": 4,
    "fab_inspection": 2,
    "developer_inspection": 3,
    "location": 864,
    "usage_report": 5663,
}
SEED5_KINDS = [
    "honest",
    "honest",
    "smuggle_divert",
    "covert_large",
    "disguised",
    "honest",
    "honest",
    "honest_industry",
    "honest",
    "covert_small",
    "honest",
    "smuggle_import",
    "honest",
    "covert_medium",
]


def test_one_seed_gives_the_pinned_world() -> None:
    reg, signals, actors = generate(12, 30, 5)
    assert {m.value: len(signals.get(m)) for m in Method} == SEED5_COUNTS
    assert [a.kind for a in actors] == SEED5_KINDS
    assert [a.chips for a in actors[:4]] == [168, 242, 189, 242]
    assert (len(reg.owners), len(reg.facilities), len(reg.chips), len(reg.licenses)) == (
        12,
        12,
        1913,
        3,
    )
    assert len(reg.custody) == 2 * 1913  # every registered chip: exported, then imported
    energy_mw = sum(r.power_w for r in signals.get(Method.ENERGY)) / 1e6
    assert round(energy_mw, 3) == 261.43


def test_the_same_seed_twice_gives_equal_worlds_and_another_seed_another() -> None:
    a = generate(10, 20, 9)
    b = generate(10, 20, 9)
    c = generate(10, 20, 10)
    assert a[0].chips == b[0].chips and a[2] == b[2]
    assert all(a[1].get(m) == b[1].get(m) for m in Method)
    assert a[2] != c[2]


def test_only_registered_kinds_are_in_the_registry() -> None:
    reg, _signals, actors = generate(12, 30, 5)
    unregistered = {"honest_industry", "disguised"}
    for actor in actors:
        assert (actor.site in reg.facilities) is (actor.kind not in unregistered), actor
