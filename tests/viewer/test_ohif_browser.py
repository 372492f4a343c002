"""Our outputs in the real OHIF 3.13.2, in Debian's chromium, served by our own nginx + Orthanc.

One study per mission pipeline (rds on a real RSNA CR, atrophy on the real Siemens XA30 3D T1, fmri on
the real Siemens mosaic EPI), each with its source series and the pipeline's SEG, SR and SC uploaded to
the Orthanc behind OHIF (dicom_node.viewer.OhifServer on free loopback ports). In the viewer: the SEG
opens (prompt answered), the Segmentation panel lists every segment by its label, a click on a
segment (the first, middle and last one) jumps to a slice the segment lies on (from the
SEG's own frame references) and coloured overlay pixels are drawn there; the SR opens without
crashing, every measurement group is visited with the viewport's measurement arrows and every number
of every group appears in the drawn labels; the tracking prompt is answered. Screenshots go to
test-artifacts/viewer/.
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from tests.support.real_runs import CASES, RealRuns, Run
from tests.viewer import expected
from tests.viewer.browser import CHROMIUM, CHROMIUM_ARGS, OhifPage

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "viewer"
MISSION = [case.name for case in CASES if case.mission]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")


@pytest.fixture(scope="module")
def ohif(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from dicom_node.viewer import OhifServer, ViewerError

    try:
        server = OhifServer(tmp_path_factory.mktemp("ohif"))
    except ViewerError as exc:  # no OHIF site: `make ohif` was not run
        pytest.skip(str(exc))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _of(run: Run, modality: str) -> tuple[Path, pydicom.Dataset]:
    [path] = [p for p in run.outputs if p.name.startswith(f"{modality}-")]
    return path, pydicom.dcmread(path)


def _coloured_pixels(png: bytes) -> int:
    """Pixels of strong colour: the sources are greyscale, so these are overlay (segments, outlines)."""
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int(np.count_nonzero(rgb.max(axis=-1) - rgb.min(axis=-1) > 80))


def _check_seg(page: OhifPage, run: Run, name: str) -> None:
    path, seg = _of(run, "SEG")
    labels = [str(s.SegmentLabel) for s in seg.SegmentSequence]
    where = expected.seg_slices(path, run.source)
    page.open_series("SEG", int(seg.SeriesNumber))
    assert page.answer_yes(60), "OHIF did not ask to open the segmentation"
    rows = page.segment_rows(len(labels))
    page.shot(f"{name}-seg-loaded")
    assert "Loading SEG" not in page.viewport_text(), "the SEG never loaded"
    assert [row.split(" ", 1)[-1] for row in rows] == labels, f"panel lists {rows}"
    count = len(labels)
    for index in sorted({0, count // 2, count - 1}):  # first, middle and last segment
        segment = seg.SegmentSequence[index]
        shown = page.jump_to_segment(index)
        assert shown is not None, "no slice indicator in the viewport"
        slices = where[int(segment.SegmentNumber)][0]
        assert shown[0] in slices, f"{segment.SegmentLabel}: OHIF shows slice {shown[0]}, segment on {slices}"
        canvas = page.page.locator("[data-cy=viewport-pane]").first.screenshot()
        assert _coloured_pixels(canvas) > 20, f"{segment.SegmentLabel}: no overlay drawn on slice {shown[0]}"
    page.shot(f"{name}-seg-last-segment")


def _check_sr(page: OhifPage, run: Run, name: str) -> None:
    path, sr = _of(run, "SR")
    groups = len(set(expected.sr_tracking_ids(path)))
    page.open_series("SR", int(sr.SeriesNumber))
    page.page.wait_for_selector("[data-cy=viewport-grid] svg text", timeout=60000)
    page.page.wait_for_timeout(1500)
    page.shot(f"{name}-sr-viewport")
    body = page.page.inner_text("body")
    assert "Something went wrong" not in body, "the SR crashed OHIF"
    drawn = page.sr_labels()
    for _ in range(groups - 1):  # visit every measurement group (each may lie on another slice)
        page.next_measurement()
        drawn += page.sr_labels()
    text = "\n".join(drawn)
    missing = [label for label in expected.sr_labels(path) if label not in text]
    assert missing == [], f"numbers OHIF does not show: {missing}; drawn: {sorted(set(drawn))}"
    page.answer_yes(3)  # "continue tracking measurements?" (asked only for editable measurements)
    page.shot(f"{name}-sr-answered")
    assert "Something went wrong" not in page.page.inner_text("body")


@pytest.mark.parametrize("name", MISSION)
def test_ohif_shows_the_seg_overlay_and_every_sr_number(
    name: str, real_runs: RealRuns, ohif: Any, browser: Any
) -> None:
    run = real_runs.get(name).check()
    assert ohif.upload([run.source, run.out]) == len(list(run.source.iterdir())) + len(run.outputs)
    study = str(pydicom.dcmread(run.outputs[0], stop_before_pixels=True).StudyInstanceUID)
    page = OhifPage.new(browser, ARTIFACTS / name)
    try:
        started = time.monotonic()
        page.open_study(ohif.url, study)
        page.shot(f"{name}-study")
        opened = time.monotonic()
        _check_seg(page, run, name)
        seg_done = time.monotonic()
        _check_sr(page, run, name)
        print(
            f"{name}: study opened in {opened - started:.0f} s, SEG checked in {seg_done - opened:.0f} s, "
            f"SR in {time.monotonic() - seg_done:.0f} s"
        )
        assert not [e for e in page.errors() if "Error Boundary" in e], page.errors()
    finally:
        page.close()
