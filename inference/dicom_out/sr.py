"""Comprehensive 3D SR, TID 1500 Measurement Report, built with highdicom's templates, drawable in OHIF.

Every measurement group carries geometry a viewer can draw (OHIF 3.13 crashes on a group without it):

* a region of a volume: TID 1411 volumetric group whose Image Regions are the region's outlines
  (SCOORD POLYLINE, SELECTED FROM each source image or frame where it is present; the frame where it
  is largest first, so a viewer opens there). TID 1411 takes one kind of reference: outlines a
  viewer draws, not the Referenced Segment; the SEG segment is linked by the shared Tracking UID and
  the SEG is in the evidence;
* a region of a single image (a radiograph): TID 1410 planar group whose Image Region is its outline;
* results that belong to no region (probability, class, ICV, ...), or to a region found nowhere:
  TID 1410 planar group whose Image Region is the border of the key image (the frame the SC shows),
  i.e. "the whole image".

Each group has a Tracking Identifier and the Tracking UID of its SEG segment (the same UID), a Finding
Site with laterality (see :mod:`~inference.dicom_out.sr_sites`) and the TID 4019 Algorithm
Identification at group level, never under the numbers (OHIF skips a NUM with non-SCOORD children).
A finding's probability is a "Probability" measurement (unit 1) in its group; a group holds at most
one probability, so extra ones get their own group. Report text (notes, the demonstration notice, the
disclaimer) is in :mod:`~inference.dicom_out.sr_text`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from dicom_node import MANUFACTURER
from dicom_node.errors import PipelineError
from inference.dicom_out.common import (
    MODEL_NAME,
    OutputContext,
    equipment_kwargs,
    refuse_demonstration_diagnoses,
    software_versions,
    sr_algorithm_identification,
)
from inference.dicom_out.outline import MAX_POINTS, OTHER_POINTS, image_border, outline, representative_frame
from inference.dicom_out.render import key_frame
from inference.dicom_out.sanitize import clean_series
from inference.dicom_out.sr_sites import region_sites, whole_image_sites
from inference.dicom_out.sr_text import ReportWithText, report_texts
from inference.pipeline import Finding, Measurement, Result, Segment, Series

PROCEDURE_REPORTED = Code("363679005", "SCT", "Imaging procedure")
PROBABILITY = Code("122157", "DCM", "Probability")
UNITLESS = Code("1", "UCUM", "no units")
WHOLE_IMAGE = "whole image"
# Concept names TID 1501 uses for the group itself; as a finding's concept they would be misread.
RESERVED_CONCEPTS = {("121071", "DCM"), ("363698007", "SCT"), ("370129005", "SCT")}

_Group = (
    hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations
    | hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations
    | hd.sr.MeasurementsAndQualitativeEvaluations
)


def device_uid(pipeline: str) -> str:
    """A stable 2.25 UID for the algorithm as an SR observer device (same pipeline, same UID)."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, f'dicom-node/pipeline/{pipeline}').int}"


def _observation_context(context: OutputContext) -> hd.sr.ObservationContext:
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=device_uid(context.pipeline),
        name=f"{context.algorithm.name} {context.algorithm.version}"[:64],
        manufacturer_name=MANUFACTURER,
        model_name=MODEL_NAME,
    )
    return hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Device, observer_identifying_attributes=device
        )
    )


def _chunks(findings: Sequence[Finding]) -> list[list[Finding]]:
    """Split findings so that each chunk holds at most one finding with a probability."""
    plain = [f for f in findings if f.probability is None]
    scored = [f for f in findings if f.probability is not None]
    if not scored:
        return [plain]
    return [[*plain, scored[0]], *[[f] for f in scored[1:]]]


def _check_concepts(findings: Sequence[Finding]) -> None:
    for f in findings:
        if (f.concept.value, f.concept.scheme_designator) in RESERVED_CONCEPTS:
            raise PipelineError(
                f"finding concept {f.concept.scheme_designator} {f.concept.value} ({f.concept.meaning}) is "
                "reserved by TID 1501 (finding type / site / method); use a specific concept"
            )


def _content(
    measurements: Sequence[Measurement], findings: Sequence[Finding]
) -> tuple[list[hd.sr.Measurement], list[hd.sr.QualitativeEvaluation]]:
    """NUM items without children (OHIF shows them all) and CODE evaluations."""
    _check_concepts(findings)
    items = [hd.sr.Measurement(name=m.concept, value=float(m.value), unit=m.unit) for m in measurements]
    items += [
        hd.sr.Measurement(name=PROBABILITY, value=float(f.probability), unit=UNITLESS)
        for f in findings
        if f.probability is not None
    ]
    evaluations = [hd.sr.QualitativeEvaluation(name=f.concept, value=f.value) for f in findings]
    return items, evaluations


def _source_for_region(series: Series, index: int) -> hd.sr.SourceImageForRegion:
    frame = series.frames[index]
    ds = series.datasets[frame.dataset_index]
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        return hd.sr.SourceImageForRegion.from_source_image(ds, referenced_frame_numbers=[frame.frame_number])
    return hd.sr.SourceImageForRegion.from_source_image(ds)


def _whole_image_region(series: Series, index: int) -> hd.sr.ImageRegion:
    rows, columns = series.pixels.shape[1:3]
    return hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
        graphic_data=image_border(int(rows), int(columns)),
        source_image=_source_for_region(series, index),
    )


def _regions(series: Series, labels: np.ndarray, label: int) -> list[hd.sr.ImageRegion]:
    """The outline of ``label`` on every frame where it is present, the frame where it is largest first."""
    first = representative_frame(labels, label)
    if first is None:
        return []
    present = [i for i in range(len(series.frames)) if i != first and np.any(labels[i] == label)]
    regions = []
    for index in (first, *present):
        polygon = outline(labels[index] == label, max_points=MAX_POINTS if index == first else OTHER_POINTS)
        if polygon is not None:
            regions.append(
                hd.sr.ImageRegion(
                    graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
                    graphic_data=polygon,
                    source_image=_source_for_region(series, index),
                )
            )
    return regions


def _region_group(
    series: Series,
    result: Result,
    segment: Segment,
    chunk: tuple[int, Sequence[Measurement], Sequence[Finding]],
    context: OutputContext,
) -> _Group | None:
    """TID 1410 (one frame) or TID 1411 (several) group of one region, or None when it is empty."""
    part, measurements, findings = chunk
    items, evaluations = _content(measurements, findings)
    regions = _regions(series, result.label_map.labels, segment.label)  # type: ignore[union-attr]
    if not regions and not items and not evaluations:
        return None
    common: dict[str, Any] = {
        "tracking_identifier": hd.sr.TrackingIdentifier(
            uid=context.tracking_uid(segment.label, part),
            identifier=(segment.tracking_id or segment.name)[:64],
        ),
        "finding_type": segment.type,
        "finding_sites": region_sites(segment),
        "algorithm_id": sr_algorithm_identification(context.algorithm),
        "measurements": items or None,
        "qualitative_evaluations": evaluations or None,
    }
    if not regions:  # the region is empty: its numbers are drawn on the whole key image
        region = _whole_image_region(series, key_frame(series, result))
        return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(referenced_region=region, **common)
    if len(series.frames) == 1:
        return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(referenced_region=regions[0], **common)
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(referenced_regions=regions, **common)


def _region_groups(series: Series, result: Result, context: OutputContext) -> list[_Group]:
    """One group per segment (more only when a segment has several probabilities)."""
    if result.label_map is None:
        return []
    groups: list[_Group] = []
    for segment in result.label_map.segments:
        measurements = [m for m in result.measurements if m.region == segment.label]
        findings = [f for f in result.findings if f.region == segment.label]
        for part, chunk in enumerate(_chunks(findings)):
            group = _region_group(
                series, result, segment, (part, measurements if part == 0 else [], chunk), context
            )
            if group is not None:
                groups.append(group)
    return groups


def _image_groups(
    series: Series,
    result: Result,
    measurements: Sequence[Measurement],
    findings: Sequence[Finding],
    context: OutputContext,
    always: bool = False,
) -> list[_Group]:
    """Groups for results that belong to no region, drawn as the border of the key image."""
    groups: list[_Group] = []
    key = key_frame(series, result)
    sites = whole_image_sites(result, series.datasets[series.frames[key].dataset_index])
    for part, chunk in enumerate(_chunks(findings)):
        items, evaluations = _content(measurements if part == 0 else [], chunk)
        if not items and not evaluations and not (always and part == 0):
            continue
        groups.append(
            hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=context.tracking_uid(WHOLE_IMAGE, part), identifier=WHOLE_IMAGE
                ),
                referenced_region=_whole_image_region(series, key),
                finding_sites=sites,
                algorithm_id=sr_algorithm_identification(context.algorithm),
                measurements=items or None,
                qualitative_evaluations=evaluations or None,
            )
        )
    return groups


def write_sr(
    series: Series, result: Result, context: OutputContext, seg: Dataset | None = None
) -> hd.sr.Comprehensive3DSR:
    """Build the TID 1500 report for ``result``; ``seg`` is the SEG it describes (if one was written)."""
    refuse_demonstration_diagnoses(result, context)
    series = clean_series(series)
    groups = _region_groups(series, result, context)
    regional = {s.label for s in result.label_map.segments} if result.label_map else set()
    loose_measurements = [m for m in result.measurements if m.region not in regional]
    loose_findings = [f for f in result.findings if f.region not in regional]
    groups += _image_groups(series, result, loose_measurements, loose_findings, context, always=not groups)
    report = ReportWithText(
        observation_context=_observation_context(context),
        procedure_reported=PROCEDURE_REPORTED,
        imaging_measurements=groups,
        texts=report_texts(result, context),
    )
    evidence = [*series.datasets, *([seg] if seg is not None else [])]
    kwargs = equipment_kwargs(context, "SR", series.datasets[0])
    return hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report[0],
        is_complete=True,
        is_final=False,
        is_verified=False,
        manufacturer_model_name=MODEL_NAME,
        software_versions=software_versions(context.algorithm),
        content_qualification=hd.ContentQualificationValues.RESEARCH,
        **kwargs,
    )
