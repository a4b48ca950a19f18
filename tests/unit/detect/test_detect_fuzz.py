"""Arbitrary input never escapes as anything but a named error."""

from __future__ import annotations

import contextlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from pausebutton.detect.signals import SCHEMAS, Method, import_csv, import_json
from pausebutton.errors import InputError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(method=st.sampled_from(list(Method)), data=st.data())
def test_json_rows_never_crash(method: Method, data: st.DataObject) -> None:
    cols = SCHEMAS[method].columns()
    rows = data.draw(
        st.lists(
            st.dictionaries(st.sampled_from([*cols, "x"]), json_values, max_size=8), max_size=4
        )
    )
    try:
        res = import_json(method, json.dumps(rows), "f.json")
    except InputError:
        return
    assert len(res.signals) + len(res.errors) == len(rows)
    for e in res.errors:
        assert e.details["file"] == "f.json" and isinstance(e.details["row"], int)


@settings(max_examples=150, deadline=None)
@given(method=st.sampled_from(list(Method)), text=st.text(max_size=300))
def test_csv_text_never_crashes(method: Method, text: str) -> None:
    header = ",".join(SCHEMAS[method].columns())
    with contextlib.suppress(InputError):
        res = import_csv(method, header + "\n" + text, "f.csv")
        for e in res.errors:
            assert e.details["file"] == "f.csv"


def test_huge_integer_is_a_named_error() -> None:
    row = {
        "detection_id": "r",
        "site": "s",
        "time": "2026-01-01",
        "thermal": {"value": 10**400, "unit": "MW"},
        "confidence": 0.5,
    }
    res = import_json(Method.REMOTE_SENSING, json.dumps([row]))
    assert res.errors and res.errors[0].details["field"] == "thermal"
