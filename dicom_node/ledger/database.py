"""Engine creation and migrations for the ledger (SQLite with WAL by default, PostgreSQL by URL)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

MIGRATIONS = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer; FULL: a commit is on disk before it returns.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_ledger_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # the ledger names studies and series: readable by the node's user and group only (SQLite's
            # -wal and -shm files take the database file's mode)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o640))
        engine = create_engine(
            url,
            poolclass=NullPool if path == ":memory:" else None,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


# Key of the PostgreSQL advisory lock held while migrating: receivers and workers starting together on
# a fresh database migrate one after the other (the later ones find the schema at head and do nothing).
MIGRATION_LOCK_KEY = 0x6C6564676572  # "ledger"
MIGRATION_ATTEMPTS = 5
_alembic_in_use = threading.Lock()  # Alembic's op/context are module globals: one migration per process


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent; safe at every start, also of several processes)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    for attempt in range(1, MIGRATION_ATTEMPTS + 1):
        try:
            with _alembic_in_use, engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, revision)
            return
        except DBAPIError:
            # SQLite has no such lock: a process migrating at the same moment makes "table already
            # exists"; once it is done, upgrading again finds the schema at head.
            if attempt == MIGRATION_ATTEMPTS:
                raise
            time.sleep(0.2 * attempt)
