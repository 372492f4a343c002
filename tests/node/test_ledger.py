"""The ledger schema: migrations create exactly the tables the code uses; SQLite runs in WAL mode."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from dicom_node.ledger import open_ledger, schema


def test_migrations_match_the_schema(tmp_path: Path) -> None:
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    with ledger.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
        assert diff == []
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("select version_num from alembic_version")).scalar() == "0001"


def test_migrating_twice_is_harmless(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    open_ledger(url).add_event("test", "first start")
    ledger = open_ledger(url)
    with ledger.engine.connect() as conn:
        assert conn.execute(text("select count(*) from events")).scalar() == 1
