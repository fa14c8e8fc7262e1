"""intake lanes: each lane says in the catalog that it polls the queue, and when it last did

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 04:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake_lanes",
        sa.Column("worker", sa.String(length=128), primary_key=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("intake_lanes")
