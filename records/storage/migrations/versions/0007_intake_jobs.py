"""the intake queue: files claimed by workers under a lease

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 01:45:00
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
        "intake_jobs",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("companions", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("submitted_by", sa.String(length=128), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("owner_staff_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
    )
    op.create_index("ix_intake_jobs_state", "intake_jobs", ["state", "lease_until"])
    op.create_index("ix_intake_jobs_path", "intake_jobs", ["path"])


def downgrade() -> None:
    op.drop_index("ix_intake_jobs_path", table_name="intake_jobs")
    op.drop_index("ix_intake_jobs_state", table_name="intake_jobs")
    op.drop_table("intake_jobs")
