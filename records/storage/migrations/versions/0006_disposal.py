"""disposal batches and items; exit notices

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 22:55:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "disposal_batches",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("series_code", sa.String(length=64), nullable=False),
        sa.Column("schedule_version", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("needs_authorization", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("proposed_by", sa.String(length=128), nullable=False),
        sa.Column("proposed_at", sa.DateTime(), nullable=False),
        sa.Column("approved_by", sa.String(length=128), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.Column("authorization", sa.Text(), nullable=True),
        sa.Column("rejected_by", sa.String(length=128), nullable=True),
        sa.Column("rejected_at", sa.DateTime(), nullable=True),
        sa.Column("rejected_reason", sa.Text(), nullable=True),
        sa.Column("executed_by", sa.String(length=128), nullable=True),
        sa.Column("executed_at", sa.DateTime(), nullable=True),
        sa.Column("chain_head", sa.JSON(), nullable=True),
    )
    op.create_table(
        "disposal_items",
        sa.Column("batch_id", sa.String(length=32), sa.ForeignKey("disposal_batches.id"), primary_key=True),
        sa.Column("record_id", sa.String(length=32), sa.ForeignKey("records.id"), primary_key=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_disposal_items_record", "disposal_items", ["record_id"])
    op.create_table(
        "exit_notices",
        sa.Column("student_id", sa.String(length=64), sa.ForeignKey("students.student_id"), primary_key=True),
        sa.Column("exit_date", sa.Date(), primary_key=True),
        sa.Column("generated_at", sa.DateTime(), nullable=False),
        sa.Column("generated_by", sa.String(length=128), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("exit_notices")
    op.drop_index("ix_disposal_items_record", table_name="disposal_items")
    op.drop_table("disposal_items")
    op.drop_table("disposal_batches")
