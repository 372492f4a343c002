"""Every pipeline's outputs on the real series in tests/data, read by OHIF 3.13.2's own libraries.

node runs our copy of the ohif-check parser (tests/viewer/ohif/ohif_parse.mjs: dcmjs 0.52 and
@cornerstonejs/adapters 5.6.8, the versions bundled in OHIF 3.13.2) on the source series and the
pipeline's SEG/SR/SC together. Per case: OHIF would not crash, every SEG loads with each segment on the
slices its frames were derived from (read independently with pydicom), and every SR measurement group
is drawn on a source image with every number labelled. The browser test (test_ohif_browser.py) shows
the same in the real viewer for one case per mission pipeline.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.support.real_runs import CASES, RealRuns, Run
from tests.viewer import expected
from tests.viewer.ohif_parse import missing, parse

pytestmark = pytest.mark.skipif(missing() is not None, reason=missing() or "")


class Reports:
    """The parser's report per case, made on first use (a -k selection runs only its cases)."""

    def __init__(self, runs: RealRuns) -> None:
        self.runs = runs
        self._reports: dict[str, dict[str, Any]] = {}

    def __getitem__(self, name: str) -> tuple[Run, dict[str, Any]]:
        run = self.runs.get(name).check()
        if name not in self._reports:
            self._reports[name] = parse(run.source, run.out)
        return run, self._reports[name]


@pytest.fixture(scope="module")
def reports(real_runs: RealRuns) -> Reports:
    return Reports(real_runs)


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_ohif_does_not_crash_on_any_output(name: str, reports: Reports) -> None:
    run, report = reports[name]
    assert report["inputs"]["unreadable"] == []
    kinds = sorted(ds.Modality for ds in run.datasets)
    assert len(report["seg"]) == kinds.count("SEG") and len(report["sr"]) == kinds.count("SR")
    assert report["verdict"]["failures"] == [], "\n".join(report["verdict"]["failures"])
    assert report["verdict"]["unchecked"] == []


@pytest.mark.parametrize("name", [c.name for c in CASES if c.pipeline != "dermatitis"])
def test_every_seg_loads_with_its_segments_on_the_right_slices(name: str, reports: Reports) -> None:
    run, report = reports[name]
    if run.case.pipeline != "qc" or any(ds.Modality == "SEG" for ds in run.datasets):
        assert report["seg"], f"{name}: no SEG written"
    for seg in report["seg"]:
        assert seg["failures"] == [], seg["failures"]
        want = expected.seg_slices(seg["file"], run.source)
        labels = {int(s["SegmentNumber"]): s["SegmentLabel"] for s in seg["segments"]}
        shown = {int(s["SegmentNumber"]): s for s in seg["ohif"]["segments"]}
        assert sorted(shown) == sorted(labels), "OHIF lists a different set of segments"
        for number, (slices, pixels) in want.items():
            got = shown[number]
            assert got["SegmentLabel"] == labels[number]
            assert set(got["sourceSliceIndices"]) == slices, f"segment {labels[number]} on other slices"
            if not seg["ohif"]["overlappingSegments"]:
                assert got["voxelsOnSourceImages"] == pixels, labels[number]
        assert all(s["voxelsOnSourceImages"] > 0 for s in shown.values()), "a segment OHIF shows empty"


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_every_sr_group_is_drawn_and_every_number_shown(name: str, reports: Reports) -> None:
    _, report = reports[name]
    assert report["sr"], f"{name}: no SR written"
    for sr in report["sr"]:
        assert sr["failures"] == [], sr["failures"]
        assert sr["ohif"]["isImagingMeasurementReport"]
        measurements = sr["ohif"]["measurements"]
        tracked = set(expected.sr_tracking_ids(sr["file"]))
        assert {m["TrackingIdentifier"] for m in measurements} == tracked, "a group OHIF does not read"
        for m in measurements:
            assert m["shown"], f"group {m['TrackingIdentifier']!r} not drawn: {m['placement']}"
            assert "found among inputs" in m["placement"] or m["placement"].startswith("SCOORD3D")
            assert not m["droppedNUMs"], m["droppedNUMs"]
        drawn = Counter(label for m in measurements for label in m["labels"])
        want = expected.sr_labels(sr["file"])
        assert want, "an SR without any number"
        assert want - drawn == Counter(), f"numbers OHIF does not show: {sorted((want - drawn).elements())}"
