"""Strictly increasing counters (licence ids, order sequences, log size, time tokens).

``UPDATE ... RETURNING`` takes the row's write lock (PostgreSQL) or runs under
the database write lock (SQLite BEGIN IMMEDIATE), so two workers never get the
same value and values follow commit order.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from pausebutton.authority import tables as t

COUNTERS = ("license_id", "order_sequence", "log_size", "time_sequence")


def ensure_counters(engine: Engine) -> None:
    for name in COUNTERS:
        with engine.connect() as conn:
            if conn.execute(select(t.counters.c.value).where(t.counters.c.name == name)).first():
                continue
        try:
            with engine.begin() as conn:
                conn.execute(insert(t.counters).values(name=name, value=0))
        except IntegrityError:  # another worker created it first
            pass


def next_value(conn: Connection, name: str, count: int = 1) -> int:
    """Reserve ``count`` values; returns the last one reserved."""
    marker = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(conn.dialect.paramstyle)
    if marker is None:
        value = conn.execute(
            update(t.counters)
            .where(t.counters.c.name == name)
            .values(value=t.counters.c.value + count)
            .returning(t.counters.c.value)
        ).scalar_one()
    else:  # the hot statement of every issuing transaction, through the driver
        value = conn.exec_driver_sql(
            f"UPDATE {t.counters.name} SET value = value + {marker} WHERE name = {marker}"
            " RETURNING value",
            (count, name),
        ).scalar_one()
    return int(value)
