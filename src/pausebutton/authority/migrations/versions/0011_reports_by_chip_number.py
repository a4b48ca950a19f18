"""usage_reports keyed by the chip's number (chain_heads.chip_no) and the sequence, not by
the chip's 64-character id: index entries of a few bytes instead of about 80, a sixth of
the index to keep in memory and to rewrite (benchmarks/report_index.py: a fleet's batch
costs 0.45 of the CPU over the first 30 reports per chip, 0.72 at 300)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_FIELDS = (
    "sequence",
    "hash",
    "time",
    "flop_full",
    "license_id",
    "license_flop_used",
    "state",
    "envelope",
    "received_at",
)
"""A stored report's columns besides the one naming its chip."""
_REPORT_COLUMNS = ", ".join(_FIELDS)


def _report_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("flop_full", sa.Text(), nullable=False),
        sa.Column("license_id", sa.BigInteger(), nullable=True),
        sa.Column("license_flop_used", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
    ]


def _set_aside(reports_key: str) -> None:
    """Copy both tables aside (each report with its chip's id; ``reports_key`` is the
    column the reports name their chip by now) and drop them: the new tables take the old
    ones' names, keys and constraint names."""
    op.execute(
        "CREATE TABLE heads_0011 AS SELECT h.chip_id, h.report_seq, h.report_hash,"
        " c.registered_at FROM chain_heads h JOIN chips c ON c.chip_id = h.chip_id"
    )
    op.execute(
        f"CREATE TABLE reports_0011 AS SELECT h.chip_id, {_prefixed('r')}"
        f" FROM usage_reports r JOIN chain_heads h ON h.{reports_key} = r.{reports_key}"
    )
    op.drop_table("usage_reports")
    op.drop_table("chain_heads")


def _prefixed(alias: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in _FIELDS)


def _restore_heads() -> None:
    op.execute(
        "INSERT INTO chain_heads (chip_id, report_seq, report_hash)"
        " SELECT chip_id, report_seq, report_hash FROM heads_0011"
        " ORDER BY registered_at, chip_id"
    )


def _drop_aside() -> None:
    op.drop_table("reports_0011")
    op.drop_table("heads_0011")


def upgrade() -> None:
    _set_aside("chip_id")
    op.create_table(
        "chain_heads",
        sa.Column("chip_no", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chip_id", sa.String(length=64), nullable=False),
        sa.Column("report_seq", sa.BigInteger(), nullable=False),
        sa.Column("report_hash", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["chip_id"], ["chips.chip_id"], name=op.f("fk_chain_heads_chip_id_chips")
        ),
        sa.PrimaryKeyConstraint("chip_no", name=op.f("pk_chain_heads")),
        sa.UniqueConstraint("chip_id", name=op.f("uq_chain_heads_chip_id")),
    )
    op.create_table(
        "usage_reports",
        sa.Column("chip_no", sa.Integer(), autoincrement=False, nullable=False),
        *_report_columns(),
        sa.ForeignKeyConstraint(
            ["chip_no"],
            ["chain_heads.chip_no"],
            name=op.f("fk_usage_reports_chip_no_chain_heads"),
        ),
        sa.PrimaryKeyConstraint("chip_no", "sequence", name=op.f("pk_usage_reports")),
    )
    _restore_heads()
    op.execute(
        f"INSERT INTO usage_reports (chip_no, {_REPORT_COLUMNS})"
        f" SELECT h.chip_no, {_prefixed('r')} FROM reports_0011 r"
        " JOIN chain_heads h ON h.chip_id = r.chip_id ORDER BY h.chip_no, r.sequence"
    )
    _drop_aside()


def downgrade() -> None:
    _set_aside("chip_no")
    op.create_table(
        "chain_heads",
        sa.Column("chip_id", sa.String(length=64), nullable=False),
        sa.Column("report_seq", sa.BigInteger(), nullable=False),
        sa.Column("report_hash", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["chip_id"], ["chips.chip_id"], name=op.f("fk_chain_heads_chip_id_chips")
        ),
        sa.PrimaryKeyConstraint("chip_id", name=op.f("pk_chain_heads")),
    )
    op.create_table(
        "usage_reports",
        sa.Column("chip_id", sa.String(length=64), nullable=False),
        *_report_columns(),
        sa.ForeignKeyConstraint(
            ["chip_id"], ["chips.chip_id"], name=op.f("fk_usage_reports_chip_id_chips")
        ),
        sa.PrimaryKeyConstraint("chip_id", "sequence", name=op.f("pk_usage_reports")),
    )
    _restore_heads()
    op.execute(
        f"INSERT INTO usage_reports (chip_id, {_REPORT_COLUMNS})"
        f" SELECT chip_id, {_REPORT_COLUMNS} FROM reports_0011 ORDER BY chip_id, sequence"
    )
    _drop_aside()
