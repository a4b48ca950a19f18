"""gnss_fixes: chips' GNSS position fixes as their agents reported them, each with its
check against the chip's round-trip times and its facility

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 22:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gnss_fixes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chip_id", sa.String(length=64), sa.ForeignKey("chips.chip_id"), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=False),
        sa.Column("facility_id", sa.String(length=128), nullable=True),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chip_id", "time", name="uq_gnss_chip_time"),
    )
    op.create_index("ix_gnss_fixes_time", "gnss_fixes", ["time"])


def downgrade() -> None:
    op.drop_index("ix_gnss_fixes_time", table_name="gnss_fixes")
    op.drop_table("gnss_fixes")
