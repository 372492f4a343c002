"""DICOM writers for pipeline results (highdicom only; objects are complete at construction).

:func:`write_outputs` turns one :class:`~inference.pipeline.Result` into the datasets to send, in the
order SEG (when the result has a non-empty label map), SR, SC (one instance per SC page).
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from inference.dicom_out.common import OutputContext, new_context, refuse_demonstration_diagnoses
from inference.dicom_out.sanitize import clean_series
from inference.dicom_out.sc import write_sc, write_sc_pages
from inference.dicom_out.seg import has_patient_geometry, is_single_projection, write_seg
from inference.dicom_out.sr import write_sr
from inference.pipeline import AlgorithmInfo, Result, Series

__all__ = [
    "OutputContext",
    "new_context",
    "result_codes",
    "write_outputs",
    "write_sc",
    "write_sc_pages",
    "write_seg",
    "write_sr",
]


def result_codes(result: Result) -> list[Code]:
    """Every code a result uses (their private schemes get a Coding Scheme Identification)."""
    codes = [c for m in result.measurements for c in (m.concept, m.unit)]
    codes += [c for f in result.findings for c in (f.concept, f.value)]
    if result.label_map is not None:
        for s in result.label_map.segments:
            codes += [c for c in (s.category, s.type, s.laterality, s.anatomic_region) if c is not None]
    return codes


def write_outputs(
    series: Series,
    result: Result,
    pipeline: str,
    algorithm: AlgorithmInfo,
    *,
    seg_on_projection: bool = False,
) -> list[Dataset]:
    """SEG (if any label is set and the SEG can lie on the source), SR and SC for ``result``.

    A SEG is written when the source has patient geometry. A projection image without a frame of
    reference (CR/DX) gets one only when the pipeline asks for it (``seg_on_projection``, e.g. the
    lungs of ``rds``): that SEG is aligned pixel for pixel with its one source image but has no plane
    geometry; otherwise such a source gets SR + SC only. The source headers are validated once
    (:mod:`~inference.dicom_out.sanitize`) before any writer copies them. A result with a coded
    diagnosis made by demonstration weights is refused (PipelineError naming the pipeline).
    """
    context = new_context(pipeline, algorithm, result_codes(result))
    refuse_demonstration_diagnoses(result, context)
    series = clean_series(series)  # once per series: the change log is written once
    outputs: list[Dataset] = []
    seg = None
    placeable = has_patient_geometry(series) or (seg_on_projection and is_single_projection(series))
    if result.label_map is not None and np.any(result.label_map.labels) and placeable:
        seg = write_seg(series, result.label_map, context)
        outputs.append(seg)
    outputs.append(write_sr(series, result, context, seg))
    outputs.extend(write_sc_pages(series, result, context))
    return outputs
