"""the supply chain: parties (fabs, lithography makers, HBM suppliers, packaging sites,
vendors, exporters, importers, integrators, customs) with their own signing keys, fab
tools, export licences, and custody events signed by the party that performs them

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 22:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supply_parties",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("key_id", sa.String(length=64), sa.ForeignKey("api_keys.key_id"), nullable=True),
        sa.Column("source", sa.String(length=1024), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_id"),
    )
    op.create_table(
        "fab_tools",
        sa.Column(
            "fab_id", sa.String(length=128), sa.ForeignKey("supply_parties.id"), nullable=False
        ),
        sa.Column(
            "maker_id", sa.String(length=128), sa.ForeignKey("supply_parties.id"), nullable=False
        ),
        sa.Column("tool", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("fab_id", "maker_id", "tool"),
    )
    op.create_table(
        "export_licences",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column(
            "exporter_id", sa.String(length=128), sa.ForeignKey("supply_parties.id"), nullable=False
        ),
        sa.Column(
            "importer_id", sa.String(length=128), sa.ForeignKey("supply_parties.id"), nullable=False
        ),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.BigInteger(), nullable=False),
        sa.Column("not_after", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("custody_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("party_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("to_party", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("export_licence", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("custody_events", schema=None) as batch_op:
        batch_op.drop_column("export_licence")
        batch_op.drop_column("to_party")
        batch_op.drop_column("party_id")
    op.drop_table("export_licences")
    op.drop_table("fab_tools")
    op.drop_table("supply_parties")
