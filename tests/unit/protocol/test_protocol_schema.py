"""Typed payloads (P1-P5): the codec derived from the dataclass annotations."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from pausebutton.errors import NonCanonicalError, SchemaError
from pausebutton.protocol import encoding
from pausebutton.protocol.messages import License, Scope, ScopeKind
from pausebutton.protocol.schema import Payload, Struct, payload_class, register


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Inner(Struct):
    n: int
    label: str | None = None


@dataclass(frozen=True)
class Sample(Payload):
    TYPE = "test-sample"

    count: int
    blob: bytes
    name: str
    flag: bool
    colour: Colour
    inner: Inner
    items: tuple[Inner, ...]
    table: Mapping[str, int]
    note: str | None = None
    tags: tuple[str, ...] = ()
    maybe_list: tuple[int, ...] | None = None
    level: int = 0


def sample(**changes: Any) -> Sample:
    base = Sample(
        count=2**70,
        blob=b"\x01\x02",
        name="n",
        flag=False,
        colour=Colour.BLUE,
        inner=Inner(n=1),
        items=(Inner(n=2, label="x"),),
        table={"b": 2, "a": 1},
    )
    return dataclasses.replace(base, **changes)


def value_of(**changes: Any) -> dict[str, Any]:
    value = sample().to_value()
    for k, v in changes.items():
        value[k] = v
    return value


def test_round_trip_p1_p5() -> None:
    s = sample(note="hi", tags=("a", "b"), maybe_list=(1,))
    data = s.encode()
    back = Sample.decode_payload(data)
    assert back == s
    assert back.encode() == data
    assert encoding.decode(data)["colour"] == "blue"


def test_absent_optionals_are_omitted_p2() -> None:
    value = sample().to_value()
    assert "note" not in value and "tags" not in value and "maybe_list" not in value
    assert "label" not in value["inner"]
    assert sample(tags=()).to_value() == value


def test_null_is_rejected_p2() -> None:
    with pytest.raises(SchemaError, match="null"):
        Sample.from_value(value_of(note=None))
    with pytest.raises(SchemaError):
        Sample.from_value(value_of(count=None))
    with pytest.raises(SchemaError):
        Sample.from_value(value_of(inner={"n": 1, "label": None}))


def test_empty_list_for_optional_is_non_canonical_p2() -> None:
    with pytest.raises(NonCanonicalError):
        Sample.from_value(value_of(tags=[]))
    with pytest.raises(NonCanonicalError):
        Sample.from_value(value_of(maybe_list=[]))
    # a required list may be empty
    assert Sample.from_value(value_of(items=[])).items == ()


def test_field_with_a_default_is_always_encoded_and_required_p2_p5() -> None:
    value = sample().to_value()
    assert value["level"] == 0
    del value["level"]
    with pytest.raises(SchemaError, match="level"):
        Sample.from_value(value)


def test_unknown_fields_preserved_p4() -> None:
    value = value_of(**{"zz-new": [1, {"k": b"v"}], "x": "y"})
    value["inner"] = {"n": 1, "inner-new": True}
    data = encoding.encode(value)
    back = Sample.decode_payload(data)
    assert back.extra == {"zz-new": [1, {"k": b"v"}], "x": "y"}
    assert back.inner.extra == {"inner-new": True}
    assert back.encode() == data
    assert back == sample()  # extra is not part of equality


def test_extra_is_reserved() -> None:
    with pytest.raises(SchemaError):
        Sample.from_value(value_of(extra=1))


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("count", "1"),
        ("count", True),
        ("blob", "01"),
        ("name", b"n"),
        ("flag", 0),
        ("colour", "green"),
        ("colour", ["red"]),
        ("inner", [1]),
        ("inner", {"label": "no n"}),
        ("items", {"n": 1}),
        ("items", [{"n": "1"}]),
        ("table", [1]),
        ("table", {"a": "1"}),
        ("tags", "ab"),
        ("tags", [1]),
    ],
)
def test_wrong_types_are_schema_errors(field: str, bad: object) -> None:
    with pytest.raises(SchemaError):
        Sample.from_value(value_of(**{field: bad}))


def test_missing_required_field_names_it() -> None:
    value = value_of()
    del value["blob"]
    with pytest.raises(SchemaError) as info:
        Sample.from_value(value)
    assert info.value.details["field"] == "blob"


def test_nested_error_path() -> None:
    with pytest.raises(SchemaError) as info:
        Sample.from_value(value_of(items=[{"n": 1}, {"n": "x"}]))
    assert info.value.details["field"] == "items[1].n"


def test_not_a_map() -> None:
    with pytest.raises(SchemaError):
        Sample.from_value([1])
    with pytest.raises(SchemaError):
        Sample.decode_payload(encoding.encode([1]))


def test_decode_payload_rejects_non_canonical_bytes() -> None:
    import cbor2

    value = sample().to_value()
    shuffled = dict(reversed(list(value.items())))
    with pytest.raises(NonCanonicalError):
        Sample.decode_payload(cbor2.dumps(shuffled))


def test_validate_runs_on_decode() -> None:
    lic = License(
        license_id=1,
        chip_id=bytes(32),
        not_before=0,
        not_after=10,
        flop_budget=1,
        max_offline=1,
    )
    value = lic.to_value()
    value["flop_budget"] = 0
    with pytest.raises(SchemaError):
        License.from_value(value)


def test_decoded_objects_are_real_frozen_dataclasses() -> None:
    s = Sample.decode_payload(sample(note="n").encode())
    assert isinstance(s, Sample)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.count = 1  # type: ignore[misc]
    assert dataclasses.replace(s, count=3).count == 3
    assert s.tags == () and s.maybe_list is None  # defaults filled in
    assert hash(Scope.from_value({"kind": "global"})) == hash(Scope(ScopeKind.GLOBAL))


def test_post_init_classes_use_the_constructor() -> None:
    seen: list[int] = []

    @dataclass(frozen=True)
    class WithPostInit(Struct):
        n: int

        def __post_init__(self) -> None:
            seen.append(self.n)

    WithPostInit.from_value({"n": 5})
    assert seen == [5]


def test_register_and_lookup() -> None:
    assert payload_class("license", 1) is License
    assert payload_class("license", 2) is None

    @dataclass(frozen=True)
    class Twin(Payload):
        TYPE = "license"

        x: int

    with pytest.raises(TypeError):
        register(Twin)
