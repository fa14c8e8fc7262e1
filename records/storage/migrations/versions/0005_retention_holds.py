"""retention dates stored on records; holds

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 22:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention_trigger", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("trigger_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("eligible_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("destroy_by", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("disposition", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("needs_approval", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("schedule_version", sa.Integer(), nullable=True))
        batch_op.create_index("ix_records_eligible", ["eligible_on"], unique=False)
        batch_op.create_index("ix_records_destroy_by", ["destroy_by"], unique=False)
    op.create_table(
        "holds",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("placed_by", sa.String(length=128), nullable=False),
        sa.Column("placed_at", sa.DateTime(), nullable=False),
        sa.Column("released_by", sa.String(length=128), nullable=True),
        sa.Column("released_at", sa.DateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("holds")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index("ix_records_destroy_by")
        batch_op.drop_index("ix_records_eligible")
        for column in ("schedule_version", "needs_approval", "disposition", "destroy_by", "eligible_on", "trigger_date", "retention_trigger"):
            batch_op.drop_column(column)
