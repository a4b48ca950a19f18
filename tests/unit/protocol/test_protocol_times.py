"""The time syntax (``protocol/times.py``): Unix seconds and ISO 8601 name the same
instants; what names none is refused with the caller's error."""

from __future__ import annotations

import pytest

from pausebutton.errors import DataError, UsageError
from pausebutton.protocol.times import MAX_INSTANT, parse_instant, parse_optional_instant


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("1767225600", 1_767_225_600),
        (" 1767225600 ", 1_767_225_600),
        ("2026-01-01", 1_767_225_600),
        ("2026-01-01T00:00:00Z", 1_767_225_600),
        ("2026-01-01T00:00:00z", 1_767_225_600),
        ("2026-01-01T01:00:00+01:00", 1_767_225_600),
        ("2026-01-01T00:00:00.999Z", 1_767_225_600),
        ("2026-01-01 00:00:01+00:00", 1_767_225_601),
        ("9999-12-31T23:59:59Z", MAX_INSTANT),
    ],
)
def test_instants(text: str, value: int) -> None:
    assert parse_instant(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        "z",
        "now",
        "-1",
        "1e9",
        "1.5",
        "2026-01-01T00:00",  # no zone: its meaning would depend on the host
        "2026-13-01",
        "2026-02-30T00:00:00Z",
        "1969-12-31T23:59:59Z",
        str(MAX_INSTANT + 1),
        "9" * 13,
        "2026-01-01T00:00:00Z" * 5,
    ],
)
def test_not_instants(text: str) -> None:
    with pytest.raises(DataError) as info:
        parse_instant(text, "at")
    assert info.value.details["field"] == "at"
    with pytest.raises(UsageError):
        parse_instant(text, "--at", error=UsageError)


def test_optional() -> None:
    assert parse_optional_instant(None) is None
    assert parse_optional_instant("5") == 5
