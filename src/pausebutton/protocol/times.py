"""The time syntax: one set of rules for every instant given as text (pure).

An instant is either Unix seconds (a whole, non-negative number) or an ISO 8601 date or
date-time with a zone::

    1767225600    2026-01-01    2026-01-01T00:00:00Z    2026-01-01T01:00:00+01:00

A date alone is midnight UTC; a date-time without a zone is refused (its meaning would
depend on the host). Fractions of a second are dropped (the protocol counts whole
seconds). Instants run from the epoch to the end of year 9999.

Used by every command-line option that takes a time (``--at``, ``--not-before``,
``--effective-at``, ``--time``, ``--now``). Each caller names the error it raises:
``UsageError`` on the command line (exit 2), ``DataError`` with the field elsewhere.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from pausebutton.errors import DataError, InputError

MAX_INSTANT = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())
"""The last accepted instant (Unix seconds): the end of year 9999."""
EXAMPLES = "Unix seconds or ISO 8601, e.g. 1767225600, 2026-01-01 or 2026-01-01T12:00:00Z"

_SECONDS = re.compile(r"\+?[0-9]{1,12}", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def parse_instant(text: str, field: str = "time", *, error: type[InputError] = DataError) -> int:
    """The Unix time (whole seconds) ``text`` denotes; ``error`` (with ``field``) when it
    denotes none.

    >>> parse_instant("2026-01-01T00:00:00Z") == parse_instant("1767225600")
    True
    """
    s = text.strip()
    if len(s) > 64:
        raise error(f"{field}: {text[:20]!r}... is not a time ({EXAMPLES})", field=field)
    if _SECONDS.fullmatch(s):
        value = int(s)
    else:
        try:
            if _DATE.fullmatch(s):
                d = date.fromisoformat(s)
                t = datetime(d.year, d.month, d.day, tzinfo=UTC)
            else:
                t = datetime.fromisoformat(s[:-1] + "+00:00" if s[-1:] in "zZ" and s else s)
        except ValueError:
            raise error(f"{field}: {text!r} is not a time ({EXAMPLES})", field=field) from None
        if t.tzinfo is None:
            raise error(
                f"{field}: {text!r} has no zone (add Z or +00:00, or give Unix seconds)",
                field=field,
            )
        value = int(t.timestamp() // 1)
    if not 0 <= value <= MAX_INSTANT:
        raise error(f"{field}: {text!r} is before 1970 or after 9999", field=field)
    return value


def parse_optional_instant(
    text: str | None, field: str = "time", *, error: type[InputError] = DataError
) -> int | None:
    """``parse_instant`` of ``text``, or None when no text is given."""
    return None if text is None else parse_instant(text, field, error=error)
