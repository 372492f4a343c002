"""Enhanced multi-frame images (Enhanced CT/MR/PET, ...): one plane per frame from the functional groups."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, partial

import numpy as np
from pydicom.dataset import Dataset

from inference.volume.model import FrameRef
from inference.volume.planes import Plane, dicom_seconds, optional_float, optional_vector, time_key


def is_enhanced_multiframe(ds: Dataset) -> bool:
    """True for a file that describes its frames with per-frame functional groups."""
    return "PerFrameFunctionalGroupsSequence" in ds


def _frame_getter(ds: Dataset) -> Callable[[int], np.ndarray]:
    """Index → stored pixels of that 0-based frame; the file is decoded once, on first use."""

    @cache
    def decoded() -> np.ndarray:
        array = np.asarray(ds.pixel_array)
        return array[np.newaxis] if array.ndim == 2 else array

    return lambda index: decoded()[index]


def _group_item(per_frame: Dataset, shared: Dataset | None, keyword: str) -> Dataset | None:
    """The first item of a functional group macro, from the frame's groups or else the shared ones."""
    for groups in (per_frame, shared):
        if groups is not None and keyword in groups and len(groups[keyword].value) > 0:
            item: Dataset = groups[keyword].value[0]
            return item
    return None


def multiframe_planes(ds: Dataset, source: str) -> list[Plane]:
    """One :class:`Plane` per frame of an enhanced multi-frame file, frame numbers 1-based."""
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared: Dataset | None = shared_seq[0] if shared_seq else None
    frame = _frame_getter(ds)
    sop_uid, sop_class = str(ds.SOPInstanceUID), str(ds.get("SOPClassUID", ""))
    file_acquisition = optional_float(ds.get("AcquisitionNumber"))
    file_instance = optional_float(ds.get("InstanceNumber"))
    planes: list[Plane] = []
    for index, per_frame in enumerate(ds.PerFrameFunctionalGroupsSequence):
        position_item = _group_item(per_frame, shared, "PlanePositionSequence")
        orientation_item = _group_item(per_frame, shared, "PlaneOrientationSequence")
        measures = _group_item(per_frame, shared, "PixelMeasuresSequence") or Dataset()
        transform = _group_item(per_frame, shared, "PixelValueTransformationSequence") or ds
        content = _group_item(per_frame, shared, "FrameContentSequence") or Dataset()
        orientation = (
            None
            if orientation_item is None
            else optional_vector(orientation_item.get("ImageOrientationPatient"), 6)
        )
        spacing = optional_vector(measures.get("PixelSpacing"), 2)
        slope = optional_float(transform.get("RescaleSlope"))
        intercept = optional_float(transform.get("RescaleIntercept"))
        planes.append(
            Plane(
                ref=FrameRef(sop_uid, index + 1, sop_class),
                rows=int(ds.Rows),
                columns=int(ds.Columns),
                position=None
                if position_item is None
                else optional_vector(position_item.get("ImagePositionPatient"), 3),
                row_cosine=None if orientation is None else orientation[:3],
                column_cosine=None if orientation is None else orientation[3:],
                row_spacing=None if spacing is None else float(spacing[0]),
                column_spacing=None if spacing is None else float(spacing[1]),
                slope=1.0 if slope is None else slope,
                intercept=0.0 if intercept is None else intercept,
                time_key=time_key(
                    optional_float(content.get("TemporalPositionIndex")),
                    dicom_seconds(content.get("FrameAcquisitionDateTime") or ds.get("AcquisitionDateTime")),
                    file_acquisition,
                    file_instance,
                    float(index + 1),
                ),
                pixels=partial(frame, index),
                bits_stored=int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16),
                signed=int(ds.get("PixelRepresentation") or 0) == 1,
                monochrome1=str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1",
                slice_step=optional_float(measures.get("SpacingBetweenSlices"))
                or optional_float(measures.get("SliceThickness")),
                source=source,
            )
        )
    return planes
