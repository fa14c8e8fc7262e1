"""classification: review queue, learned student identifiers, who decided

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 22:40:00
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
        "student_identifiers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("student_id", sa.String(length=64), sa.ForeignKey("students.student_id"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("record_id", sa.String(length=32), nullable=True),
        sa.Column("added_by", sa.String(length=128), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ux_student_identifier", "student_identifiers", ["student_id", "kind", "value"], unique=True)
    op.create_index("ix_student_identifier_value", "student_identifiers", ["value"])
    op.create_table(
        "review_queue",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("record_id", sa.String(length=32), sa.ForeignKey("records.id"), nullable=False),
        sa.Column("question", sa.String(length=16), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=128), nullable=True),
    )
    op.create_index("ix_review_open", "review_queue", ["closed_at", "record_id"])
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("students_decided_by", sa.String(length=128), nullable=False, server_default="engine"))
        batch_op.add_column(sa.Column("classified_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("classifier", sa.String(length=128), nullable=True))
        batch_op.create_index("ix_records_classified", ["classified_at"], unique=False)
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_destroyed_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_column("key_destroyed_at")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index("ix_records_classified")
        batch_op.drop_column("classifier")
        batch_op.drop_column("classified_at")
        batch_op.drop_column("students_decided_by")
    op.drop_index("ix_review_open", table_name="review_queue")
    op.drop_table("review_queue")
    op.drop_index("ix_student_identifier_value", table_name="student_identifiers")
    op.drop_index("ux_student_identifier", table_name="student_identifiers")
    op.drop_table("student_identifiers")
