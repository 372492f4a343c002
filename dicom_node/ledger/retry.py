"""Transactions that lost a race are run again.

Several processes (receivers, workers) share one ledger. Where two of them insert the same row at the
same moment (the first instance of a new series at two receivers, one SOP Instance sent to both), the
database refuses the second insert (unique violation); PostgreSQL may also end a transaction that waits
in a lock cycle (deadlock), and SQLite answers "database is locked" when a reader must become a writer
while another process writes. Each of these rolls the transaction back completely, so running it again
from the start, now seeing the winner's committed rows, gives the result a serial order would have given.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from dicom_node.logsetup import get_logger

log = get_logger("dicom_node.ledger")

T = TypeVar("T")

# SQLSTATEs of PostgreSQL that mean "lost a race, try again": unique violation, serialization failure,
# deadlock detected, lock not available.
_RETRYABLE_SQLSTATES = {"23505", "40001", "40P01", "55P03"}


def lost_a_race(exc: DBAPIError) -> bool:
    """True when ``exc`` is a conflict with a concurrent transaction rather than a real error."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in _RETRYABLE_SQLSTATES
    message = str(exc.orig).lower()
    if isinstance(exc, IntegrityError):  # SQLite: "UNIQUE constraint failed: ..."
        return "unique constraint failed" in message
    return isinstance(exc, OperationalError) and ("database is locked" in message or "busy" in message)


def in_transaction(
    engine: Engine, work: Callable[[Connection], T], attempts: int = 8, within_s: float = 30.0
) -> T:
    """Run ``work`` in one transaction; run it again if it lost a race (``attempts`` times at most, and
    not after ``within_s``: a lock held that long is an outage to report, not a race)."""
    give_up_at = time.monotonic() + within_s
    for attempt in range(1, attempts + 1):
        try:
            with engine.begin() as conn:
                return work(conn)
        except DBAPIError as exc:
            if attempt == attempts or time.monotonic() > give_up_at or not lost_a_race(exc):
                raise
            log.info("ledger_transaction_retried", attempt=attempt, error=type(exc.orig).__name__)
            time.sleep(random.uniform(0.005, 0.05) * attempt)  # let the winner finish; spread the losers
    raise AssertionError("unreachable")
