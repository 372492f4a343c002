"""Turn the fmri analysis into a pipeline Result: ROI segments, per-ROI and overall findings, motion.

Every ROI is named by its Power index, MNI coordinate, region and side (segment name, tracking id,
chart bar, a note per ROI that adds what the seed paper calls it). The frames used and the motion
(framewise displacement over those frames) are measurements and notes; a run refused for its timing
(see :mod:`inference.pipelines.fmri.temporal`) gets no probability, and the reason is a note.

Concepts without a standard code use the private coding scheme ``99DCMNODE``. The overall class is
worded as a research finding ("<class>-like temporal pattern"), never as a diagnosis; with demonstration
weights (the shipped bundle) the per-ROI and overall classes are notes, not coded findings. The SC key
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
    RUN_QUALITY,
    Finding,
    LabelMap,
    Measurement,
    Note,
    Result,
    Segment,
    as_demonstration,
)
from inference.pipelines.fmri import atlas

SCHEME = "99DCMNODE"
ANATOMICAL_STRUCTURE = Code("91723000", "SCT", "Anatomical Structure")
BRAIN = Code("12738006", "SCT", "Brain")
ROI_OUTPUT = Code("FMRI-ROI-OUTPUT", SCHEME, "ROI LSTM output (research)")
OVERALL = Code("FMRI-ENSEMBLE", SCHEME, "rs-fMRI ensemble classification (research)")
NOT_ASSESSED = Code("FMRI-TIMING", SCHEME, "Run timing does not match the model: not assessed")
NOT_NORMALISED = Code("FMRI-NO-MNI", SCHEME, "Registration to MNI failed: ROI placement approximate")
NO_COVERAGE = Code("FMRI-NO-ROI", SCHEME, "No ensemble ROI inside the field of view")
MEAN_FD = Code("FMRI-MEAN-FD", SCHEME, "Mean framewise displacement")
MAX_FD = Code("FMRI-MAX-FD", SCHEME, "Maximum framewise displacement")
VOLUMES = Code("FMRI-VOLUMES", SCHEME, "Number of volumes")
VOLUMES_USED = Code("FMRI-VOL-USED", SCHEME, "Number of volumes used")
DEMONSTRATION_CAVEAT = "demonstration weights (synthetic training data), not a diagnosis"
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


def roi_note(number: int) -> Note:
    roi = atlas.roi(number)
    paper = roi.paper_label()
    return Note(roi.describe() + (f"; {paper}" if paper else ""), region=number)


@dataclass(frozen=True)
class Analysis:
    labels: np.ndarray | None  # [frame, row, col] ROI numbers on the source frames
    probabilities: dict[int, float]  # ensemble ROI -> probability (covered ROIs only)
    outside: list[int]  # ensemble ROIs outside the field of view
    overall: float | None
    time_note: str  # the frames used, or why the run was refused
    assessed: bool  # False: refused for its timing (no probabilities)
    normalised: bool
    n_volumes: int
    used: int  # volumes used (motion is reported over these; all volumes when refused)
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
        "Research finding (ensemble of bootstrap-selected ROIs), not a diagnosis",
    ]
    if a.demonstration:
        title.append("DEMONSTRATION WEIGHTS (synthetic training data)")
    footer = [f"orange: >= 0.5 ({positive}-like), blue: < 0.5; dashed line: threshold 0.5"]
    footer.append(a.time_note)
    if a.outside:
        footer.append("Ensemble ROIs outside the field of view: " + ", ".join(map(outside_name, a.outside)))
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
    if not a.assessed:
        findings.append(Finding(RUN_QUALITY, NOT_ASSESSED))
    elif a.overall is None:
        findings.append(Finding(RUN_QUALITY, NO_COVERAGE))
    else:
        findings.append(
            Finding(OVERALL, class_code(int(a.overall >= 0.5), names), probability=round(a.overall, 4))
        )
        summary.append(f"Ensemble probability of {names[1]}-like pattern: {a.overall:.2f} (research finding)")
    summary.append(a.time_note)
    if a.probabilities:
        used = "; ".join(atlas.roi(n).short() for n in a.probabilities)
        summary.append(f"Power ROIs (index, MNI x, y, z mm, side): {used}")
    if not a.normalised:
        findings.append(Finding(RUN_QUALITY, NOT_NORMALISED))
    if a.outside:
        summary.append("Ensemble ROIs outside the field of view: " + ", ".join(map(outside_name, a.outside)))
    motion = f"Motion: mean FD {a.mean_fd:.3f} mm, max FD {a.max_fd:.3f} mm over {a.used} volumes"
    summary.append(motion)
    measurements = [
        Measurement(MEAN_FD, round(a.mean_fd, 4), MM),
        Measurement(MAX_FD, round(a.max_fd, 4), MM),
        Measurement(VOLUMES, float(a.n_volumes), COUNT),
        Measurement(VOLUMES_USED, float(a.used if a.assessed else 0), COUNT),
    ]
    notes = [Note(a.time_note), Note(motion + " (framewise displacement, Power et al. 2012)")]
    if a.demonstration:  # the classes of demonstration weights are text, never coded (docs/outputs.md)
        findings, demonstrated = as_demonstration(findings, DEMONSTRATION_CAVEAT)
        notes += demonstrated
    label_map = None
    if a.labels is not None and np.any(a.labels):
        present = [int(v) for v in np.unique(a.labels) if v]
        label_map = LabelMap(labels=a.labels, segments=[roi_segment(n) for n in present])
        notes += [roi_note(n) for n in present]
    return Result(
        key_image=probability_chart(a),
        label_map=label_map,
        measurements=measurements,
        findings=findings,
        summary=summary,
        parameters=parameters,
        notes=notes,
    )


def outside_name(number: int) -> str:
    return atlas.roi(number).describe()
