"""Storage commitment per delivery: requested (with its Transaction UID), committed, and when.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("commitment", sa.String(16), nullable=True))
        batch.add_column(sa.Column("transaction_uid", sa.String(64), nullable=True))
        batch.add_column(sa.Column("commitment_requested_at", sa.Float(), nullable=True))
        batch.add_column(sa.Column("committed_at", sa.Float(), nullable=True))
        batch.create_index("ix_deliveries_transaction_uid", ["transaction_uid"])


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_transaction_uid")
        batch.drop_column("committed_at")
        batch.drop_column("commitment_requested_at")
        batch.drop_column("transaction_uid")
        batch.drop_column("commitment")
