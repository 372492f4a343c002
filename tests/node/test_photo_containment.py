"""Photographs go back only to the PACS they came from (issue 8).

A real node runs the dermatitis pipeline on generated photographs and sends to two destinations: the real
Orthanc (the source PACS) and a DCMTK storescp (a research destination). The SC summary shows the
photograph, so only the source receives it; the SR (no pixels) reaches both; each job ends delivered with
an event saying what was withheld. Who the source is comes from the calling AE title of the association
that brought the photograph.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import Comprehensive3DSRStorage, SecondaryCaptureImageStorage

from dicom_node.config import DestinationConfig, build_config
from dicom_node.dispatch.photo_containment import (
    is_source,
    never_source_destinations,
    plan_deliveries,
    source_pixel_classes,
)
from dicom_node.errors import ConfigError
from dicom_node.node import Node
from inference.pipelines.dermatitis import synthetic
from inference.pipelines.dermatitis.samples import photograph_dataset
from tests.support.dcmtk import StoreSCP, storescu
from tests.support.orthanc import Orthanc
from tests.support.ports import wait_for

ROUTER_AET = "PACS_ROUTER"  # a second AE title the source PACS forwards from (destination.source_aets)
CAMERA_AET = "DERM_CAMERA"  # a modality sending directly: no configured destination stands for it


@pytest.fixture
def research(tmp_path: Path) -> Iterator[StoreSCP]:
    scp = StoreSCP(tmp_path / "research", ae_title="RESEARCH")
    scp.start()
    yield scp
    scp.stop()


def _photo(folder: Path, seed: int) -> Path:
    levels = np.zeros((3, 4, 3), int)
    levels[1, 1:3] = (3, 1, 0)
    pixels = synthetic.photograph(levels, 320, 240, seed=seed).pixels
    folder.mkdir(parents=True)
    path = folder / "photo.dcm"
    photograph_dataset(pixels, jpeg=True).save_as(path, enforce_file_format=True)
    return path


def _by_study(datasets: list[bytes]) -> dict[str, set[str]]:
    """StudyInstanceUID → SOP Class UIDs received for it."""
    found: dict[str, set[str]] = {}
    for raw in datasets:
        ds = dcmread(io.BytesIO(raw), stop_before_pixels=True)
        found.setdefault(str(ds.StudyInstanceUID), set()).add(str(ds.SOPClassUID))
    return found


def test_photograph_summary_reaches_only_the_source_pacs(
    start_node: Callable[..., Node],
    orthanc: Orthanc,
    research: StoreSCP,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    node = start_node(
        destinations={
            "pacs": {
                "host": "127.0.0.1",
                "port": orthanc.dicom_port,
                "ae_title": orthanc.ae_title,
                "source_aets": [ROUTER_AET],
                "timeout_s": 5,
            },
            "research": {"host": "127.0.0.1", "port": research.port, "ae_title": "RESEARCH", "timeout_s": 5},
        },
        rules=[
            {
                "name": "derm",
                "match": {"Modality": "XC"},
                "pipeline": "dermatitis",
                "send_to": ["pacs", "research"],
            }
        ],
        pipelines={"dermatitis": {"device": "cpu"}},
    )
    assert node.port is not None
    senders = {"orthanc": orthanc.ae_title, "router": ROUTER_AET, "camera": CAMERA_AET}
    studies: dict[str, str] = {}
    for seed, (name, aet) in enumerate(senders.items()):
        photo = _photo(tmp_path / "send" / name, seed)
        studies[name] = str(dcmread(photo, stop_before_pixels=True).StudyInstanceUID)
        sent = storescu(node.port, [photo], "--propose-jpeg8", aet=aet)
        assert sent.returncode == 0, sent.stderr

    def states() -> list[str]:
        jobs = node.ledger.list_jobs()
        failed = [str(j.error) for j in jobs if j.state == "failed"]
        assert not failed, failed
        return [str(j.state) for j in jobs]

    wait_for(lambda: states().count("delivered") == 3, timeout=90, what=f"3 delivered jobs; now {states()}")

    sr, sc = str(Comprehensive3DSRStorage), str(SecondaryCaptureImageStorage)
    at_pacs = _by_study([orthanc.file(i) for i in orthanc.get("/instances")])
    at_research = _by_study([p.read_bytes() for p in research.out.iterdir() if p.is_file()])
    # The source PACS (by its own AE title, or by an AE title it stands for) gets SR and the photograph.
    assert at_pacs[studies["orthanc"]] == {sr, sc}
    assert at_pacs[studies["router"]] == {sr, sc}
    # A photograph from an AE title no destination stands for has no source: nobody gets its SC.
    assert at_pacs[studies["camera"]] == {sr}
    # The research destination never gets a photograph, only the SRs.
    assert at_research == {study: {sr} for study in studies.values()}

    withheld: dict[str, list[str]] = {}
    for job in node.ledger.list_jobs():
        assert job.state == "delivered" and not job.error
        ticket_study = dcmread(
            next(node.storage.job_dir(int(job.id)).joinpath("input").iterdir()), stop_before_pixels=True
        ).StudyInstanceUID
        events = node.ledger.job_events(int(job.id))
        withheld[str(ticket_study)] = sorted(str(e.message) for e in events if e.kind == "withheld")
    assert [m.split(":")[0] for m in withheld[studies["orthanc"]]] == [
        "withheld 1 object(s) (Secondary Capture) from research"
    ]
    assert len(withheld[studies["router"]]) == 1
    assert [m.split(":")[0] for m in withheld[studies["camera"]]] == [
        "withheld 1 object(s) (Secondary Capture) from pacs",
        "withheld 1 object(s) (Secondary Capture) from research",
    ]
    assert f"calling AE title {CAMERA_AET}" in withheld[studies["camera"]][0]
    log = capfd.readouterr().out  # the in-process node logs to stdout
    assert log.count("outputs_withheld") == 4
    assert "Synthetic^Skin" not in log and "DERM-0001" not in log  # no PHI in the log lines


def _destination(**extra: Any) -> DestinationConfig:
    return DestinationConfig.model_validate({"host": "127.0.0.1", "port": 104, "ae_title": "PACS", **extra})


def test_the_source_must_stand_for_every_calling_ae_of_the_series() -> None:
    pacs = _destination(source_aets=["ROUTER"])
    assert is_source(pacs, {"PACS"}) and is_source(pacs, {"ROUTER"}) and is_source(pacs, {"PACS", "ROUTER"})
    assert not is_source(pacs, {"PACS", "CAMERA"})  # part of the series came from elsewhere
    assert not is_source(pacs, {"pacs"})  # AE titles are case-sensitive
    assert not is_source(pacs, {""}) and not is_source(pacs, set())  # unknown caller: no source
    assert not is_source(None, {"PACS"})  # a destination no longer configured


def test_only_declared_outputs_are_contained() -> None:
    contained = source_pixel_classes("dermatitis")
    assert str(SecondaryCaptureImageStorage) in contained
    assert str(Comprehensive3DSRStorage) not in contained
    assert source_pixel_classes("qc") == frozenset() and source_pixel_classes(None) == frozenset()
    outputs = [
        ("sr.dcm", "1.2.3", str(Comprehensive3DSRStorage)),
        ("sc.dcm", "1.2.4", str(SecondaryCaptureImageStorage)),
    ]
    plan = plan_deliveries(
        ["pacs", "research"],
        outputs,
        {"pacs": _destination(), "research": _destination(ae_title="RESEARCH")},
        contained,
        {"PACS"},
    )
    assert sorted((s.destination, s.sop_instance_uid) for s in plan.specs) == [
        ("pacs", "1.2.3"),
        ("pacs", "1.2.4"),
        ("research", "1.2.3"),
    ]
    assert [(w.destination, w.objects) for w in plan.withheld] == [("research", 1)]
    everywhere = plan_deliveries(["research"], outputs, {"research": _destination()}, frozenset(), {"X"})
    assert len(everywhere.specs) == 2 and not everywhere.withheld


def test_config_names_destinations_that_can_never_be_a_source() -> None:
    data: dict[str, Any] = {
        "node": {"allowed_calling_aets": ["PACS", "ROUTER"]},
        "destinations": {
            "pacs": {"host": "127.0.0.1", "port": 104, "ae_title": "PACS"},
            "research": {"host": "127.0.0.1", "port": 105, "ae_title": "RESEARCH"},
            "mirror": {"host": "127.0.0.1", "port": 106, "ae_title": "MIRROR", "source_aets": ["ROUTER"]},
        },
        "rules": [
            {
                "name": "derm",
                "match": {"Modality": "XC"},
                "pipeline": "dermatitis",
                "send_to": ["pacs", "research", "mirror"],
            },
            {"name": "ct", "match": {"Modality": "CT"}, "pipeline": "qc", "send_to": ["research"]},
        ],
    }
    assert never_source_destinations(build_config(data, environ={})) == [("derm", "research")]
    data["destinations"]["research"]["source_aets"] = ["bad\\title"]
    with pytest.raises(ConfigError, match=r"destinations\.research\.source_aets\.0"):
        build_config(data, environ={})
