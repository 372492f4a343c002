"""The promises, proven against a real `dicom-node serve` process killed with SIGKILL."""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import pytest
from pydicom import dcmread
from sqlalchemy import create_engine, select, update

from dicom_node.dispatch.executor import owner_prefix
from dicom_node.ledger import schema
from dicom_node.samples import Patient, ct_series
from dicom_node.storage import Storage
from tests.support.dcmtk import StoreSCP, acknowledged_files, storescu, tool
from tests.support.node import NodeProcess
from tests.support.ports import wait_for


def _ledger_instances(node: NodeProcess) -> dict[str, str]:
    engine = create_engine(f"sqlite:///{node.workdir / 'var' / 'ledger.db'}")
    with engine.connect() as conn:
        rows = conn.execute(select(schema.instances.c.sop_instance_uid, schema.instances.c.path)).all()
    engine.dispose()
    return {uid: path for uid, path in rows}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill9_during_ingest_loses_no_acknowledged_instance(tmp_path: Path, seed: int) -> None:
    files = ct_series(tmp_path / "ct", Patient(), slices=120, size=128)
    node = NodeProcess(tmp_path / "node", series={"complete_after_s": 300})
    node.start()
    sender = subprocess.Popen(
        [tool("storescu"), "-v", "-aec", "AI_NODE", "127.0.0.1", str(node.port), *map(str, files)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert sender.stdout is not None
    kill_after = random.Random(seed).randint(5, len(files) - 20)  # a seeded point mid-transfer
    lines: list[str] = []
    successes = 0
    for line in sender.stdout:
        lines.append(line)
        successes += "Received Store Response (Success)" in line
        if successes >= kill_after:
            node.kill9()
            break
    rest, _ = sender.communicate(timeout=120)
    acked = acknowledged_files("".join(lines) + rest)
    assert kill_after <= len(acked) < len(files)

    node.start()  # restart on the same storage and ledger
    recorded = _ledger_instances(node)
    for path in acked:
        uid = str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        assert uid in recorded, f"acknowledged instance {uid} missing from the ledger after kill -9"
        stored = node.workdir / "var" / recorded[uid]
        assert dcmread(stored).PixelData == dcmread(path).PixelData
    assert not list((node.workdir / "var" / "spool").rglob("*.tmp"))  # crash leftovers cleaned at start
    # the rest can simply be sent again and is counted once
    assert storescu(node.port, files).returncode == 0
    assert len(_ledger_instances(node)) == len(files)
    node.stop()


def test_job_held_by_a_dead_process_resumes_after_restart(tmp_path: Path) -> None:
    files = ct_series(tmp_path / "ct", Patient(), slices=4, size=32)
    scp = StoreSCP(tmp_path / "scp")
    scp.start()
    destination = {"scp": {"host": "127.0.0.1", "port": scp.port, "ae_title": "STORESCP", "timeout_s": 5}}
    node = NodeProcess(
        tmp_path / "node",
        destinations=destination,
        rules=[{"name": "copy", "match": {"Modality": "CT"}, "send_to": ["scp"]}],
        series={"complete_after_s": 0.5},
        execution={"workers": 1, "lease_s": 600},
    )
    try:
        node.start()
        assert storescu(node.port, files).returncode == 0
        db = create_engine(f"sqlite:///{node.workdir / 'var' / 'ledger.db'}")

        def job_state() -> str | None:
            with db.connect() as conn:
                return conn.execute(select(schema.jobs.c.state)).scalar()

        wait_for(lambda: job_state() == "delivered", timeout=60, what="first delivery")
        node.kill9()
        # the crash left a job mid-run with a lease that will not expire for 10 minutes
        storage = Storage(node.workdir / "var", min_free_gb=0)
        with db.begin() as conn:
            conn.execute(
                update(schema.jobs).values(
                    state="running",
                    lease_owner=owner_prefix(storage) + "dead:0",
                    lease_expires_at=time.time() + 600,
                )
            )
            conn.execute(update(schema.deliveries).values(state="pending"))
        node.start()
        wait_for(lambda: job_state() == "delivered", timeout=60, what="the resumed job to deliver again")
        with db.connect() as conn:
            kinds = [k for (k,) in conn.execute(select(schema.events.c.kind).order_by(schema.events.c.id))]
        assert "recovered" in kinds
        db.dispose()
    finally:
        node.stop()
        scp.stop()
