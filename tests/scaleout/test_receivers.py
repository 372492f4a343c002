"""Two `dicom-node serve --no-workers` receivers sharing one PostgreSQL ledger and one storage path.

Half of each series goes to receiver A and half to receiver B, at the same time, with DCMTK storescu. The
ledger must then hold one series revision per series with every instance counted once, one completion,
and exactly one job per fired rule although both receivers' schedulers see the completed series.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from dicom_node.ledger import Ledger, open_ledger
from dicom_node.ledger import schema as t
from dicom_node.samples import Patient, ct_series
from dicom_node.storage import STALE_TEMP_AGE_S, Storage, temp_path
from tests.support.dcmtk import tool
from tests.support.node import ReceiverProcess
from tests.support.ports import free_port, wait_for

RULES = [
    {"name": "to-pacs", "match": {"Modality": "CT"}, "send_to": ["pacs"]},
    {"name": "to-archive", "match": {"Modality": "CT"}, "send_to": ["archive"]},
]


@pytest.fixture
def receivers(tmp_path: Path, postgres_url: str) -> Iterator[tuple[ReceiverProcess, ReceiverProcess, Path]]:
    shared = tmp_path / "shared"
    sections: dict[str, Any] = {
        "storage": {"path": str(shared), "database": postgres_url, "min_free_gb": 0.05},
        "series": {"complete_after_s": 5.0, "check_interval_s": 0.1},
        "destinations": {
            name: {"host": "127.0.0.1", "port": free_port(), "ae_title": name.upper()}
            for name in ("pacs", "archive")
        },
        "rules": RULES,
    }
    started: list[ReceiverProcess] = []
    try:
        for name in ("a", "b"):
            receiver = ReceiverProcess(tmp_path / name, **sections)
            receiver.start()
            started.append(receiver)
        yield started[0], started[1], shared
    finally:
        for receiver in started:
            receiver.stop()


def _count(ledger: Ledger, table: t.Table, *conditions: Any) -> int:
    with ledger.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*conditions)).scalar_one())


def test_a_series_split_across_two_receivers_is_one_series_with_one_job_per_rule(
    receivers: tuple[ReceiverProcess, ReceiverProcess, Path], postgres_url: str, tmp_path: Path
) -> None:
    a, b, shared = receivers
    # one series completes by its expected count (inside ingest), one by the quiet period (scheduler)
    counted = ct_series(tmp_path / "counted", Patient(), slices=16, size=32, images_in_acquisition=True)
    quiet = ct_series(tmp_path / "quiet", Patient(), slices=16, size=32)
    senders = [
        subprocess.Popen(
            [tool("storescu"), "-aec", "AI_NODE", "127.0.0.1", str(port), *map(str, files)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for files in (counted, quiet)
        for port, files in ((a.port, files[0::2]), (b.port, files[1::2]))  # interleaved halves
    ]
    for sender in senders:
        out, _ = sender.communicate(timeout=120)
        assert sender.returncode == 0, out.decode(errors="replace")

    ledger = open_ledger(postgres_url)
    wait_for(lambda: _count(ledger, t.jobs) >= 4, timeout=60, what="both series routed")
    time.sleep(1.0)  # both schedulers run many more rounds (every 0.1 s): any duplicate would show now

    assert _count(ledger, t.series) == 2
    assert _count(ledger, t.instances) == 32
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(t.series)).mappings().all()
    assert {(r["revision"], r["instance_count"], r["state"]) for r in rows} == {(1, 16, "routed")}
    assert {r["completion_reason"] for r in rows} == {"expected-count", "quiet-period"}
    for row in rows:
        assert _count(ledger, t.events, t.events.c.series_id == row["id"], t.events.c.kind == "complete") == 1
        jobs = [j for j in ledger.list_jobs() if j.series_id == row["id"]]
        assert sorted(j.rule_name for j in jobs) == ["to-archive", "to-pacs"]
        assert {j.state for j in jobs} == {"queued"}  # receivers run no job
    stored = list((shared / "spool").rglob("*.dcm"))
    assert len(stored) == 32
    assert not list((shared / "spool").rglob("*.tmp"))
    with ledger.engine.connect() as conn:
        paths = conn.execute(select(t.instances.c.path)).scalars().all()
    assert all((shared / p).is_file() for p in paths)


def test_start_up_clean_up_spares_temp_files_another_receiver_is_writing(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "shared", min_free_gb=0)
    folder = storage.spool / "1.2" / "1.2.3"
    folder.mkdir(parents=True)
    writer = subprocess.Popen(["sleep", "60"])  # a live receiver process on this host
    try:
        mine_crashed = temp_path(folder / "1.dcm")  # this process's former self (same pid after restart)
        live = folder / temp_path(folder / "2.dcm").name.replace(f"~{os.getpid()}.", f"~{writer.pid}.")
        other_host = folder / ".3.dcm.otherhost~1.0123456789abcdef0123456789abcdef.tmp"
        other_host_old = folder / ".4.dcm.otherhost~1.fedcba9876543210fedcba9876543210.tmp"
        for path in (mine_crashed, live, other_host, other_host_old):
            path.write_bytes(b"partial")
        old = time.time() - STALE_TEMP_AGE_S - 60
        os.utime(other_host_old, (old, old))
        assert storage.remove_stale_temp_files() == 2
        assert sorted(p.name for p in folder.iterdir()) == sorted([live.name, other_host.name])
    finally:
        writer.kill()
        writer.wait()
    assert storage.remove_stale_temp_files() == 1  # the writer is gone: its leftover goes
    assert [p.name for p in folder.iterdir()] == [other_host.name]
