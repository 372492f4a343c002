"""DICOM Segmentation (binary or fractional) from a :class:`~inference.pipeline.LabelMap`.

Frames lie on the source planes (the label map is indexed like ``Series.frames``), empty frames are
omitted, and every segment carries coded category/type, laterality, Algorithm Identification and the
Tracking UID its SR group shares.

Two layouts a viewer needs (OHIF 3.13 + Orthanc's DICOMweb, see docs/outputs.md):

* a BINARY SEG packs 8 pixels per byte; when Rows x Columns is not a multiple of 8 a frame does not
  start on a byte and Orthanc's DICOMweb 1.7 answers per-frame requests with HTTP 400. Such a label
  map is written as a pseudo-binary FRACTIONAL SEG (OCCUPANCY, 8 bits, values 0 or 255), which OHIF
  loads as binary;
* a projection image (CR/DX) has no Frame of Reference: highdicom writes its SEG aligned pixel for
  pixel, without plane orientation, which OHIF cannot load. :class:`ProjectionSegmentation` adds the
  Plane Orientation Sequence OHIF reads (``1\\0\\0\\0\\1\\0``: rows and columns of the image itself,
  what viewers assume for an image without orientation; with no Frame of Reference it places nothing
  in the patient) and the Patient Orientation the General Image Module requires.
"""

from __future__ import annotations

import copy
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicom_node.errors import PipelineError
from inference.dicom_out.common import (
    DEVICE_SERIAL,
    MODEL_NAME,
    PALETTE_LAB,
    OutputContext,
    equipment_kwargs,
    seg_algorithm_identification,
    software_versions,
)
from inference.dicom_out.sanitize import clean_series, detached_copy
from inference.pipeline import LabelMap, Segment, Series

IMAGE_PLANE = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def _anatomic_regions(segment: Segment) -> list[hd.sr.CodedConcept] | None:
    region = segment.anatomic_region
    if region is None:
        return None
    concept = hd.sr.CodedConcept(region.value, region.scheme_designator, region.meaning)
    if segment.laterality is not None:
        lat = segment.laterality
        modifier = Dataset()
        modifier.CodeValue = lat.value
        modifier.CodingSchemeDesignator = lat.scheme_designator
        modifier.CodeMeaning = lat.meaning
        # Anatomic Region Modifier Sequence is part of the coded concept handed to the constructor.
        concept.AnatomicRegionModifierSequence = [modifier]
    return [concept]


def _property_type(segment: Segment) -> hd.sr.CodedConcept:
    concept = hd.sr.CodedConcept(segment.type.value, segment.type.scheme_designator, segment.type.meaning)
    if segment.laterality is not None:
        lat = segment.laterality
        modifier = Dataset()
        modifier.CodeValue = lat.value
        modifier.CodingSchemeDesignator = lat.scheme_designator
        modifier.CodeMeaning = lat.meaning
        concept.SegmentedPropertyTypeModifierCodeSequence = [modifier]
    return concept


def segment_descriptions(label_map: LabelMap, context: OutputContext) -> list[hd.seg.SegmentDescription]:
    """One SegmentDescription per segment, numbered 1..n in the order of ``label_map.segments``."""
    algorithm = seg_algorithm_identification(context.algorithm)
    descriptions = []
    for number, segment in enumerate(label_map.segments, start=1):
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=segment.name[:64],
                segmented_property_category=segment.category,
                segmented_property_type=_property_type(segment),
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=algorithm,
                tracking_uid=context.tracking_uid(segment.label),
                tracking_id=(segment.tracking_id or segment.name)[:64],
                anatomic_regions=_anatomic_regions(segment),
                display_color=hd.color.CIELabColor(*PALETTE_LAB[(number - 1) % len(PALETTE_LAB)]),
            )
        )
    return descriptions


def _pseudo_binary(numbers: np.ndarray, count: int) -> np.ndarray:
    """(frames, rows, cols, segments) float32 occupancy 0/1 from segment numbers 1..count."""
    return np.stack([numbers == n for n in range(1, count + 1)], axis=-1).astype(np.float32)


def _segment_stack(label_map: LabelMap) -> tuple[np.ndarray, bool]:
    """The array highdicom takes and whether it is fractional.

    Fractional: (frames, rows, cols, segments) probabilities. Binary: (frames, rows, cols) segment
    numbers 1..n (0 = none), highdicom's label-map style input; a label map cannot overlap, and
    highdicom then checks it with one maximum instead of per-pixel sums over a one-hot stack (a
    3000 x 3000 radiograph: ~0.3 s less). Label values that name no segment become 0.
    """
    if label_map.probabilities is not None:
        probs = np.asarray(label_map.probabilities, dtype=np.float32)
        if probs.shape[0] != len(label_map.segments):
            raise PipelineError("probabilities must have one map per segment")
        return np.clip(np.moveaxis(probs, 0, -1), 0.0, 1.0), True
    labels = np.asarray(label_map.labels)
    dtype = np.uint8 if len(label_map.segments) < 256 else np.uint16
    unsigned = np.issubdtype(labels.dtype, np.unsignedinteger)
    if labels.size and not unsigned and (labels.min() < 0 or not np.issubdtype(labels.dtype, np.integer)):
        numbers = np.zeros(labels.shape, dtype=dtype)
        for number, seg in enumerate(label_map.segments, start=1):
            numbers[labels == seg.label] = number
        return numbers, False
    lookup = np.zeros(max(int(labels.max(initial=0)), *(s.label for s in label_map.segments)) + 1, dtype)
    for number, seg in enumerate(label_map.segments, start=1):
        lookup[seg.label] = number
    if labels.dtype == dtype and np.array_equal(lookup, np.arange(lookup.size)):
        return labels, False  # labels 1..n already are the segment numbers (e.g. rds): no full-size copy
    return lookup[labels], False


def has_patient_geometry(series: Series) -> bool:
    """Whether the source frames sit in a patient frame of reference (a SEG can lie on them)."""
    ds = series.datasets[0]
    if "FrameOfReferenceUID" not in ds:
        return False
    if "ImagePositionPatient" in ds and "ImageOrientationPatient" in ds:
        return True
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared and "PlaneOrientationSequence" in shared[0]:
        return True
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    return bool(per_frame) and "PlaneOrientationSequence" in per_frame[0]


def is_single_projection(series: Series) -> bool:
    """One single-frame image without a frame of reference (a CR/DX radiograph): highdicom writes a
    SEG aligned with its pixels, without plane geometry."""
    ds = series.datasets[0]
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return len(series.frames) == 1 and frames == 1 and "FrameOfReferenceUID" not in ds


_FRAME_GEOMETRY = ("PixelMeasuresSequence", "PlaneOrientationSequence")


def _with_shared_geometry(ds: Dataset) -> Dataset:
    """The source as highdicom 0.28 needs it: pixel measures and orientation in the shared groups.

    Enhanced sources (e.g. Siemens XA) may repeat them in every frame instead; when every frame agrees,
    a copy of the dataset carries them as shared (the SEG still references the original instance).
    """
    shared = ds.get("SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    missing = [kw for kw in _FRAME_GEOMETRY if not shared or kw not in shared[0]]
    if not missing or not per_frame:
        return ds
    patched = copy.deepcopy(shared) if shared else Sequence([Dataset()])
    for keyword in missing:
        if keyword not in per_frame[0]:
            continue
        values = {repr(frame[keyword].value) for frame in per_frame if keyword in frame}
        if len(values) != 1:
            raise PipelineError(f"source frames differ in {keyword}: cannot place one SEG geometry on them")
        setattr(patched[0], keyword, copy.deepcopy(per_frame[0][keyword].value))
    source = detached_copy(ds)
    source.SharedFunctionalGroupsSequence = patched
    return source


def _plane_key(ds: Dataset) -> tuple[float, ...] | None:
    position, orientation = ds.get("ImagePositionPatient"), ds.get("ImageOrientationPatient")
    if position is None or orientation is None:
        return None
    return tuple(round(float(v), 3) for v in (*position, *orientation))


def _one_image_per_plane(sources: list[Dataset], stack: np.ndarray) -> tuple[list[Dataset], np.ndarray]:
    """Source images and label frames with no plane position given twice (highdicom refuses repeats).

    A 4D run holds one image per time point at each plane position (e.g. one Siemens mosaic per
    volume). When positions repeat, only the labelled frames are kept: the label map then has to sit
    on one time point (the SEG references that volume's images and their geometry).
    """
    keys = [_plane_key(ds) for ds in sources]
    if None in keys or len(set(keys)) == len(keys):
        return sources, stack
    labelled = [i for i in range(len(sources)) if np.any(stack[i])]
    if len({keys[i] for i in labelled}) != len(labelled):
        raise PipelineError("labels on several images at one plane position (several time points?)")
    return [sources[i] for i in labelled], stack[labelled]


class ProjectionSegmentation(hd.seg.Segmentation):
    """highdicom's SEG completed at construction for a projection source without Frame of Reference.

    Adds the Plane Orientation Sequence (shared functional groups) OHIF needs and Patient Orientation
    (General Image Module, Type 2C without Image Orientation): the SEG pixels lie on the source pixels,
    so the source's row/column directions are the SEG's; copied when valid, else empty (unknown).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        source = kwargs["source_images"][0]
        if "FrameOfReferenceUID" in self:
            return
        if "SharedFunctionalGroupsSequence" not in self:  # no pixel spacing either
            self.SharedFunctionalGroupsSequence = [Dataset()]
        self.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence = hd.PlaneOrientationSequence(
            hd.CoordinateSystemNames.PATIENT, IMAGE_PLANE
        )
        given = source.get("PatientOrientation")
        valid = given is not None and len(given) == 2 and all(str(v) for v in given)
        self.PatientOrientation = list(given) if valid else ""


def write_seg(series: Series, label_map: LabelMap, context: OutputContext) -> hd.seg.Segmentation:
    """Build the SEG for ``label_map`` on ``series``; raise PipelineError if every frame is empty."""
    if not label_map.segments:
        raise PipelineError("a label map needs at least one segment")
    series = clean_series(series)
    expected = (len(series.frames), *series.pixels.shape[1:3])
    if tuple(label_map.labels.shape) != expected:
        raise PipelineError(f"label map shape {label_map.labels.shape} != source frames {expected}")
    stack, fractional = _segment_stack(label_map)
    if not np.any(stack):
        raise PipelineError("the label map is empty: no SEG to write")
    if len(series.datasets) == 1 and int(series.datasets[0].get("NumberOfFrames", 1) or 1) > 1:
        # one multi-frame image: SEG frames follow the source's own frame order
        source_images = [_with_shared_geometry(series.datasets[0])]
        ordered = np.zeros((int(series.datasets[0].NumberOfFrames), *stack.shape[1:]), dtype=stack.dtype)
        for index, frame in enumerate(series.frames):
            ordered[frame.frame_number - 1] = stack[index]
        stack = ordered
    else:
        source_images, stack = _one_image_per_plane(
            [series.datasets[f.dataset_index] for f in series.frames], stack
        )
    if not fractional and (stack.shape[1] * stack.shape[2]) % 8:
        stack, fractional = _pseudo_binary(stack, len(label_map.segments)), True  # byte-aligned frames
        fractional_type = hd.seg.SegmentationFractionalTypeValues.OCCUPANCY
    else:
        fractional_type = hd.seg.SegmentationFractionalTypeValues.PROBABILITY
    kwargs = equipment_kwargs(context, "SEG", series.datasets[0])
    return ProjectionSegmentation(
        source_images=source_images,
        pixel_array=stack,
        segmentation_type=(
            hd.seg.SegmentationTypeValues.FRACTIONAL if fractional else hd.seg.SegmentationTypeValues.BINARY
        ),
        segment_descriptions=segment_descriptions(label_map, context),
        manufacturer_model_name=MODEL_NAME,
        software_versions=software_versions(context.algorithm),
        device_serial_number=DEVICE_SERIAL,
        content_label="AI_" + "".join(c if c.isalnum() else "_" for c in context.pipeline.upper())[:13],
        content_description=f"{context.pipeline} segmentation (algorithm output)"[:64],
        fractional_type=fractional_type,
        omit_empty_frames=True,
        **kwargs,
    )
