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
    PALETTE_RGB,
    OutputContext,
    equipment_kwargs,
    new_uid,
    refuse_demonstration_diagnoses,
    software_versions,
)
from inference.dicom_out.layout import Panel, Row, page
from inference.dicom_out.render import key_frame, overlay
from inference.dicom_out.sanitize import clean_series
from inference.dicom_out.trajectory_page import trajectory_pages
from inference.dicom_out.views import orthogonal_views
from inference.pipeline import Result, Series


def _number(value: float) -> str:
    return f"{value:.4g}"


MAX_COLUMNS = 3  # more result kinds than this: one row per result instead of one per place


def _cells(result: Result, names: dict[int, str], drawn: bool) -> list[tuple[str, str, str]]:
    """(place, result, value) for every finding and measurement the table shows."""
    cells = []
    for f in result.findings:
        if f.region is None or not drawn:
            chance = f" (p={f.probability:.2f})" if f.probability is not None else ""
            cells.append((_place(f.region, names), f.concept.meaning, f"{f.value.meaning}{chance}"))
    for m in result.measurements:
        if m.region is None or not drawn:
            unit = "" if m.unit.value == "1" else f" {m.unit.value}"
            cells.append((_place(m.region, names), m.concept.meaning, f"{_number(m.value)}{unit}"))
    return cells


def _place(region: int | None, names: dict[int, str]) -> str:
    return "image" if region is None else str(names.get(region, f"region {region}"))


def table(cells: list[tuple[str, str, str]]) -> tuple[Row | None, list[Row]]:
    """One row per place with one column per result kind, or (many kinds) one row per result."""
    if not cells:
        return None, []
    kinds = list(dict.fromkeys(what for _, what, _ in cells))
    places = list(dict.fromkeys(place for place, _, _ in cells))
    if len(kinds) > MAX_COLUMNS:
        return Row(("Where", "Result", "Value")), [Row(c) for c in cells]
    values = {(place, what): value for place, what, value in cells}
    rows = [Row((place, *(values.get((place, k), "-") for k in kinds))) for place in places]
    return Row(("Where", *kinds)), rows


def panel(result: Result, context: OutputContext) -> Panel:
    """The text panel: pipeline, model, the pipeline's summary, one results table, the notes.

    A pipeline that drew its own picture (``key_image``) shows its regional results there: the table
    then lists the whole-image results only. Summary lines that start with a region's name are left
    out when the table lists that region (its numbers are in the table), and the demonstration banner
    replaces a summary line that says the same ("DEMONSTRATION ...").
    """
    names = {s.label: s.name for s in result.label_map.segments} if result.label_map else {}
    cells = _cells(result, names, drawn=result.key_image is not None)
    header, rows = table(cells)
    tabled = {place for place, _, _ in cells if place != "image"}
    demo = context.algorithm.demonstration
    summary = [
        line
        for line in dict.fromkeys(result.summary)
        if not (demo and line.upper().startswith("DEMONSTRATION"))
        and not any(line.startswith(f"{name}:") for name in tabled)
    ]
    notes = [
        f"{names.get(n.region, n.region)}: {n.text}" if n.region is not None else n.text for n in result.notes
    ]
    if result.trajectories:
        summary.append(f"Trajectories ({len(result.trajectories)} regions): next image(s) of this series")
    return Panel(
        title=f"AI {context.pipeline}" + (f" {DEMO}" if demo else ""),
        model=f"{context.algorithm.name} {context.algorithm.version}",
        summary=summary,
        header=header,
        rows=rows,
        notes=notes,
    )


def summary_lines(result: Result, context: OutputContext) -> list[str]:
    """The panel as plain lines (what the SC says, for logs and tests)."""
    content = panel(result, context)
    lines = [content.title, content.model, *content.summary]
    lines += [" | ".join(r.cells) for r in ([content.header] if content.header else []) + list(content.rows)]
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


def region_colours(result: Result) -> dict[int, tuple[int, int, int]]:
    """Each segment's colour on the SC overlays (and in the SEG), by label."""
    segments = result.label_map.segments if result.label_map is not None else ()
    return {s.label: PALETTE_RGB[i % len(PALETTE_RGB)] for i, s in enumerate(segments)}


def write_sc(series: Series, result: Result, context: OutputContext) -> hd.sc.SCImage:
    """Build the Secondary Capture key image for ``result`` (the summary page)."""
    return write_sc_pages(series, result, context)[0]


def write_sc_pages(series: Series, result: Result, context: OutputContext) -> list[hd.sc.SCImage]:
    """The SC series: the summary page, then (when the result has trajectories) the chart pages.

    Every page is one single-frame SC instance of the same series (instance numbers 1, 2, ...): OHIF
    shows them as one stack. Each carries the banners (DEMO notice, disclaimer).
    """
    refuse_demonstration_diagnoses(result, context)
    series = clean_series(series)
    index = key_frame(series, result)
    source = series.datasets[series.frames[index].dataset_index]
    demo = DEMO_NOTICE if context.algorithm.demonstration else None
    pages = [page(pictures(series, result), panel(result, context), DISCLAIMER, demo)]
    title = f"AI {context.pipeline}: trajectories against the norm's centiles" + (f" {DEMO}" if demo else "")
    pages += trajectory_pages(result.trajectories, title, DISCLAIMER, demo, region_colours(result))
    kwargs = equipment_kwargs(context, "SC", source)
    laterality = source.get("Laterality")
    images: list[hd.sc.SCImage] = []
    for number, pixels in enumerate(pages, start=1):
        if number > 1:
            kwargs = {**kwargs, "sop_instance_uid": new_uid(), "instance_number": number}
        images.append(
            SummaryImage.from_ref_dataset(
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
        )
    return images
