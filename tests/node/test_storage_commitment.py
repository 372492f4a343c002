"""Storage commitment against a real Orthanc: N-ACTION from the node, N-EVENT-REPORT back to its SCP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from pydicom import dcmread

from dicom_node.cli import main
from dicom_node.dispatch.pipeline_process import PipelineProcess
from dicom_node.ledger import JobRecord
from dicom_node.node import Node
from dicom_node.web import create_app
from tests.support.dcmtk import storescu
from tests.support.node import make_config
from tests.support.orthanc import Orthanc
from tests.support.ports import free_port, wait_for


def _destination(orthanc: Orthanc) -> dict[str, Any]:
    return {
        "pacs": {
            "host": "127.0.0.1",
            "port": orthanc.dicom_port,
            "ae_title": orthanc.ae_title,
            "timeout_s": 10,
            "storage_commitment": True,
            "commitment_timeout_s": 120,
        }
    }


RULES = [{"name": "copy", "match": {"Modality": "CT"}, "send_to": ["pacs"]}]


def _uids(files: list[Path]) -> set[str]:
    return {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in files}


def test_every_delivered_object_ends_committed(
    start_node: Callable[..., Node],
    orthanc: Orthanc,
    ct_files: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    node = start_node(destinations=_destination(orthanc), rules=RULES)
    assert node.port is not None
    orthanc.add_modality("node", "AI_NODE", node.port)
    assert storescu(node.port, ct_files).returncode == 0
    wait_for(
        lambda: [j.state for j in node.ledger.list_jobs()] == ["delivered"],
        timeout=60,
        what="a delivered (committed) job",
    )
    job_id = int(node.ledger.list_jobs()[0].id)
    deliveries = node.ledger.deliveries(job_id)
    assert {d.sop_instance_uid for d in deliveries} == _uids(ct_files)
    assert all(
        d.commitment == "committed" and (d.committed_at or 0) >= (d.delivered_at or 1) for d in deliveries
    )
    assert node.ledger.counts()["objects_committed"] == len(ct_files)
    kinds = [e.message for e in node.ledger.job_events(job_id) if e.kind == "commitment"]
    assert any(f"{len(ct_files)} committed, 0 failed" in m for m in kinds)
    with TestClient(create_app(node)) as client:  # sent vs committed on the dashboard's API and /metrics
        (destination,) = client.get("/api/destinations").json()
        assert destination["delivered"] == destination["committed"] == len(ct_files)
        assert destination["storage_commitment"] is True
        outputs = client.get(f"/api/jobs/{job_id}").json()["deliveries"]
        assert {d["commitment"] for d in outputs} == {"committed"}
        metrics = client.get("/metrics").text
        assert f'dicom_node_objects_committed_total{{destination="pacs"}} {float(len(ct_files))}' in metrics
        assert "Committed" in client.get("/destinations").text
    config = tmp_path / "node.yaml"  # `dicom-node jobs JOB_ID` on the same ledger
    config.write_text(yaml.safe_dump({"storage": {"path": str(node.storage.root)}}))
    capsys.readouterr()
    assert main(["jobs", str(job_id), "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"outputs: {len(ct_files)}, sent {len(ct_files)}, committed {len(ct_files)}" in out
    assert out.count("commitment=committed") == len(ct_files)


@pytest.fixture
def idle_node(tmp_path: Path, orthanc: Orthanc) -> Iterator[Node]:
    """A node that receives, routes and takes commitment reports, but whose jobs the test moves on."""
    node = Node(make_config(tmp_path / "node", destinations=_destination(orthanc), rules=RULES))
    node.start(work=False)
    assert node.port is not None
    orthanc.add_modality("node", "AI_NODE", node.port)
    yield node
    node.stop()


def test_object_deleted_before_the_request_is_reported_failed_and_sent_again(
    idle_node: Node, orthanc: Orthanc, ct_files: list[Path]
) -> None:
    node = idle_node
    runner = node.executor.runner
    pipelines = PipelineProcess()
    owner = "test-owner"

    def step(expected: str) -> None:
        found: list[JobRecord] = []

        def claimed() -> bool:
            job = node.ledger.claim_job(owner, 60)
            if job is not None:
                found.append(job)
            return job is not None

        wait_for(claimed, timeout=30, what=f"the job due ({expected})")
        assert found[0].state == expected
        runner.process(found[0], owner, pipelines)

    def states() -> list[tuple[str, str | None]]:
        return [(d.state, d.commitment) for d in node.ledger.deliveries(job_id)]

    assert storescu(node.port or 0, ct_files).returncode == 0
    step("running")  # produce: one delivery per original
    job_id = int(node.ledger.list_jobs()[0].id)
    step("sending")  # send all; commitment is asked in the next round
    assert sorted(orthanc.sop_instance_uids()) == sorted(_uids(ct_files))
    assert all(s == ("delivered", None) for s in states())
    victim = sorted(_uids(ct_files))[0]
    orthanc.delete_instance(victim)  # the archive loses one object before the request
    step("sending")  # N-ACTION; Orthanc's N-EVENT-REPORT comes on a new association
    wait_for(lambda: ("pending", None) in states(), timeout=60, what=f"the failure report; now {states()}")
    by_uid = {d.sop_instance_uid: d for d in node.ledger.deliveries(job_id)}
    assert by_uid[victim].state == "pending" and "storage commitment failed" in str(by_uid[victim].last_error)
    assert all(d.commitment == "committed" for uid, d in by_uid.items() if uid != victim)
    assert node.ledger.get_job(job_id).state == "produced"  # type: ignore[union-attr]
    step("sending")  # the failed object is sent again
    assert victim in orthanc.sop_instance_uids()
    step("sending")  # and its commitment requested
    wait_for(
        lambda: all(c == "committed" for _, c in states()), timeout=60, what=f"all committed; {states()}"
    )
    if node.ledger.get_job(job_id).state != "delivered":  # type: ignore[union-attr]
        step("sending")  # the report came after the round ended, not during its N-ACTION
    assert node.ledger.get_job(job_id).state == "delivered"  # type: ignore[union-attr]
    resent = {d.sop_instance_uid: d.attempts for d in node.ledger.deliveries(job_id)}
    assert resent[victim] == 2 and all(n == 1 for uid, n in resent.items() if uid != victim)
    pipelines.kill()


def test_an_archive_that_never_commits_fails_the_job_with_the_reason(
    start_node: Callable[..., Node], orthanc: Orthanc, ct_files: list[Path]
) -> None:
    destination = _destination(orthanc)
    destination["pacs"]["commitment_timeout_s"] = 1
    orthanc.add_modality("lost", "UNKNOWN_NODE", free_port())  # Orthanc's reports go where nobody listens
    node = start_node(
        node={"ae_title": "UNKNOWN_NODE"},
        destinations=destination,
        rules=RULES,
        dispatch={"max_attempts": 2, "backoff_initial_s": 0.2, "backoff_max_s": 0.5},
    )
    assert storescu(node.port or 0, ct_files, aec="UNKNOWN_NODE").returncode == 0
    wait_for(
        lambda: [j.state for j in node.ledger.list_jobs()] == ["failed"],
        timeout=60,
        what="the job to fail",
    )
    job = node.ledger.list_jobs()[0]
    assert "no storage commitment report within 1 s" in str(job.error)
    deliveries = node.ledger.deliveries(int(job.id))
    assert all(d.state == "delivered" and d.commitment != "committed" for d in deliveries)
    assert node.ledger.counts()["objects_committed"] == 0
