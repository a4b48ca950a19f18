"""location measurements and location checks

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 06:55:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "location_measurements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("chip_id", sa.String(length=64), nullable=False),
        sa.Column("landmark_id", sa.String(length=64), nullable=False),
        sa.Column("rtt_ns", sa.BigInteger(), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("lat_e6", sa.Integer(), nullable=False),
        sa.Column("lon_e6", sa.Integer(), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chip_id"],
            ["chips.chip_id"],
            name=op.f("fk_location_measurements_chip_id_chips"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_location_measurements")),
        sa.UniqueConstraint("nonce", name=op.f("uq_location_measurements_nonce")),
    )
    op.create_index(
        "ix_location_measurements_chip",
        "location_measurements",
        ["chip_id", "time"],
        unique=False,
    )
    op.create_table(
        "location_checks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chip_id", sa.String(length=64), nullable=False),
        sa.Column("facility_id", sa.String(length=128), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        sa.Column("landmarks", sa.Integer(), nullable=False),
        sa.Column("least_distance_km", sa.Float(), nullable=False),
        sa.Column("newest_measurement", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["chip_id"],
            ["chips.chip_id"],
            name=op.f("fk_location_checks_chip_id_chips"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_location_checks")),
    )
    op.create_index("ix_location_checks_chip", "location_checks", ["chip_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_location_checks_chip", table_name="location_checks")
    op.drop_table("location_checks")
    op.drop_index("ix_location_measurements_chip", table_name="location_measurements")
    op.drop_table("location_measurements")
