"""Rules on whole studies: fire once when a 3D T1 and a resting-state series are both in the study; when
one never comes, the rule's policy (process what arrived, discard, wait up to a limit) applies."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread

from dicom_node.dispatch.study_series import link_study_series
from dicom_node.errors import ConfigError
from dicom_node.ledger import queries
from dicom_node.node import Node
from dicom_node.samples import Patient, ct_series
from tests.support.dcmtk import StoreSCP, storescu
from tests.support.node import make_config
from tests.support.ports import wait_for

ROLES = {
    "t1": {"SeriesDescription": {"regex": "MPRAGE"}},
    "bold": {"SeriesDescription": {"regex": "REST"}},
}


@pytest.fixture
def scp(tmp_path: Path) -> Iterator[StoreSCP]:
    server = StoreSCP(tmp_path / "scp")
    server.start()
    yield server
    server.stop()


def _study(tmp_path: Path, patient_id: str) -> tuple[list[Path], list[Path]]:
    patient = Patient(patient_id=patient_id)
    t1 = ct_series(tmp_path / "t1", patient, slices=3, size=16, description="T1 MPRAGE SAG", series_number=2)
    bold = ct_series(tmp_path / "bold", patient, slices=2, size=16, description="BOLD REST", series_number=3)
    return t1, bold


def _uids(files: list[Path]) -> set[str]:
    return {str(dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files}


def _node(start_node: Callable[..., Node], scp: StoreSCP, *study_rules: dict[str, Any]) -> Node:
    return start_node(
        destinations={"scp": {"host": "127.0.0.1", "port": scp.port, "ae_title": "STORESCP", "timeout_s": 5}},
        rules=[{"name": "sink", "match": {"Modality": "MR"}, "discard": True}],  # no series rule fires
        study_rules=list(study_rules),
    )


def test_fires_once_both_series_are_in(
    start_node: Callable[..., Node], scp: StoreSCP, tmp_path: Path
) -> None:
    t1, bold = _study(tmp_path, "STUDY-BOTH")
    rule = {"name": "t1-rest", "series": ROLES, "send_to": ["scp"], "quiet_s": 1.0, "wait_max_s": 600}
    node = _node(start_node, scp, rule)
    assert storescu(node.port, t1).returncode == 0
    wait_for(lambda: node.ledger.get_series(1).state == "routed", timeout=20, what="the T1 routed")  # type: ignore[union-attr]
    time.sleep(2.5)  # past the study's quiet period: the resting-state series is missing, the rule waits
    assert node.ledger.list_jobs() == []
    assert storescu(node.port, bold).returncode == 0
    wait_for(lambda: [j.state for j in node.ledger.list_jobs()] == ["delivered"], timeout=60, what="delivery")
    assert set(scp.stored_counts()) == _uids(t1) | _uids(bold)  # every matched series, each once
    assert set(scp.stored_counts().values()) == {1}
    (job,) = node.ledger.list_jobs()
    study_uid = str(dcmread(t1[0], stop_before_pixels=True).StudyInstanceUID)
    (decision,) = node.ledger.study_decisions(study_uid)
    assert decision.decision == "fired" and decision.job_id == job.id
    assert set(json.loads(decision.roles)) == {"t1", "bold"}
    assert any("study rule 't1-rest' fired" in e["message"] for e in queries.series_events(node.ledger, 1))

    time.sleep(2.0)  # decided once: later passes of the scheduler do not fire again
    assert len(node.ledger.list_jobs()) == 1
    stored = node.ledger.get_job(job.id)
    assert stored is not None
    ticket = stored.read_ticket()
    assert ticket.series_instance_uid == str(dcmread(t1[0], stop_before_pixels=True).SeriesInstanceUID)
    assert [s.role for s in ticket.roles] == ["t1", "bold"]  # the first role is the input
    (folder,) = link_study_series(node.ledger, node.storage, ticket, tmp_path / "context")
    assert folder.name == "bold"
    assert {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in folder.iterdir()} == _uids(bold)


def test_policies_when_a_series_never_comes(
    start_node: Callable[..., Node], scp: StoreSCP, tmp_path: Path
) -> None:
    t1, _ = _study(tmp_path, "STUDY-HALF")
    common = {"series": ROLES, "send_to": ["scp"], "quiet_s": 1.0}
    node = _node(
        start_node,
        scp,
        {"name": "process", "incomplete": "process", **common},
        {"name": "discard", "incomplete": "discard", **common},
        {"name": "wait", "incomplete": "wait", "wait_max_s": 1.5, **common},
    )
    assert storescu(node.port, t1).returncode == 0
    study_uid = str(dcmread(t1[0], stop_before_pixels=True).StudyInstanceUID)
    wait_for(lambda: len(node.ledger.study_decisions(study_uid)) == 3, timeout=30, what="three decisions")
    decisions = {d.rule_name: d for d in node.ledger.study_decisions(study_uid)}
    assert decisions["process"].decision == "processed-incomplete"
    assert decisions["discard"].decision == decisions["wait"].decision == "discarded"
    assert decisions["wait"].decided_at > decisions["discard"].decided_at
    assert [j.rule_name for j in node.ledger.list_jobs()] == ["process"]
    wait_for(lambda: [j.state for j in node.ledger.list_jobs()] == ["delivered"], timeout=60, what="delivery")
    assert set(scp.stored_counts()) == _uids(t1)  # what arrived
    messages = [e["message"] for e in queries.series_events(node.ledger, 1)]
    assert any("missing bold" in m for m in messages)
    assert any("'wait': study discarded, bold never came after waiting 1.5 s" in m for m in messages)


def test_study_rules_are_checked_at_start(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"study_rules\.0\.series: series\.t1\.NoSuchTag: not a DICOM keyword"
    ):
        make_config(tmp_path, study_rules=[{"name": "x", "series": {"t1": {"NoSuchTag": 1}}, "send_to": []}])
    with pytest.raises(ConfigError, match=r"unknown destination 'nowhere'"):
        make_config(tmp_path, study_rules=[{"name": "x", "series": ROLES, "send_to": ["nowhere"]}])
