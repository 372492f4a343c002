"""The celery backend end to end: a `serve --no-workers` receiver, Redis, `dicom-node worker` processes.

Real peers only: redis-server, Orthanc as the PACS, storescu as the modality, receivers and workers as
separate processes sharing the ledger (SQLite, or PostgreSQL) and the storage folder. The worker-kill test
sends the halves of one series to two receivers, as two modalities / a load balancer would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from dicom_node.ledger import schema as t
from dicom_node.samples import Patient, ct_series
from tests.scaleout.services import WorkerProcess
from tests.support.dcmtk import storescu
from tests.support.node import ReceiverProcess
from tests.support.orthanc import Orthanc
from tests.support.ports import wait_for

QC_OUTPUTS = 3  # the qc pipeline's SEG, SR and SC


class Deployment:
    """Receivers (`serve --no-workers`) and worker processes sharing ledger and storage, all stopped
    at the end."""

    def __init__(
        self, workdir: Path, broker_url: str, database: str | None, receivers: int = 1, **sections: Any
    ) -> None:
        storage: dict[str, Any] = {"path": str(workdir / "shared")}
        if database:
            storage["database"] = database
        self.receivers = [
            ReceiverProcess(
                workdir / f"receiver-{name}",
                storage=storage,
                execution={"backend": "celery", "broker": broker_url, "lease_s": 4, "requeue_after_s": 5},
                **sections,
            )
            for name in "ab"[:receivers]
        ]
        self.receiver = self.receivers[0]
        self.database_url = self.receiver.data["storage"].get("database") or (
            f"sqlite:///{workdir / 'shared' / 'ledger.db'}"
        )
        self.workers: list[WorkerProcess] = []

    def start_receiver(self) -> None:
        for receiver in self.receivers:
            receiver.start()

    def add_worker(self, name: str, *args: str) -> WorkerProcess:
        worker = WorkerProcess(self.receiver.config_path, self.receiver.workdir, name, *args)
        worker.start()
        self.workers.append(worker)
        return worker

    def jobs(self) -> list[dict[str, Any]]:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return [dict(r) for r in conn.execute(select(t.jobs).order_by(t.jobs.c.id)).mappings()]
        finally:
            engine.dispose()

    def table(self, table: Any, job_id: int) -> list[dict[str, Any]]:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                query = select(table).where(table.c.job_id == job_id).order_by(table.c.id)
                return [dict(r) for r in conn.execute(query).mappings()]
        finally:
            engine.dispose()

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        for receiver in self.receivers:
            receiver.stop()


def _rules() -> list[dict[str, Any]]:
    return [
        {"name": "qc", "match": {"Modality": "CT"}, "pipeline": "qc", "send_to": ["pacs"]},
        {"name": "copy", "match": {"Modality": "CT"}, "send_to": ["pacs"]},
    ]


@pytest.fixture
def deployment(tmp_path: Path, broker_url: str, pacs_destination: dict[str, Any]) -> Iterator[Any]:
    started: list[Deployment] = []

    def _make(database: str | None = None, receivers: int = 1) -> Deployment:
        d = Deployment(
            tmp_path, broker_url, database, receivers, destinations=pacs_destination, rules=_rules()
        )
        started.append(d)
        return d

    yield _make
    for d in started:
        d.stop()


def _all_delivered(d: Deployment, count: int) -> bool:
    jobs = d.jobs()
    failed = [j for j in jobs if j["state"] == "failed"]
    assert not failed, f"failed jobs: {[(j['rule_name'], j['error']) for j in failed]}"
    return len(jobs) == count and all(j["state"] == "delivered" for j in jobs)


def test_receiver_without_workers_hands_jobs_to_a_celery_worker(
    deployment: Any, orthanc: Orthanc, tmp_path: Path
) -> None:
    d = deployment()
    d.start_receiver()
    files = ct_series(tmp_path / "ct", Patient(), slices=6, size=64)
    assert storescu(d.receiver.port, files).returncode == 0
    wait_for(lambda: len(d.jobs()) == 2, timeout=60, what="the receiver to route the series")
    assert {j["state"] for j in d.jobs()} == {"queued"}  # nobody runs jobs in the receiver

    d.add_worker("w1")  # default queues: qc and forward
    wait_for(lambda: _all_delivered(d, 2), timeout=180, what="every job delivered")

    delivered_uids = [r["sop_instance_uid"] for j in d.jobs() for r in d.table(t.deliveries, j["id"])]
    assert len(delivered_uids) == len(files) + QC_OUTPUTS
    assert sorted(orthanc.sop_instance_uids()) == sorted(delivered_uids)


@pytest.mark.parametrize("ledger", ["sqlite", "postgresql"])
def test_killed_worker_mid_job_result_reaches_pacs_exactly_once(
    deployment: Any, orthanc: Orthanc, tmp_path: Path, ledger: str, request: pytest.FixtureRequest
) -> None:
    database = request.getfixturevalue("postgres_url") if ledger == "postgresql" else None
    d = deployment(database, receivers=2)
    d.start_receiver()
    workers = [d.add_worker("w1"), d.add_worker("w2")]
    files = ct_series(tmp_path / "ct", Patient(), slices=24, size=192)
    # one series, its instances sent alternately to receiver A and receiver B
    a, b = d.receivers
    assert storescu(a.port, files[0::2]).returncode == 0
    assert storescu(b.port, files[1::2]).returncode == 0

    def qc_job() -> dict[str, Any] | None:
        return next((j for j in d.jobs() if j["rule_name"] == "qc"), None)

    def running_qc() -> bool:
        job = qc_job()
        return job is not None and job["state"] == "running" and bool(job["lease_owner"])

    wait_for(running_qc, timeout=120, interval=0.05, what="a worker to run the qc pipeline")
    job = qc_job()
    assert job is not None
    victim = next(w for w in workers if w.holds(job["lease_owner"]))
    victim.kill9()  # the worker, its pool process and the pipeline child, mid-pipeline

    wait_for(lambda: _all_delivered(d, 2), timeout=240, what="every job delivered")
    survivor = next(w for w in workers if w is not victim)
    events = [e["message"] for e in d.table(t.events, job["id"])]
    assert any("stopped" in m or "expired lease" in m for m in events), events  # resumed, not finished
    deliveries = [r for j in d.jobs() for r in d.table(t.deliveries, j["id"])]
    assert len(deliveries) == len(files) + QC_OUTPUTS
    assert all(r["state"] == "delivered" and r["attempts"] == 1 for r in deliveries)  # each sent once
    qc_final = qc_job()
    assert qc_final is not None and survivor.holds(_last_owner(events))
    uids = orthanc.sop_instance_uids()
    assert len(uids) == len(set(uids)) == len(files) + QC_OUTPUTS  # no output of the killed run
    assert sorted(uids) == sorted(r["sop_instance_uid"] for r in deliveries)


def _last_owner(events: list[str]) -> str:
    """The lease owner named by the last claim event ("... (claimed by OWNER)")."""
    claims = [m for m in events if " by celery:" in m]
    return claims[-1].rsplit(" by ", 1)[-1].rstrip(")") if claims else ""
