"""chain_heads: each chip's usage-report chain head in a narrow table of its own (moved out
of chips, whose wide rows ingestion rewrote once per report)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 02:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain_heads",
        sa.Column("chip_id", sa.String(length=64), nullable=False),
        sa.Column("report_seq", sa.BigInteger(), nullable=False),
        sa.Column("report_hash", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(["chip_id"], ["chips.chip_id"]),
        sa.PrimaryKeyConstraint("chip_id"),
    )
    op.execute(
        "INSERT INTO chain_heads (chip_id, report_seq, report_hash)"
        " SELECT chip_id, report_seq, report_hash FROM chips"
    )
    # in place on both databases (SQLite 3.35+ drops a plain column without a table copy)
    op.drop_column("chips", "report_hash")
    op.drop_column("chips", "report_seq")


def downgrade() -> None:
    # added as nullable (SQLite adds a NOT NULL column only with a default), then filled
    op.add_column("chips", sa.Column("report_seq", sa.BigInteger(), nullable=True))
    op.add_column("chips", sa.Column("report_hash", sa.LargeBinary(length=32), nullable=True))
    op.execute(
        "UPDATE chips SET"
        " report_seq = (SELECT h.report_seq FROM chain_heads h WHERE h.chip_id = chips.chip_id),"
        " report_hash = (SELECT h.report_hash FROM chain_heads h WHERE h.chip_id = chips.chip_id)"
    )
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("chips", "report_seq", nullable=False)
        op.alter_column("chips", "report_hash", nullable=False)
    op.drop_table("chain_heads")
