"""The issue's end-to-end case with Orthanc as the PACS: a patient with two T1 studies two years apart; the
new study is forwarded to the node; the node fetches the prior (C-MOVE), runs atrophy on both time points
and sends an SR with per-region change and annualised rate to Orthanc; the study forwarded again neither
fetches the prior again (no C-MOVE: Orthanc could no longer deliver one) nor measures it again (the
prior's measurements in the atrophy pipeline's cache folder are reused, the file untouched).

One module-scoped scenario (atrophy on CPU takes about a minute per series); the tests read what it saw.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from pydicom import Dataset, dcmread
from pydicom.uid import generate_uid

from dicom_node.cli import main
from dicom_node.node import Node
from dicom_node.web import create_app
from tests.support.dcmtk import storescu
from tests.support.node import make_config
from tests.support.orthanc import Orthanc
from tests.support.ports import free_port, wait_for

pytestmark = pytest.mark.slow

T1 = Path(__file__).resolve().parents[1] / "data/dcm_qa_xa30/In/5_anat-T1w_acq-tfl"
PATIENT = "PRIORS-ATROPHY-1"
BIRTH = dt.date(1955, 3, 1)
PRIOR_DATE, NEW_DATE = dt.date(2022, 7, 11), dt.date(2024, 7, 10)  # 730 days: two years apart
TRACKING_IDENTIFIER = "112039"  # DCM: Tracking Identifier, the region's name in its measurement group

# The longitudinal atrophy SR's concepts (docs/atrophy-longitudinal.md): code values of NUMs per region
VOLUME = "118565006"  # SCT Volume (the current one, mL)
PRIOR_VOLUME, CHANGE_ML, CHANGE_PERCENT = "PRIORVOL", "VOLCHANGE", "VOLCHANGEPCT"  # 99DCMNODE: mL, mL, %
ANNUAL_RATE, NORMAL_RATE = "VOLRATE", "NORMRATE"  # 99DCMNODE, %/a
INTERVAL = "385673002"  # SCT Interval (a), in the whole-image group


def _t1_study(folder: Path, date: dt.date) -> list[Path]:
    """The real XA30 3D T1 as a study of PATIENT on ``date``: new Study/Series/SOP/Frame of Reference UIDs."""
    folder.mkdir(parents=True)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    age = (date - BIRTH).days // 365
    written: list[Path] = []
    for source in sorted(p for p in T1.iterdir() if p.suffix == ".dcm"):
        ds = dcmread(source)
        ds.PatientID, ds.PatientName = PATIENT, "Priors^Atrophy"
        ds.PatientSex, ds.PatientBirthDate, ds.PatientAge = "F", f"{BIRTH:%Y%m%d}", f"{age:03d}Y"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.AccessionNumber = f"ACC{date:%Y%m%d}"
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = f"{date:%Y%m%d}"
        if "AcquisitionDateTime" in ds:
            ds.AcquisitionDateTime = f"{date:%Y%m%d}" + str(ds.AcquisitionDateTime)[8:]
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        ds.save_as(path, enforce_file_format=True)
        written.append(path)
    return written


@dataclass
class Scenario:
    node: Node
    orthanc: Orthanc
    prior_series_uid: str
    new_study_uid: str
    jobs: list[int] = field(default_factory=list)
    cache_files: list[Path] = field(default_factory=list)  # the prior's cache file after each job
    cache_stats: list[tuple[int, int]] = field(default_factory=list)  # (mtime_ns, inode) of each
    reports: list[Dataset] = field(default_factory=list)  # the SRs in Orthanc, one per job

    def events(self, job_id: int) -> list[tuple[str, str]]:
        return [(str(e.kind), str(e.message)) for e in self.node.ledger.job_events(job_id)]


def _delivered(node: Node, n: int) -> bool:
    jobs = node.ledger.list_jobs()
    failed = [j for j in jobs if j.state == "failed"]
    assert not failed, f"job failed: {failed[0].error}"
    return len(jobs) == n and all(j.state == "delivered" for j in jobs)


def _reports(orthanc: Orthanc, study_uid: str) -> list[Dataset]:
    """The SRs Orthanc holds in the study, oldest first."""
    found: list[Dataset] = []
    for series_id in orthanc.get("/series"):
        series = orthanc.get(f"/series/{series_id}")
        if series["MainDicomTags"].get("Modality") == "SR":
            found += [dcmread(io.BytesIO(orthanc.file(i))) for i in series["Instances"]]
    found = [ds for ds in found if str(ds.StudyInstanceUID) == study_uid]
    return sorted(found, key=lambda ds: (str(ds.ContentDate), str(ds.ContentTime)))


@pytest.fixture(scope="module")
def scenario(orthanc_server: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    orthanc = orthanc_server
    if not orthanc.running:
        orthanc.start()
    orthanc.clear()
    work = tmp_path_factory.mktemp("priors-atrophy")
    prior = _t1_study(work / "prior", PRIOR_DATE)
    new = _t1_study(work / "new", NEW_DATE)
    for files in (prior, new):  # the PACS holds both time points
        assert storescu(orthanc.dicom_port, files, aec=orthanc.ae_title).returncode == 0
    move_port = free_port()
    pacs = {
        "host": "127.0.0.1",
        "port": orthanc.dicom_port,
        "ae_title": orthanc.ae_title,
        "timeout_s": 30,
        "query": {
            "retrieve": "c-move",
            "move_ae_title": "AI_NODE_QR",
            "move_port": move_port,
            "confirm_completion": True,
            "confirm_after_s": 0.5,
        },
    }
    rule = {
        "name": "atrophy-longitudinal",
        "match": {"Modality": "MR", "SeriesDescription": {"regex": "T1w"}},
        "pipeline": "atrophy",
        "send_to": ["pacs"],
        "priors": {"archive": "pacs", "within_years": 5, "newest": 1},
    }
    one_worker = {"workers": 1, "lease_s": 30}  # one pipeline process: the models load once
    node = Node(make_config(work / "node", destinations={"pacs": pacs}, rules=[rule], execution=one_worker))
    node.start()
    assert node.port is not None
    orthanc.add_modality("node", "AI_NODE", node.port)  # the node may query; results come from it
    orthanc.add_modality("node-qr", "AI_NODE_QR", move_port)  # where C-MOVE sends the prior
    prior_uid = str(dcmread(prior[0], stop_before_pixels=True).SeriesInstanceUID)
    new_study = str(dcmread(new[0], stop_before_pixels=True).StudyInstanceUID)
    seen = Scenario(node, orthanc, prior_uid, new_study)
    cache = node.storage.root / "cache" / "atrophy"
    try:
        for round_ in (1, 2):
            # the PACS forwards the new study (its calling AE: the archive, which confirms completeness)
            assert storescu(node.port, new, aet=orthanc.ae_title).returncode == 0
            wait_for(lambda n=round_: _delivered(node, n), timeout=420, what=f"job {round_} delivered")
            seen.jobs = sorted(int(j.id) for j in node.ledger.list_jobs())
            files = sorted(p for p in cache.glob(f"*{prior_uid}*") if p.is_file())
            seen.cache_files += files
            seen.cache_stats += [(p.stat().st_mtime_ns, p.stat().st_ino) for p in files]
            seen.reports = _reports(orthanc, new_study)
            if round_ == 1:  # from now on Orthanc could no longer deliver a C-MOVE to the node
                orthanc.add_modality("node-qr", "AI_NODE_QR", free_port())
        yield seen
    finally:
        node.stop()


def _walk(items: Any) -> Iterator[Dataset]:
    for item in items or []:
        yield item
        yield from _walk(item.get("ContentSequence"))


def _groups(sr: Dataset) -> dict[str, dict[tuple[str, str], float]]:
    """Measurement groups by tracking identifier: {(concept code value, unit code value): value}."""
    groups: dict[str, dict[tuple[str, str], float]] = {}
    for container in _walk(sr.get("ContentSequence")):
        children = list(container.get("ContentSequence") or []) if container.ValueType == "CONTAINER" else []
        names = [
            str(c.TextValue)
            for c in children
            if c.ValueType == "TEXT" and c.ConceptNameCodeSequence[0].CodeValue == TRACKING_IDENTIFIER
        ]
        nums = {
            (
                str(c.ConceptNameCodeSequence[0].CodeValue),
                str(c.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue),
            ): float(c.MeasuredValueSequence[0].NumericValue)
            for c in children
            if c.ValueType == "NUM" and c.get("MeasuredValueSequence")
        }
        if names and nums:
            groups[names[0]] = nums
    return groups


def _values(sr: Dataset, code: str) -> dict[str, float]:
    """The NUM of concept ``code`` in each measurement group that has one, by tracking identifier."""
    return {name: v for name, nums in _groups(sr).items() for (c, _), v in nums.items() if c == code}


def test_the_node_fetches_the_prior_and_the_sr_reports_change_and_rate(scenario: Scenario) -> None:
    first = scenario.jobs[0]
    kinds = [kind for kind, _ in scenario.events(first)]
    assert kinds.count("prior-retrieved") == 1 and "prior-held" not in kinds
    assert "priors-query" in kinds
    context = scenario.node.storage.job_dir(first) / "context"
    (linked,) = (context / "priors").iterdir()
    assert linked.name == f"{PRIOR_DATE:%Y%m%d}_{scenario.prior_series_uid}"
    assert (context / "cache").is_symlink()
    assert (context / "cache").resolve() == scenario.node.storage.root / "cache" / "atrophy"

    assert len(scenario.reports) == 2  # one SR per job, each in the new study
    sr = scenario.reports[0]
    groups = _groups(sr)
    years = (NEW_DATE - PRIOR_DATE).days / 365.25
    intervals = [nums[(INTERVAL, "a")] for nums in groups.values() if (INTERVAL, "a") in nums]
    assert intervals == [pytest.approx(years, abs=0.005)]
    regional = {
        n: nums for n, nums in groups.items() if (VOLUME, "mL") in nums and (INTERVAL, "a") not in nums
    }
    assert len(regional) == 10, f"regional groups: {sorted(regional)}"  # the atrophy pipeline's 10 regions
    for name, nums in regional.items():
        volume, before = nums[(VOLUME, "mL")], nums[(PRIOR_VOLUME, "mL")]
        change_ml, change_pct = nums[(CHANGE_ML, "mL")], nums[(CHANGE_PERCENT, "%")]
        rate, normal = nums[(ANNUAL_RATE, "%/a")], nums[(NORMAL_RATE, "%/a")]
        assert change_ml == pytest.approx(volume - before, abs=0.02), name
        assert change_pct == pytest.approx(100 * (volume - before) / before, abs=0.05), name
        assert rate == pytest.approx(change_pct / years, abs=0.05), name
        assert -5 < normal < 1, name  # a woman of 67-69: the norm's volumes shrink (or hardly change)
        # the same pixels at both time points, measured the same way: no change
        assert before == pytest.approx(volume, abs=0.02) and rate == pytest.approx(0, abs=0.05), name
    texts = " ".join(str(item.TextValue) for item in _walk(sr.ContentSequence) if item.ValueType == "TEXT")
    assert scenario.prior_series_uid in texts  # the report names the prior it compared with


def test_the_resent_study_neither_fetches_nor_recomputes_the_prior(scenario: Scenario) -> None:
    second = scenario.jobs[1]
    kinds = [kind for kind, _ in scenario.events(second)]
    assert kinds.count("prior-held") == 1 and "prior-retrieved" not in kinds  # no C-MOVE (it would fail)
    assert any("already held, not retrieved again" in m for _, m in scenario.events(second))
    # the prior's measurements (one file, kept after the first job) were read, not written again
    assert len(scenario.cache_files) == 2, f"the prior's cache file after each job: {scenario.cache_files}"
    assert os.path.samefile(*scenario.cache_files)
    assert scenario.cache_stats[0] == scenario.cache_stats[1]  # (mtime_ns, inode): not rewritten
    # the second SR compares with the same prior volumes (read from that file) as the first
    first, again = (_values(report, PRIOR_VOLUME) for report in scenario.reports)
    assert len(first) == 10 and again == first


def test_queries_priors_and_completion_are_visible(
    scenario: Scenario, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node = scenario.node
    stats = node.ledger.completion_stats()
    assert (stats["priors_retrieved"], stats["priors_held"]) == (1, 1)
    assert stats["priors_queries"] >= 4  # per job: the patient's studies, then the prior study's series
    assert stats["queries"] >= 2  # each revision's instance count asked of the forwarding archive
    with TestClient(create_app(node)) as client:
        metrics = client.get("/metrics").text
        assert f'dicom_node_queries_total{{purpose="priors"}} {float(stats["priors_queries"])}' in metrics
        assert f'dicom_node_queries_total{{purpose="completion"}} {float(stats["queries"])}' in metrics
        assert 'dicom_node_priors_total{how="retrieved"} 1.0' in metrics
        assert 'dicom_node_priors_total{how="held"} 1.0' in metrics
        summary = client.get(f"/api/jobs/{scenario.jobs[1]}").json()["priors"]
        assert summary["archive"] == "pacs" and (summary["retrieved"], summary["held"]) == (0, 1)
        archive = client.get("/api/overview").json()["archive"]
        early = stats.get("completed_count-matched-early", 0)
        assert archive == {
            "queries": stats["queries"] + stats["priors_queries"],
            "priors_retrieved": 1,
            "priors_held": 1,
            "early_completions": early,
        }
        assert "Archive queries / priors / early" in client.get("/").text
        page = client.get(f"/jobs/{scenario.jobs[0]}").text
        assert re.search(r"Priors</dt><dd[^>]*>from pacs: 1 retrieved, 0 already held \(\d+ C-FIND", page)
    config = tmp_path / "node.yaml"  # `dicom-node jobs` on the same ledger
    config.write_text(yaml.safe_dump({"storage": {"path": str(node.storage.root)}}))
    capsys.readouterr()
    assert main(["jobs", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"priors queries made: {stats['priors_queries']}, priors retrieved: 1, already held: 1" in out
