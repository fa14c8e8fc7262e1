"""audit chain: an event's hash is no longer a unique index

Nothing looks an event up by its hash: the chain is read by ``seq``, and a verifier
recomputes every hash and compares it with the next event's ``prev_hash``. Two events
cannot share a hash anyway (the hashed body holds the event's own ``seq``). The index
on 64 random hex characters cost a write at a random place of a growing B-tree for every
event, and at a few hundred thousand events it no longer fitted SQLite's page cache: a
1 GB mbox stored about 6% faster without it, and its catalog was 34 MB smaller.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 15:35:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# SQLite's unique constraint from 0001 has no name: batch mode names it by this convention.
_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table("audit_events", recreate="always", naming_convention=_NAMING) as batch:
            batch.drop_constraint("uq_audit_events_hash", type_="unique")
        return
    for constraint in sa.inspect(bind).get_unique_constraints("audit_events"):
        if constraint["column_names"] == ["hash"]:
            op.drop_constraint(constraint["name"], "audit_events", type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.create_unique_constraint("uq_audit_events_hash", ["hash"])
