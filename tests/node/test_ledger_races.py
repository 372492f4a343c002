"""Several receivers and schedulers on one ledger: concurrent ingest, completion and routing of the same
series give one series revision, every instance counted once, one completion and one job per fired rule.

Each contender has its own :class:`Ledger` (own engine and connections), as a separate process would;
a barrier releases them together. Runs on SQLite and on a real PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import ColumnElement, Table, func, select, text

from dicom_node.ledger import Ledger, open_ledger
from dicom_node.ledger import schema as t
from tests.node.test_ledger import SERIES, head_revision, job, record

T = TypeVar("T")
CONTENDERS = 8


def race(ledger_url: str, work: Callable[[Ledger, int], T], contenders: int = CONTENDERS) -> list[T]:
    """Run ``work(ledger, i)`` in ``contenders`` threads, each with its own ledger, all released at once."""
    open_ledger(ledger_url)  # migrate once, before the race
    ledgers = [open_ledger(ledger_url) for _ in range(contenders)]
    barrier = threading.Barrier(contenders)

    def contender(i: int) -> T:
        barrier.wait()
        return work(ledgers[i], i)

    with ThreadPoolExecutor(contenders) as pool:
        results = list(pool.map(contender, range(contenders)))
    for ledger in ledgers:
        ledger.engine.dispose()
    return results


def count(ledger: Ledger, table: Table, *conditions: ColumnElement[bool]) -> int:
    with ledger.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*conditions)).scalar_one())


def test_instances_of_one_new_series_at_many_receivers(ledger_url: str) -> None:
    per_receiver = 5

    def receive(ledger: Ledger, i: int) -> None:
        # every receiver gets its own instances, and all of them get instance 0 (sent twice by a modality)
        batch = [record(0)] + [record(1 + i * per_receiver + k) for k in range(per_receiver)]
        ledger.record_instances(batch)

    race(ledger_url, receive)
    ledger = open_ledger(ledger_url)
    assert count(ledger, t.series) == 1
    (series,) = ledger.complete_quiet_series(quiet_s=0, now=10**10)
    row = ledger.get_series(series)
    assert row is not None
    assert (row.revision, row.instance_count) == (1, 1 + CONTENDERS * per_receiver)
    assert count(ledger, t.instances) == 1 + CONTENDERS * per_receiver
    with ledger.engine.connect() as conn:
        receipts = conn.execute(
            select(t.instances.c.receive_count).where(t.instances.c.sop_instance_uid == f"{SERIES}.0")
        ).scalar_one()
    assert receipts == CONTENDERS


def test_the_last_instances_complete_the_series_once(ledger_url: str) -> None:
    expected = CONTENDERS + 2
    open_ledger(ledger_url).record_instances([record(100, expected=expected), record(101, expected=expected)])

    def receive(ledger: Ledger, i: int) -> bool:
        return ledger.record_instances([record(i, expected=expected)])[0].completed

    completed = race(ledger_url, receive)
    assert completed.count(True) == 1
    ledger = open_ledger(ledger_url)
    assert count(ledger, t.events, t.events.c.kind == "complete") == 1
    assert count(ledger, t.series) == 1


def test_quiet_completion_by_many_schedulers_happens_once(ledger_url: str) -> None:
    open_ledger(ledger_url).record_instances([record(1), record(2)])
    done = race(ledger_url, lambda ledger, _: ledger.complete_quiet_series(quiet_s=0, now=10**10))
    assert sum(len(ids) for ids in done) == 1
    assert count(open_ledger(ledger_url), t.events, t.events.c.kind == "complete") == 1


def _route(ledger: Ledger) -> list[int]:
    """What every receiver's scheduler does: route the complete series it sees."""
    created: list[int] = []
    for series in ledger.complete_unrouted():
        created += ledger.route_series(series.id, [job("to-pacs"), job("to-ai", "pipeline")], "2 fired")
    return created


def test_many_schedulers_route_a_series_into_one_job_per_rule(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    ledger.record_instances([record(1), record(2)])
    ledger.complete_quiet_series(quiet_s=0, now=10**10)
    created = race(ledger_url, lambda contender, _: _route(contender))
    assert sorted(len(jobs) for jobs in created) == [0] * (CONTENDERS - 1) + [2]
    assert count(ledger, t.jobs) == 2
    assert {j.rule_name for j in ledger.list_jobs()} == {"to-pacs", "to-ai"}
    assert count(ledger, t.events, t.events.c.kind == "routed") == 1


def _scheduler_process(
    url: str,
    migrated: multiprocessing.synchronize.Barrier,
    start: multiprocessing.synchronize.Event,
    out: multiprocessing.Queue[int],
) -> None:
    migrated.wait()  # all processes start (and migrate the fresh ledger) together
    ledger = open_ledger(url)
    migrated.wait()
    start.wait()
    out.put(len(_route(ledger)))


def test_scheduler_processes_start_together_and_route_a_series_once(ledger_url: str) -> None:
    """Separate processes: migrating a fresh ledger at the same moment, then routing the same series."""
    processes_n = 3
    ctx = multiprocessing.get_context("spawn")
    migrated = ctx.Barrier(processes_n + 1)
    start = ctx.Event()
    out: multiprocessing.Queue[int] = ctx.Queue()
    processes = [
        ctx.Process(target=_scheduler_process, args=(ledger_url, migrated, start, out))
        for _ in range(processes_n)
    ]
    for process in processes:
        process.start()
    try:
        migrated.wait(timeout=60)
        migrated.wait(timeout=60)
        ledger = open_ledger(ledger_url)
        ledger.record_instances([record(1)])
        ledger.complete_quiet_series(quiet_s=0, now=10**10)
        start.set()
        results = sorted(out.get(timeout=60) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    assert results == [0] * (processes_n - 1) + [2]
    assert count(ledger, t.jobs) == 2
    with ledger.engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar_one() == head_revision()
