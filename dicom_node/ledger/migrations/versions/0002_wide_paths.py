"""Columns sized for PostgreSQL: paths and lease owners unbounded, instance sizes 64-bit.

SQLite never enforced the declared lengths; PostgreSQL does, and a deep ``storage.path`` or a long host
name must not make an insert fail there. A DICOM object over 2 GiB needs a 64-bit size.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_PATHS = (("series", "sample_path"), ("instances", "path"), ("deliveries", "path"))


def upgrade() -> None:
    for table, column in _PATHS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.Text(), existing_type=sa.String(512), existing_nullable=False)
    with op.batch_alter_table("instances") as batch:
        batch.alter_column(
            "size_bytes", type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False
        )
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column(
            "lease_owner", type_=sa.Text(), existing_type=sa.String(128), existing_nullable=True
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column(
            "lease_owner", type_=sa.String(128), existing_type=sa.Text(), existing_nullable=True
        )
    with op.batch_alter_table("instances") as batch:
        batch.alter_column(
            "size_bytes", type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=False
        )
    for table, column in _PATHS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.String(512), existing_type=sa.Text(), existing_nullable=False)
