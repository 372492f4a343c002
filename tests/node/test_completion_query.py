"""Completeness confirmed by query, with Orthanc as the sending archive: a series with an instance held
back waits past the quiet period while the archive holds more; counts that match complete early; an
archive that cannot be asked, or a wait that runs out, completes with the reason in the timeline."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from dicom_node.cli import main
from dicom_node.ledger import queries
from dicom_node.node import Node
from dicom_node.samples import Patient, ct_series
from dicom_node.web import create_app
from tests.support.dcmtk import storescu
from tests.support.orthanc import Orthanc
from tests.support.ports import free_port, wait_for

DISCARD_ALL = [{"name": "sink", "match": {}, "discard": True}]


def _start(
    start_node: Callable[..., Node],
    orthanc: Orthanc,
    port: int | None = None,
    quiet_s: float = 1.0,
    **query: Any,
) -> Node:
    archive = {
        "host": "127.0.0.1",
        "port": port or orthanc.dicom_port,
        "ae_title": orthanc.ae_title,
        "timeout_s": 5,
        "query": {"confirm_completion": True, "confirm_after_s": 0.3, "confirm_interval_s": 0.3, **query},
    }
    orthanc.add_modality("node", "AI_NODE", free_port())  # Orthanc answers C-FIND to known peers only
    return start_node(rules=DISCARD_ALL, series={"complete_after_s": quiet_s}, destinations={"pacs": archive})


def _the_series(node: Node) -> dict[str, Any]:
    row = node.ledger.get_series(1)
    assert row is not None
    return row.as_dict()


def _timeline(node: Node) -> list[str]:
    return [e["message"] for e in queries.series_events(node.ledger, 1)]


def _in_orthanc(orthanc: Orthanc, tmp_path: Path, patient_id: str, slices: int = 4) -> list[Path]:
    files = ct_series(tmp_path / patient_id, Patient(patient_id=patient_id), slices=slices, size=16)
    assert storescu(orthanc.dicom_port, files, aec=orthanc.ae_title).returncode == 0
    return files


def test_a_held_back_instance_keeps_the_series_open_until_it_arrives(
    start_node: Callable[..., Node], orthanc: Orthanc, tmp_path: Path
) -> None:
    files = _in_orthanc(orthanc, tmp_path, "HELD-BACK")
    node = _start(start_node, orthanc)
    assert storescu(node.port, files[:-1], aet=orthanc.ae_title).returncode == 0  # the archive forwards
    wait_for(lambda: _the_series(node)["archive_count"] == len(files), timeout=20, what="the archive's count")
    time.sleep(2.5)  # well past the quiet period: the archive says one more exists
    series = _the_series(node)
    assert series["state"] == "receiving" and series["instance_count"] == len(files) - 1
    assert any(
        f"holds {len(files)} instances, {len(files) - 1} received: waiting" in m for m in _timeline(node)
    )

    assert storescu(node.port, files[-1:], aet=orthanc.ae_title).returncode == 0
    wait_for(lambda: _the_series(node)["state"] == "routed", timeout=20, what="completion on the last one")
    series = _the_series(node)
    assert series["completion_reason"] in ("count-matched", "count-matched-early")
    assert series["instance_count"] == len(files) and series["revision"] == 1
    assert series["completion_queries"] >= 2
    stats = node.ledger.completion_stats()
    assert stats["queries"] >= 2 and stats[f"completed_{series['completion_reason']}"] == 1


def test_matching_counts_complete_before_the_quiet_period(
    start_node: Callable[..., Node], orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _in_orthanc(orthanc, tmp_path, "EARLY")
    node = _start(start_node, orthanc, quiet_s=600)
    assert storescu(node.port, files, aet=orthanc.ae_title).returncode == 0
    wait_for(lambda: _the_series(node)["state"] == "routed", timeout=20, what="early completion")
    assert _the_series(node)["completion_reason"] == "count-matched-early"
    with TestClient(create_app(node)) as client:  # the dashboard, its API and /metrics
        metrics = client.get("/metrics").text
        assert "dicom_node_completion_queries_total 1.0" in metrics
        assert 'dicom_node_series_completed_by_reason_total{reason="count-matched-early"} 1.0' in metrics
        (listed,) = client.get("/api/series").json()
        assert (listed["archive_count"], listed["completion_queries"]) == (len(files), 1)
        assert "count-matched-early" in client.get(f"/series/{listed['id']}").text
    config = tmp_path / "node.yaml"  # `dicom-node jobs` on the same ledger
    config.write_text(yaml.safe_dump({"storage": {"path": str(node.storage.root)}}))
    capsys.readouterr()
    assert main(["jobs", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "count-matched-early" in out and "completion queries made: 1, early completions: 1" in out
    assert main(["jobs", "1", "--config", str(config)]) == 0
    assert (
        f"series complete by count-matched-early, archive count {len(files)}, 1 queries"
        in capsys.readouterr().out
    )


def test_the_wait_for_missing_instances_is_bounded(
    start_node: Callable[..., Node], orthanc: Orthanc, tmp_path: Path
) -> None:
    files = _in_orthanc(orthanc, tmp_path, "NEVER")
    node = _start(start_node, orthanc, confirm_max_wait_s=1.0)
    assert storescu(node.port, files[:-2], aet=orthanc.ae_title).returncode == 0
    wait_for(lambda: _the_series(node)["state"] == "routed", timeout=30, what="completion after the wait")
    series = _the_series(node)
    assert series["completion_reason"] == "query-wait-exceeded"
    assert float(series["completed_at"]) - float(series["last_received_at"]) >= 2.0  # quiet + max wait
    assert any(f"only {len(files) - 2} received" in m for m in _timeline(node))


def test_an_archive_that_cannot_be_asked_falls_back_to_the_quiet_period(
    start_node: Callable[..., Node], orthanc: Orthanc, tmp_path: Path
) -> None:
    files = ct_series(tmp_path / "ct", Patient(patient_id="DOWN"), slices=3, size=16)
    node = _start(start_node, orthanc, port=free_port())  # nothing listens there
    assert storescu(node.port, files, aet=orthanc.ae_title).returncode == 0
    wait_for(lambda: _the_series(node)["state"] == "routed", timeout=30, what="quiet-period completion")
    series = _the_series(node)
    assert series["completion_reason"] == "query-failed"
    assert float(series["completed_at"]) - float(series["last_received_at"]) >= 1.0
    assert any("could not be asked" in m and "association" in m for m in _timeline(node))


def test_scanners_that_are_not_archives_keep_the_quiet_period(
    start_node: Callable[..., Node], orthanc: Orthanc, tmp_path: Path
) -> None:
    files = _in_orthanc(orthanc, tmp_path, "SCANNER")
    node = _start(start_node, orthanc)
    assert storescu(node.port, files[:-1], aet="SCANNER").returncode == 0
    wait_for(lambda: _the_series(node)["state"] == "routed", timeout=20, what="quiet-period completion")
    series = _the_series(node)
    assert series["completion_reason"] == "quiet-period" and series["completion_queries"] == 0
