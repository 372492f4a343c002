"""What OHIF must show for our objects, read with pydicom from the objects and their sources.

Independent of OHIF's code: the slices each SEG segment must land on (from the SEG frames' own source
references) and the label OHIF must draw for every NUM of an SR ("<concept>: <value to 2 places> <unit>",
the format of OHIF 3.13.2's SR handler).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
MEASUREMENTS, GROUP, TRACKING_ID = "126010", "125007", "112039"


def _frames(path: Path, ds: Dataset) -> list[tuple[str, int, list[float] | None, list[float] | None, int]]:
    """(SOP Instance UID, frame number, position, orientation, instance number) per frame of a source."""
    number = int(ds.get("InstanceNumber") or 0)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if int(ds.get("NumberOfFrames") or 1) > 1 and per_frame:
        shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else Dataset()
        found = []
        for index, item in enumerate(per_frame, start=1):
            position = item.PlanePositionSequence[0].ImagePositionPatient
            orientation = (item.get("PlaneOrientationSequence") or shared.PlaneOrientationSequence)[0]
            iop = list(orientation.ImageOrientationPatient)
            found.append((str(ds.SOPInstanceUID), index, list(position), iop, number))
        return found
    position, orientation = ds.get("ImagePositionPatient"), ds.get("ImageOrientationPatient")
    return [
        (
            str(ds.SOPInstanceUID),
            1,
            list(position) if position else None,
            list(orientation) if orientation else None,
            number,
        )
    ]


def stack(source: Path, series_uid: str) -> list[tuple[str, int]]:
    """The source series as OHIF stacks it: (SOP Instance UID, frame) ordered along the slice normal
    (highest first) when every image has a position, else by Instance Number."""
    frames = []
    for path in sorted(source.iterdir()):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if str(ds.SeriesInstanceUID) == series_uid:
            frames += _frames(path, ds)
    if all(f[2] is not None and f[3] is not None for f in frames):

        def along_normal(frame: tuple) -> float:
            row, col = np.asarray(frame[3][:3], float), np.asarray(frame[3][3:], float)
            return -float(np.dot(frame[2], np.cross(row, col)))

        frames.sort(key=along_normal)
    else:
        frames.sort(key=lambda f: f[4])
    return [(f[0], f[1]) for f in frames]


def seg_slices(seg_path: Path, source: Path) -> dict[int, tuple[set[int], int]]:
    """Segment number -> (indices of the source slices its non-empty frames derive from, pixel count)."""
    seg = pydicom.dcmread(seg_path)
    [series] = seg.ReferencedSeriesSequence
    order = {key: index for index, key in enumerate(stack(source, str(series.SeriesInstanceUID)))}
    pixels = seg.pixel_array.reshape(-1, seg.Rows, seg.Columns)
    found: dict[int, tuple[set[int], int]] = defaultdict(lambda: (set(), 0))
    for frame, item in zip(pixels, seg.PerFrameFunctionalGroupsSequence, strict=True):
        segment = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        [derivation] = item.DerivationImageSequence
        [reference] = derivation.SourceImageSequence
        key = (str(reference.ReferencedSOPInstanceUID), int(reference.get("ReferencedFrameNumber") or 1))
        count = int(np.count_nonzero(frame))
        if count:
            slices, total = found[segment]
            found[segment] = (slices | {order[key]}, total + count)
    return dict(found)


def _items(item: Dataset) -> list[Dataset]:
    return list(item.get("ContentSequence", []))


def _code(item: Dataset) -> str:
    return str(item.ConceptNameCodeSequence[0].CodeValue) if "ConceptNameCodeSequence" in item else ""


def sr_groups(sr_path: Path) -> list[Dataset]:
    sr = pydicom.dcmread(sr_path)
    containers = [i for i in _items(sr) if _code(i) == MEASUREMENTS]
    return [g for c in containers for g in _items(c) if _code(g) == GROUP]


def sr_labels(sr_path: Path) -> Counter[str]:
    """Every NUM of every measurement group as OHIF labels it: 'concept: value unit' (a multiset)."""
    labels: Counter[str] = Counter()
    for group in sr_groups(sr_path):
        for item in _items(group):
            if item.ValueType != "NUM" or "MeasuredValueSequence" not in item:
                continue
            [value] = item.MeasuredValueSequence
            number = float(value.NumericValue)
            shown = f"{number:.2f}" if number else ""  # OHIF prints an empty string for 0
            unit = value.MeasurementUnitsCodeSequence[0].CodeValue
            labels[f"{item.ConceptNameCodeSequence[0].CodeMeaning}: {shown} {unit}"] += 1
    return labels


def sr_tracking_ids(sr_path: Path) -> list[str]:
    return [str(i.TextValue) for g in sr_groups(sr_path) for i in _items(g) if _code(i) == TRACKING_ID]
