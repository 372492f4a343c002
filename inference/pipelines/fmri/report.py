"""Turn the fmri analysis into a pipeline Result: ROI segments, per-ROI and overall findings, motion.

Concepts without a standard code use the private coding scheme ``99DCMNODE``. The overall class is
worded as a research finding ("<class>-like temporal pattern"), never as a diagnosis. The SC key
image is a bar chart of the per-ROI probabilities and the ensemble probability (rendered with
:func:`inference.dicom_out.chart.bar_chart`), titled as a research finding, with the disclaimer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.sr.coding import Code

from inference.dicom_out.chart import Bar, bar_chart
from inference.dicom_out.common import DISCLAIMER
from inference.pipeline import (
    LATERALITY_LEFT,
    LATERALITY_RIGHT,
    Finding,
    LabelMap,
    Measurement,
    Result,
    Segment,
)
from inference.pipelines.fmri import atlas

SCHEME = "99DCMNODE"
ANATOMICAL_STRUCTURE = Code("91723000", "SCT", "Anatomical Structure")
BRAIN = Code("12738006", "SCT", "Brain")
ROI_OUTPUT = Code("FMRI-ROI-OUTPUT", SCHEME, "ROI LSTM output (research)")
OVERALL = Code("FMRI-ENSEMBLE", SCHEME, "rs-fMRI ensemble classification (research)")
RUN_QUALITY = Code("FMRI-RUN-QC", SCHEME, "rs-fMRI run quality")
TOO_SHORT = Code("FMRI-TOO-SHORT", SCHEME, "Run too short for the model: not interpretable")
NOT_NORMALISED = Code("FMRI-NO-MNI", SCHEME, "Registration to MNI failed: ROI placement approximate")
NO_COVERAGE = Code("FMRI-NO-ROI", SCHEME, "No ensemble ROI inside the field of view")
INDETERMINATE = Code("FMRI-INDETERMINATE", SCHEME, "Indeterminate")
MEAN_FD = Code("FMRI-MEAN-FD", SCHEME, "Mean framewise displacement")
MAX_FD = Code("FMRI-MAX-FD", SCHEME, "Maximum framewise displacement")
VOLUMES = Code("FMRI-VOLUMES", SCHEME, "Number of volumes")
MM = Code("mm", "UCUM", "millimeter")
COUNT = Code("{volumes}", "UCUM", "volumes")


def class_code(index: int, names: tuple[str, str]) -> Code:
    return Code(
        f"FMRI-CLASS-{index}", SCHEME, f"{names[index]}-like temporal pattern (research finding)"[:64]
    )


def roi_segment(number: int) -> Segment:
    roi = atlas.roi(number)
    laterality = {"L": LATERALITY_LEFT, "R": LATERALITY_RIGHT}.get(roi.hemisphere)
    return Segment(
        label=number,
        name=roi.describe(),
        category=ANATOMICAL_STRUCTURE,
        type=BRAIN,
        laterality=laterality,
        tracking_id=f"Power ROI {number}",
    )


@dataclass(frozen=True)
class Analysis:
    labels: np.ndarray | None  # [frame, row, col] ROI numbers on the source frames
    probabilities: dict[int, float]  # ensemble ROI -> probability (covered ROIs only)
    outside: list[int]  # ensemble ROIs outside the field of view
    overall: float | None
    too_short: bool
    normalised: bool
    n_volumes: int
    mean_fd: float
    max_fd: float
    class_names: tuple[str, str]
    demonstration: bool


def probability_chart(analysis: Analysis) -> np.ndarray | None:
    """The SC picture: one bar per ensemble ROI and the ensemble bar (None when nothing was computed)."""
    a = analysis
    if not a.probabilities and a.overall is None:
        return None
    positive = a.class_names[1]
    title = [
        f"rs-fMRI ROI-LSTM: probability of a {positive}-like temporal pattern per Power ROI",
        "Research finding (paper's ROI ensemble), not a diagnosis",
    ]
    if a.demonstration:
        title.append("DEMONSTRATION WEIGHTS (synthetic training data)")
    footer = [f"orange: >= 0.5 ({positive}-like), blue: < 0.5; dashed line: threshold 0.5"]
    if a.too_short:
        footer.append(f"Run too short ({a.n_volumes} volumes): probabilities are not interpretable")
    if a.outside:
        footer.append("Ensemble ROIs outside the field of view: " + ", ".join(map(str, a.outside)))
    footer.append(DISCLAIMER)
    bars = [Bar(atlas.roi(n).describe(), p) for n, p in a.probabilities.items()]
    summary = None
    if a.overall is not None:
        summary = Bar("Ensemble (weighted by val. accuracy)", a.overall)
    return bar_chart(bars, title, summary, footer)


def build_result(analysis: Analysis, parameters: dict[str, str]) -> Result:
    a = analysis
    names = a.class_names
    findings: list[Finding] = []
    summary: list[str] = []
    if a.demonstration:
        summary.append("DEMONSTRATION WEIGHTS (synthetic training data): not a research or clinical result")
    for number, p in a.probabilities.items():
        findings.append(
            Finding(ROI_OUTPUT, class_code(int(p >= 0.5), names), probability=round(p, 4), region=number)
        )
    if a.overall is None:
        findings.append(Finding(RUN_QUALITY, NO_COVERAGE))
    else:
        value = INDETERMINATE if a.too_short else class_code(int(a.overall >= 0.5), names)
        findings.append(Finding(OVERALL, value, probability=round(a.overall, 4)))
        summary.append(f"Ensemble probability of {names[1]}-like pattern: {a.overall:.2f} (research finding)")
    if a.too_short:
        findings.append(Finding(RUN_QUALITY, TOO_SHORT))
        summary.append(f"Run too short ({a.n_volumes} volumes): probabilities are not interpretable")
    if not a.normalised:
        findings.append(Finding(RUN_QUALITY, NOT_NORMALISED))
    if a.outside:
        summary.append("Ensemble ROIs outside the field of view: " + ", ".join(map(str, a.outside)))
    summary.append(f"Motion: mean FD {a.mean_fd:.3f} mm, max FD {a.max_fd:.3f} mm over {a.n_volumes} volumes")
    measurements = [
        Measurement(MEAN_FD, round(a.mean_fd, 4), MM),
        Measurement(MAX_FD, round(a.max_fd, 4), MM),
        Measurement(VOLUMES, float(a.n_volumes), COUNT),
    ]
    label_map = None
    if a.labels is not None and np.any(a.labels):
        present = [int(v) for v in np.unique(a.labels) if v]
        label_map = LabelMap(labels=a.labels, segments=[roi_segment(n) for n in present])
    return Result(
        key_image=probability_chart(a),
        label_map=label_map,
        measurements=measurements,
        findings=findings,
        summary=summary,
        parameters=parameters,
    )
