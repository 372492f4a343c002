"""The ledger's shared core: the engine and the audit events every operation writes."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, Engine, insert

from dicom_node.ledger import schema as t


class LedgerBase:
    def __init__(self, engine: Engine, late_instances: str = "reprocess") -> None:
        self.engine = engine
        self.late_instances = late_instances

    def close(self) -> None:
        """Close the connections of this process's pool (a worker process that ends)."""
        self.engine.dispose()

    # -- events ---------------------------------------------------------------------------------
    @staticmethod
    def _event(
        conn: Connection,
        kind: str,
        message: str,
        *,
        level: str = "info",
        series_id: int | None = None,
        job_id: int | None = None,
    ) -> None:
        conn.execute(
            insert(t.events).values(
                ts=time.time(), level=level, kind=kind, series_id=series_id, job_id=job_id, message=message
            )
        )

    def add_event(self, kind: str, message: str, **kwargs: Any) -> None:
        with self.engine.begin() as conn:
            self._event(conn, kind, message, **kwargs)
