"""The ``atrophy`` pipeline: 10 regional volumes with centiles against lifespan norms, 3D T1 MRI (seed 004).

Steps: the source volume is resampled to the conformed 1 mm 256^3 LIA grid (:mod:`.conform`), skull-stripped
with deepbet (:mod:`.brain_extraction`) or brainchop's MindGrab, parcellated with brainchop's 104-label
MeshNet (:mod:`.segment`; N4 bias correction before the parcellation, and an unsharp mask when the source is
coarser than 1.5 mm, :mod:`.intensity`), the Desikan-Killiany parcels grouped into the paper's 10 regions
(:mod:`.regions`), volumes measured on the 1 mm grid (mL), the eTIV by atlas scaling (:mod:`.etiv`), and
each region compared with its norm for age and sex (:mod:`.reference`: BrainChart for the lobes,
CentileBrain for the hippocampus; a site table and a site calibration when configured) as median,
centile, z and an evaluation (:mod:`.assessment`). The 10-region map is brought back onto the source
voxels (nearest neighbour) for the SEG.

Outputs (through the shared writers): SEG with 10 segments (SCT lobe / hippocampus codes with laterality),
SR with one group per region (volume, % of ICV, median, centile, z, "Normality"), the eTIV, notes (the
references, the number of regions tested, the calibration), and the SC summary. The dementia / MCI /
normal class is not derived from the norms: it is reported only when a head trained by ``dicom-node train
atrophy`` is configured (``pipelines.atrophy.params.head``, see :mod:`.head`).

Regions are "not assessed" (Normality "Not Evaluated" with a coded reason; volumes and % of ICV are still
reported) when the norms are off, the parcellation fails its sanity check, Patient's Age or Sex is
missing, or the source voxels are coarser than :data:`.intensity.COARSE_SPACING_MM` (1.5 mm) on any axis:
the 1 mm-trained model under-segments cortex and hippocampi of an upsampled coarse source (on the 2 mm
Siemens XA30 T1 of a healthy 31-year-old, 7 of 10 regions came out below the 2.5th centile).

With priors in the study context (:mod:`inference.study_context`) the report adds each region's change
since the newest prior, its yearly rate against normal ageing and the trajectories (:mod:`.timepoints`,
docs/atrophy-longitudinal.md); without priors the result is as before.

Options (``pipelines.atrophy.params``): see :mod:`.params_model` (typed) and :mod:`.params` (files read).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from dicom_node.errors import InputError
from inference import pipeline as contract
from inference.pipeline import AlgorithmInfo, Finding, LabelMap, Pipeline, Result, Series
from inference.pipelines.atrophy import etiv, norms, timepoints
from inference.pipelines.atrophy.assessment import (
    REASON_COARSE,
    REASON_DEMOGRAPHICS,
    REASON_NORMS_OFF,
    REASON_QC,
    Assessment,
    NotAssessed,
    evaluate_regions,
    report,
)
from inference.pipelines.atrophy.class_head import ClassHead
from inference.pipelines.atrophy.conform import Grid, conform, resample
from inference.pipelines.atrophy.etiv import Intracranial
from inference.pipelines.atrophy.features import RegionalFeatures
from inference.pipelines.atrophy.intensity import COARSE_SPACING_MM
from inference.pipelines.atrophy.measurement_cache import SeriesMeasurements
from inference.pipelines.atrophy.norms_table import NormsTable
from inference.pipelines.atrophy.params import AtrophyParams, parse_params
from inference.pipelines.atrophy.regions import REGIONS, group_labels
from inference.pipelines.atrophy.segment import (
    BUNDLE_ROOT,
    DEEPBET,
    MINDGRAB,
    BrainSegmentation,
    BrainSegmenter,
)

# The class of the trained head. DICOM's code tables (pydicom's CID dictionary) list no dementia or mild
# cognitive impairment concept, so these use our private scheme (PS3.3 8.2); "Normal" is SCT 17621005.
LOCAL_SCHEME = "99DCMNODE"
DEMONSTRATION_RUN = "as text: this run has a demonstration class head (synthetic data); not a diagnosis"
MIN_SLICES = 32
CONFORMED_VOXEL_ML = 0.001
# name: at most 64 characters (DICOM LO); the extractor's label is filled in
ALGORITHM = "dicom-node atrophy ({extractor}+MeshNet, demonstration weights)"
EXTRACTOR_LABELS = {DEEPBET: "deepbet", MINDGRAB: "MindGrab"}
VERSION = "1.1 (weights: {extractor}brainchop 4c87885; MIT)"
NORMS_CHOICES = ("brainchart", "off")
NORMS_NOTE = "lobes: BrainChart (Bethlehem 2022, CC BY-NC-ND 4.0); hippocampus: CentileBrain (Ge 2024)"
COARSE_POLICY = {
    False: f"not assessed when voxels > {COARSE_SPACING_MM} mm",
    True: f"assessed when voxels > {COARSE_SPACING_MM} mm (assess_coarse; unreliable)",
}
# Sanity limits below which the parcellation is taken as failed (then no atrophy is assessed).
MIN_HIPPOCAMPUS_ML = 1.5
MIN_CORTEX_ML = 200.0


def parcellation_problem(volumes: dict[int, float]) -> str | None:
    """Why the regional volumes are implausible (a failed parcellation), or None when they look sane."""
    hippocampi = [volumes[r.label] for r in REGIONS if r.structure == "hippocampus"]
    cortex = sum(volumes[r.label] for r in REGIONS if r.structure != "hippocampus")
    if min(hippocampi) < MIN_HIPPOCAMPUS_ML or cortex < MIN_CORTEX_ML:
        return f"hippocampi {min(hippocampi):.1f} mL (min), lobar cortex {cortex:.0f} mL in all"
    return None


def not_assessed(
    *,
    qc_problem: str | None,
    coarse: bool,
    assess_coarse: bool,
    age: float | None,
    sex: str | None,
    norms_off: bool = False,
) -> list[NotAssessed]:
    """Why no region may be compared with a norm for this series (empty: the regions are assessed).

    Norms switched off, a failed parcellation, a source coarser than :data:`.intensity.COARSE_SPACING_MM`
    (unless ``assess_coarse``) and a missing Patient's Age or Sex each make every region "not assessed".
    """
    reasons = []
    if norms_off:
        reasons.append(NotAssessed(REASON_NORMS_OFF, "norms switched off (pipelines.atrophy.params.norms)"))
    if qc_problem is not None:
        reasons.append(NotAssessed(REASON_QC, f"parcellation failed QC ({qc_problem})"))
    if coarse and not assess_coarse:
        reasons.append(
            NotAssessed(
                REASON_COARSE,
                f"source voxels coarser than {COARSE_SPACING_MM} mm, cortex and hippocampi under-segmented"
                " (pipelines.atrophy.params.assess_coarse: true compares anyway, unreliable)",
            )
        )
    if age is None or sex is None:
        reasons.append(NotAssessed(REASON_DEMOGRAPHICS, "Patient's Age and/or Sex missing"))
    return reasons


def regional_volumes(regions: np.ndarray) -> dict[int, float]:
    """Volume in mL of every region label (1..10) on the 1 mm conformed grid."""
    counts = np.bincount(regions.ravel(), minlength=len(REGIONS) + 1)
    return {r.label: float(counts[r.label]) * CONFORMED_VOXEL_ML for r in REGIONS}


def _source_array(series: Series) -> tuple[np.ndarray, Grid]:
    volume = series.volume
    if volume is None or series.modality != "MR":
        raise InputError("atrophy needs an MR series that loads as one 3D volume")
    array = volume.array[..., 0] if volume.array.ndim == 4 else volume.array
    if volume.is_projection or array.shape[2] < MIN_SLICES:
        raise InputError(f"atrophy needs a 3D T1 volume (at least {MIN_SLICES} slices), got {array.shape}")
    shape = (int(array.shape[0]), int(array.shape[1]), int(array.shape[2]))
    return np.asarray(array, dtype=np.float32), Grid(shape, np.asarray(volume.affine))


class AtrophyPipeline(Pipeline):
    """Skull strip, 10 regions, regional volumes and atrophy flags (research use, demonstration weights)."""

    name = "atrophy"
    accepts = "3D T1 brain MR (MPRAGE/TFL/BRAVO/FSPGR), single- or multi-frame, 0.5-2 mm"

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self.settings = dict(settings or {})
        root = self.settings.get("bundle") or BUNDLE_ROOT
        device = str(self.settings.get("device") or "auto")
        # checked first: a bad table, calibration or value fails before any weights load
        self.params = parse_params(dict(self.settings.get("params") or {}))
        self.segmenter = BrainSegmenter(Path(root), device, self.params.brain_extractor)
        self.head = ClassHead(Path(self.params.head), device) if self.params.head else None

    @property
    def algorithm(self) -> AlgorithmInfo:
        extractor = self.segmenter.extractor
        p = self.params
        parameters = {
            "grid": "conformed 1 mm 256^3 LIA",
            "brain extraction": self.segmenter.extractor_description,
            "parcellation": "brainchop MeshNet 104 labels (MIT)",
            "norms": norms_note(p.norms_table) if p.norms == "brainchart" else "off",
            "atrophy flags": f"below the {p.atrophy_centile:g}th centile; {COARSE_POLICY[p.assess_coarse]}",
        }
        if p.calibration is not None:
            parameters["site calibration"] = p.calibration.description
        if self.head is not None:
            parameters["class head"] = f"{self.head.bundle.name} {self.head.bundle.version}"
        name = ALGORITHM.format(extractor=EXTRACTOR_LABELS[extractor])
        deepbet = self.segmenter.deepbet
        version = VERSION.format(extractor=f"deepbet {deepbet.weights.version}, " if deepbet else "")
        demonstration = self.head is not None and self.head.demonstration
        return AlgorithmInfo(name=name, version=version, parameters=parameters, demonstration=demonstration)

    def segment(self, series: Series) -> Segmented:
        """Conformed segmentation, 10-region map, source and conformed grids, and the eTIV."""
        array, source = _source_array(series)
        conformed, grid = conform(array, source)
        segmentation = self.segmenter.run(conformed, coarse=is_coarse(source))
        regions = group_labels(segmentation.parcellation)
        return Segmented(
            segmentation, regions, source, grid, intracranial(conformed, segmentation.brain, grid)
        )

    def features(self, series: Series, subject: str = "") -> RegionalFeatures:
        """The regional features of ``series`` (what the trainable head learns from)."""
        found = self.segment(series)
        return _features(series, subject, regional_volumes(found.regions), found.icv.ml)

    def run(self, series: Series) -> Result:
        found = self.segment(series)
        icv_ml, source = found.icv.ml, found.source
        volumes = regional_volumes(found.regions)
        on_source = resample(found.regions, found.grid, source, labels=True)
        labels = np.ascontiguousarray(np.transpose(on_source, (2, 1, 0)))  # (slice, row, col) = frames
        ds = series.datasets[0]
        age, sex = norms.parse_age(ds.get("PatientAge")), norms.parse_sex(ds.get("PatientSex"))
        summary = [
            "Research finding, not a diagnosis: brain extraction "
            f"{self.segmenter.extractor_description}, parcellation brainchop MeshNet (demonstration"
            " weights), on a 1 mm grid",
            found.icv.line(age, sex),
        ]
        report = report_regions(volumes, icv_ml, age, sex, coarse=is_coarse(source), params=self.params)
        problem = parcellation_problem(volumes)
        measurements, findings = report.measurements, report.findings
        summary.extend(report.lines)
        current = timepoints.record(series, volumes, icv_ml, self.measured_by, is_coarse(source), problem)
        followed = timepoints.follow_up(series.context, current, self.measure, self.params, self.algorithm)
        measurements, findings, summary = followed.extend(measurements, findings, summary)
        if self.head is None:
            summary.append("Dementia / MCI / normal class: not reported (no trained classifier configured)")
        elif problem is not None:
            summary.append("Dementia / MCI / normal class: not reported (failed QC)")
        else:
            cognitive, line = self.head.classify(_features(series, "", volumes, icv_ml))
            if isinstance(cognitive, Finding):
                findings.append(cognitive)
            else:  # a demonstration head: the class as text
                report.notes.append(cognitive)
            summary.append(line)
        if self.algorithm.demonstration:  # no coded diagnosis next to demonstration weights (charter)
            findings, notes = contract.as_demonstration(findings, DEMONSTRATION_RUN)
            report.notes.extend(notes)
        return Result(
            label_map=LabelMap(labels=labels, segments=[r.segment() for r in REGIONS]),
            measurements=measurements,
            findings=findings,
            summary=summary,
            parameters=dict(self.algorithm.parameters),
            notes=[*report.notes, *followed.notes],
            trajectories=followed.trajectories,
        )

    @property
    def measured_by(self) -> str:
        """The algorithm that measures (name and version): a cached record of another is measured again."""
        return f"{self.algorithm.name} {self.algorithm.version}"

    def measure(self, folder: Path) -> SeriesMeasurements:
        """Read and measure a series folder (a prior) as :meth:`run` measures the current series."""
        series = self.read(folder)
        found = self.segment(series)
        volumes = regional_volumes(found.regions)
        problem = parcellation_problem(volumes)
        return timepoints.record(
            series, volumes, found.icv.ml, self.measured_by, is_coarse(found.source), problem
        )


def norms_note(table: NormsTable | None, *, built_in: str = NORMS_NOTE) -> str:
    """The reference ranges in use: the built-in note, or the site table with the built-in as fallback."""
    if table is None:
        return built_in
    return f"{table.note} where it covers the subject; otherwise built-in: {built_in}"


def report_regions(
    volumes: dict[int, float],
    icv_ml: float,
    age: float | None,
    sex: str | None,
    *,
    coarse: bool,
    params: AtrophyParams | None = None,
) -> Assessment:
    """Each region against its reference unless not assessed, as measurements, findings, notes, lines.

    ``coarse``: the source is coarser than :data:`.intensity.COARSE_SPACING_MM`; then the regions are
    not compared with norms unless ``params.assess_coarse`` (see :func:`not_assessed`).
    """
    params = params or AtrophyParams()
    lines = []
    if coarse:
        anyway = params.assess_coarse
        caution = "; compared with norms anyway (assess_coarse), unreliable" if anyway else ""
        lines.append(
            f"Source voxels coarser than {COARSE_SPACING_MM} mm: upsampled and sharpened; cortical and"
            f" hippocampal volumes tend to be underestimated{caution}"
        )
    problem = parcellation_problem(volumes)
    if problem is not None:
        lines.append(f"QC: parcellation implausible ({problem}); regional results unreliable")
    reasons = not_assessed(
        qc_problem=problem,
        coarse=coarse,
        assess_coarse=params.assess_coarse,
        age=age,
        sex=sex,
        norms_off=params.norms == "off",
    )
    outcomes = evaluate_regions(
        volumes,
        icv_ml,
        age,
        sex,
        reasons,
        threshold=params.atrophy_centile,
        calibration=params.calibration,
        norms_table=params.norms_table,
    )
    found = report(
        outcomes,
        icv_ml,
        reasons,
        threshold=params.atrophy_centile,
        calibration=params.calibration,
        age=age,
        sex=sex,
    )
    return replace(found, lines=lines + found.lines)


def is_coarse(source: Grid) -> bool:
    """Whether the source voxels are coarser than :data:`.intensity.COARSE_SPACING_MM` on any axis."""
    return bool(np.linalg.norm(source.affine[:3, :3], axis=0).max() > COARSE_SPACING_MM)


def icv(brain: np.ndarray) -> float:
    """The brain-extraction mask's volume (mL) on the 1 mm conformed grid (the eTIV's fallback)."""
    return float(brain.sum()) * CONFORMED_VOXEL_ML


def intracranial(conformed: np.ndarray, brain: np.ndarray, grid: Grid) -> Intracranial:
    """The eTIV (:mod:`.etiv`), or the brain-mask volume when the registration fails."""
    found = etiv.estimate(conformed, brain, grid)
    if found is None:
        return Intracranial(icv(brain), "brain mask")
    return Intracranial(found.ml, "eTIV")


@dataclass(frozen=True)
class Segmented:
    segmentation: BrainSegmentation
    regions: np.ndarray  # the 10-region map on the conformed grid
    source: Grid
    grid: Grid
    icv: Intracranial


def _features(series: Series, subject: str, volumes: dict[int, float], icv_ml: float) -> RegionalFeatures:
    ds = series.datasets[0]
    return RegionalFeatures(
        subject=subject,
        volumes_ml=tuple(volumes[r.label] for r in REGIONS),
        icv_ml=icv_ml,
        age=norms.parse_age(ds.get("PatientAge")),
        sex=norms.parse_sex(ds.get("PatientSex")),
    )


def build(settings: Mapping[str, Any]) -> AtrophyPipeline:
    return AtrophyPipeline(settings)
