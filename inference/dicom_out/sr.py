"""Comprehensive 3D SR, TID 1500 Measurement Report, built only with highdicom's templates.

One measurement group per region (segment) with a tracking identifier (id + UID), its measurements
and qualitative evaluations, the TID 4019 Algorithm Identification, and a reference to the segment in
the SEG it describes. Results that belong to no region go into one group that references the source
images. A finding's probability is written as a "Probability" measurement (unit 1) in the group of
that finding; a group holds at most one probability, so extra ones get their own group.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

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
    new_uid,
    software_versions,
    sr_algorithm_identification,
)
from inference.pipeline import Finding, Measurement, Result, Series

PROCEDURE_REPORTED = Code("363679005", "SCT", "Imaging procedure")
PROBABILITY = Code("122157", "DCM", "Probability")
UNITLESS = Code("1", "UCUM", "no units")
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


def _content(
    measurements: Sequence[Measurement], findings: Sequence[Finding], algorithm: hd.sr.AlgorithmIdentification
) -> tuple[list[hd.sr.Measurement], list[hd.sr.QualitativeEvaluation]]:
    items = [
        hd.sr.Measurement(name=m.concept, value=float(m.value), unit=m.unit, algorithm_id=algorithm)
        for m in measurements
    ]
    items += [
        hd.sr.Measurement(name=PROBABILITY, value=float(f.probability), unit=UNITLESS, algorithm_id=algorithm)
        for f in findings
        if f.probability is not None
    ]
    for f in findings:
        if (f.concept.value, f.concept.scheme_designator) in RESERVED_CONCEPTS:
            raise PipelineError(
                f"finding concept {f.concept.scheme_designator} {f.concept.value} ({f.concept.meaning}) is "
                "reserved by TID 1501 (finding type / site / method); use a specific concept"
            )
    evaluations = [hd.sr.QualitativeEvaluation(name=f.concept, value=f.value) for f in findings]
    return items, evaluations


def segment_sources(series: Series, labels: np.ndarray, label: int) -> list[hd.sr.SourceImageForSegmentation]:
    """References to the source images (and frames) on which ``label`` is present."""
    present = [i for i in range(len(series.frames)) if np.any(labels[i] == label)]
    if not present:
        return []
    if len(series.datasets) == 1 and len(series.frames) > 1:
        numbers = [series.frames[i].frame_number for i in present]
        return [hd.sr.SourceImageForSegmentation.from_source_image(series.datasets[0], numbers)]
    return [
        hd.sr.SourceImageForSegmentation.from_source_image(series.datasets[series.frames[i].dataset_index])
        for i in present
    ]


def _source_images(series: Series) -> list[hd.sr.SourceImageForMeasurementGroup]:
    return [hd.sr.SourceImageForMeasurementGroup.from_source_image(ds) for ds in series.datasets]


def _region_groups(
    series: Series, result: Result, seg: Dataset | None, algorithm: hd.sr.AlgorithmIdentification
) -> list[_Group]:
    """One group per segment (more only when a segment has several probabilities).

    With a SEG, a group is a TID 1411 volumetric ROI that references the segment (also for a single
    plane: highdicom's planar segment reference carries both frame and segment numbers, which the
    standard forbids together). Without a SEG (no 3D geometry), it references the source images.
    """
    if result.label_map is None:
        return []
    groups: list[_Group] = []
    for number, segment in enumerate(result.label_map.segments, start=1):
        measurements = [m for m in result.measurements if m.region == segment.label]
        findings = [f for f in result.findings if f.region == segment.label]
        sources = segment_sources(series, result.label_map.labels, segment.label)
        for part, chunk in enumerate(_chunks(findings)):
            items, evaluations = _content(measurements if part == 0 else [], chunk, algorithm)
            if seg is not None and not sources and not items and not evaluations:
                continue  # an empty segment with nothing to say: the SEG has no frame for it
            tracking = hd.sr.TrackingIdentifier(
                uid=new_uid(), identifier=(segment.tracking_id or segment.name)[:64]
            )
            if seg is not None and sources:
                groups.append(
                    hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                        tracking_identifier=tracking,
                        referenced_segment=hd.sr.ReferencedSegment(
                            sop_class_uid=seg.SOPClassUID,
                            sop_instance_uid=seg.SOPInstanceUID,
                            segment_number=number,
                            source_images=sources,
                        ),
                        finding_type=segment.type,
                        algorithm_id=algorithm,
                        measurements=items or None,
                        qualitative_evaluations=evaluations or None,
                    )
                )
            else:
                groups.append(
                    hd.sr.MeasurementsAndQualitativeEvaluations(
                        tracking_identifier=tracking,
                        finding_type=segment.type,
                        algorithm_id=algorithm,
                        measurements=items or None,
                        qualitative_evaluations=evaluations or None,
                        source_images=_source_images(series),
                    )
                )
    return groups


def _image_groups(
    series: Series,
    measurements: Sequence[Measurement],
    findings: Sequence[Finding],
    algorithm: hd.sr.AlgorithmIdentification,
    always: bool = False,
) -> list[_Group]:
    """Groups for results that belong to no region ("whole image"); one empty group if ``always``."""
    groups: list[_Group] = []
    for part, chunk in enumerate(_chunks(findings)):
        items, evaluations = _content(measurements if part == 0 else [], chunk, algorithm)
        if not items and not evaluations and not (always and part == 0):
            continue
        groups.append(
            hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=new_uid(), identifier="whole image"),
                algorithm_id=algorithm,
                measurements=items or None,
                qualitative_evaluations=evaluations or None,
                source_images=_source_images(series),
            )
        )
    return groups


def write_sr(
    series: Series, result: Result, context: OutputContext, seg: Dataset | None = None
) -> hd.sr.Comprehensive3DSR:
    """Build the TID 1500 report for ``result``; ``seg`` is the SEG it describes (if one was written)."""
    algorithm = sr_algorithm_identification(context.algorithm)
    groups = _region_groups(series, result, seg, algorithm)
    regional = {s.label for s in result.label_map.segments} if result.label_map else set()
    loose_measurements = [m for m in result.measurements if m.region not in regional]
    loose_findings = [f for f in result.findings if f.region not in regional]
    groups += _image_groups(series, loose_measurements, loose_findings, algorithm, always=not groups)
    report = hd.sr.MeasurementReport(
        observation_context=_observation_context(context),
        procedure_reported=PROCEDURE_REPORTED,
        imaging_measurements=groups,
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
