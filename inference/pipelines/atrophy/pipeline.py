"""The ``atrophy`` pipeline: 10 regional volumes and atrophy flags on a 3D T1 brain MRI (seed 004).

Steps: the source volume is resampled to the conformed 1 mm 256^3 LIA grid (:mod:`.conform`), skull-stripped
with deepbet (:mod:`.brain_extraction`) or brainchop's MindGrab, parcellated with brainchop's 104-label
MeshNet (:mod:`.segment`; N4 bias correction before the parcellation, and an unsharp mask when the source is
coarser than 1.5 mm, :mod:`.intensity`), the DKT parcels grouped into the paper's 10 regions
(:mod:`.regions`), volumes measured on the 1 mm grid (mL) with their fraction of the intracranial volume
estimate, and each region compared with age/sex(/ICV) reference ranges (:mod:`.norms`: CentileBrain for
the hippocampus, approximate for the lobes) when Patient's Age and Sex are present and the source is not
coarse (below). The 10-region map is
brought back onto the source voxels (nearest neighbour) for the SEG.

Outputs (through the shared writers): SEG with 10 segments (SCT lobe / hippocampus codes with laterality),
SR with one group per region (volume, % of ICV, atrophy present/absent), the ICV estimate, and the SC
summary. The dementia / MCI / normal class is not derived from the norms (see :mod:`.norms`): it is
reported only when a head trained by ``dicom-node train atrophy`` is configured
(``pipelines.atrophy.params.head: /path/to/head-bundle``, see :mod:`.head`).

Atrophy is "not assessed" (no present/absent evaluation in the SR, no annotation codes; volumes and % of
ICV are still reported, and the summary says why) when the parcellation fails its sanity check, when
Patient's Age or Sex is missing, or when the source voxels are coarser than
:data:`.intensity.COARSE_SPACING_MM` (1.5 mm) on any axis: the 1 mm-trained model under-segments cortex
and hippocampi of an upsampled coarse source (on the 2 mm Siemens XA30 T1 of a healthy 31-year-old, 8 of
10 regions came out "atrophic"), so a flag there is known to be unreliable and is not emitted.

Options (``pipelines.atrophy.params``): ``head`` (above); ``brain_extractor``: ``auto`` (default: deepbet
when its weights are installed, ``pip install --no-deps deepbet==1.0.2``, else MindGrab with a warning),
``deepbet`` (an error when not installed) or ``mindgrab``; ``assess_coarse``: ``false`` (default) or
``true`` to flag atrophy on coarse sources anyway (unreliable, biased towards "atrophy"; the summary says
so); ``norms_table``: a CSV of the site's own reference ranges (% of ICV by structure, side, sex and age
band, with its source), used in place of the built-in ones for the regions and ages it covers and checked
when the pipeline is constructed (:mod:`.norms_table`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.sr.coding import Code

from dicom_node.errors import ConfigError, InputError
from inference.pipeline import AlgorithmInfo, Finding, LabelMap, Measurement, Pipeline, Result, Series
from inference.pipelines.atrophy import norms
from inference.pipelines.atrophy.conform import Grid, conform, resample
from inference.pipelines.atrophy.features import RegionalFeatures
from inference.pipelines.atrophy.intensity import COARSE_SPACING_MM
from inference.pipelines.atrophy.norms_table import NormsTable, load_norms_table
from inference.pipelines.atrophy.regions import REGIONS, group_labels
from inference.pipelines.atrophy.segment import (
    BUNDLE_ROOT,
    DEEPBET,
    MINDGRAB,
    BrainSegmentation,
    BrainSegmenter,
)

VOLUME = Code("118565006", "SCT", "Volume")
VOLUME_RATIO = Code("113288", "DCM", "Volume Ratio")
ATROPHY = Code("13331008", "SCT", "Atrophy")
PRESENT = Code("52101004", "SCT", "Present")
ABSENT = Code("2667000", "SCT", "Absent")  # the one Absent code (CID 230 Presence), as rds
MILLILITER = Code("mL", "UCUM", "milliliter")
# The class of the trained head. DICOM's code tables (pydicom's CID dictionary) list no dementia or mild
# cognitive impairment concept, so these use our private scheme (PS3.3 8.2); "Normal" is SCT 17621005.
LOCAL_SCHEME = "99DCMNODE"
COGNITIVE_CLASS = Code("COGCLASS", LOCAL_SCHEME, "Cognitive status class (trained head)")
CLASS_CODES = (
    Code("DEMENTIA", LOCAL_SCHEME, "Dementia"),
    Code("MCI", LOCAL_SCHEME, "Mild cognitive impairment"),
    Code("17621005", "SCT", "Normal"),
)
PERCENT = Code("%", "UCUM", "percent")
MIN_SLICES = 32
CONFORMED_VOXEL_ML = 0.001
# name: at most 64 characters (DICOM LO); the extractor's label is filled in
ALGORITHM = "dicom-node atrophy ({extractor}+MeshNet, demonstration weights)"
EXTRACTOR_LABELS = {DEEPBET: "deepbet", MINDGRAB: "MindGrab"}
VERSION = "1.1 (weights: {extractor}brainchop 4c87885; MIT)"
NORMS_NOTE = (
    "hippocampus: CentileBrain (Ge 2024), brain-mask ICV as eTIV; lobar cortex: approximate, unverified"
)
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


def atrophy_not_assessed(
    *, qc_problem: str | None, coarse: bool, assess_coarse: bool, age: float | None, sex: str | None
) -> list[str]:
    """Why no atrophy flag may be given for this series (empty: the regions are assessed).

    A failed parcellation, a source coarser than :data:`.intensity.COARSE_SPACING_MM` (unless
    ``assess_coarse``) and a missing Patient's Age or Sex each make every region "not assessed".
    """
    reasons = []
    if qc_problem is not None:
        reasons.append("parcellation failed QC")
    if coarse and not assess_coarse:
        reasons.append(
            f"source voxels coarser than {COARSE_SPACING_MM} mm, cortex and hippocampi under-segmented"
            " (pipelines.atrophy.params.assess_coarse: true flags anyway, unreliable)"
        )
    if age is None or sex is None:
        reasons.append("Patient's Age and/or Sex missing")
    return reasons


def read_flag(value: object, option: str) -> bool:
    """A yes/no option from the settings (YAML bool, or true/false/yes/no/on/off/1/0 as text)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0", ""):
        return False
    raise ConfigError(f"pipelines.atrophy.params.{option}: expected true or false, got {value!r}")


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
        params = dict(self.settings.get("params") or {})
        table = params.get("norms_table")  # checked first: a bad table fails before any weights load
        self.norms_table = load_norms_table(table) if table else None
        extractor = str(params.get("brain_extractor") or "auto")
        self.segmenter = BrainSegmenter(Path(root), device, extractor)
        head = params.get("head")
        self.head = ClassHead(Path(head), device) if head else None
        self.assess_coarse = read_flag(params.get("assess_coarse", False), "assess_coarse")

    @property
    def algorithm(self) -> AlgorithmInfo:
        extractor = self.segmenter.extractor
        parameters = {
            "grid": "conformed 1 mm 256^3 LIA",
            "brain extraction": self.segmenter.extractor_description,
            "parcellation": "brainchop MeshNet 104 labels (MIT)",
            "norms": norms_note(self.norms_table),
            "atrophy flags": COARSE_POLICY[self.assess_coarse],
        }
        if self.head is not None:
            parameters["class head"] = f"{self.head.bundle.name} {self.head.bundle.version}"
        name = ALGORITHM.format(extractor=EXTRACTOR_LABELS[extractor])
        deepbet = self.segmenter.deepbet
        version = VERSION.format(extractor=f"deepbet {deepbet.weights.version}, " if deepbet else "")
        return AlgorithmInfo(name=name, version=version, parameters=parameters)

    def segment(self, series: Series) -> tuple[BrainSegmentation, np.ndarray, Grid, Grid]:
        """Conformed segmentation, 10-region map on the conformed grid, source and conformed grids."""
        array, source = _source_array(series)
        conformed, grid = conform(array, source)
        segmentation = self.segmenter.run(conformed, coarse=is_coarse(source))
        return segmentation, group_labels(segmentation.parcellation), source, grid

    def features(self, series: Series, subject: str = "") -> RegionalFeatures:
        """The regional features of ``series`` (what the trainable head learns from)."""
        segmentation, regions, _, _ = self.segment(series)
        return _features(series, subject, regional_volumes(regions), icv(segmentation.brain))

    def run(self, series: Series) -> Result:
        segmentation, regions, source, grid = self.segment(series)
        icv_ml = icv(segmentation.brain)
        volumes = regional_volumes(regions)
        on_source = resample(regions, grid, source, labels=True)
        labels = np.ascontiguousarray(np.transpose(on_source, (2, 1, 0)))  # (slice, row, col) = frames
        ds = series.datasets[0]
        age, sex = norms.parse_age(ds.get("PatientAge")), norms.parse_sex(ds.get("PatientSex"))
        summary = [
            "Research finding, not a diagnosis: brain extraction "
            f"{self.segmenter.extractor_description}, parcellation brainchop MeshNet (demonstration"
            " weights), on a 1 mm grid",
            f"Intracranial volume estimate (brain-extraction mask): {icv_ml:.0f} mL",
        ]
        report = report_regions(
            volumes,
            icv_ml,
            age,
            sex,
            coarse=is_coarse(source),
            assess_coarse=self.assess_coarse,
            norms_table=self.norms_table,
        )
        measurements, findings = report.measurements, report.findings
        summary.extend(report.lines)
        problem = report.qc_problem
        summary.append(f"Reference ranges: {report.reference}")
        if self.head is None:
            summary.append("Dementia / MCI / normal class: not reported (no trained classifier configured)")
        elif problem is not None:
            summary.append("Dementia / MCI / normal class: not reported (failed QC)")
        else:
            finding, line = self.head.classify(_features(series, "", volumes, icv_ml))
            findings.append(finding)
            summary.append(line)
        return Result(
            label_map=LabelMap(labels=labels, segments=[r.segment() for r in REGIONS]),
            measurements=measurements,
            findings=findings,
            summary=summary,
            parameters=dict(self.algorithm.parameters),
        )


@dataclass(frozen=True)
class RegionalReport:
    """Per-region measurements, atrophy findings (none when not assessed) and summary lines."""

    measurements: list[Measurement]
    findings: list[Finding]
    lines: list[str]
    qc_problem: str | None
    reference: str = norms.SOURCE_NOTE  # which reference ranges were used (the summary's last norms line)


def norms_note(table: NormsTable | None, *, built_in: str = NORMS_NOTE) -> str:
    """The reference ranges in use: the built-in note, or the site table with the built-in as fallback."""
    if table is None:
        return built_in
    return f"{table.note} where it covers the subject; otherwise built-in: {built_in}"


def reference_line(table: NormsTable | None, covered: list[str], uncovered: list[str]) -> str:
    """Which regions were assessed against the site table and which against the built-in reference."""
    if table is None:
        return norms.SOURCE_NOTE
    if not covered and not uncovered:  # not assessed
        return norms_note(table, built_in=norms.SOURCE_NOTE)
    if not uncovered:
        return f"{table.note} for all {len(covered)} regions"
    if not covered:
        return f"{table.note} covers no region at this age and sex; built-in for all: {norms.SOURCE_NOTE}"
    return f"{table.note} for {', '.join(covered)}; built-in for {', '.join(uncovered)}: {norms.SOURCE_NOTE}"


def report_regions(
    volumes: dict[int, float],
    icv_ml: float,
    age: float | None,
    sex: str | None,
    *,
    coarse: bool,
    assess_coarse: bool = False,
    norms_table: NormsTable | None = None,
) -> RegionalReport:
    """ICV, each region's volume and % of ICV, and its atrophy evaluation unless not assessed.

    ``coarse``: the source is coarser than :data:`.intensity.COARSE_SPACING_MM`; then atrophy is not
    assessed unless ``assess_coarse`` (see :func:`atrophy_not_assessed`). ``norms_table``: the site's
    reference ranges, used where a row covers the region, sex and age (else the built-in :mod:`.norms`).
    """
    measurements = [Measurement(VOLUME, round(icv_ml, 1), MILLILITER)]
    findings: list[Finding] = []
    lines = []
    if coarse:
        caution = "; atrophy flags assessed anyway (assess_coarse), unreliable" if assess_coarse else ""
        lines.append(
            f"Source voxels coarser than {COARSE_SPACING_MM} mm: upsampled and sharpened; cortical and"
            f" hippocampal volumes tend to be underestimated{caution}"
        )
    problem = parcellation_problem(volumes)
    if problem is not None:
        lines.append(f"QC: parcellation implausible ({problem}); regional results unreliable")
    reasons = atrophy_not_assessed(
        qc_problem=problem, coarse=coarse, assess_coarse=assess_coarse, age=age, sex=sex
    )
    codes = []
    covered: list[str] = []
    uncovered: list[str] = []
    for region in REGIONS:
        percent = 100.0 * volumes[region.label] / icv_ml if icv_ml > 0 else 0.0
        measurements.append(
            Measurement(VOLUME, round(volumes[region.label], 2), MILLILITER, region=region.label)
        )
        measurements.append(Measurement(VOLUME_RATIO, round(percent, 3), PERCENT, region=region.label))
        line = f"{region.name}: {volumes[region.label]:.1f} mL, {percent:.2f} % of ICV"
        if reasons or age is None or sex is None:
            lines.append(f"{line} (atrophy not assessed)")
            continue
        site = norms_table.assess(region.structure, region.side, percent, age, sex) if norms_table else None
        (covered if site is not None else uncovered).append(region.name)
        assessment = site or norms.assess(
            region.structure, percent, age, sex, icv_ml=icv_ml, side=region.side
        )
        verdict = "atrophy" if assessment.atrophy else "no atrophy"
        origin = "site table: " if site is not None else ""
        lines.append(
            f"{line} ({origin}expected {assessment.expected_percent:.2f} %, z {assessment.z:+.1f}: {verdict})"
        )
        findings.append(Finding(ATROPHY, PRESENT if assessment.atrophy else ABSENT, region=region.label))
        codes.append(str(region.code(assessment.atrophy)))
    if codes:
        lines.append("Annotation codes (AI-Hub style): " + " ".join(codes))
    else:
        lines.append("Atrophy not assessed in any region: " + "; ".join(reasons))
    return RegionalReport(
        measurements, findings, lines, problem, reference_line(norms_table, covered, uncovered)
    )


def is_coarse(source: Grid) -> bool:
    """Whether the source voxels are coarser than :data:`.intensity.COARSE_SPACING_MM` on any axis."""
    return bool(np.linalg.norm(source.affine[:3, :3], axis=0).max() > COARSE_SPACING_MM)


def icv(brain: np.ndarray) -> float:
    """Intracranial volume estimate (mL): the brain-extraction mask on the 1 mm conformed grid."""
    return float(brain.sum()) * CONFORMED_VOXEL_ML


def _features(series: Series, subject: str, volumes: dict[int, float], icv_ml: float) -> RegionalFeatures:
    ds = series.datasets[0]
    return RegionalFeatures(
        subject=subject,
        volumes_ml=tuple(volumes[r.label] for r in REGIONS),
        icv_ml=icv_ml,
        age=norms.parse_age(ds.get("PatientAge")),
        sex=norms.parse_sex(ds.get("PatientSex")),
    )


class ClassHead:
    """A head bundle written by ``dicom-node train atrophy``: gives the dementia / MCI / normal class."""

    def __init__(self, path: Path, device: str) -> None:
        from inference.bundle import load_bundle
        from inference.pipelines.atrophy.head_bundle import head_block

        self.bundle = load_bundle(path, device)
        block = head_block(path, self.bundle.metadata)
        self.names: list[str] = [str(n) for n in block["class_names"]]
        self.demonstration = bool(block.get("demonstration", False))

    def classify(self, features: RegionalFeatures) -> tuple[Finding, str]:
        """The class finding (coded, with its probability) and the summary line."""
        from inference.pipelines.atrophy.head import predict

        _, probabilities = predict(self.bundle.network, features.vector()[None, :])
        index = int(probabilities[0].argmax())
        probability = float(probabilities[0, index])
        note = ", DEMONSTRATION weights" if self.demonstration else ""
        line = (
            f"Dementia / MCI / normal class (trained head {self.bundle.version}{note}, research): "
            f"{self.names[index]} (p {probability:.2f})"
        )
        return Finding(COGNITIVE_CLASS, CLASS_CODES[index], probability=round(probability, 4)), line


def build(settings: Mapping[str, Any]) -> AtrophyPipeline:
    return AtrophyPipeline(settings)
