"""chips: the GPU UUID from the vendor certificate, and indexes to find a chip by its vendor
serial or GPU UUID (a second chip with either is refused)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 20:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chips", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hardware_uuid", sa.String(length=1024), nullable=True))
        batch_op.create_index("ix_chips_serial", ["vendor", "serial"], unique=False)
        batch_op.create_index("ix_chips_hardware_uuid", ["hardware_uuid"], unique=False)
    _backfill()


def _backfill() -> None:
    """Read the GPU UUID of every registered chip from its stored vendor certificate."""
    from pausebutton.protocol.envelope import decode_as
    from pausebutton.protocol.messages import DeviceCertificate

    conn = op.get_bind()
    chips = sa.table(
        "chips",
        sa.column("chip_id", sa.String),
        sa.column("certificate", sa.LargeBinary),
        sa.column("hardware_uuid", sa.String),
    )
    rows = conn.execute(sa.select(chips.c.chip_id, chips.c.certificate)).all()
    for chip_id, certificate in rows:
        _, cert = decode_as(bytes(certificate), DeviceCertificate, max_size=8192)
        if cert.hardware_uuid is not None:
            conn.execute(
                sa.update(chips)
                .where(chips.c.chip_id == chip_id)
                .values(hardware_uuid=cert.hardware_uuid)
            )


def downgrade() -> None:
    with op.batch_alter_table("chips", schema=None) as batch_op:
        batch_op.drop_index("ix_chips_hardware_uuid")
        batch_op.drop_index("ix_chips_serial")
        batch_op.drop_column("hardware_uuid")
