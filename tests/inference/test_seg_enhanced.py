"""SEG on a real enhanced multi-frame source whose geometry is per frame (Siemens XA30 3D T1)."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
from pydicom import dcmread

from inference.registry import run_pipeline
from tests.support.dicom3tools import dciodvfy

XA30_T1 = Path(__file__).resolve().parents[1] / "data" / "dcm_qa_xa30" / "In" / "5_anat-T1w_acq-tfl"


def test_seg_on_per_frame_geometry_references_the_source_frames(tmp_path: Path) -> None:
    source = dcmread(next(XA30_T1.iterdir()))
    assert "PixelMeasuresSequence" not in source.SharedFunctionalGroupsSequence[0]  # the case under test
    outputs = {ds.Modality: ds for ds in run_pipeline("qc", XA30_T1, {})}
    assert set(outputs) == {"SEG", "SR", "OT"}
    path = tmp_path / "seg.dcm"
    outputs["SEG"].save_as(path)
    assert dciodvfy(path).errors == []
    seg = hd.seg.Segmentation.from_dataset(dcmread(path))
    referenced = seg.get_source_image_uids()
    assert {uid for _, _, uid in referenced} == {source.SOPInstanceUID}
    frames = [
        int(item.ReferencedFrameNumber)
        for frame in seg.PerFrameFunctionalGroupsSequence
        for derivation in frame.DerivationImageSequence
        for item in derivation.SourceImageSequence
    ]
    assert frames and all(1 <= f <= int(source.NumberOfFrames) for f in frames)
    # each SEG frame lies where its source frame lies
    positions = {
        i + 1: [float(v) for v in group.PlanePositionSequence[0].ImagePositionPatient]
        for i, group in enumerate(source.PerFrameFunctionalGroupsSequence)
    }
    for frame, ref in zip(seg.PerFrameFunctionalGroupsSequence, frames, strict=True):
        seg_position = [float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient]
        assert seg_position == positions[ref]
