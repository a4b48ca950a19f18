"""Tables for people, JSON for scripts: one helper every listing verb prints through.

A listing verb names its columns (header, the row's field, how to format it for people);
``show_rows`` prints a Rich table with those headers, ``—`` for an empty cell, a line
saying so when there are no rows, and a count when the list was limited. Under ``--json``
it prints the rows as the authority answered them (exact numbers, Unix seconds), limited
only when ``--limit`` is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import typer

from pausebutton.cli.common import out, print_json
from pausebutton.protocol.flop import format_flop
from pausebutton.protocol.units import (
    format_duration,
    format_instant,
    format_km,
    format_megawatts,
    round_float,
)

DEFAULT_LIMIT = 100
"""Rows a table shows unless ``--limit`` says otherwise (``--json`` shows every row)."""

LimitOpt = Annotated[
    int | None,
    typer.Option(
        "--limit",
        min=0,
        help=f"Show at most this many rows (0: all; default {DEFAULT_LIMIT} in a table,"
        " all in JSON).",
    ),
]

EMPTY = "—"


def text(value: Any) -> str:
    """A cell as text: ``—`` for none, yes/no for booleans, floats rounded."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return round_float(value)
    if isinstance(value, list | tuple):
        return ", ".join(text(v) for v in value) or EMPTY
    return str(value)


def instant(value: Any) -> str:
    return EMPTY if value is None else format_instant(int(value))


def flop(value: Any) -> str:
    return EMPTY if value is None else format_flop(value)


def megawatts(value: Any) -> str:
    return format_megawatts(value)


def km(value: Any) -> str:
    return format_km(value)


def duration(value: Any) -> str:
    return EMPTY if value is None else format_duration(value)


def short_id(value: Any) -> str:
    """A long hex id cut to 16 digits and an ellipsis (``--json`` has it whole)."""
    s = text(value)
    return s if len(s) <= 17 else s[:16] + "…"


@dataclass(frozen=True)
class Column:
    """One column: its ``header`` (with the unit where there is one), the row's ``field``
    and how a value reads (``fmt``)."""

    header: str
    field: str
    fmt: Callable[[Any], str] = text
    justify: Literal["left", "right"] = "left"
    whole: bool = False
    """Never broken across lines (ids people copy; times and quantities are never broken
    either): the other columns wrap instead."""


def show_rows(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    *,
    json_out: bool,
    noun: str,
    limit: int | None = None,
    empty: str | None = None,
    title: str | None = None,
) -> None:
    """Print ``rows`` as a table of ``columns`` (or JSON). ``noun`` names the rows in the
    count and the empty-state line (``no facilities``, or ``empty`` when given)."""
    if json_out:
        print_json(list(rows if not limit else rows[:limit]))
        return
    if not rows:
        out.print(empty or f"no {noun}", markup=False)
        return
    cap = DEFAULT_LIMIT if limit is None else limit
    shown = rows if cap == 0 else rows[:cap]
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False)
    for c in columns:
        whole = c.whole or c.fmt in (instant, flop, megawatts, km, duration)
        table.add_column(
            c.header,
            justify=c.justify,
            overflow="fold",
            no_wrap=whole,
            min_width=max(len(w) for w in c.header.split()),
        )
    for r in shown:
        table.add_row(*(c.fmt(r.get(c.field)) for c in columns))
    out.print(table)
    if len(shown) < len(rows):
        out.print(
            f"{len(shown)} of {len(rows)} {noun} shown (--limit 0 for all, --json for every field)",
            markup=False,
        )
    else:
        out.print(f"{noun}: {len(rows)}", markup=False)


def show_record(data: dict[str, Any], fields: Sequence[Column], *, json_out: bool) -> None:
    """One object: ``field  value`` lines for people, the whole object under ``--json``."""
    if json_out:
        print_json(data)
        return
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE, show_header=False, pad_edge=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for c in fields:
        table.add_row(c.header, c.fmt(data.get(c.field)))
    out.print(table)
