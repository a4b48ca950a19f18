"""The scenario file: defaults, the examples, and bad values named with their allowed range."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pausebutton.errors import DataError
from pausebutton.regime import scenario as sc

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_the_defaults_are_a_valid_scenario() -> None:
    s = sc.parse({})
    assert s.regime.max_offline_days == 7 and s.world.stock_chips == 4_000_000
    assert set(s.regime.methods) == set(sc.METHODS)
    assert len(sc.METHODS) == 10


@pytest.mark.parametrize("name", ["world-pause", "covert-cluster", "smuggling-ring"])
def test_every_example_loads(name: str) -> None:
    s = sc.load(EXAMPLES / f"{name}.toml")
    assert s.name == name
    assert s.adversaries.active()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"regime": {"max_offline_days": 400}},
            "regime.max_offline_days = 400 is out of range: allowed 1 to 365",
        ),
        (
            {"world": {"firmware_share": 1.5}},
            "world.firmware_share = 1.5 is out of range: allowed 0.0 to 1.0",
        ),
        (
            {"regime": {"methods": {"energy": {"sensitivity": 2}}}},
            "regime.methods.energy.sensitivity = 2 is out of range: allowed 0.0 to 1.0",
        ),
        (
            {"adversaries": {"relay_smuggling": {"instances": -1}}},
            "adversaries.relay_smuggling.instances = -1 is out of range: allowed 0 to 1000000",
        ),
        ({"days": 0}, "days = 0 is out of range: allowed 1 to 3650"),
    ],
)
def test_an_out_of_range_value_is_named_with_its_range(
    data: dict[str, object], expected: str
) -> None:
    with pytest.raises(DataError) as info:
        sc.parse(data)
    assert expected in info.value.message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"regime": {"k": 6, "n": 5}}, "regime.k = 6 must be at most regime.n = 5"),
        ({"pause": {"day": 90}, "days": 90}, "pause.day = 90 must be below days = 90"),
        ({"regime": {"methods": {"telepathy": {}}}}, "unknown verification method"),
        ({"regimen": {}}, "regimen: Extra inputs are not permitted"),
        ({"world": {"members": "some"}}, "world.members"),
    ],
)
def test_inconsistent_or_unknown_values_are_refused(data: dict[str, object], expected: str) -> None:
    with pytest.raises(DataError, match=expected):
        sc.parse(data)


def test_a_file_that_is_not_toml_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("days = = 3\n")
    with pytest.raises(DataError, match="not valid TOML"):
        sc.load(path)
    with pytest.raises(DataError, match="cannot read"):
        sc.load(tmp_path / "missing.toml")


def test_overrides_are_validated_and_change_the_digest() -> None:
    base = sc.parse({})
    changed = base.with_overrides({"regime.max_offline_days": 3})
    assert changed.regime.max_offline_days == 3 and changed.digest() != base.digest()
    assert base.with_overrides({}).digest() == base.digest()
    with pytest.raises(DataError, match=re.escape("regime.max_offline_days = 0 is out of range")):
        base.with_overrides({"regime.max_offline_days": 0})
    with pytest.raises(DataError, match=re.escape("no scenario parameter 'regime.nope'")):
        base.with_overrides({"regime.nope": 1})
