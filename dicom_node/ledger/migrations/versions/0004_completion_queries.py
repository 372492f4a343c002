"""Completeness confirmed by query (what the archive said a series holds, how often it was asked, when
next) and the decisions of rules on whole studies.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("series") as batch:
        batch.add_column(sa.Column("archive_count", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("completion_queries", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_query_at", sa.Float(), nullable=True))
    op.create_table(
        "study_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_instance_uid", sa.String(64), nullable=False),
        sa.Column("rule_name", sa.String(128), nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("roles", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_study_decisions"),
        sa.UniqueConstraint("study_instance_uid", "rule_name", name="uq_study_decisions_study_rule"),
    )


def downgrade() -> None:
    op.drop_table("study_decisions")
    with op.batch_alter_table("series") as batch:
        batch.drop_column("next_query_at")
        batch.drop_column("completion_queries")
        batch.drop_column("archive_count")
