"""Secondary Capture summary: the rendered key image with the result in words.

Any PACS viewer shows it, even one that renders neither SEG nor SR. The text names the pipeline, the
findings and measurements, the model version and the disclaimer.
"""

from __future__ import annotations

from typing import Any

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset

from inference.dicom_out.common import DISCLAIMER, OutputContext, equipment_kwargs, software_versions
from inference.dicom_out.render import compose, key_frame, overlay
from inference.dicom_out.sanitize import clean_series
from inference.pipeline import Result, Series


def _number(value: float) -> str:
    return f"{value:.4g}"


def summary_lines(result: Result, context: OutputContext) -> list[str]:
    """The text panel: pipeline, summary, findings, measurements, model version, disclaimer."""
    names = {s.label: s.name for s in result.label_map.segments} if result.label_map else {}
    lines = [f"AI pipeline: {context.pipeline}", *result.summary]
    for f in result.findings:
        where = f" ({names.get(f.region, f.region)})" if f.region is not None else ""
        chance = f" p={f.probability:.2f}" if f.probability is not None else ""
        lines.append(f"{f.concept.meaning}{where}: {f.value.meaning}{chance}")
    for m in result.measurements:
        where = f" ({names.get(m.region, m.region)})" if m.region is not None else ""
        lines.append(f"{m.concept.meaning}{where}: {_number(m.value)} {m.unit.value}")
    lines.append(f"Model: {context.algorithm.name} {context.algorithm.version}")
    lines.append(DISCLAIMER)
    return lines


_LETTERS = (("R", "L"), ("A", "P"), ("F", "H"))  # LPS axes: (negative, positive)
# When the source says nothing about orientation, assume the radiological display of a frontal
# projection (rows towards the patient's left, columns towards the feet).
FALLBACK_ORIENTATION = ("L", "F")


def patient_orientation(source: Dataset) -> tuple[str, str]:
    """Main patient direction of the rows and of the columns of the source frame (one letter each)."""
    cosines = source.get("ImageOrientationPatient")
    if cosines is None and "SharedFunctionalGroupsSequence" in source:
        shared = source.SharedFunctionalGroupsSequence[0]
        if "PlaneOrientationSequence" in shared:
            cosines = shared.PlaneOrientationSequence[0].ImageOrientationPatient
    if cosines is not None and len(cosines) == 6:
        letters = []
        for vector in (np.asarray(cosines[:3], float), np.asarray(cosines[3:], float)):
            axis = int(np.argmax(np.abs(vector)))
            letters.append(_LETTERS[axis][int(vector[axis] > 0)])
        return letters[0], letters[1]
    given = source.get("PatientOrientation")
    if given is not None and len(given) == 2 and all(str(v)[:1] in "LRAPHF" and str(v) for v in given):
        return str(given[0])[0], str(given[1])[0]
    return FALLBACK_ORIENTATION


class SummaryImage(hd.sc.SCImage):
    """highdicom's SC image, completed at construction with the source's body part and laterality.

    General Series Laterality is Type 2C: it is copied from the source when known (highdicom's
    ``laterality``), else written empty (unknown), together with the source's Body Part Examined and
    Image Laterality, so that a checker can evaluate the condition as on the source.
    """

    def __init__(
        self,
        *args: Any,
        body_part_examined: str | None = None,
        image_laterality: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if body_part_examined:
            self.BodyPartExamined = body_part_examined
        if image_laterality:
            self.ImageLaterality = image_laterality
        if "Laterality" not in self and not body_part_examined and not image_laterality:
            self.Laterality = ""  # Type 2C, condition unknowable: present and empty (unknown)


def write_sc(series: Series, result: Result, context: OutputContext) -> hd.sc.SCImage:
    """Build the Secondary Capture key image for ``result``."""
    series = clean_series(series)
    index = key_frame(series, result)
    source = series.datasets[series.frames[index].dataset_index]
    picture = result.key_image if result.key_image is not None else overlay(series, result, index)
    pixels = compose(picture, summary_lines(result, context))
    kwargs = equipment_kwargs(context, "SC", source)
    laterality = source.get("Laterality")
    return SummaryImage.from_ref_dataset(
        ref_dataset=source,
        pixel_array=pixels,
        photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
        bits_allocated=8,
        coordinate_system=hd.CoordinateSystemNames.PATIENT,
        patient_orientation=patient_orientation(source),
        software_versions=software_versions(context.algorithm),
        laterality=laterality if laterality in ("R", "L") else None,
        body_part_examined=source.get("BodyPartExamined") or None,
        image_laterality=source.get("ImageLaterality") or None,
        **kwargs,
    )
