"""Alembic environment: runs on the connection the caller passes (db.migrate)."""

from __future__ import annotations

from alembic import context

from pausebutton.authority.tables import metadata
from pausebutton.translog.store import metadata as translog_metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only via pausebutton.authority.db.migrate
    raise RuntimeError("run migrations through pausebutton.authority.db.migrate")
context.configure(
    connection=connection, target_metadata=[metadata, translog_metadata], render_as_batch=True
)
with context.begin_transaction():
    context.run_migrations()
