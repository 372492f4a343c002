"""The pipeline contract: what a pipeline receives, what it returns.

A pipeline is a class with a ``name``, an ``accepts`` line (shown by ``dicom-node pipelines``) and
``run(series) -> Result``. It never builds DICOM itself: the writers in :mod:`inference.dicom_out`
turn a :class:`Result` into SEG / SR / SC objects.

Geometry convention: every per-pixel array in a :class:`Result` (label maps, probabilities, heat maps)
is indexed ``[frame, row, column]`` in the order of :attr:`Series.frames`, i.e. in the source
geometry, so the SEG frames lie exactly on the source slices.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from inference.study_context import StudyContext

LATERALITY_LEFT = Code("7771000", "SCT", "Left")
LATERALITY_RIGHT = Code("24028007", "SCT", "Right")

# Coded diagnosis vs process code (docs/outputs.md, "Demonstration weights"). A finding is a *coded
# diagnosis* unless its value or its concept is listed here as a *process code*: one that says how the
# analysis went, not what the patient has. Demonstration weights never produce a coded diagnosis (the
# writers refuse one); a new concept counts as a diagnosis until it is listed here, with its reason.
NOT_EVALUATED = Code("373121007", "SCT", "Not Evaluated")  # no verdict was made (any concept)
SIGNIFICANCE_UNDETERMINED = Code("386135008", "SCT", "Significance Undetermined")  # no call was made
REASON_NOT_ASSESSED = Code("NOTASSESSED", "99DCMNODE", "Reason not assessed")  # why: a process fact
RUN_QUALITY = Code("FMRI-RUN-QC", "99DCMNODE", "rs-fMRI run quality")  # timing, registration, coverage
PROCESS_VALUES = frozenset((c.scheme_designator, c.value) for c in (NOT_EVALUATED, SIGNIFICANCE_UNDETERMINED))
PROCESS_CONCEPTS = frozenset((c.scheme_designator, c.value) for c in (REASON_NOT_ASSESSED, RUN_QUALITY))


@dataclass(frozen=True)
class FrameRef:
    """One image plane of the source: the dataset holding it and its 1-based frame number."""

    dataset_index: int
    frame_number: int


@dataclass(frozen=True)
class Series:
    """One source series as a pipeline sees it.

    ``pixels`` holds modality values (Rescale Slope/Intercept applied), shape (frames, rows, cols).
    ``spacing_mm`` is (between slices, between rows, between columns); the first is 0.0 for a single
    plane; None when the headers give no physical size (then areas are not measured).
    """

    datasets: list[Dataset]
    frames: list[FrameRef]
    pixels: np.ndarray
    spacing_mm: tuple[float, float, float] | None
    volume: Any = None  # inference.volume.Volume when the volume loader produced this series
    # What the node put beside the series (study objects, priors, the pipeline's cache); set by
    # inference.registry.run_pipeline, None when a pipeline is run on a bare folder.
    context: StudyContext | None = None

    @property
    def modality(self) -> str:
        return str(self.datasets[0].get("Modality", "OT"))

    @property
    def is_2d(self) -> bool:
        return len(self.frames) == 1


@dataclass(frozen=True)
class Segment:
    """Description of one label: coded category and type (both required), optional laterality."""

    label: int
    name: str
    category: Code
    type: Code
    laterality: Code | None = None  # e.g. SCT 24028007 Right, 7771000 Left
    anatomic_region: Code | None = None
    tracking_id: str | None = None  # defaults to the name


@dataclass(frozen=True)
class LabelMap:
    """Integer labels [frame, row, col] (0 = background) and the segments they stand for.

    ``probabilities`` (optional) has shape (segments, frames, rows, cols) with values in [0, 1], in the
    order of ``segments``; when given, the SEG is written as FRACTIONAL (probability).
    """

    labels: np.ndarray
    segments: Sequence[Segment]
    probabilities: np.ndarray | None = None

    def segment(self, label: int) -> Segment:
        for seg in self.segments:
            if seg.label == label:
                return seg
        raise KeyError(f"no segment with label {label}")


@dataclass(frozen=True)
class Measurement:
    """A numeric result: concept, value, UCUM unit; ``region`` is a segment label (None = whole image)."""

    concept: Code
    value: float
    unit: Code
    region: int | None = None


@dataclass(frozen=True)
class Finding:
    """A qualitative result: concept, coded value, optional probability; ``region`` as in Measurement.

    The concept must be specific (e.g. SCT Severity); DCM 121071 "Finding", "Finding Site" and
    "Measurement Method" are reserved by TID 1501 and refused by the SR writer.
    """

    concept: Code
    value: Code
    probability: float | None = None
    region: int | None = None

    @property
    def is_coded_diagnosis(self) -> bool:
        """Whether the coded value asserts a clinical state (a class, a grade, present / absent, a
        verdict), i.e. it is not a process code (:data:`PROCESS_VALUES`, :data:`PROCESS_CONCEPTS`)."""
        value = (self.value.scheme_designator, self.value.value)
        concept = (self.concept.scheme_designator, self.concept.value)
        return value not in PROCESS_VALUES and concept not in PROCESS_CONCEPTS

    def as_text(self, caveat: str) -> str:
        """The finding as a sentence, e.g. "Erythema: Moderate (p 0.71), <caveat>"."""
        chance = f" (p {self.probability:.2f})" if self.probability is not None else ""
        return f"{self.concept.meaning}: {self.value.meaning}{chance}, {caveat}"


@dataclass(frozen=True)
class Note:
    """A sentence the report must carry as text (SR TEXT item, a line on the SC).

    ``region`` as in Measurement (None = the whole report). Used for what has no code of its own: the
    reference a region was compared with, why a result was not assessed, a demonstration notice.
    """

    text: str
    region: int | None = None


def as_demonstration(findings: Sequence[Finding], caveat: str) -> tuple[list[Finding], list[Note]]:
    """``findings`` as a demonstration result may carry them: process codes stay coded findings, every
    coded diagnosis becomes a Note of the same region that says it, followed by ``caveat``."""
    kept = [f for f in findings if not f.is_coded_diagnosis]
    notes = [Note(f.as_text(caveat), region=f.region) for f in findings if f.is_coded_diagnosis]
    return kept, notes


@dataclass(frozen=True)
class HeatMap:
    """A per-pixel saliency map [frame, row, col] in [0, 1] (e.g. Grad-CAM), shown on the SC image."""

    values: np.ndarray
    name: str = "heat map"


@dataclass(frozen=True)
class TrajectoryPoint:
    """One time point of a trajectory: age at the scan, measured value, a label (e.g. the study date)."""

    age_years: float
    value: float
    label: str


@dataclass(frozen=True)
class Trajectory:
    """A region's values over time against the norm's centile curves, drawn as a chart on the SC.

    ``points`` oldest first (the current scan last); ``centiles`` maps a centile (e.g. 2.5, 50.0, 97.5)
    to its curve as (age in years, value) pairs, ascending in age; ``unit`` is shown on the axis (e.g.
    "mL"). ``region`` as in Measurement.
    """

    name: str
    unit: str
    points: Sequence[TrajectoryPoint]
    centiles: Mapping[float, Sequence[tuple[float, float]]] = field(default_factory=dict)
    region: int | None = None


@dataclass(frozen=True)
class Result:
    """Everything a pipeline says about a series; the writers turn it into SEG / SR / SC."""

    label_map: LabelMap | None = None
    measurements: Sequence[Measurement] = ()
    findings: Sequence[Finding] = ()
    heat_maps: Sequence[HeatMap] = ()
    summary: Sequence[str] = ()
    parameters: Mapping[str, str] = field(default_factory=dict)
    # Optional RGB uint8 (rows, cols, 3) picture the pipeline drew itself (e.g. a colour photograph
    # with graded tiles outlined); when given, the SC shows it instead of the grey key frame + overlays.
    key_image: np.ndarray | None = None
    notes: Sequence[Note] = ()
    # Longitudinal results (e.g. a region's volume at each time point): a chart page on the SC.
    trajectories: Sequence[Trajectory] = ()

    @property
    def coded_diagnoses(self) -> list[Finding]:
        """The findings that assert a clinical state (none may come from demonstration weights)."""
        return [f for f in self.findings if f.is_coded_diagnosis]


@dataclass(frozen=True)
class AlgorithmInfo:
    """Algorithm Identification carried by every output (name, version, parameters).

    ``demonstration`` is true when any model behind the result was trained on synthetic data only:
    every output then says DEMO (SeriesDescription, SR text, SC image) and carries no coded diagnosis
    (:attr:`Finding.is_coded_diagnosis`; the writers refuse a result that has one, see
    :func:`as_demonstration`).
    """

    name: str
    version: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    demonstration: bool = False


class Pipeline(ABC):
    """Base class of every pipeline. Subclasses set ``name`` and ``accepts`` and implement ``run``.

    A pipeline object is built once per process (models loaded in ``__init__``) and reused.
    """

    name: str = ""
    accepts: str = ""

    @property
    @abstractmethod
    def algorithm(self) -> AlgorithmInfo:
        """Name, version (of code and weights) and parameters written into every output."""

    @abstractmethod
    def run(self, series: Series) -> Result:
        """Analyse one series; raise :class:`~dicom_node.errors.PipelineError` when it cannot."""

    def read(self, folder: Path) -> Series:
        """Read the series folder (default: decoded modality values); override to decode differently."""
        from inference.series_reader import read_series

        return read_series(folder)
