"""Secondary Capture summary: the result at a glance, as one page (see :mod:`~inference.dicom_out.layout`).

Any PACS viewer shows it, even one that renders neither SEG nor SR. The picture is the pipeline's own
picture, else three orthogonal views through the findings of a volume, else the key frame, with the
masks and heat map overlaid; the panel names the pipeline and model and lists the results once.
"""

from __future__ import annotations

from typing import Any

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset

from inference.dicom_out.common import (
    DEMO,
    DEMO_NOTICE,
    DISCLAIMER,
    OutputContext,
    equipment_kwargs,
    software_versions,
)
from inference.dicom_out.layout import Panel, Row, page
from inference.dicom_out.render import key_frame, overlay
from inference.dicom_out.sanitize import clean_series
from inference.dicom_out.views import orthogonal_views
from inference.pipeline import Result, Series


def _number(value: float) -> str:
    return f"{value:.4g}"


def panel(result: Result, context: OutputContext) -> Panel:
    """The text panel: pipeline, model, the pipeline's summary, one results table, the notes.

    A pipeline that drew its own picture (``key_image``) shows its regional results there: the table
    then lists the whole-image results only. The demonstration banner replaces a summary line that
    says the same ("DEMONSTRATION ...").
    """
    names = {s.label: s.name for s in result.label_map.segments} if result.label_map else {}
    drawn = result.key_image is not None

    def where(region: int | None) -> str | None:
        if region is None:
            return "image"
        return None if drawn else str(names.get(region, f"region {region}"))

    rows = []
    for f in result.findings:
        if (place := where(f.region)) is not None:
            chance = f" (p={f.probability:.2f})" if f.probability is not None else ""
            rows.append(Row(place, f.concept.meaning, f"{f.value.meaning}{chance}"))
    for m in result.measurements:
        if (place := where(m.region)) is not None:
            unit = "" if m.unit.value == "1" else f" {m.unit.value}"
            rows.append(Row(place, m.concept.meaning, f"{_number(m.value)}{unit}"))
    demo = context.algorithm.demonstration
    summary = [
        line
        for line in dict.fromkeys(result.summary)
        if not (demo and line.upper().startswith("DEMONSTRATION"))
    ]
    notes = [
        f"{names.get(n.region, n.region)}: {n.text}" if n.region is not None else n.text for n in result.notes
    ]
    return Panel(
        title=f"AI {context.pipeline}" + (f" {DEMO}" if demo else ""),
        model=f"{context.algorithm.name} {context.algorithm.version}",
        summary=summary,
        rows=rows,
        notes=notes,
    )


def summary_lines(result: Result, context: OutputContext) -> list[str]:
    """The panel as plain lines (what the SC says, for logs and tests)."""
    content = panel(result, context)
    lines = [content.title, content.model, *content.summary]
    lines += [f"{r.where}: {r.what}: {r.value}" for r in content.rows]
    return [*lines, *content.notes, DISCLAIMER]


def pictures(series: Series, result: Result) -> list[np.ndarray]:
    """The pipeline's own picture, else three orthogonal views of a volume, else the key frame."""
    if result.key_image is not None:
        return [np.asarray(result.key_image, dtype=np.uint8)]
    views = orthogonal_views(series, result)
    return views if views is not None else [overlay(series, result, key_frame(series, result))]


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
    demo = DEMO_NOTICE if context.algorithm.demonstration else None
    pixels = page(pictures(series, result), panel(result, context), DISCLAIMER, demo)
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
