"""What an act of the demo reports: its outcome, tables and notes (nothing here prints)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


class ExpectationFailed(Exception):
    """A step's outcome was not what the story expects (the demo then fails)."""


@dataclass
class TableData:
    title: str
    columns: list[str]
    rows: list[list[str]]


@dataclass
class StepResult:
    number: int
    key: str
    title: str
    explanation: str
    ok: bool = False
    seconds: float = 0.0
    summary: str = ""
    failure: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    tables: list[TableData] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "key": self.key,
            "title": self.title,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "summary": self.summary,
            "failure": self.failure,
            "notes": self.notes,
            "data": self.data,
        }


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise ExpectationFailed(message)


def sci(text: str) -> str:
    """Long integers in a message as 2.0e+25 (for display)."""
    return re.sub(r"\d{13,}", lambda m: f"{int(m.group()):.1e}", text)


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
