"""The Power et al. (2011) 264 ROIs: centres, names, hemispheres and the fixed sampling of a sphere.

Centres are MNI coordinates in mm (RAS: x to the subject's right), numbered 1..264 as in the
``ROI`` column of nilearn's ``power_2011.csv`` (shipped in ``data/`` with its licence).

Region names are derived from the coordinate by a coarse, documented rule (:func:`region_name`):
no anatomical atlas ships offline, so a name is a lobe-level label, not an atlas lookup.

The paper's ROI numbers are *not* Power indices: its Table 1 numbers a reduced list (Power ROIs
outside its acquisition's coverage removed, order kept), so its number 202 ("Thalamus L") is Power
224 at (-10, -18, 7). :data:`PAPER_TABLE` maps each of its 19 numbers to a Power index with the
evidence (the paper's region and side, the Power coordinate) and how sure the match is; the
derivation is in ``docs/fmri-rois.md``. Outputs name an ROI by Power index, coordinate and region
(:meth:`Roi.describe`), never by the paper's number alone.

Each ROI is read at :data:`SPHERE_OFFSETS_MM`: the points of a 2.5 mm grid within the 5 mm sphere
(33 points), so every subject gives a time x 33 matrix whatever its voxel size (the paper's matrix
was 115 x 31 voxels of its own grid).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

N_ROIS = 264
RADIUS_MM = 5.0
GRID_MM = 2.5


@dataclass(frozen=True)
class PaperRoi:
    """One row of the paper's Table 1 and the Power ROI it stands for."""

    paper: int  # the paper's ROI number (an index into its reduced list)
    power: int  # the Power-264 index (1-based, nilearn order)
    region: str  # the region the paper names
    side: str  # the hemisphere the paper names (L / R)
    agreement: str  # "anchored", "matches" or "uncertain" (see docs/fmri-rois.md)


# Offsets (power - paper): +8..+9 before paper 36, +11 for 36-43, +11 / +13 around the two temporal
# poles (Power 81, 82), +13 for 79-113, +17 / +21 between, +22 for the thalamus (202, 203).
PAPER_TABLE: tuple[PaperRoi, ...] = (
    PaperRoi(12, 20, "Postcentral Gyrus", "L", "matches"),
    PaperRoi(27, 36, "Medial Frontal Gyrus", "R", "uncertain"),
    PaperRoi(36, 47, "Medial Frontal Gyrus", "L", "anchored"),
    PaperRoi(43, 54, "Medial Frontal Gyrus", "R", "anchored"),
    PaperRoi(68, 79, "Middle Temporal Gyrus", "L", "matches"),
    PaperRoi(70, 83, "Superior Temporal Gyrus", "L", "uncertain"),
    PaperRoi(79, 92, "Cingulate Gyrus", "R", "anchored"),
    PaperRoi(80, 93, "Precuneus", "R", "anchored"),
    PaperRoi(81, 94, "Cingulate Gyrus", "L", "anchored"),
    PaperRoi(84, 97, "Middle Frontal Gyrus", "R", "anchored"),
    PaperRoi(86, 99, "Superior Frontal Gyrus", "L", "anchored"),
    PaperRoi(93, 106, "Medial Frontal Gyrus", "R", "anchored"),
    PaperRoi(99, 112, "Medial Frontal Gyrus", "L", "anchored"),
    PaperRoi(103, 116, "Inferior Temporal Gyrus", "R", "anchored"),
    PaperRoi(113, 126, "Fusiform Gyrus", "L", "anchored"),
    PaperRoi(162, 179, "Middle Temporal Gyrus", "R", "matches"),
    PaperRoi(198, 219, "Superior Frontal Gyrus", "R", "uncertain"),
    PaperRoi(202, 224, "Thalamus", "L", "anchored"),
    PaperRoi(203, 225, "Thalamus", "R", "anchored"),
)
# The paper's 19 significant ROIs (its Table 1) as Power indices.
PAPER_ROIS: tuple[int, ...] = tuple(row.power for row in PAPER_TABLE)


def paper_row(power: int) -> PaperRoi | None:
    """The paper's Table 1 row for a Power index, None when the paper did not list it."""
    return next((row for row in PAPER_TABLE if row.power == power), None)


@dataclass(frozen=True)
class Roi:
    number: int
    mni_ras: tuple[float, float, float]

    @property
    def hemisphere(self) -> str:
        """ "L" or "R" from the sign of x (MNI x > 0 is the right hemisphere), "M" on the midline."""
        x = self.mni_ras[0]
        return "R" if x > 0 else "L" if x < 0 else "M"

    @property
    def region(self) -> str:
        return region_name(self.mni_ras)

    def describe(self) -> str:
        """``Power 99 (-16, 29, 53) Frontal cortex L`` (at most 64 characters: a SEG segment label)."""
        x, y, z = (f"{v:g}" for v in self.mni_ras)
        return f"Power {self.number} ({x}, {y}, {z}) {self.region} {self.hemisphere}"

    def paper_label(self) -> str:
        """What the seed paper calls this ROI, with how sure the mapping is; "" when it is not listed."""
        row = paper_row(self.number)
        if row is None:
            return ""
        return f"paper ROI {row.paper}: {row.region} {row.side} ({row.agreement})"

    def short(self) -> str:
        """``Power 99 (-16, 29, 53) L``: for tight places (a bar label, a tracking id)."""
        x, y, z = (f"{v:g}" for v in self.mni_ras)
        return f"Power {self.number} ({x}, {y}, {z}) {self.hemisphere}"


def region_name(mni_ras: tuple[float, float, float]) -> str:
    """A coarse lobe-level name from an MNI coordinate (x, y, z in mm), first matching rule wins.

    1. cerebellum: z < -20 and y < -40;  2. deep grey (thalamus / basal ganglia): |x| < 20,
    -30 < y < 10, -5 < z < 20;  3. occipital: y < -70;  4. temporal: z < 0 and |x| >= 30;
    5. parietal: y < -30;  6. frontal: y > 0;  7. otherwise sensorimotor (pre/postcentral).
    """
    x, y, z = mni_ras
    if z < -20 and y < -40:
        return "Cerebellum"
    if abs(x) < 20 and -30 < y < 10 and -5 < z < 20:
        return "Deep grey matter"
    if y < -70:
        return "Occipital cortex"
    if z < 0 and abs(x) >= 30:
        return "Temporal cortex"
    if y < -30:
        return "Parietal cortex"
    if y > 0:
        return "Frontal cortex"
    return "Sensorimotor cortex"


@cache
def power_rois() -> dict[int, Roi]:
    """All 264 ROIs by number, read from the packaged ``power_2011.csv``."""
    text = resources.files("inference.pipelines.fmri").joinpath("data/power_2011.csv").read_text("utf-8")
    rois: dict[int, Roi] = {}
    for row in csv.DictReader(text.splitlines()):
        number = int(row["ROI"])
        rois[number] = Roi(number, (float(row["X"]), float(row["Y"]), float(row["Z"])))
    if sorted(rois) != list(range(1, N_ROIS + 1)):
        raise RuntimeError("power_2011.csv must hold ROIs 1..264")
    return rois


def roi(number: int) -> Roi:
    try:
        return power_rois()[number]
    except KeyError:
        raise ValueError(f"Power ROI {number}: expected 1..{N_ROIS}") from None


@cache
def sphere_offsets_mm() -> np.ndarray:
    """(33, 3) offsets in mm: the 2.5 mm grid points within the 5 mm sphere, centre first."""
    steps = np.arange(-2, 3) * GRID_MM
    grid = np.stack(np.meshgrid(steps, steps, steps, indexing="ij"), axis=-1).reshape(-1, 3)
    inside = grid[np.linalg.norm(grid, axis=1) <= RADIUS_MM + 1e-6]
    order = np.lexsort((inside[:, 2], inside[:, 1], inside[:, 0], np.linalg.norm(inside, axis=1)))
    return np.ascontiguousarray(inside[order])


def n_points() -> int:
    return int(sphere_offsets_mm().shape[0])


def sample_points_mni_lps(numbers: list[int]) -> np.ndarray:
    """(len(numbers), 33, 3) sample points in MNI space, as LPS mm (x and y negated)."""
    centres = np.array([roi(n).mni_ras for n in numbers], dtype=float)
    points = centres[:, None, :] + sphere_offsets_mm()[None, :, :]
    return points * np.array([-1.0, -1.0, 1.0])
