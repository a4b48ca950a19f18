"""The scope grammar: text (command line) and JSON (API, database) give the same Scope."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pausebutton.errors import DataError, SchemaError, UsageError
from pausebutton.protocol.messages import GLOBAL, Scope, ScopeKind
from pausebutton.protocol.scopes import format_scope, parse_scope, scope_from_json, scope_to_json

CHIP = "ab" * 32


def test_text_forms() -> None:
    assert parse_scope("global") is GLOBAL
    assert parse_scope(" global ") is GLOBAL
    assert parse_scope("region:NL, DE").regions == ("NL", "DE")
    assert parse_scope("owner:acme,beta").owners == ("acme", "beta")
    assert parse_scope(f"chips:{CHIP}").chips == (bytes.fromhex(CHIP),)
    assert parse_scope(f"chips:{CHIP.upper()}").chips == (bytes.fromhex(CHIP),)


@pytest.mark.parametrize(
    "bad",
    ["planet:earth", "region:", "owner: , ", "global:NL", "", "chips:xyz", "chips:abcd", "NL"],
)
def test_grammar_errors_are_the_callers_error(bad: str) -> None:
    with pytest.raises(UsageError, match="scope"):
        parse_scope(bad)
    with pytest.raises(DataError):
        parse_scope(bad, error=DataError)


def test_entries_breaking_the_message_rules_are_schema_errors() -> None:
    with pytest.raises(SchemaError, match="ISO 3166"):
        parse_scope("region:nl")
    with pytest.raises(SchemaError, match="too many"):
        parse_scope("owner:" + ",".join(f"o{i}" for i in range(5000)))


def test_json_form_and_its_errors_name_the_field() -> None:
    scope = parse_scope(f"chips:{CHIP}")
    assert scope_to_json(scope) == {"kind": "chips", "regions": [], "owners": [], "chips": [CHIP]}
    assert scope_from_json({"kind": "region", "regions": ["NL"], "owners": None}) == Scope(
        ScopeKind.REGION, regions=("NL",)
    )
    cases = [
        ([], "scope"),
        ({"kind": "planet"}, "scope.kind"),
        ({"kind": "owner", "owners": "acme"}, "scope.owners"),
        ({"kind": "chips", "chips": ["zz"]}, "scope.chips"),
        ({"kind": "chips", "chips": ["abcd"]}, "scope.chips"),
    ]
    for data, field in cases:
        with pytest.raises(SchemaError) as info:
            scope_from_json(data)
        assert info.value.details["field"] == field, data
    with pytest.raises(SchemaError, match="needs at least one"):
        scope_from_json({"kind": "region", "regions": []})


regions = st.lists(st.sampled_from(["NL", "DE", "US", "FR", "JP"]), min_size=1, max_size=4)
owners = st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True), min_size=1, max_size=4)
chips = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=3)
scopes = st.one_of(
    st.just(GLOBAL),
    regions.map(lambda r: Scope(ScopeKind.REGION, regions=tuple(r))),
    owners.map(lambda o: Scope(ScopeKind.OWNER, owners=tuple(o))),
    chips.map(lambda c: Scope(ScopeKind.CHIPS, chips=tuple(c))),
)


@given(scopes)
def test_text_and_json_round_trip(scope: Scope) -> None:
    assert parse_scope(format_scope(scope)) == scope
    assert scope_from_json(scope_to_json(scope)) == scope
