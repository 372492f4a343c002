"""Alembic environment: runs against the connection handed over by dicom_node.ledger.database."""

from __future__ import annotations

from alembic import context

from dicom_node.ledger.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
