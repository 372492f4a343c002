"""Series completion: quiet period, expected counts, late instances as revisions."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from pydicom.dataset import Dataset

from dicom_node.node import Node
from dicom_node.samples import Patient, ct_series
from dicom_node.series.expected import expected_frames
from tests.support.dcmtk import storescu
from tests.support.ports import wait_for

DISCARD_ALL = [{"name": "sink", "match": {}, "discard": True}]


def _series(node: Node) -> list[dict[str, object]]:
    rows = []
    for i in range(1, 50):
        row = node.ledger.get_series(i)
        if row is None:
            break
        rows.append(row.as_dict())
    return rows


def test_quiet_period_completes_and_routes_once(
    start_node: Callable[..., Node], ct_files: list[Path]
) -> None:
    node = start_node(rules=DISCARD_ALL, series={"complete_after_s": 1.5})
    for path in ct_files:  # one instance per association, as some PACS send
        assert storescu(node.port, [path]).returncode == 0
    (series,) = _series(node)
    assert series["state"] == "receiving" and series["instance_count"] == len(ct_files)
    wait_for(lambda: _series(node)[0]["state"] == "routed", timeout=20, what="routing")
    series = _series(node)[0]
    assert series["completion_reason"] == "quiet-period"
    assert float(series["completed_at"]) - float(series["last_received_at"]) >= 1.5  # type: ignore[arg-type]
    assert [j.rule_name for j in node.ledger.list_jobs()] == ["sink"]


def test_expected_count_completes_without_waiting(start_node: Callable[..., Node], tmp_path: Path) -> None:
    files = ct_series(tmp_path / "ct", Patient(), slices=5, size=32, images_in_acquisition=True)
    node = start_node(rules=DISCARD_ALL, series={"complete_after_s": 600})
    started = time.monotonic()
    assert storescu(node.port, files[:4]).returncode == 0
    assert _series(node)[0]["state"] == "receiving"
    assert storescu(node.port, files[4:]).returncode == 0
    wait_for(lambda: _series(node)[0]["state"] == "routed", timeout=20, what="routing on the expected count")
    assert time.monotonic() - started < 600
    assert _series(node)[0]["completion_reason"] == "expected-count"


def test_late_instance_opens_a_revision_that_is_processed_again(
    start_node: Callable[..., Node], ct_files: list[Path]
) -> None:
    node = start_node(rules=DISCARD_ALL, series={"complete_after_s": 1.0})
    assert storescu(node.port, ct_files[:-1]).returncode == 0
    wait_for(lambda: _series(node)[0]["state"] == "routed", timeout=20, what="first revision routed")
    assert storescu(node.port, ct_files[-1:]).returncode == 0
    wait_for(
        lambda: len(_series(node)) == 2 and _series(node)[1]["state"] == "routed",
        timeout=20,
        what="revision 2",
    )
    first, second = _series(node)
    assert (first["revision"], second["revision"]) == (1, 2)
    assert first["series_instance_uid"] == second["series_instance_uid"]
    # a revision is the whole series: every instance so far, not only the late one
    assert len(node.ledger.series_files(str(second["series_instance_uid"]), 2)) == len(ct_files)
    assert len(node.ledger.series_files(str(first["series_instance_uid"]), 1)) == len(ct_files) - 1
    assert len(node.ledger.list_jobs()) == 2  # one job per (revision, rule)


def test_late_instances_can_be_ignored(start_node: Callable[..., Node], ct_files: list[Path]) -> None:
    node = start_node(rules=DISCARD_ALL, series={"complete_after_s": 1.0, "late_instances": "ignore"})
    assert storescu(node.port, ct_files[:-1]).returncode == 0
    wait_for(lambda: _series(node)[0]["state"] == "routed", timeout=20, what="routing")
    assert storescu(node.port, ct_files[-1:]).returncode == 0
    time.sleep(2.5)  # longer than the quiet period: prove nothing new is opened
    assert len(_series(node)) == 1
    assert node.ledger.counts()["instances"] == len(ct_files)  # stored all the same: nothing is lost


def test_expected_count_rules() -> None:
    ds = Dataset()
    assert expected_frames(ds) is None
    ds.ImagesInAcquisition = 120
    assert expected_frames(ds) == 120
    ds.NumberOfTemporalPositions = 10  # vendors disagree here: the quiet period decides
    assert expected_frames(ds) is None
    del ds.NumberOfTemporalPositions
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "MOSAIC"]
    assert expected_frames(ds) is None
    concat = Dataset()
    concat.InConcatenationTotalNumber = 3
    concat.NumberOfFrames = 40
    assert expected_frames(concat) == 120
